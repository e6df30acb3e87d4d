import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A one-layer GRU with PyTorch's equations and parameter layout (gate order r, z, n):
///
///     r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
///     n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h
///
/// Sequences are batched as (B·L) × in rows (row b·L + t). At a padding position the state is
/// carried over unchanged (h' = h), so left- and right-padded sequences both end in the state of
/// their last real item. The input projections of all steps are one GEMM; each step adds one
/// B × H × 3H GEMM.
public final class GRU: Module {
    /// Input-to-hidden weights, 3h × input (reset, update, new gates, as `torch.nn.GRU`).
    public let weightIH: Parameter
    /// Hidden-to-hidden weights, 3h × h.
    public let weightHH: Parameter
    /// Input-to-hidden bias, 3h (1-D in checkpoints).
    public let biasIH: Parameter
    /// Hidden-to-hidden bias, 3h.
    public let biasHH: Parameter
    /// The hidden size h.
    public var hidden: Int { weightHH.value.cols }
    /// The input size.
    public var inputSize: Int { weightIH.value.cols }
    /// The weights, then the biases (`torch.nn.GRU`'s order).
    public var parameters: [Parameter] { [weightIH, weightHH, biasIH, biasHH] }

    /// A one-layer GRU with PyTorch's parameter names (`NAME.weight_ih_l0`, ...), initialised
    /// uniformly in ±1/√h (or as `initialization` says, biases zero).
    public init(name: String, input: Int, hidden: Int, initialization: Initialization = .pytorchDefault, seed: UInt64) {
        let bound = 1 / Float(hidden).squareRoot()
        func make(_ n: String, _ r: Int, _ c: Int, _ s: UInt64) -> Parameter {
            switch initialization {
            case .pytorchDefault:
                return Parameter(
                    name: name + "." + n,
                    value: Matrix.random(r, c, seed: s, distribution: .uniform(low: -bound, high: bound)),
                    vector: n.hasPrefix("bias"))
            case .normal(let std):
                return Parameter(
                    name: name + "." + n,
                    value: n.hasPrefix("bias")
                        ? Matrix.zeros(r, c) : Matrix.random(r, c, seed: s, distribution: .normal(mean: 0, std: std)),
                    vector: n.hasPrefix("bias"))
            case .xavierUniform:
                let g = (6 / Float(r + c)).squareRoot()
                return Parameter(
                    name: name + "." + n,
                    value: n.hasPrefix("bias")
                        ? Matrix.zeros(r, c) : Matrix.random(r, c, seed: s, distribution: .uniform(low: -g, high: g)),
                    vector: n.hasPrefix("bias"))
            }
        }
        weightIH = make("weight_ih_l0", 3 * hidden, input, seed)
        weightHH = make("weight_hh_l0", 3 * hidden, hidden, seed &+ 1)
        biasIH = make("bias_ih_l0", 1, 3 * hidden, seed &+ 2)
        biasHH = make("bias_hh_l0", 1, 3 * hidden, seed &+ 3)
    }

    /// What `backward` needs: the gates and hidden states of every step.
    public struct Cache {
        let x: Matrix, padding: [Bool], batch: Int, length: Int
        /// Per step t (B × H each): previous state, r, z, n, and W_hn h + b_hn.
        let hPrev: [Matrix], r: [Matrix], z: [Matrix], n: [Matrix], hn: [Matrix]
    }

    static func sigmoid(_ v: Float) -> Float { 1 / (1 + exp(-v)) }

