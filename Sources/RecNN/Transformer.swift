import Foundation
import RecCore

/// Element-wise dropout with a seeded mask (inverted: kept values are scaled by 1/(1 − rate)).
public enum Dropout {
    /// Returns y = x ⊙ mask and the mask (already scaled); rate 0 returns x and nil.
    public static func forward(_ x: Matrix, rate: Float, seed: UInt64) -> (y: Matrix, mask: [Float]?) {
        guard rate > 0 else { return (x, nil) }
        var mask = [Float](repeating: 0, count: x.count)
        mask.withUnsafeMutableBufferPointer { RandomStream(seed: seed).fillUniform($0, parallelism: .sequential) }
        let keep = 1 / (1 - rate)
        for i in mask.indices { mask[i] = mask[i] < rate ? 0 : keep }
        var y = x
        y.withUnsafeMutableBufferPointer { p in mask.withUnsafeBufferPointer { m in multiplyInPlace(p.baseAddress!, m.baseAddress!, count: p.count) } }
        return (y, mask)
    }

    /// dx = dy ⊙ mask.
    public static func backward(_ dy: Matrix, mask: [Float]?) -> Matrix {
        guard let mask else { return dy }
        var dx = dy
        dx.withUnsafeMutableBufferPointer { p in mask.withUnsafeBufferPointer { m in multiplyInPlace(p.baseAddress!, m.baseAddress!, count: p.count) } }
        return dx
    }
}

/// Multi-head attention with input and output projections (as PyTorch's MultiheadAttention):
/// queries are projected from `queries`, keys and values from `keys`.
public final class MultiHeadAttention: Module {
    public let q: Linear, k: Linear, v: Linear, o: Linear
    public let heads: Int
    public var parameters: [Parameter] { q.parameters + k.parameters + v.parameters + o.parameters }

    public init(name: String, dim: Int, heads: Int, initialization: Initialization, seed: UInt64) {
        precondition(dim % heads == 0, "MultiHeadAttention: dim \(dim) is not a multiple of heads \(heads)")
        self.heads = heads
        q = Linear(name: name + ".q", inFeatures: dim, outFeatures: dim, initialization: initialization, seed: seed)
        k = Linear(name: name + ".k", inFeatures: dim, outFeatures: dim, initialization: initialization, seed: seed &+ 10)
        v = Linear(name: name + ".v", inFeatures: dim, outFeatures: dim, initialization: initialization, seed: seed &+ 20)
        o = Linear(name: name + ".out", inFeatures: dim, outFeatures: dim, initialization: initialization, seed: seed &+ 30)
    }

    public struct Cache {
        let queries: Matrix, keys: Matrix, qp: Matrix, kp: Matrix, vp: Matrix, attended: Matrix
        let attention: Attention.Cache, shape: Attention.Shape
    }

    public func forward(queries: Matrix, keys: Matrix, batch: Int, length: Int, keyPadding: [Bool]?,
                        dropout: Attention.Dropout?) -> (y: Matrix, cache: Cache) {
        let shape = Attention.Shape(batch: batch, length: length, heads: heads, headDim: q.outFeatures / heads)
        let qp = q.forward(queries), kp = k.forward(keys), vp = v.forward(keys)
        let (att, ac) = Attention.forward(q: qp, k: kp, v: vp, shape: shape, causal: true, keyPadding: keyPadding, dropout: dropout)
        return (o.forward(att), Cache(queries: queries, keys: keys, qp: qp, kp: kp, vp: vp, attended: att, attention: ac, shape: shape))
    }

    /// Returns (d queries, d keys).
    public func backward(_ c: Cache, _ dy: Matrix) -> (dQueries: Matrix, dKeys: Matrix) {
        let dAtt = o.backward(c.attended, dy)
        let (dqp, dkp, dvp) = Attention.backward(dOutput: dAtt, q: c.qp, k: c.kp, v: c.vp, cache: c.attention, shape: c.shape)
        let dQueries = q.backward(c.queries, dqp)
        var dKeys = k.backward(c.keys, dkp)
        v.backward(c.keys, dvp, accumulatingInto: &dKeys)
        return (dQueries, dKeys)
    }
}

/// Position-wise feed-forward network: `W₂ act(W₁ x + b₁) + b₂`.
public final class FeedForward: Module {
    public enum Activation: Sendable { case relu, gelu }
    public let w1: Linear, w2: Linear
    public let activation: Activation
    public var parameters: [Parameter] { w1.parameters + w2.parameters }

