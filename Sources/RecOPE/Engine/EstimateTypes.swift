import Foundation

/// The off-policy estimators RecOPE computes (formulas in `OfflineEvaluation`).
public enum Estimator: String, Sendable, Codable, CaseIterable {
    case IS, CIS, NCIS, SNIPS, pieceNCIS, pointNCIS, DM, DR, SwitchDR
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
        let g = text.trimmingCharacters(in: .whitespaces)
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
    public var low: Double
    public var high: Double

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
    public var policy: String
    public var estimator: Estimator
    /// The weight cap c (the switch threshold τ for SwitchDR), nil for none.
    public var cap: Double?
    /// The grouping of pieceNCIS, nil otherwise.
    public var grouping: PieceGrouping?
    /// The reward model of DM, DR and SwitchDR, nil otherwise.
    public var model: RewardModelKind?
    public var value: Double
    /// The reported interval, computed by `method`.
    public var interval: Interval
    public var method: IntervalMethod
    /// The normal (CLT / delta-method) interval, always computed.
    public var normal: Interval

    /// The estimator's name with its grouping and model ("pieceNCIS by position", "DR (ctr)").
    public var label: String {
        estimator.rawValue + (grouping.map { " by \($0)" } ?? "") + (model.map { " (\($0.rawValue))" } ?? "")
    }

    enum CodingKeys: String, CodingKey { case policy, estimator, cap, grouping, model, value, interval, method, normal }

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
    }

    public init(
        policy: String, estimator: Estimator, cap: Double?, grouping: PieceGrouping?, model: RewardModelKind?,
        value: Double, interval: Interval, method: IntervalMethod, normal: Interval
    ) {
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
    public var cis: Double
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

    public init(cap: Double, cis: Double, ncis: Double) {
        self.cap = cap
        self.cis = cis
        self.ncis = ncis
    }

    enum CodingKeys: String, CodingKey { case cap, cis, ncis }
}

/// The share of rows whose weight exceeds a cap.
public struct CapShare: Sendable, Equatable, Codable {
    public var cap: Double
    public var share: Double
}

/// Numbers that decide whether to trust the weights.
public struct WeightDiagnostics: Sendable, Equatable, Codable {
    /// Kish effective sample size (Σw)²/Σw².
    public var effectiveSampleSize: Double
    public var maxWeight: Double
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
    public var low: Double
    /// Exclusive upper edge (nil for the last bin, w ≥ low).
    public var high: Double?
    public var rows: Int
}

/// The evaluation of one target policy on logged data.
public struct PolicyEvaluation: Sendable, Equatable, Codable {
    public var policy: String
    public var estimates: [Estimate]
    public var diagnostics: WeightDiagnostics
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
    public var rows: Int
    /// The logged policy's own mean reward.
    public var loggedMean: Double
    public var evaluations: [PolicyEvaluation]
    public var warnings: [String]
    /// Passes over the data the evaluation took.
    public var passes: Int

}
