import RecCore

// The estimators, one type each: the row terms it sums, and its value and standard error from
// them (formulas in `OfflineEvaluation`). w is a row's importance weight, r its reward, n the rows.

/// IS: Σ w·r / n.
struct ImportanceSampling: EstimatorUnit {
    var estimator: Estimator { .IS }
    var terms: [RowTerm] { [.weightedReward] }
    var pairs: [TermPair] { [TermPair(.weightedReward, .weightedReward)] }
    func value(_ s: UnitSums) -> Double { s.all[.weightedReward] / s.n }
    func standardError(_ s: UnitSums, value: Double) -> Double { s.all.meanSE(.weightedReward) }
}

/// CIS: Σ min(w, c)·r / n.
struct CappedIS: EstimatorUnit {
    let capIndex: Int
    let capValue: Double
    var estimator: Estimator { .CIS }
    var cap: Double? { capValue }
    var terms: [RowTerm] { [.cappedReward(cap: capIndex)] }
    var pairs: [TermPair] { [TermPair(.cappedReward(cap: capIndex), .cappedReward(cap: capIndex))] }
    func value(_ s: UnitSums) -> Double { s.all[.cappedReward(cap: capIndex)] / s.n }
    func standardError(_ s: UnitSums, value: Double) -> Double { s.all.meanSE(.cappedReward(cap: capIndex)) }
}

/// The pairs of a ratio Σa / Σb's delta-method variance.
private func ratioPairs(_ a: RowTerm, _ b: RowTerm) -> [TermPair] { [TermPair(a, a), TermPair(a, b), TermPair(b, b)] }

/// NCIS: Σ min(w, c)·r / Σ min(w, c).
struct NormalisedCappedIS: EstimatorUnit {
    let capIndex: Int
    let capValue: Double
    var estimator: Estimator { .NCIS }
    var cap: Double? { capValue }
    var terms: [RowTerm] { [.cappedReward(cap: capIndex), .cappedWeight(cap: capIndex)] }
    var pairs: [TermPair] { ratioPairs(.cappedReward(cap: capIndex), .cappedWeight(cap: capIndex)) }
    func value(_ s: UnitSums) -> Double { s.all[.cappedReward(cap: capIndex)] / s.all[.cappedWeight(cap: capIndex)] }
    func standardError(_ s: UnitSums, value: Double) -> Double {
        s.all.ratioVariance(.cappedReward(cap: capIndex), .cappedWeight(cap: capIndex), value: value).squareRoot()
    }
}

/// SNIPS: Σ w·r / Σ w.
struct SelfNormalisedIS: EstimatorUnit {
    var estimator: Estimator { .SNIPS }
    var terms: [RowTerm] { [.weightedReward, .weight] }
    var pairs: [TermPair] { ratioPairs(.weightedReward, .weight) }
    func value(_ s: UnitSums) -> Double { s.all[.weightedReward] / s.all[.weight] }
    func standardError(_ s: UnitSums, value: Double) -> Double {
        s.all.ratioVariance(.weightedReward, .weight, value: value).squareRoot()
    }
}

/// pieceNCIS: Σ_g (n_g / n)·NCIS_g, NCIS within each group of the grouping.
struct PieceNCIS: EstimatorUnit {
    let capIndex: Int
    let capValue: Double
    let group: PieceGrouping
    var estimator: Estimator { .pieceNCIS }
    var cap: Double? { capValue }
    var grouping: PieceGrouping? { group }
    var terms: [RowTerm] { [.cappedReward(cap: capIndex), .cappedWeight(cap: capIndex)] }
    var pairs: [TermPair] { ratioPairs(.cappedReward(cap: capIndex), .cappedWeight(cap: capIndex)) }

    init(capIndex: Int, capValue: Double, grouping: PieceGrouping) {
        self.capIndex = capIndex
        self.capValue = capValue
        group = grouping
    }

    func value(_ s: UnitSums) -> Double {
        var piece = 0.0
        for g in s.groups {
            let ng = g[.one]
            let sb = g[.cappedWeight(cap: capIndex)]
            if ng > 0 && sb > 0 { piece += ng / s.n * g[.cappedReward(cap: capIndex)] / sb }
        }
        return piece
    }

    /// √Σ_g (n_g / n)² Var(NCIS_g).
    func standardError(_ s: UnitSums, value: Double) -> Double {
        let a = RowTerm.cappedReward(cap: capIndex)
        let b = RowTerm.cappedWeight(cap: capIndex)
        var variance = 0.0
        for g in s.groups where g[.one] > 0 && g[b] > 0 {
            let share = g[.one] / s.n
            variance += share * share * g.ratioVariance(a, b, value: g[a] / g[b])
        }
        return variance.squareRoot()
    }
}

