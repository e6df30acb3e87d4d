import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The distinct (weight, reward) pairs of a policy's rows with their counts: exact (counts add
/// when shards merge, whatever the split), so an interval computed from them after the pass is
/// the one process's. Ranking logs hold few distinct pairs (states × items × positions × reward
/// values); past `maxPairs` the counts stop and the interval is not computed.
public struct WeightRewardCounts: Sendable, Equatable, Codable {
    /// Distinct pairs kept at most (per policy).
    public static let maxPairs = 1 << 20

    /// The pairs' weights (in the order first met; a state's file lists them sorted).
    public private(set) var weights: [Double] = []
    /// The pairs' rewards.
    public private(set) var rewards: [Double] = []
    /// Rows per pair.
    public private(set) var counts: [Int] = []
    /// More than `maxPairs` distinct pairs were met: the counts were dropped.
    public private(set) var overflow = false
    private var index: [Key: Int] = [:]

    struct Key: Hashable, Sendable {
        let w: UInt64
        let r: UInt64
    }

    enum CodingKeys: String, CodingKey { case weights, rewards, counts, overflow }

    /// No rows.
    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        weights = try c.decode([Double].self, forKey: .weights)
        rewards = try c.decode([Double].self, forKey: .rewards)
        counts = try c.decode([Int].self, forKey: .counts)
        overflow = try c.decode(Bool.self, forKey: .overflow)
        guard weights.count == rewards.count, weights.count == counts.count, weights.count <= Self.maxPairs,
            counts.allSatisfy({ $0 > 0 }), weights.allSatisfy({ $0 >= 0 && $0.isFinite }),
            rewards.allSatisfy(\.isFinite)
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .counts, in: c, debugDescription: "weight-reward counts of different lengths or out of range")
        }
        for j in weights.indices {
            let k = Key(w: weights[j].bitPattern, r: rewards[j].bitPattern)
            guard index.updateValue(j, forKey: k) == nil else {
                throw DecodingError.dataCorruptedError(
                    forKey: .weights, in: c, debugDescription: "a weight-reward pair is listed twice")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        // Sorted, so a state's bytes do not depend on the order rows were met in.
        let order = weights.indices.sorted { (weights[$0], rewards[$0]) < (weights[$1], rewards[$1]) }
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(order.map { weights[$0] }, forKey: .weights)
        try c.encode(order.map { rewards[$0] }, forKey: .rewards)
        try c.encode(order.map { counts[$0] }, forKey: .counts)
        try c.encode(overflow, forKey: .overflow)
    }

    public static func == (a: Self, b: Self) -> Bool {
        guard a.overflow == b.overflow, a.weights.count == b.weights.count else { return false }
        for (k, j) in a.index {
            guard let i = b.index[k], a.counts[j] == b.counts[i] else { return false }
        }
        return true
    }

    /// Counts `count` rows of weight `w` and reward `r` (0 is an exact zero: its sign dropped).
    @inline(__always) public mutating func add(weight w: Double, reward r: Double, count: Int = 1) {
        guard !overflow else { return }
        let key = Key(w: (w + 0).bitPattern, r: (r + 0).bitPattern)
        if let j = index[key] {
            counts[j] += count
            return
        }
        guard weights.count < Self.maxPairs else {
            overflow = true
            weights = []
            rewards = []
            counts = []
            index = [:]
            return
        }
        index[key] = weights.count
        weights.append(w + 0)
        rewards.append(r + 0)
        counts.append(count)
    }

    /// Adds another part's counts (any split of the rows gives the whole's).
    public mutating func merge(_ o: WeightRewardCounts) {
        if o.overflow {
            self = o
            return
        }
        for j in o.weights.indices { add(weight: o.weights[j], reward: o.rewards[j], count: o.counts[j]) }
    }

    /// Rows counted.
    public var rows: Int { counts.reduce(0, +) }
}

/// The logged ranges of a reward model's DM and predictions q̂ over a pass's rows (mergeable:
/// minima and maxima), for the support of DR's empirical-likelihood interval.
public struct ModelRange: Sendable, Equatable, Codable {
    /// The smallest and largest DMᵢ.
    public private(set) var dmLow: Double
    /// See `dmLow`.
    public private(set) var dmHigh: Double
    /// The smallest and largest prediction q̂ᵢ of a logged (item, position).
    public private(set) var predictionLow: Double
    /// See `predictionLow`.
    public private(set) var predictionHigh: Double

    /// The ranges given.
    public init(dm: ClosedRange<Double>, prediction: ClosedRange<Double>) {
        dmLow = dm.lowerBound
        dmHigh = dm.upperBound
        predictionLow = prediction.lowerBound
        predictionHigh = prediction.upperBound
    }

    /// Widens the ranges to hold a row's DM and prediction.
    public mutating func add(dm: Double, prediction: Double) {
        dmLow = min(dmLow, dm)
        dmHigh = max(dmHigh, dm)
        predictionLow = min(predictionLow, prediction)
        predictionHigh = max(predictionHigh, prediction)
    }

