import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018): item and
/// learned position embeddings, causal self-attention blocks, and the state at each sequence's
/// last real position.
///
/// Item ids are 1...items; 0 is padding (right or left padding both work: the state is read at
/// the last non-padding position; an all-padding row reads the last position). Block layouts:
/// - `.original` (the authors' code): q = LN₁(x); h = q + MHA(queries q, keys x); u = LN₂(h);
///   y = u + FFN(u); final LN; embeddings scaled by √d; attention without an output projection
///   and dropout after both FFN layers (see `Config.attentionOutputProjection`).
/// - `.preLN`: h = x + MHA(LN₁(x)); y = h + FFN(LN₂(h)); final LN.
/// - `.postLN` (RecBole): h = LN₁(x + MHA(x)); y = LN₂(h + FFN(h)); no final LN.
/// Padding rows are zeroed after the embedding and after every block.
public final class SASRec: Module {
    /// Where the blocks' layer norms sit.
    public enum Layout: String, NamedChoice {
        /// The authors' TensorFlow code: LayerNorm on the queries before attention, scaled
        /// embeddings, a final LayerNorm.
        case original
        /// LayerNorm before each sublayer, a final LayerNorm.
        case preLN
        /// LayerNorm after each residual sum, no final LayerNorm.
        case postLN
    }

    /// The encoder's shape and options.
    public struct Config: Sendable {
        /// Items in the catalog (ids 1...items; 0 is padding).
        public var items: Int
        /// The state length L (items per history).
        public var length: Int = 10
        /// The hidden size d.
        public var dim: Int = 64
        /// Attention heads (d must be a multiple).
        public var heads: Int = 1
        /// Self-attention blocks.
        public var blocks: Int = 2
        /// The dropout rate (training only).
        public var dropout: Float = 0.2
        /// Where the layer norms sit.
        public var layout: Layout = .original
        /// The feed-forward nonlinearity.
        public var activation: FeedForward.Activation = .relu
        /// How the parameters are initialised.
        public var initialization: Initialization = .pytorchDefault
        /// Whether attention has an output projection (`blocks.i.attn.out.*`). nil: as the layout's
        /// source does, i.e. none for `.original` (the authors' code concatenates the heads into
        /// the residual), one for `.preLN` and `.postLN` (PyTorch / RecBole attention).
        public var attentionOutputProjection: Bool? = nil
        /// Whether dropout also follows the FFN's second layer. nil: yes for `.original` (the
        /// authors' code drops after both layers), no otherwise.
        public var ffnOutputDropout: Bool? = nil
        /// Defaults for a catalog of `items`.
        public init(items: Int) { self.items = items }

        /// Whether attention has an output projection (as set, or as the layout's source has it).
        public var hasAttentionOutputProjection: Bool { attentionOutputProjection ?? (layout != .original) }
        /// Whether dropout follows the FFN's output layer (as set, or as the layout's source has it).
        public var dropsFFNOutput: Bool { ffnOutputDropout ?? (layout == .original) }
    }

    final class Block {
        let ln1: LayerNorm, ln2: LayerNorm, attn: MultiHeadAttention, ffn: FeedForward
        init(_ prefix: String, _ c: Config, seed: UInt64) {
            ln1 = LayerNorm(name: prefix + ".ln1", features: c.dim)
            ln2 = LayerNorm(name: prefix + ".ln2", features: c.dim)
            attn = MultiHeadAttention(
                name: prefix + ".attn", dim: c.dim, heads: c.heads, outputProjection: c.hasAttentionOutputProjection,
                initialization: c.initialization, seed: seed)
            ffn = FeedForward(
                name: prefix + ".ffn", dim: c.dim, hidden: c.dim, activation: c.activation,
                initialization: c.initialization, seed: seed &+ 100)
        }
        var parameters: [Parameter] { ln1.parameters + attn.parameters + ln2.parameters + ffn.parameters }
    }

    /// The shape and options it was built with.
    public let config: Config
    /// The item embedding table (`item_embedding.weight`; padding row 0).
    public let itemEmbedding: Embedding
    /// The learned position embeddings, L × d (`position_embedding.weight`).
    public let positionEmbedding: Parameter
    let blocks: [Block]
    /// The final layer norm (`final_norm`; none for `.postLN`).
    public let finalNorm: LayerNorm?

    /// Embeddings, then each block's, then the final norm's.
    public var parameters: [Parameter] {
        [itemEmbedding.table, positionEmbedding] + blocks.flatMap(\.parameters) + (finalNorm?.parameters ?? [])
    }

