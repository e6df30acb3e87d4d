import FuzzSupport
import RecKit

/// The OBD prior YAML, for one of the campaign names (chosen by the input's length, so that one
/// file read serves one input).
@main
enum FuzzPrior: FuzzTarget {
    static func fuzz(_ input: UnsafeRawBufferPointer) {
        let campaign = ["all", "men", "women"][input.count % 3]
        _ = try? BetaPrior.load(yaml: fuzzFile(input, suffix: ".yaml"), campaign: campaign)
    }
}
