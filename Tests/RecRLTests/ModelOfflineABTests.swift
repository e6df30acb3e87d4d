import Foundation
import RecCore
import RecNN
import RecOPE
import RecRL
import Testing

/// A trained model as the target of an offline A/B test (what `reckit offline-ab
/// --target-model` does): on slates logged by a uniformly random policy, the IS estimate of
/// the model's greedy policy matches the exact value computed from the simulator's true
/// next-event probabilities, within 4 standard errors.
@Suite struct ModelOfflineABTests {
    @Test func isEstimateOfTheTrainedPolicyMatchesTheTruth() throws {
        var c = SessionSimulator.Config()
        c.items = 40
        c.sessions = 600
        let sim = try SessionSimulator(config: c, seed: 11)
        let data = try SessionData(try sim.generate(seed: 12))
        var mc = ModelConfig(items: data.itemCount)
        mc.algorithm = .ce
        mc.dim = 16
        var run = TrainingRun(model: mc)
        run.epochs = 2
        let (model, _) = try run.run(data: data, split: SessionSplit.random(sessions: data.sessionCount, seed: 1))
        let K = 3
        let n = data.itemCount
        let impressions = 6000
        let exam = (0..<K).map { 1 / Double($0 + 1) }
        var g = Xoshiro256(seed: 5)
        var histories = [[String]]()
        var items = [Int]()
        var positions = [Int]()
        var rewards = [Double]()
        var ctx = [Int]()
        var attract = [[Double]]()
        for imp in 0..<impressions {
            let s = Int(g.next() % UInt64(data.sessionCount))
            let r = data.range(s)
            let cut = r.lowerBound + Int(g.next() % UInt64(r.count))
            let h = data.items[r.lowerBound..<cut].map { Int($0) }
            histories.append(h.map { data.itemKeys[$0 - 1] })
            // The simulator's items are its own ids; map dense ids back through the raw keys.
            let p = sim.nextItemProbabilities(history: h.map { (item: Int(data.itemKeys[$0 - 1])!, purchase: false) })
            attract.append(
                (0..<n).map { j in
                    min(1, 10 * (p.click[Int(data.itemKeys[j])! - 1] + p.purchase[Int(data.itemKeys[j])! - 1]))
                })
            let slate = try UniformRandomRanking(items: n).sampleRanking(k: K, using: &g)
            for (pos, j) in slate.enumerated() {
                items.append(j)
                positions.append(pos)
                ctx.append(imp)
                rewards.append(Double(g.next() >> 11) * 0x1p-53 < exam[pos] * attract[imp][j] ? 1 : 0)
            }
        }
        let logs = try LoggedData(
            items: items, positions: positions, rewards: rewards,
            propensities: [Double](repeating: 1 / Double(n), count: items.count), contexts: ctx)
        let (marg, unknown) = try model.servingMarginals(
            histories: histories, candidateKeys: data.itemKeys, rule: .greedy, k: K)
        #expect(unknown == 0 && marg.count == impressions)
        var truth = 0.0
        for (imp, m) in marg.enumerated() {
            for j in 0..<n {
                for pos in 0..<K { truth += m.probability(item: j, rank: pos) * exam[pos] * attract[imp][j] }
            }
        }
        truth /= Double(impressions * K)
        var settings = EvaluationSettings()
        settings.bootstrap = 0
        settings.caps = [10]
        let ev = try OfflineEvaluation.evaluate(
            logs: logs, targets: marg, targetState: logs.contexts, policy: "greedy",
            logging: nil, loggingState: nil, settings: settings)
        let isEst = try #require(ev.estimate(.IS))
        let se = (isEst.normal.high - isEst.normal.low) / (2 * 1.959964)
        #expect(abs(isEst.value - truth) < 4 * se, "IS \(isEst.value) ± \(se), truth \(truth)")
        // The model's greedy policy is better than the uniform logging policy here.
        #expect(truth > logs.meanReward * 1.5, "truth \(truth), logged \(logs.meanReward)")
    }
}
