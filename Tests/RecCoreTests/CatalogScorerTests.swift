import RecCore
import Testing
import _RecTestSupport

@Suite struct CatalogScorerTests {
    /// Naive reference: full score matrix in Double-accumulated GEMM, rounded to Float, then a
    /// full sort. Scores from BLAS and the reference differ in rounding, so the test compares the
    /// chosen items' reference scores instead of demanding identical orders at near-ties.
    func reference(states: Matrix, items: Matrix, bias: [Float]?, k: Int, excluding: [[Int]]?) -> [[(Int32, Float)]] {
        let s = naiveGEMM(
            states.storage, states.rows, states.cols, transA: false,
            items.storage, items.rows, items.cols, transB: true
        ).c
        return (0..<states.rows).map { r in
            let row = (0..<items.rows).map { Float(s[r * items.rows + $0] + Double(bias?[$0] ?? 0)) }
            return naiveTopK(row, k: k, excluding: Set(excluding?[r] ?? []))
        }
    }

    func assertMatches(_ got: TopKResult, _ ref: [[(Int32, Float)]], tol: Float = 1e-4, _ note: String) {
        for r in 0..<ref.count {
            #expect(got.counts[r] == ref[r].count, "\(note): row \(r) count")
            let gs = Array(got.scores(row: r))
            let rs = ref[r].map { $0.1 }
            #expect(
                zip(gs, rs).allSatisfy { abs($0 - $1) <= tol * max(1, abs($1)) || ($0.isNaN && $1.isNaN) },
                "\(note): row \(r) scores \(gs.prefix(5)) vs \(rs.prefix(5))")
            // Same items except where the scores are within rounding of each other.
            let gi = Array(got.items(row: r))
            let ri = ref[r].map { $0.0 }
            for j in 0..<min(gi.count, ri.count) where gi[j] != ri[j] {
                #expect(
                    abs(gs[j] - rs[j]) <= tol * max(1, abs(rs[j])),
                    "\(note): row \(r) slot \(j) item \(gi[j]) vs \(ri[j])")
            }
        }
    }

    @Test(arguments: [1, 2, 3])
    func matchesNaive(threads: Int) throws {
        for (b, n, d, k, block) in [
            (1, 1000, 8, 10, 64), (5, 777, 16, 7, 100), (37, 3001, 32, 25, 512), (300, 2500, 17, 1, 256),
            (3, 50, 4, 100, 16),
        ] {
            let items = Matrix.random(n, d, seed: UInt64(n))
            let states = Matrix.random(b, d, seed: UInt64(b))
            let bias = randomFloats(n, seed: 77)
            for useBias in [false, true] {
                let scorer = CatalogScorer(items: items, bias: useBias ? bias : nil, blockItems: block, tileStates: 128)
                let got = try scorer.topK(states: states, k: k, parallelism: .threads(threads))
                assertMatches(
                    got, reference(states: states, items: items, bias: useBias ? bias : nil, k: k, excluding: nil),
                    "b=\(b) n=\(n) d=\(d) k=\(k) bias=\(useBias) threads=\(threads)")
            }
        }
    }

    @Test func identicalAcrossThreadCountsAndBlockSizes() throws {
        let items = Matrix.random(5000, 24, seed: 1)
        let states = Matrix.random(40, 24, seed: 2)
        let base = try CatalogScorer(items: items, blockItems: 1024).topK(
            states: states, k: 50, parallelism: .sequential)
        for t in [2, 3, 7] {
            #expect(
                try CatalogScorer(items: items, blockItems: 1024).topK(states: states, k: 50, parallelism: .threads(t))
                    == base)
        }
        // Different block sizes group the GEMM differently, but each score is one dot product of
        // the same length, so OpenBLAS may still round differently: compare items only up to ties.
        let other = try CatalogScorer(items: items, blockItems: 333).topK(
            states: states, k: 50, parallelism: .threads(2))
        assertMatches(
            other, (0..<40).map { r in zip(base.items(row: r), base.scores(row: r)).map { ($0, $1) } }, tol: 1e-5,
            "block 333")
    }

    @Test func exclusionsAcrossBlocks() throws {
        let n = 2000
        let d = 8
        let items = Matrix.random(n, d, seed: 5)
        let states = Matrix.random(3, d, seed: 6)
        let ref0 = reference(states: states, items: items, bias: nil, k: 30, excluding: nil)
        // Exclude each row's own top 20 plus items on block borders.
        let ex = (0..<3).map { r in ref0[r].prefix(20).map { Int($0.0) } + [0, 255, 256, 1999] }
        for t in [1, 2] {
            let got = try CatalogScorer(items: items, blockItems: 256).topK(
                states: states, k: 30, excluding: ExclusionSet(ex), parallelism: .threads(t))
            assertMatches(
                got, reference(states: states, items: items, bias: nil, k: 30, excluding: ex), "exclusions threads=\(t)"
            )
            for r in 0..<3 { #expect(Set(got.items(row: r).map(Int.init)).isDisjoint(with: ex[r])) }
        }
    }

    @Test func nanAndInfinityScores() throws {
        // An item row of NaN gives NaN scores: ranked last. An infinite bias ranks first.
        var rows = (0..<100).map { i in [Float(i) / 100, 1] }
        rows[3] = [.nan, 0]
        let items = Matrix(rows)
        var bias = [Float](repeating: 0, count: 100)
        bias[50] = .infinity
        let got = try CatalogScorer(items: items, bias: bias, blockItems: 32).topK(states: Matrix([[1, 0]]), k: 100)
        let order = Array(got.items(row: 0))
        #expect(order.first == 50)
        #expect(order.last == 3)
        #expect(order.count == 100)
    }

    @Test func badArguments() throws {
        let scorer = CatalogScorer(items: Matrix.random(10, 4, seed: 1))
        #expect(throws: RecCoreError.self) { try scorer.topK(states: Matrix.random(2, 4, seed: 2), k: 0) }
        #expect(throws: RecCoreError.itemOutOfRange(row: 1, item: 10, catalogSize: 10)) {
            try scorer.topK(states: Matrix.random(2, 4, seed: 2), k: 3, excluding: ExclusionSet([[1], [10]]))
        }
        #expect(try scorer.topK(state: [1, 0, 0, 0], k: 50).count == 10)
        #expect(try scorer.topK(states: Matrix(rows: 0, cols: 4), k: 3).rows == 0)
    }
}
