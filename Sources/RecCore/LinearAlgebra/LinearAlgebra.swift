/// Dense linear algebra in Double, with bits that depend on the inputs only.
public enum LinearAlgebra {
    /// Solves `A x = b` for a symmetric positive-definite `A` (row-major n×n; only its upper
    /// triangle is read) by Cholesky factorisation `A = Uᵀ U`, then `Uᵀ y = b`, `U x = y`.
    ///
    /// Written here rather than taken from LAPACK because OpenBLAS's factorisation splits its
    /// work by the OpenBLAS thread count, so its last bits depend on it: an offline A/B report's
    /// logistic DM differed between `--threads 1` and `2` (and a count changed by another
    /// thread between setting it and calling LAPACK once changed a report). Here every entry
    /// receives its terms in one order, the textbook loop's
    /// (u_ij = (a_ij − Σ_{p<i} u_pi u_pj) / u_ii, the sum subtracted term by term in p order),
    /// whatever the blocking and the thread count: the bits depend on the inputs only. The
    /// factorisation is right-looking in panels of `panelRows` rows, the trailing update split
    /// by rows over `parallelism`'s threads and by column tiles that stay in cache.
    /// - Returns: x, or nil when A is not positive definite (a pivot ≤ 0) or has a value that is
    ///   not finite.
    /// - Precondition: `a.count == n·n` and `b.count == n`.
    /// - Complexity: n³/3 + 2n² FLOPs.
    public static func solveSymmetricPositiveDefinite(
        _ a: [Double], _ b: [Double], n: Int, parallelism: Parallelism = .automatic
    ) -> [Double]? {
        precondition(
            a.count == n * n && b.count == n,
            "solveSymmetricPositiveDefinite: A has \(a.count) values and b \(b.count) for n = \(n)")
        if n == 0 { return [] }
        for i in 0..<n {
            for j in i..<n where !a[i * n + j].isFinite { return nil }
        }
        var u = a
        let ok = u.withUnsafeMutableBufferPointer { factor($0.baseAddress!, n: n, parallelism: parallelism) }
        guard ok else { return nil }
        var x = b
        u.withUnsafeBufferPointer { up in
            let u = up.baseAddress!
            // Uᵀ y = b by columns of U (rows of Uᵀ): x_i −= u_pi x_p for p = 0, 1, … in turn.
            for p in 0..<n {
                x[p] = x[p] / u[p * n + p]
                let xp = x[p]
                for i in (p + 1)..<n { x[i] -= u[p * n + i] * xp }
            }
            for i in stride(from: n - 1, through: 0, by: -1) {
                var s = x[i]
                for p in (i + 1)..<n { s -= u[i * n + p] * x[p] }
                x[i] = s / u[i * n + i]
            }
        }
        return x
    }

    /// Rows per panel of the blocked factorisation.
    static let panelRows = 48
    /// Columns per tile of the trailing update.
    static let tileColumns = 512

    /// Overwrites the upper triangle of `m` (row-major n×n) with U, A = Uᵀ U; false when a pivot
    /// is not positive.
    static func factor(_ m: UnsafeMutablePointer<Double>, n: Int, parallelism: Parallelism) -> Bool {
        var k0 = 0
        while k0 < n {
            let k1 = min(n, k0 + panelRows)
            // The panel's rows: each finished in turn, then subtracted from the panel's later rows.
            for p in k0..<k1 {
                let d = m[p * n + p]
                guard d > 0 else { return false }
                let r = d.squareRoot()
                m[p * n + p] = r
                for j in (p + 1)..<n { m[p * n + j] = m[p * n + j] / r }
                for i in (p + 1)..<k1 { subtract(m, n: n, row: i, panel: p..<(p + 1), columns: i..<n) }
            }
            // The trailing rows, each independent: the panel's rows subtracted in p order.
            let rows = n - k1
            if rows > 0 {
                let groups = min(rows, 64)
                let box = UncheckedSendable(m)
                let work = rows * (rows + 1) / 2 * (k1 - k0)
                let par: Parallelism = work < 1 << 18 ? .sequential : parallelism
                Threading.parallelFor(chunks: groups, parallelism: par) { g in
                    // Row groups interleaved (rows shorten as i grows): group g takes k1 + g, k1 + g + groups, …
                    var i = k1 + g
                    while i < n {
                        var c0 = i
                        while c0 < n {
                            let c1 = min(n, c0 + tileColumns)
                            subtract(box.value, n: n, row: i, panel: k0..<k1, columns: c0..<c1)
                            c0 = c1
                        }
                        i += groups
                    }
                }
            }
            k0 = k1
        }
        return true
    }

    /// m[i][j] −= m[p][i] · m[p][j] for j in `columns`, for p in `panel` in turn.
    @inline(__always)
    static func subtract(_ m: UnsafeMutablePointer<Double>, n: Int, row i: Int, panel: Range<Int>, columns: Range<Int>)
    {
        let row = m + i * n
        for p in panel {
            let c = m[p * n + i]
            if c == 0 { continue }  // x − 0·y is x for finite y (an infinite or NaN y stays in the pivot)
            let up = m + p * n
            var j = columns.lowerBound
            let end = columns.upperBound
            let cv = SIMD8<Double>(repeating: c)
            while j + 8 <= end {
                let y = UnsafeRawPointer(up + j).loadUnaligned(as: SIMD8<Double>.self)
                let x = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Double>.self)
                UnsafeMutableRawPointer(row + j).storeBytes(of: x - cv * y, as: SIMD8<Double>.self)
                j += 8
            }
            while j < end {
                row[j] = row[j] - c * up[j]
                j += 1
            }
        }
    }
}
