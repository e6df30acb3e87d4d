import Foundation
import RecCore
import RecOPE
import RecRL
import Testing

/// The simulated world's two ways of drawing sessions, and the recovery measure of rl-study.
@Suite struct SessionSimulatorTests {
    func world(items: Int = 40, seed: UInt64 = 3) throws -> SessionSimulator {
        var c = SessionSimulator.Config()
        c.items = items
        c.sessions = 200
        c.gatewayFraction = 0.3
        c.impulseRate = 0.1
        return try SessionSimulator(config: c, seed: seed)
    }

    /// The structural draws follow `nextItemProbabilities` after histories with pending
    /// purchases, bought products and none: every (item, purchase) outcome's frequency over
    /// 200,000 draws within 5 standard errors of its probability, and a chi-square over the
    /// outcomes below its 0.999 quantile.
    @Test func structuralDrawsFollowTheExactDistribution() throws {
        let sim = try world()
        let gateways = (1...sim.config.items).filter { sim.product[$0 - 1] > 0 }
        try #require(gateways.count >= 3)
        let g0 = gateways[0]
        let g1 = gateways[1]
        let histories: [[(item: Int, purchase: Bool)]] = [
            [],
            [(5, false)],
            [(g0, false), (7, false)],
            [(g0, false), (g1, false), (sim.product[g0 - 1], true), (g1, false)],
            [(sim.product[g0 - 1], true), (g0, false), (sim.config.items, false)],
        ]
        let draws = 200_000
        for (hi, h) in histories.enumerated() {
            let (click, buy) = sim.nextItemProbabilities(history: h)
            let total: Double = click.reduce(0, +) + buy.reduce(0, +)
            #expect(abs(total - 1) < 1e-12)
            var counts = [Int](repeating: 0, count: 2 * sim.config.items)
            var g = Xoshiro256(seed: 100 + UInt64(hi))
            for _ in 0..<draws {
                let p = try sim.drawNext(after: h, using: &g)
                counts[2 * (p.item - 1) + (p.purchase ? 1 : 0)] += 1
            }
            var chi2 = 0.0
            var cells = 0
            for i in 0..<sim.config.items {
                for (j, prob) in [click[i], buy[i]].enumerated() {
                    let observed = Double(counts[2 * i + j])
                    if prob == 0 {
                        #expect(observed == 0, "history \(hi): item \(i + 1) drawn with probability 0")
                        continue
                    }
                    let expected = prob * Double(draws)
                    let se = (Double(draws) * prob * (1 - prob)).squareRoot()
                    #expect(abs(observed - expected) <= 5 * se + 1, "history \(hi), item \(i + 1), purchase \(j)")
                    chi2 += (observed - expected) * (observed - expected) / expected
                    cells += 1
                }
            }
            // The chi-square's 0.999 quantile with ν degrees of freedom, Wilson–Hilferty.
            let nu = Double(cells - 1)
            let q = nu * pow(1 - 2 / (9 * nu) + 3.09 * (2 / (9 * nu)).squareRoot(), 3)
            #expect(chi2 < q, "history \(hi): chi-square \(chi2) over \(cells) cells, 0.999 quantile \(q)")
        }
    }

    /// Structural logs are the same for the same seed, hold only the world's items, and their
    /// purchase share is the world's (a gateway's product bought after it).
    @Test func structuralLogsAreReproducible() throws {
        let sim = try world(items: 2_000)
        let a = try SessionData(sim.generate(seed: 9, drawing: .structural))
        let b = try SessionData(sim.generate(seed: 9, drawing: .structural))
        #expect(a.items == b.items && a.events == b.events && a.itemKeys == b.itemKeys)
        #expect(a.sessionCount == 200)
        for key in a.itemKeys {
            let v = try #require(Int(key))
            #expect(v >= 1 && v <= 2_000)
        }
        let c = try SessionData(sim.generate(seed: 10, drawing: .structural))
        #expect(c.items != a.items)
    }

    /// A catalog of millions is a valid world (10M the limit) and draws in O(1) an event.
    @Test func catalogsOfMillions() throws {
        var c = SessionSimulator.Config()
        c.items = 2_000_000
        c.sessions = 500
        let sim = try SessionSimulator(config: c, seed: 1)
        let data = try SessionData(sim.generate(seed: 2, drawing: .structural))
        #expect(data.sessionCount == 500)
        c.items = 10_000_001
        #expect(throws: RecRLError.self) { _ = try SessionSimulator(config: c, seed: 1) }
    }

