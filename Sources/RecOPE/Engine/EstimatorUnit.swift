#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The passes over the data whose rows add estimator terms (the Newton passes add the logistic
/// model's gradient and Hessian instead).
enum SumPass: Int, CaseIterable, Sendable {
    /// Pass 1: weights and rewards.
    case ratios
    /// Pass 2: the click-rate model's predictions (fitted from pass 1's counts).
    case clickModel
    /// The last pass: the fitted logistic model's predictions.
    case logistic

    /// The evaluation pass whose rows add this pass's terms.
    var evaluationPass: EvaluationPass {
        switch self {
        case .ratios: return .ratios
        case .clickModel: return .rewardModels
        case .logistic: return .logistic
        }
    }
}

/// A quantity each logged row contributes; every estimator is a function of sums of some of
/// them over rows (and of sums of products of pairs of them, for its normal interval).
/// With w the row's importance weight, r its reward, cᵢ the i-th cap, q̂ a reward model's
/// prediction of the logged (item, position) and DM the target's expected prediction at the
/// row's position:
enum RowTerm: Hashable, Sendable {
    /// 1 (the row count).
    case one
    /// w·r.
    case weightedReward
    /// w.
    case weight
    /// min(w, cᵢ)·r.
    case cappedReward(cap: Int)
    /// min(w, cᵢ).
    case cappedWeight(cap: Int)
    /// min(w, cᵢ)·r / Zᵢ(k), Zᵢ(k) = Σₐ min(π(a at k), cᵢ·π_B(a at k)) (needs the logging
    /// policy's marginals).
    case pointNCIS(cap: Int)
    /// DM = Σₐ π(a at k)·q̂(a, k).
    case directMethod(RewardModelKind)
    /// DM + w·(r − q̂).
    case doublyRobust(RewardModelKind)
    /// DM + w·(r − q̂) where w ≤ τ, else DM (the click-rate model).
    case switchDR
    /// The target's mass at the row's position on (item, position) pairs no row shows.
    case unsupportedMass
    /// w·(r − q̂) (SNDR's correction).
    case weightedResidual(RewardModelKind)
    /// DM + ŵ·(r − q̂), ŵ = λw / (w² + λ) with λ the i-th shrinkage value (ŵ = w for λ = ∞).
    case shrinkageDR(RewardModelKind, lambda: Int)
    /// ŵ·r, ŵ = w / (1 − λ + λw) with λ the i-th sub-Gaussian value.
    case subGaussianIPW(lambda: Int)
    /// DM + ŵ·(r − q̂), ŵ = w / (1 − λ + λw).
    case subGaussianDR(RewardModelKind, lambda: Int)
    /// w_e·r, w_e the marginal weight of the logged item's embedding categories (MIPS).
    case marginalizedReward
    /// w_e.
    case marginalizedWeight

    /// The pass that can compute the term: a reward model's terms need it fitted first.
    var pass: SumPass {
        switch self {
        case .one, .weightedReward, .weight, .cappedReward, .cappedWeight, .pointNCIS, .subGaussianIPW,
            .marginalizedReward,
            .marginalizedWeight:
            return .ratios
        case .switchDR, .unsupportedMass: return .clickModel
        case .directMethod(let m), .doublyRobust(let m), .weightedResidual(let m), .shrinkageDR(let m, _),
            .subGaussianDR(let m, _):
            return m == .ctr ? .clickModel : .logistic
        }
    }
}

/// Two terms whose product's sum a normal interval needs.
struct TermPair: Hashable, Sendable {
    let a: RowTerm
    let b: RowTerm
    init(_ a: RowTerm, _ b: RowTerm) {
        self.a = a
        self.b = b
    }
}

/// The columns of one block of sums: the terms in a fixed order (`one` first) and the pairs whose
/// products are summed, with each one's index.
struct TermLayout: Sendable {
    let terms: [RowTerm]
    let pairs: [TermPair]
    let column: [RowTerm: Int]
    let pairIndex: [TermPair: Int]
    /// The block's shape for `SumBlock`.
    let block: BlockLayout

