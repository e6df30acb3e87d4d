import ArgumentParser
import Foundation
import RecKit

extension Demo {
    /// Part 3: the whole RL flow on simulated sessions: train SQN, score the catalog, and an
    /// offline A/B test of the trained policy against the logging policy, with the exact truth.
    func sequentialRL() throws {
        let world = try trainOnSimulatedSessions()
        try showScores(world)
        let slates = try logSlates(world)
        try compareOffline(world, slates)
    }

    /// The simulated sessions, their split, and the SQN model trained on them.
    struct RLWorld {
        let sim: SessionSimulator
        let data: SessionData
        let split: SessionSplit
        let config: ModelConfig
        let model: SequentialRecommender
    }

    /// Simulates sessions, trains SQN for 5 epochs and prints its test metrics beside popularity's.
    func trainOnSimulatedSessions() throws -> RLWorld {
        print("")
        print("RecKit demo: offline RL on simulated shopping sessions")
        var c = SessionSimulator.Config()
        c.items = 300
        c.sessions = 4000
        let sim = try SessionSimulator(config: c, seed: seed)
        let data = try SessionData(try sim.generate(seed: seed &+ 1))
        let split = SessionSplit.random(sessions: data.sessionCount, seed: seed)
        let counts = data.eventTypes.map { t in data.events.filter { data.eventTypes[Int($0)] == t }.count }
        print(
            "  \(data.sessionCount) sessions, \(data.eventCount) events ("
                + zip(data.eventTypes, counts).map { "\($1) \($0)s" }.joined(separator: ", ")
                + "), \(data.itemCount) items; gateway items lead to purchases later in the session")
        var mc = ModelConfig(items: data.itemCount)
        mc.algorithm = .sqn
        var run = TrainingRun(model: mc)
        run.epochs = 5
        run.settings.seed = seed
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (model, report) = try run.run(data: data, split: split)
        let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        print(
            String(
                format:
                    "  SQN (SASRec 1 block, d=64, L=10; rewards click 0.2, purchase 1.0; gamma 0.5): %ld epochs in %.1f s, %.0f sequences/s",
                run.epochs, secs, report.sequencesPerSecond))
        let pop = PopularityRanker(trainingCounts: data.subset(split.train).itemCounts())
        let popM = try Evaluation.run(pop, data: data, sessions: split.test, length: mc.length)
        let best = report.best.test
        print(
            "  test sessions, full ranking over all items (best epoch \(report.bestEpoch + 1) by validation purchase NDCG@10):"
        )
        print("                 purchase HR@10  purchase NDCG@10  click HR@10  click NDCG@10")
        for (name, m) in [("popularity", popM), ("SQN", best)] {
            print(
                "  " + name.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + String(
                        format: " %.4f          %.4f            %.4f       %.4f", m.hitRate("purchase", at: 10)!,
                        m.ndcg("purchase", at: 10)!,
                        m.hitRate("click", at: 10)!, m.ndcg("click", at: 10)!))
        }
        return RLWorld(sim: sim, data: data, split: split, config: mc, model: model)
    }

    /// The top 5 of the catalog for one held-out history, with the simulator's true probabilities.
    func showScores(_ w: RLWorld) throws {
        let (sim, data, split, mc, model) = (w.sim, w.data, w.split, w.config, w.model)
        let s0 = split.test[0]
        let r0 = data.range(s0)
        let history = Array(data.items[r0].prefix(4)).map(Int.init)
        let padded = history + [Int](repeating: 0, count: mc.length - history.count)
        let z = try model.scores([padded])
        let top = try TopK.select(z, k: 5)
        let truth = sim.nextItemProbabilities(history: history.map { ($0, false) })
        print(
            "  history \(history.map { data.itemKeys[$0 - 1] }): top 5 of \(data.itemCount) items "
                + top.items(row: 0).map { i in
                    String(
                        format: "%@ (true next-event prob. %.3f)", data.itemKeys[Int(i)] as NSString,
                        truth.click[Int(i)] + truth.purchase[Int(i)])
                }.joined(separator: ", "))
    }

    /// Logged slates of a popularity Plackett-Luce policy on held-out histories, with each
    /// history's true attraction of every item (examination 1/(position + 1)).
    struct Slates {
        let K: Int
        let impressions: Int
        let exam: [Double]
        let states: [[Int]]
        let attract: [[Double]]
        let logs: LoggedData
    }

