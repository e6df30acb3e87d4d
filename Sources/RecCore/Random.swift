import Foundation

/// SplitMix64 (Steele, Lea & Flood, OOPSLA 2014): used to expand seeds into generator states.
@inlinable @inline(__always)
public func splitMix64(_ x: inout UInt64) -> UInt64 {
    x &+= 0x9E37_79B9_7F4A_7C15
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// xoshiro256++ (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021):
/// the scalar generator of RecKit. Period 2²⁵⁶ − 1; passes BigCrush.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    @usableFromInline var s0, s1, s2, s3: UInt64

    /// A generator whose state is expanded from `seed` by SplitMix64.
    public init(seed: UInt64) {
        var x = seed
        s0 = splitMix64(&x)
        s1 = splitMix64(&x)
        s2 = splitMix64(&x)
        s3 = splitMix64(&x)
    }

    @inlinable @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s0 &+ s3) << 23 | (s0 &+ s3) >> 41) &+ s0
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform on the open interval (0, 1), 53 random bits.
    @inlinable @inline(__always)
    public mutating func nextOpenUnit() -> Double {
        (Double(next() >> 11) + 0.5) * 0x1p-53
    }
}

/// Sixteen independent xoshiro128++ generators in the lanes of `SIMD16<UInt32>`: 16 random
/// 32-bit words per step in about 10 vector operations.
public struct SIMDXoshiro128: Sendable {
    /// Sixteen 32-bit lanes: one generator each.
    public typealias VU = SIMD16<UInt32>
    @usableFromInline var s0, s1, s2, s3: VU

    /// Lane states expanded from `seed` by SplitMix64 (no lane is all-zero).
    public init(seed: UInt64) {
        var x = seed
        s0 = VU()
        s1 = VU()
        s2 = VU()
        s3 = VU()
        for l in 0..<16 {
            let a = splitMix64(&x)
            let b = splitMix64(&x)
            s0[l] = UInt32(truncatingIfNeeded: a)
            s1[l] = UInt32(truncatingIfNeeded: a >> 32)
            s2[l] = UInt32(truncatingIfNeeded: b)
            s3[l] = UInt32(truncatingIfNeeded: b >> 32) | 1
        }
    }

    @inlinable @inline(__always)
    static func rotl(_ x: VU, _ k: UInt32) -> VU { (x &<< k) | (x &>> (32 - k)) }

    /// The next 16 words.
    @inlinable @inline(__always)
    public mutating func next() -> VU {
        let result = SIMDXoshiro128.rotl(s0 &+ s3, 7) &+ s0
        let t = s1 &<< 9
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = SIMDXoshiro128.rotl(s3, 11)
        return result
    }

    /// 16 uniforms on the open interval (0, 1): `(j + 1/2)·2⁻²³` for a random 23-bit `j`.
    @inlinable @inline(__always)
    public mutating func nextUniform() -> SIMD16<Float> {
        let m = (next() &>> 9) | 0x3F80_0000
        return unsafeBitCast(m, to: SIMD16<Float>.self) - SIMD16<Float>(repeating: 0.99999994)
    }

    /// 32 standard normals by the Box–Muller transform (two vectors of 16).
    @inlinable @inline(__always)
    public mutating func nextNormalPair() -> (SIMD16<Float>, SIMD16<Float>) {
        let u1 = nextUniform()
        let u2 = nextUniform()
        let r = VectorMath.sqrt(SIMD16<Float>(repeating: -2) * VectorMath.log(u1))
        let (c, s) = VectorMath.sinCos2Pi(u2)
        return (r * c, r * s)
    }
}

/// A seeded source of random streams. Splitting is by index, so parallel work that gives chunk
/// `i` the stream `split(i)` produces the same numbers whatever the thread count.
public struct RandomStream: Sendable, Equatable {
    /// The 64-bit key the generators of this stream are expanded from.
    public let key: UInt64

