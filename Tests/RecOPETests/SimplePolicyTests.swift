import Foundation
import RecCore
import RecOPE
import Testing
import _RecTestSupport

@Suite struct SimplePolicyTests {
    @Test func epsilonGreedyWithTies() throws {
        let eg = try EpsilonGreedy(scores: [3, 1, 3, 2, 0], epsilon: 0.2)
        let exact = try eg.exactMarginals(k: 3)
        // Items 0 and 2 tie for the top two ranks.
        #expect(abs(exact.probability(item: 0, rank: 0) - (0.8 * 0.5 + 0.2 / 5)) < 1e-12)
        #expect(abs(exact.probability(item: 3, rank: 2) - (0.8 + 0.2 / 5)) < 1e-12)
        let mc = try eg.monteCarloMarginals(k: 3, simulations: 300_000, seed: 2)
        #expect(agreeWithinStandardErrors(mc, exact) == nil)
    }

    @Test func uniform() throws {
        let u = try UniformRandomRanking(items: 7)
        let mc = try u.monteCarloMarginals(k: 7, simulations: 200_000, seed: 3)
        #expect(agreeWithinStandardErrors(mc, try u.exactMarginals(k: 7)) == nil)
        var g = Xoshiro256(seed: 1)
        let r = try u.sampleRanking(k: 7, using: &g)
        #expect(Set(r) == Set(0..<7))
    }
}
