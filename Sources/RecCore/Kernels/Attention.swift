#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Scaled dot-product attention on batched buffers, forward and backward.
///
/// Layout: queries, keys and values are `(B·L) × (H·dₕ)` row-major matrices (row b·L + i is
/// position i of sequence b; head h occupies columns h·dₕ ..< (h+1)·dₕ), the natural output of
/// the projection layers. For each sequence b and head h:
///
///     S = Q Kᵀ / √dₕ,  S[i, j] = −∞ where j > i (causal) or key j is padding
///     P = softmax(S) by rows,  O = dropout(P) V
///
/// A query row whose keys are all masked (a padding position with nothing before it) outputs 0
/// and passes no gradient. Per (b, h) the two products are OpenBLAS sgemm calls on strided
/// sub-blocks; sequences run in parallel over `parallelism`, each worker calling
/// single-threaded BLAS.
public enum Attention {
    /// Batch shape.
    public struct Shape: Sendable, Equatable {
        /// Sequences B.
        public var batch: Int
        /// Positions per sequence L.
        public var length: Int
        /// Heads H.
        public var heads: Int
        /// Width of a head dₕ.
        public var headDim: Int
        /// A batch of `batch` sequences of `length` positions, `heads` heads of `headDim`.
        public init(batch: Int, length: Int, heads: Int, headDim: Int) {
            self.batch = batch
            self.length = length
            self.heads = heads
            self.headDim = headDim
        }
        /// Columns of q, k, v: H·dₕ.
        public var width: Int { heads * headDim }
        /// Rows of q, k, v: B·L.
        public var rows: Int { batch * length }
    }

    /// Attention-probability dropout: rate and seed (the mask depends only on the seed and the
    /// (sequence, head) index, not on threads). Sequence b of a batch is sequence
    /// `firstSequence + b` of the whole batch, so a part of a batch split across workers or
    /// processes draws the masks the whole batch would.
    public struct Dropout: Sendable, Equatable {
        /// The probability of dropping an attention weight.
        public var rate: Float
        /// The masks' seed.
        public var seed: UInt64
        /// The index of this batch's first sequence in the whole batch.
        public var firstSequence: Int
        /// Dropout at `rate`, masks from `seed`, sequences numbered from `firstSequence`.
        public init(rate: Float, seed: UInt64, firstSequence: Int = 0) {
            self.rate = rate
            self.seed = seed
            self.firstSequence = firstSequence
        }

        /// The scaled mask of chunk `chunk` = b·heads + h (sequence b of this batch, head h):
        /// `count` values, each 0 with probability `rate`, else 1/(1 − rate).
        @inline(__always)
        func fillMask(chunk: Int, heads: Int, into mask: UnsafeMutablePointer<Float>, count: Int) {
            var g = RandomStream(seed: seed).split(firstSequence &* heads &+ chunk).generator()
            let keep = 1 / (1 - rate)
            for t in 0..<count { mask[t] = Float(Sampling.uniform(&g)) < rate ? 0 : keep }
        }
    }

    /// What backward needs: the softmax probabilities (before dropout) and the dropout mask
    /// (already scaled by 1/(1 − rate)), each `B·H·L·L`.
    public struct Cache: Sendable {
        /// The softmax probabilities, before dropout.
        public let probabilities: [Float]
        /// The dropout mask scaled by 1/(1 − rate) (nil without dropout).
        public let dropoutScale: [Float]?
    }

