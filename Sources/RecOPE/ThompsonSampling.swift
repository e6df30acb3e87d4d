import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A priority boost: items flagged for the context (for example the user's favourite team) get
/// their score raised before ranking.
public struct PriorityBoost: Sendable, Equatable {
    /// How a flagged item's score `x` is raised.
    public enum Rule: Sendable, Equatable {
        /// `x + amount` (amount ≥ 0 raises; any finite amount is allowed).
        case additive(Double)
        /// `x · factor` (factor > 0; above 1 raises).
        case multiplicative(Double)
    }
    /// The flagged items (indices into the policy's items).
    public let items: Set<Int>
    /// How the boost changes a flagged item's score.
    public let rule: Rule

    /// A boost of `items` by `rule`.
    public init(items: Set<Int>, rule: Rule) {
        self.items = items
        self.rule = rule
    }

    func validate(itemCount: Int) throws(RecOPEError) {
        if let bad = items.first(where: { $0 < 0 || $0 >= itemCount }) {
            throw .invalidParameter("priority boost: item \(bad) is outside the \(itemCount) items")
        }
        switch rule {
        case .additive(let a) where !a.isFinite:
            throw .invalidParameter("priority boost: additive amount must be finite, got \(a)")
        case .multiplicative(let m) where !(m > 0 && m.isFinite):
            throw .invalidParameter("priority boost: multiplicative factor must be positive and finite, got \(m)")
        default: break
        }
    }

    /// Applies the rule to a score.
    @inline(__always) func apply(_ x: Float) -> Float {
        switch rule {
        case .additive(let a): return x + Float(a)
        case .multiplicative(let m): return x * Float(m)
        }
    }
}

/// Bernoulli Thompson sampling over items with Beta posteriors, and its optimistic and boosted
/// variants.
///
/// Each item i has a Beta(aᵢ, bᵢ) posterior over its click rate; a ranking sorts the items by one
/// posterior draw each. With `optimistic`, a draw below the posterior mean aᵢ/(aᵢ+bᵢ) is replaced
/// by the mean (the "optimistic" TS of the dOTS policy): items with the same mean then tie
/// exactly, and ties are ordered uniformly at random. With a `boost`, flagged items' scores (after
/// the optimism step) are raised by the boost rule.
public struct ThompsonSampling: RankingPolicy {
    /// Posterior first shape parameters (prior alpha + clicks).
    public let alpha: [Double]
    /// Posterior second shape parameters (prior beta + non-clicks).
    public let beta: [Double]
    /// Replace draws below the posterior mean by the mean.
    public let optimistic: Bool
    /// Optional priority boost.
    public let boost: PriorityBoost?
    public let name: String

    public var itemCount: Int { alpha.count }
    /// Posterior means a/(a+b).
    public var means: [Double] { zip(alpha, beta).map { $0 / ($0 + $1) } }

    /// A policy from posterior parameters.
    /// - Throws: `.invalidParameter` for an empty item set, mismatched lengths, or a parameter
    ///   that is not positive and finite (naming the item).
    public init(
        alpha: [Double], beta: [Double], optimistic: Bool = false, boost: PriorityBoost? = nil,
        name: String? = nil
    ) throws(RecOPEError) {
        let label = name ?? (optimistic ? "optimistic TS" : boost == nil ? "TS" : "priority TS")
        guard !alpha.isEmpty else { throw .invalidParameter("\(label): the item set is empty") }
        guard alpha.count == beta.count else {
            throw .invalidParameter("\(label): \(alpha.count) alpha values but \(beta.count) beta values")
        }
        for i in alpha.indices {
            guard alpha[i] > 0, alpha[i].isFinite, beta[i] > 0, beta[i].isFinite else {
                throw .invalidParameter(
                    "\(label): item \(i) has Beta parameters (\(alpha[i]), \(beta[i])); both must be positive and finite"
                )
            }
        }
        try boost?.validate(itemCount: alpha.count)
        self.alpha = alpha
        self.beta = beta
        self.optimistic = optimistic
        self.boost = boost
        self.name = label
    }

    /// A policy from a prior and observed clicks and impressions per item:
    /// posterior a = prior alpha + clicks, b = prior beta + (impressions − clicks).
    /// - Throws: `.invalidParameter` when counts are negative, clicks exceed impressions, or the
    ///   lengths differ from the prior's.
    public init(
        prior: BetaPrior, clicks: [Double]? = nil, impressions: [Double]? = nil,
        optimistic: Bool = false, boost: PriorityBoost? = nil, name: String? = nil
    ) throws(RecOPEError) {
        let n = prior.alpha.count
        let c = clicks ?? [Double](repeating: 0, count: n)
        let m = impressions ?? c
        guard c.count == n, m.count == n else {
            throw .invalidParameter("TS: prior has \(n) items but clicks/impressions have \(c.count)/\(m.count)")
        }
        for i in 0..<n where !(c[i] >= 0 && m[i] >= c[i] && m[i].isFinite) {
            throw .invalidParameter(
                "TS: item \(i) has \(c[i]) clicks and \(m[i]) impressions; need 0 ≤ clicks ≤ impressions")
        }
        try self.init(
            alpha: (0..<n).map { prior.alpha[$0] + c[$0] }, beta: (0..<n).map { prior.beta[$0] + m[$0] - c[$0] },
            optimistic: optimistic, boost: boost, name: name)
    }

    public func makeScoreFiller() -> RankSampling.ScoreFiller {
        let n = itemCount
        let sampler = BetaSampler(alpha: alpha.map { Float($0) }, beta: beta.map { Float($0) })
        let workspace = sampler.makeWorkspace(maxRows: RankSampling.rowsPerChunk(items: n))
        let meansF = means.map { Float($0) }
        let optimistic = self.optimistic
        let boost = self.boost
        let flagged = boost.map { Array($0.items).sorted() } ?? []
        return { out, rows, stream in
            sampler.fill(out, rows: rows, stream: stream, workspace: workspace)
            if optimistic {
                meansF.withUnsafeBufferPointer { mp in
                    for r in 0..<rows {
                        let row = out + r * n
                        for j in 0..<n where row[j] < mp[j] { row[j] = mp[j] }
                    }
                }
            }
            if let boost {
                for r in 0..<rows {
                    let row = out + r * n
                    for j in flagged { row[j] = boost.apply(row[j]) }
                }
            }
        }
    }

    /// Monte Carlo counts by `BetaRankSampler` (sixteen rankings per vector) for k up to 16, by
    /// rows of scores (`RankSampling`) above.
    public func monteCarloCounts(k: Int, simulations: Int, seed: UInt64, parallelism: Parallelism) -> [Int] {
        guard k <= BetaRankSampler.maxK else {
            return RankSampling.counts(
                items: itemCount, k: k, simulations: simulations, seed: seed,
                parallelism: parallelism, makeFiller: makeScoreFiller)
        }
        var scale: [Float]? = nil
        var shift: [Float]? = nil
        if let boost {
            // x·1 + 0 is x exactly, and x·m + 0, x·1 + a are the boost's one rounding.
            switch boost.rule {
            case .additive(let amount):
                var s = [Float](repeating: 0, count: itemCount)
                for i in boost.items { s[i] = Float(amount) }
                shift = s
            case .multiplicative(let factor):
                var m = [Float](repeating: 1, count: itemCount)
                for i in boost.items { m[i] = Float(factor) }
                scale = m
            }
        }
        let sampler = BetaRankSampler(
            alpha: alpha, beta: beta, floor: optimistic ? means.map { Float($0) } : nil, scale: scale, shift: shift)
        return sampler.counts(k: k, simulations: simulations, seed: seed, parallelism: parallelism)
    }

    public func exactMarginals(k: Int) throws(RecOPEError) -> RankMarginals {
        try validate(k: k)
        try Self.requireExactRange(alpha: alpha, beta: beta)
        return try ExactRankMarginals.compute(distributions: scoreDistributions(), k: k)
    }

    /// The largest a + b of a Beta posterior the exact method takes. The posterior's width falls
    /// as 1/√(a+b) and the quadrature's error grows with it: rows summed to 1 within 3e-12 at
    /// a + b = 1e4, 7e-11 at 1e5, 4e-10 at 1e6, 9e-9 at 1e7 and 6e-8 at 1e8 (measured), so the
    /// method stops at 1e6 (OBD's production prior reaches 2.7e5) and refuses beyond.
    public static let exactParameterLimit = 1e6

    /// The largest a + b the Monte Carlo sampler takes: its Float Beta draws resolve a relative
    /// spread of about 1e-7, and a posterior with a + b above 1e12 is narrower than that (sd ≈
    /// √(p(1−p)/(a+b))), so items would tie where their means differ.
    public static let monteCarloParameterLimit = 1e12

    public func checkMonteCarloRange() throws(RecOPEError) {
        if let i = alpha.indices.first(where: { alpha[$0] + beta[$0] > Self.monteCarloParameterLimit }) {
            throw .unsupported(
                "Monte Carlo marginals take Beta posteriors with a + b ≤ 1e12 (Float draws cannot resolve narrower ones); item \(i) has a = \(cFormat("%.4g", alpha[i])), b = \(cFormat("%.4g", beta[i])): scale the counts down (a discount) first"
            )
        }
        let tiny = Double(Float.leastNormalMagnitude)
        if let i = alpha.indices.first(where: { !(alpha[$0] >= tiny && beta[$0] >= tiny) }) {
            throw .unsupported(
                "Monte Carlo marginals draw in Float, whose smallest normal value is 1.2e-38; item \(i) has a = \(cFormat("%.4g", alpha[i])), b = \(cFormat("%.4g", beta[i])): use the exact method (--method exact)"
            )
        }
        if let (end, p, items) = Self.floatTies(alpha: alpha, beta: beta) {
            throw .unsupported(
                "Monte Carlo marginals: Beta shapes this small put draws at \(end) as Float rounds them, where items tie (probability \(cFormat("%.2g", p)) that two or more do, above \(Self.monteCarloTieLimit); items \(items.prefix(5).map(String.init).joined(separator: ", "))\(items.count > 5 ? ", ..." : "")): use the exact method (--method exact), which resolves them"
            )
        }
    }

    /// The largest probability the Monte Carlo sampler accepts that two or more items' Float
    /// draws round to the same end of [0, 1] (below 2^-126 or above 1 − 2^-25) and tie there.
    public static let monteCarloTieLimit = 1e-4

    /// Where Float draws tie with probability above `monteCarloTieLimit`: the end, that
    /// probability and the items with mass there (nil when they do not). Two items with a shape
    /// below about 0.25 at the same end give such ties.
    static func floatTies(alpha: [Double], beta: [Double]) -> (end: Int, probability: Double, items: [Int])? {
        let low = Double(Float.leastNormalMagnitude)
        let high = 0x1p-25
        for end in [0, 1] {
            // P(no item at the end) and P(exactly one), over independent items.
            var none = 1.0
            var one = 0.0
            var items = [Int]()
            for i in alpha.indices {
                let p =
                    end == 0
                    ? SpecialFunctions.regularizedIncompleteBeta(alpha[i], beta[i], low)
                    : SpecialFunctions.regularizedIncompleteBeta(beta[i], alpha[i], high)
                if p > 1e-6 { items.append(i) }
                one = one * (1 - p) + none * p
                none *= 1 - p
            }
            let ties = max(0, 1 - none - one)
            if ties > monteCarloTieLimit { return (end, ties, items) }
        }
        return nil
    }

    /// Throws naming the first item whose Beta parameters are outside the exact method's range.
    static func requireExactRange(alpha: [Double], beta: [Double]) throws(RecOPEError) {
        if let i = alpha.indices.first(where: { alpha[$0] + beta[$0] > exactParameterLimit }) {
            throw .unsupported(
                "exact marginals take Beta posteriors with a + b ≤ 1e6; item \(i) has a = \(cFormat("%.4g", alpha[i])), b = \(cFormat("%.4g", beta[i])): use Monte Carlo marginals (--method mc)"
            )
        }
    }

    /// Each item's score distribution (Beta draw, optimism, boost), for exact marginals.
    func scoreDistributions() -> [ScoreDistribution] {
        (0..<itemCount).map { i in
            var d = ScoreDistribution.beta(alpha[i], beta[i])
            if optimistic { d = .floored(d, at: alpha[i] / (alpha[i] + beta[i])) }
            if let b = boost, b.items.contains(i) {
                switch b.rule {
                case .additive(let a): d = .affine(d, scale: 1, shift: a)
                case .multiplicative(let m): d = .affine(d, scale: m, shift: 0)
                }
            }
            return d
        }
    }
}

/// Per-item Beta prior parameters.
public struct BetaPrior: Sendable, Equatable {
    /// α per item (the prior's successes).
    public let alpha: [Double]
    /// β per item.
    public let beta: [Double]

    /// - Throws: `.invalidParameter` for mismatched lengths, an empty set, or a parameter that is
    ///   not positive and finite (naming the item).
    public init(alpha: [Double], beta: [Double]) throws(RecOPEError) {
        guard !alpha.isEmpty else { throw .invalidParameter("Beta prior: the item set is empty") }
        guard alpha.count == beta.count else {
            throw .invalidParameter("Beta prior: \(alpha.count) alpha values but \(beta.count) beta values")
        }
        for i in alpha.indices where !(alpha[i] > 0 && alpha[i].isFinite && beta[i] > 0 && beta[i].isFinite) {
            throw .invalidParameter(
                "Beta prior: item \(i) has (\(alpha[i]), \(beta[i])); both must be positive and finite")
        }
        self.alpha = alpha
        self.beta = beta
    }

    /// The same prior for `items` items.
    public static func uniform(items: Int, alpha: Double = 1, beta: Double = 1) throws(RecOPEError) -> BetaPrior {
        try BetaPrior(alpha: [Double](repeating: alpha, count: items), beta: [Double](repeating: beta, count: items))
    }
}
