import Foundation
import RecCore
import RecOPE
import Testing

/// The streaming engine sums each chunk's rows block by block on several threads: the report is
/// the same, to the last bit, for any thread count, and it agrees with a sharded run (to 1e-12,
/// bootstrap exactly).
@Suite struct ParallelEvaluationTests {
    @Test(arguments: [(5, 70_001), (6, 16_384), (7, 40_000)])
    func everyThreadCountGivesTheSameBits(seed: Int, rows: Int) throws {
        let (logs, logging, target, settings) = try ShardedEvaluationTests.evaluationCase(
            seed: seed, rows: rows, bootstrap: 32)
        func run(threads: Int, chunkRows: Int, seedShift: UInt64 = 0) throws -> OfflineABReport {
            var s = settings
            s.seed &+= seedShift
            s.parallelism = .threads(threads)
            let ev = try OffPolicyEvaluator(
                targets: [TargetPolicy(name: "ts", marginals: [target])], logging: [logging], settings: s)
            return try ev.evaluate { (acc: inout OffPolicyAccumulator) throws(RecOPEError) in
                var start = 0
                while start < rows {
                    try acc.add(logs.chunk(start..<min(rows, start + chunkRows)))
                    start += chunkRows
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let one = try run(threads: 1, chunkRows: 65536)
        #expect(one.passes >= 4 && one.rows == rows)
        for threads in [2, 3, 8] {
            let many = try run(threads: threads, chunkRows: 65536)
            #expect(many == one, "\(threads) threads: the report differs from one thread's")
            #expect(
                try encoder.encode(many) == encoder.encode(one), "\(threads) threads: the JSON differs")
        }
        // The comparison sees a change: another bootstrap seed gives another report.
        #expect(try run(threads: 2, chunkRows: 65536, seedShift: 1) != one)
        // Another chunking is another order of sums: equal to 1e-12, the bootstrap exactly.
        let rechunked = try run(threads: 2, chunkRows: 9_999)
        ShardedEvaluationTests.expectSame(one, rechunked, "seed \(seed): chunks of 9,999 rows")
    }

    /// A logistic reward model with more coefficients than a small solve (400 context values):
    /// its Newton steps solve a 411 × 411 system, and DM and DR have the same bits on any thread
    /// count (OpenBLAS's factorisation, used here before, split its work by its thread count
    /// and changed the DM's last digit between `--threads 1` and `2`).
    @Test func aWideLogisticModelGivesTheSameBitsOnAnyThreadCount() throws {
        let rows = 40_000
        var g = Xoshiro256(seed: 11)
        let (base, logging) = try ShardedEvaluationTests.randomLogs(rows: rows, items: 7, depth: 3, seed: 11)
        let contexts = (0..<rows).map { _ in Int(Sampling.uniform(&g) * 400) }
        let rewards = (0..<rows).map { j in
            Sampling.uniform(&g) < 0.05 + 0.2 * Double(contexts[j] % 7) / 7 + 0.05 * Double(base.items[j] % 2) ? 1.0 : 0
        }
        let logs = try LoggedData(
            items: base.items.map { Int($0) }, positions: base.positions.map { Int($0) }, rewards: rewards,
            propensities: base.propensities!, contexts: contexts, source: "wide.csv")
        let target = try ThompsonSampling(alpha: [3, 2, 5, 1, 4, 2, 2], beta: [20, 20, 20, 20, 20, 20, 20])
            .exactMarginals(k: 3)
        func run(threads: Int) throws -> OfflineABReport {
            var s = EvaluationSettings()
            s.bootstrap = 0
            s.parallelism = .threads(threads)
            let ev = try OffPolicyEvaluator(
                targets: [TargetPolicy(name: "ts", marginals: [target])], logging: [logging], settings: s)
            return try ev.evaluate { (acc: inout OffPolicyAccumulator) throws(RecOPEError) in
                try acc.add(logs.chunk(0..<rows))
            }
        }
        let one = try run(threads: 1)
        let dm = try #require(one.evaluations[0].estimate(.DM, model: .logistic))
        #expect(dm.value.isFinite && one.passes >= 5, "the logistic model was fitted: \(one.passes) passes")
        for threads in [2, 3] {
            let many = try run(threads: threads)
            #expect(many == one, "\(threads) threads: the report differs from one thread's")
        }
    }
}
