import Foundation
import RecCore
import RecOPE
import Testing

@Suite struct FeedSimulationStudyTests {
    /// Over many simulated feeds, IS, SNIPS-free DR and IS stay unbiased (mean error within 4
    /// standard errors of 0) against each log's exact value, while CIS with a small cap is biased
    /// downward, as theory says.
    @Test func studyRecoversKnownBiases() throws {
        var config = FeedSimulator.Config()
        config.periods = 10
        config.requestsPerPeriod = 200
        var settings = EvaluationSettings()
        settings.caps = [2]
        settings.bootstrap = 0
        let runs = 30
        let rows = try FeedSimulator(config: config).study(runs: runs, seed: 100, settings: settings)
        for r in rows where ["IS", "DR (ctr)"].contains(r.estimator) {
            let se = ((r.rmse * r.rmse - r.bias * r.bias) / Double(runs - 1)).squareRoot()
            #expect(abs(r.bias) <= 4 * se, "\(r.policy) \(r.estimator): bias \(r.bias), SE \(se)")
        }
        for r in rows where r.estimator == "CIS" {
            #expect(r.bias < 0, "\(r.policy) CIS(2) bias \(r.bias)")
        }
        // The oracle width: an interval of that width centred on each run's estimate holds the
        // truth in at least 95% of the runs, and one a hair narrower in fewer.
        var errors = [String: [Double]]()
        for r in 0..<runs {
            let run = try FeedSimulator(config: config).run(seed: 100 + UInt64(r))
            for (cand, ev) in zip(run.candidates, try FeedSimulator.evaluate(run, settings: settings)) {
                for e in ev.estimates where e.estimator == .IS {
                    errors[cand.name, default: []].append(e.value - cand.truth)
                }
            }
        }
        for r in rows where r.estimator == "IS" {
            let errs = errors[r.policy]!
            let held = { (w: Double) in Double(errs.filter { abs($0) <= w / 2 }.count) / Double(runs) }
            #expect(r.oracleWidth > 0 && held(r.oracleWidth) >= 0.95, "\(r.policy): \(held(r.oracleWidth))")
            #expect(held(r.oracleWidth * (1 - 1e-9)) < 0.95, "\(r.policy): not the narrowest")
        }
    }

    @Test func simulatedRunIsConsistent() throws {
        var config = FeedSimulator.Config()
        config.periods = 4
        config.requestsPerPeriod = 100
        let run = try FeedSimulator(config: config).run(seed: 3)
        #expect(run.logs.count == 4 * 100 * 3)
        // Logged propensities are the logging policy's exact marginals of each row's period.
        for j in stride(from: 0, to: run.logs.count, by: 37) {
            let m = run.logging[Int(run.period[j])]
            #expect(
                run.logs.propensities![j]
                    == m.probability(item: Int(run.logs.items[j]), rank: Int(run.logs.positions[j])))
        }
        // Same seed, same log.
        let again = try FeedSimulator(config: config).run(seed: 3)
        #expect(again.logs.items == run.logs.items && again.logs.rewards == run.logs.rewards)
        #expect(run.candidates.map(\.name) == ["priority TS", "dTS", "dOTS"])
    }
}
