#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The off-policy estimators RecOPE computes (formulas in `OfflineEvaluation`).
public enum Estimator: String, Sendable, Codable, CaseIterable {
    /// Importance sampling: (1/n) Σ wⱼ rⱼ.
    case IS
    /// Capped IS: (1/n) Σ min(wⱼ, c) rⱼ.
    case CIS
    /// Normalised capped IS: Σ min(wⱼ, c) rⱼ / Σ min(wⱼ, c).
    case NCIS
    /// Self-normalised IS: Σ wⱼ rⱼ / Σ wⱼ.
    case SNIPS
    /// NCIS within groups (positions, value-model buckets or a context column), weighted by the
    /// groups' shares of the rows.
    case pieceNCIS
    /// NCIS with the exact per-position normaliser Σ_a min(P_B(a), c·P_A(a)).
    case pointNCIS
    /// The direct method: the reward model's value of the target's ranking.
    case DM
    /// Doubly robust: DM plus the weighted residual of the logged reward.
    case DR
    /// DR with the correction only where the weight is at most τ.
    case SwitchDR
    /// Self-normalised DR: DM plus Σ w·(r − q̂) / Σ w (OBP's SelfNormalizedDoublyRobust).
    case SNDR
    /// DR with optimistic shrinkage: the correction weighted by λw / (w² + λ) (OBP's
    /// DoublyRobustWithShrinkage).
    case DRos
    /// Sub-Gaussian IPW: Σ w / (1 − λ + λw) · r / n (OBP's SubGaussianInverseProbabilityWeighting).
    case SubGaussianIPW
    /// Sub-Gaussian DR: DM plus the correction weighted by w / (1 − λ + λw) (OBP's
    /// SubGaussianDoublyRobust).
    case SubGaussianDR
    /// Marginalized IPS over item embeddings: the weight of the logged item's embedding
    /// categories, Πd Σ_{a in its category d} π(a) / Πd Σ_{a in its category d} π_B(a), times r
    /// (OBP's MarginalizedInverseProbabilityWeighting with p_e_a).
    case MIPS
    /// Self-normalised MIPS (OBP's SelfNormalizedMarginalizedInverseProbabilityWeighting).
    case SNMIPS
    /// Balanced IPW: Σ ŵ·r / Σ ŵ with ŵ a classifier's odds that a (context, item, position) comes
    /// from the target rather than the log (OBP's BalancedInverseProbabilityWeighting;
    /// `BalancedCells`).
    case BIPW
    /// Slate standard IPS: Σ r·(π(slate) / π_B(slate)) over the rows / slates (OBP's
    /// SlateStandardIPS; `SlateState`).
    case SIPS
    /// Slate independent IPS: Σ r·(π(item at position) / π_B(item at position)) / slates (OBP's
    /// SlateIndependentIPS).
    case IIPS
    /// Slate reward-interaction IPS: Σ r·(π(slate's first items) / π_B(same)) / slates, the
    /// cascade weights (OBP's SlateRewardInteractionIPS).
    case RIPS
    /// Self-normalised SIPS: the weights over their mean over rows (OBP's
    /// SelfNormalizedSlateStandardIPS).
    case SNSIPS
    /// Self-normalised IIPS: per position, the weights over their mean at that position (OBP's
    /// SelfNormalizedSlateIndependentIPS).
    case SNIIPS
    /// Self-normalised RIPS, per position (OBP's SelfNormalizedSlateRewardInteractionIPS).
    case SNRIPS
    /// Cascade doubly robust: Σ (w_p·(r − q̂) + w_{p−1}·E_π[q̂ at p | the slate above]) / slates,
    /// w the cascade weights, q̂ the click-rate model (OBP's SlateCascadeDoublyRobust).
    case CascadeDR
    /// Pseudo-inverse: Σ ψ(slate)·r / slates, ψ = θᵀ1_s with θ = Γ⁺q from the logging policy's
    /// pairwise item-position probabilities Γ and the target's item-position probabilities q
    /// (Swaminathan et al., NeurIPS 2017; `SlatePseudoInverse`). In neither OBP nor RecBole.
    case PI
    /// Self-normalised PI (the paper's weighted PI): Σ ψ·r / mean(ψ) / slates, the mean over rows.
    case SNPI

