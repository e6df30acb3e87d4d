/// Monte Carlo rank counts for independent per-item Beta scores, sixteen rankings at a time: the
/// engine behind Thompson sampling's Monte Carlo marginals.
///
/// A ranking draws one score per item, `max(Beta(aᵢ, bᵢ), floorᵢ) · scaleᵢ + shiftᵢ`, and keeps
/// its top k. `RankSampling` draws a row of scores per ranking and selects from it; here the
/// sixteen lanes of a vector are sixteen rankings instead, so an item's parameters are one
/// broadcast value, and each ranking's top k lives in k vectors updated by a branch-free
/// insertion network (about 5k vector operations per item, skipped when no lane enters). A
/// Beta draw is X/(X+Y) with X, Y Marsaglia–Tsang gammas whose normals come from Box–Muller.
///
/// **The gamma sampler.** A candidate `d·(1 + c·x)³` (x normal, u uniform, d = a − 1/3,
/// c = 1/√(9d)) is accepted when `log u < g`, `g = x²/2 + d(1 − v + log v)`. Two squeezes decide
/// almost every lane without a logarithm: Marsaglia and Tsang's `u < 1 − 0.0331·x⁴`, and, for
/// |t| = |c·x| < 1/4, `u − 1 < −x⁴/(27d) · (1/4 + 0.2667·|t|)` (from `log u ≤ u − 1` and the
/// alternating series `g = −3d·t⁴·(1/4 − t/5 + t²/6 − …)`, whose terms beyond the first are at
/// most `|t|/(5(1 − |t|)) ≤ 0.2667·|t|`). The second is what large shapes (click-rate
/// posteriors, a ≫ 1) need: the first fails one lane in ten at any shape. A vector whose lanes
/// the squeezes leave undecided runs the exact test (the series in place of the cancelling
/// formula where |t| < 1/4), and rejected lanes are redrawn until all sixteen are accepted.
/// Shapes below 1 are boosted (`Gamma(a) = Gamma(a+1)·U^(1/a)`); where both gammas underflow
/// (tiny shapes), the limit law: 1 with probability a/(a+b), else 0.
///
/// **Ties.** Draws are stored as they are made; a ranking in which a score equals one of its top
/// k is ranked again from its stored draws with random tie-break keys, as `RankSampling` does for
/// every row, so equal scores are ordered uniformly at random.
///
/// **Determinism.** Rankings are cut into chunks of `rowsPerChunk(items:)`; chunk `c` draws
/// from `RandomStream(seed).split(c)` and counts are integers summed over chunks, so a seed gives
/// the same counts on any thread count.
public struct BetaRankSampler: Sendable {
    /// The largest k taken: the insertion network costs about 5k vector operations per item.
    public static let maxK = 16

    /// Number of items.
    public let items: Int
    let a: [GammaShape]
    let b: [GammaShape]
    /// P(score = 1) when both gammas underflow: a/(a+b).
    let limitP: [Double]
    let floor: [Float]?
    let scale: [Float]?
    let shift: [Float]?

    /// A sampler of scores `max(Beta(alpha[i], beta[i]), floor[i]) · scale[i] + shift[i]`
    /// (each transform optional).
    /// - Precondition: equal lengths, at least one item, fewer than `RankSampling.maxItems`;
    ///   every shape positive and finite; transforms finite.
    public init(alpha: [Double], beta: [Double], floor: [Float]? = nil, scale: [Float]? = nil, shift: [Float]? = nil) {
        let n = alpha.count
        precondition(n >= 1 && n < RankSampling.maxItems, "BetaRankSampler: need 1 ≤ items < 2^24, got \(n)")
        precondition(beta.count == n, "BetaRankSampler: \(n) alphas but \(beta.count) betas")
        for t in [floor, scale, shift] {
            if let t {
                precondition(
                    t.count == n && t.allSatisfy(\.isFinite), "BetaRankSampler: a transform needs \(n) finite values")
            }
        }
        for i in 0..<n {
            precondition(
                alpha[i] > 0 && alpha[i].isFinite && beta[i] > 0 && beta[i].isFinite,
                "BetaRankSampler: parameters of item \(i) must be positive and finite, got (\(alpha[i]), \(beta[i]))")
        }
        items = n
        a = alpha.map { GammaShape(Float($0)) }
        b = beta.map { GammaShape(Float($0)) }
        limitP = (0..<n).map { i in Double(Float(alpha[i])) / (Double(Float(alpha[i])) + Double(Float(beta[i]))) }
        self.floor = floor
        self.scale = scale
        self.shift = shift
    }