    /// `one`, then `terms` and `pairs` in order of first appearance.
    init(terms: [RowTerm], pairs: [TermPair]) {
        var t = [RowTerm.one]
        var col: [RowTerm: Int] = [.one: 0]
        for x in terms + pairs.flatMap({ [$0.a, $0.b] }) where col[x] == nil {
            col[x] = t.count
            t.append(x)
        }
        var p = [TermPair]()
        var pi: [TermPair: Int] = [:]
        for x in pairs where pi[x] == nil {
            pi[x] = p.count
            p.append(x)
        }
        self.terms = t
        self.pairs = p
        column = col
        pairIndex = pi
        block = BlockLayout(width: t.count, pairs: p.map { (col[$0.a]!, col[$0.b]!) })
    }
}

/// A block's sums read by term: the point sums, or one bootstrap replicate's.
struct TermSums {
    let block: SumBlock
    let layout: TermLayout
    /// nil: the point sums (every row once); else the replicate.
    let replicate: Int?

    /// Σ of term `t` over the block's rows.
    @inline(__always)
    subscript(_ t: RowTerm) -> Double {
        let f = layout.column[t]!
        guard let b = replicate else { return block.sum(f) }
        return block.replicates!.value(replicate: b, feature: f)
    }

    /// Σ of the product of `a` and `b` over the block's rows (point sums only).
    @inline(__always)
    func product(_ a: RowTerm, _ b: RowTerm) -> Double { block.product(layout.pairIndex[TermPair(a, b)]!) }

    /// The standard error of the mean of term `t`: √(Σ(x − x̄)² / (n − 1) / n), from Σx, Σx² and
    /// the block's own row count.
    func meanSE(_ t: RowTerm) -> Double {
        let n = self[.one]
        let mean = self[t] / n
        let ss = max(product(t, t) - n * mean * mean, 0)
        return (ss / max(n - 1, 1) / n).squareRoot()
    }

    /// The delta-method variance of Σa/Σb (whose value is `v`): Σ(a − v·b)² / (n − 1) / n /
    /// (Σb/n)², from the sums of a², a·b and b².
    func ratioVariance(_ a: RowTerm, _ b: RowTerm, value v: Double) -> Double {
        let n = self[.one]
        let mb = self[b] / n
        let ss = max(product(a, a) - 2 * v * product(a, b) + v * v * product(b, b), 0)
        return ss / max(n - 1, 1) / n / (mb * mb)
    }
}

/// What one estimate is computed from: the rows in the view, the sums of its pass over all rows,
/// and with a grouping, each group's sums.
struct UnitSums {
    /// The rows (the first pass's row count, point or replicate).
    let n: Double
    /// The sums of the unit's pass over all rows.
    let all: TermSums
    /// With a grouping: its groups' sums in a fixed order (empty without one).
    let groups: [TermSums]
    /// The point sums of `all` (what a replicate's tuning choice is made from).
    let point: TermSums
}

/// One estimator at one setting (IS; CIS at cap 5; pieceNCIS by position at cap 5; DR with the
/// click-rate model): the row terms it sums, and its value and standard error from those sums.
/// Its sums merge across shards and passes because they are sums; the passes an evaluation reads
/// follow from the terms its estimators need (`EstimatorPlan`).
///
/// A new estimator is a type conforming to this, a case of `Estimator`, and its place in
/// `EstimatorPlan.units` (the report's order).
protocol EstimatorUnit: Sendable {
    /// The estimator's name.
    var estimator: Estimator { get }
    /// Its cap (the switch threshold for SwitchDR), nil for none.
    var cap: Double? { get }
    /// With a grouping, its terms are summed per group (pieceNCIS).
    var grouping: PieceGrouping? { get }
    /// The reward model it uses, nil for none.
    var model: RewardModelKind? { get }
    /// The terms it sums over rows (within each group, with a grouping).
    var terms: [RowTerm] { get }
    /// The products whose sums its standard error needs.
    var pairs: [TermPair] { get }
    /// Its value from sums (point or a replicate's).
    func value(_ s: UnitSums) -> Double
    /// Its normal interval's standard error, from the point sums; `value` is its point value.
    func standardError(_ s: UnitSums, value: Double) -> Double
    /// The hyperparameter the report shows (a tuned estimator's choice); `cap` by default.
    func reportedCap(_ s: UnitSums) -> Double?
    /// How the reported hyperparameter was chosen (nil: given).
    var tuning: HyperparameterTuning? { get }
}