    /// Whether it estimates the expected sum of rewards over a slate (`SlateState`), not the
    /// mean reward per row.
    public var isSlate: Bool {
        [.SIPS, .IIPS, .RIPS, .SNSIPS, .SNIIPS, .SNRIPS, .CascadeDR, .PI, .SNPI].contains(self)
    }
}

/// How an estimate's hyperparameter was chosen.
public enum HyperparameterTuning: String, Sendable, Codable, CaseIterable {
    /// SLOPE (Su, Srinath & Krishnamurthy 2020; Tucker & Lee 2021's SLOPE++, as OBP's tuning
    /// classes run it): candidates by decreasing confidence width, keep the next while its
    /// estimate lies within width + (√6 − 1)·width of every kept one; the last kept wins.
    case slope
}

/// The reward model behind DM, DR and SwitchDR.
public enum RewardModelKind: String, Sendable, Codable, CaseIterable {
    /// Click rate per (item, position), smoothed toward the position's mean.
    case ctr
    /// Ridge logistic regression on item, position, context columns and item features.
    case logistic
}

/// How an interval was computed.
public enum IntervalMethod: String, Sendable, Codable, CaseIterable {
    /// Central limit theorem; the delta method for ratios.
    case normal
    /// Percentiles of a Poisson(1) bootstrap whose weights hash the row key.
    case poissonBootstrap = "poisson-bootstrap"
    /// Profile empirical likelihood with the weights' mean fixed at 1 (`EmpiricalLikelihood`).
    case empiricalLikelihood = "empirical-likelihood"
}

/// How pieceNCIS cuts the rows into pieces (Gilotte et al. 2018).
public enum PieceGrouping: Sendable, Hashable, Codable, CustomStringConvertible {
    /// One piece per position.
    case position
    /// One piece per value of a context column of the log (at most 64 values).
    case contextFeature(String)
    /// Quantile buckets of a cross-fitted reward model's predicted click rate: a row's fold (0 or
    /// 1) is a hash of its key; it is bucketed by the click-rate model fitted on the other fold,
    /// so no row's piece depends on its own reward.
    case valueModel(buckets: Int)

    /// "position", "context:COLUMN" or "value-model" (the report's label).
    public var description: String {
        switch self {
        case .position: return "position"
        case .contextFeature(let c): return "context:" + c
        case .valueModel: return "value-model"
        }
    }

    /// Parses `position`, `value-model[:BUCKETS]` or `context:COLUMN`.
    /// - Throws: `.invalidParameter` listing the valid forms.
    public static func parse(_ text: String) throws(RecOPEError) -> PieceGrouping {
        let g = text.trimmingWhitespace()
        if g == "position" { return .position }
        if g == "value-model" { return .valueModel(buckets: 5) }
        if g.hasPrefix("value-model:") {
            guard let b = Int(g.dropFirst(12)), b >= 1, b <= 1000 else {
                throw .invalidParameter(
                    "piece grouping '\(g.prefix(80))': value-model buckets must be an integer in 1...1000")
            }
            return .valueModel(buckets: b)
        }
        if g.hasPrefix("context:"), g.count > 8 { return .contextFeature(String(g.dropFirst(8))) }
        throw .invalidParameter(
            "unknown piece grouping '\(g.prefix(80))' (position, value-model[:BUCKETS], context:COLUMN)")
    }
}

/// A two-sided interval.
public struct Interval: Sendable, Equatable, Codable {
    /// The lower end.
    public var low: Double
    /// The upper end.
    public var high: Double

    /// [low, high].
    public init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(low.isFinite ? low : nil, forKey: .low)
        try c.encode(high.isFinite ? high : nil, forKey: .high)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        low = try c.decodeIfPresent(Double.self, forKey: .low) ?? .nan
        high = try c.decodeIfPresent(Double.self, forKey: .high) ?? .nan
    }

    enum CodingKeys: String, CodingKey { case low, high }
}

