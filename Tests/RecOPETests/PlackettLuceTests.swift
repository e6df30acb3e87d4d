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

/// P(item i at rank r) of a Plackett–Luce policy by enumerating every ranking (n! of them),
/// row-major by item.
func enumeratedMarginals(_ pl: PlackettLuce, items n: Int) -> [Double] {
    var ref = [Double](repeating: 0, count: n * n)
    for perm in permutations(Array(0..<n)) {
        let p = pl.probability(ofRanking: perm)
        for (r, i) in perm.enumerated() { ref[i * n + r] += p }
    }
    return ref
}

@Suite struct PlackettLuceTests {
    @Test(arguments: [1, 2, 3, 5, 6])
    func exactMatchesPermutationEnumeration(n: Int) throws {
        let scores = randomDoubles(n, seed: UInt64(n), scale: 1.5)
        let pl = try PlackettLuce(scores: scores, temperature: 0.7)
        let ref = enumeratedMarginals(pl, items: n)
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
