import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One kind of policy spec: the `kind` names it reads, the keys it takes, its reading (every check
/// a spec's text needs, each error naming its key) and the policy it builds (files read then,
/// relative paths resolved against a folder). A new kind is one type conforming to this, one
/// entry in `PolicySpec.kinds` and one case of `AnyPolicySpec`; the key check, the unknown-kind
/// message, the dispatch and the Codable conformances come from them.
protocol PolicySpecKind: Codable, Sendable, Equatable {
    /// The `kind` values this type reads.
    static var names: [String] { get }
    /// The keys a spec of this kind takes, `kind` included (any other key is an error).
    static var keys: Set<String> { get }
    /// Reads a spec whose `kind` is `name` (one of `names`), checking its keys in a fixed order:
    /// the first wrong one is the one reported.
    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError)
    /// The spec as the JSON object a spec file holds.
    var json: [String: JSONValue] { get }
    /// The policy the spec describes; relative paths are resolved against `base`.
    func policy(relativeTo base: URL) throws(RecOPEError) -> any RankingPolicy
    /// Wraps the spec.
    var any: AnyPolicySpec { get }
}

extension PolicySpecKind {
    /// Decodes the spec's JSON object with every check `PolicySpec.load` makes (unknown keys
    /// refused with the keys the kind takes).
    static func decoded(_ decoder: any Decoder) throws -> Self {
        let object = try JSONValue(from: decoder)
        guard let spec = object.object else {
            throw RecOPEError.invalidParameter("a policy spec must be a JSON object")
        }
        let any = try PolicySpec.read(spec, file: "the spec", base: URL(fileURLWithPath: "."))
        guard let me = any.spec as? Self else {
            throw RecOPEError.invalidParameter(
                "the spec's kind is \(any.kind), not \(Self.names.joined(separator: " or "))")
        }
        return me
    }

    /// Encodes the JSON object a spec file holds.
    func encodeJSON(_ encoder: any Encoder) throws { try JSONValue.object(json).encode(to: encoder) }
}

/// JSON helpers for `PolicySpecKind.json`.
private func number(_ d: Double) -> JSONValue { .number(d, exact: nil) }
private func numbers(_ a: [Double]) -> JSONValue { .array(a.map(number)) }
private func put(_ o: inout [String: JSONValue], _ key: String, _ v: JSONValue?) { if let v { o[key] = v } }

/// Where a Thompson-sampling spec's Beta prior comes from: an OBD-format prior file and its
/// campaign, or `alpha` and `beta` inline.
public enum PriorSource: Sendable, Equatable {
    /// A prior file (relative to the spec's folder) and its campaign (`all` by default).
    case file(String, campaign: String?)
    /// The Beta parameters per item.
    case inline(alpha: [Double], beta: [Double])

    static func read(_ r: PolicySpec.Reader) throws(RecOPEError) -> PriorSource {
        let spec = r.spec
        if spec["prior"] != nil && (spec["alpha"] != nil || spec["beta"] != nil) {
            throw r.error("give \"prior\" (a prior file) or \"alpha\" and \"beta\", not both")
        }
        if spec["campaign"] != nil && spec["prior"] == nil {
            throw r.error("\"campaign\" selects a campaign of a \"prior\" file; this spec has none")
        }
        if spec["prior"] != nil {
            return .file(try r.string("prior"), campaign: spec["campaign"] == nil ? nil : try r.string("campaign"))
        }
        guard let a = try r.numbers("alpha", required: false), let b = try r.numbers("beta", required: false) else {
            throw r.error("a TS policy needs \"prior\" (a prior file) or \"alpha\" and \"beta\" arrays")
        }
        return .inline(alpha: a, beta: b)
    }

    func prior(relativeTo base: URL) throws(RecOPEError) -> BetaPrior {
        switch self {
        case .file(let p, let campaign):
            return try BetaPrior.load(yaml: PolicySpec.resolve(p, base), campaign: campaign ?? "all")
        case .inline(let a, let b): return try BetaPrior(alpha: a, beta: b)
        }
    }

    var json: [String: JSONValue] {
        switch self {
        case .file(let p, let c):
            var o: [String: JSONValue] = ["prior": .string(p)]
            put(&o, "campaign", c.map { .string($0) })
            return o
        case .inline(let a, let b): return ["alpha": numbers(a), "beta": numbers(b)]
        }
    }
}

extension PriorityBoost {
    /// `{"items": [...], "rule": "additive" | "multiplicative", "amount": x}`.
    var json: JSONValue {
        let (rule, amount): (String, Double) =
            switch self.rule {
            case .additive(let a): ("additive", a)
            case .multiplicative(let f): ("multiplicative", f)
            }
        return .object([
            "items": .array(items.sorted().map { .number(Double($0), exact: Int64($0)) }), "rule": .string(rule),
            "amount": number(amount),
        ])
    }
}

