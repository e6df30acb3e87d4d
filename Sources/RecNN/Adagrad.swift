import RecCore
import RecIO

#if canImport(Glibc)
    import Glibc
#endif

/// Adagrad (Duchi, Hazan & Singer, JMLR 2011) with momentum, as GRU4Rec trains
/// (`IndexedAdagradM` in its official PyTorch code): per value, acc ← acc + g²,
/// u = lr · g / √(acc + ε), then with momentum μ > 0 mom ← μ·mom − u and w ← w + mom, else
/// w ← w − u. Sparse parameters (embeddings, a sampled objective's head) update their touched
/// rows only, their accumulators and momenta included, as GRU4Rec's indexed update does; dense
/// ones update every value. Every value is updated alone, in the same arithmetic: the bits do
/// not depend on the order or on whether a row was stored sparse.
public final class Adagrad: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    /// The momentum μ (0: plain Adagrad, no momentum buffers).
    public let momentum: Float
    /// Added to the accumulator under the square root (GRU4Rec's 1e-6).
    public let eps: Float
    var acc: [[Float]]
    var mom: [[Float]]
    /// Steps taken.
    public private(set) var stepCount = 0

    /// Adagrad over `parameters` with GRU4Rec's defaults (lr 0.05, ε = 10⁻⁶).
    public init(parameters: [Parameter], learningRate: Float = 0.05, momentum: Float = 0, eps: Float = 1e-6) {
        precondition(momentum >= 0 && momentum < 1, "Adagrad: momentum must be in [0, 1)")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.eps = eps
        acc = parameters.map { [Float](repeating: 0, count: $0.value.count) }
        mom = parameters.map { momentum > 0 ? [Float](repeating: 0, count: $0.value.count) : [] }
    }

    /// `adagrad`.
    public var statePrefix: String { "adagrad" }

    /// One update; sparse parameters touch their gradient's rows only.
    public func step(parallelism: Parallelism = .automatic) {
        stepCount += 1
        let lr = learningRate
        let mu = momentum
        let e = eps
        for (pi, p) in parameters.enumerated() {
            p.value.withUnsafeMutableBufferPointer { w in
                acc[pi].withUnsafeMutableBufferPointer { a in
                    mom[pi].withUnsafeMutableBufferPointer { m in
                        // Values lo..<hi with their gradients at g.
                        func update(_ lo: Int, _ hi: Int, _ g: UnsafePointer<Float>) {
                            for j in lo..<hi {
                                let gj = g[j - lo]
                                let aj = a[j] + gj * gj
                                a[j] = aj
                                let u = lr * gj / (aj + e).squareRoot()
                                if mu > 0 {
                                    let mj = mu * m[j] - u
                                    m[j] = mj
                                    w[j] += mj
                                } else {
                                    w[j] -= u
                                }
                            }
                        }
                        if p.isSparse {
                            let c = p.rowLength
                            p.gradientValues.withUnsafeBufferPointer { g in
                                for (k, r) in p.gradientRows.enumerated() {
                                    update(r * c, (r + 1) * c, g.baseAddress! + k * c)
                                }
                            }
                        } else {
                            p.denseGrad.withUnsafeBufferPointer { g in update(0, g.count, g.baseAddress!) }
                        }
                    }
                }
            }
        }
    }

    /// `PREFIX.N.acc` (and `PREFIX.N.mom` with momentum) per parameter N, and `PREFIX.step`.
    public func stateTensors(prefix: String) -> [String: Tensor] {
        var t = [String: Tensor]()
        t[prefix + ".step"] = Tensor(shape: [1], values: [Float(stepCount)])
        for i in parameters.indices {
            t["\(prefix).\(i).acc"] = Tensor(shape: [acc[i].count], values: acc[i])
            if momentum > 0 { t["\(prefix).\(i).mom"] = Tensor(shape: [mom[i].count], values: mom[i]) }
        }
        return t
    }

    public func loadState(_ t: [String: Tensor], prefix: String, file: String) throws(RecNNError) {
        guard let st = t[prefix + ".step"], st.values.count == 1 else {
            throw .checkpoint(file: file, tensor: prefix + ".step", message: "missing")
        }
        var na = [[Float]]()
        var nm = [[Float]]()
        for i in parameters.indices {
            guard let a = t["\(prefix).\(i).acc"], a.values.count == acc[i].count else {
                throw .checkpoint(file: file, tensor: "\(prefix).\(i).acc", message: "missing or wrong size")
            }
            na.append(a.values)
            if momentum > 0 {
                guard let m = t["\(prefix).\(i).mom"], m.values.count == mom[i].count else {
                    throw .checkpoint(file: file, tensor: "\(prefix).\(i).mom", message: "missing or wrong size")
                }
                nm.append(m.values)
            } else {
                nm.append([])
            }
        }
        acc = na
        mom = nm
        stepCount = Int(st.values[0])
    }
}
