import Foundation
import RecCore
import RecNN
import RecOPE
import RecRL
import Testing

/// The RecRL part of README.md's library tour, kept compiling and checked (on simulated
/// sessions instead of MovieLens, one short epoch).
@Suite struct ReadmeRLTourTests {
    @Test func tour() throws {
        var c = SessionSimulator.Config()
        c.items = 60
        c.sessions = 300
        let log = try SessionSimulator(config: c, seed: 1).generate(seed: 2)
        let data = try SessionData(log, preprocessing: Preprocessing(minItemCount: 1, minSessionLength: 3))
        let split = SessionSplit.random(sessions: data.sessionCount, seed: 1)
        var model = ModelConfig(items: data.itemCount)
        model.algorithm = .sa2c
        model.length = 10
        model.dim = 16
        model.blocks = 1
        var run = TrainingRun(model: model)
        run.epochs = 1
        run.rewards = try RewardTable.parse("click=0.2,purchase=1.0")
        run.gamma = 0.5
        let (recommender, report) = try run.run(data: data, split: split)
        let ndcg = try #require(report.best.test.ndcg("purchase", at: 10))
        #expect(ndcg >= 0 && ndcg <= 1)
        let scores = try recommender.scores([[12, 7, 3, 0, 0, 0, 0, 0, 0, 0]])
        #expect(scores.rows == 1 && scores.cols == data.itemCount)
        let policy = try recommender.servingPolicy(
            state: [12, 7, 3, 0, 0, 0, 0, 0, 0, 0], candidates: Array(1...50),
            rule: .plackettLuce(temperature: 0.5))
        #expect(policy.itemCount == 50)
        let popularity = try Evaluation.run(
            PopularityRanker(trainingCounts: data.subset(split.train).itemCounts()),
            data: data, sessions: split.test, length: 10)
        #expect(popularity.counts.reduce(0, +) == split.test.reduce(0) { $0 + data.range($1).count })
    }
}