/// The keys every Thompson-sampling kind takes.
private let thompsonKeys: Set<String> = ["kind", "prior", "campaign", "alpha", "beta", "boost"]

/// `bernoulli_ts` and `priority_ts`: a Beta prior (a prior file, or `alpha` and `beta`), observed
/// `clicks` and `impressions` added to it, `optimistic`, and a `boost` (required for `priority_ts`).
public struct ThompsonSamplingSpec: PolicySpecKind, Codable, Sendable, Equatable {
    static let names = ["bernoulli_ts", "priority_ts"]
    static let keys = thompsonKeys.union(["clicks", "impressions", "optimistic"])
    /// `priority_ts` (its boost required) rather than `bernoulli_ts`.
    public var priority: Bool
    /// The Beta prior.
    public var prior: PriorSource
    /// Observed clicks and impressions per item, added to the prior.
    public var clicks: [Double]?
    /// See `clicks`.
    public var impressions: [Double]?
    /// dOTS-style optimism without discounting.
    public var optimistic: Bool
    /// The priority boost.
    public var boost: PriorityBoost?

    /// A spec with these values (checked when `policy(relativeTo:)` builds it).
    public init(
        priority: Bool = false, prior: PriorSource, clicks: [Double]? = nil, impressions: [Double]? = nil,
        optimistic: Bool = false, boost: PriorityBoost? = nil
    ) {
        self.priority = priority
        self.prior = prior
        self.clicks = clicks
        self.impressions = impressions
        self.optimistic = optimistic
        self.boost = boost
    }

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        priority = name == "priority_ts"
        boost = try r.boost()
        if priority && boost == nil { throw r.error("kind priority_ts needs a \"boost\" object") }
        prior = try PriorSource.read(r)
        clicks = try r.numbers("clicks", required: false)
        impressions = try r.numbers("impressions", required: false)
        optimistic = try r.bool("optimistic") ?? false
    }

    var json: [String: JSONValue] {
        var o = prior.json
        o["kind"] = .string(priority ? "priority_ts" : "bernoulli_ts")
        put(&o, "clicks", clicks.map(numbers))
        put(&o, "impressions", impressions.map(numbers))
        if optimistic { o["optimistic"] = .bool(true) }
        put(&o, "boost", boost?.json)
        return o
    }

    /// The Thompson-sampling policy (the prior file read now, relative to `base`).
    public func policy(relativeTo base: URL = URL(fileURLWithPath: ".")) throws(RecOPEError) -> any RankingPolicy {
        if priority && boost == nil { throw .invalidParameter("kind priority_ts needs a \"boost\" object") }
        return try ThompsonSampling(
            prior: try prior.prior(relativeTo: base), clicks: clicks, impressions: impressions, optimistic: optimistic,
            boost: boost, name: priority ? "priority TS" : "TS")
    }

    var any: AnyPolicySpec { .thompsonSampling(self) }

    /// Decodes a spec object of this kind with every check `PolicySpec.load` makes.
    public init(from decoder: any Decoder) throws { self = try Self.decoded(decoder) }
    /// Encodes the JSON object a spec file holds.
    public func encode(to encoder: any Encoder) throws { try encodeJSON(encoder) }
}

/// `dts` and `dots` (discounted and discounted optimistic TS): a Beta prior, the discount γ and
/// its period, a `log` of clicks replayed onto it, an `at` time to advance to, and a `boost`.
public struct DiscountedThompsonSamplingSpec: PolicySpecKind, Codable, Sendable, Equatable {
    static let names = ["dts", "dots"]
    static let keys = thompsonKeys.union(["discount", "period_hours", "log", "at"])
    /// `dots` rather than `dts`.
    public var optimistic: Bool
    /// The Beta prior.
    public var prior: PriorSource
    /// γ (default 0.99).
    public var discount: Double
    /// The discounting period in hours (default 4).
    public var periodHours: Double
    /// A CSV of `time,item,click` rows replayed onto the prior (relative to the spec's folder).
    public var log: String?
    /// The time (seconds) to advance the discounting to after the log.
    public var at: Double?
    /// The priority boost.
    public var boost: PriorityBoost?

