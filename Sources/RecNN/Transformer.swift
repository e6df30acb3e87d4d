import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Element-wise dropout with a seeded mask (inverted: kept values are scaled by 1/(1 − rate)).
public enum Dropout {
    /// Returns y = x ⊙ mask and the mask (already scaled); rate 0 returns x and nil.
    public static func forward(_ x: Matrix, rate: Float, seed: UInt64, samples: Samples? = nil) -> (
        y: Matrix, mask: [Float]?
    ) {
        var y = x
        let mask = apply(&y, rate: rate, seed: seed, samples: samples)
        return (y, mask)
    }

    /// Which samples of a batch the rows of a matrix belong to: `count` samples of equal row
    /// blocks, numbered from `first` in the whole batch. Each sample's mask is drawn from its own
    /// stream (`RandomStream(seed).split(first + b)`), so a part of a batch (a worker's, a
    /// process's) draws the masks the whole batch would.
    public struct Samples: Sendable, Equatable {
        /// The index of the first sequence in the whole batch.
        public var first: Int
        /// Sequences in this part.
        public var count: Int
        /// Sequences `first ..< first + count` of a batch.
        public init(first: Int, count: Int) {
            self.first = first
            self.count = count
        }
    }

    /// x ← x ⊙ mask in place; returns the mask (nil for rate 0). Same mask as `forward`.
    /// Without `samples` the whole matrix is one stream.
    /// - Precondition: with `samples`, its count divides the rows.
    public static func apply(_ x: inout Matrix, rate: Float, seed: UInt64, samples: Samples? = nil) -> [Float]? {
        guard rate > 0 else { return nil }
        var mask = [Float](repeating: 0, count: x.count)
        let stream = RandomStream(seed: seed)
        if let samples, samples.count > 0 {
            precondition(
                x.rows % samples.count == 0, "Dropout.apply: \(x.rows) rows are not blocks of \(samples.count) samples")
            let per = x.count / samples.count
            mask.withUnsafeMutableBufferPointer { m in
                for b in 0..<samples.count {
                    stream.split(samples.first &+ b).fillUniform(
                        UnsafeMutableBufferPointer(rebasing: m[(b * per)..<((b + 1) * per)]),
                        parallelism: .sequential)
                }
            }
        } else {
            mask.withUnsafeMutableBufferPointer { stream.fillUniform($0, parallelism: .sequential) }
        }
        let keep = 1 / (1 - rate)
        for i in mask.indices { mask[i] = mask[i] < rate ? 0 : keep }
        x.withUnsafeMutableBufferPointer { p in
            mask.withUnsafeBufferPointer { m in multiplyInPlace(p.baseAddress!, m.baseAddress!, count: p.count) }
        }
        return mask
    }

    /// dx = dy ⊙ mask.
    public static func backward(_ dy: Matrix, mask: [Float]?) -> Matrix {
        var dx = dy
        backwardInPlace(&dx, mask: mask)
        return dx
    }

    /// dy ← dy ⊙ mask in place.
    public static func backwardInPlace(_ dy: inout Matrix, mask: [Float]?) {
        guard let mask else { return }
        dy.withUnsafeMutableBufferPointer { p in
            mask.withUnsafeBufferPointer { m in multiplyInPlace(p.baseAddress!, m.baseAddress!, count: p.count) }
        }
    }
}

/// Multi-head attention with input projections and, optionally, an output projection (with it,
/// as PyTorch's MultiheadAttention; without it, as the SASRec authors' TensorFlow code, where the
/// heads' outputs are concatenated and added to the residual directly): queries are projected
/// from `queries`, keys and values from `keys`.
public final class MultiHeadAttention: Module {
    /// The query projection (`attn.q`).
    public let q: Linear
    /// The key projection (`attn.k`).
    public let k: Linear
    /// The value projection (`attn.v`).
    public let v: Linear
    /// The output projection (`attn.out`; nil in the authors' block).
    public let o: Linear?
    /// Heads H (dₕ = d/H).
    public let heads: Int
    /// q, k, v, then the output projection's.
    public var parameters: [Parameter] { q.parameters + k.parameters + v.parameters + (o?.parameters ?? []) }

