import ArgumentParser
import Foundation
import RecCore
import RecOPE

/// The slate estimators' pass (`SlateState.add`) on generated slate rows: rows/s per core and the
/// state's size, with and without Poisson replicates.
struct OPESlateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ope-slate",
        abstract:
            "Slate estimators (SIPS, IIPS, RIPS and self-normalised): rows/s of the one-pass slate state on generated slates, normal intervals and with Poisson replicates."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Generated rows.") var rows: Int = 1_000_000
    @Option(help: "Poisson bootstrap replicates for the replicate measurement.") var replicates: Int = 200

    /// Slates of `depth` rows with every probability column; chunk `c` from its own seed.
    static func chunk(_ c: Int, rows n: Int, depth K: Int, seed: UInt64) -> LogChunk {
        var g = Xoshiro256(seed: seed &+ UInt64(c) &* 0x9E37_79B9)
        var out = LogChunk(source: "generated")
        out.slates = []
        out.propensities = []
        var roles = [SlateProbability: [Double]]()
        for role in SlateProbability.allCases { roles[role] = [] }
        var slateP = 0.0
        var targetP = 0.0
        var cascade = 1.0
        var targetCascade = 1.0
        for j in 0..<n {
            let p = j % K
            if p == 0 {
                slateP = 0.001 + 0.01 * Sampling.uniform(&g)
                targetP = 0.012 * Sampling.uniform(&g)
                cascade = 1
                targetCascade = 1
            }
            out.items.append(Int32(Sampling.uniform(&g) * 100))
            out.positions.append(Int32(p))
            out.rewards.append(Sampling.uniform(&g) < 0.05 ? 1 : 0)
            out.rowKeys.append(RowHash.mix(UInt64(c) << 32 | UInt64(j)))
            out.slates!.append(RowHash.mix(UInt64(c) << 32 | UInt64(j / K)))
            let q = 0.01 + 0.2 * Sampling.uniform(&g)
            out.propensities!.append(q)
            cascade *= 0.3 + 0.7 * Sampling.uniform(&g)
            targetCascade *= Sampling.uniform(&g)
            roles[.targetPropensity]!.append(q * 2 * Sampling.uniform(&g))
            roles[.slatePropensity]!.append(slateP)
            roles[.targetSlatePropensity]!.append(targetP)
            roles[.cascadePropensity]!.append(cascade)
            roles[.targetCascadePropensity]!.append(targetCascade)
        }
        out.slateProbabilities = roles
        return out
    }

    func run() throws {
        let K = common.k ?? 5
        let chunkRows = 65_520 - 65_520 % K
        let chunks = (rows + chunkRows - 1) / chunkRows
        let data = (0..<chunks).map {
            Self.chunk($0, rows: min(chunkRows, rows - $0 * chunkRows), depth: K, seed: common.seed)
        }
        var out = [Measurement]()
        for b in [0, replicates] {
            var s = SlateSettings(depth: K, weightings: [.standard, .independent, .interaction])
            s.bootstrap = b
            var state = try SlateState(settings: s)
            var m = Measurement(
                name: b == 0 ? "ope-slate.pass" : "ope-slate.pass+replicates",
                params: [("rows", rows), ("depth", K), ("weightings", 3), ("replicates", b)],
                timesMs: timeit(reps: max(1, common.reps / 4)) {
                    state = try! SlateState(settings: s)
                    for c in data { try! state.add(c) }
                }, threads: 1)
            let report = timeit(reps: max(1, common.reps / 4)) { _ = try! state.estimates(policy: "t") }
            m.extra = [
                ("rows_per_second_per_core", Double(rows) / (m.medianMs / 1e3)),
                ("state_kb", Double(try JSONEncoder().encode(state).count) / 1024),
                ("report_ms", report.sorted()[report.count / 2]),
            ]
            out.append(m)
        }
        report(out, format: common.format)
    }
}
