#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

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
