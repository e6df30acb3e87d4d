#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The attention products for short sequences, as SIMD loops over the head dimension: for
/// L ≤ 32 an sgemm call per (batch, head) costs more in call overhead and packing than the
/// arithmetic (2·L²·dₕ FLOPs).
enum SmallProducts {
    static let maxLength = 32

    /// C[i][j] = alpha · ⟨a_i, b_j⟩ for i < m, j < n; rows of `width` floats, `ld` apart.
    @inline(__always)
    static func rowDots(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, ld: Int, width: Int, m: Int, n: Int,
        alpha: Float, into c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        typealias V = SIMD16<Float>
        let full = width & ~15
        for i in 0..<m {
            let ai = a + i * ld
            for j in 0..<n {
                let bj = b + j * ld
                var acc = V()
                var t = 0
                while t < full {
                    acc += VectorMath.load(ai + t) * VectorMath.load(bj + t)
                    t += 16
                }
                var sum = acc.sum()
                while t < width {
                    sum += ai[t] * bj[t]
                    t += 1
                }
                c[i * ldc + j] = alpha * sum
            }
        }
    }

    /// out_i = Σ_k A[i][k] · row_k (or A[k][i] with `transposeA`), i < m, k < k; rows of
    /// `width` floats, `ld` apart; overwrites out.
    @inline(__always)
    static func combineRows(
        _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool, m: Int, k: Int,
        rows: UnsafePointer<Float>, ld: Int, width: Int, into out: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD16<Float>
        let full = width & ~15
        for i in 0..<m {
            let oi = out + i * ld
            var t = 0
            while t < full {
                var acc = V()
                for kk in 0..<k {
                    let w = transposeA ? a[kk * lda + i] : a[i * lda + kk]
                    acc += V(repeating: w) * VectorMath.load(rows + kk * ld + t)
                }
                VectorMath.store(acc, oi + t)
                t += 16
            }
            while t < width {
                var sum: Float = 0
                for kk in 0..<k { sum += (transposeA ? a[kk * lda + i] : a[i * lda + kk]) * rows[kk * ld + t] }
                oi[t] = sum
                t += 1
            }
        }
    }
}

/// dS = P ⊙ (dP − Σ_j P dP) · scale for one row, in place in `dp`.
@inline(__always)
func softmaxBackwardRow(_ p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>, count n: Int, scale: Float) {
    typealias V = SIMD16<Float>
    var acc = V()
    var j = 0
    while j + 16 <= n {
        acc += VectorMath.load(p + j) * VectorMath.load(dp + j)
        j += 16
    }
    var dot = acc.sum()
    while j < n {
        dot += p[j] * dp[j]
        j += 1
    }
    let dv = V(repeating: dot)
    let sv = V(repeating: scale)
    j = 0
    while j + 16 <= n {
        VectorMath.store(VectorMath.load(p + j) * (VectorMath.load(dp + j) - dv) * sv, dp + j)
        j += 16
    }
    while j < n {
        dp[j] = p[j] * (dp[j] - dot) * scale
        j += 1
    }
}