/// One estimate of a target policy's value (mean reward per logged row).
public struct Estimate: Sendable, Equatable, Codable {
    /// The target policy's name.
    public var policy: String
    /// Which estimator.
    public var estimator: Estimator
    /// The estimator's hyperparameter, nil for none: the weight cap c (CIS, NCIS, pieceNCIS,
    /// pointNCIS), the switch threshold τ (SwitchDR), the shrinkage λ (DRos) or the sub-Gaussian λ;
    /// with `tuning`, the value it chose.
    public var cap: Double?
    /// The grouping of pieceNCIS, nil otherwise.
    public var grouping: PieceGrouping?
    /// The reward model of DM, DR and SwitchDR, nil otherwise.
    public var model: RewardModelKind?
    /// The estimated mean reward of the target policy.
    public var value: Double
    /// The reported interval, computed by `method`.
    public var interval: Interval
    /// How `interval` was computed.
    public var method: IntervalMethod
    /// The normal (CLT / delta-method) interval, always computed.
    public var normal: Interval
    /// How `cap` was chosen from candidates (nil: it was given).
    public var tuning: HyperparameterTuning?
    /// The empirical-likelihood interval of the policy's value (every estimator from the (w, r) pairs and the DR family, when asked for).
    public var likelihood: Interval?

    /// The estimator's name with its grouping and model ("pieceNCIS by position", "DR (ctr)").
    public var label: String {
        estimator.rawValue + (grouping.map { " by \($0)" } ?? "") + (model.map { " (\($0.rawValue))" } ?? "")
            + (tuning.map { " \($0.rawValue.uppercased())" } ?? "")
    }

    enum CodingKeys: String, CodingKey {
        case policy, estimator, cap, grouping, model, value, interval, method, normal, tuning, likelihood
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(policy, forKey: .policy)
        try c.encode(estimator, forKey: .estimator)
        try c.encode(cap.flatMap { $0.isFinite ? $0 : nil }, forKey: .cap)
        try c.encode(grouping?.description, forKey: .grouping)
        try c.encode(model, forKey: .model)
        try c.encode(value.isFinite ? value : nil, forKey: .value)
        try c.encode(interval, forKey: .interval)
        try c.encode(method, forKey: .method)
        try c.encode(normal, forKey: .normal)
        try c.encodeIfPresent(tuning, forKey: .tuning)
        try c.encodeIfPresent(likelihood, forKey: .likelihood)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policy = try c.decode(String.self, forKey: .policy)
        estimator = try c.decode(Estimator.self, forKey: .estimator)
        cap = try c.decodeIfPresent(Double.self, forKey: .cap)
        if let s = try c.decodeIfPresent(String.self, forKey: .grouping) {
            do { grouping = try PieceGrouping.parse(s) } catch {
                throw DecodingError.dataCorruptedError(forKey: .grouping, in: c, debugDescription: error.description)
            }
        } else {
            grouping = nil
        }
        model = try c.decodeIfPresent(RewardModelKind.self, forKey: .model)
        value = try c.decodeIfPresent(Double.self, forKey: .value) ?? .nan
        interval = try c.decode(Interval.self, forKey: .interval)
        method = try c.decode(IntervalMethod.self, forKey: .method)
        normal = try c.decode(Interval.self, forKey: .normal)
        tuning = try c.decodeIfPresent(HyperparameterTuning.self, forKey: .tuning)
        likelihood = try c.decodeIfPresent(Interval.self, forKey: .likelihood)
    }

    /// An estimate with its intervals.
    public init(
        policy: String, estimator: Estimator, cap: Double?, grouping: PieceGrouping?, model: RewardModelKind?,
        value: Double, interval: Interval, method: IntervalMethod, normal: Interval,
        tuning: HyperparameterTuning? = nil, likelihood: Interval? = nil
    ) {
        self.tuning = tuning
        self.likelihood = likelihood
        self.policy = policy
        self.estimator = estimator
        self.cap = cap
        self.grouping = grouping
        self.model = model
        self.value = value
        self.interval = interval
        self.method = method
        self.normal = normal
    }
}

