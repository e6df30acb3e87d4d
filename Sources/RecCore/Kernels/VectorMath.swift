import CSIMD

/// Vectorised elementary functions on `SIMD16<Float>`.
///
/// Swift's `Float.exp`/`log` are scalar library calls; these are branch-free polynomial versions
/// (Cephes-style range reduction) that compile to straight SIMD code. Accuracy over the stated
/// ranges, measured against `Double` references in `VectorMathTests`: `exp` and `log` within
/// 2 ulp-ish (relative 3e-7), `sinCos2Pi` within 4e-7 absolute, `erf` within 2e-7 absolute.
/// Conversions between float and integer lanes use the "magic number" trick (adding 1.5·2²³)
/// so that no lane-by-lane conversion is emitted.
public enum VectorMath {
    /// Sixteen floats.
    public typealias V = SIMD16<Float>
    /// Sixteen 32-bit signed integers.
    public typealias VI = SIMD16<Int32>
    /// Sixteen 32-bit unsigned integers.
    public typealias VU = SIMD16<UInt32>

    @inlinable @inline(__always)
    static func bits(_ v: V) -> VI { unsafeBitCast(v, to: VI.self) }
    @inlinable @inline(__always)
    static func float(_ v: VI) -> V { unsafeBitCast(v, to: V.self) }

    /// `e^x` per lane. Inputs below -87.3 give 0 (flushed), above 88.7 give +inf; NaN stays NaN.
    /// - Complexity: about 15 vector operations.
    @inlinable @inline(__always)
    public static func exp(_ x: V) -> V { clampedExp(x, expInRange) }

    /// e^x for x in [-87.33654, 88.72283] (or NaN): `exp`'s range reduction and Cephes
    /// polynomial, with separate multiplies and adds.
    @inlinable @inline(__always)
    static func expInRange(_ xc: V) -> V {
        // n = round(x / ln2) via the magic-number trick; the low bits of t hold n.
        let magic = V(repeating: 12582912.0)  // 1.5 * 2^23
        let t = xc * V(repeating: 1.44269504088896341) + magic
        let n = t - magic
        var r = xc - n * V(repeating: 0.693359375)
        r = r - n * V(repeating: -2.12194440e-4)
        // Cephes expf polynomial on [-ln2/2, ln2/2].
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + V(repeating: 1.3981999507e-3)
        p = p * r + V(repeating: 8.3334519073e-3)
        p = p * r + V(repeating: 4.1665795894e-2)
        p = p * r + V(repeating: 1.6666665459e-1)
        p = p * r + V(repeating: 5.0000001201e-1)
        let r2 = r * r
        p = p * r2 + r + V(repeating: 1)
        // 2^n: integer n sits in the low mantissa bits of t.
        let ni = bits(t) &- bits(magic)
        return p * float((ni &+ 127) &<< 23)
    }

    /// `inRange` on x clamped to [-87.33654, 88.72283], then 0 below, +inf above, NaN kept: the
    /// edges `exp` and `expFused` share.
    @inlinable @inline(__always)
    static func clampedExp(_ x: V, _ inRange: (V) -> V) -> V {
        let hi = V(repeating: 88.72283)
        let lo = V(repeating: -87.33654)
        var xc = x.replacing(with: hi, where: x .> hi)
        xc = xc.replacing(with: lo, where: xc .< lo)
        var y = inRange(xc)
        y = y.replacing(with: V(repeating: 0), where: x .< lo)
        y = y.replacing(with: V(repeating: .infinity), where: x .> hi)
        return y.replacing(with: x, where: x .!= x)
    }

    /// `e^x` per lane as `exp`, with the range reduction and the polynomial evaluated by fused
    /// multiply-adds: half the dependent operations, so about twice the throughput where the
    /// polynomial's latency bounds a loop (the softmax passes over a catalog's logits). Results
    /// may differ from `exp` in the last bit; the same accuracy bound holds (`VectorMathTests`).
    /// Inputs below -87.3 give 0, above 88.7 give +inf; NaN stays NaN.
    @inlinable @inline(__always)
    public static func expFused(_ x: V) -> V { clampedExp(x, expFusedInRange) }