    /// The ranges of both parts' rows.
    public mutating func merge(_ o: ModelRange) {
        add(dm: o.dmLow, prediction: o.predictionLow)
        add(dm: o.dmHigh, prediction: o.predictionHigh)
    }
}

/// Empirical-likelihood confidence intervals for a policy's value V = E[w·r] from importance-
/// weighted rows, using that the weights' mean is 1 (Karampatziakis, Langford & Mineiro,
/// "Empirical likelihood for contextual bandits", NeurIPS 2020; Owen, "Empirical likelihood", 2001).
///
/// The interval is every v at which the profile empirical likelihood of distributions Q on the
/// rows' (w, r) pairs — with E_Q[w] = 1 and E_Q[w·r] = v — is within χ²₁(level)/2 of its maximum.
/// Q may also put mass where no row is: at w = 0 and at (W, r_min), (W, r_max), W the weight
/// bound (by default the largest logged weight, r_min and r_max the logged rewards' range). That
/// mass is what lets the interval reach values a log that missed a rare large weight cannot show:
/// when the rows' weights average below 1, Q may restore the missing mass at W with any reward.
///
/// Assumptions: rows independent given the policies (as the normal interval assumes); weights
/// exact and the target's support inside the logging policy's (E[w] = 1); rewards within the
/// logged range; weights at most W. Coverage is asymptotic (Wilks's theorem for the profile
/// likelihood), not a finite-sample guarantee.
public enum EmpiricalLikelihood {
    /// The interval at `level` from the pairs, or nil when there are none or E[w] = 1 cannot hold
    /// (every weight below 1 and a bound W ≤ 1).
    public static func interval(
        _ counts: WeightRewardCounts, level: Double, weightBound: Double? = nil
    ) -> Interval? {
        let (w, r, c) = sorted(counts)
        return interval(weights: w, rewards: r, counts: c, level: level, weightBound: weightBound)
    }

    /// The interval from distinct pairs (w_j, r_j) with counts c_j.
    public static func interval(
        weights w: [Double], rewards r: [Double], counts c: [Double], level: Double, weightBound: Double? = nil
    ) -> Interval? {
        guard let rMin = r.min(), let rMax = r.max() else { return nil }
        let lo = min(rMin, 0)
        let hi = max(rMax, 0)
        return profile(
            weights: w, terms: zip(w, r).map { $0 * $1 }, counts: c, level: level, weightBound: weightBound,
            range: lo...hi, support: { b in (b * lo, b * hi) })
    }

    /// DR's interval from distinct pairs (w_j, y_j), y the rows' DR terms DMᵢ + wᵢ·(rᵢ − q̂ᵢ), with
    /// E_Q[y] = v. Rewards lie in `rewards` and the model's DM and predictions q̂ in `model`'s
    /// logged ranges (without `model`: in the rewards' range), so a row no log shows at the bound W
    /// has a term in [DM_min + W·(lo − q̂_max), DM_max + W·(hi − q̂_min)].
    public static func doublyRobustInterval(
        _ counts: WeightRewardCounts, rewards: ClosedRange<Double>, model: ModelRange? = nil, level: Double,
        weightBound: Double? = nil
    ) -> Interval? {
        let (w, y, c) = sorted(counts)
        let lo = min(rewards.lowerBound, 0)
        let hi = max(rewards.upperBound, 0)
        let m = model ?? ModelRange(dm: lo...hi, prediction: lo...hi)
        return profile(
            weights: w, terms: y, counts: c, level: level, weightBound: weightBound, range: lo...hi,
            support: { b in
                (m.dmLow + b * (lo - m.predictionHigh), m.dmHigh + b * (hi - m.predictionLow))
            })
    }

    /// The pairs sorted by (weight, value), so the sums (and the interval's bits) do not depend on
    /// the order rows were met in.
    static func sorted(_ counts: WeightRewardCounts) -> ([Double], [Double], [Double]) {
        let order = counts.weights.indices.sorted {
            (counts.weights[$0], counts.rewards[$0]) < (counts.weights[$1], counts.rewards[$1])
        }
        return (
            order.map { counts.weights[$0] }, order.map { counts.rewards[$0] }, order.map { Double(counts.counts[$0]) }
        )
    }