extension EstimatorUnit {
    func reportedCap(_ s: UnitSums) -> Double? { cap }
    var tuning: HyperparameterTuning? { nil }
    var cap: Double? { nil }
    var grouping: PieceGrouping? { nil }
    var model: RewardModelKind? { nil }

    /// The pass whose rows add its terms (the latest any of them needs; a value-model grouping
    /// needs the click-rate model).
    var pass: SumPass {
        var p = terms.map(\.pass.rawValue).max() ?? 0
        if grouping?.isValueModel == true { p = max(p, SumPass.clickModel.rawValue) }
        return SumPass(rawValue: p)!
    }
}

extension PieceGrouping {
    /// The pass that knows a row's group (a value-model bucket needs the cross-fitted model).
    var pass: SumPass { isValueModel ? .clickModel : .ratios }
}

/// The block layouts of one pass: its terms over all rows, and per grouping its terms per group.
struct PassLayout: Sendable {
    let all: TermLayout
    let groupings: [PieceGrouping]
    let grouped: [TermLayout]

    /// The index of grouping `g` in `groupings`.
    func groupIndex(_ g: PieceGrouping) -> Int? { groupings.firstIndex(of: g) }
}

/// The estimators of an evaluation, in report order, and the sums they need per pass: derived
/// from the settings alone, so every shard and the driver derive the same plan.
struct EstimatorPlan: Sendable {
    /// The estimators, in report order.
    let units: [any EstimatorUnit]
    /// Per pass (`SumPass.rawValue`), its layouts; nil for a pass nothing needs.
    let passes: [PassLayout?]

    /// The terms and products the weight diagnostics read (ESS, mean weight, unsupported mass).
    static func diagnosticTerms(_ s: StateSettings) -> [(SumPass, [RowTerm], [TermPair])] {
        var out: [(SumPass, [RowTerm], [TermPair])] = [
            (.ratios, [.weightedReward, .weight], [TermPair(.weight, .weight)])
        ]
        if s.rewardModels { out.append((.clickModel, [.unsupportedMass], [])) }
        return out
    }

