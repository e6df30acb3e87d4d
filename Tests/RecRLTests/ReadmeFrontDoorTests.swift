import Foundation
import RecCore
import RecOPE
import RecRL
import Testing

/// The README's short library tour, line for line, on smaller data (a random catalog of 2,000
/// items, the OBD prior when fetched, simulated sessions instead of MovieLens).
@Suite struct ReadmeFrontDoorTests {
    @Test func shortTourRuns() throws {
        let items = Matrix.random(2_000, 64, seed: 1)
        let users = Matrix.random(256, 64, seed: 2)
        let top = try CatalogScorer(items: items, bias: nil).topK(states: users, k: 10)
        #expect(top.items(row: 0).count == 10 && top.scores(row: 0).count == 10)
        let reference = matmul(users, items, transposeB: .transpose)
        let best = (0..<2_000).max { a, b in ranksAbove(reference[0, b], Int32(b), reference[0, a], Int32(a)) }!
        #expect(top.items(row: 0).first == Int32(best))

        if FileManager.default.fileExists(atPath: obpPrior) {
            let ts = try ThompsonSampling(prior: BetaPrior.load(yaml: obpPrior, campaign: "all"))
            let exact = try ts.exactMarginals(k: 3)
            let mc = try ts.monteCarloMarginals(k: 3, simulations: 100_000, seed: 1)
            let se = mc.standardError(item: 61, rank: 0)
            #expect(abs(exact.probability(item: 61, rank: 0) - mc.probability(item: 61, rank: 0)) < 5 * se)
        }

        let data = try syntheticData(sessions: 60)
        var model = ModelConfig(items: data.itemCount)
        model.algorithm = .sa2c
        let (recommender, report) = try TrainingRun(model: model).run(
            data: data, split: SessionSplit.random(sessions: data.sessionCount, seed: 1))
        #expect(report.best.test.ndcg("purchase", at: 10).map { $0 >= 0 && $0 <= 1 } ?? true)
        let scores = try recommender.scores([[12, 7, 3, 0, 0, 0, 0, 0, 0, 0]])
        #expect(scores.rows == 1 && scores.cols == data.itemCount)
    }

    var obpPrior: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("data/obp/obp/policy/conf/prior_bts.yaml").path
    }
}