    /// A stream for `seed`.
    public init(seed: UInt64) {
        var x = seed ^ 0x5DEE_CE66_D1CE_4E5B
        key = splitMix64(&x)
    }

    init(key: UInt64) { self.key = key }

    /// An independent child stream; `split(i)` is the same for the same parent and `i`.
    public func split(_ index: Int) -> RandomStream {
        var x = key ^ (UInt64(bitPattern: Int64(index)) &* 0xD1B5_4A32_D192_ED03)
        _ = splitMix64(&x)
        return RandomStream(key: splitMix64(&x))
    }

    /// The scalar generator of this stream.
    public func generator() -> Xoshiro256 { Xoshiro256(seed: key) }

    /// The 16-lane generator of this stream.
    public func vectorGenerator() -> SIMDXoshiro128 { SIMDXoshiro128(seed: key ^ 0xA076_1D64_78BD_642F) }
}

// MARK: - Scalar distributions

/// Scalar samplers on any generator, in `Double`. The batch fills on `RandomStream` are the fast
/// path; these serve single draws and are the references the vector samplers are tested against.
public enum Sampling {
    /// Uniform on (0, 1).
    @inlinable
    public static func uniform<G: RandomNumberGenerator>(_ g: inout G) -> Double {
        (Double(g.next() >> 11) + 0.5) * 0x1p-53
    }

