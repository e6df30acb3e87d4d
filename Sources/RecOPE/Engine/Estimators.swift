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