    /// Runs the GRU over `x` ((B·L) × input); returns every step's state ((B·L) × H) and the
    /// final states (B × H).
    public func forward(_ x: Matrix, batch B: Int, length L: Int, padding: [Bool]) -> (
        outputs: Matrix, final: Matrix, cache: Cache
    ) {
        let H = hidden
        precondition(
            x.rows == B * L && x.cols == inputSize,
            "GRU.forward: x is \(x.shapeDescription), expected \(B * L)×\(inputSize)")
        precondition(padding.count == B * L, "GRU.forward: \(padding.count) padding flags for \(B * L) rows")
        // Input projections of all steps at once.
        var xi = Matrix(rows: B * L, cols: 3 * H)
        xi.withUnsafeMutableBufferPointer { p in
            biasIH.value.withUnsafeBufferPointer { b in
                for r in 0..<(B * L) { for j in 0..<(3 * H) { p[r * 3 * H + j] = b[j] } }
            }
        }
        gemm(x, weightIH.value, into: &xi, transposeB: .transpose, beta: 1)
        var h = Matrix(rows: B, cols: H)
        var outputs = Matrix(rows: B * L, cols: H)
        var hPrev = [Matrix]()
        var rs = [Matrix]()
        var zs = [Matrix]()
        var ns = [Matrix]()
        var hns = [Matrix]()
        for t in 0..<L {
            var hh = Matrix(rows: B, cols: 3 * H)
            hh.withUnsafeMutableBufferPointer { p in
                biasHH.value.withUnsafeBufferPointer { b in
                    for r in 0..<B { for j in 0..<(3 * H) { p[r * 3 * H + j] = b[j] } }
                }
            }
            gemm(h, weightHH.value, into: &hh, transposeB: .transpose, beta: 1)
            var r = Matrix(rows: B, cols: H)
            var z = r
            var n = r
            var hn = r
            var next = h
            for b in 0..<B {
                let row = b * L + t
                for j in 0..<H {
                    let rv = GRU.sigmoid(xi[row, j] + hh[b, j])
                    let zv = GRU.sigmoid(xi[row, H + j] + hh[b, H + j])
                    let hnv = hh[b, 2 * H + j]
                    let nv = tanh(xi[row, 2 * H + j] + rv * hnv)
                    r[b, j] = rv
                    z[b, j] = zv
                    hn[b, j] = hnv
                    n[b, j] = nv
                    if !padding[row] { next[b, j] = (1 - zv) * nv + zv * h[b, j] }
                }
            }
            hPrev.append(h)
            rs.append(r)
            zs.append(z)
            ns.append(n)
            hns.append(hn)
            h = next
            for b in 0..<B { outputs.setRow(b * L + t, h.row(b)) }
        }
        return (
            outputs, h, Cache(x: x, padding: padding, batch: B, length: L, hPrev: hPrev, r: rs, z: zs, n: ns, hn: hns)
        )
    }

    /// Backpropagation through time from the gradient of the final states (B × H) and, if given,
    /// of every step's state ((B·L) × H). Accumulates the parameter gradients; returns dx.
    public func backward(_ c: Cache, dFinal: Matrix, dOutputs: Matrix? = nil) -> Matrix {
        let H = hidden
        let B = c.batch
        let L = c.length
        var dh = dFinal
        var dxi = Matrix(rows: B * L, cols: 3 * H)
        for t in stride(from: L - 1, through: 0, by: -1) {
            if let dOut = dOutputs {
                for b in 0..<B { for j in 0..<H { dh[b, j] += dOut[b * L + t, j] } }
            }
            var dhh = Matrix(rows: B, cols: 3 * H)
            var dPrev = Matrix(rows: B, cols: H)
            let r = c.r[t]
            let z = c.z[t]
            let n = c.n[t]
            let hn = c.hn[t]
            let hp = c.hPrev[t]
            for b in 0..<B {
                let row = b * L + t
                if c.padding[row] {
                    for j in 0..<H { dPrev[b, j] = dh[b, j] }
                    continue
                }
                for j in 0..<H {
                    let g = dh[b, j]
                    let dn = g * (1 - z[b, j])
                    let dz = g * (hp[b, j] - n[b, j])
                    dPrev[b, j] = g * z[b, j]
                    let dnPre = dn * (1 - n[b, j] * n[b, j])
                    let dr = dnPre * hn[b, j]
                    let drPre = dr * r[b, j] * (1 - r[b, j])
                    let dzPre = dz * z[b, j] * (1 - z[b, j])
                    dxi[row, j] = drPre
                    dxi[row, H + j] = dzPre
                    dxi[row, 2 * H + j] = dnPre
                    dhh[b, j] = drPre
                    dhh[b, H + j] = dzPre
                    dhh[b, 2 * H + j] = dnPre * r[b, j]
                }
            }
            gemm(dhh, hp, into: &weightHH.grad, transposeA: .transpose, beta: 1)
            biasHH.grad.withUnsafeMutableBufferPointer { g in
                for b in 0..<B { for j in 0..<(3 * H) { g[j] += dhh[b, j] } }
            }
            gemm(dhh, weightHH.value, into: &dPrev, beta: 1)
            dh = dPrev
        }
        gemm(dxi, c.x, into: &weightIH.grad, transposeA: .transpose, beta: 1)
        biasIH.grad.withUnsafeMutableBufferPointer { g in
            for r in 0..<(B * L) { for j in 0..<(3 * H) { g[j] += dxi[r, j] } }
        }
        return matmul(dxi, weightIH.value)
    }
}

