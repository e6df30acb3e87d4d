import ArgumentParser
import Foundation
import RecKit

/// `reckit demo`: the main job on built-in data. At this stage: score a generated
/// 100,000-item catalog for a batch of users and show the top items and the time.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run RecKit's main job on built-in data: catalog scoring, an offline A/B test on a simulated feed, and offline RL (SQN) on simulated sessions with an offline A/B of the trained policy."
    )

    @Option(help: "Catalog size.") var items: Int = 100_000
    @Option(help: "Embedding dimension.") var dim: Int = 64
    @Option(help: "Users (states) scored in one batch.") var batch: Int = 256
    @Option(help: "Items per user.") var k: Int = 10
    @Option(help: "Seed.") var seed: UInt64 = 7
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        for (name, v) in [("--items", items), ("--dim", dim), ("--batch", batch), ("--k", k)] where v < 1 {
            throw ValidationError("\(name) must be at least 1, got \(v)")
        }
        guard k <= items else { throw ValidationError("--k must be at most --items (\(items)), got \(k)") }
        try checkOptionMemory(
            "the demo catalog (--items \(items) × (--dim \(dim) + 2) floats)",
            bytes: MemoryBudget.bytes(rows: items, columns: [dim, 2]))
        try checkOptionMemory(
            "the demo users and their top-k (--batch \(batch) × (--dim \(dim) + 2 × --k \(k)) values)",
            bytes: MemoryBudget.bytes(rows: batch, columns: [dim, k, k]))
    }

    func run() throws {
        try threading.apply()
        print("RecKit demo: catalog scoring")
        print("  OpenBLAS core \(BLASHealth.coreDescription), \(Threading.count) thread(s)")
        // A catalog with popularity: item vectors plus a log-popularity bias, and users whose
        // taste vectors share the item space.
        let items = Matrix.random(
            self.items, dim, seed: seed, distribution: .normal(mean: 0, std: 1 / Float(dim).squareRoot()))
        let bias = (0..<self.items).map { i in -0.5 * Float(Foundation.log(Double(i + 1))) / 10 }
        let users = Matrix.random(batch, dim, seed: seed &+ 1)
        let scorer = CatalogScorer(items: items, bias: bias)
        print("  catalog: \(self.items) items × d=\(dim); batch: \(batch) users; k=\(k)")
        // Warm-up, then time several runs.
        _ = try scorer.topK(states: users, k: k)
        var times = [Double]()
        var result: TopKResult!
        for _ in 0..<10 { times.append(try elapsedMs { result = try scorer.topK(states: users, k: k) }) }
        times.sort()
        // The same for one user: the serving case.
        let one = users.rows(0..<1)
        var single = [Double]()
        for _ in 0..<50 { single.append(try elapsedMs { _ = try scorer.topK(states: one, k: k) }) }
        single.sort()
        // Check one user against a plain full score vector and a full sort (scores may differ in
        // the last bit between GEMM shapes, so compare the ranked scores with a tolerance).
        let full = matmul(one, items, transposeB: .transpose)
        let ref = try TopK.select(
            Matrix(rows: 1, cols: self.items, elements: zip(full.storage, bias).map { $0 + $1 }), k: k)
        let agree = zip(ref.scores(row: 0), result.scores(row: 0)).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) }
        print("")
        for u in 0..<min(3, batch) {
            let tops = zip(result.items(row: u), result.scores(row: u)).prefix(5)
                .map { String(format: "%ld (%.3f)", Int($0.0), $0.1) }.joined(separator: ", ")
            print("  user \(u): \(tops)")
        }
        print("")
        print(
            String(
                format: "  top-%ld for %ld users over %ld items: median %.2f ms (best %.2f ms)", k, batch, self.items,
                times[times.count / 2], times[0]))
        print(String(format: "  top-%ld for 1 user: median %.3f ms", k, single[single.count / 2]))
        print("  fused result equals a full sort for user 0: \(agree ? "yes" : "NO")")
        if !agree { throw ExitCode(1) }
        try runReporting { try offlineAB() }
        try runRL { try sequentialRL() }
    }

    /// Part 2: an offline A/B test on a simulated feed whose true answers are known.
    func offlineAB() throws(RecOPEError) {
        print("")
        print("RecKit demo: offline A/B test on a simulated feed")
        let sim = FeedSimulator()
        let c = sim.config
        var ms = 0.0
        var run: FeedSimulator.Run!
        var evs = [PolicyEvaluation]()
        var settings = EvaluationSettings()
        settings.caps = [5]
        settings.bootstrap = 500
        settings.seed = seed
        let t0 = DispatchTime.now().uptimeNanoseconds
        run = try sim.run(seed: seed)
        evs = try FeedSimulator.evaluate(run, settings: settings)
        ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        print(
            "  \(c.items) items in \(c.teams) teams, click rates drifting over \(c.periods) periods of 4 h; users favour one team"
        )
        print(
            "  logging policy: Thompson sampling updated every period; \(run.logs.count) logged (impression, position) rows"
        )
        print(String(format: "  logged mean click %.5f (its exact value %.5f)", run.logs.meanReward, run.loggingTruth))
        print("")
        let shown: [Estimator] = [.IS, .CIS, .NCIS, .pieceNCIS, .pointNCIS, .SNIPS, .DM, .DR]
        print(
            "  candidate      truth    "
                + shown.map { $0.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined())
        for (cand, ev) in zip(run.candidates, evs) {
            var line =
                "  " + cand.name.padding(toLength: 14, withPad: " ", startingAt: 0)
                + String(format: "%.5f  ", cand.truth)
            for name in shown {
                line += String(format: "%.5f   ", ev.estimate(name)?.value ?? .nan)
            }
            print(line)
        }
        print("")
        print("  (caps c = 5; 95% Poisson-bootstrap intervals, 500 replicates:)")
        for (cand, ev) in zip(run.candidates, evs) {
            guard let e = ev.estimate(.NCIS) else { continue }
            let covered = e.interval.low <= cand.truth && cand.truth <= e.interval.high
            print(
                "  " + cand.name.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(format: " NCIS [%.5f, %.5f] ", e.interval.low, e.interval.high)
                    + (covered ? "covers" : "misses")
                    + String(
                        format: " the truth %.5f; uplift over logging %+.1f%% (true %+.1f%%)",
                        cand.truth, 100 * (e.value / run.logs.meanReward - 1), 100 * (cand.truth / run.loggingTruth - 1)
                    ))
        }
        print(
            String(
                format: "  simulation, exact marginals for %ld policy states and every estimator in %.0f ms",
                run.candidates.reduce(0) { $0 + $1.marginals.count } + run.logging.count, ms))
    }
}
