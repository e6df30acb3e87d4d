internal import CBLAS

/// The register-tiled micro-kernels of `CatalogKernel.simd`: scores of 4 states (or 1) against one
/// panel of `3·V.scalarCount` items, accumulated in registers with fused multiply-adds in
/// dimension order — `fma(s[d−1], x[d−1], … fma(s[1], x[1], s[0]·x[0]))`, then `+ bias` — which is
/// exactly the canonical score (`ScoreArithmetic.canonical`). The top-k threshold test runs on the
/// registers: the kernel stores the tile for the caller and returns one bit per state that has a
/// lane at or above its threshold (the caller offers only those rows to the heaps).
///
/// Generic over the vector type and written for inlining into the two concrete drivers
/// (`SIMD16<Float>` with AVX-512: 12 of 32 zmm registers accumulate a 4×48 tile; `SIMD8<Float>`
/// with AVX2: 12 of 16 ymm registers, a 4×24 tile).
/// The vector types the kernels run on, with the threshold test written for each concrete type
/// (a generic SIMD comparison compiles to a lane-by-lane loop, and so does the standard library's
/// `any` on a mask: `VectorMath.any` ORs the mask's halves instead).
protocol KernelVector: SIMD where Scalar == Float {
    /// True when a lane of `a`, `b` or `c` is at or above `t`.
    static func anyAtLeast(_ a: Self, _ b: Self, _ c: Self, _ t: Float) -> Bool
}

extension SIMD16<Float>: KernelVector {
    @inline(__always)
    static func anyAtLeast(_ a: Self, _ b: Self, _ c: Self, _ t: Float) -> Bool {
        let tv = Self(repeating: t)
        return VectorMath.any((a .>= tv) .| (b .>= tv) .| (c .>= tv))
    }
}

extension SIMD8<Float>: KernelVector {
    @inline(__always)
    static func anyAtLeast(_ a: Self, _ b: Self, _ c: Self, _ t: Float) -> Bool {
        let tv = Self(repeating: t)
        return VectorMath.any((a .>= tv) .| (b .>= tv) .| (c .>= tv))
    }
}

enum ScoringKernels {
    @inline(__always)
    static func load<V: KernelVector>(_ p: UnsafePointer<Float>) -> V where V.Scalar == Float {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always)
    static func loadWords<U: SIMD>(_ p: UnsafePointer<UInt32>) -> U where U.Scalar == UInt32 {
        UnsafeRawPointer(p).loadUnaligned(as: U.self)
    }

