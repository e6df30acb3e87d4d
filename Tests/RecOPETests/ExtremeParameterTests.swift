import Foundation
import RecCore
import RecIO
import RecOPE
import Testing
import _RecTestSupport

/// Class: exact rank marginals at extreme but finite parameters are refused with a message
/// naming the parameter and the Monte Carlo alternative, never a trap or a wrong row.
@Suite struct ExtremeParameterTests {
    @Test(arguments: [2e6, 1e9, 1e11, 1e12, 1e30, 1e300])
    func hugeBetaCountsAreRefusedExactlyAndWorkByMonteCarlo(count: Double) throws {
        let ts = try ThompsonSampling(alpha: [count * 0.02, 5, count * 0.01], beta: [count, 100, count])
        #expect {
            _ = try ts.exactMarginals(k: 2)
        } throws: { error in
            "\(error)".contains("--method mc") && "\(error)".contains("item 0")
        }
        guard count <= 1e11 else {
            #expect(throws: RecOPEError.self) { _ = try ts.monteCarloMarginals(k: 2, simulations: 100, seed: 3) }
            return
        }
        let mc = try ts.monteCarloMarginals(k: 2, simulations: 20_000, seed: 3)
        for r in 0..<2 {
            let total = (0..<3).reduce(0.0) { $0 + mc.probability(item: $1, rank: r) }
            #expect(abs(total - 1) < 1e-12, "rank \(r) sums to \(total)")
        }
        // Item 1 (mean 0.048, sd 0.02) beats items 0 (mean 0.0196, a point mass here) and 2
        // (0.0099) most of the time; item 0 is above item 2 always.
        #expect(mc.probability(item: 1, rank: 0) > 0.8)
        #expect(mc.probability(item: 0, rank: 1) > mc.probability(item: 2, rank: 1))
    }

    /// Plackett–Luce at huge or tiny scores/temperatures: exact marginals equal the closed-form
    /// product over all permutations (computed from score differences), rows and columns sum to 1,
    /// and Monte Carlo agrees within 4 standard errors.
    @Test(arguments: [
        ([1e12, 0, 5, 4.5], 1.0), ([1, 2, 3, 2.5], 1e-12), ([1e13, 1e13, 0, -3], 1.0),
        ([0, 1e-12, 2e-12, 3e-12], 1e-12), ([1e308, -1e308, 0, 1], 1e300), ([1e308, -1e308, 0, 1], 1.0),
        ([-1e300, -1e300 + 1e285, 2, 2], 1e285), ([5, 5, 5, 5], 1e-300),
    ])
    func plackettLuceAtExtremes(scores: [Double], temperature: Double) throws {
        let pl = try PlackettLuce(scores: scores, temperature: temperature)
        let n = scores.count
        let ref = enumeratedMarginals(pl, items: n)
        let exact = try pl.exactMarginals(k: n)
        for c in 0..<(n * n) {
            #expect(
                abs(exact.probabilities[c] - ref[c]) < 1e-9,
                "\(scores)/\(temperature) cell \(c): \(exact.probabilities[c]) vs \(ref[c])")
        }
        for r in 0..<n { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9) }
        let mc = try pl.monteCarloMarginals(k: n, simulations: 200_000, seed: 5)
        #expect(agreeWithinStandardErrors(mc, exact) == nil, "\(scores)/\(temperature)")
    }

    @Test func plackettLuceBeyondTheQuadratureIsRefused() throws {
        // 2,000 items 59 logits apart form one cluster spanning 118,000 logits: refused quickly.
        let pl = try PlackettLuce(scores: (0..<2000).map { 59 * Double($0) })
        #expect {
            _ = try pl.exactMarginals(k: 50)
        } throws: { error in
            "\(error)".contains("--method mc") && "\(error)".contains("2000 items")
        }
        // The same scores 1,000 apart are in deterministic order: exact and instant.
        let far = try PlackettLuce(scores: (0..<2000).map { 1000 * Double($0) }).exactMarginals(k: 50)
        #expect(far.probability(item: 1999, rank: 0) == 1 && far.probability(item: 1950, rank: 49) == 1)
    }

    @Test func monteCarloSizesAreCheckedBeforeTheRun() throws {
        let pl = try PlackettLuce(scores: [1, 2, 3])
        for sims in [Int.max, 1 << 41, 0, -1] {
            #expect {
                _ = try pl.monteCarloMarginals(k: 2, simulations: sims, seed: 1)
            } throws: { error in
                "\(error)".contains("simulations must be in 1...1099511627776")
            }
        }
    }

    @Test func theLimitItselfStillComputes() throws {
        let ts = try ThompsonSampling(alpha: [4e5, 3e5], beta: [6e5, 7e5])
        let m = try ts.exactMarginals(k: 1)
        #expect(abs(m.probability(item: 0, rank: 0) + m.probability(item: 1, rank: 0) - 1) < 1e-9)
        #expect(m.probability(item: 0, rank: 0) > 0.999)
    }
}