    /// Multi-head scaled dot-product attention, softmax(q kᵀ/√dₕ + mask) v, per sequence and head.
    ///
    /// - Parameters:
    ///   - q: the queries, `(B·L) × (H·dₕ)`, sequence b's rows b·L..<(b+1)·L.
    ///   - k: the keys, as `q`.
    ///   - v: the values, as `q`.
    ///   - s: batch B, length L, heads H and head width dₕ.
    ///   - causal: whether position t attends only to positions ≤ t.
    ///   - keyPadding: `B·L` flags, true where a position is padding (masked as a key).
    ///   - dropout: dropout on the attention probabilities (training), nil for none.
    ///   - parallelism: threads for the work (`.automatic`: RecKit's count).
    /// - Returns: the `(B·L) × (H·dₕ)` output and what `backward` needs.
    /// - Precondition: q, k, v are `(B·L) × (H·dₕ)`; keyPadding has `B·L` entries.
    /// - Complexity: 4·B·H·L²·dₕ FLOPs plus B·H·L² exponentials.
    public static func forward(
        q: Matrix, k: Matrix, v: Matrix, shape s: Shape, causal: Bool, keyPadding: [Bool]?,
        dropout: Dropout? = nil, parallelism: Parallelism = .automatic
    ) -> (output: Matrix, cache: Cache) {
        for (name, m) in [("q", q), ("k", k), ("v", v)] {
            precondition(
                m.rows == s.rows && m.cols == s.width,
                "Attention.forward: \(name) is \(m.shapeDescription), expected \(s.rows)×\(s.width) for \(s)")
        }
        precondition(
            keyPadding == nil || keyPadding!.count == s.rows,
            "Attention.forward: keyPadding has \(keyPadding!.count) flags for \(s.rows) rows")
        let LL = s.length * s.length
        // Every (sequence, head) block of `out` and `probs` is overwritten below: no zero fill.
        var out = Matrix(rows: s.rows, cols: s.width, unsafeUninitialized: { _ in })
        var probs = [Float](unsafeUninitializedCapacity: s.batch * s.heads * LL) { _, n in
            n = s.batch * s.heads * LL
        }
        var drop = [Float](repeating: 1, count: dropout == nil ? 0 : s.batch * s.heads * LL)
        let workers = min(parallelism.resolvedCount, max(1, s.batch))
        let products = BlockProducts(shape: s, blas: workers > 1 ? .sequential : parallelism)
        withOperands(q: q, k: k, v: v, out: &out, probabilities: &probs, mask: &drop, dropout: dropout != nil) { x in
            let operands = UncheckedSendable(x)
            Threading.parallelFor(chunks: s.batch * s.heads, parallelism: .threads(workers)) { bh in
                forwardBlock(
                    bh, operands.value, products: products, causal: causal, keyPadding: keyPadding,
                    dropout: dropout)
            }
        }
        return (out, Cache(probabilities: probs, dropoutScale: dropout == nil ? nil : drop))
    }

