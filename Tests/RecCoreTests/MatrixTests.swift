import RecCore
import Testing
import _RecTestSupport

@Suite struct MatrixTests {
    @Test func constructionAndViews() {
        let m = Matrix([[1, 2, 3], [4, 5, 6]])
        #expect(m.rows == 2 && m.cols == 3)
        #expect(Array(m.row(1)) == [4, 5, 6])
        #expect(m[0, 2] == 3)
        #expect(m.transposed() == Matrix([[1, 4], [2, 5], [3, 6]]))
        #expect(m.rows(1..<2) == Matrix([[4, 5, 6]]))
        var z = Matrix.zeros(2, 2)
        z.setRow(1, [7, 8])
        #expect(z.storage == [0, 0, 7, 8])
        #expect(Matrix(rows: 2, cols: 2) { r, c in Float(r * 10 + c) }.storage == [0, 1, 10, 11])
    }

    /// setRow copies contiguous sources in one go and walks other collections element by
    /// element; both write the same row, and a row of the matrix itself (a slice sharing its
    /// storage) is copied before the write.
    @Test func setRowFromContiguousAndOtherCollections() {
        var m = Matrix(rows: 3, cols: 4) { r, c in Float(r * 10 + c) }
        m.setRow(0, [Float](arrayLiteral: 9, 8, 7, 6))
        m.setRow(1, Matrix([[1, 2, 3, 4, 5]]).storage[1..<5])
        m.setRow(2, [Float](arrayLiteral: 1, 2, 3, 4).reversed())
        #expect(m.storage == [9, 8, 7, 6, 2, 3, 4, 5, 4, 3, 2, 1])
        let before = m
        m.setRow(0, m.row(2))
        #expect(m.storage == [4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2, 1])
        #expect(before.storage[0] == 9)
        var empty = Matrix(rows: 2, cols: 0)
        empty.setRow(1, [Float]())
        #expect(empty.storage.isEmpty)
    }

    @Test func valueSemantics() {
        let a = Matrix([[1, 2]])
        var b = a
        b[0, 0] = 9
        #expect(a[0, 0] == 1 && b[0, 0] == 9)
    }

    @Test func seededRandomIsReproducibleAcrossThreadCounts() {
        let a = Matrix.random(300, 70, seed: 7, parallelism: .sequential)
        let b = Matrix.random(300, 70, seed: 7, parallelism: .threads(2))
        let c = Matrix.random(300, 70, seed: 7, parallelism: .threads(5))
        #expect(a == b && b == c)
        #expect(a != Matrix.random(300, 70, seed: 8))
        let u = Matrix.random(100, 100, seed: 1, distribution: .uniform(low: -2, high: 3))
        #expect(u.storage.allSatisfy { $0 >= -2 && $0 < 3 })
    }
}