    /// Standard normal (Marsaglia's polar method).
    @inlinable
    public static func normal<G: RandomNumberGenerator>(_ g: inout G) -> Double {
        while true {
            let u = 2 * uniform(&g) - 1
            let v = 2 * uniform(&g) - 1
            let s = u * u + v * v
            if s > 0 && s < 1 { return u * (-2 * Foundation.log(s) / s).squareRoot() }
        }
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (ACM TOMS 26(3), 2000), with the boost
    /// `Gamma(a) = Gamma(a + 1) · U^(1/a)` for `a < 1`.
    /// - Precondition: `shape > 0`.
    @inlinable
    public static func gamma<G: RandomNumberGenerator>(shape: Double, _ g: inout G) -> Double {
        precondition(shape > 0 && shape.isFinite, "Sampling.gamma: shape must be positive and finite, got \(shape)")
        if shape < 1 {
            let x = gamma(shape: shape + 1, &g)
            return x * Foundation.exp(Foundation.log(uniform(&g)) / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            let x = normal(&g)
            let v0 = 1 + c * x
            if v0 <= 0 { continue }
            let v = v0 * v0 * v0
            let u = uniform(&g)
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if Foundation.log(u) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
        }
    }

    /// Beta(a, b) as `X / (X + Y)` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`.
    @inlinable
    public static func beta<G: RandomNumberGenerator>(_ a: Double, _ b: Double, _ g: inout G) -> Double {
        let x = gamma(shape: a, &g)
        let y = gamma(shape: b, &g)
        return x / (x + y)
    }

    /// Standard Gumbel: `−log(−log U)`.
    @inlinable
    public static func gumbel<G: RandomNumberGenerator>(_ g: inout G) -> Double {
        -Foundation.log(-Foundation.log(uniform(&g)))
    }
}

// MARK: - Vector batch fills

extension RandomStream {
    /// Elements per chunk of the flat fills; chunk `i` draws from `split(i)`.
    public static let fillChunk = 4096

    func forEachChunk(
        _ count: Int, parallelism: Parallelism,
        _ body: (_ range: Range<Int>, _ rng: inout SIMDXoshiro128) -> Void
    ) {
        let chunks = (count + Self.fillChunk - 1) / Self.fillChunk
        Threading.parallelFor(chunks: chunks, parallelism: parallelism) { c in
            var rng = split(c).vectorGenerator()
            body((c * Self.fillChunk)..<min(count, (c + 1) * Self.fillChunk), &rng)
        }
    }

    /// Fills `out` with uniforms on (low, high).
    public func fillUniform(
        _ out: UnsafeMutableBufferPointer<Float>, low: Float = 0, high: Float = 1,
        parallelism: Parallelism = .automatic
    ) {
        guard let base = out.baseAddress else { return }
        let ctx = UncheckedSendable(base)
        let lo = SIMD16<Float>(repeating: low)
        let w = SIMD16<Float>(repeating: high - low)
        forEachChunk(out.count, parallelism: parallelism) { range, rng in
            let p = ctx.value
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(lo + w * rng.nextUniform(), p + i)
                i += 16
            }
            if i < range.upperBound { VectorMath.storePartial(lo + w * rng.nextUniform(), p + i, range.upperBound - i) }
        }
    }

    /// Fills `out` with normals of the given mean and standard deviation (Box–Muller).
    public func fillNormal(
        _ out: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1,
        parallelism: Parallelism = .automatic
    ) {
        guard let base = out.baseAddress else { return }
        let ctx = UncheckedSendable(base)
        let mu = SIMD16<Float>(repeating: mean)
        let sd = SIMD16<Float>(repeating: std)
        forEachChunk(out.count, parallelism: parallelism) { range, rng in
            let p = ctx.value
            var i = range.lowerBound
            while i < range.upperBound {
                let (z1, z2) = rng.nextNormalPair()
                let end = range.upperBound
                let v1 = mu + sd * z1
                let v2 = mu + sd * z2
                if i + 32 <= end {
                    VectorMath.store(v1, p + i)
                    VectorMath.store(v2, p + i + 16)
                } else if i + 16 <= end {
                    VectorMath.store(v1, p + i)
                    if i + 16 < end { VectorMath.storePartial(v2, p + i + 16, end - i - 16) }
                } else {
                    VectorMath.storePartial(v1, p + i, end - i)
                }
                i += 32
            }
        }
    }

    /// Fills `out` with standard Gumbel draws `−log(−log U)`.
    public func fillGumbel(_ out: UnsafeMutableBufferPointer<Float>, parallelism: Parallelism = .automatic) {
        guard let base = out.baseAddress else { return }
        let ctx = UncheckedSendable(base)
        forEachChunk(out.count, parallelism: parallelism) { range, rng in
            let p = ctx.value
            var i = range.lowerBound
            while i < range.upperBound {
                let v = -VectorMath.log(-VectorMath.log(rng.nextUniform()))
                if i + 16 <= range.upperBound {
                    VectorMath.store(v, p + i)
                } else {
                    VectorMath.storePartial(v, p + i, range.upperBound - i)
                }
                i += 16
            }
        }
    }

    /// Fills `out` with Gamma(shape, 1) draws (Marsaglia–Tsang, boosted for shape < 1).
    /// - Precondition: `shape > 0` and finite.
    public func fillGamma(_ out: UnsafeMutableBufferPointer<Float>, shape: Float, parallelism: Parallelism = .automatic)
    {
        precondition(shape > 0 && shape.isFinite, "fillGamma: shape must be positive and finite, got \(shape)")
        guard let base = out.baseAddress else { return }
        let ctx = UncheckedSendable(base)
        let prm = GammaLanes(shape: SIMD16<Float>(repeating: shape))
        let count = out.count
        let chunks = (count + Self.fillChunk - 1) / Self.fillChunk
        Threading.parallelFor(
            chunks: chunks, parallelism: parallelism,
            scratch: { DeferredGammaQueue(capacity: Self.fillChunk, columns: 16) },
            release: { $0.deallocate() },
            body: { c, queue in
                let child = split(c)
                var rng = child.vectorGenerator()
                var scalar = child.generator()
                let range = (c * Self.fillChunk)..<min(count, (c + 1) * Self.fillChunk)
                withUnsafePointer(to: prm) { pp in
                    // Whole 16-wide rows, then the tail as one short row.
                    let full = range.count / 16
                    if full > 0 {
                        fillGammaBlock(
                            ctx.value + range.lowerBound, rows: full, cols: 16, params: pp,
                            rng: &rng, scalar: &scalar, queue: &queue)
                    }
                    let tail = range.count - full * 16
                    if tail > 0 {
                        fillGammaBlock(
                            ctx.value + range.lowerBound + full * 16, rows: 1, cols: tail, params: pp,
                            rng: &rng, scalar: &scalar, queue: &queue)
                    }
                }
            })
    }

    /// Fills the row-major `rows × alpha.count` buffer `out` with Beta draws: column `j` of every
    /// row is drawn from `Beta(alpha[j], beta[j])` as `X/(X+Y)`, `X ~ Gamma(alpha[j])`,
    /// `Y ~ Gamma(beta[j])`. This is one Thompson-sampling draw per item per row. Rows are split
    /// into chunks of `max(1, 4096 / columns)`; chunk `i` uses `split(i)`, so the result is the
    /// same for a seed whatever the thread count. When both gammas underflow to 0 (tiny shapes)
    /// the draw falls back to the limit law: 1 with probability a/(a+b), else 0.
    /// - Precondition: `out.count` is a multiple of `alpha.count`; `alpha.count == beta.count`;
    ///   every parameter positive and finite.
    /// - Complexity: per draw about one normal, one uniform and a few vector operations for each
    ///   of the two gammas, plus one division; see `fillGammaBlock` for the deferred tests.
    public func fillBeta(
        _ out: UnsafeMutableBufferPointer<Float>, alpha: [Float], beta: [Float],
        parallelism: Parallelism = .automatic
    ) {
        let cols = alpha.count
        precondition(
            cols > 0 ? out.count % cols == 0 : out.count == 0,
            "fillBeta: buffer of \(out.count) is not a whole number of rows of \(cols)")
        let sampler = BetaSampler(alpha: alpha, beta: beta)
        guard cols > 0, let base = out.baseAddress else { return }
        let rows = out.count / cols
        let rowsPerChunk = max(1, Self.fillChunk / cols)
        let chunks = (rows + rowsPerChunk - 1) / rowsPerChunk
        let ctx = UncheckedSendable(base)
        Threading.parallelFor(
            chunks: chunks, parallelism: parallelism,
            scratch: { sampler.makeWorkspace(maxRows: rowsPerChunk) },
            release: { _ in },
            body: { c, workspace in
                let r0 = c * rowsPerChunk
                sampler.fill(
                    ctx.value + r0 * cols, rows: min(rows, r0 + rowsPerChunk) - r0, stream: split(c),
                    workspace: workspace)
            })
    }
}

/// Beta draws for a fixed set of columns (one (a, b) pair per column), block by block: the engine
/// behind `RandomStream.fillBeta`, public so that other modules can draw blocks inside their own
/// chunked parallel loops (Thompson-sampling simulations) without per-call setup.
public struct BetaSampler: Sendable {
    /// Number of columns.
    public let columns: Int
    let pa: [GammaLanes]
    let pb: [GammaLanes]