    /// A 60-item world, its log and split, and a model trained on it (`dim`, `epochs`, `lr`).
    func trained(dim: Int, epochs: Int, lr: Float = 0.005) throws -> (
        sim: SessionSimulator, data: SessionData, split: SessionSplit, model: SequentialRecommender
    ) {
        let sim = try world(items: 60)
        let data = try SessionData(sim.generate(seed: 4))
        let split = SessionSplit.random(sessions: data.sessionCount, seed: 1)
        var mc = ModelConfig(items: data.itemCount)
        mc.dim = dim
        mc.blocks = 1
        var run = TrainingRun(model: mc)
        run.epochs = epochs
        run.settings.learningRate = lr
        return (sim, data, split, try run.run(data: data, split: split).model)
    }

    /// The recovery measure equals one computed here from the model's scores, by sorting and
    /// by the definition of KL; an untrained model recovers less than a trained one.
    @Test func recoveryMatchesADirectComputation() throws {
        let (sim, data, split, model) = try trained(dim: 16, epochs: 3)
        let histories = SessionSimulator.histories(data, sessions: split.test, limit: 40)
        #expect(histories.count == 40)
        let r = try sim.recovery(of: model, histories: histories, k: 5, batch: 7)
        // Direct.
        let ids = model.itemIDs()
        var overlap = 0.0
        var mass = 0.0
        var kl = 0.0
        var unseen = 0.0
        for h in histories {
            let state = model.state(rawHistory: h.map { String($0.item) }, ids: ids).state
            let scores = try model.scores([state])
            let (click, buy) = sim.nextItemProbabilities(history: h)
            let truth = zip(click, buy).map { $0 + $1 }
            let keys = model.itemKeys.map { Int($0)! }
            let q = (0..<keys.count).map { Double(scores[0, $0]) }
            let logZ = log(q.map { exp($0) }.reduce(0, +))
            let known = keys.reduce(0.0) { $0 + truth[$1 - 1] }
            for (j, key) in keys.enumerated() {
                let p = truth[key - 1] / known
                if p > 0 { kl += p * (log(p) - (q[j] - logZ)) }
            }
            func byValue(_ v: [Double]) -> [Int] {
                (0..<v.count).sorted { (a: Int, b: Int) -> Bool in v[a] != v[b] ? v[a] > v[b] : a < b }
            }
            let modelTop: [Int] = byValue(q).prefix(5).map { keys[$0] - 1 }
            let trueTop: [Int] = Array(byValue(truth).prefix(5))
            overlap += Double(Set(modelTop).intersection(trueTop).count) / 5
            let got: Double = modelTop.reduce(0.0) { $0 + truth[$1] }
            let best: Double = trueTop.reduce(0.0) { $0 + truth[$1] }
            mass += got / best
            unseen += 1 - known
        }
        let n = Double(histories.count)
        #expect(abs(r.topOverlap - overlap / n) < 1e-12)
        #expect(abs(r.massCaptured - mass / n) < 1e-9)
        #expect(abs(r.kl - kl / n) < 1e-6)
        let unseenMean: Double = max(0, unseen / n)
        #expect(abs(r.unseenMass - unseenMean) < 1e-9)
        // An untrained network of the same shape.
        let fresh = try trained(dim: 16, epochs: 1, lr: 1e-9).model
        let r0 = try sim.recovery(of: fresh, histories: histories, k: 5)
        #expect(r0.kl > r.kl && r0.massCaptured < r.massCaptured)
    }

