import Foundation
import RecCore
import RecIO

/// A trainable tensor with its gradient. Layers own their parameters; optimisers update them in
/// place. `touchedRows` marks the rows a sparse gradient filled (embeddings), so an optimiser
/// or a zeroing pass can visit only those.
public final class Parameter {
    /// The checkpoint name (PyTorch state-dict style, e.g. `encoder.blocks.0.attn.q.weight`).
    public let name: String
    /// The values (a 1 × n matrix for a vector).
    public var value: Matrix
    /// The gradient, the shape of `value`; backward passes add into it.
    public var grad: Matrix
    /// Rows with a non-zero gradient when the gradient is sparse; nil for dense gradients.
    public var touchedRows: Set<Int>?
    /// Whether the parameter is a vector (a bias, a LayerNorm gain): held as a 1 × n matrix,
    /// written to checkpoints as a 1-D tensor of shape [n], as PyTorch's state dicts hold it.
    public let isVector: Bool

    /// - Precondition: a vector parameter has one row.
    public init(name: String, value: Matrix, sparse: Bool = false, vector: Bool = false) {
        precondition(!vector || value.rows == 1, "Parameter \(name): a vector parameter has one row, got \(value.rows)")
        self.name = name
        self.value = value
        grad = Matrix(rows: value.rows, cols: value.cols)
        touchedRows = sparse ? [] : nil
        isVector = vector
    }

    /// The shape checkpoints hold: [n] for a vector, [rows, cols] otherwise.
    public var checkpointShape: [Int] { isVector ? [value.cols] : [value.rows, value.cols] }

    /// The parameter's values as a checkpoint tensor (shape `checkpointShape`).
    public var tensor: Tensor { Tensor(shape: checkpointShape, values: value.storage) }

    /// Whether a checkpoint tensor of `shape` holds this parameter: `checkpointShape`, or
    /// [1, n] for a vector (checkpoints written before vectors were 1-D).
    public func accepts(shape: [Int]) -> Bool {
        shape == checkpointShape || shape == [value.rows, value.cols]
    }

    /// Adds `other`'s gradient into this one: over `other`'s touched rows when it is sparse (they
    /// join this one's), element by element otherwise. Replicas of a model that computed parts of
    /// a batch are added this way.
    public func accumulateGradient(from other: Parameter) {
        let c = grad.cols
        if let rows = other.touchedRows {
            grad.withUnsafeMutableBufferPointer { g in
                other.grad.withUnsafeBufferPointer { t in
                    for row in rows { for j in 0..<c { g[row * c + j] += t[row * c + j] } }
                }
            }
            touchedRows?.formUnion(rows)
        } else {
            grad.withUnsafeMutableBufferPointer { g in
                other.grad.withUnsafeBufferPointer { t in
                    for i in g.indices { g[i] += t[i] }
                }
            }
        }
    }

    /// Clears the gradient (only the touched rows of a sparse one).
    public func zeroGrad() {
        if let rows = touchedRows {
            let c = grad.cols
            grad.withUnsafeMutableBufferPointer { g in for r in rows { for j in 0..<c { g[r * c + j] = 0 } } }
            touchedRows = []
        } else if grad.rows == value.rows && grad.cols == value.cols {
            // In place: a fresh allocation of a large tensor costs a page fault per 4 KB page on
            // its first write (the catalog head's gradient: 6,250 a step at N = 100k, d = 64).
            grad.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        } else {
            grad = Matrix(rows: value.rows, cols: value.cols)
        }
    }
}

/// Something with parameters.
public protocol Module: AnyObject {
    /// Every parameter, in a fixed order (checkpoints and optimisers use it).
    var parameters: [Parameter] { get }
}

extension Module {
    /// Sets every parameter's gradient to zero (in place).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// Writes the parameters to a safetensors file (atomically).
    public func save(to path: String, metadata: [String: String] = [:]) throws(RecIOError) {
        var t = [String: Tensor]()
        for p in parameters { t[p.name] = p.tensor }
        try SafeTensors.write(t, metadata: metadata, to: path)
    }