    /// - Precondition: `alpha.count == beta.count`; every parameter positive and finite.
    public init(alpha: [Float], beta: [Float]) {
        let cols = alpha.count
        precondition(cols == beta.count, "BetaSampler: \(alpha.count) alphas but \(beta.count) betas")
        for j in 0..<cols {
            precondition(
                alpha[j] > 0 && alpha[j].isFinite && beta[j] > 0 && beta[j].isFinite,
                "BetaSampler: parameters of column \(j) must be positive and finite, got (\(alpha[j]), \(beta[j]))")
        }
        columns = cols
        var pa = [GammaLanes]()
        var pb = [GammaLanes]()
        for v in 0..<((cols + 15) / 16) {
            var a = SIMD16<Float>(repeating: 1)
            var b = SIMD16<Float>(repeating: 1)
            for l in 0..<16 where v * 16 + l < cols {
                a[l] = alpha[v * 16 + l]
                b[l] = beta[v * 16 + l]
            }
            pa.append(GammaLanes(shape: a))
            pb.append(GammaLanes(shape: b))
        }
        self.pa = pa
        self.pb = pb
    }

    /// Scratch space for `fill`; one per thread.
    public final class Workspace {
        var queue: DeferredGammaQueue
        let y: UnsafeMutablePointer<Float>
        let capacity: Int
        init(capacity: Int, columns: Int) {
            self.capacity = capacity
            queue = DeferredGammaQueue(capacity: capacity, columns: columns)
            y = .allocate(capacity: capacity)
        }
        deinit {
            queue.deallocate()
            y.deallocate()
        }
    }

