import Foundation
import RecCore
import RecOPE
import Testing
import _RecTestSupport

/// Every cell of `mc` within `z` standard errors of `exact` (SE from the exact p, floored at one
/// count's worth so that a cell with p ≈ 0 still has a finite band).
func agreeWithinStandardErrors(_ mc: RankMarginals, _ exact: RankMarginals, z: Double = 4) -> String? {
    let n = Double(mc.simulations!)
    var worst = 0.0
    var worstCell = (0, 0)
    for i in 0..<exact.items {
        for r in 0..<exact.k {
            let p = exact.probability(item: i, rank: r)
            let se = max((p * (1 - p) / n).squareRoot(), 1 / n)
            let dev = abs(mc.probability(item: i, rank: r) - p) / se
            if dev > worst {
                worst = dev
                worstCell = (i, r)
            }
        }
    }
    if worst <= z { return nil }
    let (i, r) = worstCell
    return
        "cell (item \(i), rank \(r)): MC \(mc.probability(item: i, rank: r)) vs exact \(exact.probability(item: i, rank: r)): \(worst) SE"
}

func permutations(_ xs: [Int]) -> [[Int]] {
    if xs.count <= 1 { return [xs] }
    return xs.indices.flatMap { i -> [[Int]] in
        var rest = xs
        let x = rest.remove(at: i)
        return permutations(rest).map { [x] + $0 }
    }
}

@Suite struct PlackettLuceTests {
    @Test(arguments: [1, 2, 3, 5, 6])
    func exactMatchesPermutationEnumeration(n: Int) throws {
        let scores = randomDoubles(n, seed: UInt64(n), scale: 1.5)
        let pl = try PlackettLuce(scores: scores, temperature: 0.7)
        var ref = [Double](repeating: 0, count: n * n)
        for perm in permutations(Array(0..<n)) {
            let p = pl.probability(ofRanking: perm)
            for (r, i) in perm.enumerated() { ref[i * n + r] += p }
        }
        let exact = try pl.exactMarginals(k: n)
        for c in 0..<(n * n) {
            #expect(
                abs(exact.probabilities[c] - ref[c]) < 1e-10, "n=\(n) cell \(c): \(exact.probabilities[c]) vs \(ref[c])"
            )
        }
        for r in 0..<n { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9) }
    }

    @Test func monteCarloAgreesWithExact() throws {
        let pl = try PlackettLuce(scores: randomDoubles(40, seed: 4, scale: 2), temperature: 0.5)
        let exact = try pl.exactMarginals(k: 5)
        let mc = try pl.monteCarloMarginals(k: 5, simulations: 400_000, seed: 1)
        #expect(agreeWithinStandardErrors(mc, exact) == nil)
    }
}

@Suite struct ThompsonSamplingTests {
    static func smallPrior() throws -> BetaPrior {
        try BetaPrior(
            alpha: [47, 8, 62, 142, 3, 14, 7, 12, 2, 30],
            beta: [12198, 3566, 15993, 35522, 2367, 4609, 3171, 4372, 2308, 8776])
    }