    /// Multi-head attention over `dim` with `heads` heads (`NAME.q`, `.k`, `.v`, `.out`).
    public init(
        name: String, dim: Int, heads: Int, outputProjection: Bool = true, initialization: Initialization, seed: UInt64
    ) {
        precondition(dim % heads == 0, "MultiHeadAttention: dim \(dim) is not a multiple of heads \(heads)")
        self.heads = heads
        q = Linear(name: name + ".q", inFeatures: dim, outFeatures: dim, initialization: initialization, seed: seed)
        k = Linear(
            name: name + ".k", inFeatures: dim, outFeatures: dim, initialization: initialization, seed: seed &+ 10)
        v = Linear(
            name: name + ".v", inFeatures: dim, outFeatures: dim, initialization: initialization, seed: seed &+ 20)
        o =
            outputProjection
            ? Linear(
                name: name + ".out", inFeatures: dim, outFeatures: dim, initialization: initialization, seed: seed &+ 30
            ) : nil
    }

    /// What `backward` needs: the projections and the attention cache.
    public struct Cache {
        let queries: Matrix, keys: Matrix, qp: Matrix, kp: Matrix, vp: Matrix, attended: Matrix
        let attention: AttentionCache, shape: Attention.Shape
    }

    enum AttentionCache {
        case full(Attention.Cache)
        case lastQuery(Attention.LastQueryCache, positions: [Int])
    }

    /// Causal self-attention over (B·L) × d `keys`. Queries: (B·L) × d (every position), or, with
    /// `lastQueryPositions`, B × d with row b at position `lastQueryPositions[b]` of sequence b:
    /// the rows a last-state encoder uses, at a fraction of the cost (the query and output
    /// projections run on B rows, not B·L). The output has the queries' shape.
    public func forward(
        queries: Matrix, keys: Matrix, batch: Int, length: Int, keyPadding: [Bool]?,
        dropout: Attention.Dropout?, lastQueryPositions: [Int]? = nil
    ) -> (y: Matrix, cache: Cache) {
        let shape = Attention.Shape(batch: batch, length: length, heads: heads, headDim: q.outFeatures / heads)
        let qp = q.forward(queries)
        let kp = k.forward(keys)
        let vp = v.forward(keys)
        let att: Matrix
        let ac: AttentionCache
        if let positions = lastQueryPositions {
            let r = Attention.forwardLastQuery(
                q: qp, k: kp, v: vp, positions: positions, shape: shape, keyPadding: keyPadding, dropout: dropout)
            att = r.output
            ac = .lastQuery(r.cache, positions: positions)
        } else {
            let r = Attention.forward(
                q: qp, k: kp, v: vp, shape: shape, causal: true, keyPadding: keyPadding, dropout: dropout)
            att = r.output
            ac = .full(r.cache)
        }
        // Without a projection the output is `att` itself: the cache must not keep a second
        // reference, or the caller's in-place residual add would copy it.
        return (
            o?.forward(att) ?? att,
            Cache(
                queries: queries, keys: keys, qp: qp, kp: kp, vp: vp,
                attended: o == nil ? Matrix(rows: 0, cols: 0) : att, attention: ac, shape: shape)
        )
    }

    /// Returns (d queries, d keys), shaped as the queries and the keys.
    public func backward(_ c: Cache, _ dy: Matrix) -> (dQueries: Matrix, dKeys: Matrix) {
        let dAtt = o?.backward(c.attended, dy) ?? dy
        let (dqp, dkp, dvp): (Matrix, Matrix, Matrix)
        switch c.attention {
        case .full(let ac):
            (dqp, dkp, dvp) = Attention.backward(dOutput: dAtt, q: c.qp, k: c.kp, v: c.vp, cache: ac, shape: c.shape)
        case .lastQuery(let ac, let positions):
            (dqp, dkp, dvp) = Attention.backwardLastQuery(
                dOutput: dAtt, q: c.qp, k: c.kp, v: c.vp, positions: positions, cache: ac, shape: c.shape)
        }
        let dQueries = q.backward(c.queries, dqp)
        var dKeys = k.backward(c.keys, dkp)
        // The key bias adds qᵢ·b to every score of query i: softmax does not see it, and its
        // exact gradient is 0. What backward computes is rounding noise, which Adam (dividing by
        // √v) would turn into steps of the full learning rate in random directions, different
        // for every batch split; keep it exactly 0.
        if let kb = k.bias { kb.grad = Matrix(rows: kb.grad.rows, cols: kb.grad.cols) }
        v.backward(c.keys, dvp, accumulatingInto: &dKeys)
        return (dQueries, dKeys)
    }
}

