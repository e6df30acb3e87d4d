import ArgumentParser
import Foundation
import RecKit

/// `reckit marginals`: P(item at rank) of a ranking policy, exactly or by Monte Carlo.
struct Marginals: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rank marginals P(item at rank) of a ranking policy (JSON spec), exactly or by Monte Carlo.",
        discussion: """
            Writes CSV rows item,rank,probability (rank from 1; items as the policy numbers them, e.g. \
            0..n-1 for an OBD prior), plus std_error for Monte Carlo. See README for the spec format; \
            for example {"kind": "bernoulli_ts", "prior": "data/obp/obp/policy/conf/prior_bts.yaml", "campaign": "all"}.
            """)

    @Option(help: "Policy spec (JSON).") var policy: String
    @Option(help: "Ranks to compute (top-k).") var k: Int
    @Option(help: "Exact, or Monte Carlo with a standard error per cell.") var method: MarginalsMethod = .exact
    @Option(help: "Monte Carlo: simulated rankings.") var simulations: Int = 100_000
    @Option(help: "Monte Carlo: seed.") var seed: UInt64 = 1
    @Option(help: "Output CSV (written atomically); stdout when omitted.") var csv: String?
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard k >= 1 else { throw ValidationError("--k must be at least 1, got \(k)") }
        guard simulations >= 1 else { throw ValidationError("--simulations must be at least 1, got \(simulations)") }
    }

    func run() throws {
        try threading.apply()
        try runReporting {
            try checkOutputs(csv)
            let p = try PolicySpec.load(policy)
            var result: RankMarginals!
            let ms = try elapsedMs {
                result =
                    method == .exact
                    ? try p.exactMarginals(k: k)
                    : try p.monteCarloMarginals(k: k, simulations: simulations, seed: seed)
            }
            stderrLine(
                "\(method) marginals of \(p.name) (\(p.itemCount) items, top-\(k)) in " + String(format: "%.1f ms", ms)
                    + (result.errorEstimate.map { String(format: ", error estimate %.1e", $0) } ?? ""))
            var out = result.simulations == nil ? "item,rank,probability\n" : "item,rank,probability,std_error\n"
            for i in 0..<result.items {
                for r in 0..<result.k {
                    out += "\(i),\(r + 1),\(result.probability(item: i, rank: r))"
                    if result.simulations != nil { out += ",\(result.standardError(item: i, rank: r))" }
                    out += "\n"
                }
            }
            if let zero = Optional(result.zeroCells), !zero.isEmpty {
                stderrLine(
                    "note: \(zero.count) cells were never sampled; as importance-weight denominators they count as 0.5/\(simulations)"
                )
            }
            if let csv { try AtomicFile.write(Data(out.utf8), to: csv) } else { print(out, terminator: "") }
        }
    }
}
