import Foundation
import FuzzSupport
import RecKit

/// A slate log (the slate column and every slate probability column) read twice, on one thread
/// in large blocks and on three threads in 16-byte blocks: the same chunks (slate hashes and
/// probabilities to the bit) and the same first error. Then the slate estimators over the chunks,
/// the log against policy specs (closed-form and Monte Carlo slate probabilities, PI), and the
/// input as a slate state's and a slate shard file's JSON: typed errors only, never a trap.
@main
enum FuzzSlateLog: FuzzTarget {
    static let mapping =
        "slate=sid,item=item,position=pos,reward=click,propensity=p,slate_propensity=ps,cascade_propensity=pc,"
        + "target_propensity=tp,target_slate_propensity=tps,target_cascade_propensity=tpc"

    /// The logging columns only: the targets come from specs.
    static let specMapping =
        "slate=sid,item=item,position=pos,reward=click,propensity=p,slate_propensity=ps,cascade_propensity=pc"

    /// A Plackett–Luce and a Thompson-sampling target over 5 items, their marginals at depth 4.
    static let specTargets: [SlateTarget]? = {
        guard let pl = try? PlackettLuce(scores: [0.3, -0.5, 1.1, 0.0, 0.7]),
            let ts = try? ThompsonSampling(alpha: [2, 3, 1, 4, 2], beta: [5, 5, 6, 4, 7]),
            let mp = try? pl.exactMarginals(k: 4), let mt = try? ts.exactMarginals(k: 4)
        else { return nil }
        return [SlateTarget(name: "pl", policy: pl, marginals: mp), SlateTarget(name: "ts", policy: ts, marginals: mt)]
    }()

    static func fuzz(_ input: UnsafeRawBufferPointer) {
        guard let cols = try? LogColumns.parse(mapping) else { return }
        let path = fuzzFile(input)
        let pairs = readLogChunksTwice(path, cols, maxRows: 5)
        let a = pairs.map(\.0)
        for (x, y) in pairs {
            precondition(x.slates == y.slates)
            for role in SlateProbability.allCases {
                precondition(
                    x.slateProbabilities[role]?.map(\.bitPattern) == y.slateProbabilities[role]?.map(\.bitPattern))
            }
        }
        var settings = SlateSettings(depth: 4, weightings: [.standard, .independent, .interaction])
        settings.bootstrap = 3
        if var state = try? SlateState(settings: settings) {
            do {
                for c in a { try state.add(c) }
                _ = try state.estimates(policy: "t")
            } catch {}
        }
        // The log against policy specs: a Plackett–Luce target (slate probabilities in closed form),
        // a Thompson-sampling one (by Monte Carlo) and PI against a uniform logging policy.
        if let cols = try? LogColumns.parse(specMapping), let targets = specTargets,
            let uniform = try? UniformRandomRanking(items: 5)
        {
            for logging in [nil, uniform] {
                _ = try? SlateEvaluation.run(
                    path: path, columns: cols, targets: targets, depth: 4, bootstrap: 2, logging: logging,
                    slateSimulations: 200)
            }
        }
        if let decoded = try? JSONDecoder().decode(SlateState.self, from: Data(input)) {
            _ = try? decoded.estimates(policy: "t")
        }
        if let shard = try? SlateShard.decode(Data(input), file: "x", verifyingChecksum: false) {
            _ = try? shard.report()
        }
    }
}