    /// Loads parameters from a safetensors file. Every parameter must be present with a matching
    /// shape (a vector parameter of n values accepts shape [n] or, as older files hold it,
    /// [1, n]); otherwise nothing is changed and the error names the tensor.
    public func load(from path: String) throws(RecNNError) {
        let file: [String: Tensor]
        do { file = try SafeTensors.read(path).tensors } catch { throw .io(error) }
        var staged = [(Parameter, Matrix)]()
        for p in parameters {
            guard let t = file[p.name] else { throw .checkpoint(file: path, tensor: p.name, message: "missing") }
            let rows = p.value.rows
            let cols = p.value.cols
            guard p.accepts(shape: t.shape) else {
                throw .checkpoint(
                    file: path, tensor: p.name, message: "shape \(t.shape), expected \(p.checkpointShape)")
            }
            staged.append((p, Matrix(rows: rows, cols: cols, elements: t.values)))
        }
        for (p, m) in staged { p.value = m }
    }
}

/// Parameter initialisation schemes.
public enum Initialization: Sendable {
    /// PyTorch's defaults: Linear weight and bias U(−1/√fan_in, 1/√fan_in); embeddings N(0, 1).
    case pytorchDefault
    /// N(0, std²) for weights and embeddings, zero biases (the SQN authors used std = 0.01).
    case normal(std: Float)
    /// TensorFlow's dense-layer defaults, as in the SQN/SA2C authors' code: weights
    /// U(±√(6/(fan_in + fan_out))) (Glorot), zero biases; embeddings N(0, embeddingStd²).
    case xavierUniform(embeddingStd: Float)
}

/// `y = x Wᵀ + b` with W out×in (PyTorch layout).
public final class Linear: Module {
    /// The weights, out × in (PyTorch's layout).
    public let weight: Parameter
    /// The bias, out (nil for a layer without one).
    public let bias: Parameter?
    /// Input features.
    public var inFeatures: Int { weight.value.cols }
    /// Output features.
    public var outFeatures: Int { weight.value.rows }
    /// The weight, then the bias.
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// y = x Wᵀ + b with `NAME.weight` and `NAME.bias`, initialised as `initialization` says (seeded).
    public init(
        name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true,
        initialization: Initialization = .pytorchDefault, seed: UInt64
    ) {
        let bound = 1 / Float(inFeatures).squareRoot()
        switch initialization {
        case .pytorchDefault:
            weight = Parameter(
                name: name + ".weight",
                value: Matrix.random(
                    outFeatures, inFeatures, seed: seed, distribution: .uniform(low: -bound, high: bound)))
            self.bias =
                bias
                ? Parameter(
                    name: name + ".bias",
                    value: Matrix.random(
                        1, outFeatures, seed: seed &+ 1, distribution: .uniform(low: -bound, high: bound)),
                    vector: true) : nil
        case .normal(let std):
            weight = Parameter(
                name: name + ".weight",
                value: Matrix.random(outFeatures, inFeatures, seed: seed, distribution: .normal(mean: 0, std: std)))
            self.bias = bias ? Parameter(name: name + ".bias", value: Matrix.zeros(1, outFeatures), vector: true) : nil
        case .xavierUniform:
            let g = (6 / Float(inFeatures + outFeatures)).squareRoot()
            weight = Parameter(
                name: name + ".weight",
                value: Matrix.random(outFeatures, inFeatures, seed: seed, distribution: .uniform(low: -g, high: g)))
            self.bias = bias ? Parameter(name: name + ".bias", value: Matrix.zeros(1, outFeatures), vector: true) : nil
        }
    }

