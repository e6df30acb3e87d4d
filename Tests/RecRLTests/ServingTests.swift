import Foundation
import RecCore
import RecNN
import RecOPE
import RecRL
import Testing

@Suite struct ServingTests {
    @Test func policiesFollowTheModelScores() throws {
        let data = try syntheticData(sessions: 20, items: 15)
        let model = SequentialRecommender(
            config: smallConfig(.sqn, items: data.itemCount), itemKeys: data.itemKeys, eventTypes: data.eventTypes,
            seed: 4)
        let state = [3, 5, 0, 0]
        let candidates = [2, 4, 6, 8, 10]
        let z = try model.scores([state])
        let greedy = try model.servingPolicy(state: state, candidates: candidates, rule: .greedy)
        let m = try greedy.exactMarginals(k: 2)
        let best = candidates.indices.max { z[0, candidates[$0] - 1] < z[0, candidates[$1] - 1] }!
        #expect(m.probability(item: best, rank: 0) == 1)
        let pl = try model.servingPolicy(state: state, candidates: candidates, rule: try ServingRule.parse("pl:0.5"))
        let plm = try pl.exactMarginals(k: 1)
        let w = candidates.map { exp(Double(z[0, $0 - 1]) / 0.5) }
        for j in candidates.indices { #expect(abs(plm.probability(item: j, rank: 0) - w[j] / w.reduce(0, +)) < 1e-6) }
        let eg = try model.servingPolicy(
            state: state, candidates: candidates, rule: try ServingRule.parse("epsilon:0.2:0.6:0.4"),
            popularity: data.itemCounts())
        #expect(abs(try eg.exactMarginals(k: 1).columnSum(rank: 0) - 1) < 1e-9)
        #expect(throws: RecRLError.self) { try model.servingPolicy(state: state, candidates: [0], rule: .greedy) }
        #expect(throws: RecRLError.self) { try ServingRule.parse("softmax") }
    }
}
