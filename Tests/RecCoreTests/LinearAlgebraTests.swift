import RecCore
import Testing
import _RecTestSupport

@Suite struct LinearAlgebraTests {
    /// A random symmetric positive-definite matrix G Gᵀ + I.
    static func spd(_ n: Int, seed: UInt64) -> [Double] {
        let g = randomDoubles(n * n, seed: seed)
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var s = 0.0
                for k in 0..<n { s += g[i * n + k] * g[j * n + k] }
                a[i * n + j] = s
                a[j * n + i] = s
            }
            a[i * n + i] += 1
        }
        return a
    }

    /// The blocked, threaded solve repeats the textbook loop's every operation: the same bits on
    /// any thread count, across panel edges (48 rows) and column tiles (512), and the known
    /// solution within rounding.
    @Test(arguments: [1, 7, 40, 48, 49, 97, 300, 700]) func blockedSolveHasTheTextbookBits(n: Int) {
        var a = Self.spd(n, seed: 3)
        // Zeros in the upper triangle (a one-hot design's Hessian is mostly zeros) take the
        // skip path of the update.
        for i in 0..<n where i % 3 == 1 {
            for j in (i + 1)..<n where j % 5 != 0 { a[i * n + j] = 0 }
        }
        for i in 0..<n { a[i * n + i] += Double(n) }  // still diagonally dominant: positive definite
        let x0 = randomDoubles(n, seed: 4)
        // b = A x0 with A's symmetric completion of its upper triangle.
        let b = (0..<n).map { i in
            (0..<n).reduce(0.0) { s, j in s + (j >= i ? a[i * n + j] : a[j * n + i]) * x0[j] }
        }
        let reference = choleskySolveReference(a, b, n: n)!
        for t in [1, 2, 3] {
            let x = LinearAlgebra.solveSymmetricPositiveDefinite(a, b, n: n, parallelism: .threads(t))!
            #expect(x.map(\.bitPattern) == reference.map(\.bitPattern), "n \(n), \(t) threads")
        }
        for i in 0..<n { #expect(abs(reference[i] - x0[i]) < 1e-8 * Double(n)) }
    }

    /// A matrix that is not positive definite, or holds a value that is not finite, has no solve.
    @Test func notPositiveDefiniteHasNoSolve() {
        #expect(LinearAlgebra.solveSymmetricPositiveDefinite([1, 2, 2, 1], [1, 1], n: 2) == nil)
        var a = Self.spd(60, seed: 5)
        a[59 * 60 + 59] = -1e6
        #expect(LinearAlgebra.solveSymmetricPositiveDefinite(a, [Double](repeating: 1, count: 60), n: 60) == nil)
        a = Self.spd(60, seed: 5)
        a[3 * 60 + 50] = .nan
        #expect(LinearAlgebra.solveSymmetricPositiveDefinite(a, [Double](repeating: 1, count: 60), n: 60) == nil)
        #expect(LinearAlgebra.solveSymmetricPositiveDefinite([], [], n: 0) == [])
    }
}