    /// A spec with these values (checked when `policy(relativeTo:)` builds it).
    public init(
        optimistic: Bool = false, prior: PriorSource, discount: Double = 0.99, periodHours: Double = 4,
        log: String? = nil, at: Double? = nil, boost: PriorityBoost? = nil
    ) {
        self.optimistic = optimistic
        self.prior = prior
        self.discount = discount
        self.periodHours = periodHours
        self.log = log
        self.at = at
        self.boost = boost
    }

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        optimistic = name == "dots"
        prior = try PriorSource.read(r)
        discount = try r.number("discount") ?? 0.99
        periodHours = try r.number("period_hours") ?? 4
        log = r.spec["log"] == nil ? nil : try r.string("log")
        at = try r.number("at")
        boost = try r.boost()
    }

    var json: [String: JSONValue] {
        var o = prior.json
        o["kind"] = .string(optimistic ? "dots" : "dts")
        o["discount"] = number(discount)
        o["period_hours"] = number(periodHours)
        put(&o, "log", log.map { .string($0) })
        put(&o, "at", at.map(number))
        put(&o, "boost", boost?.json)
        return o
    }

    /// The model after the log's replay and the advance, as a policy (files read now).
    public func policy(relativeTo base: URL = URL(fileURLWithPath: ".")) throws(RecOPEError) -> any RankingPolicy {
        var d = try DiscountedThompsonSampling(
            prior: try prior.prior(relativeTo: base), discount: discount, period: 3600 * periodHours)
        if let log {
            let path = PolicySpec.resolve(log, base)
            let events = try DiscountedThompsonSampling.readEvents(csv: path)
            do { try d.update(with: events) } catch {
                throw .malformedFile(file: path, line: nil, message: "\(error)")
            }
        }
        if let at { try d.advance(to: at) }
        return try d.policy(optimistic: optimistic, boost: boost)
    }

    var any: AnyPolicySpec { .discountedThompsonSampling(self) }

    /// Decodes a spec object of this kind with every check `PolicySpec.load` makes.
    public init(from decoder: any Decoder) throws { self = try Self.decoded(decoder) }
    /// Encodes the JSON object a spec file holds.
    public func encode(to encoder: any Encoder) throws { try encodeJSON(encoder) }
}

/// Item scores inline, or a one-column CSV of them (relative to the spec's folder).
public enum ScoreSource: Sendable, Equatable {
    /// The scores.
    case inline([Double])
    /// A `scores_file`.
    case file(String)

    static func read(_ r: PolicySpec.Reader) throws(RecOPEError) -> ScoreSource {
        if r.spec["scores"] != nil && r.spec["scores_file"] != nil {
            throw r.error("give \"scores\" or \"scores_file\", not both")
        }
        if let s = try r.numbers("scores", required: false) { return .inline(s) }
        guard r.spec["scores_file"] != nil else { throw r.error("needs \"scores\" or \"scores_file\"") }
        return .file(try r.string("scores_file"))
    }

    func scores(relativeTo base: URL) throws(RecOPEError) -> [Double] {
        switch self {
        case .inline(let s): return s
        case .file(let f):
            let p = PolicySpec.resolve(f, base)
            let m: Matrix
            do { m = try CSVMatrix.read(p) } catch { throw opeError(error) }
            guard m.cols == 1 else {
                throw .malformedFile(file: p, line: 1, message: "expected one column of scores, got \(m.cols)")
            }
            return m.storage.map(Double.init)
        }
    }

    var json: [String: JSONValue] {
        switch self {
        case .inline(let s): return ["scores": numbers(s)]
        case .file(let f): return ["scores_file": .string(f)]
        }
    }
}

/// `plackett_luce`: item `scores` (inline or `scores_file`) and a `temperature` > 0 (default 1).
public struct PlackettLuceSpec: PolicySpecKind, Codable, Sendable, Equatable {
    static let names = ["plackett_luce"]
    static let keys: Set<String> = ["kind", "scores", "scores_file", "temperature"]
    /// The item scores.
    public var scores: ScoreSource
    /// The softmax temperature.
    public var temperature: Double

    /// A spec with these values (checked when `policy(relativeTo:)` builds it).
    public init(scores: ScoreSource, temperature: Double = 1) {
        self.scores = scores
        self.temperature = temperature
    }

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        scores = try ScoreSource.read(r)
        temperature = try r.number("temperature") ?? 1
    }

    var json: [String: JSONValue] {
        var o = scores.json
        o["kind"] = .string("plackett_luce")
        o["temperature"] = number(temperature)
        return o
    }

    /// The Plackett–Luce policy.
    public func policy(relativeTo base: URL = URL(fileURLWithPath: ".")) throws(RecOPEError) -> any RankingPolicy {
        try PlackettLuce(scores: try scores.scores(relativeTo: base), temperature: temperature)
    }

    var any: AnyPolicySpec { .plackettLuce(self) }

    /// Decodes a spec object of this kind with every check `PolicySpec.load` makes.
    public init(from decoder: any Decoder) throws { self = try Self.decoded(decoder) }
    /// Encodes the JSON object a spec file holds.
    public func encode(to encoder: any Encoder) throws { try encodeJSON(encoder) }
}

/// `epsilon_greedy`: item `scores` (inline or `scores_file`) and `epsilon` in [0, 1].
public struct EpsilonGreedySpec: PolicySpecKind, Codable, Sendable, Equatable {
    static let names = ["epsilon_greedy"]
    static let keys: Set<String> = ["kind", "scores", "scores_file", "epsilon"]
    /// The item scores.
    public var scores: ScoreSource
    /// The exploration probability.
    public var epsilon: Double