    @inline(__always)
    static func store<V: KernelVector>(_ v: V, _ p: UnsafeMutablePointer<Float>) where V.Scalar == Float {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// The two Float vectors in a vector of bfloat16 pairs: the low halves (dimension 2q) and the
    /// high halves (dimension 2q + 1), each moved to the top 16 bits of a Float.
    @inline(__always)
    static func unpack<V: KernelVector, U: SIMD>(_ w: U, as _: V.Type) -> (V, V)
    where V.Scalar == Float, U.Scalar == UInt32 {
        (unsafeBitCast(w &<< 16, to: V.self), unsafeBitCast(w & 0xFFFF_0000, to: V.self))
    }

    /// One row of a bfloat16 panel (three vectors of pairs): dimension 2q's three item vectors and
    /// dimension 2q + 1's.
    @inline(__always)
    static func pairRow<V: KernelVector, U: SIMD>(_ p: UnsafePointer<UInt32>, _: V.Type, _: U.Type) -> (
        (V, V, V), (V, V, V)
    )
    where U.Scalar == UInt32 {
        let w = V.scalarCount
        let (l0, h0) = unpack(loadWords(p) as U, as: V.self)
        let (l1, h1) = unpack(loadWords(p + w) as U, as: V.self)
        let (l2, h2) = unpack(loadWords(p + 2 * w) as U, as: V.self)
        return ((l0, l1, l2), (h0, h1, h2))
    }

    /// Adds the panel's biases (when given), stores the three vectors at `out` and tells whether
    /// a lane is at or above `t`.
    @inline(__always)
    static func finish<V: KernelVector>(
        _ a0: V, _ a1: V, _ a2: V, bias: UnsafePointer<Float>?, threshold t: Float,
        out: UnsafeMutablePointer<Float>
    ) -> Bool where V.Scalar == Float {
        let w = V.scalarCount
        var (a0, a1, a2) = (a0, a1, a2)
        if let bias {
            a0 += load(bias) as V
            a1 += load(bias + w) as V
            a2 += load(bias + 2 * w) as V
        }
        store(a0, out)
        store(a1, out + w)
        store(a2, out + 2 * w)
        return V.anyAtLeast(a0, a1, a2, t)
    }

    /// One state × 4 consecutive Float32 panels (`x`, `x + stride`, …): `tile1` on each, with
    /// their 12 accumulator chains interleaved so the loads of four panels are in flight at once
    /// (one panel's 3 chains of d dependent FMAs leave the loads waiting on the FMA latency). Each
    /// score is the same FMA chain in dimension order as `tile1`'s. `out` receives the panels'
    /// scores one after another (`3·V.scalarCount` each); bit i is set when panel i has a lane
    /// ≥ `t`.
    @inline(__always)
    static func tile1x4<V: KernelVector>(
        _: V.Type, panels x: UnsafePointer<Float>, stride: Int, state s: UnsafePointer<Float>, d: Int,
        bias: UnsafePointer<Float>?, threshold t: Float, out: UnsafeMutablePointer<Float>
    ) -> UInt32 where V.Scalar == Float {
        let w = V.scalarCount
        let nr = 3 * w
        var a = (V(), V(), V(), V(), V(), V())
        var c = (V(), V(), V(), V(), V(), V())
        var p = x
        for k in 0..<d {
            let b = V(repeating: s[k])
            a.0 = a.0.addingProduct(b, load(p))
            a.1 = a.1.addingProduct(b, load(p + w))
            a.2 = a.2.addingProduct(b, load(p + 2 * w))
            a.3 = a.3.addingProduct(b, load(p + stride))
            a.4 = a.4.addingProduct(b, load(p + stride + w))
            a.5 = a.5.addingProduct(b, load(p + stride + 2 * w))
            c.0 = c.0.addingProduct(b, load(p + 2 * stride))
            c.1 = c.1.addingProduct(b, load(p + 2 * stride + w))
            c.2 = c.2.addingProduct(b, load(p + 2 * stride + 2 * w))
            c.3 = c.3.addingProduct(b, load(p + 3 * stride))
            c.4 = c.4.addingProduct(b, load(p + 3 * stride + w))
            c.5 = c.5.addingProduct(b, load(p + 3 * stride + 2 * w))
            p += nr
        }
        var bits: UInt32 = 0
        if finish(a.0, a.1, a.2, bias: bias, threshold: t, out: out) { bits |= 1 }
        if finish(a.3, a.4, a.5, bias: bias.map { $0 + nr }, threshold: t, out: out + nr) { bits |= 2 }
        if finish(c.0, c.1, c.2, bias: bias.map { $0 + 2 * nr }, threshold: t, out: out + 2 * nr) { bits |= 4 }
        if finish(c.3, c.4, c.5, bias: bias.map { $0 + 3 * nr }, threshold: t, out: out + 3 * nr) { bits |= 8 }
        return bits
    }

    /// 4 states (rows `s`, `s + d`, `s + 2d`, `s + 3d`) × one Float32 panel. `out` receives 4 rows
    /// of `3·V.scalarCount` scores; bit i of the result is set when row i has a lane ≥ `t[i]`.
    @inline(__always)
    static func tile4<V: KernelVector>(
        _: V.Type, panel x: UnsafePointer<Float>, states s: UnsafePointer<Float>, d: Int,
        bias: UnsafePointer<Float>?, thresholds t: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>
    ) -> UInt32 where V.Scalar == Float {
        let w = V.scalarCount
        let nr = 3 * w
        var a = Tile4<V>(states: s, d: d)
        var p = x
        for k in 0..<d {
            a.step(k, load(p), load(p + w), load(p + 2 * w))
            p += nr
        }
        return a.finish(bias: bias, thresholds: t, out: out)
    }

    /// One state × one Float32 panel (the B = 1 shape, bound by memory bandwidth).
    @inline(__always)
    static func tile1<V: KernelVector>(
        _: V.Type, panel x: UnsafePointer<Float>, state s: UnsafePointer<Float>, d: Int,
        bias: UnsafePointer<Float>?, threshold t: Float,
        out: UnsafeMutablePointer<Float>
    ) -> UInt32 where V.Scalar == Float {
        let w = V.scalarCount
        let nr = 3 * w
        var a0 = V()
        var a1 = V()
        var a2 = V()
        var p = x
        for k in 0..<d {
            let b = V(repeating: s[k])
            a0 = a0.addingProduct(b, load(p))
            a1 = a1.addingProduct(b, load(p + w))
            a2 = a2.addingProduct(b, load(p + 2 * w))
            p += nr
        }
        return finish(a0, a1, a2, bias: bias, threshold: t, out: out) ? 1 : 0
    }

    /// 4 states × one bfloat16 panel (approximate scores: see `CatalogKernel.simdBFloat16`).
    @inline(__always)
    static func tile4<V: KernelVector, U: SIMD>(
        _: V.Type, _: U.Type, bf16 x: UnsafePointer<UInt32>, states s: UnsafePointer<Float>,
        d: Int, bias: UnsafePointer<Float>?, thresholds t: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>
    ) -> UInt32 where V.Scalar == Float, U.Scalar == UInt32 {
        let w = V.scalarCount
        let nr = 3 * w
        var a = Tile4<V>(states: s, d: d)
        var p = x
        var k = 0
        while k + 1 < d {
            let ((l0, l1, l2), (h0, h1, h2)) = pairRow(p, V.self, U.self)
            a.step(k, l0, l1, l2)
            a.step(k + 1, h0, h1, h2)
            k += 2
            p += nr
        }
        if k < d {
            let (l, _) = pairRow(p, V.self, U.self)
            a.step(k, l.0, l.1, l.2)
        }
        return a.finish(bias: bias, thresholds: t, out: out)
    }

    /// One state × one bfloat16 panel. With `prefetch` > 0, each row of the panel read asks for
    /// the same row `prefetch` words ahead (a constant 0 compiles the test away).
    @inline(__always)
    static func tile1<V: KernelVector, U: SIMD>(
        _: V.Type, _: U.Type, bf16 x: UnsafePointer<UInt32>, state s: UnsafePointer<Float>,
        d: Int, bias: UnsafePointer<Float>?, threshold t: Float,
        out: UnsafeMutablePointer<Float>, prefetch: Int
    ) -> UInt32 where V.Scalar == Float, U.Scalar == UInt32 {
        let w = V.scalarCount
        let nr = 3 * w
        var a0 = V()
        var a1 = V()
        var a2 = V()
        var p = x
        var k = 0
        while k + 1 < d {
            if prefetch > 0 {
                // A row is 3 vectors (96 bytes with AVX2, 192 with AVX-512): its lines, ahead.
                var ahead = 0
                while ahead < nr {
                    reckit_prefetch(p + prefetch + ahead)
                    ahead += 16
                }
            }
            let ((l0, l1, l2), (h0, h1, h2)) = pairRow(p, V.self, U.self)
            let b = V(repeating: s[k])
            let c = V(repeating: s[k + 1])
            a0 = a0.addingProduct(b, l0)
            a1 = a1.addingProduct(b, l1)
            a2 = a2.addingProduct(b, l2)
            a0 = a0.addingProduct(c, h0)
            a1 = a1.addingProduct(c, h1)
            a2 = a2.addingProduct(c, h2)
            k += 2
            p += nr
        }
        if k < d {
            let b = V(repeating: s[k])
            let (l, _) = pairRow(p, V.self, U.self)
            a0 = a0.addingProduct(b, l.0)
            a1 = a1.addingProduct(b, l.1)
            a2 = a2.addingProduct(b, l.2)
        }
        return finish(a0, a1, a2, bias: bias, threshold: t, out: out) ? 1 : 0
    }
}

/// The 12 accumulators of a 4-state × 3-vector tile (kept in registers once inlined).
struct Tile4<V: KernelVector> {
    let s0: UnsafePointer<Float>, s1: UnsafePointer<Float>, s2: UnsafePointer<Float>, s3: UnsafePointer<Float>
    var a00 = V(), a01 = V(), a02 = V(), a10 = V(), a11 = V(), a12 = V()
    var a20 = V(), a21 = V(), a22 = V(), a30 = V(), a31 = V(), a32 = V()

