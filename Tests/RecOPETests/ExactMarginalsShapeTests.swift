import Foundation
import RecCore
import RecOPE
import Testing

/// Exact Thompson-sampling marginals for any Beta shapes, against an independent sampler that
/// cannot lose the order of draws squeezed against 0 or 1: it draws logit(X) = log G₁ − log G₂ in
/// Double, with log G for a shape a < 1 as log G(a + 1) + log(U)/a (Marsaglia–Tsang for G(a + 1)).
/// Float (RecKit's Monte Carlo) or plain Double draws would tie such items at 0 or 1.
@Suite struct ExactMarginalsShapeTests {
    /// log of a Gamma(a, 1) draw, for any a > 0.
    static func logGamma(_ a: Double, _ g: inout Xoshiro256) -> Double {
        func uniform() -> Double { (Double(g.next() >> 11) + 0.5) / 9_007_199_254_740_992 }
        if a < 1 { return logGamma(a + 1, &g) + log(uniform()) / a }
        let d = a - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        while true {
            let z = (-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform())
            let v0 = 1 + c * z
            if v0 <= 0 { continue }
            let v = v0 * v0 * v0
            let u = uniform()
            if log(u) < 0.5 * z * z + d - d * v + d * log(v) { return log(d) + log(v) }
        }
    }

    /// Rank marginals by the log-space sampler: the top-k of logit(X) per draw, or of
    /// max(logit X, logit mean) for the optimistic policy (ties at the mean broken at random).
    static func reference(alpha: [Double], beta: [Double], optimistic: Bool, k: Int, draws: Int, seed: UInt64)
        -> RankMarginals
    {
        let n = alpha.count
        var g = Xoshiro256(seed: seed)
        var counts = [Int](repeating: 0, count: n * k)
        let floors = zip(alpha, beta).map { log($0) - log($1) }
        var scores = [(Double, UInt64, Int)](repeating: (0, 0, 0), count: n)
        for _ in 0..<draws {
            for j in 0..<n {
                var s = logGamma(alpha[j], &g) - logGamma(beta[j], &g)
                if optimistic { s = max(s, floors[j]) }
                scores[j] = (s, g.next(), j)
            }
            scores.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
            for r in 0..<k { counts[scores[r].2 * k + r] += 1 }
        }
        return RankMarginals(items: n, k: k, counts: counts, simulations: draws)
    }

    /// The case: a shape of 0.1 puts a tenth of item 0's mass within 1e-16 of 1; the
    /// exact top-1 was 0.822 (column sum 0.897) where the truth is 0.925.
    @Test func aSmallShapeAtOneIsResolved() throws {
        let ts = try ThompsonSampling(alpha: [2, 3, 1], beta: [0.1, 2, 1])
        let exact = try ts.exactMarginals(k: 1)
        #expect(abs(exact.columnSum(rank: 0) - 1) < 1e-9)
        #expect(exact.errorEstimate.map { $0 <= 1e-6 } == true)
        let ref = Self.reference(
            alpha: [2, 3, 1], beta: [0.1, 2, 1], optimistic: false, k: 1, draws: 400_000, seed: 3)
        #expect(agreeWithinStandardErrors(ref, exact, z: 5) == nil)
        #expect(abs(exact.probability(item: 0, rank: 0) - 0.925) < 0.002)
    }

