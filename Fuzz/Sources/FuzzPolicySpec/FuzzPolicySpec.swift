import FuzzSupport
import RecKit

/// Policy specs (JSON), then their marginals exactly and by Monte Carlo when small.
@main
enum FuzzPolicySpec: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        if let p = try? PolicySpec.load(fuzzFile(input, suffix: ".json")), p.itemCount <= 64 {
            _ = try? p.exactMarginals(k: min(2, p.itemCount))
            _ = try? p.monteCarloMarginals(k: min(2, p.itemCount), simulations: 200, seed: 1)
        }
    }
}