    /// `expFused` for inputs at or below 0 and NaN — a softmax's shifted logits z − max — with
    /// the same result bits (NaN payloads aside), in 19 vector operations instead of 25: no
    /// overflow clamp, one underflow compare serving the clamp and the zero, and no NaN select
    /// (a NaN propagates through the polynomial). Positive inputs are outside its domain.
    @inlinable @inline(__always)
    public static func expFusedNonPositive(_ x: V) -> V {
        let lo = V(repeating: -87.33654)
        let under = x .< lo
        return expFusedInRange(x.replacing(with: lo, where: under)).replacing(with: V(repeating: 0), where: under)
    }

    /// e^x for x in [-87.33654, 88.72283] (or NaN): the range reduction and polynomial of
    /// `expFused`, with fused multiply-adds.
    @inlinable @inline(__always)
    static func expFusedInRange(_ xc: V) -> V {
        let magic = V(repeating: 12582912.0)  // 1.5 * 2^23
        let t = magic.addingProduct(xc, V(repeating: 1.44269504088896341))
        let n = t - magic
        var r = xc.addingProduct(n, V(repeating: -0.693359375))
        r = r.addingProduct(n, V(repeating: 2.12194440e-4))
        var p = V(repeating: 1.3981999507e-3).addingProduct(V(repeating: 1.9875691500e-4), r)
        p = V(repeating: 8.3334519073e-3).addingProduct(p, r)
        p = V(repeating: 4.1665795894e-2).addingProduct(p, r)
        p = V(repeating: 1.6666665459e-1).addingProduct(p, r)
        p = V(repeating: 5.0000001201e-1).addingProduct(p, r)
        p = (r + V(repeating: 1)).addingProduct(p, r * r)
        let ni = bits(t) &- bits(magic)
        return p * float((ni &+ 127) &<< 23)
    }

    /// Natural logarithm per lane for positive finite normal inputs. `log(0)` is -inf,
    /// negative inputs and NaN give NaN, +inf gives +inf.
    /// - Complexity: about 20 vector operations.
    @inlinable @inline(__always)
    public static func log(_ x: V) -> V {
        let xb = bits(x)
        // Exponent and mantissa in [0.5, 1).
        // k = floor(log2(x/√½)) straight from the bits, so that m = x·2⁻ᵏ lies in [√½, √2)
        // without a compare (a lane select here defeats LLVM's vectoriser).
        let k = (xb &- 0x3F35_04F3) &>> 23
        let m = float(xb &- (k &<< 23)) - V(repeating: 1)
        let magic = V(repeating: 12582912.0)
        let ef = float(k &+ bits(magic)) - magic
        let z = m * m
        var p = V(repeating: 7.0376836292e-2)
        p = p * m + V(repeating: -1.1514610310e-1)
        p = p * m + V(repeating: 1.1676998740e-1)
        p = p * m + V(repeating: -1.2420140846e-1)
        p = p * m + V(repeating: 1.4249322787e-1)
        p = p * m + V(repeating: -1.6668057665e-1)
        p = p * m + V(repeating: 2.0000714765e-1)
        p = p * m + V(repeating: -2.4999993993e-1)
        p = p * m + V(repeating: 3.3333331174e-1)
        // log(1+m) = m − m²/2 + m³·P(m), plus k·ln2. (Written in this order on purpose: the
        // Cephes split-constant form makes LLVM's SLP pass break the vector into pieces.)
        p = p * m - V(repeating: 0.5)
        var y = p * z + m
        y = y + ef * V(repeating: 0.693147180559945)
        y = y.replacing(with: V(repeating: -.infinity), where: x .== 0)
        y = y.replacing(with: V(repeating: .nan), where: x .< 0)
        y = y.replacing(with: V(repeating: .infinity), where: x .== .infinity)
        return y.replacing(with: x, where: x .!= x)
    }

