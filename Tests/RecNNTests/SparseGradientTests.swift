import RecCore
import RecNN
import Testing

/// The sparse gradient store: a sparse parameter holds the rows a backward touched, and every
/// consumer (optimiser, clipping, replicas' sums) gives the bits the dense gradient gave.
@Suite struct SparseGradientTests {
    /// A dense and a sparse parameter of the same values, with the same gradient rows added.
    func pair(rows: Int, cols: Int, seed: UInt64) -> (dense: Parameter, sparse: Parameter) {
        let v = Matrix.random(rows, cols, seed: seed, distribution: .normal(mean: 0, std: 1))
        return (Parameter(name: "d", value: v), Parameter(name: "s", value: v, sparse: true))
    }

    func add(_ g: [Float], row: Int, to p: Parameter) {
        if p.isSparse { p.touch(row) }
        p.withGradientRows { r in for j in g.indices { r(row)[j] += g[j] } }
    }

    @Test func rowsAreHeldCompactlyAndReadAsTheDenseGradient() {
        let p = Parameter(name: "e", value: Matrix(rows: 1_000_000, cols: 8), sparse: true)
        #expect(p.gradientStorageCount == 0)
        add([1, 2, 3, 4, 5, 6, 7, 8], row: 999_999, to: p)
        add([1, 1, 1, 1, 1, 1, 1, 1], row: 3, to: p)
        add([1, 1, 1, 1, 1, 1, 1, 1], row: 999_999, to: p)
        #expect(p.gradientRows == [999_999, 3])
        #expect(p.gradientStorageCount == 16)
        #expect(p.touchedRows == [3, 999_999])
        #expect(p.gradientRow(999_999) == [2, 3, 4, 5, 6, 7, 8, 9])
        #expect(p.gradientRow(4) == [Float](repeating: 0, count: 8))
        let g = p.grad
        #expect(g.rows == 1_000_000 && g[3, 0] == 1 && g[999_999, 7] == 9 && g[5, 0] == 0)
        p.zeroGrad()
        #expect(
            p.gradientRows.isEmpty && p.gradientStorageCount == 0 && p.gradientRow(3) == Array(repeating: 0, count: 8))
        // Assigning a dense gradient touches every row.
        let small = Parameter(name: "b", value: Matrix(rows: 1, cols: 5), sparse: true, vector: true)
        small.grad = Matrix([[0, 1, 0, 2, 0]])
        #expect(small.touchedRows == Set(0..<5) && small.gradientRow(3) == [2])
        small.replaceGradient(rows: [4, 1], values: [7, 8])
        #expect(small.gradientRows == [4, 1] && small.grad.storage == [0, 8, 0, 0, 7])
    }

    /// Replicas' rows are added in row order, as the dense sum adds them.
    @Test func accumulationEqualsTheDenseSum() {
        var g = Xoshiro256(seed: 3)
        let (d, s) = pair(rows: 50, cols: 6, seed: 1)
        let (d2, s2) = pair(rows: 50, cols: 6, seed: 1)
        for _ in 0..<40 {
            let row = Int(g.next() % 50)
            let v = (0..<6).map { _ in Float(Int(g.next() % 2001) - 1000) / 997 }
            add(v, row: row, to: d)
            add(v, row: row, to: s)
            let row2 = Int(g.next() % 50)
            add(v.map { $0 * 0.3 }, row: row2, to: d2)
            add(v.map { $0 * 0.3 }, row: row2, to: s2)
        }
        d.accumulateGradient(from: d2)
        s.accumulateGradient(from: s2)
        #expect(d.grad.storage == s.grad.storage)
        #expect(Set(s.gradientRows) == s.touchedRows!)
    }

    /// Adam over a sparse parameter updated densely (every row, shared step count) equals Adam
    /// over the dense parameter, bit for bit, over steps touching different rows; so does the
    /// clipping of the gradients' norm.
    @Test func denseAdamAndClippingOverSparseRowsEqualTheDense() {
        var g = Xoshiro256(seed: 9)
        let (d, s) = pair(rows: 37, cols: 5, seed: 2)
        let (db, sb) = (
            Parameter(name: "db", value: Matrix(rows: 1, cols: 37), vector: true),
            Parameter(name: "sb", value: Matrix(rows: 1, cols: 37), sparse: true, vector: true)
        )
        let ad = Adam(parameters: [d, db], learningRate: 0.01, weightDecay: 0.01)
        let asp = Adam(parameters: [s, sb], learningRate: 0.01, weightDecay: 0.01)
        asp.lazySparseRows = false
        for _ in 0..<4 {
            for _ in 0..<9 {
                let row = Int(g.next() % 37)
                let v = (0..<5).map { _ in Float(Int(g.next() % 2001) - 1000) / 101 }
                add(v, row: row, to: d)
                add(v, row: row, to: s)
                add([v[0]], row: row, to: db)
                add([v[0]], row: row, to: sb)
            }
            let n1 = clipGradientNorm([d, db], maxNorm: 5)
            let n2 = clipGradientNorm([s, sb], maxNorm: 5)
            #expect(n1 == n2)
            #expect(d.grad.storage == s.grad.storage && db.grad.storage == sb.grad.storage)
            ad.step()
            asp.step()
            #expect(d.value.storage == s.value.storage && db.value.storage == sb.value.storage)
            for p in [d, s, db, sb] { p.zeroGrad() }
        }
    }
}
