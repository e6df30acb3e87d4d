internal import CBLAS
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

// Element-wise kernels over rows whose elements belong to different states (the item-major
// logits of a training step's softmax: one row per item, one element per state), each element
// with its own shift (16-lane SIMD with partial-vector tails).
extension Kernels {
    /// `m[i] = max(m[i], x[i])` for i < `count`. A NaN in `x` is not carried into `m` (the
    /// exponentials that follow turn it into a NaN sum).
    @inlinable
    public static func maxInPlace(_ m: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) {
        var i = 0
        while i + 16 <= n {
            VectorMath.store(VectorMath.maximum(VectorMath.load(m + i), VectorMath.load(x + i)), m + i)
            i += 16
        }
        if i < n {
            let v = VectorMath.maximum(
                VectorMath.loadPartial(m + i, n - i, fill: 0), VectorMath.loadPartial(x + i, n - i, fill: 0))
            VectorMath.storePartial(v, m + i, n - i)
        }
    }

    /// `e[i] = exp(x[i] − shift[i])` written to `out` and `s[i] += e[i]`, for i < `count`
    /// (`VectorMath.expFusedNonPositive`: the shift is a max, `shift[i] >= x[i]`; a NaN on
    /// either side gives NaN). The exponentials are streamed out: non-temporal stores when `out`
    /// is 32-byte aligned (its lines are not read first and the caches keep what they hold),
    /// plain stores otherwise. `out` may be `x` (each element is read before it is written).
    /// Call `storeFence()` after a run of these, before another thread reads `out`. Not
    /// inlinable (the store is a C inline, which RecCore's clients do not see): one call per row.
    public static func expShiftedAccumulating(
        _ x: UnsafePointer<Float>, shift: UnsafePointer<Float>, into s: UnsafeMutablePointer<Float>,
        streamingTo out: UnsafeMutablePointer<Float>, count n: Int
    ) {
        let streaming = UInt(bitPattern: out) & 31 == 0
        var i = 0
        while i + 16 <= n {
            let e = VectorMath.expFusedNonPositive(VectorMath.load(x + i) - VectorMath.load(shift + i))
            if streaming {
                streamStore(e.lowHalf, out + i)
                streamStore(e.highHalf, out + i + 8)
            } else {
                VectorMath.store(e, out + i)
            }
            VectorMath.store(VectorMath.load(s + i) + e, s + i)
            i += 16
        }
        if i < n {
            let r = n - i
            let e = VectorMath.expFusedNonPositive(
                VectorMath.loadPartial(x + i, r, fill: 0) - VectorMath.loadPartial(shift + i, r, fill: 0))
            VectorMath.storePartial(e, out + i, r)
            VectorMath.storePartial(VectorMath.loadPartial(s + i, r, fill: 0) + e, s + i, r)
        }
    }

    /// A non-temporal store of 8 floats at a 32-byte-aligned address.
    @inline(__always)
    static func streamStore(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        reckit_stream_store8(p, v)
    }

    /// Writes `count` zeros from `p` with non-temporal stores (plain stores up to the first
    /// 32-byte boundary and after the last): the lines are not read first and the caches keep
    /// what they hold, where a plain clear of a tensor larger than the caches reads every line
    /// from memory before writing it. For a buffer the next pass reads from memory anyway (a
    /// catalog head's gradient, cleared between steps). Call `storeFence()` before another
    /// thread reads the zeros.
    public static func streamZero(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i < n && UInt(bitPattern: p + i) & 31 != 0 {
            p[i] = 0
            i += 1
        }
        let zero = SIMD8<Float>()
        while i + 16 <= n {
            streamStore(zero, p + i)
            streamStore(zero, p + i + 8)
            i += 16
        }
        while i < n {
            p[i] = 0
            i += 1
        }
    }

    /// Orders the streaming stores made before it (`expShiftedAccumulating(…, streamingTo:…)`)
    /// before every store after it: call it when a run of them ends, before the data is handed
    /// to another thread.
    public static func storeFence() { reckit_store_fence() }

    /// `Σ x[i]·y[i]` for i < `count` (lane-wise sums, then across lanes).
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = V()
        var i = 0
        while i + 16 <= n {
            acc = acc.addingProduct(VectorMath.load(x + i), VectorMath.load(y + i))
            i += 16
        }
        if i < n {
            acc = acc.addingProduct(
                VectorMath.loadPartial(x + i, n - i, fill: 0), VectorMath.loadPartial(y + i, n - i, fill: 0))
        }
        return acc.sum()
    }

    /// `y[i] = x[i]·f[i]` for i < `count`; returns Σ y[i] (lane-wise sums, then across lanes).
    @inlinable
    public static func scaled(
        _ x: UnsafePointer<Float>, by f: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int
    ) -> Float {
        var acc = V()
        var i = 0
        while i + 16 <= n {
            let v = VectorMath.load(x + i) * VectorMath.load(f + i)
            VectorMath.store(v, y + i)
            acc += v
            i += 16
        }
        if i < n {
            let v = VectorMath.loadPartial(x + i, n - i, fill: 0) * VectorMath.loadPartial(f + i, n - i, fill: 0)
            VectorMath.storePartial(v, y + i, n - i)
            acc += v
        }
        return acc.sum()
    }
}