    /// `(cos 2πu, sin 2πu)` per lane for `u` in [0, 1].
    /// Quadrant reduction, then minimax polynomials on [-π/4, π/4].
    /// - Complexity: about 25 vector operations.
    @inlinable @inline(__always)
    public static func sinCos2Pi(_ u: V) -> (cos: V, sin: V) {
        // u*4 = q + f with q integer, f in [-0.5, 0.5): angle 2πu = q·π/2 + f·π/2.
        let magic = V(repeating: 12582912.0)
        let t = u * V(repeating: 4) + magic
        let qf = t - magic
        let q = bits(t) &- bits(magic)
        let f = (u * V(repeating: 4) - qf) * V(repeating: 1.57079632679489662)
        let f2 = f * f
        // sin f and cos f on [-π/4, π/4] (Cephes sinf/cosf coefficients).
        var s = V(repeating: -1.9515295891e-4)
        s = s * f2 + V(repeating: 8.3321608736e-3)
        s = s * f2 + V(repeating: -1.6666654611e-1)
        s = s * f2 * f + f
        var c = V(repeating: 2.443315711809948e-5)
        c = c * f2 + V(repeating: -1.388731625493765e-3)
        c = c * f2 + V(repeating: 4.166664568298827e-2)
        c = c * f2 * f2 - V(repeating: 0.5) * f2 + V(repeating: 1)
        // Rotate by q quarter turns: (cos, sin) of q·π/2 + f. Masks come from shifts of q (integer
        // lane compares are not vectorised by Swift), sign flips from xor with the sign bit.
        let swap = (q &<< 31) &>> 31
        let flip = (q &<< 30) & VI(repeating: Int32(bitPattern: 0x8000_0000))
        let cs = float(((bits(-s) & swap) | (bits(c) & ~swap)) ^ flip)
        let sn = float(((bits(c) & swap) | (bits(s) & ~swap)) ^ flip)
        return (cs, sn)
    }

    /// `log(x)` per lane for positive finite normal `x` only (no special cases), by `log`'s
    /// reduction and polynomial evaluated with fused multiply-adds: half the dependent operations
    /// (random-number transforms, where inputs are uniforms on (0, 1) or positive candidates).
    /// Within `log`'s accuracy bound; the last bit may differ from it.
    @inlinable @inline(__always)
    public static func logPositive(_ x: V) -> V {
        let xb = bits(x)
        let k = rk_sra16(xb &- VI(repeating: 0x3F35_04F3), 23)
        let m = float(xb &- rk_shl16(k, 23)) - V(repeating: 1)
        let magic = V(repeating: 12582912.0)
        let ef = float(k &+ bits(magic)) - magic
        var p = fma(V(repeating: 7.0376836292e-2), m, V(repeating: -1.1514610310e-1))
        p = fma(p, m, V(repeating: 1.1676998740e-1))
        p = fma(p, m, V(repeating: -1.2420140846e-1))
        p = fma(p, m, V(repeating: 1.4249322787e-1))
        p = fma(p, m, V(repeating: -1.6668057665e-1))
        p = fma(p, m, V(repeating: 2.0000714765e-1))
        p = fma(p, m, V(repeating: -2.4999993993e-1))
        p = fma(p, m, V(repeating: 3.3333331174e-1))
        p = fma(p, m, V(repeating: -0.5))
        let y = fma(p, m * m, m)
        return fma(ef, V(repeating: 0.693147180559945), y)
    }