    init(_ s: StateSettings) {
        let caps = s.caps.indices
        var u: [any EstimatorUnit] = [ImportanceSampling()]
        u += caps.map { CappedIS(capIndex: $0, capValue: s.caps[$0]) }
        u += caps.map { NormalisedCappedIS(capIndex: $0, capValue: s.caps[$0]) }
        u.append(SelfNormalisedIS())
        for g in s.pieceGroupings {
            u += caps.map { PieceNCIS(capIndex: $0, capValue: s.caps[$0], grouping: g) }
        }
        if s.logging != 0 { u += caps.map { PointNCIS(capIndex: $0, capValue: s.caps[$0]) } }
        if s.logging != 0 && s.embeddings != 0 { u += [MarginalizedIPS(), SelfNormalisedMarginalizedIPS()] }
        u += s.subGaussian.indices.map { SubGaussianIPW(index: $0, lambda: s.subGaussian[$0]) }
        /// SLOPE over `values` (none: no estimate), the i-th value's term `term(i)`.
        func tune(_ e: Estimator, _ model: RewardModelKind?, _ values: [Double], _ term: (Int) -> RowTerm) {
            guard !values.isEmpty else { return }
            u.append(
                SlopeTuned(
                    estimator: e, model: model, candidates: values.indices.map { (values[$0], term($0)) },
                    delta: s.slopeDelta))
        }
        if s.slope {
            // OBP's IPW tuning: clipping values, largest first (∞: IS).
            let candidates =
                [(Double.infinity, RowTerm.weightedReward)]
                + caps.reversed().map { (s.caps[$0], RowTerm.cappedReward(cap: $0)) }
            u.append(SlopeTuned(estimator: .CIS, model: nil, candidates: candidates, delta: s.slopeDelta))
            tune(.SubGaussianIPW, nil, s.subGaussian) { .subGaussianIPW(lambda: $0) }
        }
        // Per reward model: DM, DR (SwitchDR with the click-rate model), SNDR, DRos and
        // sub-Gaussian DR per λ, and their SLOPE choices.
        for kind in [RewardModelKind.ctr, .logistic] {
            guard kind == .ctr ? s.rewardModels : s.logisticRewardModel else { continue }
            u += [DirectMethod(kind: kind), DoublyRobust(kind: kind)]
            if kind == .ctr { u.append(SwitchDoublyRobust(threshold: s.switchThreshold)) }
            u.append(SelfNormalisedDR(kind: kind))
            u += s.shrinkage.indices.map { DRWithShrinkage(kind: kind, index: $0, lambda: s.shrinkage[$0]) }
            u += s.subGaussian.indices.map { SubGaussianDR(kind: kind, index: $0, lambda: s.subGaussian[$0]) }
            guard s.slope else { continue }
            tune(.DRos, kind, s.shrinkage) { .shrinkageDR(kind, lambda: $0) }
            tune(.SubGaussianDR, kind, s.subGaussian) { .subGaussianDR(kind, lambda: $0) }
        }
        units = u
        var passes = [PassLayout?]()
        for pass in SumPass.allCases {
            var terms = [RowTerm]()
            var pairs = [TermPair]()
            for (p, t, q) in Self.diagnosticTerms(s) where p == pass {
                terms += t
                pairs += q
            }
            var groupings = [PieceGrouping]()
            var groupTerms = [[RowTerm]]()
            var groupPairs = [[TermPair]]()
            for unit in u where unit.pass == pass {
                guard let g = unit.grouping else {
                    terms += unit.terms
                    pairs += unit.pairs
                    continue
                }
                if !groupings.contains(g) {
                    groupings.append(g)
                    groupTerms.append([])
                    groupPairs.append([])
                }
                let i = groupings.firstIndex(of: g)!
                groupTerms[i] += unit.terms
                groupPairs[i] += unit.pairs
            }
            let needed = pass == .ratios || !terms.isEmpty || !groupings.isEmpty
            passes.append(
                needed
                    ? PassLayout(
                        all: TermLayout(terms: terms, pairs: pairs), groupings: groupings,
                        grouped: zip(groupTerms, groupPairs).map { TermLayout(terms: $0, pairs: $1) }) : nil)
        }
        self.passes = passes
    }

    /// Whether any estimator or diagnostic needs `pass`.
    func needs(_ pass: SumPass) -> Bool { passes[pass.rawValue] != nil }

    /// The widest block of any pass (the accumulator's scratch).
    var maxWidth: Int {
        passes.compactMap { $0 }.flatMap { [$0.all] + $0.grouped }.map(\.terms.count).max() ?? 1
    }
}

/// Per policy, what a pass's row terms are computed from, for each row of a chunk.
struct TermInputs {
    /// Importance weights.
    var w: [Double]
    /// Per row, its key's constants: Z per cap (pointNCIS) in the first columns.
    var keyed: OffPolicyAccumulator.KeyedConstants?
    /// The pass's reward model: the target's expected prediction at the row's position (DM).
    var dm: [Double] = []
    /// The pass's reward model: its prediction of the logged (item, position).
    var q: [Double] = []
    /// The target's mass on unseen (item, position) pairs at the row's position.
    var unsupported: [Double] = []
    /// MIPS's marginal weight of each row's embedding categories.
    var marginal: [Double] = []
    /// Per grouping of the pass, the row's group slot (nil: the grouping is skipped).
    var slots: [[Int32]?] = []

    init(w: [Double]) { self.w = w }

