import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A simulated home feed with known click rates, for offline A/B tests whose true answer is known.
///
/// Items belong to teams; each request comes from a user whose favourite team is drawn
/// uniformly. Item i's click rate in period t for a user of team f is
/// `base_i · (1 + amplitude·sin(2π t / cycle_i + phase_i)) · (lift if team(i) = f else 1)`, and a
/// click at position k also needs the slot to be examined (probability `examination[k]`).
///
/// The logging policy is Bernoulli Thompson sampling with prior Beta(1, priorBeta), updated at
/// every period boundary with all clicks and non-clicks so far. Each logged row carries its exact
/// propensity P_A(item at position | period). Candidate policies are replayed on the same logs:
/// - priority TS: the same posterior, with items of the user's favourite team boosted
///   (multiplicative);
/// - dTS: discounted counts (γ per period) on the same prior;
/// - dOTS: dTS with optimism.
/// The true value of a candidate is the mean, over logged slots (period, user, position), of
/// Σ_a P_B(a at k | period, user) · examination[k] · ctr(a, period, user): what it would have
/// earned in exactly those slots.
public struct FeedSimulator: Sendable {
    /// The simulated feed's sizes and rates.
    public struct Config: Sendable {
        /// Items.
        public var items = 24
        /// User groups with favourite items.
        public var teams = 4
        /// Positions per request.
        public var positions = 3
        /// Periods the click rates drift over.
        public var periods = 24
        /// Requests per period.
        public var requestsPerPeriod = 500
        /// Seconds per period.
        public var periodSeconds = 4.0 * 3600
        /// The range items' base click rates are drawn from.
        public var baseCTR: ClosedRange<Double> = 0.02...0.08
        /// Relative amplitude of the periodic drift.
        public var amplitude = 0.5
        /// Click-rate factor of a group's favourite items.
        public var favouriteLift = 1.6
        /// Probability that each position is examined.
        public var examination: [Double] = [1, 0.75, 0.55]
        /// The prior's pseudo-impressions.
        public var priorBeta = 30.0
        /// The priority boost factor of the boosted candidate.
        public var boost = 1.3
        /// The discount of the discounted candidates.
        public var discount = 0.8
        /// The defaults.
        public init() {}
    }

    /// A candidate's exact marginals per state and its true value on the simulated log.
    public struct Candidate: Sendable {
        /// The candidate's name.
        public let name: String
        /// Its marginals, one per state.
        public let marginals: [RankMarginals]
        /// Per logged row, its state.
        public let state: [Int32]
        /// Its true mean reward in the simulated world.
        public let truth: Double
    }

    /// One simulated log.
    public struct Run: Sendable {
        /// The logged rows.
        public let logs: LoggedData
        /// The logging policy's exact marginals per period, and each row's period.
        public let logging: [RankMarginals]
        /// Per row, its period.
        public let period: [Int32]
        /// The candidate target policies.
        public let candidates: [Candidate]
        /// The logging policy's own true value on the same slots.
        public let loggingTruth: Double
    }

    /// The world it simulates.
    public let config: Config

    /// A simulator of `config`'s world.
    public init(config: Config = Config()) { self.config = config }

    /// Simulates one log.
    public func run(seed: UInt64) throws(RecOPEError) -> Run {
        let c = config
        let N = c.items
        let K = min(c.positions, c.items)
        guard N >= 1, K >= 1, c.periods >= 1, c.teams >= 1, c.examination.count >= K else {
            throw .invalidParameter("feed simulator: bad configuration")
        }
        var g = Xoshiro256(seed: seed)
        let world = World(config: c, using: &g)
        let prior = try BetaPrior(
            alpha: [Double](repeating: 1, count: N), beta: [Double](repeating: c.priorBeta, count: N))
        var clicks = [Double](repeating: 0, count: N)
        var shows = clicks
        var dts = try DiscountedThompsonSampling(prior: prior, discount: c.discount, period: c.periodSeconds)
        var log = Log()
        var loggingM = [RankMarginals]()
        var priorityM = [RankMarginals]()
        var dtsM = [RankMarginals]()
        var dotsM = [RankMarginals]()
        for t in 0..<c.periods {
            // Policies at the start of period t.
            let logging = try ThompsonSampling(prior: prior, clicks: clicks, impressions: shows, name: "logging TS")
            let lm = try logging.exactMarginals(k: K)
            loggingM.append(lm)
            for f in 0..<c.teams {
                let boost = PriorityBoost(
                    items: Set((0..<N).filter { world.team[$0] == f }), rule: .multiplicative(c.boost))
                let priority = try ThompsonSampling(prior: prior, clicks: clicks, impressions: shows, boost: boost)
                priorityM.append(try priority.exactMarginals(k: K))
            }
            try dts.advance(to: Double(t) * c.periodSeconds)
            dtsM.append(try dts.policy().exactMarginals(k: K))
            dotsM.append(try dts.policy(optimistic: true).exactMarginals(k: K))
            let events = try log.logPeriod(t, policy: logging, marginals: lm, k: K, world: world, using: &g)
            // Period boundary: everyone learns from this period's impressions.
            for e in events {
                shows[e.item] += 1
                if e.clicked { clicks[e.item] += 1 }
            }
            try dts.update(with: events)
        }
        let logs = try LoggedData(
            items: log.items, positions: log.positions, rewards: log.rewards, propensities: log.props,
            contexts: log.ctx, source: "simulated feed (seed \(seed))")
        let byPeriod = { (j: Int) in Int(log.period[j]) }
        let byPeriodTeam = { (j: Int) in Int(log.period[j]) * c.teams + log.ctx[j] }
        let candidates = [
            Candidate(
                name: "priority TS", marginals: priorityM,
                state: (0..<log.items.count).map { Int32(byPeriodTeam($0)) },
                truth: world.truth(of: priorityM, state: byPeriodTeam, on: log)),
            Candidate(
                name: "dTS", marginals: dtsM, state: log.period, truth: world.truth(of: dtsM, state: byPeriod, on: log)),
            Candidate(
                name: "dOTS", marginals: dotsM, state: log.period,
                truth: world.truth(of: dotsM, state: byPeriod, on: log)),
        ]
        return Run(
            logs: logs, logging: loggingM, period: log.period, candidates: candidates,
            loggingTruth: world.truth(of: loggingM, state: byPeriod, on: log))
    }

