internal import CBLAS

/// Dense linear algebra in Double through LAPACKE.
public enum LinearAlgebra {
    /// Solves `A x = b` for a symmetric positive-definite `A` (row-major n×n; only its upper
    /// triangle is read) by Cholesky factorisation: in Swift for n ≤ `smallSolve` (the reward
    /// models' Newton steps), LAPACKE `dposv` above.
    ///
    /// The small solves are written here rather than taken from LAPACK because OpenBLAS's
    /// factorisation splits its work by the process-wide OpenBLAS thread count, so its last bits
    /// depend on it: a count changed by another thread between setting it and calling LAPACK
    /// (a test of the thread knob running beside an offline A/B test did) changed a report.
    /// The Swift loop's bits depend on the inputs only, and at these sizes it is as fast.
    /// - Returns: x, or nil when A is not positive definite.
    /// - Precondition: `a.count == n·n` and `b.count == n`.
    /// - Complexity: n³/3 + 2n² FLOPs.
    public static func solveSymmetricPositiveDefinite(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
        precondition(
            a.count == n * n && b.count == n,
            "solveSymmetricPositiveDefinite: A has \(a.count) values and b \(b.count) for n = \(n)")
        if n == 0 { return [] }
        if n <= smallSolve { return choleskySolve(a, b, n: n) }
        var m = a
        var x = b
        Threading.setBLASThreads(Threading.count)
        let info = m.withUnsafeMutableBufferPointer { mp in
            x.withUnsafeMutableBufferPointer { xp in
                LAPACKE_dposv(
                    LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), 1, mp.baseAddress, Int32(n), xp.baseAddress, 1)
            }
        }
        return info == 0 ? x : nil
    }

    /// Largest n solved by the Swift Cholesky (`solveSymmetricPositiveDefinite`).
    public static let smallSolve = 256

    /// Cholesky `A = Uᵀ U` from the upper triangle (row-major), then `Uᵀ y = b`, `U x = y`; nil
    /// when a pivot is not positive (or NaN).
    static func choleskySolve(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var s = a[i * n + j]
                for p in 0..<i { s -= u[p * n + i] * u[p * n + j] }
                if i == j {
                    guard s > 0 else { return nil }
                    u[i * n + i] = s.squareRoot()
                } else {
                    u[i * n + j] = s / u[i * n + i]
                }
            }
        }
        var x = b
        for i in 0..<n {
            var s = x[i]
            for p in 0..<i { s -= u[p * n + i] * x[p] }
            x[i] = s / u[i * n + i]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = x[i]
            for p in (i + 1)..<n { s -= u[i * n + p] * x[p] }
            x[i] = s / u[i * n + i]
        }
        return x
    }
}
