import RecCore
@_spi(Reference) import RecOPE
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Balanced IPW against a reference made row by row: the classifier fitted by a dense Newton
/// over every row's examples (each logged row at label 0, the same row with every item at its
/// target probability at label 1), then Σŵr / Σŵ and the delta-method SE over the rows.
@Suite struct BalancedWeightingTests {
    static func reference(_ logs: LoggedData, target: RankMarginals, items: Int, depth: Int, c: Double) -> (
        value: Double, se: Double
    ) {
        var weights = [Double](repeating: 0, count: logs.count)
        for k in 0..<depth {
            let rows = (0..<logs.count).filter { logs.positions[$0] == k }
            let levels = Array(Set(rows.map { logs.contexts![$0] })).sorted()
            let P = 1 + items + levels.count
            func x(_ j: Int, _ a: Int) -> [Int] { [0, 1 + a, 1 + items + levels.firstIndex(of: logs.contexts![j])!] }
            var examples = [([Int], Double, Double)]()  // features, label, weight
            for j in rows {
                examples.append((x(j, Int(logs.items[j])), 0, 1))
                for a in 0..<items where target.probability(item: a, rank: k) > 0 {
                    examples.append((x(j, a), 1, target.probability(item: a, rank: k)))
                }
            }
            var theta = [Double](repeating: 0, count: P)
            for _ in 0..<40 {
                var h = [Double](repeating: 0, count: P * P)
                var g = [Double](repeating: 0, count: P)
                for (f, y, w) in examples {
                    let p = 1 / (1 + exp(-f.reduce(0.0) { $0 + theta[$1] }))
                    for a in f {
                        g[a] += w * (y - p)
                        for b in f { h[a * P + b] += w * p * (1 - p) }
                    }
                }
                for i in 1..<P {
                    h[i * P + i] += 1 / c
                    g[i] -= theta[i] / c
                }
                let step = LinearAlgebra.solveSymmetricPositiveDefinite(h, g, n: P, parallelism: .sequential)!
                for i in 0..<P { theta[i] += step[i] }
            }
            for j in rows { weights[j] = exp(x(j, Int(logs.items[j])).reduce(0.0) { $0 + theta[$1] }) }
        }
        let n = Double(logs.count)
        let sw = weights.reduce(0, +)
        let rewards = logs.rewards.map { Double($0) }
        let v = zip(weights, rewards).reduce(0.0) { $0 + $1.0 * $1.1 } / sw
        let ss = zip(weights, rewards).reduce(0.0) { $0 + $1.0 * $1.0 * ($1.1 - v) * ($1.1 - v) }
        return (v, (ss / (n - 1) / n).squareRoot() / (sw / n))
    }

    @Test(arguments: [(1, 300, 1.0), (2, 1000, 0.1), (3, 2000, 20.0)])
    func equalsTheRowByRowReference(seed: Int, rows: Int, c: Double) throws {
        let (logs, logging) = try ShardedEvaluationTests.randomLogs(rows: rows, items: 7, depth: 3, seed: UInt64(seed))
        let target = try ThompsonSampling(alpha: [3, 2, 5, 1, 4, 2, 2], beta: [20, 20, 20, 20, 20, 20, 20])
            .exactMarginals(k: 3)
        var settings = EvaluationSettings()
        settings.bootstrap = 0
        settings.rewardModels = false
        settings.balanced = c
        let report = try OfflineEvaluation.evaluate(
            logs: logs, policies: [TargetPolicy(name: "ts", marginals: [target])], targetStates: nil,
            logging: [logging], loggingState: nil, settings: settings)
        let e = try #require(report.evaluations[0].estimate(.BIPW))
        let want = Self.reference(logs, target: target, items: 7, depth: 3, c: c)
        #expect(abs(e.value - want.value) <= 1e-10 * want.value, "\(e.value) vs \(want.value)")
        let se = (e.normal.high - e.normal.low) / 2 / SpecialFunctions.normalQuantile(0.975)
        #expect(abs(se - want.se) <= 1e-8 * want.se, "SE \(se) vs \(want.se)")
        #expect(e.method == .normal && e.interval == e.normal)
        // The classifier's weights are not the exact ones: BIPW is not SNIPS.
        #expect(abs(e.value - report.evaluations[0].estimate(.SNIPS)!.value) > 1e-6)
    }

    @Test func tooManyCellsGiveAWarningAndNoEstimate() throws {
        var cells = BalancedCells(columns: ["user"])
        var chunk = LogChunk(source: "many.csv")
        let n = BalancedCells.maxCells + 1
        chunk.items = [Int32](repeating: 0, count: n)
        chunk.positions = [Int32](repeating: 0, count: n)
        chunk.rewards = [Double](repeating: 0, count: n)
        chunk.contexts = [.init(name: "user", ids: (0..<n).map { Int32($0) }, values: (0..<n).map { "u\($0)" })]
        try cells.add(chunk, states: nil, items: 1) { _, _ in [1] }
        #expect(cells.overflow)
        guard case .failure(.invalidParameter(let m)) = cells.estimate(c: 1, items: 1) else {
            Issue.record("an estimate from overflowed cells")
            return
        }
        #expect(m.contains("more than \(BalancedCells.maxCells)"))
        #expect(throws: RecOPEError.self) {
            var s = EvaluationSettings()
            s.balanced = 0
            _ = try OffPolicyEvaluator(
                targets: [
                    TargetPolicy(
                        name: "t", marginals: [try PlackettLuce(scores: [0, 1], temperature: 1).exactMarginals(k: 1)])
                ],
                logging: nil, settings: s)
        }
    }

    /// A reward the exact sums cannot hold (or NaN) is a typed error naming the line, not a trap.
    @Test func hugeRewardsAreRefusedWithTheirLine() throws {
        for bad in [3e9, -1e300, Double.nan, Double.infinity] {
            var cells = BalancedCells(columns: [])
            var chunk = LogChunk(source: "big.csv")
            chunk.items = [0, 1]
            chunk.positions = [0, 0]
            chunk.rewards = [1, bad]
            chunk.lines = [2, 3]
            #expect {
                try cells.add(chunk, states: nil, items: 2) { _, _ in [0.5, 0.5] }
            } throws: { error in
                guard case .malformedFile(let file, let line, let m) = error as? RecOPEError else { return false }
                return file == "big.csv" && line == 3 && m.contains("too large for balanced IPW")
            }
        }
    }

    @Test func exactSumTimesIsRepeatedAdds() {
        var a = ExactSum()
        var b = ExactSum()
        for x in [0.1, 1.0 / 3, 7.25e-3, 0.99999] {
            for _ in 0..<37 { a.add(x) }
            b.add(x, times: 37)
        }
        #expect(a == b)
    }
}
