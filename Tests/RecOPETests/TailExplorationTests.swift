import Foundation
import RecCore
import RecOPE
import Testing
import _RecTestSupport

@Suite struct TailExplorationTests {
    @Test func monteCarloAgreesWithExactAndTheTailShareHolds() throws {
        let n = 12
        let scores = randomDoubles(n, seed: 9, scale: 3)
        let tail = (0..<n).map { $0 % 3 != 0 }  // 8 tail items, 4 head items
        let p = try TailExplorationGreedy(scores: scores, epsilon: 0.3, isTail: tail, tailShare: 0.7)
        let exact = try p.exactMarginals(k: 4)
        for r in 0..<4 { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9) }
        // First slot: greedy part puts the best item there; exploring part a tail item w.p. 0.7.
        let best = scores.indices.max { scores[$0] < scores[$1] }!
        let tailFirst = (0..<n).filter { tail[$0] }.reduce(0.0) { $0 + exact.probability(item: $1, rank: 0) }
        #expect(abs(tailFirst - (0.7 * 0.3 + (tail[best] ? 0.7 : 0))) < 1e-9)
        let mc = try p.monteCarloMarginals(k: 4, simulations: 400_000, seed: 3)
        #expect(agreeWithinStandardErrors(mc, exact) == nil)
        // The exploring part equals Plackett–Luce over the two log-weights, integrated exactly.
        let nT = 8.0
        let nH = 4.0
        let lw = log(0.7 * nH / (0.3 * nT))
        let pl = try PlackettLuce(scores: tail.map { $0 ? lw : 0 }).exactMarginals(k: 4)
        let greedy = try EpsilonGreedy(scores: scores, epsilon: 0).exactMarginals(k: 4)
        for i in 0..<n {
            for r in 0..<4 {
                #expect(
                    abs(
                        exact.probability(item: i, rank: r)
                            - (0.7 * greedy.probability(item: i, rank: r) + 0.3 * pl.probability(item: i, rank: r)))
                        < 1e-9)
            }
        }
        #expect(throws: RecOPEError.self) {
            try TailExplorationGreedy(
                scores: scores, epsilon: 0.1, isTail: [Bool](repeating: true, count: n), tailShare: 0.5)
        }
    }
}