/// pointNCIS: Σ min(w, c)·r / Z_c(k) / n, Z_c(k) = Σₐ min(π(a at k), c·π_B(a at k)).
struct PointNCIS: EstimatorUnit {
    let capIndex: Int
    let capValue: Double
    var estimator: Estimator { .pointNCIS }
    var cap: Double? { capValue }
    var terms: [RowTerm] { [.pointNCIS(cap: capIndex)] }
    var pairs: [TermPair] { [TermPair(.pointNCIS(cap: capIndex), .pointNCIS(cap: capIndex))] }
    func value(_ s: UnitSums) -> Double { s.all[.pointNCIS(cap: capIndex)] / s.n }
    func standardError(_ s: UnitSums, value: Double) -> Double { s.all.meanSE(.pointNCIS(cap: capIndex)) }
}

/// A mean of one term over rows: DM, DR, SwitchDR.
protocol MeanOfTerm: EstimatorUnit {
    var term: RowTerm { get }
}

extension MeanOfTerm {
    var terms: [RowTerm] { [term] }
    var pairs: [TermPair] { [TermPair(term, term)] }
    func value(_ s: UnitSums) -> Double { s.all[term] / s.n }
    func standardError(_ s: UnitSums, value: Double) -> Double { s.all.meanSE(term) }
}

/// DM: Σ_rows Σₐ π(a at k)·q̂(a, k) / n.
struct DirectMethod: MeanOfTerm {
    let kind: RewardModelKind
    var estimator: Estimator { .DM }
    var model: RewardModelKind? { kind }
    var term: RowTerm { .directMethod(kind) }
}

/// DR: DM plus Σ w·(r − q̂) / n.
struct DoublyRobust: MeanOfTerm {
    let kind: RewardModelKind
    var estimator: Estimator { .DR }
    var model: RewardModelKind? { kind }
    var term: RowTerm { .doublyRobust(kind) }
}

/// SwitchDR: DR's correction only where w ≤ τ (the click-rate model).
struct SwitchDoublyRobust: MeanOfTerm {
    let threshold: Double
    var estimator: Estimator { .SwitchDR }
    var cap: Double? { threshold }
    var model: RewardModelKind? { .ctr }
    var term: RowTerm { .switchDR }
}

/// SNDR: Σ DM / n + Σ w·(r − q̂) / Σ w (OBP's SelfNormalizedDoublyRobust).
struct SelfNormalisedDR: EstimatorUnit {
    let kind: RewardModelKind
    var estimator: Estimator { .SNDR }
    var model: RewardModelKind? { kind }
    var terms: [RowTerm] { [.directMethod(kind), .weightedResidual(kind), .weight] }
    var pairs: [TermPair] {
        let (d, a, b) = (RowTerm.directMethod(kind), RowTerm.weightedResidual(kind), RowTerm.weight)
        return [TermPair(d, d), TermPair(d, a), TermPair(d, b)] + ratioPairs(a, b)
    }

    func value(_ s: UnitSums) -> Double {
        s.all[.directMethod(kind)] / s.n + s.all[.weightedResidual(kind)] / s.all[.weight]
    }

    /// The delta method: the rows' influence uᵢ = DMᵢ + (aᵢ − v·wᵢ) / w̄ (a = w·(r − q̂),
    /// v = Σa / Σw) has mean DM̄, and the standard error is √(Σ(uᵢ − DM̄)² / (n − 1) / n), its
    /// squares expanded into the sums of products.
    func standardError(_ s: UnitSums, value: Double) -> Double {
        let t = s.all
        let (d, a, b) = (RowTerm.directMethod(kind), RowTerm.weightedResidual(kind), RowTerm.weight)
        let n = t[.one]
        let wbar = t[b] / n
        let v = t[a] / t[b]
        let dbar = t[d] / n
        let cross = t.product(d, a) - v * t.product(d, b)
        let residual = t.product(a, a) - 2 * v * t.product(a, b) + v * v * t.product(b, b)
        let sumU2 = t.product(d, d) + 2 * cross / wbar + residual / (wbar * wbar)
        let ss = max(sumU2 - n * dbar * dbar, 0)
        return (ss / max(n - 1, 1) / n).squareRoot()
    }
}

/// DRos: Σ (DM + λw / (w² + λ)·(r − q̂)) / n (OBP's DoublyRobustWithShrinkage).
struct DRWithShrinkage: MeanOfTerm {
    let kind: RewardModelKind
    let index: Int
    let lambda: Double
    var estimator: Estimator { .DRos }
    var cap: Double? { lambda }
    var model: RewardModelKind? { kind }
    var term: RowTerm { .shrinkageDR(kind, lambda: index) }
}

/// Sub-Gaussian IPW: Σ w / (1 − λ + λw)·r / n (OBP's SubGaussianInverseProbabilityWeighting).
struct SubGaussianIPW: MeanOfTerm {
    let index: Int
    let lambda: Double
    var estimator: Estimator { .SubGaussianIPW }
    var cap: Double? { lambda }
    var term: RowTerm { .subGaussianIPW(lambda: index) }
}

/// Sub-Gaussian DR: Σ (DM + w / (1 − λ + λw)·(r − q̂)) / n (OBP's SubGaussianDoublyRobust).
struct SubGaussianDR: MeanOfTerm {
    let kind: RewardModelKind
    let index: Int
    let lambda: Double
    var estimator: Estimator { .SubGaussianDR }
    var cap: Double? { lambda }
    var model: RewardModelKind? { kind }
    var term: RowTerm { .subGaussianDR(kind, lambda: index) }
}

