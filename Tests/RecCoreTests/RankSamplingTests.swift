import RecCore
import Testing
import _RecTestSupport

@Suite struct RankSamplingTests {
    /// Fixed scores with ties: the untied ranks are certain, tied items split evenly at random.
    @Test(arguments: [10, 40, 100])
    func tiesAreOrderedUniformlyAtRandom(n: Int) {
        var scores = (0..<n).map { Float($0 % 7) }  // many equal scores
        scores[3] = 100
        scores[n - 1] = 50
        scores[n / 2] = 50  // one top item, then a tied pair
        let fixed = scores
        let sims = 40_000
        let counts = RankSampling.counts(items: n, k: 4, simulations: sims, seed: 3, parallelism: .threads(2)) {
            { out, rows, _ in
                for r in 0..<rows { for j in 0..<n { out[r * n + j] = fixed[j] } }
            }
        }
        #expect(counts[3 * 4 + 0] == sims)
        let a = counts[(n - 1) * 4 + 1]
        let b = counts[(n / 2) * 4 + 1]
        #expect(a + b == sims)
        #expect(abs(Double(a) - Double(sims) / 2) <= 4 * (Double(sims) / 4).squareRoot(), "tied pair split \(a)/\(b)")
        // Rank 3 (index 3) goes to one of the items scoring 6 (the largest repeated score), evenly.
        let sixes = (0..<n).filter { fixed[$0] == 6 }
        let rank3 = sixes.map { counts[$0 * 4 + 3] }
        #expect(rank3.reduce(0, +) == sims)
        let expected = Double(sims) / Double(sixes.count)
        for c in rank3 {
            #expect(abs(Double(c) - expected) <= 5 * (expected * (1 - 1 / Double(sixes.count))).squareRoot())
        }
    }

    @Test func nanScoresRankLast() {
        let n = 48
        let counts = RankSampling.counts(items: n, k: 2, simulations: 1000, seed: 1, parallelism: .sequential) {
            { out, rows, _ in
                for r in 0..<rows { for j in 0..<n { out[r * n + j] = j < 46 ? .nan : Float(j) } }
            }
        }
        #expect(counts[47 * 2 + 0] == 1000 && counts[46 * 2 + 1] == 1000)
    }
}