    /// The simulated world: items' base rates, drift cycles and phases, and teams.
    struct World {
        let config: Config
        let base: [Double]
        let cycle: [Double]
        let phase: [Double]
        let team: [Int]

        /// Draws the items' base rates, then cycles, then phases, from `g`.
        init(config c: Config, using g: inout Xoshiro256) {
            config = c
            let N = c.items
            base = (0..<N).map { _ in
                c.baseCTR.lowerBound + (c.baseCTR.upperBound - c.baseCTR.lowerBound) * Sampling.uniform(&g)
            }
            cycle = (0..<N).map { _ in 6 + 12 * Sampling.uniform(&g) }
            phase = (0..<N).map { _ in 2 * Double.pi * Sampling.uniform(&g) }
            team = (0..<N).map { $0 % c.teams }
        }

        /// Item `a`'s click rate in period `t` for a user whose favourite team is `f`.
        func ctr(_ a: Int, _ t: Int, _ f: Int) -> Double {
            let v =
                base[a] * (1 + config.amplitude * sin(2 * Double.pi * Double(t) / cycle[a] + phase[a]))
                * (team[a] == f ? config.favouriteLift : 1)
            return min(max(v, 0), 1)
        }

        /// The true value of marginals `ms` (row j's state from `state`) on the logged slots:
        /// the mean of Σ_a P(a at k) · examination[k] · ctr(a, period, team).
        func truth(of ms: [RankMarginals], state: (Int) -> Int, on log: Log) -> Double {
            var v = 0.0
            for j in 0..<log.items.count {
                let m = ms[state(j)]
                let k = log.positions[j]
                let t = Int(log.period[j])
                let f = log.ctx[j]
                for a in 0..<config.items {
                    v += m.probability(item: a, rank: k) * config.examination[k] * ctr(a, t, f)
                }
            }
            return v / Double(log.items.count)
        }
    }

    /// The logged rows as they accumulate.
    struct Log {
        var items = [Int]()
        var positions = [Int]()
        var rewards = [Double]()
        var props = [Double]()
        var ctx = [Int]()
        var period = [Int32]()

        /// Period `t`'s requests under the logging policy; returns its impressions as events.
        mutating func logPeriod(
            _ t: Int, policy logging: ThompsonSampling, marginals lm: RankMarginals, k K: Int, world: World,
            using g: inout Xoshiro256
        ) throws(RecOPEError) -> [DiscountedThompsonSampling.Event] {
            let c = world.config
            var events = [DiscountedThompsonSampling.Event]()
            for q in 0..<c.requestsPerPeriod {
                let f = Int(Sampling.uniform(&g) * Double(c.teams))
                let ranking = try logging.sampleRanking(k: K, using: &g)
                let time = (Double(t) + Double(q) / Double(c.requestsPerPeriod)) * c.periodSeconds
                for (k, a) in ranking.enumerated() {
                    let click = Sampling.uniform(&g) < c.examination[k] * world.ctr(a, t, f)
                    items.append(a)
                    positions.append(k)
                    rewards.append(click ? 1 : 0)
                    props.append(lm.probability(item: a, rank: k))
                    ctx.append(f)
                    period.append(Int32(t))
                    events.append(.init(time: time, item: a, clicked: click))
                }
            }
            return events
        }
    }

    /// Evaluates every candidate of a run with every estimator.
    public static func evaluate(_ run: Run, settings: EvaluationSettings) throws(RecOPEError) -> [PolicyEvaluation] {
        var out = [PolicyEvaluation]()
        for cand in run.candidates {
            out.append(
                try OfflineEvaluation.evaluate(
                    logs: run.logs, targets: cand.marginals, targetState: cand.state, policy: cand.name,
                    logging: run.logging, loggingState: run.period, settings: settings))
        }
        return out
    }

