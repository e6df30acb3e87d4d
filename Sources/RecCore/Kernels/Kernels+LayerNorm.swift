#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

// Layer normalisation's row kernels, forward and backward side by side, and the row additions
// the layers' backward passes use (16-lane SIMD with scalar tails).
extension Kernels {
    // MARK: Layer norm

    /// Layer normalisation of one row: `y = (x − μ) · r · γ + β` with `μ` the mean,
    /// `r = 1/sqrt(σ² + eps)` and `σ²` the biased variance (as PyTorch's `LayerNorm`).
    /// Returns `(μ, r)` for the backward pass. `x` and `y` may alias; `gamma`/`beta` may be nil
    /// (identity affine).
    /// - Complexity: about 5n FLOPs, two passes over x.
    /// - Precondition: all buffers have the same count.
    @inlinable @discardableResult
    public static func layerNorm(
        _ x: UnsafeBufferPointer<Float>, gamma: UnsafeBufferPointer<Float>?,
        beta: UnsafeBufferPointer<Float>?, eps: Float,
        into y: UnsafeMutableBufferPointer<Float>
    ) -> (mean: Float, rstd: Float) {
        let n = x.count
        precondition(y.count == n, "layerNorm: input has \(n) elements, output \(y.count)")
        precondition(gamma == nil || gamma!.count == n, "layerNorm: gamma has \(gamma?.count ?? 0) elements, row \(n)")
        precondition(beta == nil || beta!.count == n, "layerNorm: beta has \(beta?.count ?? 0) elements, row \(n)")
        guard n > 0, let p = x.baseAddress, let q = y.baseAddress else { return (0, 0) }
        let mean = sum(x) / Float(n)
        let mv = V(repeating: mean)
        var a0 = V()
        var a1 = V()
        var i = 0
        while i + 16 <= n {
            let d = VectorMath.load(p + i) - mv
            a0 += d * d
            i += 16
        }
        var tail: Float = 0
        while i < n {
            let d = p[i] - mean
            tail += d * d
            i += 1
        }
        a1[0] = tail
        let variance = (a0 + a1).sum() / Float(n)
        let rstd = 1 / (variance + eps).squareRoot()
        let rv = V(repeating: rstd)
        let g = gamma?.baseAddress
        let b = beta?.baseAddress
        i = 0
        while i + 16 <= n {
            var v = (VectorMath.load(p + i) - mv) * rv
            if let g { v = v * VectorMath.load(g + i) }
            if let b { v = v + VectorMath.load(b + i) }
            VectorMath.store(v, q + i)
            i += 16
        }
        while i < n {
            var v = (p[i] - mean) * rstd
            if let g { v *= g[i] }
            if let b { v += b[i] }
            q[i] = v
            i += 1
        }
        return (mean, rstd)
    }

    // MARK: Layer norm backward and row helpers

    /// g[j] += d[j].
    @inlinable @inline(__always)
    public static func addRow(_ d: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>, count n: Int) {
        var j = 0
        while j + 16 <= n {
            VectorMath.store(VectorMath.load(g + j) + VectorMath.load(d + j), g + j)
            j += 16
        }
        while j < n {
            g[j] += d[j]
            j += 1
        }
    }

    /// y[j] = x[j]·γ[j] + β[j].
    @inlinable @inline(__always)
    public static func affineRow(
        _ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, count n: Int
    ) {
        var j = 0
        while j + 16 <= n {
            VectorMath.store(VectorMath.load(x + j) * VectorMath.load(g + j) + VectorMath.load(b + j), y + j)
            j += 16
        }
        while j < n {
            y[j] = x[j] * g[j] + b[j]
            j += 1
        }
    }

    /// Layer-norm backward of one row: dγ += dy·x̂, dβ += dy, dx = r/d·(d·gx − Σgx − x̂·Σ(gx·x̂)),
    /// gx = dy·γ.
    @inlinable @inline(__always)
    public static func layerNormBackwardRow(
        _ dy: UnsafePointer<Float>, _ xh: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>, rstd: Float,
        dx: UnsafeMutablePointer<Float>, dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
        count n: Int
    ) {
        var sg = V()
        var sgx = V()
        var sumG: Float = 0
        var sumGX: Float = 0
        var j = 0
        while j + 16 <= n {
            let dv = VectorMath.load(dy + j)
            let xv = VectorMath.load(xh + j)
            VectorMath.store(VectorMath.load(dGamma + j) + dv * xv, dGamma + j)
            VectorMath.store(VectorMath.load(dBeta + j) + dv, dBeta + j)
            let gx = dv * VectorMath.load(gamma + j)
            sg += gx
            sgx += gx * xv
            j += 16
        }
        sumG = sg.sum()
        sumGX = sgx.sum()
        while j < n {
            dGamma[j] += dy[j] * xh[j]
            dBeta[j] += dy[j]
            let gx = dy[j] * gamma[j]
            sumG += gx
            sumGX += gx * xh[j]
            j += 1
        }
        let scale = rstd / Float(n)
        let fn = Float(n)
        j = 0
        let sv = V(repeating: scale)
        let nv = V(repeating: fn)
        let s1 = V(repeating: sumG)
        let s2 = V(repeating: sumGX)
        while j + 16 <= n {
            let gx = VectorMath.load(dy + j) * VectorMath.load(gamma + j)
            VectorMath.store(sv * (nv * gx - s1 - VectorMath.load(xh + j) * s2), dx + j)
            j += 16
        }
        while j < n {
            dx[j] = scale * (fn * dy[j] * gamma[j] - sumG - xh[j] * sumGX)
            j += 1
        }
    }
}