    /// States at rows `s`, `s + d`, `s + 2d`, `s + 3d`.
    @inline(__always)
    init(states s: UnsafePointer<Float>, d: Int) {
        s0 = s
        s1 = s + d
        s2 = s + 2 * d
        s3 = s + 3 * d
    }

    /// Adds dimension k: each state's value times the three item vectors.
    @inline(__always)
    mutating func step(_ k: Int, _ x0: V, _ x1: V, _ x2: V) {
        let b0 = V(repeating: s0[k])
        let b1 = V(repeating: s1[k])
        a00 = a00.addingProduct(b0, x0)
        a01 = a01.addingProduct(b0, x1)
        a02 = a02.addingProduct(b0, x2)
        a10 = a10.addingProduct(b1, x0)
        a11 = a11.addingProduct(b1, x1)
        a12 = a12.addingProduct(b1, x2)
        let b2 = V(repeating: s2[k])
        let b3 = V(repeating: s3[k])
        a20 = a20.addingProduct(b2, x0)
        a21 = a21.addingProduct(b2, x1)
        a22 = a22.addingProduct(b2, x2)
        a30 = a30.addingProduct(b3, x0)
        a31 = a31.addingProduct(b3, x1)
        a32 = a32.addingProduct(b3, x2)
    }

    /// `ScoringKernels.finish` for the 4 rows (row i's scores at `out + i·3·V.scalarCount`); bit i
    /// set when row i has a lane at or above `t[i]`.
    @inline(__always)
    func finish(bias: UnsafePointer<Float>?, thresholds t: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>)
        -> UInt32
    {
        let nr = 3 * V.scalarCount
        var bits: UInt32 = 0
        if ScoringKernels.finish(a00, a01, a02, bias: bias, threshold: t[0], out: out) { bits |= 1 }
        if ScoringKernels.finish(a10, a11, a12, bias: bias, threshold: t[1], out: out + nr) { bits |= 2 }
        if ScoringKernels.finish(a20, a21, a22, bias: bias, threshold: t[2], out: out + 2 * nr) { bits |= 4 }
        if ScoringKernels.finish(a30, a31, a32, bias: bias, threshold: t[3], out: out + 3 * nr) { bits |= 8 }
        return bits
    }
}