    /// x: n×in → n×out.
    /// - Complexity: 2·n·in·out FLOPs.
    public func forward(_ x: Matrix) -> Matrix {
        precondition(
            x.cols == inFeatures,
            "Linear.forward: input is \(x.shapeDescription), weight is \(weight.value.shapeDescription)")
        guard let b = bias else { return matmul(x, weight.value, transposeB: .transpose) }
        // y = bias rows, then y += x Wᵀ (β = 1); the bias copy fills every element.
        let o = outFeatures
        var y = Matrix(
            rows: x.rows, cols: o,
            unsafeUninitialized: { yp in
                b.value.withUnsafeBufferPointer { bp in
                    for r in 0..<x.rows { (yp.baseAddress! + r * o).update(from: bp.baseAddress!, count: o) }
                }
            })
        gemm(x, weight.value, into: &y, transposeB: .transpose, beta: 1)
        return y
    }

    /// Accumulates dW += dyᵀx and db += Σ dy; returns dx = dy W.
    /// - Complexity: 4·n·in·out FLOPs.
    @discardableResult
    public func backward(_ x: Matrix, _ dy: Matrix) -> Matrix {
        precondition(
            dy.rows == x.rows && dy.cols == outFeatures,
            "Linear.backward: dy is \(dy.shapeDescription), expected \(x.rows)×\(outFeatures)")
        accumulateParameterGradients(x, dy)
        return matmul(dy, weight.value)
    }

    /// dW += dyᵀx and db += Σ dy.
    private func accumulateParameterGradients(_ x: Matrix, _ dy: Matrix) {
        gemm(dy, x, into: &weight.grad, transposeA: .transpose, beta: 1)
        if let b = bias {
            let o = outFeatures
            b.grad.withUnsafeMutableBufferPointer { g in
                dy.withUnsafeBufferPointer { d in
                    for r in 0..<dy.rows { addRow(d.baseAddress! + r * o, into: g.baseAddress!, count: o) }
                }
            }
        }
    }

    /// As `backward`, but adds dx = dy W into `dx` (one GEMM with β = 1, no new matrix).
    public func backward(_ x: Matrix, _ dy: Matrix, accumulatingInto dx: inout Matrix) {
        precondition(
            dy.rows == x.rows && dy.cols == outFeatures && dx.rows == x.rows && dx.cols == inFeatures,
            "Linear.backward: dy is \(dy.shapeDescription), dx is \(dx.shapeDescription), expected \(x.rows)×\(outFeatures) and \(x.rows)×\(inFeatures)"
        )
        accumulateParameterGradients(x, dy)
        gemm(dy, weight.value, into: &dx, beta: 1)
    }
}

/// Layer normalisation over the last dimension with learned scale and shift (PyTorch LayerNorm).
public final class LayerNorm: Module {
    /// The gain γ (`NAME.weight`, 1-D in checkpoints).
    public let gamma: Parameter
    /// The shift β (`NAME.bias`).
    public let beta: Parameter
    /// Added to the variance before the square root.
    public let eps: Float
    /// The gain, then the shift.
    public var parameters: [Parameter] { [gamma, beta] }

    /// Layer normalisation over `features` with γ = 1 and β = 0.
    public init(name: String, features: Int, eps: Float = 1e-5) {
        gamma = Parameter(name: name + ".weight", value: Matrix(rows: 1, cols: features, repeating: 1), vector: true)
        beta = Parameter(name: name + ".bias", value: Matrix.zeros(1, features), vector: true)
        self.eps = eps
    }

    /// What `backward` needs from `forward`.
    public struct Cache {
        /// The normalised input (x − mean)/σ.
        public let xhat: Matrix
        /// 1/σ per row.
        public let rstd: [Float]
    }