/// An estimator whose hyperparameter SLOPE picks from candidates, each a mean of one row term
/// (OBP's `*Tuning` classes with `tuning_method="slope"`): per candidate its mean θ and width
/// cnf = √(var / (n − 1))·t₍ₙ₋₁₎(1 − δ) (var with divisor n; OBP's
/// `estimate_student_t_lower_bound`); candidates by decreasing width, each kept while
/// |θⱼ − θᵢ| ≤ cnfᵢ + (√6 − 1)·cnfⱼ for every kept j; the last kept is chosen (the one before
/// the first that fails). The choice is made from the point sums; a bootstrap replicate
/// re-estimates the chosen candidate (the interval is conditional on the choice).
struct SlopeTuned: EstimatorUnit {
    let estimator: Estimator
    let model: RewardModelKind?
    /// (hyperparameter, its row term), in OBP's order for the estimator.
    let candidates: [(Double, RowTerm)]
    let delta: Double

    var tuning: HyperparameterTuning? { .slope }
    var terms: [RowTerm] { candidates.map(\.1) }
    var pairs: [TermPair] { candidates.map { TermPair($0.1, $0.1) } }

    /// The chosen candidate's index, from the point sums.
    func choice(_ point: TermSums) -> Int {
        let n = point[.one]
        let t = SpecialFunctions.studentTQuantile(1 - delta, degreesOfFreedom: max(n - 1, 1))
        var theta = [Double]()
        var cnf = [Double]()
        for (_, term) in candidates {
            let mean = point[term] / n
            let variance = max(point.product(term, term) / n - mean * mean, 0)
            theta.append(mean)
            cnf.append((variance / (n - 1)).squareRoot() * t)
        }
        return SlopeSelection.choose(estimates: theta, widths: cnf)
    }

    func value(_ s: UnitSums) -> Double { s.all[candidates[choice(s.point)].1] / s.n }
    func standardError(_ s: UnitSums, value: Double) -> Double { s.all.meanSE(candidates[choice(s.point)].1) }
    func reportedCap(_ s: UnitSums) -> Double? { candidates[choice(s.point)].0 }
}

/// SLOPE's rule (Su, Srinath & Krishnamurthy 2020, as Tucker & Lee 2021's SLOPE++ and OBP's
/// `_tune_hyperparam_with_slope` run it) on each candidate's estimate θ and confidence width
/// cnf: candidates by decreasing width, each kept while |θⱼ − θᵢ| ≤ cnfᵢ + (√6 − 1)·cnfⱼ for
/// every kept j; the last kept is chosen (the one before the first that fails). The engine's
/// tuned estimators and `reckit.obp`'s tuning classes share it.
public enum SlopeSelection {
    /// The chosen candidate's index.
    /// - Precondition: `estimates` and `widths` are non-empty and of one length.
    public static func choose(estimates theta: [Double], widths cnf: [Double]) -> Int {
        precondition(!theta.isEmpty && theta.count == cnf.count, "SLOPE needs one width per estimate")
        // By decreasing width, equal widths later candidate first: numpy's argsort (stable for
        // lists this short) reversed, as OBP orders them (δ = 0.5 makes every width 0: a tie).
        let order = cnf.indices.sorted { cnf[$0] != cnf[$1] ? cnf[$0] > cnf[$1] : $0 > $1 }
        let c = 6.0.squareRoot() - 1
        var kept = [Int]()
        for (i, idx) in order.enumerated() {
            if kept.isEmpty || kept.allSatisfy({ abs(theta[$0] - theta[idx]) <= cnf[idx] + c * cnf[$0] }) {
                kept.append(idx)
            } else {
                return order[i - 1]
            }
        }
        return order[order.count - 1]
    }
}

/// MIPS: Σ w_e·r / n, w_e the logged item's embedding weight (OBP's
/// MarginalizedInverseProbabilityWeighting given p_e_a: per embedding dimension d, the target's
/// and the logging policy's probability of the item's category at the row's position; w_e the
/// product over d of the target's over the product of the logging policy's).
struct MarginalizedIPS: MeanOfTerm {
    var estimator: Estimator { .MIPS }
    var term: RowTerm { .marginalizedReward }
}

/// SNMIPS: Σ w_e·r / Σ w_e (OBP's SelfNormalizedMarginalizedInverseProbabilityWeighting).
struct SelfNormalisedMarginalizedIPS: EstimatorUnit {
    var estimator: Estimator { .SNMIPS }
    var terms: [RowTerm] { [.marginalizedReward, .marginalizedWeight] }
    var pairs: [TermPair] { ratioPairs(.marginalizedReward, .marginalizedWeight) }
    func value(_ s: UnitSums) -> Double { s.all[.marginalizedReward] / s.all[.marginalizedWeight] }
    func standardError(_ s: UnitSums, value: Double) -> Double {
        s.all.ratioVariance(.marginalizedReward, .marginalizedWeight, value: value).squareRoot()
    }
}
