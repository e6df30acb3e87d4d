import Foundation

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
        let L = s.length
        let D = s.width
        let dh = s.headDim
        let scale = 1 / Float(dh).squareRoot()
        // Every (sequence, head) block of `out` and `probs` is overwritten below: no zero fill.
        var out = Matrix(rows: s.rows, cols: D, unsafeUninitialized: { _ in })
        var probs = [Float](unsafeUninitializedCapacity: s.batch * s.heads * L * L) { _, n in
            n = s.batch * s.heads * L * L
        }
        var drop = [Float](repeating: 1, count: dropout == nil ? 0 : s.batch * s.heads * L * L)
        let workers = min(parallelism.resolvedCount, max(1, s.batch))
        let small = L <= SmallProducts.maxLength
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        probs.withUnsafeMutableBufferPointer { pp in
                            drop.withUnsafeMutableBufferPointer { dp in
                                let dropPtr = dropout == nil ? nil : dp.baseAddress
                                let ctx = UncheckedSendable(
                                    (
                                        qp.baseAddress!, kp.baseAddress!, vp.baseAddress!, op.baseAddress!,
                                        pp.baseAddress!, dropPtr
                                    ))
                                let blas: Parallelism = workers > 1 ? .sequential : parallelism
                                Threading.parallelFor(chunks: s.batch * s.heads, parallelism: .threads(workers)) { bh in
                                    let (qb, kb, vb, ob, pb, db) = ctx.value
                                    let b = bh / s.heads
                                    let h = bh % s.heads
                                    let rowOff = b * L * D + h * dh
                                    let P = pb + bh * L * L
                                    // S = Q Kᵀ · scale
                                    if small {
                                        SmallProducts.rowDots(
                                            qb + rowOff, kb + rowOff, ld: D, width: dh, m: L, n: L, alpha: scale,
                                            into: P, ldc: L)
                                    } else {
                                        BLAS.sgemm(
                                            .none, .transpose, m: L, n: L, k: dh, alpha: scale, a: qb + rowOff, lda: D,
                                            b: kb + rowOff, ldb: D, beta: 0, c: P, ldc: L, parallelism: blas)
                                    }
                                    for i in 0..<L {
                                        let row = P + i * L
                                        var any = false
                                        for j in 0..<L {
                                            let masked = (causal && j > i) || (keyPadding?[b * L + j] ?? false)
                                            if masked { row[j] = -.infinity } else { any = true }
                                        }
                                        if any {
                                            let buf = UnsafeMutableBufferPointer(start: row, count: L)
                                            Kernels.softmax(UnsafeBufferPointer(buf), into: buf)
                                        } else {
                                            for j in 0..<L { row[j] = 0 }
                                        }
                                    }
                                    if let dropout, let db {
                                        let mask = db + bh * L * L
                                        dropout.fillMask(chunk: bh, heads: s.heads, into: mask, count: L * L)
                                        // Apply the mask on a scratch copy so that P stays the pre-dropout softmax.
                                        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: L * L)
                                        for t in 0..<(L * L) { tmp[t] = P[t] * mask[t] }
                                        if small {
                                            SmallProducts.combineRows(
                                                UnsafePointer(tmp), lda: L, transposeA: false, m: L, k: L,
                                                rows: vb + rowOff, ld: D, width: dh, into: ob + rowOff)
                                        } else {
                                            BLAS.sgemm(
                                                .none, .none, m: L, n: dh, k: L, alpha: 1, a: UnsafePointer(tmp),
                                                lda: L, b: vb + rowOff, ldb: D,
                                                beta: 0, c: ob + rowOff, ldc: D, parallelism: blas)
                                        }
                                        tmp.deallocate()
                                    } else if small {
                                        SmallProducts.combineRows(
                                            UnsafePointer(P), lda: L, transposeA: false, m: L, k: L, rows: vb + rowOff,
                                            ld: D, width: dh, into: ob + rowOff)
                                    } else {
                                        BLAS.sgemm(
                                            .none, .none, m: L, n: dh, k: L, alpha: 1, a: UnsafePointer(P), lda: L,
                                            b: vb + rowOff, ldb: D,
                                            beta: 0, c: ob + rowOff, ldc: D, parallelism: blas)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (out, Cache(probabilities: probs, dropoutScale: dropout == nil ? nil : drop))
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
        let L = s.length
        let D = s.width
        let dh = s.headDim
        let scale = 1 / Float(dh).squareRoot()
        // Overwritten block by block below (three separate buffers, no zero fill).
        var dq = Matrix(rows: s.rows, cols: D, unsafeUninitialized: { _ in })
        var dk = Matrix(rows: s.rows, cols: D, unsafeUninitialized: { _ in })
        var dv = Matrix(rows: s.rows, cols: D, unsafeUninitialized: { _ in })
        let workers = min(parallelism.resolvedCount, max(1, s.batch))
        let small = L <= SmallProducts.maxLength
        dOutput.withUnsafeBufferPointer { gp in
            q.withUnsafeBufferPointer { qp in
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        dq.withUnsafeMutableBufferPointer { dqp in
                            dk.withUnsafeMutableBufferPointer { dkp in
                                dv.withUnsafeMutableBufferPointer { dvp in
                                    cache.probabilities.withUnsafeBufferPointer { pp in
                                        (cache.dropoutScale ?? []).withUnsafeBufferPointer { mp in
                                            let maskPtr = cache.dropoutScale == nil ? nil : mp.baseAddress
                                            let ctx = UncheckedSendable(
                                                (
                                                    gp.baseAddress!, qp.baseAddress!, kp.baseAddress!, vp.baseAddress!,
                                                    dqp.baseAddress!, dkp.baseAddress!, dvp.baseAddress!,
                                                    pp.baseAddress!, maskPtr
                                                ))
                                            let blas: Parallelism = workers > 1 ? .sequential : parallelism
                                            Threading.parallelFor(
                                                chunks: s.batch * s.heads, parallelism: .threads(workers),
                                                scratch: { UnsafeMutablePointer<Float>.allocate(capacity: 2 * L * L) },
                                                release: { $0.deallocate() }
                                            ) { bh, scratch in
                                                let (g, qb, kb, vb, dqb, dkb, dvb, pb, mb) = ctx.value
                                                let rowOff = (bh / s.heads) * L * D + (bh % s.heads) * dh
                                                let P = pb + bh * L * L
                                                let pd = scratch  // dropout(P)
                                                let dP = scratch + L * L
                                                if let mb {
                                                    for t in 0..<(L * L) { pd[t] = P[t] * mb[bh * L * L + t] }
                                                } else {
                                                    pd.update(from: P, count: L * L)
                                                }
                                                if small {
                                                    // The same products as below, as SIMD row combinations (no sgemm call overhead).
                                                    SmallProducts.combineRows(
                                                        UnsafePointer(pd), lda: L, transposeA: true, m: L, k: L,
                                                        rows: g + rowOff, ld: D, width: dh, into: dvb + rowOff)
                                                    SmallProducts.rowDots(
                                                        g + rowOff, vb + rowOff, ld: D, width: dh, m: L, n: L, alpha: 1,
                                                        into: dP, ldc: L)
                                                    if let mb { for t in 0..<(L * L) { dP[t] *= mb[bh * L * L + t] } }
                                                    for i in 0..<L {
                                                        softmaxBackwardRow(
                                                            P + i * L, dP + i * L, count: L, scale: scale)
                                                    }
                                                    SmallProducts.combineRows(
                                                        UnsafePointer(dP), lda: L, transposeA: false, m: L, k: L,
                                                        rows: kb + rowOff, ld: D, width: dh, into: dqb + rowOff)
                                                    SmallProducts.combineRows(
                                                        UnsafePointer(dP), lda: L, transposeA: true, m: L, k: L,
                                                        rows: qb + rowOff, ld: D, width: dh, into: dkb + rowOff)
                                                    return
                                                }
                                                // dV = dropout(P)ᵀ dO
                                                BLAS.sgemm(
                                                    .transpose, .none, m: L, n: dh, k: L, alpha: 1,
                                                    a: UnsafePointer(pd), lda: L, b: g + rowOff, ldb: D,
                                                    beta: 0, c: dvb + rowOff, ldc: D, parallelism: blas)
                                                // d(dropout P) = dO Vᵀ, then through the mask.
                                                BLAS.sgemm(
                                                    .none, .transpose, m: L, n: L, k: dh, alpha: 1, a: g + rowOff,
                                                    lda: D, b: vb + rowOff, ldb: D,
                                                    beta: 0, c: dP, ldc: L, parallelism: blas)
                                                if let mb { for t in 0..<(L * L) { dP[t] *= mb[bh * L * L + t] } }
                                                // Softmax backward: dS = P ⊙ (dP − Σ_j P dP), times the scale.
                                                for i in 0..<L {
                                                    softmaxBackwardRow(P + i * L, dP + i * L, count: L, scale: scale)
                                                }
                                                // dQ = dS K, dK = dSᵀ Q
                                                BLAS.sgemm(
                                                    .none, .none, m: L, n: dh, k: L, alpha: 1, a: UnsafePointer(dP),
                                                    lda: L, b: kb + rowOff, ldb: D,
                                                    beta: 0, c: dqb + rowOff, ldc: D, parallelism: blas)
                                                BLAS.sgemm(
                                                    .transpose, .none, m: L, n: dh, k: L, alpha: 1,
                                                    a: UnsafePointer(dP), lda: L, b: qb + rowOff, ldb: D,
                                                    beta: 0, c: dkb + rowOff, ldc: D, parallelism: blas)
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
        return (dq, dk, dv)
    }
}

/// The attention products for short sequences, as SIMD loops over the head dimension: for
/// L ≤ 32 an sgemm call per (batch, head) costs more in call overhead and packing than the
/// arithmetic (2·L²·dₕ FLOPs).
enum SmallProducts {
    static let maxLength = 32

    /// C[i][j] = alpha · ⟨a_i, b_j⟩ for i < m, j < n; rows of `width` floats, `ld` apart.
    @inline(__always)
    static func rowDots(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, ld: Int, width: Int, m: Int, n: Int,
        alpha: Float, into c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        typealias V = SIMD16<Float>
        let full = width & ~15
        for i in 0..<m {
            let ai = a + i * ld
            for j in 0..<n {
                let bj = b + j * ld
                var acc = V()
                var t = 0
                while t < full {
                    acc += VectorMath.load(ai + t) * VectorMath.load(bj + t)
                    t += 16
                }
                var sum = acc.sum()
                while t < width {
                    sum += ai[t] * bj[t]
                    t += 1
                }
                c[i * ldc + j] = alpha * sum
            }
        }
    }

    /// out_i = Σ_k A[i][k] · row_k (or A[k][i] with `transposeA`), i < m, k < k; rows of
    /// `width` floats, `ld` apart; overwrites out.
    @inline(__always)
    static func combineRows(
        _ a: UnsafePointer<Float>, lda: Int, transposeA: Bool, m: Int, k: Int,
        rows: UnsafePointer<Float>, ld: Int, width: Int, into out: UnsafeMutablePointer<Float>
    ) {
        typealias V = SIMD16<Float>
        let full = width & ~15
        for i in 0..<m {
            let oi = out + i * ld
            var t = 0
            while t < full {
                var acc = V()
                for kk in 0..<k {
                    let w = transposeA ? a[kk * lda + i] : a[i * lda + kk]
                    acc += V(repeating: w) * VectorMath.load(rows + kk * ld + t)
                }
                VectorMath.store(acc, oi + t)
                t += 16
            }
            while t < width {
                var sum: Float = 0
                for kk in 0..<k { sum += (transposeA ? a[kk * lda + i] : a[i * lda + kk]) * rows[kk * ld + t] }
                oi[t] = sum
                t += 1
            }
        }
    }
}

/// dS = P ⊙ (dP − Σ_j P dP) · scale for one row, in place in `dp`.
@inline(__always)
func softmaxBackwardRow(_ p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>, count n: Int, scale: Float) {
    typealias V = SIMD16<Float>
    var acc = V()
    var j = 0
    while j + 16 <= n {
        acc += VectorMath.load(p + j) * VectorMath.load(dp + j)
        j += 16
    }
    var dot = acc.sum()
    while j < n {
        dot += p[j] * dp[j]
        j += 1
    }
    let dv = V(repeating: dot)
    let sv = V(repeating: scale)
    j = 0
    while j + 16 <= n {
        VectorMath.store(VectorMath.load(p + j) * (VectorMath.load(dp + j) - dv) * sv, dp + j)
        j += 16
    }
    while j < n {
        dp[j] = p[j] * (dp[j] - dot) * scale
        j += 1
    }
}

extension Attention {
    /// What `backwardLastQuery` needs: the softmax probabilities over keys (before dropout) and
    /// the scaled dropout mask, each `B·H·L`.
    public struct LastQueryCache: Sendable {
        /// The softmax probabilities, before dropout.
        public let probabilities: [Float]
        /// The dropout mask scaled by 1/(1 − rate) (nil without dropout).
        public let dropoutScale: [Float]?
    }

    /// Causal attention of one query per sequence (the query at `positions[b]` of sequence b)
    /// over that sequence's keys 0...positions[b] that are not padding: the rows of the full
    /// causal attention that an encoder reading only each sequence's last state needs.
    ///
    /// - Parameters:
    ///   - q: `B × (H·dₕ)`, row b the query of sequence b.
    ///   - k: the keys, `(B·L) × (H·dₕ)` as in `forward`.
    ///   - v: the values, as `k`.
    ///   - positions: B query positions in 0..<L.
    ///   - s: batch B, length L, heads H and head width dₕ.
    ///   - keyPadding: `B·L` flags, true where a key is padding.
    ///   - dropout: dropout on the attention probabilities (training), nil for none.
    ///   - parallelism: threads for the work (`.automatic`: RecKit's count).
    /// - Returns: `B × (H·dₕ)`; a query with every key masked outputs 0 (as in `forward`).
    /// - Complexity: 4·B·H·L·dₕ FLOPs plus B·H·L exponentials.
    public static func forwardLastQuery(
        q: Matrix, k: Matrix, v: Matrix, positions: [Int], shape s: Shape, keyPadding: [Bool]?,
        dropout: Dropout? = nil, parallelism: Parallelism = .automatic
    ) -> (output: Matrix, cache: LastQueryCache) {
        precondition(
            q.rows == s.batch && q.cols == s.width,
            "Attention.forwardLastQuery: q is \(q.shapeDescription), expected \(s.batch)×\(s.width)")
        for (name, m) in [("k", k), ("v", v)] {
            precondition(
                m.rows == s.rows && m.cols == s.width,
                "Attention.forwardLastQuery: \(name) is \(m.shapeDescription), expected \(s.rows)×\(s.width) for \(s)")
        }
        precondition(
            positions.count == s.batch && positions.allSatisfy { (0..<s.length).contains($0) },
            "Attention.forwardLastQuery: need \(s.batch) positions in 0..<\(s.length)")
        precondition(
            keyPadding == nil || keyPadding!.count == s.rows,
            "Attention.forwardLastQuery: keyPadding has \(keyPadding!.count) flags for \(s.rows) rows")
        let L = s.length
        let D = s.width
        let dh = s.headDim
        let H = s.heads
        let scale = 1 / Float(dh).squareRoot()
        var out = Matrix(rows: s.batch, cols: D)
        var probs = [Float](repeating: 0, count: s.batch * H * L)
        var drop = [Float](repeating: 1, count: dropout == nil ? 0 : s.batch * H * L)
        let workers = min(parallelism.resolvedCount, max(1, s.batch / 16))
        q.withUnsafeBufferPointer { qp in
            k.withUnsafeBufferPointer { kp in
                v.withUnsafeBufferPointer { vp in
                    out.withUnsafeMutableBufferPointer { op in
                        probs.withUnsafeMutableBufferPointer { pp in
                            drop.withUnsafeMutableBufferPointer { dp in
                                let ctx = UncheckedSendable(
                                    (
                                        qp.baseAddress!, kp.baseAddress!, vp.baseAddress!, op.baseAddress!,
                                        pp.baseAddress!,
                                        dropout == nil ? nil : dp.baseAddress
                                    ))
                                Threading.parallelFor(chunks: s.batch * H, parallelism: .threads(workers)) { bh in
                                    let (qb, kb, vb, ob, pb, db) = ctx.value
                                    let b = bh / H
                                    let h = bh % H
                                    let n = positions[b] + 1
                                    let keys = b * L * D + h * dh
                                    let query = b * D + h * dh
                                    let P = pb + bh * L
                                    SmallProducts.rowDots(
                                        qb + query, kb + keys, ld: D, width: dh, m: 1, n: n, alpha: scale, into: P,
                                        ldc: L)
                                    var any = false
                                    for j in 0..<n {
                                        if keyPadding?[b * L + j] ?? false { P[j] = -.infinity } else { any = true }
                                    }
                                    if any {
                                        let buf = UnsafeMutableBufferPointer(start: P, count: n)
                                        Kernels.softmax(UnsafeBufferPointer(buf), into: buf)
                                    } else {
                                        for j in 0..<n { P[j] = 0 }
                                    }
                                    if let dropout, let db {
                                        let mask = db + bh * L
                                        dropout.fillMask(chunk: bh, heads: H, into: mask, count: L)
                                        withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { w in
                                            for j in 0..<n { w[j] = P[j] * mask[j] }
                                            SmallProducts.combineRows(
                                                UnsafePointer(w.baseAddress!), lda: n, transposeA: false, m: 1, k: n,
                                                rows: vb + keys, ld: D, width: dh, into: ob + query)
                                        }
                                    } else {
                                        SmallProducts.combineRows(
                                            UnsafePointer(P), lda: n, transposeA: false, m: 1, k: n, rows: vb + keys,
                                            ld: D, width: dh, into: ob + query)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (out, LastQueryCache(probabilities: probs, dropoutScale: dropout == nil ? nil : drop))
    }

    /// Gradients of `forwardLastQuery`'s inputs: dq is `B × (H·dₕ)`, dk and dv `(B·L) × (H·dₕ)`
    /// (zero rows for keys after each query's position).
    /// - Complexity: 8·B·H·L·dₕ FLOPs.
    public static func backwardLastQuery(
        dOutput: Matrix, q: Matrix, k: Matrix, v: Matrix, positions: [Int], cache: LastQueryCache,
        shape s: Shape, parallelism: Parallelism = .automatic
    ) -> (dq: Matrix, dk: Matrix, dv: Matrix) {
        precondition(
            dOutput.rows == s.batch && dOutput.cols == s.width,
            "Attention.backwardLastQuery: dOutput is \(dOutput.shapeDescription), expected \(s.batch)×\(s.width)")
        precondition(positions.count == s.batch, "Attention.backwardLastQuery: need \(s.batch) positions")
        let L = s.length
        let D = s.width
        let dh = s.headDim
        let H = s.heads
        let scale = 1 / Float(dh).squareRoot()
        var dq = Matrix(rows: s.batch, cols: D)
        var dk = Matrix(rows: s.rows, cols: D)
        var dv = dk
        let workers = min(parallelism.resolvedCount, max(1, s.batch / 16))
        dOutput.withUnsafeBufferPointer { gp in
            q.withUnsafeBufferPointer { qp in
                k.withUnsafeBufferPointer { kp in
                    v.withUnsafeBufferPointer { vp in
                        dq.withUnsafeMutableBufferPointer { dqp in
                            dk.withUnsafeMutableBufferPointer { dkp in
                                dv.withUnsafeMutableBufferPointer { dvp in
                                    cache.probabilities.withUnsafeBufferPointer { pp in
                                        (cache.dropoutScale ?? []).withUnsafeBufferPointer { mp in
                                            let ctx = UncheckedSendable(
                                                (
                                                    gp.baseAddress!, qp.baseAddress!, kp.baseAddress!, vp.baseAddress!,
                                                    dqp.baseAddress!, dkp.baseAddress!, dvp.baseAddress!,
                                                    pp.baseAddress!,
                                                    cache.dropoutScale == nil ? nil : mp.baseAddress
                                                ))
                                            Threading.parallelFor(chunks: s.batch * H, parallelism: .threads(workers)) {
                                                bh in
                                                let (g, qb, kb, vb, dqb, dkb, dvb, pb, mb) = ctx.value
                                                let b = bh / H
                                                let h = bh % H
                                                let n = positions[b] + 1
                                                let keys = b * L * D + h * dh
                                                let query = b * D + h * dh
                                                let P = pb + bh * L
                                                withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * n) {
                                                    scratch in
                                                    let pd = scratch.baseAddress!
                                                    let dpb = pd + n
                                                    for j in 0..<n { pd[j] = P[j] * (mb?[bh * L + j] ?? 1) }
                                                    // dV_j = pd_j · dO (an outer product: one column of weights, one row).
                                                    SmallProducts.combineRows(
                                                        UnsafePointer(pd), lda: 1, transposeA: false, m: n, k: 1,
                                                        rows: g + query, ld: D, width: dh, into: dvb + keys)
                                                    SmallProducts.rowDots(
                                                        g + query, vb + keys, ld: D, width: dh, m: 1, n: n, alpha: 1,
                                                        into: dpb, ldc: n)
                                                    if let mb { for j in 0..<n { dpb[j] *= mb[bh * L + j] } }
                                                    softmaxBackwardRow(P, dpb, count: n, scale: scale)
                                                    // dq = Σ_j dS_j k_j; dk_j = dS_j q.
                                                    SmallProducts.combineRows(
                                                        UnsafePointer(dpb), lda: n, transposeA: false, m: 1, k: n,
                                                        rows: kb + keys, ld: D, width: dh, into: dqb + query)
                                                    SmallProducts.combineRows(
                                                        UnsafePointer(dpb), lda: 1, transposeA: false, m: n, k: 1,
                                                        rows: qb + query, ld: D, width: dh, into: dkb + keys)
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
        }
        return (dq, dk, dv)
    }
}
