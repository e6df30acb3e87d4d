#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Vectorised kernels over contiguous `Float` buffers and matrix rows.
///
/// Every kernel is explicit `SIMD16<Float>` with several accumulators where it reduces (Swift
/// does not reorder float reductions on its own), and is tested against a naive `Double`
/// reference over sizes straddling the vector width (`KernelsTests`).
///
/// NaN policy: reductions (`sum`, `max`, `logSumExp`, softmax) propagate NaN, so a bad input
/// shows up as NaN rather than being hidden; `argmax` follows the ranking order of `TopK`
/// (NaN ranks below every number, ties go to the lower index).
public enum Kernels {
    /// The kernels' vector of 16 floats.
    public typealias V = SIMD16<Float>

    // MARK: Reductions

    /// `Σ x[i]`, summed in four 16-lane accumulators.
    /// - Complexity: n additions.
    @inlinable
    public static func sum(_ x: UnsafeBufferPointer<Float>) -> Float {
        let n = x.count
        guard n > 0, let p = x.baseAddress else { return 0 }
        var a0 = V()
        var a1 = V()
        var a2 = V()
        var a3 = V()
        var i = 0
        while i + 64 <= n {
            a0 += VectorMath.load(p + i)
            a1 += VectorMath.load(p + i + 16)
            a2 += VectorMath.load(p + i + 32)
            a3 += VectorMath.load(p + i + 48)
            i += 64
        }
        while i + 16 <= n {
            a0 += VectorMath.load(p + i)
            i += 16
        }
        if i < n { a1 += VectorMath.loadPartial(p + i, n - i, fill: 0) }
        return ((a0 + a1) + (a2 + a3)).sum()
    }

    /// `max x[i]`; NaN if any element is NaN; `-inf` for an empty buffer.
    @inlinable
    public static func max(_ x: UnsafeBufferPointer<Float>) -> Float {
        let n = x.count
        guard n > 0, let p = x.baseAddress else { return -.infinity }
        var m0 = V(repeating: -.infinity)
        var m1 = m0
        var nan = SIMDMask<SIMD16<Int32>>()
        var i = 0
        while i + 32 <= n {
            let v0 = VectorMath.load(p + i)
            let v1 = VectorMath.load(p + i + 16)
            m0 = VectorMath.maximum(m0, v0)
            m1 = VectorMath.maximum(m1, v1)
            nan .|= (v0 .!= v0) .| (v1 .!= v1)
            i += 32
        }
        while i + 16 <= n {
            let v = VectorMath.load(p + i)
            m0 = VectorMath.maximum(m0, v)
            nan .|= (v .!= v)
            i += 16
        }
        if i < n {
            let v = VectorMath.loadPartial(p + i, n - i, fill: -.infinity)
            m1 = VectorMath.maximum(m1, v)
            nan .|= (v .!= v)
        }
        if any(nan) { return .nan }
        return VectorMath.horizontalMax(VectorMath.maximum(m0, m1))
    }

    /// Index of the largest element in the order of `TopK`: NaN below every number, ties to the
    /// lowest index. Returns `nil` for an empty buffer, 0 when every element is NaN.
    @inlinable
    public static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int? {
        let n = x.count
        guard n > 0, let p = x.baseAddress else { return nil }
        // Pass 1: the maximum over non-NaN lanes (NaN lanes replaced by -inf).
        var m = V(repeating: -.infinity)
        var i = 0
        while i + 16 <= n {
            let v = VectorMath.load(p + i)
            m = VectorMath.maximum(m, v.replacing(with: -.infinity, where: v .!= v))
            i += 16
        }
        var best = VectorMath.horizontalMax(m)
        while i < n {
            let v = p[i]
            if v > best { best = v }
            i += 1
        }
        // Pass 2: first index equal to it.
        for j in 0..<n where p[j] == best { return j }
        return 0  // every element is NaN
    }