    /// Logs `impressions` slates of the logging policy and prints the logged and exact mean click.
    func logSlates(_ w: RLWorld) throws -> Slates {
        let (sim, data, split, mc) = (w.sim, w.data, w.split, w.config)
        let K = 5
        let impressions = 1500
        let exam = (0..<K).map { 1 / Double($0 + 1) }
        let logPop = data.subset(split.train).itemCounts().map { log(Double($0) + 1) }
        let logging = try PlackettLuce(scores: logPop, temperature: 1, name: "logging (popularity PL)")
        let loggingM = try logging.exactMarginals(k: K)
        var states = [[Int]]()
        var attract = [[Double]]()
        var g = Xoshiro256(seed: seed &+ 5)
        let testTr = try Transitions(data.subset(split.test), length: mc.length)
        for _ in 0..<impressions {
            let j = Int(g.next() % UInt64(testTr.count))
            let st = testTr.state(j)
            states.append(st)
            let h = st.filter { $0 > 0 }.map { (item: $0, purchase: false) }
            let p = sim.nextItemProbabilities(history: h)
            attract.append((0..<data.itemCount).map { min(1, 10 * (p.click[$0] + p.purchase[$0])) })
        }
        var items = [Int]()
        var positions = [Int]()
        var rewards = [Double]()
        var props = [Double]()
        var ctx = [Int]()
        var loggingTruth = 0.0
        for (imp, a) in attract.enumerated() {
            let ranking = try logging.sampleRanking(k: K, using: &g)
            for (pos, i) in ranking.enumerated() {
                let pr = exam[pos] * a[i]
                items.append(i)
                positions.append(pos)
                props.append(loggingM.probability(item: i, rank: pos))
                ctx.append(imp)
                rewards.append(Double(g.next() >> 11) * 0x1p-53 < pr ? 1 : 0)
            }
            for i in 0..<data.itemCount {
                for pos in 0..<K { loggingTruth += loggingM.probability(item: i, rank: pos) * exam[pos] * a[i] }
            }
        }
        loggingTruth /= Double(impressions * K)  // per logged (slate, position) row
        let logs = try LoggedData(
            items: items, positions: positions, rewards: rewards, propensities: props, contexts: ctx,
            source: "simulated slates")
        print(
            String(
                format:
                    "  offline A/B: %ld slates of %ld from the logging policy (Plackett-Luce over log popularity) on held-out histories; logged mean click %.4f (exact %.4f)",
                impressions, K, logs.meanReward, loggingTruth))
        return Slates(K: K, impressions: impressions, exam: exam, states: states, attract: attract, logs: logs)
    }

    /// The trained model served greedily and with long-tail exploration: every estimator on the
    /// logged slates against the exact truth.
    func compareOffline(_ w: RLWorld, _ sl: Slates) throws {
        let (data, split, model) = (w.data, w.split, w.model)
        let (K, impressions, exam, states, attract, logs) = (
            sl.K, sl.impressions, sl.exam, sl.states, sl.attract, sl.logs
        )
        let candidates = Array(1...data.itemCount)
        var settings = EvaluationSettings()
        settings.caps = [10]
        settings.bootstrap = 500
        settings.seed = seed
        let shown = ["IS", "CIS", "SNIPS", "NCIS", "pieceNCIS"]
        print(
            "  target                          truth    "
                + shown.map { $0.padding(toLength: 9, withPad: " ", startingAt: 0) }.joined() + " 95% interval (IS)")
        let t1 = DispatchTime.now().uptimeNanoseconds
        for (name, rule) in [
            ("SQN greedy", ServingRule.greedy),
            ("SQN epsilon 0.1 (long tail)", .epsilonGreedy(epsilon: 0.1, tailShare: 0.5, headFraction: 0.2)),
        ] {
            let policies = try model.servingPolicies(
                states: states, candidates: candidates, rule: rule, popularity: data.subset(split.train).itemCounts())
            var marg = [RankMarginals]()
            var truthV = 0.0
            for (imp, p) in policies.enumerated() {
                let m = try p.exactMarginals(k: K)
                marg.append(m)
                for i in 0..<data.itemCount {
                    for pos in 0..<K { truthV += m.probability(item: i, rank: pos) * exam[pos] * attract[imp][i] }
                }
            }
            truthV /= Double(impressions * K)
            let ev = try OfflineEvaluation.evaluate(
                logs: logs, targets: marg, targetState: logs.contexts, policy: name, logging: nil, loggingState: nil,
                settings: settings)
            var line =
                "  " + name.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "  %.4f   ", truthV)
            for e in shown {
                line += String(format: "%.4f   ", ev.estimates.first { $0.estimator.rawValue == e }?.value ?? .nan)
            }
            if let n = ev.estimate(.IS) {
                let i = n.interval
                line += String(
                    format: "[%.4f, %.4f] %@", i.low, i.high,
                    (i.low <= truthV && truthV <= i.high ? "covers" : "misses") as NSString)
            }
            print(line)
        }
        print(
            String(
                format: "  (exact marginals of %ld policy states and every estimator in %.0f ms)", 2 * impressions,
                Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e6))
    }
}