    /// y = γ·(x − mean)/√(var + eps) + β per row, and what `backward` needs.
    public func forward(_ x: Matrix) -> (y: Matrix, cache: Cache) {
        let d = gamma.value.cols
        precondition(x.cols == d, "LayerNorm.forward: input is \(x.shapeDescription), features \(d)")
        var rstd = [Float](repeating: 0, count: x.rows)
        let xhat = Matrix(
            rows: x.rows, cols: d,
            unsafeUninitialized: { xp in
                x.withUnsafeBufferPointer { src in
                    for r in 0..<x.rows {
                        let row = UnsafeMutableBufferPointer(rebasing: xp[(r * d)..<((r + 1) * d)])
                        rstd[r] =
                            Kernels.layerNorm(
                                UnsafeBufferPointer(rebasing: src[(r * d)..<((r + 1) * d)]), gamma: nil, beta: nil,
                                eps: eps, into: row
                            ).rstd
                    }
                }
            })
        let y = Matrix(
            rows: x.rows, cols: d,
            unsafeUninitialized: { yp in
                xhat.withUnsafeBufferPointer { xh in
                    gamma.value.withUnsafeBufferPointer { g in
                        beta.value.withUnsafeBufferPointer { b in
                            for r in 0..<x.rows {
                                affineRow(
                                    xh.baseAddress! + r * d, g.baseAddress!, b.baseAddress!,
                                    into: yp.baseAddress! + r * d, count: d)
                            }
                        }
                    }
                }
            })
        return (y, Cache(xhat: xhat, rstd: rstd))
    }