/// CIS and NCIS at one cap of the diagnostics' cap table.
public struct CapRow: Sendable, Equatable, Codable {
    /// The cap (∞ for none; written as null in JSON).
    public var cap: Double
    /// CIS at the cap.
    public var cis: Double
    /// NCIS at the cap.
    public var ncis: Double

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(cap.isFinite ? cap : nil, forKey: .cap)
        try c.encode(cis.isFinite ? cis : nil, forKey: .cis)
        try c.encode(ncis.isFinite ? ncis : nil, forKey: .ncis)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cap = try c.decodeIfPresent(Double.self, forKey: .cap) ?? .infinity
        cis = try c.decodeIfPresent(Double.self, forKey: .cis) ?? .nan
        ncis = try c.decodeIfPresent(Double.self, forKey: .ncis) ?? .nan
    }

    /// A row of the cap table.
    public init(cap: Double, cis: Double, ncis: Double) {
        self.cap = cap
        self.cis = cis
        self.ncis = ncis
    }

    enum CodingKeys: String, CodingKey { case cap, cis, ncis }
}

/// The share of rows whose weight exceeds a cap.
public struct CapShare: Sendable, Equatable, Codable {
    /// The cap.
    public var cap: Double
    /// Rows whose weight exceeds it, as a share of all rows.
    public var share: Double
}

/// Numbers that decide whether to trust the weights.
public struct WeightDiagnostics: Sendable, Equatable, Codable {
    /// Kish effective sample size (Σw)²/Σw².
    public var effectiveSampleSize: Double
    /// The largest weight of any row.
    public var maxWeight: Double
    /// The mean weight (1 in expectation when the logging probabilities are right).
    public var meanWeight: Double
    /// Share of rows whose weight exceeds each cap (1, 2, 5, 10, 20, 50, 100 and the caps given).
    public var shareAboveCap: [CapShare]
    /// Target probability mass, averaged over rows, on (item, position) pairs the logs never show
    /// (nil when the reward-model pass did not run).
    public var unsupportedMass: Double?
    /// CIS and NCIS at caps 1, 2, 5, 10, 20, 50, 100 and ∞.
    public var capTable: [CapRow]
    /// Rows by importance weight in binary bins (nil when a merged state predates histograms).
    public var weightHistogram: [WeightBin]?
}

/// Rows whose importance weight w lies in [low, high) (the first bin is w = 0: low = high = 0).
public struct WeightBin: Sendable, Equatable, Codable {
    /// Inclusive lower edge.
    public var low: Double
    /// Exclusive upper edge (nil for the last bin, w ≥ low).
    public var high: Double?
    /// Rows in the bin.
    public var rows: Int
}

/// The evaluation of one target policy on logged data.
public struct PolicyEvaluation: Sendable, Equatable, Codable {
    /// The target policy's name.
    public var policy: String
    /// Every estimate: estimators × caps × groupings × reward models.
    public var estimates: [Estimate]
    /// Numbers that decide whether to trust the weights.
    public var diagnostics: WeightDiagnostics
    /// What may make the estimates unreliable (unsupported mass, heavy weights, ...).
    public var warnings: [String]

    /// The first estimate of a kind (with the grouping and model, when given).
    public func estimate(
        _ e: Estimator, cap: Double? = nil, grouping: PieceGrouping? = nil, model: RewardModelKind? = nil
    ) -> Estimate? {
        estimates.first {
            $0.estimator == e && (cap == nil || $0.cap == cap) && (grouping == nil || $0.grouping == grouping)
                && (model == nil || $0.model == model)
        }
    }
}

/// An offline A/B report: every target policy's evaluation on one log.
public struct OfflineABReport: Sendable, Equatable, Codable {
    /// Where the rows came from (a file, "stdin", or the merged shards' sources).
    public var logs: String
    /// Rows evaluated.
    public var rows: Int
    /// The logged policy's own mean reward.
    public var loggedMean: Double
    /// One evaluation per target policy, in the order given.
    public var evaluations: [PolicyEvaluation]
    /// Warnings about the log itself.
    public var warnings: [String]
    /// Passes over the data the evaluation took.
    public var passes: Int

}