    /// The profile interval of E_Q[y] over `range`, Q on the rows' (w, y) and on w = 0 and the
    /// bound W with the terms `support(W)`.
    static func profile(
        weights w: [Double], terms y: [Double], counts c: [Double], level: Double, weightBound: Double?,
        range: ClosedRange<Double>, support: (Double) -> (Double, Double)
    ) -> Interval? {
        guard !w.isEmpty, let wMax = w.max() else { return nil }
        let bound = max(weightBound ?? wMax, wMax)
        guard bound > 1 || w.allSatisfy({ $0 == 1 }) else { return nil }
        let lo = range.lowerBound
        let hi = range.upperBound
        guard hi > lo else { return Interval(low: lo, high: hi) }
        var problem = Problem(w: w, y: y, c: c)
        // Where no row is: w = 0, and the bound with the smallest and largest term.
        let (yLow, yHigh) = support(bound)
        problem.addSupport(w: 0, y: 0)
        problem.addSupport(w: bound, y: yLow)
        problem.addSupport(w: bound, y: yHigh)
        let z = SpecialFunctions.normalQuantile(0.5 + level / 2)
        let threshold = z * z / 2
        // S(v) is convex: its minimum by golden section, then each end by bisection.
        var a = lo
        var b = hi
        let g = (5.0.squareRoot() - 1) / 2
        var x1 = b - g * (b - a)
        var x2 = a + g * (b - a)
        var f1 = problem.statistic(x1)
        var f2 = problem.statistic(x2)
        for _ in 0..<80 where b - a > 1e-13 * (hi - lo) {
            if f1 < f2 {
                b = x2
                x2 = x1
                f2 = f1
                x1 = b - g * (b - a)
                f1 = problem.statistic(x1)
            } else {
                a = x1
                x1 = x2
                f1 = f2
                x2 = a + g * (b - a)
                f2 = problem.statistic(x2)
            }
        }
        let center = (a + b) / 2
        let limit = problem.statistic(center) + threshold
        func edge(from inside: Double, to outside: Double) -> Double {
            guard problem.statistic(outside) > limit else { return outside }
            var i = inside
            var o = outside
            for _ in 0..<60 where abs(o - i) > 1e-12 * (hi - lo) {
                let m = (i + o) / 2
                if problem.statistic(m) > limit { o = m } else { i = m }
            }
            return o
        }
        return Interval(low: edge(from: center, to: lo), high: edge(from: center, to: hi))
    }

    /// The dual of the profile likelihood at v: S(v) = max over λ of Σ c_j log(1 + λ·g_j / n),
    /// g_j = (w_j − 1, y_j − v), y_j the pair's term (w_j·r_j for IS; DMᵢ + wᵢ·(rᵢ − q̂ᵢ) for DR),
    /// with the support points as rows of negligible count (a barrier that keeps 1 + λ·g ≥ 0
    /// there, so Q may put mass on them).
    struct Problem {
        var w: [Double]
        var y: [Double]
        var c: [Double]
        let n: Double
        var lambda = (0.0, 0.0)
        static let supportCount = 1e-9

        init(w: [Double], y: [Double], c: [Double]) {
            self.w = w
            self.y = y
            self.c = c
            n = c.reduce(0, +)
        }

        mutating func addSupport(w: Double, y: Double) {
            self.w.append(w)
            self.y.append(y)
            c.append(Self.supportCount * n)
        }

        func objective(_ l0: Double, _ l1: Double, _ v: Double) -> Double? {
            var s = 0.0
            for j in w.indices {
                let t = 1 + (l0 * (w[j] - 1) + l1 * (y[j] - v)) / n
                guard t > 0 else { return nil }
                s += c[j] * log(t)
            }
            return s
        }

        /// S(v) by damped Newton steps from the last λ (or 0 where that is infeasible at v).
        mutating func statistic(_ v: Double) -> Double {
            var (l0, l1) = lambda
            var current: Double
            if let f = objective(l0, l1, v) {
                current = f
            } else {
                (l0, l1) = (0, 0)
                current = 0
            }
            for _ in 0..<100 {
                var g0 = 0.0
                var g1 = 0.0
                var h00 = 0.0
                var h01 = 0.0
                var h11 = 0.0
                for j in w.indices {
                    let x0 = (w[j] - 1) / n
                    let x1 = (y[j] - v) / n
                    let d = c[j] / (1 + l0 * x0 + l1 * x1)
                    g0 += d * x0
                    g1 += d * x1
                    let e = d * d / c[j]
                    h00 += e * x0 * x0
                    h01 += e * x0 * x1
                    h11 += e * x1 * x1
                }
                // A ridge keeps the step defined when a direction is flat (all weights 1).
                let ridge = 1e-12 * (h00 + h11) + 1e-300
                h00 += ridge
                h11 += ridge
                let det = h00 * h11 - h01 * h01
                guard det > 0, det.isFinite else { break }
                let s0 = (h11 * g0 - h01 * g1) / det
                let s1 = (h00 * g1 - h01 * g0) / det
                var t = 1.0
                var next: Double?
                while t > 1e-14 {
                    if let f = objective(l0 + t * s0, l1 + t * s1, v), f >= current {
                        next = f
                        break
                    }
                    t /= 2
                }
                guard let f = next else { break }
                l0 += t * s0
                l1 += t * s1
                let gain = f - current
                current = f
                // Past any threshold of interest: the value is outside every interval.
                if gain < 1e-11 || current > 1e6 { break }
            }
            lambda = (l0, l1)
            return current
        }
    }
}
