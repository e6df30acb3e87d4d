import Foundation
import RecCore
import RecOPE
import Testing

/// The empirical-likelihood interval (`EmpiricalLikelihood`): against a closed form where one
/// exists, its coverage against the exact value of a heavy-tailed design, and its counts merged.
@Suite struct EmpiricalLikelihoodTests {
    /// With every weight 1 (the target is the logging policy) E[w] = 1 holds on its own and the
    /// interval is the binomial likelihood-ratio interval: {p : 2·(ℓ(pHat) − ℓ(p)) ≤ z²}, solved here
    /// by bisection on the closed-form log-likelihood.
    @Test(arguments: [(3, 40), (17, 50), (1, 1000), (250, 1000)])
    func onPolicyIsTheBinomialLikelihoodRatioInterval(clicks k: Int, rows n: Int) throws {
        let level = 0.95
        let el = try #require(
            EmpiricalLikelihood.interval(
                weights: [1, 1], rewards: [0, 1], counts: [Double(n - k), Double(k)], level: level))
        let K = Double(k)
        let N = Double(n)
        let pHat = K / N
        func drop(_ p: Double) -> Double {
            2 * (K * log(pHat / p) + (N - K) * log((1 - pHat) / (1 - p)))
        }
        let z = SpecialFunctions.normalQuantile(0.5 + level / 2)
        func edge(_ inside: Double, _ outside: Double) -> Double {
            var i = inside
            var o = outside
            for _ in 0..<200 {
                let m = (i + o) / 2
                if drop(m) > z * z { o = m } else { i = m }
            }
            return (i + o) / 2
        }
        let low = edge(pHat, 0)
        let high = edge(pHat, 1)
        #expect(abs(el.low - low) <= 1e-8 && abs(el.high - high) <= 1e-8, "EL \(el) vs closed form [\(low), \(high)]")
    }

    /// A heavy-tailed design whose exact value is known: five items, the logging policy shows
    /// the last with probability 0.001 and the target with 0.2 (weight 200), so 2,000 rows hold two
    /// of it on average and none 13.5% of the time.
    struct HeavyTails {
        static let logging = [0.5, 0.3, 0.15, 0.049, 0.001]
        static let target = [0.2, 0.2, 0.2, 0.2, 0.2]
        static let ctr = [0.05, 0.05, 0.1, 0.2, 0.5]
        static let value = zip(target, ctr).map { $0 * $1 }.reduce(0, +)
        static let weights = zip(target, logging).map { $0 / $1 }

        /// One logged row: its item and reward.
        static func row(_ g: inout Xoshiro256) -> (item: Int, reward: Double) {
            var u = Sampling.uniform(&g)
            var a = 0
            while a < 4 && u >= logging[a] {
                u -= logging[a]
                a += 1
            }
            return (a, Sampling.uniform(&g) < ctr[a] ? 1 : 0)
        }

        /// Coverage and mean width of each interval `intervals` makes from a log's rows (item,
        /// reward) and their terms' normal interval, over `runs` logs of 2,000 rows.
        static func coverage(
            runs: Int, seed: UInt64, term: (Int, Double) -> Double,
            intervals: ([(item: Int, reward: Double)], Interval) throws -> [Interval]
        ) throws -> (coverage: [Double], width: [Double]) {
            let n = 2000
            var g = Xoshiro256(seed: seed)
            var covered = [Int]()
            var widths = [Double]()
            for _ in 0..<runs {
                let rows = (0..<n).map { _ in row(&g) }
                let x = rows.map { term($0.item, $0.reward) }
                let mean = x.reduce(0, +) / Double(n)
                let se = ((x.map { $0 * $0 }.reduce(0, +) / Double(n) - mean * mean) / Double(n - 1)).squareRoot()
                let all = try intervals(rows, Interval(low: mean - 1.96 * se, high: mean + 1.96 * se))
                if covered.isEmpty {
                    covered = all.map { _ in 0 }
                    widths = all.map { _ in 0 }
                }
                for (i, iv) in all.enumerated() {
                    if iv.low <= value && value <= iv.high { covered[i] += 1 }
                    widths[i] += iv.high - iv.low
                }
            }
            return (covered.map { Double($0) / Double(runs) }, widths.map { $0 / Double(runs) })
        }

        /// 95% − 3 standard errors of a coverage over `runs` logs.
        static func floor(runs: Int) -> Double { 0.95 - 3 * (0.95 * 0.05 / Double(runs)).squareRoot() }
    }

    /// On `HeavyTails`, over 400 logs, the interval with the policies' weight bound covers V at
    /// least 95% − 3 standard errors of the time; the normal interval's and the interval with the
    /// largest logged weight as its bound are reported beside it.
    @Test func coverageOnHeavyTails() throws {
        let w = HeavyTails.weights
        let term = { (a: Int, r: Double) in w[a] * r }
        let (coverage, widths) = try HeavyTails.coverage(runs: 400, seed: 11, term: term) { rows, normal in
            var counts = WeightRewardCounts()
            for (a, r) in rows { counts.add(weight: w[a], reward: r) }
            return [
                normal, try #require(EmpiricalLikelihood.interval(counts, level: 0.95)),
                try #require(EmpiricalLikelihood.interval(counts, level: 0.95, weightBound: 200)),
            ]
        }
        print(
            "EL heavy tails: coverage normal \(coverage[0]), EL (largest logged weight) \(coverage[1]), EL (bound 200) \(coverage[2]); mean widths \(widths)"
        )
        #expect(coverage[2] >= HeavyTails.floor(runs: 400), "EL with the policies' bound covers \(coverage[2])")
    }

    /// DR's interval on `HeavyTails` with a wrong constant model (q̂ = 0.1 for every item, so
    /// DMᵢ = 0.1): over 400 logs it covers V at least 95% − 3 standard errors of the time with the
    /// policies' bound; DR's normal interval's coverage is reported beside it.
    @Test func doublyRobustCoverageOnHeavyTails() throws {
        let w = HeavyTails.weights
        let qHat = 0.1
        let term = { (a: Int, r: Double) in qHat + w[a] * (r - qHat) }
        let (coverage, widths) = try HeavyTails.coverage(runs: 400, seed: 12, term: term) { rows, normal in
            var counts = WeightRewardCounts()
            for (a, r) in rows { counts.add(weight: w[a], reward: term(a, r)) }
            return [
                normal,
                try #require(
                    EmpiricalLikelihood.doublyRobustInterval(
                        counts, rewards: 0...1, model: ModelRange(dm: qHat...qHat, prediction: qHat...qHat),
                        level: 0.95, weightBound: 200)),
                try #require(
                    EmpiricalLikelihood.doublyRobustInterval(counts, rewards: 0...1, level: 0.95, weightBound: 200)),
            ]
        }
        print(
            "DR EL heavy tails: coverage normal \(coverage[0]), EL (bound 200; the model's range) \(coverage[1]), EL (bound 200; the reward range) \(coverage[2]); mean widths \(widths)"
        )
        #expect(coverage[1] >= HeavyTails.floor(runs: 400), "DR's EL interval covers \(coverage[1])")
        #expect(coverage[2] >= HeavyTails.floor(runs: 400), "DR's EL interval covers \(coverage[2])")
    }

    /// DR's terms with a model that predicts nothing (q̂ = 0, DM = 0) are IS's. With that model's
    /// range the support points are IS's too and the intervals are equal; with only the reward
    /// range they reach further (a term may be anything in [lo − W·(hi − lo), hi + W·(hi − lo)]), so
    /// with the same best distribution (all weights 1: the rows' own) DR's holds IS's, and little more.
    @Test func doublyRobustWithAnEmptyModelIsIS() throws {
        var terms = WeightRewardCounts()
        terms.add(weight: 1, reward: 0, count: 70)
        terms.add(weight: 1, reward: 1, count: 30)
        let dr = try #require(EmpiricalLikelihood.doublyRobustInterval(terms, rewards: 0...1, level: 0.95))
        let ips = try #require(EmpiricalLikelihood.interval(terms, level: 0.95))
        #expect(dr.low <= ips.low + 1e-12 && dr.high >= ips.high - 1e-12, "DR \(dr) vs IS \(ips)")
        #expect(dr.high - dr.low <= 1.1 * (ips.high - ips.low), "DR \(dr) vs IS \(ips)")
        let empty = ModelRange(dm: 0...0, prediction: 0...0)
        let same = try #require(
            EmpiricalLikelihood.doublyRobustInterval(terms, rewards: 0...1, model: empty, level: 0.95))
        #expect(same == ips, "DR with the empty model's range \(same) vs IS \(ips)")
    }

    /// Counts merge exactly, whatever the split, and a state's JSON lists them sorted.
    @Test func countsMergeExactly() throws {
        var g = Xoshiro256(seed: 5)
        let rows = (0..<500).map { _ in
            (Double(Int(Sampling.uniform(&g) * 6)) / 2, Sampling.uniform(&g) < 0.3 ? 1.0 : 0.0)
        }
        var whole = WeightRewardCounts()
        var a = WeightRewardCounts()
        var b = WeightRewardCounts()
        for (j, (w, r)) in rows.enumerated() {
            whole.add(weight: w, reward: r)
            if j < 250 { a.add(weight: w, reward: r) } else { b.add(weight: w, reward: r) }
        }
        b.merge(a)
        #expect(b == whole && whole.rows == 500 && whole.weights.count > 6)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try encoder.encode(b)
        #expect(json == (try encoder.encode(whole)), "the encoding depends on the order rows came in")
        #expect(try JSONDecoder().decode(WeightRewardCounts.self, from: json) == whole)
        let lone = try #require(EmpiricalLikelihood.interval(whole, level: 0.9))
        #expect(lone == EmpiricalLikelihood.interval(b, level: 0.9))
    }

    /// A bound at or below 1, or not finite, is refused with its value.
    @Test func badBoundsAreRefused() throws {
        let m = RankMarginals(items: 2, k: 1, probabilities: [0.5, 0.5])
        for bound in [1.0, 0.5, .infinity, .nan] {
            var s = EvaluationSettings()
            s.likelihood = .reported
            s.weightBound = bound
            #expect {
                _ = try OffPolicyEvaluator(
                    targets: [TargetPolicy(name: "t", marginals: [m])], logging: [m], settings: s)
            } throws: { "\($0)".contains("the weight bound must be finite and above 1") }
        }
    }
}