    /// An encoder of the shape `c` describes, initialised from `seed`.
    public init(config c: Config, seed: UInt64) {
        config = c
        itemEmbedding = Embedding(
            name: "item_embedding", vocabulary: c.items + 1, dimension: c.dim, paddingIndex: 0,
            initialization: c.initialization, seed: seed)
        let posStd: Float
        switch c.initialization {
        case .pytorchDefault: posStd = 1
        case .normal(let s): posStd = s
        case .xavierUniform(let s): posStd = s
        }
        positionEmbedding = Parameter(
            name: "position_embedding.weight",
            value: Matrix.random(c.length, c.dim, seed: seed &+ 1, distribution: .normal(mean: 0, std: posStd)))
        blocks = (0..<c.blocks).map { Block("blocks.\($0)", c, seed: seed &+ UInt64(1000 * ($0 + 1))) }
        finalNorm = c.layout == .postLN ? nil : LayerNorm(name: "final_norm", features: c.dim)
    }

    /// The rows a block computes beyond its keys and values: nil, every position; otherwise one
    /// row per sequence (`rows[b] = b·L + positions[b]`).
    struct QueryRows { let rows: [Int], positions: [Int] }

    struct BlockCache {
        let ln1: LayerNorm.Cache, ln2: LayerNorm.Cache
        let attn: MultiHeadAttention.Cache, ffn: FeedForward.Cache
    }

    /// Everything backward needs.
    public struct Cache {
        let ids: [Int], padding: [Bool], statePositions: [Int], batch: Int
        let embeddingDropout: [Float]?
        var blocks: [BlockCache]
        let finalNorm: LayerNorm.Cache?
    }

    /// Encodes a batch: `sequences` is B rows of exactly `length` ids (0 = padding).
    /// - Parameters:
    ///   - sequences: B rows of `length` item ids (0 = padding).
    ///   - training: applies dropout (seeded by `seed`), otherwise none.
    ///   - seed: the dropout masks' seed.
    ///   - firstSample: the index of `sequences[0]` in the whole batch: sequence b's dropout masks
    ///     depend only on `seed` and `firstSample + b`, so the parts of a batch split across
    ///     workers or processes draw the masks the whole batch draws.
    /// - Returns: the B × d states and the cache for `backward`.
    /// - Throws: `.itemOutOfRange` naming an id outside 0...items and its position in the batch.
    public func forward(_ sequences: [[Int]], training: Bool, seed: UInt64 = 0, firstSample: Int = 0) throws(RecNNError)
        -> (states: Matrix, cache: Cache)
    {
        let c = config
        let L = c.length
        let B = sequences.count
        let ids = try flatIds(sequences)
        let padding = ids.map { $0 == 0 }
        let statePositions = sequences.map { s in s.lastIndex { $0 != 0 } ?? (L - 1) }
        var x = embed(ids, batch: B)
        let rate = training ? c.dropout : 0
        let stream = RandomStream(seed: seed)
        let samples = Dropout.Samples(first: firstSample, count: B)
        let embMask = Dropout.apply(&x, rate: rate, seed: stream.split(0).key, samples: samples)
        maskInPlace(&x, padding)
        var caches = [BlockCache]()
        // Only the state rows leave the encoder, so the last block computes its keys and values
        // for every position but everything else (queries, output projection, LayerNorms, FFN)
        // for the B state rows only: the same states as the full computation.
        let stateRows = (0..<B).map { $0 * L + statePositions[$0] }
        let last = QueryRows(rows: stateRows, positions: statePositions)
        for (bi, blk) in blocks.enumerated() {
            let attnDrop =
                rate > 0
                ? Attention.Dropout(rate: rate, seed: stream.split(10 + bi).key, firstSequence: firstSample) : nil
            let (y, cache) = blockForward(
                blk, x, queries: bi == blocks.count - 1 ? last : nil, padding: padding, batch: B,
                attnDrop: attnDrop, rate: rate, ffnSeed: stream.split(100 + bi).key, samples: samples)
            x = y
            caches.append(cache)
        }
        // x is now B × d (the state rows), or still (B·L) × d without blocks.
        if blocks.isEmpty { x = gatherRows(x, stateRows) }
        var fn: LayerNorm.Cache? = nil
        if let f = finalNorm {
            let r = f.forward(x)
            x = r.y
            fn = r.cache
        }
        let states = x
        return (
            states,
            Cache(
                ids: ids, padding: padding, statePositions: statePositions, batch: B,
                embeddingDropout: embMask, blocks: caches, finalNorm: fn)
        )
    }