    /// dγ += Σ dy·x̂, dβ += Σ dy; dx = r/d · (d·g − Σg − x̂·Σ(g·x̂)) with g = dy·γ.
    @discardableResult
    public func backward(_ cache: Cache, _ dy: Matrix) -> Matrix {
        let d = gamma.value.cols
        let n = dy.rows
        var dx = Matrix(rows: n, cols: d)
        gamma.grad.withUnsafeMutableBufferPointer { gg in
            beta.grad.withUnsafeMutableBufferPointer { bg in
                gamma.value.withUnsafeBufferPointer { g in
                    cache.xhat.withUnsafeBufferPointer { xh in
                        dy.withUnsafeBufferPointer { dyp in
                            dx.withUnsafeMutableBufferPointer { dxp in
                                for r in 0..<n {
                                    layerNormBackwardRow(
                                        dyp.baseAddress! + r * d, xh.baseAddress! + r * d, g.baseAddress!,
                                        rstd: cache.rstd[r],
                                        dx: dxp.baseAddress! + r * d, dGamma: gg.baseAddress!, dBeta: bg.baseAddress!,
                                        count: d)
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// An embedding table with a padding id (its row is zero and never updated) and a sparse
/// gradient over the rows a batch used.
public final class Embedding: Module {
    /// The table, vocabulary × dimension (`NAME.weight`; sparse gradient rows).
    public let table: Parameter
    /// The row that is padding: zero and never updated (nil for none).
    public let paddingIndex: Int?
    /// Rows of the table.
    public var vocabulary: Int { table.value.rows }
    /// Columns of the table.
    public var dimension: Int { table.value.cols }
    /// The table.
    public var parameters: [Parameter] { [table] }

    /// An embedding table, initialised as `initialization` says (seeded), the padding row zero.
    public init(
        name: String, vocabulary: Int, dimension: Int, paddingIndex: Int?,
        initialization: Initialization = .pytorchDefault, seed: UInt64
    ) {
        let std: Float
        switch initialization {
        case .pytorchDefault: std = 1
        case .normal(let s): std = s
        case .xavierUniform(let s): std = s
        }
        var m = Matrix.random(vocabulary, dimension, seed: seed, distribution: .normal(mean: 0, std: std))
        if let p = paddingIndex { m.setRow(p, [Float](repeating: 0, count: dimension)) }
        table = Parameter(name: name + ".weight", value: m, sparse: true)
        self.paddingIndex = paddingIndex
    }

    /// Rows of the table for `ids` (one output row per id).
    /// - Throws: `.itemOutOfRange` naming the id and its position.
    public func forward(_ ids: [Int]) throws(RecNNError) -> Matrix {
        let d = dimension
        let n = vocabulary
        for (pos, id) in ids.enumerated() where id < 0 || id >= n {
            throw .itemOutOfRange(id: id, position: pos, vocabulary: n)
        }
        return Matrix(
            rows: ids.count, cols: d,
            unsafeUninitialized: { o in
                table.value.withUnsafeBufferPointer { t in
                    for (r, id) in ids.enumerated() {
                        (o.baseAddress! + r * d).update(from: t.baseAddress! + id * d, count: d)
                    }
                }
            })
    }

    /// Accumulates dy rows into the used rows' gradient (the padding row is skipped).
    public func backward(_ ids: [Int], _ dy: Matrix) {
        let d = dimension
        table.grad.withUnsafeMutableBufferPointer { g in
            dy.withUnsafeBufferPointer { dp in
                var touched = table.touchedRows!
                for (r, id) in ids.enumerated() where id != paddingIndex {
                    addRow(dp.baseAddress! + r * d, into: g.baseAddress! + id * d, count: d)
                    touched.insert(id)
                }
                table.touchedRows = touched
            }
        }
    }
}

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
        rowSteps = parameters.map { [Int32](repeating: 0, count: $0.touchedRows == nil ? 0 : $0.value.rows) }
    }

    /// One update from the current gradients. Dense parameters run a 16-lane vector loop with
    /// the bias corrections of the shared step count, in chunks of 2¹⁵ values spread over
    /// `parallelism`'s threads when a tensor has at least 2¹⁷ (the catalog head: the update reads
    /// and writes 28 bytes a value, bound by memory bandwidth); the result does not depend on the
    /// thread count (every value is updated alone, chunks start at multiples of 16). Sparse
    /// parameters update their touched rows with per-row step counts.
    public func step(parallelism: Parallelism = .automatic) {
        stepCount += 1
        typealias V = SIMD16<Float>
        for (pi, p) in parameters.enumerated() {
            let c = p.value.cols
            let total = p.value.count
            let touched = p.touchedRows
            p.value.withUnsafeMutableBufferPointer { w in
                p.grad.withUnsafeBufferPointer { g in
                    m[pi].withUnsafeMutableBufferPointer { mm in
                        v[pi].withUnsafeMutableBufferPointer { vv in
                            func update(_ lo: Int, _ hi: Int, t: Int) {
                                let bc1 = 1 - Foundation.pow(beta1, Float(t))
                                let bc2 = 1 - Foundation.pow(beta2, Float(t))
                                let a = learningRate / bc1
                                let ib2 = 1 / bc2
                                let wd = learningRate * weightDecay
                                var j = lo
                                let b1 = V(repeating: beta1)
                                let b2 = V(repeating: beta2)
                                let o1 = V(repeating: 1 - beta1)
                                let o2 = V(repeating: 1 - beta2)
                                while j + 16 <= hi {
                                    let gv = VectorMath.load(g.baseAddress! + j)
                                    let mv = b1 * VectorMath.load(mm.baseAddress! + j) + o1 * gv
                                    let vv2 = b2 * VectorMath.load(vv.baseAddress! + j) + o2 * gv * gv
                                    VectorMath.store(mv, mm.baseAddress! + j)
                                    VectorMath.store(vv2, vv.baseAddress! + j)
                                    let wv = VectorMath.load(w.baseAddress! + j)
                                    let denom = VectorMath.sqrt(vv2 * V(repeating: ib2)) + V(repeating: eps)
                                    VectorMath.store(
                                        wv - V(repeating: a) * mv / denom - V(repeating: wd) * wv, w.baseAddress! + j)
                                    j += 16
                                }
                                while j < hi {
                                    mm[j] = beta1 * mm[j] + (1 - beta1) * g[j]
                                    vv[j] = beta2 * vv[j] + (1 - beta2) * g[j] * g[j]
                                    w[j] -= a * mm[j] / ((vv[j] * ib2).squareRoot() + eps) + wd * w[j]
                                    j += 1
                                }
                            }
                            if let rows = touched, lazySparseRows {
                                for r in rows {
                                    rowSteps[pi][r] += 1
                                    update(r * c, (r + 1) * c, t: Int(rowSteps[pi][r]))
                                }
                            } else {
                                let chunk = 1 << 15
                                let t = stepCount
                                Threading.parallelFor(
                                    chunks: (total + chunk - 1) / chunk,
                                    parallelism: total >= 1 << 17 ? parallelism : .sequential
                                ) { i in
                                    update(i * chunk, Swift.min(total, (i + 1) * chunk), t: t)
                                }
                            }
                        }
                    }
                }
            }
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
    for p in parameters { p.grad.withUnsafeBufferPointer { g in for x in g { total += Double(x) * Double(x) } } }
    let norm = Float(total.squareRoot())
    if norm > maxNorm && norm > 0 {
        let s = maxNorm / norm
        for p in parameters { p.grad.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= s } } }
    }
    return norm
}

// MARK: - Row helpers (16-lane SIMD with scalar tails)

/// g[j] += d[j].
@inline(__always)
func addRow(_ d: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>, count n: Int) {
    var j = 0
    while j + 16 <= n {
        VectorMath.store(VectorMath.load(g + j) + VectorMath.load(d + j), g + j)
        j += 16
    }
    while j < n {
        g[j] += d[j]
        j += 1
    }
}

/// y[j] = x[j]·γ[j] + β[j].
@inline(__always)
func affineRow(
    _ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    into y: UnsafeMutablePointer<Float>, count n: Int
) {
    var j = 0
    while j + 16 <= n {
        VectorMath.store(VectorMath.load(x + j) * VectorMath.load(g + j) + VectorMath.load(b + j), y + j)
        j += 16
    }
    while j < n {
        y[j] = x[j] * g[j] + b[j]
        j += 1
    }
}

/// Layer-norm backward of one row: dγ += dy·x̂, dβ += dy, dx = r/d·(d·gx − Σgx − x̂·Σ(gx·x̂)),
/// gx = dy·γ.
@inline(__always)
func layerNormBackwardRow(
    _ dy: UnsafePointer<Float>, _ xh: UnsafePointer<Float>, _ gamma: UnsafePointer<Float>, rstd: Float,
    dx: UnsafeMutablePointer<Float>, dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
    count n: Int
) {
    typealias V = SIMD16<Float>
    var sg = V()
    var sgx = V()
    var sumG: Float = 0
    var sumGX: Float = 0
    var j = 0
    while j + 16 <= n {
        let dv = VectorMath.load(dy + j)
        let xv = VectorMath.load(xh + j)
        VectorMath.store(VectorMath.load(dGamma + j) + dv * xv, dGamma + j)
        VectorMath.store(VectorMath.load(dBeta + j) + dv, dBeta + j)
        let gx = dv * VectorMath.load(gamma + j)
        sg += gx
        sgx += gx * xv
        j += 16
    }
    sumG = sg.sum()
    sumGX = sgx.sum()
    while j < n {
        dGamma[j] += dy[j] * xh[j]
        dBeta[j] += dy[j]
        let gx = dy[j] * gamma[j]
        sumG += gx
        sumGX += gx * xh[j]
        j += 1
    }
    let scale = rstd / Float(n)
    let fn = Float(n)
    j = 0
    let sv = V(repeating: scale)
    let nv = V(repeating: fn)
    let s1 = V(repeating: sumG)
    let s2 = V(repeating: sumGX)
    while j + 16 <= n {
        let gx = VectorMath.load(dy + j) * VectorMath.load(gamma + j)
        VectorMath.store(sv * (nv * gx - s1 - VectorMath.load(xh + j) * s2), dx + j)
        j += 16
    }
    while j < n {
        dx[j] = scale * (fn * dy[j] * gamma[j] - sumG - xh[j] * sumGX)
        j += 1
    }
}