    /// `sinCos2Pi` with fused multiply-adds (same reduction and coefficients, fewer dependent
    /// operations; within its accuracy bound, the last bit may differ).
    @inlinable @inline(__always)
    public static func sinCos2PiFused(_ u: V) -> (cos: V, sin: V) {
        let magic = V(repeating: 12582912.0)
        let u4 = u * V(repeating: 4)
        let qf = (u4 + magic) - magic
        let f = (u4 - qf) * V(repeating: 1.57079632679489662)
        let f2 = f * f
        var s = fma(V(repeating: -1.9515295891e-4), f2, V(repeating: 8.3321608736e-3))
        s = fma(s, f2, V(repeating: -1.6666654611e-1))
        s = fma(s * f2, f, f)
        var c = fma(V(repeating: 2.443315711809948e-5), f2, V(repeating: -1.388731625493765e-3))
        c = fma(c, f2, V(repeating: 4.166664568298827e-2))
        c = fma(c, f2, V(repeating: -0.5))
        c = fma(c, f2, V(repeating: 1))
        // Rotate by q quarter turns, q = round(4u) in 0...4 (4 is a full turn): (c, s), (−s, c),
        // (−c, −s), (s, −c). Lane compares on q give the masks (integer lane logic is split into
        // 128-bit pieces by LLVM; compares and selects are not).
        let q1 = qf .== V(repeating: 1)
        let q2 = qf .== V(repeating: 2)
        let q3 = qf .== V(repeating: 3)
        let swap = q1 .| q3
        let a = select(swap, s, else: c)
        let b = select(swap, c, else: s)
        let zero = V()
        return (select(q1 .| q2, zero - a, else: a), select(q2 .| q3, zero - b, else: b))
    }

    /// The correctly rounded square root per lane (the vector unit's instruction; `sqrt` above
    /// is a Newton approximation kept for the draws it already defines).
    @inlinable @inline(__always)
    public static func sqrtExact(_ x: V) -> V { rk_sqrt16(x) }

    /// `a·b + c` per lane: one instruction with one rounding on FMA targets, the same bits as
    /// `addingProduct` (which `SIMD16` emits as four 128-bit FMAs and shuffles); in a build
    /// without FMA (`BuildTarget.compiled` lacks `.fma`), a multiply then an add.
    @inlinable @inline(__always)
    public static func fma(_ a: V, _ b: V, _ c: V) -> V { rk_fma16(a, b, c) }

    /// `a` where the mask is set, else `b`: one blend (`b.replacing(with: a, where: m)` is four).
    @inlinable @inline(__always)
    public static func select(_ m: SIMDMask<VI>, _ a: V, else b: V) -> V {
        rk_select16(unsafeBitCast(m, to: VI.self), a, b)
    }

    /// `a` where the mask is set, else `b`, for integer lanes.
    @inlinable @inline(__always)
    public static func select(_ m: SIMDMask<VI>, _ a: VI, else b: VI) -> VI {
        rk_select16i(unsafeBitCast(m, to: VI.self), a, b)
    }

    /// Bit l set where lane l of the mask is (a movemask, not a reduction).
    @inlinable @inline(__always)
    public static func laneBits(_ m: SIMDMask<VI>) -> Int { Int(rk_mask_bits16(unsafeBitCast(m, to: VI.self))) }

    /// `erf(x)` per lane, from the Chebyshev-fitted erfc of Numerical Recipes (§6.2, fractional
    /// error below 1.2e-7 in exact arithmetic; absolute error below 5e-7 in Float).
    /// - Complexity: about 20 vector operations plus one `exp`.
    @inlinable @inline(__always)
    public static func erf(_ x: V) -> V {
        // erf(x) = sign(x)·(1 − t·exp(−x² + P(t))), t = 1/(1 + 0.5|x|).
        let ax = x.replacing(with: -x, where: x .< 0)
        let t = V(repeating: 1) / (V(repeating: 1) + V(repeating: 0.5) * ax)
        var p = V(repeating: 0.17087277)
        p = p * t + V(repeating: -0.82215223)
        p = p * t + V(repeating: 1.48851587)
        p = p * t + V(repeating: -1.13520398)
        p = p * t + V(repeating: 0.27886807)
        p = p * t + V(repeating: -0.18628806)
        p = p * t + V(repeating: 0.09678418)
        p = p * t + V(repeating: 0.37409196)
        p = p * t + V(repeating: 1.00002368)
        p = p * t + V(repeating: -1.26551223)
        let erfc = t * exp(-ax * ax + p)
        let r = V(repeating: 1) - erfc
        return r.replacing(with: -r, where: x .< 0)
    }