    /// The B·L ids of `sequences` in one row-major array, each sequence checked to have `length`
    /// ids and each id to be in the vocabulary.
    func flatIds(_ sequences: [[Int]]) throws(RecNNError) -> [Int] {
        let L = config.length
        var ids = [Int]()
        ids.reserveCapacity(sequences.count * L)
        for (b, s) in sequences.enumerated() {
            precondition(s.count == L, "SASRec.forward: sequence \(b) has \(s.count) ids, the model takes \(L)")
            ids += s
        }
        let vocabulary = itemEmbedding.vocabulary
        for (pos, id) in ids.enumerated() where id < 0 || id >= vocabulary {
            throw .itemOutOfRange(id: id, position: pos, vocabulary: vocabulary)
        }
        return ids
    }

    /// x = E[id]·scale + P[position] for the (B·L) ids (scale √d in the original layout, else 1):
    /// one pass from the table (the lookup of `Embedding.forward`, fused with the positions).
    func embed(_ ids: [Int], batch B: Int) -> Matrix {
        let L = config.length
        let d = config.dim
        let scale: Float = config.layout == .original ? Float(d).squareRoot() : 1
        return Matrix(
            rows: B * L, cols: d,
            unsafeUninitialized: { xp in
                itemEmbedding.table.value.withUnsafeBufferPointer { tp in
                    positionEmbedding.value.withUnsafeBufferPointer { pp in
                        let sv = SIMD16<Float>(repeating: scale)
                        for r in 0..<(B * L) {
                            let row = xp.baseAddress! + r * d
                            let emb = tp.baseAddress! + ids[r] * d
                            let pos = pp.baseAddress! + (r % L) * d
                            var j = 0
                            while j + 16 <= d {
                                VectorMath.store(VectorMath.load(emb + j) * sv + VectorMath.load(pos + j), row + j)
                                j += 16
                            }
                            while j < d {
                                row[j] = emb[j] * scale + pos[j]
                                j += 1
                            }
                        }
                    }
                }
            })
    }

