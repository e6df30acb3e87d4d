import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A target policy as the evaluator sees it: its name and its marginals per state (one state for
/// a policy that ignores the context; a chunk's `targetStates` picks one per row).
public struct TargetPolicy: Sendable {
    /// The name in reports.
    public var name: String
    /// Its rank marginals, one per state (rows say which; one for a context-free policy).
    public var marginals: [RankMarginals]

    /// A target policy with its marginals.
    public init(name: String, marginals: [RankMarginals]) {
        self.name = name
        self.marginals = marginals
    }
}

/// Settings of an offline evaluation.
public struct EvaluationSettings: Sendable, Equatable {
    /// Finite weight caps for CIS, NCIS, pieceNCIS and pointNCIS (∞ is SNIPS / IS).
    public var caps: [Double] = [2, 5, 10]
    /// Poisson bootstrap replicates (0: normal intervals only).
    public var bootstrap: Int = 1000
    /// Seeds the bootstrap's row weights (hashed with each row's key).
    public var seed: UInt64 = 1
    /// Switch-DR uses the DR correction only where the weight is at most this (default: the
    /// largest cap).
    public var switchThreshold: Double?
    /// Pseudo-impressions of the click-rate model's smoothing toward the position's mean.
    public var rewardSmoothing: Double = 10
    /// Interval level.
    public var level: Double = 0.95
    /// Fit the click-rate model (DM, DR, SwitchDR), value-model pieces and the unsupported-mass
    /// diagnostic in a second pass. False: one pass, ratio estimators only.
    public var rewardModels: Bool = true
    /// Also fit the logistic reward model (item, position, context columns, item features) by
    /// Newton iterations, one pass each, when the log has context columns.
    public var logisticRewardModel: Bool = true
    /// Item features for the logistic reward model (for example OBD's item_context.csv).
    public var itemFeatures: ItemFeatures? = nil
    /// The groupings pieceNCIS is computed for (one estimate per grouping and cap).
    public var pieceGroupings: [PieceGrouping] = [.position, .valueModel(buckets: 5)]
    /// Item embeddings for MIPS and SNMIPS: their categorical columns (one embedding dimension
    /// each; needs the logging policy's marginals). nil: no MIPS.
    public var itemEmbeddings: ItemFeatures? = nil
    /// DRos's shrinkage λ values (> 0; ∞ is DR): one estimate per λ and reward model (empty: none).
    public var shrinkage: [Double] = []
    /// Sub-Gaussian IPW's and DR's λ values in [0, 1] (0 is IPW / DR): one estimate each (empty:
    /// none).
    public var subGaussian: [Double] = []
    /// SLOPE tuning: CIS's cap (over the caps and ∞), DRos's λ and the sub-Gaussian λ (over the
    /// values given), each reported with the value it chose.
    public var slope = false
    /// SLOPE's δ: the widths are one-sided Student t bounds at level 1 − δ (OBP's default 0.1).
    public var slopeDelta = 0.1
    /// Count the rows' distinct (weight, reward) pairs and compute the empirical-likelihood
    /// interval of the policy value (every (w, r) estimator and the DR family) (`EmpiricalLikelihood`): `.computed` reports it beside the
    /// others (`Estimate.likelihood`), `.reported` also as their interval. nil: not computed.
    public var likelihood: LikelihoodUse? = nil
    /// The largest weight the empirical-likelihood interval allows (> 1; nil: the largest logged
    /// weight). The policies' true bound gives a wider, more conservative interval.
    public var weightBound: Double? = nil
    /// Balanced IPW (`Estimator.BIPW`) with its classifier's C (the inverse of the L2 penalty, as
    /// scikit-learn's `LogisticRegression(C=)`; `BalancedCells`); nil: not computed.
    public var balanced: Double? = nil
    /// Newton iterations at most; the fit stops when no coefficient moves by more than 1e-9.
    public var maxNewtonIterations = 25
    /// Threads for the passes.
    public var parallelism: Parallelism = .automatic

    /// The defaults: caps 2, 5, 10, 1,000 replicates, both reward models.
    public init() {}

    public static func == (a: EvaluationSettings, b: EvaluationSettings) -> Bool {
        a.caps == b.caps && a.bootstrap == b.bootstrap && a.seed == b.seed && a.switchThreshold == b.switchThreshold
            && a.rewardSmoothing == b.rewardSmoothing && a.level == b.level && a.rewardModels == b.rewardModels
            && a.logisticRewardModel == b.logisticRewardModel && a.pieceGroupings == b.pieceGroupings
            && a.shrinkage == b.shrinkage && a.subGaussian == b.subGaussian && a.slope == b.slope
            && a.slopeDelta == b.slopeDelta && a.likelihood == b.likelihood && a.weightBound == b.weightBound
            && a.balanced == b.balanced
            && a.itemEmbeddings.map { OffPolicyEvaluator.hash(categoricalOf: $0) }
                == b.itemEmbeddings.map { OffPolicyEvaluator.hash(categoricalOf: $0) }
    }

    /// The finite positive caps, sorted.
    var finiteCaps: [Double] { Array(Set(caps.filter { $0.isFinite && $0 > 0 })).sorted() }
}

/// The plan of an offline evaluation: target policies, the logging policy, settings. It makes the
/// first state, turns a merged state into the next pass's (`advance`), and reads rows into a
/// state through an `OffPolicyAccumulator`.
///
/// One process is the one-shard case: `evaluate(passes:)` runs every pass over a source it can
/// read again; a distributed run calls `accumulator(for:)` on each shard, `OffPolicyState.merge`
/// on the driver, `advance` between passes and `OffPolicyState.report` at the end.
public struct OffPolicyEvaluator: Sendable {
    /// The target policies.
    public var targets: [TargetPolicy]
    /// The logging policy's marginals (nil: the logged propensities).
    public var logging: [RankMarginals]?
    /// The estimators' settings.
    public var settings: EvaluationSettings
    /// Items the policies rank.
    public let items: Int
    /// Positions evaluated.
    public let depth: Int

    /// - Throws: `.invalidParameter` for marginals of different shapes, a logging policy that
    ///   ranks fewer positions than the targets, or settings out of range.
    public init(targets: [TargetPolicy], logging: [RankMarginals]?, settings: EvaluationSettings) throws(RecOPEError) {
        guard let first = targets.first?.marginals.first else {
            throw .invalidParameter("offline evaluation: no target marginals")
        }
        items = first.items
        depth = first.k
        for t in targets {
            guard !t.marginals.isEmpty else { throw .invalidParameter("\(t.name): no target marginals") }
            for m in t.marginals where m.items != items || m.k != depth {
                throw .invalidParameter(
                    "\(t.name): target marginals are \(m.items) items × \(m.k) positions, the first policy's \(items) × \(depth)"
                )
            }
        }
        for l in logging ?? [] where l.items != items || l.k < depth {
            throw .invalidParameter(
                "logging policy ranks \(l.items) items to depth \(l.k), target \(items) items to depth \(depth)")
        }
        guard settings.bootstrap >= 0, settings.bootstrap <= 100_000 else {
            throw .invalidParameter("bootstrap replicates must be in 0...100000, got \(settings.bootstrap)")
        }
        guard settings.level > 0, settings.level < 1 else {
            throw .invalidParameter("interval level must be in (0, 1), got \(settings.level)")
        }
        guard settings.rewardSmoothing >= 0, settings.rewardSmoothing.isFinite else {
            throw .invalidParameter("reward smoothing must be finite and at least 0, got \(settings.rewardSmoothing)")
        }
        // A cap of 0, below 0 or NaN would drop every capped estimator without a word.
        if let c = settings.caps.first(where: { !($0 > 0) }) {
            throw .invalidParameter("weight caps must be positive (or inf), got \(c)")
        }
        if let l = settings.shrinkage.first(where: { !($0 > 0) }) {
            throw .invalidParameter("DRos shrinkage λ values must be positive (or inf), got \(l)")
        }
        if let l = settings.subGaussian.first(where: { !($0 >= 0 && $0 <= 1) }) {
            throw .invalidParameter("sub-Gaussian λ values must be in [0, 1], got \(l)")
        }
        if let b = settings.weightBound, !(b > 1 && b.isFinite) {
            throw .invalidParameter("the weight bound must be finite and above 1, got \(b)")
        }
        if let b = settings.balanced, !(b > 0 && b.isFinite) {
            throw .invalidParameter("balanced IPW's C must be a finite number above 0, got \(b)")
        }
        guard settings.slopeDelta > 0, settings.slopeDelta < 1 else {
            throw .invalidParameter("SLOPE's delta must be in (0, 1), got \(settings.slopeDelta)")
        }
        if let e = settings.itemEmbeddings {
            guard !e.categorical.isEmpty else {
                throw .invalidParameter("the item embeddings for MIPS have no categorical column")
            }
            guard e.itemCount >= items else {
                throw .invalidParameter(
                    "the item embeddings cover \(e.itemCount) items but the policies rank \(items): MIPS needs every item's"
                )
            }
        }
        if settings.logisticRewardModel && settings.rewardModels, let f = settings.itemFeatures, f.itemCount < items {
            throw .invalidParameter(
                "the item features cover \(f.itemCount) items but the policies rank \(items): the logistic reward model needs a row for every item"
            )
        }
        self.targets = targets
        self.logging = logging
        self.settings = settings
    }

    /// The settings record every state of this evaluation carries.
    public var stateSettings: StateSettings {
        let caps = settings.finiteCaps
        return StateSettings(
            caps: caps, bootstrap: settings.bootstrap, seed: settings.seed,
            switchThreshold: settings.switchThreshold ?? (caps.last ?? 10), rewardSmoothing: settings.rewardSmoothing,
            level: settings.level, logisticRewardModel: settings.logisticRewardModel && settings.rewardModels,
            pieceGroupings: settings.pieceGroupings.filter { settings.rewardModels || !$0.isValueModel },
            rewardModels: settings.rewardModels, maxNewtonIterations: max(1, settings.maxNewtonIterations),
            itemFeatures: usableItemFeatures.map { Self.hash($0) } ?? 0,
            itemCategories: usableItemFeatures?.categorical.map { Int($0.max() ?? 0) + 1 } ?? [],
            itemNumeric: usableItemFeatures?.numeric.count ?? 0, items: items, depth: depth,
            policies: targets.map(\.name), policyHashes: targets.map { Self.hash($0.marginals.first!) },
            logging: logging.map { Self.hash($0[0]) } ?? 0,
            shrinkage: Array(Set(settings.shrinkage)).sorted(), subGaussian: Array(Set(settings.subGaussian)).sorted(),
            slope: settings.slope, slopeDelta: settings.slopeDelta,
            embeddings: settings.itemEmbeddings.map { Self.hash(categoricalOf: $0) } ?? 0,
            likelihood: settings.likelihood, weightBound: settings.likelihood == nil ? nil : settings.weightBound,
            balanced: settings.balanced)
    }

    /// Item features that cover every item (others are ignored, as the logistic model needs one
    /// row per item).
    var usableItemFeatures: ItemFeatures? {
        guard settings.logisticRewardModel, let f = settings.itemFeatures, f.itemCount >= items else { return nil }
        return f
    }

    /// The empty first-pass state.
    public func initialState() -> OffPolicyState {
        let s = stateSettings
        return OffPolicyState(
            settings: s, counts: RewardCounts(cells: items * depth),
            policies: targets.map { _ in OffPolicyState.emptyPolicy(s, plan: EstimatorPlan(s)) })
    }

    /// An accumulator for the pass `state` is at, holding everything earlier passes fitted and
    /// no sums of this pass.
    /// - Throws: `.invalidParameter` if the state was made with other settings or policies.
    public func accumulator(for state: OffPolicyState) throws(RecOPEError) -> OffPolicyAccumulator {
        try state.requireSettings(stateSettings)
        return try OffPolicyAccumulator(evaluator: self, state: state.clearingCurrentPass())
    }

    static func hash(_ m: RankMarginals) -> UInt64 {
        var h = RowHash.mix(UInt64(m.items) &* 31 &+ UInt64(m.k))
        for p in m.probabilities { h = RowHash.mix(h ^ p.bitPattern) }
        return h
    }

    /// A hash of the categorical columns (what MIPS reads).
    static func hash(categoricalOf f: ItemFeatures) -> UInt64 {
        var h = RowHash.key(bytes: f.categoricalNames.joined(separator: ",").utf8)
        for col in f.categorical { for v in col { h = RowHash.mix(h ^ UInt64(bitPattern: Int64(v))) } }
        return h == 0 ? 1 : h
    }

    static func hash(_ f: ItemFeatures) -> UInt64 {
        var h = RowHash.key(bytes: (f.numericNames + f.categoricalNames).joined(separator: ",").utf8)
        for col in f.numeric { for v in col { h = RowHash.mix(h ^ v.bitPattern) } }
        for col in f.categorical { for v in col { h = RowHash.mix(h ^ UInt64(bitPattern: Int64(v))) } }
        return h
    }
}

extension PieceGrouping {
    var isValueModel: Bool {
        if case .valueModel = self { return true }
        return false
    }
}

extension OffPolicyEvaluator {
    /// Runs every pass of the evaluation in this process: `readAll` feeds all the rows into the
    /// accumulator it is given, once per pass (the same rows each time).
    /// - Parameters:
    ///   - progress: called before each pass.
    ///   - readAll: adds every row of the log to the accumulator it is given.
    /// - Throws: what `readAll` throws, or `.invalidParameter` if passes read different rows.
    public func evaluate(
        progress: ((EvaluationPass) -> Void)? = nil,
        _ readAll: (inout OffPolicyAccumulator) throws(RecOPEError) -> Void
    ) throws(RecOPEError) -> OfflineABReport {
        var state = initialState()
        var plan = self
        while state.pass != .done {
            progress?(state.pass)
            var acc = try plan.accumulator(for: state)
            try readAll(&acc)
            plan.targets = acc.evaluator.targets
            state = try acc.finishedState().advanced()
        }
        return try state.report()
    }
}