    /// Random shapes, log-uniform in [1e-3, 1e3], plain and optimistic: every column sums to 1,
    /// the error estimate is within the tolerance, and every cell is within 5 standard errors of
    /// the log-space sampler.
    @Test(arguments: [false, true])
    func randomShapesAgreeWithTheLogSpaceSampler(optimistic: Bool) throws {
        var g = Xoshiro256(seed: optimistic ? 41 : 40)
        func shape() -> Double { pow(10, -3 + 6 * Double(g.next() >> 11) / 9_007_199_254_740_992) }
        for trial in 0..<8 {
            let n = 2 + Int(g.next() % 4)
            let k = 1 + Int(g.next() % UInt64(n))
            let alpha = (0..<n).map { _ in shape() }
            let beta = (0..<n).map { _ in shape() }
            let ts = try ThompsonSampling(alpha: alpha, beta: beta, optimistic: optimistic)
            let exact = try ts.exactMarginals(k: k)
            let label = "trial \(trial): alpha \(alpha), beta \(beta), k \(k)"
            for r in 0..<k { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-6, "\(label), rank \(r)") }
            #expect(exact.errorEstimate.map { $0 <= 1e-6 } == true, "\(label)")
            let ref = Self.reference(
                alpha: alpha, beta: beta, optimistic: optimistic, k: k, draws: 100_000, seed: UInt64(trial))
            #expect(agreeWithinStandardErrors(ref, exact, z: 5) == nil, "\(label)")
        }
    }

    /// Many identical items: every item is at every rank with probability 1/n, and the deep ranks
    /// are far narrower than any one item (the panels follow the order statistics: without that,
    /// 100 items of Beta(1, 30) summed to 1 within 6e-7 at rank 10).
    @Test(arguments: [(100, 1.0, 30.0), (500, 2.0, 50.0), (40, 0.2, 0.3)])
    func identicalItemsAreExchangeable(n: Int, a: Double, b: Double) throws {
        let ts = try ThompsonSampling(
            alpha: [Double](repeating: a, count: n), beta: [Double](repeating: b, count: n))
        let exact = try ts.exactMarginals(k: 10)
        for r in 0..<10 {
            #expect(abs(exact.columnSum(rank: r) - 1) < 1e-10, "n \(n) rank \(r): \(exact.columnSum(rank: r))")
        }
        #expect(exact.probabilities.allSatisfy { abs($0 - 1 / Double(n)) < 1e-11 })
    }

    /// A boost splits the score axis into pieces (support ends at 0, 1 and the boosted ends);
    /// small shapes at every end of every piece, against Monte Carlo (shapes ≥ 0.3, which Float
    /// draws still order).
    @Test(arguments: [PriorityBoost.Rule.additive(0.2), .multiplicative(1.5), .additive(-0.3)])
    func boostedSmallShapes(rule: PriorityBoost.Rule) throws {
        let alpha = [0.3, 2, 0.5, 5, 0.4]
        let beta = [0.4, 0.3, 3, 0.6, 8]
        let ts = try ThompsonSampling(alpha: alpha, beta: beta, boost: PriorityBoost(items: [1, 2], rule: rule))
        let exact = try ts.exactMarginals(k: 3)
        for r in 0..<3 { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-6, "\(rule) rank \(r)") }
        let mc = try ts.monteCarloMarginals(k: 3, simulations: 400_000, seed: 9)
        #expect(agreeWithinStandardErrors(mc, exact, z: 5) == nil, "\(rule)")
    }
}

/// Monte Carlo draws in Float: a shape below Float's range, or shapes that round several items'
/// draws to the same end of [0, 1] (where they would tie), are refused with a pointer to the
/// exact method, which takes them; none traps.
@Suite struct MonteCarloShapeRangeTests {
    @Test(arguments: [
        ([1e-50, 2.0], [1.0, 1.0]), ([2.0, 3, 1, 0.2], [0.1, 2, 1, 0.05]), ([0.01, 0.02, 5], [3.0, 2, 5]),
    ])
    func shapesFloatCannotOrderAreRefused(alpha: [Double], beta: [Double]) throws {
        let ts = try ThompsonSampling(alpha: alpha, beta: beta)
        #expect {
            try ts.monteCarloMarginals(k: 1, simulations: 1000, seed: 1)
        } throws: { error in
            "\(error)".contains("--method exact")
        }
        let exact = try ts.exactMarginals(k: 1)
        #expect(abs(exact.columnSum(rank: 0) - 1) < 1e-9)
    }

    /// Shapes of 0.3 at one end still sample (ties there are below the limit).
    @Test func moderateSmallShapesStillSample() throws {
        let ts = try ThompsonSampling(alpha: [0.3, 2, 0.5], beta: [0.4, 0.3, 3])
        #expect(throws: Never.self) { try ts.monteCarloMarginals(k: 2, simulations: 1000, seed: 1) }
    }
}
