import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A loss over a few columns of the catalog per state: its target item and K sampled negatives.
public enum SampledLoss: Sendable, Equatable {
    /// Sampled softmax with the logQ correction (Jean et al. 2015; Yi et al., RecSys 2019; as
    /// TensorFlow's `sampled_softmax_loss`): with c = z − log Q over the target and its
    /// negatives (Q: the expected count of an item in the sample, K·q), ℓ = log Σ_k exp c_k − c₀.
    /// Its gradient is softmax(c) − e₀ on the K + 1 logits.
    case softmax
    /// gBCE (Petrov & Macdonald, RecSys 2023): ℓ = −β log σ(z₀) − Σ_k log(1 − σ(z_k)), summed over
    /// the K + 1 logits. gSASRec's code takes their mean, a constant factor 1/(K + 1) that Adam
    /// undoes when gBCE is the only loss, but which would make it K + 1 times smaller beside a
    /// TD loss (SQN, SAC, SNQN, SA2C). β = 1 is binary cross-entropy with negatives (BCE, SASRec's
    /// original loss); gSASRec sets β = α(t(1 − 1/α) + 1/α) with α = K / (N − 1) the sampling rate
    /// and t the calibration (0.75).
    case generalizedBCE(beta: Double)
    /// BPR-max (Hidasi & Karatzoglou, CIKM 2018; GRU4Rec's `bpr_max_loss_with_elu`): with the
    /// logits o = ELU_a(z) (the identity when `elu` a is 0, as GRU4Rec's `elu_param = 0`) and
    /// s_j = softmax over the negatives' o_j,
    /// ℓ = −log(Σ_j σ(o₀ − o_j)·s_j + 10⁻²⁴) + λ·Σ_j o_j²·s_j, λ the score regularization
    /// (GRU4Rec's `bpreg`). A state with no negatives adds nothing.
    case bprMax(elu: Double, regularization: Double)
}

/// The negatives of a sampled loss: a list per state, or one list every state shares (one
/// gather of K rows a batch instead of B·K, as TensorFlow's `sampled_softmax_loss` draws them).
public enum SampledNegatives: Sendable, Equatable {
    /// `lists[b]` for state b.
    case perState([[Int]])
    /// The same list for every state.
    case shared([Int])

    func list(_ b: Int) -> [Int] {
        switch self {
        case .perState(let l): return l[b]
        case .shared(let l): return l
        }
    }
}

extension CatalogHead {
    /// `sampledLoss` with a list of negatives per state.
    public func sampledLoss(
        states: Matrix, targets: [Int], negatives: [[Int]], kind: SampledLoss, logQ: [Float]? = nil,
        weights: [Float]? = nil, normalizer: Int? = nil
    ) throws(RecNNError) -> (loss: Double, dStates: Matrix) {
        precondition(negatives.count == states.rows, "CatalogHead.sampledLoss: \(negatives.count) negative lists")
        return try sampledLoss(
            states: states, targets: targets, sampled: .perState(negatives), kind: kind, logQ: logQ, weights: weights,
            normalizer: normalizer)
    }

    /// A sampled loss of `states` (B × d) and its gradients: per state b, the logits of its
    /// target `targets[b]` and of its negatives (item ids 1...N), the loss `kind` on them, times
    /// `weights[b]` when given, summed and divided by `normalizer` (default B). A negative equal
    /// to the state's target (an accidental hit, which shared negatives can have) is left out of
    /// its loss, as TensorFlow's `remove_accidental_hits` does. Accumulates dW and db on the
    /// touched rows only (a sparse head records them) and returns dS.
    ///
    /// `logQ`, per item (index id − 1), is the softmax's correction log(K·q_i); nil for a
    /// uniform sampler, whose correction is the same for every item and cancels. gBCE ignores it.
    /// Each logit is a dot product in a fixed order (8 lanes, then the lanes added pairwise), the
    /// updates go state by state and column by column: the bits depend on the inputs only.
    /// FLOPs: 6·B·(K + 1)·d.
    /// - Throws: `.itemOutOfRange` for an id outside 1...N (naming the state).
    public func sampledLoss(
        states: Matrix, targets: [Int], sampled: SampledNegatives, kind: SampledLoss, logQ: [Float]? = nil,
        weights: [Float]? = nil, normalizer: Int? = nil
    ) throws(RecNNError) -> (loss: Double, dStates: Matrix) {
        precondition(logQ.map { $0.count == items } ?? true, "CatalogHead.sampledLoss: logQ needs one value per item")
        return try sampledLoss(
            states: states, targets: targets, sampled: sampled, kind: kind,
            correction: logQ.map { q in { q[$0] } }, weights: weights, normalizer: normalizer)
    }