    /// Runs `body` with the base pointers of `forward`'s operands (the mask's only with dropout).
    static func withOperands(
        q: Matrix, k: Matrix, v: Matrix, out: inout Matrix, probabilities: inout [Float], mask: inout [Float],
        dropout: Bool, _ body: (ForwardOperands) -> Void
    ) {
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        probabilities.withUnsafeMutableBufferPointer { pp in
                            mask.withUnsafeMutableBufferPointer { dp in
                                body(
                                    ForwardOperands(
                                        q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!,
                                        out: op.baseAddress!, probabilities: pp.baseAddress!,
                                        mask: dropout ? dp.baseAddress : nil))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` with the base pointers of `backward`'s operands (the mask's only when the
    /// cache has one).
    static func withOperands<C: AttentionCache>(
        dOutput: Matrix, q: Matrix, k: Matrix, v: Matrix, dq: inout Matrix, dk: inout Matrix, dv: inout Matrix,
        cache: C, _ body: (BackwardOperands) -> Void
    ) {
        dOutput.withUnsafeBufferPointer { gp in
            q.withUnsafeBufferPointer { qp in
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        dq.withUnsafeMutableBufferPointer { dqp in
                            dk.withUnsafeMutableBufferPointer { dkp in
                                dv.withUnsafeMutableBufferPointer { dvp in
                                    cache.probabilities.withUnsafeBufferPointer { pp in
                                        (cache.dropoutScale ?? []).withUnsafeBufferPointer { mp in
                                            body(
                                                BackwardOperands(
                                                    dOutput: gp.baseAddress!, q: qp.baseAddress!, k: kp.baseAddress!,
                                                    v: vp.baseAddress!, dq: dqp.baseAddress!, dk: dkp.baseAddress!,
                                                    dv: dvp.baseAddress!, probabilities: pp.baseAddress!,
                                                    mask: cache.dropoutScale == nil ? nil : mp.baseAddress))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The base pointers `forward` (and `forwardLastQuery`) work on.
    struct ForwardOperands {
        let q: UnsafePointer<Float>
        let k: UnsafePointer<Float>
        let v: UnsafePointer<Float>
        let out: UnsafeMutablePointer<Float>
        let probabilities: UnsafeMutablePointer<Float>
        /// The dropout mask's buffer, nil without dropout.
        let mask: UnsafeMutablePointer<Float>?
    }

    /// One (sequence, head) block of `forward`, `bh` = b·H + h: S = Q Kᵀ·scale, the masked softmax
    /// by rows into the cache, then O = dropout(P) V (the mask applied on a scratch copy, so the
    /// cache keeps the softmax before dropout).
    @inline(__always)
    static func forwardBlock(
        _ bh: Int, _ x: ForwardOperands, products: BlockProducts, causal: Bool, keyPadding: [Bool]?,
        dropout: Dropout?
    ) {
        let s = products.shape
        let L = s.length
        let b = bh / s.heads
        let rowOff = b * L * s.width + (bh % s.heads) * s.headDim
        let P = x.probabilities + bh * L * L
        products.dots(x.q + rowOff, x.k + rowOff, alpha: products.scale, into: P)
        for i in 0..<L {
            maskedSoftmax(P + i * L, count: L) { j in (causal && j > i) || (keyPadding?[b * L + j] ?? false) }
        }
        if let dropout, let db = x.mask {
            let mask = db + bh * L * L
            dropout.fillMask(chunk: bh, heads: s.heads, into: mask, count: L * L)
            let tmp = UnsafeMutablePointer<Float>.allocate(capacity: L * L)
            for t in 0..<(L * L) { tmp[t] = P[t] * mask[t] }
            products.combine(UnsafePointer(tmp), transposeA: false, rows: x.v + rowOff, into: x.out + rowOff)
            tmp.deallocate()
        } else {
            products.combine(UnsafePointer(P), transposeA: false, rows: x.v + rowOff, into: x.out + rowOff)
        }
    }

    /// Softmax of a row of `count` scores in place, with the positions `masked` says excluded
    /// (probability 0); a row with every position masked becomes all zeros.
    @inline(__always)
    static func maskedSoftmax(_ row: UnsafeMutablePointer<Float>, count n: Int, masked: (Int) -> Bool) {
        var any = false
        for j in 0..<n {
            if masked(j) { row[j] = -.infinity } else { any = true }
        }
        if any {
            let buf = UnsafeMutableBufferPointer(start: row, count: n)
            Kernels.softmax(UnsafeBufferPointer(buf), into: buf)
        } else {
            for j in 0..<n { row[j] = 0 }
        }
    }

    /// The two products of one (sequence, head) block, for blocks of L rows of dₕ columns that
    /// are `shape.width` apart: SIMD row loops for L ≤ 32 (`SmallProducts`), else single sgemm
    /// calls with `blas` threads.
    struct BlockProducts {
        let shape: Shape
        let blas: Parallelism
        let small: Bool
        /// 1/√dₕ.
        let scale: Float

        init(shape: Shape, blas: Parallelism) {
            self.shape = shape
            self.blas = blas
            small = shape.length <= SmallProducts.maxLength
            scale = 1 / Float(shape.headDim).squareRoot()
        }

        /// C (L × L, rows L apart) = alpha · A Bᵀ for two blocks A, B.
        @inline(__always)
        func dots(
            _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, alpha: Float, into c: UnsafeMutablePointer<Float>
        ) {
            let L = shape.length
            if small {
                SmallProducts.rowDots(
                    a, b, ld: shape.width, width: shape.headDim, m: L, n: L, alpha: alpha, into: c, ldc: L)
            } else {
                BLAS.sgemm(
                    .none, .transpose, m: L, n: L, k: shape.headDim, alpha: alpha, a: a, lda: shape.width, b: b,
                    ldb: shape.width, beta: 0, c: c, ldc: L, parallelism: blas)
            }
        }

        /// out (a block) = A · rows, or Aᵀ · rows with `transposeA`, for A L × L (rows L apart)
        /// and `rows` a block; overwrites out.
        @inline(__always)
        func combine(
            _ a: UnsafePointer<Float>, transposeA: Bool, rows: UnsafePointer<Float>,
            into out: UnsafeMutablePointer<Float>
        ) {
            let L = shape.length
            if small {
                SmallProducts.combineRows(
                    a, lda: L, transposeA: transposeA, m: L, k: L, rows: rows, ld: shape.width, width: shape.headDim,
                    into: out)
            } else {
                BLAS.sgemm(
                    transposeA ? .transpose : .none, .none, m: L, n: shape.headDim, k: L, alpha: 1, a: a, lda: L,
                    b: rows, ldb: shape.width, beta: 0, c: out, ldc: shape.width, parallelism: blas)
            }
        }
    }

    /// Gradients of the inputs from the gradient of the output.
    /// - Precondition: shapes as in `forward`; `cache` from the matching forward call.
    /// - Complexity: 8·B·H·L²·dₕ FLOPs.
    public static func backward(
        dOutput: Matrix, q: Matrix, k: Matrix, v: Matrix, cache: Cache, shape s: Shape,
        parallelism: Parallelism = .automatic
    ) -> (dq: Matrix, dk: Matrix, dv: Matrix) {
        precondition(
            dOutput.rows == s.rows && dOutput.cols == s.width,
            "Attention.backward: dOutput is \(dOutput.shapeDescription), expected \(s.rows)×\(s.width)")
        let LL = s.length * s.length
        // Overwritten block by block below (three separate buffers, no zero fill).
        var dq = Matrix(rows: s.rows, cols: s.width, unsafeUninitialized: { _ in })
        var dk = Matrix(rows: s.rows, cols: s.width, unsafeUninitialized: { _ in })
        var dv = Matrix(rows: s.rows, cols: s.width, unsafeUninitialized: { _ in })
        let workers = min(parallelism.resolvedCount, max(1, s.batch))
        let products = BlockProducts(shape: s, blas: workers > 1 ? .sequential : parallelism)
        withOperands(dOutput: dOutput, q: q, k: k, v: v, dq: &dq, dk: &dk, dv: &dv, cache: cache) { x in
            let operands = UncheckedSendable(x)
            Threading.parallelFor(
                chunks: s.batch * s.heads, parallelism: .threads(workers),
                scratch: { UnsafeMutablePointer<Float>.allocate(capacity: 2 * LL) },
                release: { $0.deallocate() }
            ) { bh, scratch in
                backwardBlock(bh, operands.value, products: products, scratch: scratch)
            }
        }
        return (dq, dk, dv)
    }

    /// The base pointers `backward` (and `backwardLastQuery`) work on.
    struct BackwardOperands {
        let dOutput: UnsafePointer<Float>
        let q: UnsafePointer<Float>
        let k: UnsafePointer<Float>
        let v: UnsafePointer<Float>
        let dq: UnsafeMutablePointer<Float>
        let dk: UnsafeMutablePointer<Float>
        let dv: UnsafeMutablePointer<Float>
        let probabilities: UnsafePointer<Float>
        /// The scaled dropout mask, nil without dropout.
        let mask: UnsafePointer<Float>?
    }

    /// One (sequence, head) block of `backward`, `bh` = b·H + h, with `scratch` for 2·L² floats:
    /// dV = dropout(P)ᵀ dO; d(dropout P) = dO Vᵀ, then through the mask; the softmax backward
    /// dS = P ⊙ (dP − Σ_j P dP)·scale; dQ = dS K, dK = dSᵀ Q.
    @inline(__always)
    static func backwardBlock(
        _ bh: Int, _ x: BackwardOperands, products: BlockProducts, scratch: UnsafeMutablePointer<Float>
    ) {
        let s = products.shape
        let L = s.length
        let LL = L * L
        let rowOff = (bh / s.heads) * L * s.width + (bh % s.heads) * s.headDim
        let P = x.probabilities + bh * LL
        let pd = scratch  // dropout(P)
        let dP = scratch + LL
        if let mb = x.mask {
            for t in 0..<LL { pd[t] = P[t] * mb[bh * LL + t] }
        } else {
            pd.update(from: P, count: LL)
        }
        products.combine(UnsafePointer(pd), transposeA: true, rows: x.dOutput + rowOff, into: x.dv + rowOff)
        products.dots(x.dOutput + rowOff, x.v + rowOff, alpha: 1, into: dP)
        if let mb = x.mask { for t in 0..<LL { dP[t] *= mb[bh * LL + t] } }
        for i in 0..<L { softmaxBackwardRow(P + i * L, dP + i * L, count: L, scale: products.scale) }
        products.combine(UnsafePointer(dP), transposeA: false, rows: x.k + rowOff, into: x.dq + rowOff)
        products.combine(UnsafePointer(dP), transposeA: true, rows: x.q + rowOff, into: x.dk + rowOff)
    }
}

/// The softmax probabilities and scaled dropout mask a backward pass reads (`Attention.Cache`,
/// `Attention.LastQueryCache`).
protocol AttentionCache {
    var probabilities: [Float] { get }
    var dropoutScale: [Float]? { get }
}

extension Attention.Cache: AttentionCache {}