    /// A trained model served greedily, valued on uniformly logged slates: the engine's IIPS is
    /// within 4 standard errors of the exact value (unbiased for it), and the exact value equals
    /// one computed here from the model's top items and the world's next-event distribution; the
    /// logging policy's exact value is within 4 standard errors of the logged mean reward.
    @Test func slateValueOfAServedModel() throws {
        let (sim, _, _, model) = try trained(dim: 16, epochs: 3)
        // Held-out histories: other logs of the same world (200 sessions each).
        var histories = [[(item: Int, purchase: Bool)]]()
        for s: UInt64 in 100..<140 {
            let heldOut = try SessionData(sim.generate(seed: s))
            histories += SessionSimulator.histories(heldOut, sessions: Array(0..<heldOut.sessionCount), limit: 1000)
        }
        let K = 4
        let v = try sim.slateValue(of: model, rule: .greedy, histories: histories, depth: K, seed: 7)
        #expect(v.slates == histories.count && v.depth == K)
        // The exact value by hand: Σ over the model's top K items of r̄(item | h).
        let ids = model.itemIDs()
        var direct = 0.0
        for h in histories {
            let state = model.state(rawHistory: h.map { String($0.item) }, ids: ids).state
            let scores = try model.scores([state])
            let order = (0..<model.itemKeys.count).sorted {
                scores[0, $0] > scores[0, $1] || (scores[0, $0] == scores[0, $1] && $0 < $1)
            }
            let (click, buy) = sim.nextItemProbabilities(history: h)
            for c in order.prefix(K) {
                let i = Int(model.itemKeys[c])! - 1
                direct += 0.2 * click[i] + buy[i]
            }
        }
        direct /= Double(histories.count)
        #expect(abs(v.trueValue - direct) <= 1e-12 * max(1, direct), "\(v.trueValue) vs \(direct)")
        let iips = try #require(v.estimates.first { $0.estimator == .IIPS })
        let se = (iips.normal.high - iips.normal.low) / (2 * 1.959963984540054)
        #expect(abs(iips.value - v.trueValue) <= 4 * se, "IIPS \(iips.value) ± \(se) vs \(v.trueValue)")
        // The trained model beats the uniform logging policy by a wide margin in this world.
        #expect(v.trueValue > 2 * v.loggingValue)
        // The logged mean reward: each slate's reward is at most 1, so its SE ≤ √(E r²/n) ≤ √(E r / n).
        let loggedSE = (max(v.loggingValue, 1e-9) / Double(histories.count)).squareRoot()
        #expect(abs(v.loggedReward - v.loggingValue) <= 4 * loggedSE)
        // A Plackett–Luce logging policy (scores over the world's items): its Gumbel top-k draws and
        // its exact item-position probabilities agree, so IIPS stays within 4 SE of the same exact
        // value and the logged mean reward within 4 SE of the logging policy's exact value.
        let scores = (0..<60).map { 2 * sin(Double($0)) }
        let pl = try sim.slateValue(
            of: model, rule: .greedy, histories: histories, depth: K, seed: 7, loggingScores: scores)
        #expect(pl.trueValue == v.trueValue)
        let plIIPS = try #require(pl.estimates.first { $0.estimator == .IIPS })
        let plSE = (plIIPS.normal.high - plIIPS.normal.low) / (2 * 1.959963984540054)
        #expect(abs(plIIPS.value - pl.trueValue) <= 4 * plSE, "IIPS \(plIIPS.value) ± \(plSE) vs \(pl.trueValue)")
        let plLoggedSE = (max(pl.loggingValue, 1e-9) / Double(histories.count)).squareRoot()
        #expect(abs(pl.loggedReward - pl.loggingValue) <= 4 * plLoggedSE)
        #expect(pl.loggingValue != v.loggingValue)
        #expect(throws: RecRLError.self) {
            _ = try sim.slateValue(
                of: model, rule: .greedy, histories: histories, depth: K, seed: 7, loggingScores: [1, 2])
        }
        #expect(throws: RecRLError.self) {
            _ = try sim.slateValue(of: model, rule: .greedy, histories: histories, depth: 0, seed: 7)
        }
        #expect(throws: RecRLError.self) {
            _ = try sim.slateValue(of: model, rule: .greedy, histories: [], depth: 2, seed: 7)
        }
    }

    @Test func recoveryRefusesBadArguments() throws {
        let (sim, data, split, model) = try trained(dim: 8, epochs: 1)
        let h = SessionSimulator.histories(data, sessions: split.test, limit: 3)
        #expect(throws: RecRLError.self) { _ = try sim.recovery(of: model, histories: []) }
        #expect(throws: RecRLError.self) { _ = try sim.recovery(of: model, histories: [[(61, false)]]) }
        #expect(throws: RecRLError.self) { _ = try sim.recovery(of: model, histories: [[(3, false), (0, true)]]) }
        var g = Xoshiro256(seed: 1)
        #expect(throws: RecRLError.self) { _ = try sim.drawNext(after: [(-1, false)], using: &g) }
        #expect(throws: RecRLError.self) { _ = try sim.recovery(of: model, histories: h, k: 0) }
        #expect(throws: RecRLError.self) { _ = try sim.recovery(of: model, histories: h, k: 61) }
        let smaller = try self.world(items: 10)
        #expect(throws: RecRLError.self) { _ = try smaller.recovery(of: model, histories: h) }
    }
}