/// GRU4Rec (Hidasi et al., ICLR 2016) as a state encoder: item embeddings (0 = padding), dropout,
/// one GRU layer; the state is the GRU state after the last real item.
public final class GRU4Rec: Module {
    /// The item embedding table (item 0 is padding).
    public let itemEmbedding: Embedding
    /// The recurrent layer (`gru.*`).
    public let gru: GRU
    /// The state length L (items per history).
    public let length: Int
    /// The dropout rate on the embeddings (training only).
    public let dropout: Float
    /// The embedding table, then the GRU's parameters.
    public var parameters: [Parameter] { itemEmbedding.parameters + gru.parameters }

    /// GRU4Rec (Hidasi et al. 2016) as in the SQN papers' baselines: embeddings of `dim`, one GRU
    /// layer of `hidden`, the state the hidden vector after the last real item.
    public init(
        items: Int, length: Int, dim: Int, hidden: Int, dropout: Float = 0.1,
        initialization: Initialization = .pytorchDefault, seed: UInt64
    ) {
        itemEmbedding = Embedding(
            name: "item_embedding", vocabulary: items + 1, dimension: dim, paddingIndex: 0,
            initialization: initialization, seed: seed)
        gru = GRU(name: "gru", input: dim, hidden: hidden, initialization: initialization, seed: seed &+ 1)
        self.length = length
        self.dropout = dropout
    }

    /// What `backward` needs from `forward`.
    public struct Cache { let ids: [Int], dropoutMask: [Float]?, gru: GRU.Cache }

    /// The state of each sequence (B × hidden) and what `backward` needs.
    /// - Parameters:
    ///   - sequences: B rows of L item ids (0 = padding).
    ///   - training: whether dropout applies.
    ///   - seed: the dropout masks' seed.
    ///   - firstSample: the index of `sequences[0]` in the whole batch (dropout masks
    ///     are drawn per sequence, as `SASRec.forward`'s).
    /// - Throws: `.itemOutOfRange` naming an id and its position in the batch.
    public func forward(_ sequences: [[Int]], training: Bool, seed: UInt64 = 0, firstSample: Int = 0) throws(RecNNError)
        -> (states: Matrix, cache: Cache)
    {
        let L = length
        var ids = [Int]()
        for (b, s) in sequences.enumerated() {
            precondition(s.count == L, "GRU4Rec.forward: sequence \(b) has \(s.count) ids, the model takes \(L)")
            ids += s
        }
        let (x, mask) = Dropout.forward(
            try itemEmbedding.forward(ids), rate: training ? dropout : 0, seed: seed,
            samples: Dropout.Samples(first: firstSample, count: sequences.count))
        let (_, final, gc) = gru.forward(x, batch: sequences.count, length: L, padding: ids.map { $0 == 0 })
        return (final, Cache(ids: ids, dropoutMask: mask, gru: gc))
    }

    /// Accumulates the gradients of the embedding table and the GRU from `dStates` (B × hidden).
    public func backward(_ c: Cache, _ dStates: Matrix) {
        let dx = gru.backward(c.gru, dFinal: dStates)
        itemEmbedding.backward(c.ids, Dropout.backward(dx, mask: c.dropoutMask))
    }
}
