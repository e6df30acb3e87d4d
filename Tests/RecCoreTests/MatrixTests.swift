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
