import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Adam (Kingma & Ba, ICLR 2015) with optional decoupled weight decay (AdamW, Loshchilov & Hutter,
/// ICLR 2019). Sparse parameters are updated lazily: only their touched rows, with the moment
/// estimates of those rows (as PyTorch's SparseAdam).
public final class Adam {
    /// The parameters it updates, in order (its moment buffers follow this order).
    public let parameters: [Parameter]
    /// The step size (may change between steps: SA2C's second phase).
    public var learningRate: Float
    /// Decay of the first moment's running mean.
    public let beta1: Float
    /// Decay of the second moment's running mean.
    public let beta2: Float
    /// Added to the second moment's square root in the denominator.
    public let eps: Float
    /// Decoupled weight decay (AdamW) per step, 0 for none.
    public var weightDecay: Float
    /// Sparse parameters: update only the touched rows with per-row step counts (true, as
    /// PyTorch's SparseAdam), or every row with the shared step count as for a dense tensor
    /// (false, as PyTorch's Adam and TensorFlow's AdamOptimizer on an embedding table).
    public var lazySparseRows = true
    var m: [[Float]], v: [[Float]]
    /// Steps taken (the bias correction's t).
    public private(set) var stepCount = 0
    var rowSteps: [[Int32]]
    /// A dense gradient buffer per sparse parameter updated as dense (`lazySparseRows` false),
    /// zeros between steps; empty otherwise.
    var scratch: [[Float]]
    /// (1 − β₁^t, 1 − β₂^t) by t.
    var corrections: [(Float, Float)] = []

    /// Adam (Kingma & Ba) over `parameters` with PyTorch's defaults; sparse parameters update only
    /// their touched rows, with per-row step counts.
    public init(
        parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
        eps: Float = 1e-8, weightDecay: Float = 0
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        m = parameters.map { [Float](repeating: 0, count: $0.value.count) }
        v = m
        rowSteps = parameters.map { [Int32](repeating: 0, count: $0.isSparse ? $0.rowCount : 0) }
        scratch = parameters.map { _ in [] }
    }

    /// One update from the current gradients. Dense parameters run a 16-lane vector loop with
    /// the bias corrections of the shared step count, in chunks of 2¹⁵ values spread over
    /// `parallelism`'s threads when a tensor has at least 2¹⁷ (the catalog head: the update reads
    /// and writes 28 bytes a value, bound by memory bandwidth); the result does not depend on the
    /// thread count (every value is updated alone, chunks start at multiples of 16). Sparse
    /// parameters update their touched rows with per-row step counts.
    public func step(parallelism: Parallelism = .automatic) {
        stepCount += 1
        // The bias corrections 1 − β^t for every t a row can be at (t ≤ stepCount), computed
        // once each (two `pow` calls a lazy row before).
        while corrections.count <= stepCount {
            let t = Float(corrections.count)
            corrections.append((1 - LibC.pow(beta1, t), 1 - LibC.pow(beta2, t)))
        }
        typealias V = SIMD16<Float>
        for (pi, p) in parameters.enumerated() {
            let c = p.rowLength
            let total = p.value.count
            let lazy = p.isSparse && lazySparseRows
            if p.isSparse && !lazySparseRows {
                // Every row with the shared step count, as for a dense tensor: the touched rows'
                // gradients are put in a kept dense buffer of zeros (and taken out after).
                scatterIntoDenseScratch(pi, p)
            }
            p.value.withUnsafeMutableBufferPointer { w in
                m[pi].withUnsafeMutableBufferPointer { mm in
                    v[pi].withUnsafeMutableBufferPointer { vv in
                        // Updates values lo..<hi, their gradients at gp (gp[0] is value lo's).
                        func update(_ lo: Int, _ hi: Int, t: Int, _ gp: UnsafePointer<Float>) {
                            let (bc1, bc2) = corrections[t]
                            let a = learningRate / bc1
                            let ib2 = 1 / bc2
                            let wd = learningRate * weightDecay
                            var j = lo
                            let b1 = V(repeating: beta1)
                            let b2 = V(repeating: beta2)
                            let o1 = V(repeating: 1 - beta1)
                            let o2 = V(repeating: 1 - beta2)
                            // Every value through the same 16-lane arithmetic (the last
                            // few in a partial vector): a value's update does not depend on
                            // where its lane falls, so a lazy row update is the dense one.
                            func lanes(_ gv: V, _ m0: V, _ v0: V, _ wv: V) -> (V, V, V) {
                                let mv = b1 * m0 + o1 * gv
                                let vv2 = b2 * v0 + o2 * gv * gv
                                let denom = VectorMath.sqrt(vv2 * V(repeating: ib2)) + V(repeating: eps)
                                return (mv, vv2, wv - V(repeating: a) * mv / denom - V(repeating: wd) * wv)
                            }
                            while j + 16 <= hi {
                                let (mv, vv2, wv) = lanes(
                                    VectorMath.load(gp + (j - lo)), VectorMath.load(mm.baseAddress! + j),
                                    VectorMath.load(vv.baseAddress! + j), VectorMath.load(w.baseAddress! + j))
                                VectorMath.store(mv, mm.baseAddress! + j)
                                VectorMath.store(vv2, vv.baseAddress! + j)
                                VectorMath.store(wv, w.baseAddress! + j)
                                j += 16
                            }
                            if j < hi {
                                let n = hi - j
                                let (mv, vv2, wv) = lanes(
                                    VectorMath.loadPartial(gp + (j - lo), n, fill: 0),
                                    VectorMath.loadPartial(mm.baseAddress! + j, n, fill: 0),
                                    VectorMath.loadPartial(vv.baseAddress! + j, n, fill: 0),
                                    VectorMath.loadPartial(w.baseAddress! + j, n, fill: 0))
                                VectorMath.storePartial(mv, mm.baseAddress! + j, n)
                                VectorMath.storePartial(vv2, vv.baseAddress! + j, n)
                                VectorMath.storePartial(wv, w.baseAddress! + j, n)
                            }
                        }
                        if lazy {
                            // In row order: the rows' values and moments are read forwards
                            // through memory (each row alone: any order gives the same bits).
                            let order = p.gradientRows.indices.sorted { p.gradientRows[$0] < p.gradientRows[$1] }
                            p.gradientValues.withUnsafeBufferPointer { g in
                                for k in order {
                                    let r = p.gradientRows[k]
                                    rowSteps[pi][r] += 1
                                    update(r * c, (r + 1) * c, t: Int(rowSteps[pi][r]), g.baseAddress! + k * c)
                                }
                            }
                        } else {
                            func dense(_ g: UnsafeBufferPointer<Float>) {
                                let chunk = 1 << 15
                                let t = stepCount
                                Threading.parallelFor(
                                    chunks: (total + chunk - 1) / chunk,
                                    parallelism: total >= 1 << 17 ? parallelism : .sequential
                                ) { i in
                                    update(
                                        i * chunk, Swift.min(total, (i + 1) * chunk), t: t, g.baseAddress! + i * chunk)
                                }
                            }
                            if p.isSparse {
                                scratch[pi].withUnsafeBufferPointer { dense($0) }
                            } else {
                                p.denseGrad.withUnsafeBufferPointer { dense($0) }
                            }
                        }
                    }
                }
            }
            if p.isSparse && !lazySparseRows { clearDenseScratch(pi, p) }
        }
    }

    /// Puts a sparse parameter's touched rows into its dense buffer (zeros elsewhere).
    func scatterIntoDenseScratch(_ pi: Int, _ p: Parameter) {
        if scratch[pi].count != p.value.count { scratch[pi] = [Float](repeating: 0, count: p.value.count) }
        let c = p.rowLength
        scratch[pi].withUnsafeMutableBufferPointer { s in
            p.gradientValues.withUnsafeBufferPointer { g in
                for (k, r) in p.gradientRows.enumerated() {
                    (s.baseAddress! + r * c).update(from: g.baseAddress! + k * c, count: c)
                }
            }
        }
    }

    /// Zeros the rows `scatterIntoDenseScratch` filled.
    func clearDenseScratch(_ pi: Int, _ p: Parameter) {
        let c = p.rowLength
        scratch[pi].withUnsafeMutableBufferPointer { s in
            for r in p.gradientRows { (s.baseAddress! + r * c).update(repeating: 0, count: c) }
        }
    }
}

extension Adam {
    /// The optimiser's state as tensors (`PREFIX.N.m`, `PREFIX.N.v`, `PREFIX.N.rows` per
    /// parameter N, and `PREFIX.step`), for checkpoints that resume training exactly.
    public func stateTensors(prefix: String) -> [String: Tensor] {
        var t = [String: Tensor]()
        t[prefix + ".step"] = Tensor(shape: [1], values: [Float(stepCount)])
        for i in parameters.indices {
            t["\(prefix).\(i).m"] = Tensor(shape: [m[i].count], values: m[i])
            t["\(prefix).\(i).v"] = Tensor(shape: [v[i].count], values: v[i])
            if !rowSteps[i].isEmpty {
                t["\(prefix).\(i).rows"] = Tensor(shape: [rowSteps[i].count], values: rowSteps[i].map(Float.init))
            }
        }
        return t
    }

    /// Restores what `stateTensors` wrote; all or nothing.
    /// - Throws: `.checkpoint` naming a missing or mis-sized tensor.
    public func loadState(_ t: [String: Tensor], prefix: String, file: String) throws(RecNNError) {
        guard let st = t[prefix + ".step"], st.values.count == 1 else {
            throw .checkpoint(file: file, tensor: prefix + ".step", message: "missing")
        }
        var nm = [[Float]]()
        var nv = [[Float]]()
        var nr = [[Int32]]()
        for i in parameters.indices {
            guard let a = t["\(prefix).\(i).m"], a.values.count == m[i].count else {
                throw .checkpoint(file: file, tensor: "\(prefix).\(i).m", message: "missing or wrong size")
            }
            guard let b = t["\(prefix).\(i).v"], b.values.count == v[i].count else {
                throw .checkpoint(file: file, tensor: "\(prefix).\(i).v", message: "missing or wrong size")
            }
            nm.append(a.values)
            nv.append(b.values)
            if rowSteps[i].isEmpty {
                nr.append([])
            } else {
                guard let r = t["\(prefix).\(i).rows"], r.values.count == rowSteps[i].count else {
                    throw .checkpoint(file: file, tensor: "\(prefix).\(i).rows", message: "missing or wrong size")
                }
                nr.append(r.values.map { Int32($0) })
            }
        }
        m = nm
        v = nv
        rowSteps = nr
        stepCount = Int(st.values[0])
    }
}

/// Scales every gradient so that their global L2 norm is at most `maxNorm`; returns the norm
/// before clipping (PyTorch's clip_grad_norm_).
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var total: Double = 0
    // A sparse gradient's rows in row order: the dense sum's terms without its zeros.
    for p in parameters {
        if p.isSparse {
            let c = p.rowLength
            let order = p.gradientRows.indices.sorted { p.gradientRows[$0] < p.gradientRows[$1] }
            p.gradientValues.withUnsafeBufferPointer { g in
                for k in order { for j in 0..<c { total += Double(g[k * c + j]) * Double(g[k * c + j]) } }
            }
        } else {
            p.denseGrad.withUnsafeBufferPointer { g in for x in g { total += Double(x) * Double(x) } }
        }
    }
    let norm = Float(total.squareRoot())
    if norm > maxNorm && norm > 0 {
        let s = maxNorm / norm
        for p in parameters {
            if p.isSparse {
                p.gradientValues.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= s } }
            } else {
                p.denseGrad.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= s } }
            }
        }
    }
    return norm
}