    /// `log Σ exp(x[i])`, max-subtracted: `m + log Σ exp(x[i] − m)`. `-inf` for an empty buffer
    /// or all `-inf`; `+inf` if any element is `+inf`; NaN if any is NaN.
    @inlinable
    public static func logSumExp(_ x: UnsafeBufferPointer<Float>) -> Float {
        let m = max(x)
        if m.isNaN { return .nan }
        if m == .infinity { return .infinity }
        if m == -.infinity { return -.infinity }
        let s = sumExpShifted(x, shift: m)
        return m + LibC.log(s)
    }

    /// `Σ exp(x[i] − shift)` (the building block of a streaming log-sum-exp).
    @inlinable
    public static func sumExpShifted(_ x: UnsafeBufferPointer<Float>, shift: Float) -> Float {
        let n = x.count
        guard n > 0, let p = x.baseAddress else { return 0 }
        let sh = V(repeating: shift)
        var a0 = V()
        var a1 = V()
        var i = 0
        while i + 32 <= n {
            a0 += VectorMath.exp(VectorMath.load(p + i) - sh)
            a1 += VectorMath.exp(VectorMath.load(p + i + 16) - sh)
            i += 32
        }
        while i + 16 <= n {
            a0 += VectorMath.exp(VectorMath.load(p + i) - sh)
            i += 16
        }
        if i < n { a1 += VectorMath.exp(VectorMath.loadPartial(p + i, n - i, fill: -.infinity) - sh) }
        return (a0 + a1).sum()
    }

    // MARK: Softmax

    /// The row maximum when it is finite; otherwise fills the output with NaN and returns nil
    /// (a row with NaN or `+inf` has no meaningful softmax, and all `-inf` has none either).
    @inlinable
    static func finiteMax(_ x: UnsafeBufferPointer<Float>, orFillNaN q: UnsafeMutablePointer<Float>) -> Float? {
        let m = max(x)
        if m.isFinite { return m }
        for i in 0..<x.count { q[i] = .nan }
        return nil
    }

    /// `y[i] = exp(x[i] − m) / Σ_j exp(x[j] − m)` with `m = max x`; `x` and `y` may alias.
    /// A row containing NaN or `+inf` yields NaN (never a silent finite value).
    /// - Precondition: `x.count == y.count`.
    @inlinable
    public static func softmax(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == y.count, "softmax: input has \(x.count) elements, output \(y.count)")
        let n = x.count
        guard n > 0, let p = x.baseAddress, let q = y.baseAddress, let m = finiteMax(x, orFillNaN: q) else { return }
        let sh = V(repeating: m)
        var acc = V()
        var i = 0
        while i + 16 <= n {
            let e = VectorMath.exp(VectorMath.load(p + i) - sh)
            VectorMath.store(e, q + i)
            acc += e
            i += 16
        }
        if i < n {
            let e = VectorMath.exp(VectorMath.loadPartial(p + i, n - i, fill: -.infinity) - sh)
            VectorMath.storePartial(e, q + i, n - i)
            acc += e
        }
        let inv = V(repeating: 1 / acc.sum())
        i = 0
        while i + 16 <= n {
            VectorMath.store(VectorMath.load(q + i) * inv, q + i)
            i += 16
        }
        while i < n {
            q[i] *= inv[0]
            i += 1
        }
    }

    /// `y[i] = x[i] − m − log Σ_j exp(x[j] − m)`; `x` and `y` may alias.
    /// - Precondition: `x.count == y.count`.
    @inlinable
    public static func logSoftmax(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == y.count, "logSoftmax: input has \(x.count) elements, output \(y.count)")
        let n = x.count
        guard n > 0, let p = x.baseAddress, let q = y.baseAddress, let m = finiteMax(x, orFillNaN: q) else { return }
        let lse = m + LibC.log(sumExpShifted(x, shift: m))
        let sh = V(repeating: lse)
        var i = 0
        while i + 16 <= n {
            VectorMath.store(VectorMath.load(p + i) - sh, q + i)
            i += 16
        }
        while i < n {
            q[i] = p[i] - lse
            i += 1
        }
    }

    // MARK: Activations

    /// `y = max(x, 0)` (NaN stays NaN); `x` and `y` may alias.
    @inlinable
    public static func relu(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>) {
        precondition(x.count == y.count, "relu: input has \(x.count) elements, output \(y.count)")
        let n = x.count
        guard n > 0, let p = x.baseAddress, let q = y.baseAddress else { return }
        var i = 0
        while i + 16 <= n {
            let v = VectorMath.load(p + i)
            VectorMath.store(v.replacing(with: 0, where: v .< 0), q + i)
            i += 16
        }
        while i < n {
            let v = p[i]
            q[i] = v < 0 ? 0 : v
            i += 1
        }
    }

    /// The GELU variants.
    public enum GELUApproximation: Sendable {
        /// `x · Φ(x) = x/2 · (1 + erf(x/√2))` (PyTorch's default).
        case none
        /// `x/2 · (1 + tanh(√(2/π)(x + 0.044715 x³)))` (PyTorch's `approximate="tanh"`).
        case tanh
    }

    /// GELU per element; `x` and `y` may alias.
    @inlinable
    public static func gelu(
        _ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableBufferPointer<Float>,
        approximation: GELUApproximation = .none
    ) {
        precondition(x.count == y.count, "gelu: input has \(x.count) elements, output \(y.count)")
        let n = x.count
        guard n > 0, let p = x.baseAddress, let q = y.baseAddress else { return }
        @inline(__always) func f(_ v: V) -> V {
            switch approximation {
            case .none:
                return V(repeating: 0.5) * v * (V(repeating: 1) + VectorMath.erf(v * V(repeating: 0.70710678118654752)))
            case .tanh:
                let inner = V(repeating: 0.7978845608028654) * (v + V(repeating: 0.044715) * v * v * v)
                return V(repeating: 0.5) * v * (V(repeating: 1) + VectorMath.tanh(inner))
            }
        }
        var i = 0
        while i + 16 <= n {
            VectorMath.store(f(VectorMath.load(p + i)), q + i)
            i += 16
        }
        if i < n { VectorMath.storePartial(f(VectorMath.loadPartial(p + i, n - i, fill: 0)), q + i, n - i) }
    }
}

