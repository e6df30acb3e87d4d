import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One kind of policy spec: the `kind` names it reads, the keys it takes, its reading (every check,
/// each error naming its key) and the policy it builds. A new kind is one type conforming to
/// this and one entry in `PolicySpec.kinds`; the key check, the unknown-kind message and the
/// dispatch come from that list.
protocol PolicySpecKind: Sendable {
    /// The `kind` values this type reads.
    static var names: [String] { get }
    /// The keys a spec of this kind takes, `kind` included (any other key is an error).
    static var keys: Set<String> { get }
    /// Reads a spec whose `kind` is `name` (one of `names`), checking its keys in a fixed order:
    /// the first wrong one is the one reported.
    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError)
    /// The policy the spec describes.
    func policy() throws(RecOPEError) -> any RankingPolicy
}

/// The keys every Thompson-sampling kind takes.
private let thompsonKeys: Set<String> = ["kind", "prior", "campaign", "alpha", "beta", "boost"]

/// `bernoulli_ts` and `priority_ts`: a Beta prior (a prior file, or `alpha` and `beta`), observed
/// `clicks` and `impressions` added to it, `optimistic`, and a `boost` (required for `priority_ts`).
struct ThompsonSamplingSpec: PolicySpecKind {
    static let names = ["bernoulli_ts", "priority_ts"]
    static let keys = thompsonKeys.union(["clicks", "impressions", "optimistic"])
    let priority: Bool
    let prior: BetaPrior
    let clicks: [Double]?
    let impressions: [Double]?
    let optimistic: Bool
    let boost: PriorityBoost?

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        priority = name == "priority_ts"
        boost = try r.boost()
        if priority && boost == nil { throw r.error("kind priority_ts needs a \"boost\" object") }
        prior = try r.prior()
        clicks = try r.numbers("clicks", required: false)
        impressions = try r.numbers("impressions", required: false)
        optimistic = try r.bool("optimistic") ?? false
    }

    func policy() throws(RecOPEError) -> any RankingPolicy {
        try ThompsonSampling(
            prior: prior, clicks: clicks, impressions: impressions, optimistic: optimistic, boost: boost,
            name: priority ? "priority TS" : "TS")
    }
}

/// `dts` and `dots` (discounted and discounted optimistic TS): a Beta prior, the discount γ and
/// its period, a `log` of clicks replayed onto it, an `at` time to advance to, and a `boost`.
struct DiscountedThompsonSamplingSpec: PolicySpecKind {
    static let names = ["dts", "dots"]
    static let keys = thompsonKeys.union(["discount", "period_hours", "log", "at"])
    let optimistic: Bool
    let prior: BetaPrior
    let discount: Double
    let periodHours: Double
    /// The log's path (resolved against the spec's folder).
    let log: String?
    let at: Double?
    let boost: PriorityBoost?
    /// The model after the log and the advance (read once, with the spec: a bad log is the
    /// spec's error).
    let model: DiscountedThompsonSampling

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        optimistic = name == "dots"
        prior = try r.prior()
        discount = try r.number("discount") ?? 0.99
        periodHours = try r.number("period_hours") ?? 4
        var d = try DiscountedThompsonSampling(prior: prior, discount: discount, period: 3600 * periodHours)
        log = try r.path("log")
        if let log {
            let events = try DiscountedThompsonSampling.readEvents(csv: log)
            do { try d.update(with: events) } catch {
                throw .malformedFile(file: log, line: nil, message: "\(error)")
            }
        }
        at = try r.number("at")
        if let at { try d.advance(to: at) }
        boost = try r.boost()
        model = d
    }

    func policy() throws(RecOPEError) -> any RankingPolicy {
        try model.policy(optimistic: optimistic, boost: boost)
    }
}

/// `plackett_luce`: item `scores` (inline or `scores_file`) and a `temperature` > 0 (default 1).
struct PlackettLuceSpec: PolicySpecKind {
    static let names = ["plackett_luce"]
    static let keys: Set<String> = ["kind", "scores", "scores_file", "temperature"]
    let scores: [Double]
    let temperature: Double

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        scores = try r.scores()
        temperature = try r.number("temperature") ?? 1
    }

    func policy() throws(RecOPEError) -> any RankingPolicy {
        try PlackettLuce(scores: scores, temperature: temperature)
    }
}

/// `epsilon_greedy`: item `scores` (inline or `scores_file`) and `epsilon` in [0, 1].
struct EpsilonGreedySpec: PolicySpecKind {
    static let names = ["epsilon_greedy"]
    static let keys: Set<String> = ["kind", "scores", "scores_file", "epsilon"]
    let scores: [Double]
    let epsilon: Double

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        guard let eps = try r.number("epsilon") else { throw r.error("kind epsilon_greedy needs \"epsilon\"") }
        epsilon = eps
        scores = try r.scores()
    }

    func policy() throws(RecOPEError) -> any RankingPolicy {
        try EpsilonGreedy(scores: scores, epsilon: epsilon)
    }
}

/// `uniform`: every ranking of `items` items equally likely.
struct UniformSpec: PolicySpecKind {
    static let names = ["uniform"]
    static let keys: Set<String> = ["kind", "items"]
    let items: Int

    init(reading r: PolicySpec.Reader, kind name: String) throws(RecOPEError) {
        guard let n = try r.number("items") else { throw r.error("kind uniform needs \"items\"") }
        guard n == n.rounded(), n >= 1, n <= 10_000_000 else {
            throw r.error("\"items\" must be an integer in 1...10000000, got \(cFormat("%g", n))")
        }
        items = Int(n)
    }

    func policy() throws(RecOPEError) -> any RankingPolicy {
        try UniformRandomRanking(items: items)
    }
}
