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
}