    /// `tanh(x)` per lane, via `1 − 2/(e^{2x} + 1)`, saturating to ±1.
    @inlinable @inline(__always)
    public static func tanh(_ x: V) -> V {
        let e = exp(V(repeating: 2) * x)
        let y = V(repeating: 1) - V(repeating: 2) / (e + V(repeating: 1))
        return y.replacing(with: x, where: x .!= x)
    }

    /// `√x` per lane for x ≥ 0 (finite): a bit-trick reciprocal square root refined by two
    /// Newton steps, then one Newton step on the square root itself (relative error ~1e-7).
    /// `SIMD16.squareRoot()` is emitted lane by lane with a libm call per lane; this is not.
    @inlinable @inline(__always)
    public static func sqrt(_ x: V) -> V {
        var y = float(VI(repeating: 0x5F37_59DF) &- (bits(x) &>> 1))
        let hx = V(repeating: 0.5) * x
        y = y * (V(repeating: 1.5) - hx * y * y)
        y = y * (V(repeating: 1.5) - hx * y * y)
        let r = x * y
        let out = r + V(repeating: 0.5) * y * (x - r * r)
        return out.replacing(with: x, where: x .== .infinity)
    }

    /// True when a lane of the mask is set: the mask's halves OR-ed together in vector registers
    /// (the standard library's `any` extracts the lanes one by one: ~20 scalar instructions for
    /// 16 lanes, measured as 8% of the scoring kernel's time).
    @inlinable @inline(__always)
    public static func any(_ m: SIMDMask<SIMD16<Int32>>) -> Bool {
        anyLane(SIMD16<UInt32>(repeating: 0).replacing(with: 1, where: m))
    }

    /// True when a lane of the mask is set (see the 16-lane `any`).
    @inlinable @inline(__always)
    public static func any(_ m: SIMDMask<SIMD8<Int32>>) -> Bool {
        let v = SIMD8<UInt32>(repeating: 0).replacing(with: 1, where: m)
        let q = v.lowHalf | v.highHalf
        let r = q.lowHalf | q.highHalf
        return (r[0] | r[1]) != 0
    }

    /// True when a lane is not zero (halves OR-ed together).
    @inlinable @inline(__always)
    public static func anyLane(_ v: SIMD16<UInt32>) -> Bool {
        let h = v.lowHalf | v.highHalf
        let q = h.lowHalf | h.highHalf
        let r = q.lowHalf | q.highHalf
        return (r[0] | r[1]) != 0
    }

    /// Lane-wise maximum; a NaN in `b` is ignored, a NaN in `a` kept (`a > b` compare).
    @inlinable @inline(__always)
    public static func maximum(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .> a) }

    /// Lane-wise absolute value (the sign bit cleared; a NaN stays NaN).
    @inlinable @inline(__always)
    public static func abs(_ x: V) -> V { rk_abs16(x) }

    /// The largest lane (NaN lanes ignored unless all are NaN).
    @inlinable @inline(__always)
    public static func horizontalMax(_ v: V) -> Float {
        let a = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let b = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
        let c = b.lowHalf.replacing(with: b.highHalf, where: b.highHalf .> b.lowHalf)
        return c[1] > c[0] ? c[1] : c[0]
    }

    /// Loads 16 floats from `p` (no alignment needed).
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    /// Loads `count` (< 16) floats from `p`, the other lanes set to `fill`.
    @inlinable @inline(__always)
    public static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, fill: Float) -> V {
        var v = V(repeating: fill)
        for i in 0..<count { v[i] = p[i] }
        return v
    }

    /// Stores the first `count` (< 16) lanes of `v` at `p`.
    @inlinable @inline(__always)
    public static func storePartial(_ v: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count { p[i] = v[i] }
    }

    /// Stores 16 floats at `p` (no alignment needed).
    @inlinable @inline(__always)
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }
}
