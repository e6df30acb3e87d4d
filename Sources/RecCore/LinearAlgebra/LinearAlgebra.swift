internal import CBLAS

/// Dense linear algebra in Double through LAPACKE.
public enum LinearAlgebra {
    /// Solves `A x = b` for a symmetric positive-definite `A` (row-major n×n; only its upper
    /// triangle is read) by Cholesky factorisation (LAPACKE `dposv`).
    /// - Returns: x, or nil when A is not positive definite.
    /// - Precondition: `a.count == n·n` and `b.count == n`.
    /// - Complexity: n³/3 + 2n² FLOPs.
    public static func solveSymmetricPositiveDefinite(_ a: [Double], _ b: [Double], n: Int) -> [Double]? {
        precondition(
            a.count == n * n && b.count == n,
            "solveSymmetricPositiveDefinite: A has \(a.count) values and b \(b.count) for n = \(n)")
        if n == 0 { return [] }
        var m = a
        var x = b
        // Small systems (the reward models' Newton steps) run on one BLAS thread: waking
        // OpenBLAS's threads costs more than the solve, and they spin afterwards.
        Threading.setBLASThreads(n <= 1024 ? 1 : Threading.count)
        let info = m.withUnsafeMutableBufferPointer { mp in
            x.withUnsafeMutableBufferPointer { xp in
                LAPACKE_dposv(
                    LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), 1, mp.baseAddress, Int32(n), xp.baseAddress, 1)
            }
        }
        return info == 0 ? x : nil
    }
}