    public init(name: String, dim: Int, hidden: Int, activation: Activation, initialization: Initialization, seed: UInt64) {
        w1 = Linear(name: name + ".w1", inFeatures: dim, outFeatures: hidden, initialization: initialization, seed: seed)
        w2 = Linear(name: name + ".w2", inFeatures: hidden, outFeatures: dim, initialization: initialization, seed: seed &+ 10)
        self.activation = activation
    }

    public struct Cache { let x: Matrix, pre: Matrix, act: Matrix, dropoutMask: [Float]? }

    public func forward(_ x: Matrix, dropout: Float, seed: UInt64) -> (y: Matrix, cache: Cache) {
        let pre = w1.forward(x)
        var act = pre
        act.withUnsafeMutableBufferPointer { p in
            switch activation {
            case .relu: Kernels.relu(UnsafeBufferPointer(p), into: p)
            case .gelu: Kernels.gelu(UnsafeBufferPointer(p), into: p)
            }
        }
        let (dropped, mask) = Dropout.forward(act, rate: dropout, seed: seed)
        return (w2.forward(dropped), Cache(x: x, pre: pre, act: dropped, dropoutMask: mask))
    }

    public func backward(_ c: Cache, _ dy: Matrix) -> Matrix {
        var dAct = Dropout.backward(w2.backward(c.act, dy), mask: c.dropoutMask)
        dAct.withUnsafeMutableBufferPointer { d in c.pre.withUnsafeBufferPointer { x in
            let n = d.count
            switch activation {
            case .relu:
                typealias V = SIMD16<Float>
                var i = 0
                while i + 16 <= n {
                    let xv = VectorMath.load(x.baseAddress! + i)
                    VectorMath.store(VectorMath.load(d.baseAddress! + i).replacing(with: 0, where: xv .<= 0), d.baseAddress! + i)
                    i += 16
                }
                while i < n { if x[i] <= 0 { d[i] = 0 }; i += 1 }
            case .gelu:
                for i in 0..<n {
                    let z = Double(x[i])
                    let cdf = 0.5 * (1 + erf(z / 2.0.squareRoot())), pdf = exp(-0.5 * z * z) / (2 * Double.pi).squareRoot()
                    d[i] *= Float(cdf + z * pdf)
                }
            }
        } }
        return w1.backward(c.x, dAct)
    }
}

/// Matrix sum a + b (same shape).
func added(_ a: Matrix, _ b: Matrix) -> Matrix {
    var c = a
    c.withUnsafeMutableBufferPointer { p in b.withUnsafeBufferPointer { q in addRow(q.baseAddress!, into: p.baseAddress!, count: p.count) } }
    return c
}

/// a += b in place (same shape).
@inline(__always)
func addInPlace(_ a: inout Matrix, _ b: Matrix) {
    precondition(a.rows == b.rows && a.cols == b.cols, "addInPlace: \(a.shapeDescription) and \(b.shapeDescription)")
    a.withUnsafeMutableBufferPointer { p in b.withUnsafeBufferPointer { q in addRow(q.baseAddress!, into: p.baseAddress!, count: p.count) } }
}

/// Zeroes the rows of padding positions in place.
func maskInPlace(_ x: inout Matrix, _ padding: [Bool]) {
    let d = x.cols
    x.withUnsafeMutableBufferPointer { p in for (r, pad) in padding.enumerated() where pad { (p.baseAddress! + r * d).update(repeating: 0, count: d) } }
}

/// Zeroes the rows of padding positions.
func masked(_ x: Matrix, _ padding: [Bool]) -> Matrix {
    var y = x
    let d = x.cols
    y.withUnsafeMutableBufferPointer { p in for (r, pad) in padding.enumerated() where pad { for j in 0..<d { p[r * d + j] = 0 } } }
    return y
}

/// p[i] *= m[i].
@inline(__always)
func multiplyInPlace(_ p: UnsafeMutablePointer<Float>, _ m: UnsafePointer<Float>, count n: Int) {
    var i = 0
    while i + 16 <= n { VectorMath.store(VectorMath.load(p + i) * VectorMath.load(m + i), p + i); i += 16 }
    while i < n { p[i] *= m[i]; i += 1 }
}
