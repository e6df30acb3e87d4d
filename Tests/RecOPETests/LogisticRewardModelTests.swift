import Foundation
import RecCore
import RecOPE
import Testing

@Suite struct LogisticRewardModelTests {
    /// Logs drawn from a true logistic click model over item, position and a context column:
    /// DM and DR with the logistic model land near the exact value of the target.
    @Test func wellSpecifiedModelRecoversTheValue() throws {
        let nItems = 10
        let K = 2
        let rows = 200_000
        var g = Xoshiro256(seed: 9)
        let alpha = (0..<nItems).map { _ in Sampling.normal(&g) * 0.6 }
        let beta = [0.0, -0.5]
        let gamma = [0.0, 0.8, -0.7]
        func p(_ a: Int, _ k: Int, _ c: Int) -> Double { 1 / (1 + exp(-(-2.5 + alpha[a] + beta[k] + gamma[c]))) }
        var items = [Int]()
        var positions = [Int]()
        var rewards = [Double]()
        var ctx = [Int]()
        for j in 0..<rows {
            let a = Int(Sampling.uniform(&g) * Double(nItems))
            let k = j % K
            let c = Int(Sampling.uniform(&g) * 3)
            items.append(a)
            positions.append(k)
            ctx.append(c)
            rewards.append(Sampling.uniform(&g) < p(a, k, c) ? 1 : 0)
        }
        let logs = try LoggedData(
            items: items, positions: positions, rewards: rewards,
            propensities: [Double](repeating: 1.0 / Double(nItems), count: rows), contexts: ctx)
        let target = try PlackettLuce(scores: alpha, temperature: 0.5).exactMarginals(k: K)
        var truth = 0.0
        for j in 0..<rows {
            for a in 0..<nItems {
                truth += target.probability(item: a, rank: positions[j]) * p(a, positions[j], ctx[j])
            }
        }
        truth /= Double(rows)
        var settings = EvaluationSettings()
        settings.bootstrap = 0
        let ev = try OfflineEvaluation.evaluate(logs: logs, target: target, policy: "t", settings: settings)
        let dm = try #require(ev.estimate(.DM, model: .logistic))
        let dr = try #require(ev.estimate(.DR, model: .logistic))
        #expect(abs(dm.value - truth) < 0.03 * truth, "DM logistic \(dm.value) vs truth \(truth)")
        let drSE = (dr.normal.high - dr.normal.low) / (2 * 1.96)
        #expect(abs(dr.value - truth) <= 4 * drSE, "DR logistic \(dr.value) vs truth \(truth)")
        // The per-(item, position) rate model cannot see the context and is biased here only by
        // averaging over contexts; it is still reported.
        #expect(ev.estimate(.DM, model: .ctr) != nil)
    }
}
