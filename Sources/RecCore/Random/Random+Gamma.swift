/// Batched Marsaglia–Tsang gamma sampling with deferred acceptance tests.
///
/// Marsaglia & Tsang's method accepts a candidate `d·v` (v = (1 + c·x)³, x normal) when
/// `u < 1 − 0.0331·x⁴` (the squeeze) or, failing that, when `log u < x²/2 + d(1 − v + log v)`.
/// About one lane in ten fails the squeeze, so with 16 lanes most vectors would need the two
/// logarithms for one or two lanes. Instead, the first pass writes every candidate and queues
/// only the lanes that failed the squeeze; a second pass runs the logarithmic test on the queue,
/// 16 queued lanes at a time, and replaces each rejected candidate by a fresh scalar draw
/// (`Sampling.gamma` in Double: a rejection sampler's retry is an independent new draw, so this is
/// exact). All random numbers are consumed in a fixed order, so a chunk's output depends only on
/// its generators.
struct DeferredGammaQueue {
    let capacity: Int
    let pos: UnsafeMutablePointer<Int>
    let x: UnsafeMutablePointer<Float>
    let u: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    let d: UnsafeMutablePointer<Float>
    var count = 0
    /// Pre-drawn normals and uniforms for pass 1, `scratchCapacity` each.
    let normals: UnsafeMutablePointer<Float>
    let uniforms: UnsafeMutablePointer<Float>
    let scratchCapacity: Int

    /// A queue for blocks of up to `capacity` draws laid out as rows of up to `columns` columns.
    init(capacity: Int, columns: Int) {
        self.capacity = capacity
        pos = .allocate(capacity: capacity)
        x = .allocate(capacity: capacity)
        u = .allocate(capacity: capacity)
        v = .allocate(capacity: capacity)
        d = .allocate(capacity: capacity)
        // Rows padded to whole vectors, plus one vector: normals come in pairs of vectors.
        let rows = (capacity + max(columns, 1) - 1) / max(columns, 1)
        scratchCapacity = rows * ((columns + 15) / 16) * 16 + 32
        normals = .allocate(capacity: scratchCapacity)
        uniforms = .allocate(capacity: scratchCapacity)
    }

    func deallocate() {
        pos.deallocate()
        x.deallocate()
        u.deallocate()
        v.deallocate()
        d.deallocate()
        normals.deallocate()
        uniforms.deallocate()
    }
}

/// Gamma draws for a row-major `rows × cols` block at `out`; column `j` uses lane `j % 16` of
/// `params[j / 16]`. Shapes below 1 are boosted (`Gamma(a) = Gamma(a+1)·U^(1/a)`).
/// - Precondition: `queue.capacity >= rows * cols`.
@inline(__always)
func fillGammaBlock(
    _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int, params: UnsafePointer<GammaLanes>,
    rng: inout SIMDXoshiro128, scalar: inout Xoshiro256, queue: inout DeferredGammaQueue
) {
    let vecs = (cols + 15) / 16
    queue.count = 0
    queue.predraw(slots: rows * vecs * 16, rng: &rng)
    queue.candidates(out, rows: rows, cols: cols, params: params)
    queue.logarithmicTest(out, scalar: &scalar)
    boostSmallShapes(out, rows: rows, cols: cols, params: params, rng: &rng)
}

extension DeferredGammaQueue {
    /// Draws all normals and uniforms of a block first, in tight loops (the Box–Muller step is
    /// the costliest part, and in its own loop it is not interleaved with the sampler's
    /// bookkeeping): `slots` of each, normals in pairs of vectors (`nextNormalPairFused`: 23%
    /// more Beta draws per second than `nextNormalPair`, measured on an AVX-512 host).
    @inline(__always)
    func predraw(slots: Int, rng: inout SIMDXoshiro128) {
        precondition(slots + 32 <= scratchCapacity, "fillGammaBlock: scratch too small")
        var i0 = 0
        while i0 < slots {
            let (z1, z2) = rng.nextNormalPairFused()
            VectorMath.store(z1, normals + i0)
            VectorMath.store(z2, normals + i0 + 16)
            i0 += 32
        }
        i0 = 0
        while i0 < slots {
            VectorMath.store(rng.nextUniform(), uniforms + i0)
            i0 += 16
        }
    }