    /// Rankings per chunk: whole groups of sixteen, about 8,192 draws.
    public static func rowsPerChunk(items: Int) -> Int { 16 * max(1, 512 / max(items, 1)) }

    /// Counts of item `i` at rank `r` (0-based) in `counts[i * k + r]` over `simulations`
    /// rankings.
    /// - Precondition: `1 ≤ k ≤ min(items, maxK)`, `0 ≤ simulations ≤ RankSampling.maxSimulations`.
    public func counts(k: Int, simulations: Int, seed: UInt64, parallelism: Parallelism = .automatic) -> [Int] {
        let n = items
        precondition(k >= 1 && k <= min(n, Self.maxK), "BetaRankSampler.counts: need 1 ≤ k ≤ min(items, 16), got \(k)")
        precondition(
            simulations >= 0 && simulations <= RankSampling.maxSimulations,
            "BetaRankSampler.counts: simulations must be in 0...2^40, got \(simulations)")
        BuildTarget.reportOnce()
        let rpc = Self.rowsPerChunk(items: n)
        let chunks = (simulations + rpc - 1) / rpc
        let root = RandomStream(seed: seed)
        let total = UncheckedSendable(UnsafeMutablePointer<Int>.allocate(capacity: n * k))
        total.value.initialize(repeating: 0, count: n * k)
        defer { total.value.deallocate() }
        let lock = SpinLock()
        Threading.parallelFor(
            chunks: chunks, parallelism: parallelism,
            scratch: { LaneWorker(sampler: self, k: k) },
            release: { w in lock.withLock { for j in 0..<(n * k) { total.value[j] += w.counts[j] } } },
            body: { c, w in w.count(rows: min(rpc, simulations - c * rpc), stream: root.split(c)) })
        return Array(UnsafeBufferPointer(start: total.value, count: n * k))
    }
}

/// Broadcast constants of the Marsaglia–Tsang sampler for one shape.
struct GammaShape: Sendable {
    /// d = a' − 1/3 with a' = a (a ≥ 1) or a + 1 (boosted).
    let d: Float
    /// c = 1/√(9d).
    let c: Float
    /// The series squeeze's coefficients: 1.0001·(1/4)/(27d) and 1.0001·0.2667/(27d) (the factor
    /// covers Float rounding of the bound).
    let e0: Float
    let e1: Float
    /// 1/a for a boosted shape (a < 1), else 0.
    let invBoost: Float

    init(_ a: Float) {
        let a1 = a < 1 ? a + 1 : a
        d = a1 - Float(1.0 / 3.0)
        c = 1 / (9 * d).squareRoot()
        let e = Double(1.0001) / (27 * Double(d))
        e0 = Float(0.25 * e)
        e1 = Float(0.2667 * e)
        invBoost = a < 1 ? 1 / a : 0
    }
}

/// A worker's scratch: the current group's draws (for ranking ties again), its top-k vectors and
/// its counts.
final class LaneWorker {
    typealias V = SIMD16<Float>
    typealias VI = SIMD16<Int32>
    let sampler: BetaRankSampler
    let k: Int
    let n: Int
    /// Draws of the current group of sixteen rankings, item-major: `draws[i * 16 + lane]`.
    let draws: UnsafeMutablePointer<Float>
    let top: UnsafeMutablePointer<V>
    let topItem: UnsafeMutablePointer<VI>
    let counts: UnsafeMutablePointer<Int>
    /// Scratch for ranking a tied row again: its scores, the ranker.
    let row: UnsafeMutablePointer<Float>
    let ranker: RankSampling.RowRanker
    let tieKeys: RankSampling.TieKeys
    /// Scratch for the rare paths' vectors and generator.
    let spill: UnsafeMutablePointer<V>
    let spillRng: UnsafeMutablePointer<SIMDXoshiro128>

    init(sampler: BetaRankSampler, k: Int) {
        self.sampler = sampler
        self.k = k
        n = sampler.items
        let padded = (n + 15) / 16 * 16
        draws = .allocate(capacity: n * 16)
        top = .allocate(capacity: k)
        topItem = .allocate(capacity: k)
        counts = .allocate(capacity: n * k)
        counts.initialize(repeating: 0, count: n * k)
        row = .allocate(capacity: padded)
        ranker = RankSampling.RowRanker(items: n, k: k)
        tieKeys = RankSampling.TieKeys(items: n)
        spill = .allocate(capacity: 4)
        spillRng = .allocate(capacity: 1)
    }

    deinit {
        draws.deallocate()
        top.deallocate()
        topItem.deallocate()
        counts.deallocate()
        row.deallocate()
        spill.deallocate()
        spillRng.deallocate()
    }