    /// A workspace for blocks of up to `maxRows` rows.
    public func makeWorkspace(maxRows: Int) -> Workspace {
        Workspace(capacity: max(1, maxRows * columns), columns: columns)
    }

    /// Fills `rows × columns` draws (row-major) at `out` from `stream` (deterministic in it).
    /// X/(X+Y) per cell; where both gammas underflow (tiny shapes), the limit law: 1 with
    /// probability a/(a+b), else 0.
    /// - Precondition: the workspace holds at least `rows × columns` draws.
    public func fill(_ out: UnsafeMutablePointer<Float>, rows: Int, stream: RandomStream, workspace: Workspace) {
        let cols = columns
        let n = rows * cols
        precondition(n <= workspace.capacity, "BetaSampler.fill: \(rows) rows exceed the workspace")
        if n == 0 { return }
        var rng = stream.vectorGenerator()
        var scalar = stream.generator()
        let y = workspace.y
        pa.withUnsafeBufferPointer { pa in
            pb.withUnsafeBufferPointer { pb in
                fillGammaBlock(
                    out, rows: rows, cols: cols, params: pa.baseAddress!, rng: &rng, scalar: &scalar,
                    queue: &workspace.queue)
                fillGammaBlock(
                    y, rows: rows, cols: cols, params: pb.baseAddress!, rng: &rng, scalar: &scalar,
                    queue: &workspace.queue)
                // X/(X+Y); a NaN means both gammas underflowed (tiny shapes): use the limit law.
                var i = 0
                var sawNaN = false
                while i + 16 <= n {
                    let xv = VectorMath.load(out + i)
                    let yv = VectorMath.load(y + i)
                    let r = xv / (xv + yv)
                    sawNaN = sawNaN || any(r .!= r)
                    VectorMath.store(r, out + i)
                    i += 16
                }
                while i < n {
                    out[i] = out[i] / (out[i] + y[i])
                    sawNaN = sawNaN || out[i].isNaN
                    i += 1
                }
                if sawNaN {
                    for j in 0..<n where out[j].isNaN {
                        let col = j % cols
                        let a = Double(pa[col / 16].shape[col % 16])
                        let b = Double(pb[col / 16].shape[col % 16])
                        out[j] = Sampling.uniform(&scalar) < a / (a + b) ? 1 : 0
                    }
                }
            }
        }
    }
}

/// Per-lane constants of the Marsaglia–Tsang gamma sampler.
@usableFromInline
struct GammaLanes: Sendable {
    /// d = a' − 1/3 with a' = a (a ≥ 1) or a + 1 (boosted lanes).
    @usableFromInline let d: SIMD16<Float>
    /// c = 1/sqrt(9d).
    @usableFromInline let c: SIMD16<Float>
    /// 1/a on boosted lanes (a < 1), 0 elsewhere.
    @usableFromInline let invBoost: SIMD16<Float>
    @usableFromInline let anyBoost: Bool
    /// The shape a itself.
    @usableFromInline let shape: SIMD16<Float>

    init(shape a: SIMD16<Float>) {
        shape = a
        let boost = a .< 1
        let a1 = a.replacing(with: a + 1, where: boost)
        d = a1 - SIMD16<Float>(repeating: 1.0 / 3.0)
        c = SIMD16<Float>(repeating: 1) / (SIMD16<Float>(repeating: 9) * d).squareRoot()
        invBoost = SIMD16<Float>(repeating: 0).replacing(with: SIMD16<Float>(repeating: 1) / a, where: boost)
        anyBoost = any(boost)
    }

}