/// Position-wise feed-forward network: `W₂ act(W₁ x + b₁) + b₂`.
public final class FeedForward: Module {
    /// The hidden layer's nonlinearity.
    public enum Activation: Sendable {
        /// max(0, x) (the authors' SASRec).
        case relu
        /// x·Φ(x) (the exact GELU, as `torch.nn.GELU()`).
        case gelu
    }
    /// The first layer, d → hidden (`ffn.w1`).
    public let w1: Linear
    /// The second layer, hidden → d (`ffn.w2`).
    public let w2: Linear
    /// The hidden layer's nonlinearity.
    public let activation: Activation
    /// w1's, then w2's.
    public var parameters: [Parameter] { w1.parameters + w2.parameters }

    /// A two-layer position-wise feed-forward network d → hidden → d (`NAME.w1`, `NAME.w2`).
    public init(
        name: String, dim: Int, hidden: Int, activation: Activation, initialization: Initialization, seed: UInt64
    ) {
        w1 = Linear(
            name: name + ".w1", inFeatures: dim, outFeatures: hidden, initialization: initialization, seed: seed)
        w2 = Linear(
            name: name + ".w2", inFeatures: hidden, outFeatures: dim, initialization: initialization, seed: seed &+ 10)
        self.activation = activation
    }

    /// What `backward` needs: the input, the hidden pre-activation and the dropout masks.
    public struct Cache {
        let x: Matrix, pre: Matrix, act: Matrix
        /// The scaled dropout masks of the activation and of the output (nil where none).
        public let dropoutMask: [Float]?, outputMask: [Float]?
    }

    /// Dropout (rate `dropout`) on the activation and, with `outputDropout`, also on the output
    /// (as the SASRec authors' code: dropout after each of the two layers).
    public func forward(
        _ x: Matrix, dropout: Float, seed: UInt64, outputDropout: Bool = false,
        samples: Dropout.Samples? = nil
    ) -> (y: Matrix, cache: Cache) {
        let pre = w1.forward(x)
        var act = Matrix(
            rows: pre.rows, cols: pre.cols,
            unsafeUninitialized: { p in
                pre.withUnsafeBufferPointer { src in
                    switch activation {
                    case .relu: Kernels.relu(src, into: p)
                    case .gelu: Kernels.gelu(src, into: p)
                    }
                }
            })
        let mask = Dropout.apply(&act, rate: dropout, seed: seed, samples: samples)
        var y = w2.forward(act)
        let outMask = outputDropout ? Dropout.apply(&y, rate: dropout, seed: seed &+ 0x5EED, samples: samples) : nil
        return (y, Cache(x: x, pre: pre, act: act, dropoutMask: mask, outputMask: outMask))
    }

    /// Accumulates w1's and w2's gradients from `dy` and returns the input's gradient.
    public func backward(_ c: Cache, _ dy: Matrix) -> Matrix {
        var dAct: Matrix
        if let m = c.outputMask {
            var dOut = dy
            Dropout.backwardInPlace(&dOut, mask: m)
            dAct = w2.backward(c.act, dOut)
        } else {
            dAct = w2.backward(c.act, dy)
        }
        Dropout.backwardInPlace(&dAct, mask: c.dropoutMask)
        dAct.withUnsafeMutableBufferPointer { d in
            c.pre.withUnsafeBufferPointer { x in
                let n = d.count
                switch activation {
                case .relu:
                    typealias V = SIMD16<Float>
                    var i = 0
                    while i + 16 <= n {
                        let xv = VectorMath.load(x.baseAddress! + i)
                        VectorMath.store(
                            VectorMath.load(d.baseAddress! + i).replacing(with: 0, where: xv .<= 0), d.baseAddress! + i)
                        i += 16
                    }
                    while i < n {
                        if x[i] <= 0 { d[i] = 0 }
                        i += 1
                    }
                case .gelu:
                    for i in 0..<n {
                        let z = Double(x[i])
                        let cdf = 0.5 * (1 + erf(z / 2.0.squareRoot()))
                        let pdf = exp(-0.5 * z * z) / (2 * Double.pi).squareRoot()
                        d[i] *= Float(cdf + z * pdf)
                    }
                }
            }
        }
        return w1.backward(c.x, dAct)
    }
}