    /// One chunk of `rows` rankings from `stream`.
    func count(rows: Int, stream: RandomStream) {
        var rng = stream.vectorGenerator()
        var scalar = stream.generator()
        var tie: SIMDXoshiro128? = nil
        let (k, n, draws, top, topItem, counts) = (self.k, self.n, self.draws, self.top, self.topItem, self.counts)
        let s = sampler
        s.a.withUnsafeBufferPointer { pa in
            s.b.withUnsafeBufferPointer { pb in
                var r0 = 0
                while r0 < rows {
                    for j in 0..<k {
                        top[j] = V(repeating: -.infinity)
                        topItem[j] = VI()
                    }
                    var tied = SIMDMask<VI>()
                    for i in 0..<n {
                        // Candidates for X and Y, settled without a logarithm in most vectors.
                        let (z1, z2) = rng.nextNormalPairFused()
                        let ua = rng.nextUniform()
                        let ub = rng.nextUniform()
                        var (x, okX) = Self.candidate(pa[i], z1, ua)
                        var (y, okY) = Self.candidate(pb[i], z2, ub)
                        if laneBits(okX .& okY) != 0xFFFF {
                            if laneBits(okX) != 0xFFFF { x = settle(pa[i], z1, ua, x, okX, &rng) }
                            if laneBits(okY) != 0xFFFF { y = settle(pb[i], z2, ub, y, okY, &rng) }
                        }
                        if pa[i].invBoost != 0 { x = boost(pa[i], x, &rng) }
                        if pb[i].invBoost != 0 { y = boost(pb[i], y, &rng) }
                        var v = x / (x + y)
                        if laneBits(v .!= v) != 0 { v = limitLaw(v, p: s.limitP[i], &scalar) }
                        if let f = s.floor {
                            let fv = V(repeating: f[i])
                            v = VectorMath.select(fv .> v, fv, else: v)
                        }
                        if let m = s.scale { v *= V(repeating: m[i]) }
                        if let t = s.shift { v += V(repeating: t[i]) }
                        VectorMath.store(v, draws + i * 16)
                        // Lanes that enter the top k (or tie with its last): insert, noting ties.
                        if laneBits(v .>= top[k - 1]) != 0 {
                            var cur = v
                            var curItem = VI(repeating: Int32(i))
                            for j in 0..<k {
                                let t = top[j]
                                tied .|= v .== t
                                let gt = cur .> t
                                let ti = topItem[j]
                                top[j] = VectorMath.select(gt, cur, else: t)
                                topItem[j] = VectorMath.select(gt, curItem, else: ti)
                                cur = VectorMath.select(gt, t, else: cur)
                                curItem = VectorMath.select(gt, ti, else: curItem)
                            }
                        }
                    }
                    let lanes = min(16, rows - r0)
                    let tiedBits = laneBits(tied)
                    for l in 0..<lanes {
                        if tiedBits & (1 << l) != 0 {
                            if tie == nil { tie = stream.split(-1).vectorGenerator() }
                            rankAgain(lane: l, tie: &tie!)
                        } else {
                            for r in 0..<k { counts[Int(topItem[r][l]) * k + r] += 1 }
                        }
                    }
                    r0 += 16
                }
            }
        }
    }

    /// A tied ranking (lane `l` of the current group) ranked again from its draws with random
    /// tie-break keys, and counted.
    func rankAgain(lane l: Int, tie: inout SIMDXoshiro128) {
        for i in 0..<n { row[i] = draws[i * 16 + l] }
        ranker.count(row, tieKeys: tieKeys, tie: &tie, into: counts)
    }

    /// Marsaglia–Tsang candidates `d·(1 + c·x)³` for one shape, and the lanes the two squeezes
    /// accept (see the type's notes).
    @inline(__always)
    static func candidate(_ g: GammaShape, _ x: V, _ u: V) -> (V, SIMDMask<VI>) {
        let one = V(repeating: 1)
        let t = V(repeating: g.c) * x
        let v0 = one + t
        let v = v0 * v0 * v0
        let x2 = x * x
        let x4 = x2 * x2
        let at = VectorMath.abs(t)
        let mt = u .< VectorMath.fma(V(repeating: -0.0331), x4, one)
        let series =
            (at .< V(repeating: 0.25))
            .& (one - u .> x4 * VectorMath.fma(V(repeating: g.e1), at, V(repeating: g.e0)))
        return (V(repeating: g.d) * v, (v0 .> V()) .& (mt .| series))
    }

    // The rare paths below are calls, and their vectors and generator go through the worker's
    // scratch memory: passed as arguments, SIMD16 values travel in four 128-bit pieces, and LLVM
    // then computes them in pieces on the common path too.