    /// Pass 1: every candidate d·v written to `out`; the lanes that fail both squeezes queued.
    @inline(__always)
    mutating func candidates(
        _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int, params: UnsafePointer<GammaLanes>
    ) {
        typealias V = SIMD16<Float>
        let vecs = (cols + 15) / 16
        let one = V(repeating: 1)
        let k = V(repeating: 0.0331)
        for r in 0..<rows {
            for vi in 0..<vecs {
                let p = params[vi]
                let slot = (r * vecs + vi) * 16
                let x = VectorMath.load(normals + slot)
                let u = VectorMath.load(uniforms + slot)
                let v0 = one + p.c * x
                let v = v0 * v0 * v0
                let x2 = x * x
                let ok = (v0 .> 0) .& (u .< one - k * x2 * x2)
                let value = p.d * v
                let j = vi * 16
                let at = r * cols + j
                let lanes = min(16, cols - j)
                if lanes == 16 {
                    VectorMath.store(value, out + at)
                } else {
                    VectorMath.storePartial(value, out + at, lanes)
                }
                var pass = ok
                if any(.!ok) {
                    // Second squeeze, free of logarithms: with t = c·x the exact test is
                    // log u < g(t) = −3d·t⁴·(1/4 − t/5 + t²/6 − … ), an alternating series whose tail
                    // beyond t¹¹ lies in [0, t⁸/(12(1 − |t|))]; for |t| ≤ 0.35 that gives a lower
                    // bound gLow ≤ g, and log u ≤ −w − w²/2 (w = 1 − u) an upper bound of log u. When
                    // the bounds decide, the lane is accepted here. At large shapes (click-rate
                    // posteriors) almost every lane the first squeeze left is settled this way.
                    pass .|= seriesSqueeze(d: p.d, c: p.c, x: x, u: u, v0: v0)
                }
                if any(.!pass) {
                    var failed = laneBits(.!pass) & ((1 << lanes) - 1)
                    while failed != 0 {
                        let l = failed.trailingZeroBitCount
                        failed &= failed - 1
                        // v = 0 makes the log test reject.
                        enqueue(at: at + l, x: x[l], u: u[l], v: v0[l] > 0 ? v[l] : 0, d: p.d[l])
                    }
                }
            }
        }
    }

    /// Queues one lane for the logarithmic test.
    @inline(__always)
    mutating func enqueue(at position: Int, x: Float, u: Float, v: Float, d: Float) {
        let q = count
        pos[q] = position
        self.x[q] = x
        self.u[q] = u
        self.v[q] = v
        self.d[q] = d
        count = q + 1
    }

    /// Pass 2: the logarithmic test on the queued lanes, 16 at a time; each rejected candidate
    /// replaced by a fresh scalar draw.
    @inline(__always)
    func logarithmicTest(_ out: UnsafeMutablePointer<Float>, scalar: inout Xoshiro256) {
        typealias V = SIMD16<Float>
        let one = V(repeating: 1)
        var i = 0
        while i < count {
            let n = min(16, count - i)
            let x = VectorMath.loadPartial(self.x + i, n, fill: 0)
            let u = VectorMath.loadPartial(self.u + i, n, fill: 0.5)
            let v = VectorMath.loadPartial(self.v + i, n, fill: 1)
            let d = VectorMath.loadPartial(self.d + i, n, fill: 1)
            let lhs = VectorMath.log(u)
            let rhs = V(repeating: 0.5) * x * x + d * (one - v + VectorMath.log(v))
            let accept = lhs .< rhs
            if any(.!accept) {
                var rejected = laneBits(.!accept) & ((1 << n) - 1)
                while rejected != 0 {
                    let l = rejected.trailingZeroBitCount
                    rejected &= rejected - 1
                    // d = a' − 1/3 was formed in Float from a'; recover a' the same way.
                    let shape = Double(self.d[i + l] + Float(1.0 / 3.0))
                    out[pos[i + l]] = Float(Sampling.gamma(shape: shape, &scalar))
                }
            }
            i += 16
        }
    }
}

/// Pass 3 of `fillGammaBlock`: the boost U^(1/a) for the columns whose shapes are below 1.
@inline(__always)
func boostSmallShapes(
    _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int, params: UnsafePointer<GammaLanes>,
    rng: inout SIMDXoshiro128
) {
    let vecs = (cols + 15) / 16
    for vi in 0..<vecs where params[vi].anyBoost {
        let p = params[vi]
        let j = vi * 16
        let lanes = min(16, cols - j)
        for r in 0..<rows {
            let at = out + r * cols + j
            let boost = VectorMath.exp(VectorMath.log(rng.nextUniform()) * p.invBoost)
            if lanes == 16 {
                VectorMath.store(VectorMath.load(at) * boost, at)
            } else {
                VectorMath.storePartial(VectorMath.loadPartial(at, lanes, fill: 0) * boost, at, lanes)
            }
        }
    }
}