    /// A spec with these values (checked when `policy(relativeTo:)` builds it).
    public init(scores: ScoreSource, epsilon: Double) {
        self.scores = scores
        self.epsilon = epsilon
    }

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        guard let eps = try r.number("epsilon") else { throw r.error("kind epsilon_greedy needs \"epsilon\"") }
        epsilon = eps
        scores = try ScoreSource.read(r)
    }

    var json: [String: JSONValue] {
        var o = scores.json
        o["kind"] = .string("epsilon_greedy")
        o["epsilon"] = number(epsilon)
        return o
    }

    /// The epsilon-greedy policy.
    public func policy(relativeTo base: URL = URL(fileURLWithPath: ".")) throws(RecOPEError) -> any RankingPolicy {
        try EpsilonGreedy(scores: try scores.scores(relativeTo: base), epsilon: epsilon)
    }

    var any: AnyPolicySpec { .epsilonGreedy(self) }

    /// Decodes a spec object of this kind with every check `PolicySpec.load` makes.
    public init(from decoder: any Decoder) throws { self = try Self.decoded(decoder) }
    /// Encodes the JSON object a spec file holds.
    public func encode(to encoder: any Encoder) throws { try encodeJSON(encoder) }
}

/// `uniform`: every ranking of `items` items equally likely.
public struct UniformSpec: PolicySpecKind, Codable, Sendable, Equatable {
    static let names = ["uniform"]
    static let keys: Set<String> = ["kind", "items"]
    /// The number of items.
    public var items: Int

    /// A spec of `items` items.
    public init(items: Int) { self.items = items }

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        guard let n = try r.number("items") else { throw r.error("kind uniform needs \"items\"") }
        guard n == n.rounded(), n >= 1, n <= 10_000_000 else {
            throw r.error("\"items\" must be an integer in 1...10000000, got \(cFormat("%g", n))")
        }
        items = Int(n)
    }

    var json: [String: JSONValue] {
        ["kind": .string("uniform"), "items": .number(Double(items), exact: Int64(items))]
    }

    /// The uniform random ranking.
    public func policy(relativeTo base: URL = URL(fileURLWithPath: ".")) throws(RecOPEError) -> any RankingPolicy {
        try UniformRandomRanking(items: items)
    }

    var any: AnyPolicySpec { .uniform(self) }

    /// Decodes a spec object of this kind with every check `PolicySpec.load` makes.
    public init(from decoder: any Decoder) throws { self = try Self.decoded(decoder) }
    /// Encodes the JSON object a spec file holds.
    public func encode(to encoder: any Encoder) throws { try encodeJSON(encoder) }
}

/// A policy spec of any kind, as a Swift value: decoded from a spec's JSON with every check
/// `PolicySpec.load` makes (an unknown kind or key refused with the valid ones), encoded to the
/// JSON a spec file holds, built into its policy by `policy(relativeTo:)`.
public enum AnyPolicySpec: Codable, Sendable, Equatable {
    /// `bernoulli_ts`, `priority_ts`.
    case thompsonSampling(ThompsonSamplingSpec)
    /// `dts`, `dots`.
    case discountedThompsonSampling(DiscountedThompsonSamplingSpec)
    /// `plackett_luce`.
    case plackettLuce(PlackettLuceSpec)
    /// `epsilon_greedy`.
    case epsilonGreedy(EpsilonGreedySpec)
    /// `uniform`.
    case uniform(UniformSpec)

    var spec: any PolicySpecKind {
        switch self {
        case .thompsonSampling(let s): return s
        case .discountedThompsonSampling(let s): return s
        case .plackettLuce(let s): return s
        case .epsilonGreedy(let s): return s
        case .uniform(let s): return s
        }
    }

    /// Its `kind` value.
    public var kind: String { spec.json["kind"]?.string ?? "?" }

    /// The policy (files it names read now, relative to `base`).
    public func policy(relativeTo base: URL = URL(fileURLWithPath: ".")) throws(RecOPEError) -> any RankingPolicy {
        try spec.policy(relativeTo: base)
    }

    /// Decodes a spec object with every check `PolicySpec.load` makes.
    public init(from decoder: any Decoder) throws {
        let object = try JSONValue(from: decoder)
        guard let spec = object.object else {
            throw RecOPEError.invalidParameter("a policy spec must be a JSON object")
        }
        self = try PolicySpec.read(spec, file: "the spec", base: URL(fileURLWithPath: "."))
    }

    /// Encodes the JSON object a spec file holds.
    public func encode(to encoder: any Encoder) throws { try JSONValue.object(spec.json).encode(to: encoder) }
}