    /// The lanes of a candidate vector the squeezes left: the exact test, then fresh candidates
    /// for the rejected lanes until all sixteen are accepted.
    @inline(__always)
    func settle(_ g: GammaShape, _ x: V, _ u: V, _ value: V, _ ok: SIMDMask<VI>, _ rng: inout SIMDXoshiro128) -> V {
        spill[0] = x
        spill[1] = u
        spill[2] = value
        spill[3] = unsafeBitCast(ok, to: V.self)
        spillRng.pointee = rng
        Self.settle(g, spill, spillRng)
        rng = spillRng.pointee
        return spill[2]
    }

    @inline(never)
    static func settle(
        _ g: GammaShape, _ io: UnsafeMutablePointer<V>, _ generator: UnsafeMutablePointer<SIMDXoshiro128>
    ) {
        var rng = generator.pointee
        let one = V(repeating: 1)
        let c = V(repeating: g.c)
        let d = V(repeating: g.d)
        var x = io[0]
        var u = io[1]
        var out = io[2]
        var done = unsafeBitCast(io[3], to: SIMDMask<VI>.self)
        while true {
            let t = c * x
            let v0 = one + t
            let v = v0 * v0 * v0
            let (candidateValue, squeezed) = candidate(g, x, u)
            let accept = squeezed .| exactTest(d: d, t: t, x2: x * x, v: v, u: u, positive: v0 .> V())
            out = VectorMath.select(accept .& .!done, candidateValue, else: out)
            done .|= accept
            if laneBits(done) == 0xFFFF { break }
            x = rng.nextNormalPairFused().0
            u = rng.nextUniform()
        }
        io[2] = out
        generator.pointee = rng
    }

    /// Gamma(a+1) draws times the boost `U^(1/a)`: Gamma(a) for a shape below 1.
    @inline(__always)
    func boost(_ g: GammaShape, _ x: V, _ rng: inout SIMDXoshiro128) -> V {
        spill[0] = x
        spillRng.pointee = rng
        Self.boost(g, spill, spillRng)
        rng = spillRng.pointee
        return spill[0]
    }

    @inline(never)
    static func boost(_ g: GammaShape, _ io: UnsafeMutablePointer<V>, _ generator: UnsafeMutablePointer<SIMDXoshiro128>)
    {
        io[0] *= VectorMath.exp(VectorMath.log(generator.pointee.nextUniform()) * V(repeating: g.invBoost))
    }

    /// Lanes where both gammas underflowed (NaN): 1 with probability `p`, else 0.
    @inline(__always)
    func limitLaw(_ v: V, p: Double, _ scalar: inout Xoshiro256) -> V {
        spill[0] = v
        Self.limitLaw(spill, p: p, &scalar)
        return spill[0]
    }

    @inline(never)
    static func limitLaw(_ io: UnsafeMutablePointer<V>, p: Double, _ scalar: inout Xoshiro256) {
        for l in 0..<16 where io[0][l] != io[0][l] { io[0][l] = Sampling.uniform(&scalar) < p ? 1 : 0 }
    }

    /// Marsaglia and Tsang's exact test `log u < x²/2 + d(1 − v + log v)`; where |t| < 1/4 the
    /// right side is the series `−3d·t⁴·(1/4 − t/5 + … − t⁷/11)` (the rest below 10⁻⁵ of it),
    /// which does not lose the digits the formula cancels at large d.
    @inline(__always)
    static func exactTest(d: V, t: V, x2: V, v: V, u: V, positive: SIMDMask<VI>) -> SIMDMask<VI> {
        var sr = V(repeating: -1.0 / 11)
        sr = sr * t + V(repeating: 1.0 / 10)
        sr = sr * t + V(repeating: -1.0 / 9)
        sr = sr * t + V(repeating: 1.0 / 8)
        sr = sr * t + V(repeating: -1.0 / 7)
        sr = sr * t + V(repeating: 1.0 / 6)
        sr = sr * t + V(repeating: -1.0 / 5)
        sr = sr * t + V(repeating: 1.0 / 4)
        let t2 = t * t
        let series = V(repeating: -3) * d * (t2 * t2) * sr
        let safeV = VectorMath.select(positive, v, else: V(repeating: 1))
        let direct = V(repeating: 0.5) * x2 + d * (V(repeating: 1) - safeV + VectorMath.log(safeV))
        let small = VectorMath.abs(t) .< V(repeating: 0.25)
        return positive .& (VectorMath.log(u) .< VectorMath.select(small, series, else: direct))
    }
}
