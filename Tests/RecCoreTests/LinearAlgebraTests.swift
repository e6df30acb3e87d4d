import RecCore
import Testing
import _RecTestSupport

@Suite struct LinearAlgebraTests {
    /// The Swift Cholesky (n ≤ 256) and LAPACK's (above) against a known solution.
    @Test(arguments: [7, 40, LinearAlgebra.smallSolve + 44]) func choleskySolveMatchesNaive(n: Int) {
        let g = randomDoubles(n * n, seed: 3)
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n { for k in 0..<n { a[i * n + j] += g[i * n + k] * g[j * n + k] } }
            a[i * n + i] += 1
        }
        let x0 = randomDoubles(n, seed: 4)
        let b = (0..<n).map { i in (0..<n).reduce(0.0) { $0 + a[i * n + $1] * x0[$1] } }
        let x = LinearAlgebra.solveSymmetricPositiveDefinite(a, b, n: n)!
        for i in 0..<n { #expect(abs(x[i] - x0[i]) < 1e-8 * Double(n)) }
        #expect(LinearAlgebra.solveSymmetricPositiveDefinite([1, 2, 2, 1], [1, 1], n: 2) == nil)
    }
}
