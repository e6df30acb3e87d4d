#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

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
        var out = Matrix(rows: s.batch, cols: s.width)
        var probs = [Float](repeating: 0, count: s.batch * s.heads * s.length)
        var drop = [Float](repeating: 1, count: dropout == nil ? 0 : s.batch * s.heads * s.length)
        let workers = min(parallelism.resolvedCount, max(1, s.batch / 16))
        withOperands(q: q, k: k, v: v, out: &out, probabilities: &probs, mask: &drop, dropout: dropout != nil) { x in
            let operands = UncheckedSendable(x)
            Threading.parallelFor(chunks: s.batch * s.heads, parallelism: .threads(workers)) { bh in
                forwardLastQueryBlock(
                    bh, operands.value, positions: positions, shape: s, keyPadding: keyPadding,
                    dropout: dropout)
            }
        }
        return (out, LastQueryCache(probabilities: probs, dropoutScale: dropout == nil ? nil : drop))
    }

    /// Where block `bh` = b·H + h of the last-query attention lives: its sequence b, its n =
    /// positions[b] + 1 keys, the offset of its keys (and values) and of its query and output.
    @inline(__always)
    static func lastQueryBlock(_ bh: Int, positions: [Int], shape s: Shape) -> (
        sequence: Int, keys: Int, keyOffset: Int, queryOffset: Int
    ) {
        let b = bh / s.heads
        let h = bh % s.heads
        return (b, positions[b] + 1, b * s.length * s.width + h * s.headDim, b * s.width + h * s.headDim)
    }

    /// One (sequence, head) of `forwardLastQuery`, `bh` = b·H + h: the n = positions[b] + 1
    /// scores q·k_j·scale, their masked softmax into the cache, then o = Σ_j dropout(p)_j v_j.
    @inline(__always)
    static func forwardLastQueryBlock(
        _ bh: Int, _ x: ForwardOperands, positions: [Int], shape s: Shape, keyPadding: [Bool]?, dropout: Dropout?
    ) {
        let (L, D, dh) = (s.length, s.width, s.headDim)
        let (b, n, keys, query) = lastQueryBlock(bh, positions: positions, shape: s)
        let P = x.probabilities + bh * L
        let scale = 1 / Float(dh).squareRoot()
        SmallProducts.rowDots(x.q + query, x.k + keys, ld: D, width: dh, m: 1, n: n, alpha: scale, into: P, ldc: L)
        maskedSoftmax(P, count: n) { j in keyPadding?[b * L + j] ?? false }
        if let dropout, let db = x.mask {
            let mask = db + bh * L
            dropout.fillMask(chunk: bh, heads: s.heads, into: mask, count: L)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { w in
                for j in 0..<n { w[j] = P[j] * mask[j] }
                SmallProducts.combineRows(
                    UnsafePointer(w.baseAddress!), lda: n, transposeA: false, m: 1, k: n, rows: x.v + keys, ld: D,
                    width: dh, into: x.out + query)
            }
        } else {
            SmallProducts.combineRows(
                UnsafePointer(P), lda: n, transposeA: false, m: 1, k: n, rows: x.v + keys, ld: D, width: dh,
                into: x.out + query)
        }
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
        var dq = Matrix(rows: s.batch, cols: s.width)
        var dk = Matrix(rows: s.rows, cols: s.width)
        var dv = dk
        let workers = min(parallelism.resolvedCount, max(1, s.batch / 16))
        withOperands(dOutput: dOutput, q: q, k: k, v: v, dq: &dq, dk: &dk, dv: &dv, cache: cache) { x in
            let operands = UncheckedSendable(x)
            Threading.parallelFor(
                chunks: s.batch * s.heads, parallelism: .threads(workers)
            ) { bh in
                backwardLastQueryBlock(
                    bh, operands.value, positions: positions, shape: s)
            }
        }
        return (dq, dk, dv)
    }

    /// One (sequence, head) of `backwardLastQuery`, `bh` = b·H + h: dv_j = dropout(p)_j · do;
    /// dp = do·v_j through the mask; the softmax backward; dq = Σ_j dS_j k_j, dk_j = dS_j q.
    @inline(__always)
    static func backwardLastQueryBlock(_ bh: Int, _ x: BackwardOperands, positions: [Int], shape s: Shape) {
        let (L, D, dh) = (s.length, s.width, s.headDim)
        let (_, n, keys, query) = lastQueryBlock(bh, positions: positions, shape: s)
        let P = x.probabilities + bh * L
        let scale = 1 / Float(dh).squareRoot()
        let mb = x.mask
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * n) { scratch in
            let pd = scratch.baseAddress!
            let dpb = pd + n
            for j in 0..<n { pd[j] = P[j] * (mb?[bh * L + j] ?? 1) }
            // dV_j = pd_j · dO (an outer product: one column of weights, one row).
            SmallProducts.combineRows(
                UnsafePointer(pd), lda: 1, transposeA: false, m: n, k: 1, rows: x.dOutput + query, ld: D, width: dh,
                into: x.dv + keys)
            SmallProducts.rowDots(
                x.dOutput + query, x.v + keys, ld: D, width: dh, m: 1, n: n, alpha: 1, into: dpb, ldc: n)
            if let mb { for j in 0..<n { dpb[j] *= mb[bh * L + j] } }
            softmaxBackwardRow(P, dpb, count: n, scale: scale)
            // dq = Σ_j dS_j k_j; dk_j = dS_j q.
            SmallProducts.combineRows(
                UnsafePointer(dpb), lda: n, transposeA: false, m: 1, k: n, rows: x.k + keys, ld: D, width: dh,
                into: x.dq + query)
            SmallProducts.combineRows(
                UnsafePointer(dpb), lda: 1, transposeA: false, m: n, k: 1, rows: x.q + query, ld: D, width: dh,
                into: x.dk + keys)
        }
    }
}

extension Attention.LastQueryCache: AttentionCache {}