    @Test func twoItemsMatchOneDimensionalIntegration() throws {
        // P(item 0 first) = ∫ f0(x) F1(x) dx (item 1 below x), integrated on a fine midpoint grid.
        let ts = try ThompsonSampling(alpha: [3, 5], beta: [40, 50])
        let exact = try ts.exactMarginals(k: 2)
        var ref = 0.0
        let steps = 400_000
        let h = 0.6 / Double(steps)
        for s in 0..<steps {
            let x = (Double(s) + 0.5) * h
            ref += SpecialFunctions.betaPDF(3, 40, x) * SpecialFunctions.regularizedIncompleteBeta(5, 50, x) * h
        }
        #expect(
            abs(exact.probability(item: 0, rank: 0) - ref) < 1e-8, "\(exact.probability(item: 0, rank: 0)) vs \(ref)")
        #expect(abs(exact.probability(item: 0, rank: 0) + exact.probability(item: 1, rank: 0) - 1) < 1e-10)
    }

    @Test func exactColumnsSumToOneAndAgreeWithMonteCarlo() throws {
        let ts = try ThompsonSampling(prior: Self.smallPrior())
        let exact = try ts.exactMarginals(k: 3)
        for r in 0..<3 {
            #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9, "rank \(r) sums to \(exact.columnSum(rank: r))")
        }
        let mc = try ts.monteCarloMarginals(k: 3, simulations: 1_000_000, seed: 11)
        #expect(agreeWithinStandardErrors(mc, exact) == nil)
    }

    @Test func manyItemsAgreeWithMonteCarlo() throws {
        // 48 items: the two-pass top-k path of the Monte Carlo engine.
        var g = Xoshiro256(seed: 8)
        let a = (0..<48).map { _ in (2 + 60 * Sampling.uniform(&g)).rounded() }
        let b = a.map { ($0 / (0.002 + 0.004 * Sampling.uniform(&g))).rounded() }
        let ts = try ThompsonSampling(alpha: a, beta: b)
        let exact = try ts.exactMarginals(k: 5)
        for r in 0..<5 { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9) }
        let mc = try ts.monteCarloMarginals(k: 5, simulations: 1_000_000, seed: 21)
        #expect(agreeWithinStandardErrors(mc, exact) == nil)
    }

    @Test func shapesBelowOneAtZero() throws {
        // Densities singular at 0 (a < 1) need the geometric panels.
        let ts = try ThompsonSampling(alpha: [0.5, 0.3, 0.8, 2], beta: [1.5, 2, 1, 3])
        let exact = try ts.exactMarginals(k: 4)
        for r in 0..<4 { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9, "rank \(r): \(exact.columnSum(rank: r))") }
        let mc = try ts.monteCarloMarginals(k: 4, simulations: 2_000_000, seed: 17)
        #expect(agreeWithinStandardErrors(mc, exact) == nil)
    }

    @Test func priorityBoostAgreesWithMonteCarlo() throws {
        for rule in [PriorityBoost.Rule.additive(0.001), .multiplicative(1.3)] {
            let ts = try ThompsonSampling(prior: Self.smallPrior(), boost: PriorityBoost(items: [1, 4], rule: rule))
            let exact = try ts.exactMarginals(k: 3)
            for r in 0..<3 { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9) }
            let mc = try ts.monteCarloMarginals(k: 3, simulations: 500_000, seed: 5)
            #expect(agreeWithinStandardErrors(mc, exact) == nil, "\(rule)")
            // The boost helps the flagged items.
            let plain = try ThompsonSampling(prior: Self.smallPrior()).exactMarginals(k: 3)
            #expect(exact.probability(item: 1, rank: 0) > plain.probability(item: 1, rank: 0))
        }
    }

    @Test func optimisticTiesAtTheMean() throws {
        // Items 0 and 1 share a prior: their draws below the mean become the same mean, a real tie
        // ordered at random, so they are exchangeable; item 2 is different.
        let ts = try ThompsonSampling(alpha: [2, 2, 3], beta: [200, 200, 250], optimistic: true)
        let exact = try ts.exactMarginals(k: 3)
        for r in 0..<3 {
            #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9)
            #expect(abs(exact.probability(item: 0, rank: r) - exact.probability(item: 1, rank: r)) < 1e-9)
        }
        let mc = try ts.monteCarloMarginals(k: 3, simulations: 1_000_000, seed: 3)
        #expect(agreeWithinStandardErrors(mc, exact) == nil)
        // With ten identical items and no data, every item is equally likely at every rank.
        let same = try ThompsonSampling(
            alpha: [Double](repeating: 1, count: 10), beta: [Double](repeating: 30, count: 10), optimistic: true)
        let e = try same.exactMarginals(k: 4)
        #expect(e.probabilities.allSatisfy { abs($0 - 0.1) < 1e-9 })
    }

    @Test func monteCarloIsReproducibleAcrossThreadCounts() throws {
        let ts = try ThompsonSampling(prior: Self.smallPrior())
        let a = try ts.monteCarloMarginals(k: 3, simulations: 50_000, seed: 9, parallelism: .sequential)
        let b = try ts.monteCarloMarginals(k: 3, simulations: 50_000, seed: 9, parallelism: .threads(2))
        let c = try ts.monteCarloMarginals(k: 3, simulations: 50_000, seed: 9, parallelism: .threads(5))
        #expect(a == b && b == c)
        #expect(a.counts!.reduce(0, +) == 3 * 50_000)
    }

    @Test func zeroCountsAreFlaggedAndFloored() throws {
        let ts = try ThompsonSampling(alpha: [1000, 1], beta: [1000, 10000])
        let mc = try ts.monteCarloMarginals(k: 1, simulations: 1000, seed: 1)
        #expect(mc.probability(item: 1, rank: 0) == 0)
        #expect(mc.denominator(item: 1, rank: 0) == 0.5 / 1000)
        #expect(mc.zeroCells.map { $0.item } == [1])
    }

    @Test func badInput() throws {
        #expect(throws: RecOPEError.self) { try BetaPrior(alpha: [1, -2], beta: [1, 1]) }
        #expect(throws: RecOPEError.self) { try BetaPrior(alpha: [1, .nan], beta: [1, 1]) }
        #expect(throws: RecOPEError.self) { try BetaPrior(alpha: [], beta: []) }
        #expect(throws: RecOPEError.self) { try ThompsonSampling(alpha: [1, 2], beta: [1]) }
        let ts = try ThompsonSampling(alpha: [1, 2], beta: [3, 4])
        #expect(throws: RecOPEError.self) { try ts.exactMarginals(k: 3) }
        #expect(throws: RecOPEError.self) { try ts.monteCarloMarginals(k: 0, simulations: 10, seed: 1) }
        #expect(throws: RecOPEError.self) { try ts.monteCarloMarginals(k: 1, simulations: 0, seed: 1) }
        #expect(throws: RecOPEError.self) { try PlackettLuce(scores: [1, 2], temperature: 0) }
        #expect(throws: RecOPEError.self) { try PlackettLuce(scores: [1, .infinity]) }
        #expect(throws: RecOPEError.self) {
            try ThompsonSampling(alpha: [1, 2], beta: [3, 4], boost: PriorityBoost(items: [5], rule: .additive(1)))
        }
        #expect(throws: RecOPEError.self) {
            try ThompsonSampling(
                alpha: [1, 2], beta: [3, 4], boost: PriorityBoost(items: [0], rule: .multiplicative(0)))
        }
    }
}

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