/// Matrix sum a + b (same shape).
func added(_ a: Matrix, _ b: Matrix) -> Matrix {
    var c = a
    c.withUnsafeMutableBufferPointer { p in
        b.withUnsafeBufferPointer { q in Kernels.addRow(q.baseAddress!, into: p.baseAddress!, count: p.count) }
    }
    return c
}

/// a += b in place (same shape).
@inline(__always)
func addInPlace(_ a: inout Matrix, _ b: Matrix) {
    precondition(a.rows == b.rows && a.cols == b.cols, "addInPlace: \(a.shapeDescription) and \(b.shapeDescription)")
    a.withUnsafeMutableBufferPointer { p in
        b.withUnsafeBufferPointer { q in Kernels.addRow(q.baseAddress!, into: p.baseAddress!, count: p.count) }
    }
}

/// Zeroes the rows of padding positions in place.
func maskInPlace(_ x: inout Matrix, _ padding: [Bool]) {
    let d = x.cols
    x.withUnsafeMutableBufferPointer { p in
        for (r, pad) in padding.enumerated() where pad { (p.baseAddress! + r * d).update(repeating: 0, count: d) }
    }
}

/// Zeroes the rows of padding positions.
func masked(_ x: Matrix, _ padding: [Bool]) -> Matrix {
    var y = x
    let d = x.cols
    y.withUnsafeMutableBufferPointer { p in
        for (r, pad) in padding.enumerated() where pad { for j in 0..<d { p[r * d + j] = 0 } }
    }
    return y
}

/// p[i] *= m[i].
@inline(__always)
func multiplyInPlace(_ p: UnsafeMutablePointer<Float>, _ m: UnsafePointer<Float>, count n: Int) {
    var i = 0
    while i + 16 <= n {
        VectorMath.store(VectorMath.load(p + i) * VectorMath.load(m + i), p + i)
        i += 16
    }
    while i < n {
        p[i] *= m[i]
        i += 1
    }
}

/// The rows `rows` of x, in that order.
func gatherRows(_ x: Matrix, _ rows: [Int]) -> Matrix {
    let d = x.cols
    var y = Matrix(rows: rows.count, cols: d)
    y.withUnsafeMutableBufferPointer { yp in
        x.withUnsafeBufferPointer { xp in
            for (i, r) in rows.enumerated() {
                (yp.baseAddress! + i * d).update(from: xp.baseAddress! + r * d, count: d)
            }
        }
    }
    return y
}

/// into[rows[i]] += x[i].
func scatterAddRows(_ x: Matrix, _ rows: [Int], into y: inout Matrix) {
    let d = x.cols
    precondition(
        y.cols == d && rows.count == x.rows,
        "scatterAddRows: \(x.shapeDescription) into \(y.shapeDescription) at \(rows.count) rows")
    y.withUnsafeMutableBufferPointer { yp in
        x.withUnsafeBufferPointer { xp in
            for (i, r) in rows.enumerated() {
                Kernels.addRow(xp.baseAddress! + i * d, into: yp.baseAddress! + r * d, count: d)
            }
        }
    }
}

/// A (total × d) matrix with x's rows at `rows`, zeros elsewhere.
func scatteredRows(_ x: Matrix, _ rows: [Int], total: Int) -> Matrix {
    var y = Matrix(rows: total, cols: x.cols)
    scatterAddRows(x, rows, into: &y)
    return y
}