    /// Accumulates every parameter's gradient from the gradient of the states (B × d).
    public func backward(_ cache: Cache, _ dStates: Matrix) {
        let c = config
        let L = c.length
        let d = c.dim
        let B = cache.batch
        precondition(
            dStates.rows == B && dStates.cols == d,
            "SASRec.backward: dStates is \(dStates.shapeDescription), expected \(B)×\(d)")
        var dx = dStates
        if let f = finalNorm, let fc = cache.finalNorm { dx = f.backward(fc, dx) }
        let stateRows = (0..<B).map { $0 * L + cache.statePositions[$0] }
        if blocks.isEmpty {
            dx = scatteredRows(dx, stateRows, total: B * L)
        }
        let last = QueryRows(rows: stateRows, positions: cache.statePositions)
        for (bi, blk) in blocks.enumerated().reversed() {
            dx = blockBackward(
                blk, cache.blocks[bi], dx, queries: bi == blocks.count - 1 ? last : nil, padding: cache.padding)
        }
        maskInPlace(&dx, cache.padding)
        Dropout.backwardInPlace(&dx, mask: cache.embeddingDropout)
        // Position embedding gradient and item embedding gradient (scaled for .original).
        let scale: Float = c.layout == .original ? Float(d).squareRoot() : 1
        positionEmbedding.grad.withUnsafeMutableBufferPointer { g in
            dx.withUnsafeBufferPointer { p in
                for r in 0..<(B * L) { for j in 0..<d { g[(r % L) * d + j] += p[r * d + j] } }
            }
        }
        if scale != 1 { dx.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= scale } } }
        itemEmbedding.backward(cache.ids, dx)
    }

    /// One block: (B·L) × d in; out (B·L) × d, or B × d (the query rows) when `queries` is given.
    private func blockForward(
        _ blk: Block, _ x: Matrix, queries: QueryRows?, padding: [Bool], batch B: Int,
        attnDrop: Attention.Dropout?, rate: Float, ffnSeed: UInt64, samples: Dropout.Samples
    ) -> (Matrix, BlockCache) {
        let c = config
        let L = c.length
        func rows(_ m: Matrix) -> Matrix { queries.map { gatherRows(m, $0.rows) } ?? m }
        func attend(_ q: Matrix, _ keys: Matrix) -> (Matrix, MultiHeadAttention.Cache) {
            blk.attn.forward(
                queries: q, keys: keys, batch: B, length: L, keyPadding: padding, dropout: attnDrop,
                lastQueryPositions: queries?.positions)
        }
        let outPadding = queries.map { $0.rows.map { padding[$0] } } ?? padding
        switch c.layout {
        case .original:
            let (qn, l1) = blk.ln1.forward(rows(x))
            var (h, ac) = attend(qn, x)  // h = q + A(q, x), q = LN₁(x)
            addInPlace(&h, qn)
            let (u, l2) = blk.ln2.forward(h)
            var (y, fc) = blk.ffn.forward(
                u, dropout: rate, seed: ffnSeed, outputDropout: c.dropsFFNOutput, samples: samples)
            addInPlace(&y, u)
            maskInPlace(&y, outPadding)
            return (y, BlockCache(ln1: l1, ln2: l2, attn: ac, ffn: fc))
        case .preLN:
            let (xn, l1) = blk.ln1.forward(x)
            var (h, ac) = attend(rows(xn), xn)  // h = x + A(LN₁(x))
            addInPlace(&h, rows(x))
            let (hn, l2) = blk.ln2.forward(h)
            var (y, fc) = blk.ffn.forward(
                hn, dropout: rate, seed: ffnSeed, outputDropout: c.dropsFFNOutput, samples: samples)
            addInPlace(&y, h)
            maskInPlace(&y, outPadding)
            return (y, BlockCache(ln1: l1, ln2: l2, attn: ac, ffn: fc))
        case .postLN:
            let xs = rows(x)
            var (s1, ac) = attend(xs, x)  // h = LN₁(x + A(x))
            addInPlace(&s1, xs)
            let (h, l1) = blk.ln1.forward(s1)
            var (s2, fc) = blk.ffn.forward(
                h, dropout: rate, seed: ffnSeed, outputDropout: c.dropsFFNOutput, samples: samples)
            addInPlace(&s2, h)
            var (y, l2) = blk.ln2.forward(s2)
            maskInPlace(&y, outPadding)
            return (y, BlockCache(ln1: l1, ln2: l2, attn: ac, ffn: fc))
        }
    }

    /// Backward of `blockForward`: `dy` has its output's shape; returns the (B·L) × d input gradient.
    private func blockBackward(_ blk: Block, _ bc: BlockCache, _ dy: Matrix, queries: QueryRows?, padding: [Bool])
        -> Matrix
    {
        var dy = dy
        maskInPlace(&dy, queries.map { $0.rows.map { padding[$0] } } ?? padding)
        /// dst += src, src on the query rows.
        func addRows(_ src: Matrix, into dst: inout Matrix) {
            if let queries { scatterAddRows(src, queries.rows, into: &dst) } else { addInPlace(&dst, src) }
        }
        switch config.layout {
        case .original:
            // y = u + FFN(u), u = LN₂(h), h = q + A(q, x), q = LN₁(x)
            var du = blk.ffn.backward(bc.ffn, dy)
            addInPlace(&du, dy)
            let dh = blk.ln2.backward(bc.ln2, du)
            var (dq, dx) = blk.attn.backward(bc.attn, dh)
            addInPlace(&dq, dh)
            addRows(blk.ln1.backward(bc.ln1, dq), into: &dx)
            return dx
        case .preLN:
            // y = h + FFN(LN₂(h)), h = x + A(LN₁(x))
            var dh = blk.ln2.backward(bc.ln2, blk.ffn.backward(bc.ffn, dy))
            addInPlace(&dh, dy)
            let (dq, dKeys) = blk.attn.backward(bc.attn, dh)
            var dxn = dKeys
            addRows(dq, into: &dxn)
            var dx = blk.ln1.backward(bc.ln1, dxn)
            addRows(dh, into: &dx)
            return dx
        case .postLN:
            // y = LN₂(h + FFN(h)), h = LN₁(x + A(x))
            let dsum2 = blk.ln2.backward(bc.ln2, dy)
            var dh = blk.ffn.backward(bc.ffn, dsum2)
            addInPlace(&dh, dsum2)
            let dsum1 = blk.ln1.backward(bc.ln1, dh)
            var (dq, dx) = blk.attn.backward(bc.attn, dsum1)
            addInPlace(&dq, dsum1)
            addRows(dq, into: &dx)
            return dx
        }
    }
}
