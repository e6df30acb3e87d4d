import Foundation
import RecCore
import RecOPE
import Testing
import _RecTestSupport

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

    /// An optimistic item with a priority boost: its floor (the mean) moves with the boost, and its
    /// atom there keeps its mass. Regression: (1.5·m)/1.5 rounds below m for m = 1/11, the floored
    /// cdf read 0 there, and the exact method refused the policy (error estimate 0.58).
    @Test(arguments: [PriorityBoost.Rule.multiplicative(1.5), .multiplicative(1.01), .additive(0.05), .additive(0.3)])
    func optimisticBoostedItemsKeepTheirAtom(rule: PriorityBoost.Rule) throws {
        let ts = try ThompsonSampling(
            prior: try BetaPrior(alpha: [1, 2, 3], beta: [10, 20, 25]), optimistic: true,
            boost: PriorityBoost(items: [1], rule: rule))
        let exact = try ts.exactMarginals(k: 3)
        for r in 0..<3 { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9, "\(rule)") }
        let mc = try ts.monteCarloMarginals(k: 3, simulations: 1_000_000, seed: 8)
        #expect(agreeWithinStandardErrors(mc, exact) == nil, "\(rule)")
    }

    @Test func largeKUsesTheRowEngineAndAgrees() throws {
        // k above BetaRankSampler.maxK (16) ranks rows of draws instead; both agree with exact.
        var g = Xoshiro256(seed: 31)
        let a = (0..<20).map { _ in (2 + 30 * Sampling.uniform(&g)).rounded() }
        let b = a.map { ($0 / (0.01 + 0.05 * Sampling.uniform(&g))).rounded() }
        let ts = try ThompsonSampling(alpha: a, beta: b)
        for k in [16, 17] {
            let exact = try ts.exactMarginals(k: k)
            let mc = try ts.monteCarloMarginals(k: k, simulations: 400_000, seed: 8)
            #expect(agreeWithinStandardErrors(mc, exact) == nil, "k=\(k)")
        }
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
