import RecCore
import Testing
import _RecTestSupport

@Suite struct TopKTests {
    func check(_ r: TopKResult, row: Int, against ref: [(Int32, Float)], _ note: String = "") {
        #expect(r.counts[row] == ref.count, "\(note) row \(row): count \(r.counts[row]) vs \(ref.count)")
        let items = Array(r.items(row: row))
        let scores = Array(r.scores(row: row))
        #expect(items == ref.map { $0.0 }, "\(note) row \(row): items differ")
        let same = zip(scores, ref.map { $0.1 }).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
        #expect(same, "\(note) row \(row): scores differ")
    }

    @Test(arguments: [1, 2, 10, 64, 100, 1000, 1500])
    func matchesFullSort(k: Int) throws {
        for n in [1, 15, 16, 17, 100, 2000] {
            let rows = 3
            // Quantised scores make ties common.
            let x = randomFloats(rows * n, seed: UInt64(n * 31 + k)).map { ($0 * 4).rounded() / 4 }
            let r = try TopK.select(Matrix(rows: rows, cols: n, elements: x), k: k, parallelism: .threads(2))
            #expect(r.k == min(k, n))
            for row in 0..<rows {
                check(r, row: row, against: naiveTopK(Array(x[(row * n)..<((row + 1) * n)]), k: k), "n=\(n) k=\(k)")
            }
        }
    }

    @Test func orderOfSpecialValues() throws {
        let x: [Float] = [1, .nan, .infinity, -.infinity, 3, .nan, 3, -2]
        let r = try TopK.select(x, k: 8)
        #expect(r.map { $0.item } == [2, 4, 6, 0, 7, 3, 1, 5])
        // NaN never outranks a number even when k exceeds the number of numbers.
        let mostlyNaN = [Float](repeating: .nan, count: 100) + [-1e30] + [Float](repeating: .nan, count: 100)
        #expect(try TopK.select(mostlyNaN, k: 3).map { $0.item } == [100, 0, 1])
        // A NaN at the front of a long row must not block later numbers.
        let front = [Float.nan] + randomFloats(500, seed: 3)
        let ref = naiveTopK(front, k: 5)
        #expect(try TopK.select(front, k: 5).map { Int32($0.item) } == ref.map { $0.0 })
    }

    @Test func allEqual() throws {
        let r = try TopK.select([Float](repeating: 2, count: 300), k: 4)
        #expect(r.map { $0.item } == [0, 1, 2, 3])
    }

    @Test func exclusions() throws {
        let n = 300
        let x = randomFloats(2 * n, seed: 9)
        let ex = ExclusionSet([[5, 1, 5, 299, 150], Array(0..<298)])
        let r = try TopK.select(Matrix(rows: 2, cols: n, elements: x), k: 10, excluding: ex)
        check(r, row: 0, against: naiveTopK(Array(x[0..<n]), k: 10, excluding: [1, 5, 150, 299]))
        // Fewer items than k remain: the row is short, padded with -1.
        #expect(r.counts[1] == 2)
        #expect(Set(r.items(row: 1)) == [298, 299])
        #expect(r.indices[10 + 2] == -1)
    }

    @Test func badArguments() throws {
        let m = Matrix([[1, 2, 3]])
        #expect(throws: RecCoreError.invalidArgument("top-k: k must be at least 1, got 0")) { try TopK.select(m, k: 0) }
        #expect(throws: RecCoreError.self) { try TopK.select(m, k: -3) }
        #expect(throws: RecCoreError.itemOutOfRange(row: 0, item: 3, catalogSize: 3)) {
            try TopK.select(m, k: 1, excluding: ExclusionSet([[0, 3]]))
        }
        #expect(throws: RecCoreError.itemOutOfRange(row: 0, item: -1, catalogSize: 3)) {
            try TopK.select(m, k: 1, excluding: ExclusionSet([[-1]]))
        }
        #expect(throws: RecCoreError.self) { try TopK.select(m, k: 1, excluding: ExclusionSet([[0], [1]])) }
        // k > N returns N.
        #expect(try TopK.select(m, k: 10).k == 3)
    }

    @Test func emptyInputs() throws {
        let r = try TopK.select(Matrix(rows: 0, cols: 5), k: 3)
        #expect(r.rows == 0 && r.indices.isEmpty)
        let e = try TopK.select(Matrix(rows: 2, cols: 0), k: 3)
        #expect(e.counts == [0, 0])
    }
}

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