    /// Calls `body` with raw views of the inputs (no reference counting in the row loop).
    func withRowSource<R>(_ c: LogChunk, _ s: StateSettings, tau: Double, _ body: (RowSource) -> R) -> R {
        let zFlat = keyed?.flat ?? []
        let zIndex = keyed?.index ?? []
        let zWidth = keyed?.width ?? 0
        return w.withUnsafeBufferPointer { w in
            c.rewards.withUnsafeBufferPointer { r in
                dm.withUnsafeBufferPointer { dm in
                    q.withUnsafeBufferPointer { q in
                        unsupported.withUnsafeBufferPointer { u in
                            marginal.withUnsafeBufferPointer { mw in
                                zFlat.withUnsafeBufferPointer { zf in
                                    zIndex.withUnsafeBufferPointer { zi in
                                        s.caps.withUnsafeBufferPointer { caps in
                                            s.shrinkage.withUnsafeBufferPointer { sh in
                                                s.subGaussian.withUnsafeBufferPointer { sg in
                                                    body(
                                                        RowSource(
                                                            w: w, r: r, q: q, dm: dm, unsupported: u, marginal: mw,
                                                            z: zf, zIndex: zi,
                                                            zWidth: zWidth, caps: caps, tau: tau, shrinkage: sh,
                                                            subGaussian: sg))
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
    }
}

/// Raw views of a chunk's term inputs: each `RowTerm`'s value for a row.
struct RowSource {
    let w: UnsafeBufferPointer<Double>
    let r: UnsafeBufferPointer<Double>
    let q: UnsafeBufferPointer<Double>
    let dm: UnsafeBufferPointer<Double>
    let unsupported: UnsafeBufferPointer<Double>
    let marginal: UnsafeBufferPointer<Double>
    let z: UnsafeBufferPointer<Double>
    let zIndex: UnsafeBufferPointer<Int32>
    let zWidth: Int
    let caps: UnsafeBufferPointer<Double>
    let tau: Double
    let shrinkage: UnsafeBufferPointer<Double>
    let subGaussian: UnsafeBufferPointer<Double>

    /// Term `t` of rows `rows` into column `column` of `x` (row-major, `width` columns, the block's
    /// first row at 0), by the formulas of `RowTerm`'s cases.
    @inline(__always)
    func fill(
        _ t: RowTerm, _ rows: Range<Int>, into x: UnsafeMutableBufferPointer<Double>, column: Int, width: Int
    ) {
        let lo = rows.lowerBound
        @inline(__always) func put(_ body: (Int) -> Double) {
            for j in rows { x[(j - lo) * width + column] = body(j) }
        }
        switch t {
        case .one: put { _ in 1 }
        case .weightedReward: put { w[$0] * r[$0] }
        case .weight: put { w[$0] }
        case .cappedReward(let c):
            let cap = caps[c]
            put { min(w[$0], cap) * r[$0] }
        case .cappedWeight(let c):
            let cap = caps[c]
            put { min(w[$0], cap) }
        case .pointNCIS(let c):
            let cap = caps[c]
            put { min(w[$0], cap) * r[$0] / z[Int(zIndex[$0]) * zWidth + c] }
        case .directMethod: put { dm[$0] }
        case .doublyRobust: put { dm[$0] + w[$0] * (r[$0] - q[$0]) }
        case .switchDR: put { dm[$0] + (w[$0] <= tau ? w[$0] * (r[$0] - q[$0]) : 0) }
        case .unsupportedMass: put { unsupported[$0] }
        case .marginalizedReward: put { r[$0] * marginal[$0] }
        case .marginalizedWeight: put { marginal[$0] }
        case .weightedResidual: put { w[$0] * (r[$0] - q[$0]) }
        case .shrinkageDR(_, let i):
            // OBP's arithmetic: (λ·w) / (w² + λ), then DM + ŵ·(r − q̂).
            let l = shrinkage[i]
            if l.isInfinite {
                put { dm[$0] + w[$0] * (r[$0] - q[$0]) }
            } else {
                put { dm[$0] + (l * w[$0]) / (w[$0] * w[$0] + l) * (r[$0] - q[$0]) }
            }
        case .subGaussianIPW(let i):
            let l = subGaussian[i]
            put { w[$0] / (1 - l + l * w[$0]) * r[$0] }
        case .subGaussianDR(_, let i):
            let l = subGaussian[i]
            put { dm[$0] + w[$0] / (1 - l + l * w[$0]) * (r[$0] - q[$0]) }
        }
    }
}
