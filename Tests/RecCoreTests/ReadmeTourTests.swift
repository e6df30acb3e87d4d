import RecCore
import Testing

/// The library tour of README.md, kept compiling and checked.
@Suite struct ReadmeTourTests {
    @Test func tour() throws {
        // The tour's `Threading.setCount(2)` is not repeated here: it would change the process-wide
        // count under the tests running beside this one (BLASTests checks the knob); the calls
        // below pass their thread count instead.
        let items = Matrix.random(100_000, 64, seed: 1)
        let users = Matrix.random(256, 64, seed: 2)
        let seen: [[Int]] = (0..<256).map { u in [u, u + 1] }
        let scorer = CatalogScorer(items: items, bias: nil)
        let top = try scorer.topK(states: users, k: 10, excluding: ExclusionSet(seen), parallelism: .threads(2))
        #expect(top.items(row: 0).count == 10)
        #expect(!top.items(row: 0).contains(0) && !top.items(row: 0).contains(1))
        let lower = CatalogScorer(items: items.rows(0..<50_000), firstItem: 0, catalogSize: 100_000)
        let upper = CatalogScorer(items: items.rows(50_000..<100_000), firstItem: 50_000, catalogSize: 100_000)
        let merged = try TopKResult.merge(
            [
                lower.topK(states: users, k: 10, excluding: ExclusionSet(seen)),
                upper.topK(states: users, k: 10, excluding: ExclusionSet(seen)),
            ], k: 10)
        #expect(merged == top)
        let compact = CatalogScorer(items: items, kernel: .simdBFloat16)
        #expect(try compact.topK(states: users, k: 10, excluding: ExclusionSet(seen)) == top)
        #expect(
            compact.packedBytes == (100_000 + 47) / 48 * 48 * 32 * 4
                || compact.packedBytes == (100_000 + 23) / 24 * 24 * 32 * 4)
        var c = Matrix.zeros(256, 100_000)
        gemm(users, items, into: &c, transposeB: .transpose, alpha: 1, beta: 0)
        let y = matmul(users, items, transposeB: .transpose)
        #expect(y == c)
        var logits = Matrix.random(4, 1000, seed: 3)
        logits.softmaxRows()
        #expect(logits.logSumExpRows().count == 4)
        #expect(try TopK.select(logits, k: 5).k == 5)
        let stream = RandomStream(seed: 42)
        let alpha = [Float](repeating: 3, count: 80)
        let beta = [Float](repeating: 900, count: 80)
        var draws = [Float](repeating: 0, count: 1000 * 80)
        draws.withUnsafeMutableBufferPointer { stream.fillBeta($0, alpha: alpha, beta: beta) }
        #expect(draws.allSatisfy { $0 > 0 && $0 < 1 })
        var g = stream.split(7).generator()
        #expect(Sampling.gamma(shape: 2.5, &g) > 0)
    }
}