    /// One estimator's record over a simulation study.
    public struct StudyRow: Sendable, Equatable, Codable {
        /// The candidate.
        public var policy: String
        /// The estimator's label ("pieceNCIS by position", "DR (ctr)").
        public var estimator: String
        /// The cap (nil for none).
        public var cap: Double?
        /// Mean estimate − truth over the runs.
        public var bias: Double
        /// Root mean squared error over the runs.
        public var rmse: Double
        /// The truth's mean over the runs.
        public var meanTruth: Double
        /// Share of runs whose normal interval holds the exact value.
        public var normalCoverage: Double
        /// Share of runs whose Poisson-bootstrap interval holds it (nil without replicates).
        public var bootstrapCoverage: Double?
        /// The normal interval's mean width over the runs.
        public var normalWidth: Double = 0
        /// The Poisson-bootstrap interval's mean width (nil without replicates).
        public var bootstrapWidth: Double?
        /// Share of runs whose empirical-likelihood interval holds the exact value (IS, SNIPS, DR, SNDR,
        /// with `EvaluationSettings.likelihood`; nil otherwise).
        public var likelihoodCoverage: Double?
        /// The empirical-likelihood interval's mean width.
        public var likelihoodWidth: Double?
        /// The width of the narrowest interval centred on each run's estimate that holds the exact
        /// value in the study's share `level` of the runs: twice that quantile of |estimate − truth|
        /// (the smallest order statistic at or above it). An oracle (it knows the errors), shown
        /// as the floor a fixed-width interval around this estimator cannot go below.
        public var oracleWidth: Double = 0
    }

    /// Bias, RMSE and interval coverage of each estimator over `runs` simulated logs (seeds seed,
    /// seed+1, …), each against that log's exact value of the candidate.
    public func study(runs: Int, seed: UInt64, settings: EvaluationSettings) throws(RecOPEError) -> [StudyRow] {
        struct Tally {
            var sum = 0.0, sumSq = 0.0, truth = 0.0, n = 0, normal = 0, boot = 0, booted = 0
            var normalWidth = 0.0, bootWidth = 0.0
            var likelihood = 0, likelihoodRuns = 0, likelihoodWidth = 0.0
            var errors = [Double]()
        }
        var acc = [String: (row: StudyRow, tally: Tally)]()
        var order = [String]()
        for r in 0..<runs {
            let run = try self.run(seed: seed &+ UInt64(r))
            let evs = try FeedSimulator.evaluate(run, settings: settings)
            for (cand, ev) in zip(run.candidates, evs) {
                for e in ev.estimates {
                    // A tuned estimate's cap is its choice, which varies by run: one row for it.
                    let cap = e.tuning == nil ? e.cap : nil
                    let key = "\(cand.name)|\(e.label)|\(cap.map { String($0) } ?? "-")"
                    if acc[key] == nil {
                        acc[key] = (
                            StudyRow(
                                policy: cand.name, estimator: e.label, cap: cap, bias: 0, rmse: 0, meanTruth: 0,
                                normalCoverage: 0, bootstrapCoverage: nil), Tally()
                        )
                        order.append(key)
                    }
                    let err = e.value - cand.truth
                    acc[key]!.tally.sum += err
                    acc[key]!.tally.sumSq += err * err
                    acc[key]!.tally.errors.append(abs(err))
                    acc[key]!.tally.truth += cand.truth
                    acc[key]!.tally.n += 1
                    if e.normal.low <= cand.truth && cand.truth <= e.normal.high { acc[key]!.tally.normal += 1 }
                    acc[key]!.tally.normalWidth += e.normal.high - e.normal.low
                    if e.method == .poissonBootstrap {
                        acc[key]!.tally.booted += 1
                        acc[key]!.tally.bootWidth += e.interval.high - e.interval.low
                        if e.interval.low <= cand.truth && cand.truth <= e.interval.high { acc[key]!.tally.boot += 1 }
                    }
                    if let l = e.likelihood {
                        acc[key]!.tally.likelihoodRuns += 1
                        acc[key]!.tally.likelihoodWidth += l.high - l.low
                        if l.low <= cand.truth && cand.truth <= l.high { acc[key]!.tally.likelihood += 1 }
                    }
                }
            }
        }
        return order.map { k in
            var (row, t) = acc[k]!
            let n = Double(t.n)
            row.bias = t.sum / n
            row.rmse = (t.sumSq / n).squareRoot()
            row.meanTruth = t.truth / n
            row.normalCoverage = Double(t.normal) / n
            row.bootstrapCoverage = t.booted > 0 ? Double(t.boot) / Double(t.booted) : nil
            row.normalWidth = t.normalWidth / n
            let sorted = t.errors.sorted()
            let k = min(sorted.count - 1, max(0, Int((settings.level * n).rounded(.up)) - 1))
            row.oracleWidth = 2 * sorted[k]
            row.bootstrapWidth = t.booted > 0 ? t.bootWidth / Double(t.booted) : nil
            if t.likelihoodRuns > 0 {
                row.likelihoodCoverage = Double(t.likelihood) / Double(t.likelihoodRuns)
                row.likelihoodWidth = t.likelihoodWidth / Double(t.likelihoodRuns)
            }
            return row
        }
    }
}
