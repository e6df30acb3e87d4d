import RecCore
import RecOPE

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension SessionSimulator {
    /// A trained model served as a slate policy and valued twice on held-out histories of this
    /// world: by the offline A/B engine on slates a known logging policy showed, and exactly from
    /// the world's next-event distribution.
    public struct SlateValue: Sendable, Codable, Equatable {
        /// Logged slates (one per history).
        public var slates: Int
        /// Positions per slate.
        public var depth: Int
        /// The serving rule of the target.
        public var rule: String
        /// The target's expected reward per slate in this world, averaged over the histories:
        /// Σ_j Σ_i P_π(i at j | h)·r̄(i | h), with r̄(i | h) = click·P(click i | h) +
        /// purchase·P(purchase i | h).
        public var trueValue: Double
        /// The logging policy's expected reward per slate, Σ_j Σ_i P_log(i at j)·r̄(i | h), averaged
        /// (uniform: depth/M · Σ_i r̄(i | h)).
        public var loggingValue: Double
        /// The logged slates' mean reward (the logging policy's value as observed).
        public var loggedReward: Double
        /// The engine's item-position estimates (IIPS and SNIIPS, `SlateState`) with their
        /// normal intervals.
        public var estimates: [Estimate]
    }

    /// Values `model` served by `rule` as a slate policy over its catalog, on one logged slate
    /// per history: the logging policy shows `depth` distinct items of the world's M, drawn
    /// uniformly (P(item i at position j) = 1/M) or, with `loggingScores` (one per world item),
    /// by Plackett–Luce over those scores (a Gumbel top-k draw; its exact item-position
    /// probabilities are the logged propensities). The next event is drawn from the world
    /// (`drawNext`), and the position that shows its item earns `rewards.click` or
    /// `rewards.purchase`. Each position's reward depends only on the item there, so the
    /// item-position estimator IIPS is unbiased for `trueValue`.
    /// - Parameters:
    ///   - model: a model trained on logs of this simulator (item keys are its item numbers).
    ///   - rule: how the model serves (greedy, epsilon-greedy, Plackett–Luce).
    ///   - histories: held-out histories (simulator item numbers), non-empty.
    ///   - depth: positions per slate.
    ///   - seed: the slates' and events' draws (history t from its own stream).
    ///   - loggingScores: Plackett–Luce scores of the logging policy over the world's items (nil:
    ///     uniform).
    ///   - rewards: the reward of a click and of a purchase on a shown item.
    ///   - level: the intervals' nominal coverage.
    ///   - batch: histories scored together.
    /// - Throws: `.invalidParameter` for no histories, a depth outside 1...min(M, the model's
    ///   items, 64), a history item outside the world, a model of another world; the engine's
    ///   errors as `.invalidParameter`.
    public func slateValue(
        of model: SequentialRecommender, rule: ServingRule, histories: [[(item: Int, purchase: Bool)]], depth: Int,
        seed: UInt64, loggingScores: [Double]? = nil, rewards: (click: Double, purchase: Double) = (0.2, 1),
        level: Double = 0.95, batch: Int = 64
    ) throws(RecRLError) -> SlateValue {
        let M = config.items
        guard !histories.isEmpty else { throw .invalidParameter("slate value: no histories") }
        for h in histories { try checkItems(h) }
        guard depth >= 1 && depth <= min(M, model.itemKeys.count, SlateSettings.maxDepth) else {
            throw .invalidParameter(
                "slate value: depth must be in 1...\(min(M, model.itemKeys.count, SlateSettings.maxDepth)), got \(depth)"
            )
        }
        let simItem = try simulatorItems(of: model, for: "slate value")
        // The logging policy's P(item at position), M × depth (nil: uniform, 1/M).
        var loggingMarginals: [Double]? = nil
        if let s = loggingScores {
            guard s.count == M, s.allSatisfy(\.isFinite) else {
                throw .invalidParameter("slate value: the logging scores must be \(M) finite numbers, got \(s.count)")
            }
            do {
                let m = try PlackettLuce(scores: s).exactMarginals(k: depth)
                loggingMarginals = (0..<M).flatMap { i in (0..<depth).map { m.probability(item: i, rank: $0) } }
            } catch { throw .invalidParameter("slate value: the logging policy: \(error)") }
        }
        let ids = model.itemIDs()
        let candidates = Array(1...model.itemKeys.count)
        var chunk = LogChunk(source: "simulated slates")
        chunk.slates = []
        chunk.propensities = []
        var target = [Double]()
        var truth = 0.0
        var logging = 0.0
        var observed = 0.0
        for start in stride(from: 0, to: histories.count, by: batch) {
            let part = Array(histories[start..<min(histories.count, start + batch)])
            let states = part.map { h in model.state(rawHistory: h.map { String($0.item) }, ids: ids).state }
            let policies = try model.servingPolicies(
                states: states, candidates: candidates, rule: rule, popularity: model.trainingCounts)
            for (r, h) in part.enumerated() {
                let t = start + r
                let marginals: RankMarginals
                do { marginals = try policies[r].exactMarginals(k: depth) } catch {
                    throw .invalidParameter("slate value: \(error)")
                }
                // P_π(sim item at j), 0 for items the model does not know.
                var p = [Double](repeating: 0, count: M * depth)
                for c in 0..<candidates.count {
                    for j in 0..<depth { p[(simItem[c] - 1) * depth + j] = marginals.probability(item: c, rank: j) }
                }
                let (click, buy) = nextItemProbabilities(history: h)
                var meanReward = 0.0
                for i in 0..<M {
                    let rbar = rewards.click * click[i] + rewards.purchase * buy[i]
                    meanReward += rbar
                    for j in 0..<depth { truth += p[i * depth + j] * rbar }
                }
                if let lm = loggingMarginals {
                    for i in 0..<M {
                        var shown = 0.0
                        for j in 0..<depth { shown += lm[i * depth + j] }
                        logging += shown * (rewards.click * click[i] + rewards.purchase * buy[i])
                    }
                } else {
                    logging += Double(depth) / Double(M) * meanReward
                }
                // The logged slate (a partial Fisher–Yates shuffle) and the next event.
                var g = Xoshiro256(seed: (seed ^ 0x51A7_E5) &+ UInt64(t) &* 0x9E37_79B9_7F4A_7C15)
                var pool = Array(1...M)
                if let s = loggingScores {
                    // Gumbel top-k: the k largest of score + Gumbel noise are a Plackett–Luce draw.
                    var keys = [Double](repeating: 0, count: M)
                    for i in 0..<M { keys[i] = s[i] - LibC.log(-LibC.log(Sampling.uniform(&g))) }
                    pool.sort { (a: Int, b: Int) -> Bool in
                        let (ka, kb) = (keys[a - 1], keys[b - 1])
                        return ka > kb || (ka == kb && a < b)
                    }
                } else {
                    for j in 0..<depth {
                        let k = j + Int(g.next() % UInt64(M - j))
                        pool.swapAt(j, k)
                    }
                }
                let next = try drawNext(after: h, using: &g)
                for j in 0..<depth {
                    let item = pool[j]
                    let reward = item == next.item ? (next.purchase ? rewards.purchase : rewards.click) : 0
                    observed += reward
                    chunk.items.append(Int32(item))
                    chunk.positions.append(Int32(j))
                    chunk.rewards.append(reward)
                    chunk.propensities!.append(loggingMarginals.map { $0[(item - 1) * depth + j] } ?? 1 / Double(M))
                    chunk.slates!.append(UInt64(t))
                    target.append(p[(item - 1) * depth + j])
                }
            }
        }
        chunk.slateProbabilities[.targetPropensity] = target
        var settings = SlateSettings(depth: depth, weightings: [.independent])
        settings.level = level
        let estimates: [Estimate]
        do {
            var state = try SlateState(settings: settings)
            try state.add(chunk)
            estimates = try state.estimates(policy: rule.name)
        } catch { throw .invalidParameter("slate value: \(error)") }
        let n = Double(histories.count)
        return SlateValue(
            slates: histories.count, depth: depth, rule: rule.name, trueValue: truth / n, loggingValue: logging / n,
            loggedReward: observed / n, estimates: estimates)
    }
}

extension ServingRule {
    /// `greedy`, `epsilon:0.1:0.5:0.2`, `pl:0.5`.
    public var name: String {
        switch self {
        case .greedy: return "greedy"
        case .epsilonGreedy(let e, let s, let h): return "epsilon:\(e):\(s):\(h)"
        case .plackettLuce(let t): return "pl:\(t)"
        }
    }
}