// MARK: - Matrix conveniences

extension Matrix {
    /// Applies `body(input row, output row)` to every row, in place.
    mutating func mapRowsInPlace(_ body: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void) {
        let c = cols
        let r = rows
        _storage.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            for i in 0..<r {
                let row = UnsafeMutableBufferPointer(start: base + i * c, count: c)
                body(UnsafeBufferPointer(row), row)
            }
        }
    }

    /// Softmax of every row, in place.
    public mutating func softmaxRows() { mapRowsInPlace { Kernels.softmax($0, into: $1) } }

    /// Log-softmax of every row, in place.
    public mutating func logSoftmaxRows() { mapRowsInPlace { Kernels.logSoftmax($0, into: $1) } }

    /// `log Σ exp` of every row.
    public func logSumExpRows() -> [Float] {
        withUnsafeBufferPointer { buf in
            (0..<rows).map { r in Kernels.logSumExp(UnsafeBufferPointer(rebasing: buf[(r * cols)..<((r + 1) * cols)])) }
        }
    }

    /// Layer norm of every row, in place (see `Kernels.layerNorm`).
    /// - Precondition: `gamma` and `beta`, when given, have `cols` elements.
    public mutating func layerNormRows(gamma: [Float]? = nil, beta: [Float]? = nil, eps: Float = 1e-5) {
        let g = gamma
        let b = beta
        mapRowsInPlace { x, y in
            if let g {
                g.withUnsafeBufferPointer { gp in
                    if let b {
                        b.withUnsafeBufferPointer { bp in
                            _ = Kernels.layerNorm(x, gamma: gp, beta: bp, eps: eps, into: y)
                        }
                    } else {
                        Kernels.layerNorm(x, gamma: gp, beta: nil, eps: eps, into: y)
                    }
                }
            } else if let b {
                b.withUnsafeBufferPointer { bp in _ = Kernels.layerNorm(x, gamma: nil, beta: bp, eps: eps, into: y) }
            } else {
                Kernels.layerNorm(x, gamma: nil, beta: nil, eps: eps, into: y)
            }
        }
    }
}