    /// `sampledLoss` with the softmax's correction log Q as a function of the row (id − 1), for a
    /// sampler whose Q changes from batch to batch (in-batch negatives: B·q_i).
    public func sampledLoss(
        states: Matrix, targets: [Int], sampled: SampledNegatives, kind: SampledLoss, correction: ((Int) -> Float)?,
        weights: [Float]? = nil, normalizer: Int? = nil
    ) throws(RecNNError) -> (loss: Double, dStates: Matrix) {
        let B = states.rows
        let N = items
        let d = dim
        precondition(
            states.cols == d && targets.count == B && (weights?.count ?? B) == B,
            "CatalogHead.sampledLoss: states \(states.shapeDescription), \(targets.count) targets, head \(N)×\(d)")
        for b in 0..<B {
            if targets[b] < 1 || targets[b] > N {
                throw .itemOutOfRange(id: targets[b], position: b, vocabulary: N + 1)
            }
            if let bad = sampled.list(b).first(where: { $0 < 1 || $0 > N }) {
                throw .itemOutOfRange(id: bad, position: b, vocabulary: N + 1)
            }
        }
        let mean = Double(max(1, normalizer ?? B))
        var dS = Matrix(rows: B, cols: d)
        var total = 0.0
        var z = [Double]()
        var ids = [Int]()
        // A sparse head's rows are touched first, state by state, target then negatives.
        for p in [weight, bias] where p.isSparse {
            for b in 0..<B {
                p.touch(targets[b] - 1)
                for n in sampled.list(b) where n != targets[b] { p.touch(n - 1) }
            }
        }
        states.withUnsafeBufferPointer { sp in
            weight.value.withUnsafeBufferPointer { wp in
                bias.value.withUnsafeBufferPointer { bp in
                    weight.withGradientRows { gwRow in
                        bias.withGradientRows { gbRow in
                            dS.withUnsafeMutableBufferPointer { ds in
                                for b in 0..<B {
                                    let s = sp.baseAddress! + b * d
                                    // The target, then the negatives other than the target.
                                    ids.removeAll(keepingCapacity: true)
                                    ids.append(targets[b] - 1)
                                    for n in sampled.list(b) where n != targets[b] { ids.append(n - 1) }
                                    z.removeAll(keepingCapacity: true)
                                    for i in ids {
                                        z.append(Double(bp[i] + Self.dot(s, wp.baseAddress! + i * d, d)))
                                    }
                                    let (l, grads) = Self.sampledTerms(z, kind: kind, logQ: correction, ids: ids)
                                    let scale = Double(weights?[b] ?? 1) / mean
                                    total += l * scale
                                    let dsb = ds.baseAddress! + b * d
                                    for (k, i) in ids.enumerated() {
                                        let gk = Float(grads[k] * scale)
                                        gbRow(i)[0] += gk
                                        Self.axpy(gk, s, gwRow(i), d)
                                        Self.axpy(gk, wp.baseAddress! + i * d, dsb, d)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        switch sampled {
        case .perState(let lists): markTouched(zip(targets, lists).map { [$0] + $1 })
        case .shared(let list): markTouched([targets, Array(Set(list))])
        }
        return (total, dS)
    }

    /// One state's loss and its gradient with respect to its logits `z` (target first) of rows
    /// `ids`.
    static func sampledTerms(_ z: [Double], kind: SampledLoss, logQ: ((Int) -> Float)?, ids: [Int]) -> (
        Double, [Double]
    ) {
        switch kind {
        case .softmax:
            let c = z.indices.map { k in z[k] - Double(logQ?(ids[k]) ?? 0) }
            let m = c.max()!
            var sum = 0.0
            for v in c { sum += exp(v - m) }
            let lse = m + log(sum)
            var grads = c.map { exp($0 - lse) }
            grads[0] -= 1
            return (lse - c[0], grads)
        case .generalizedBCE(let beta):
            var loss = beta * softplus(-z[0])
            var grads = [Double](repeating: 0, count: z.count)
            grads[0] = -beta * sigmoid(-z[0])
            for k in 1..<z.count {
                loss += softplus(z[k])
                grads[k] = sigmoid(z[k])
            }
            return (loss, grads)
        case .bprMax(let a, let lambda):
            return bprMaxTerms(z, elu: a, regularization: lambda)
        }
    }

    /// BPR-max's value and gradient with respect to the logits (target first). With P the
    /// softmax-weighted sum of σ_j = σ(o₀ − o_j) and R = Σ_j o_j² s_j:
    /// ∂ℓ/∂o₀ = −Σ_j s_j σ_j(1 − σ_j) / P and, per negative j,
    /// ∂ℓ/∂o_j = −(s_j(σ_j − P) − s_j σ_j(1 − σ_j)) / P + λ(2 o_j s_j + s_j(o_j² − R)),
    /// times ELU's slope (1 above 0, o + a below).
    static func bprMaxTerms(_ z: [Double], elu a: Double, regularization lambda: Double) -> (Double, [Double]) {
        let n = z.count - 1
        var grads = [Double](repeating: 0, count: z.count)
        guard n >= 1 else { return (0, grads) }
        let o = z.map { a > 0 && $0 <= 0 ? a * expm1($0) : $0 }
        var m = o[1]
        for j in 1...n { m = max(m, o[j]) }
        var sum = 0.0
        for j in 1...n { sum += exp(o[j] - m) }
        var p = 0.0
        var r = 0.0
        var s = [Double](repeating: 0, count: z.count)
        var sig = [Double](repeating: 0, count: z.count)
        for j in 1...n {
            s[j] = exp(o[j] - m) / sum
            sig[j] = sigmoid(o[0] - o[j])
            p += sig[j] * s[j]
            r += o[j] * o[j] * s[j]
        }
        let pe = p + 1e-24
        let loss = -log(pe) + lambda * r
        var d0 = 0.0
        for j in 1...n {
            let slope = s[j] * sig[j] * (1 - sig[j])
            d0 -= slope / pe
            grads[j] = -(s[j] * (sig[j] - p) - slope) / pe + lambda * (2 * o[j] * s[j] + s[j] * (o[j] * o[j] - r))
        }
        grads[0] = d0
        if a > 0 { for k in z.indices where z[k] <= 0 { grads[k] *= o[k] + a } }
        return (loss, grads)
    }

    /// log(1 + eˣ) without overflow.
    static func softplus(_ x: Double) -> Double { max(x, 0) + log1p(exp(-abs(x))) }
    /// 1 / (1 + e⁻ˣ).
    static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }

    /// Σ a_j b_j in 8 lanes (lane l sums j ≡ l mod 8 in order), the lanes added pairwise, then the
    /// tail in order.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var j = 0
        while j + 8 <= n {
            acc =
                acc + UnsafeRawPointer(a + j).loadUnaligned(as: SIMD8<Float>.self)
                * UnsafeRawPointer(b + j).loadUnaligned(as: SIMD8<Float>.self)
            j += 8
        }
        let h = acc.lowHalf + acc.highHalf
        let q = h.lowHalf + h.highHalf
        var s = q[0] + q[1]
        while j < n {
            s += a[j] * b[j]
            j += 1
        }
        return s
    }

    /// y += α x over n values.
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let av = SIMD8<Float>(repeating: alpha)
        var j = 0
        while j + 8 <= n {
            let v =
                UnsafeRawPointer(y + j).loadUnaligned(as: SIMD8<Float>.self) + av
                * UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + j).storeBytes(of: v, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n {
            y[j] += alpha * x[j]
            j += 1
        }
    }
}