/// The lanes of a mask as the bits of an integer (lane l → bit l): a movemask (`VectorMath.laneBits`).
@inline(__always)
func laneBits(_ m: SIMDMask<SIMD16<Int32>>) -> Int { VectorMath.laneBits(m) }

/// The second, logarithm-free squeeze of the Marsaglia–Tsang test (see `fillGammaBlock`): true
/// where it proves `log u < x²/2 + d(1 − v + log v)`.
@inline(__always)
func seriesSqueeze(d: SIMD16<Float>, c: SIMD16<Float>, x: SIMD16<Float>, u: SIMD16<Float>, v0: SIMD16<Float>)
    -> SIMDMask<SIMD16<Int32>>
{
    typealias V = SIMD16<Float>
    let t = c * x
    var sr = V(repeating: -1.0 / 11)
    sr = sr * t + V(repeating: 1.0 / 10)
    sr = sr * t + V(repeating: -1.0 / 9)
    sr = sr * t + V(repeating: 1.0 / 8)
    sr = sr * t + V(repeating: -1.0 / 7)
    sr = sr * t + V(repeating: 1.0 / 6)
    sr = sr * t + V(repeating: -1.0 / 5)
    sr = sr * t + V(repeating: 1.0 / 4)
    let t4 = (t * t) * (t * t)
    // Tail bound t⁸/(12(1 − |t|)) at |t| ≤ 0.35, and a 1e-5 relative pad for Float rounding.
    let tail = t4 * t4 * V(repeating: Float(1.0 / (12 * 0.65)))
    let gLow = V(repeating: -3) * d * t4 * (sr * V(repeating: 1.00001) + tail)
    let w = V(repeating: 1) - u
    let lnUpper = (-w - V(repeating: 0.5) * w * w) * V(repeating: 0.999999)
    let small = (t .< V(repeating: 0.35)) .& (t .> V(repeating: -0.35))
    return (v0 .> 0) .& small .& (lnUpper .< gLow)
}

/// Test hook (not API): the two squeezes of the vector gamma sampler for one (shape, x, u).
public enum _GammaSqueezeProbe {
    /// Returns whether the Marsaglia–Tsang squeeze and the series squeeze accept, for shape
    /// a ≥ 1 (d = a − 1/3, c = 1/√(9d)).
    public static func accepts(shape a: Float, x: Float, u: Float) -> (mt: Bool, series: Bool) {
        let d = SIMD16<Float>(repeating: a - 1.0 / 3.0)
        let c = SIMD16<Float>(repeating: 1 / (9 * (a - 1.0 / 3.0)).squareRoot())
        let xv = SIMD16<Float>(repeating: x)
        let uv = SIMD16<Float>(repeating: u)
        let v0 = SIMD16<Float>(repeating: 1) + c * xv
        let x2 = xv * xv
        let mt = (v0 .> 0) .& (uv .< SIMD16<Float>(repeating: 1) - SIMD16<Float>(repeating: 0.0331) * x2 * x2)
        return (mt[0], seriesSqueeze(d: d, c: c, x: xv, u: uv, v0: v0)[0])
    }

    /// Whether `BetaRankSampler`'s two squeezes accept a candidate (any shape, boosted below 1
    /// as the sampler does), and whether its exact test does.
    public static func laneSampler(shape a: Float, x: Float, u: Float) -> (squeeze: Bool, exact: Bool) {
        let g = GammaShape(a)
        let xv = SIMD16<Float>(repeating: x)
        let uv = SIMD16<Float>(repeating: u)
        let (_, ok) = LaneWorker.candidate(g, xv, uv)
        let t = SIMD16<Float>(repeating: g.c) * xv
        let v0 = SIMD16<Float>(repeating: 1) + t
        let exact = LaneWorker.exactTest(
            d: SIMD16<Float>(repeating: g.d), t: t, x2: xv * xv, v: v0 * v0 * v0, u: uv, positive: v0 .> 0)
        return (ok[0], exact[0])
    }
}
