import Foundation
import RecCore
import RecOPE
import Testing

/// Monte Carlo slate and cascade probabilities (`MonteCarloSlateProbabilities`): against the exact
/// prefix probabilities of Plackett–Luce and the exact rank marginals of Thompson sampling, within
/// a bound in standard errors; the same counts on any thread count; SIPS and RIPS of a
/// Thompson-sampling target computed with them.
@Suite struct SlateMonteCarloTests {
    /// Every ordered prefix of 1…K distinct items out of m.
    static func prefixes(_ m: Int, _ K: Int) -> [[Int]] {
        var out = [[Int]]()
        func visit(_ s: [Int]) {
            if !s.isEmpty { out.append(s) }
            if s.count == K { return }
            for a in 0..<m where !s.contains(a) { visit(s + [a]) }
        }
        visit([])
        return out
    }

    /// |p̂ − p| ≤ 4.5 binomial standard errors for every prefix (about 150 of them: a familywise
    /// false alarm below 1e-3).
    static func agrees(_ estimate: Double, _ exact: Double, _ n: Int) -> Bool {
        abs(estimate - exact) <= 4.5 * (max(exact * (1 - exact), 1e-12) / Double(n)).squareRoot() + 1e-12
    }

    @Test func plackettLucePrefixesMatchTheClosedForm() throws {
        let pl = try PlackettLuce(scores: [0.4, -0.8, 1.3, 0.0, -0.2, 0.7], temperature: 0.9)
        let n = 400_000
        let mc = try MonteCarloSlateProbabilities(policy: pl, depth: 3, simulations: n, seed: 3)
        var checked = 0
        for s in Self.prefixes(6, 3) {
            let exact = try pl.prefixProbabilities(of: s)
            let estimate = mc.prefixProbabilities(of: s)
            #expect(Self.agrees(estimate.last!, exact.last!, n), "\(s): \(estimate.last!) vs \(exact.last!)")
            checked += 1
        }
        #expect(checked == 6 + 30 + 120)
        // Thread counts give the same counts.
        let one = try MonteCarloSlateProbabilities(
            policy: pl, depth: 3, simulations: 50_000, seed: 9, parallelism: .threads(1))
        let three = try MonteCarloSlateProbabilities(
            policy: pl, depth: 3, simulations: 50_000, seed: 9, parallelism: .threads(3))
        for s in Self.prefixes(6, 3) { #expect(one.prefixProbabilities(of: s) == three.prefixProbabilities(of: s)) }
    }

    /// Thompson sampling: the prefixes of one and two items summed give the exact rank marginals
    /// at ranks 0 and 1 (quadrature), within the standard-error bound.
    @Test func thompsonSamplingPrefixesSumToTheExactMarginals() throws {
        let ts = try ThompsonSampling(alpha: [2, 3, 1, 4, 2, 6], beta: [5, 5, 6, 4, 7, 3])
        let exact = try ts.exactMarginals(k: 2)
        let n = 400_000
        let mc = try MonteCarloSlateProbabilities(policy: ts, depth: 2, simulations: n, seed: 5)
        for b in 0..<6 {
            let top = mc.prefixProbabilities(of: [b])[0]
            #expect(Self.agrees(top, exact.probability(item: b, rank: 0), n))
            var second = 0.0
            for a in 0..<6 where a != b { second += mc.prefixProbabilities(of: [a, b])[1] }
            #expect(Self.agrees(second, exact.probability(item: b, rank: 1), n), "\(b)")
        }
        #expect(mc.prefixProbabilities(of: [0, 0])[1] == 0)
    }

    /// A Thompson-sampling target on a slate log: SIPS and RIPS run with the Monte Carlo
    /// probabilities (the report says so), equal to their formulas in plain loops with the same
    /// estimates; without simulations it keeps IIPS only.
    @Test func thompsonSamplingTargetGetsSIPSAndRIPS() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slate-mc-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = Xoshiro256(seed: 12)
        var csv = "sid,item,pos,click,p,ps,pc\n"
        var logged = [(items: [Int], clicks: [Double])]()
        for s in 0..<3000 {
            var items = Array(0..<6)
            for i in 0..<3 { items.swapAt(i, i + Int(Sampling.uniform(&g) * Double(6 - i))) }
            let slate = Array(items[0..<3])
            var clicks = [Double]()
            for p in 0..<3 {
                let c: Double = Sampling.uniform(&g) < 0.1 + 0.1 * Double(slate[p] % 3) ? 1 : 0
                clicks.append(c)
                csv += "s\(s),\(slate[p]),\(p),\(Int(c)),\(1.0 / 6),\(1.0 / 120),\([1.0 / 6, 1.0 / 30, 1.0 / 120][p])\n"
            }
            logged.append((slate, clicks))
        }
        let path = dir.appendingPathComponent("log.csv").path
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        let ts = try ThompsonSampling(alpha: [2, 3, 1, 4, 2, 6], beta: [5, 5, 6, 4, 7, 3])
        let columns = try LogColumns.parse(
            "slate=sid,item=item,position=pos,reward=click,propensity=p,slate_propensity=ps,cascade_propensity=pc")
        let target = SlateTarget(name: "ts", policy: ts, marginals: try ts.exactMarginals(k: 3))
        let r = try SlateEvaluation.run(
            path: path, columns: columns, targets: [target], depth: 3, seed: 4, slateSimulations: 200_000)
        let e = r.evaluations[0]
        #expect(e.estimates.map(\.estimator) == [.SIPS, .SNSIPS, .IIPS, .SNIIPS, .RIPS, .SNRIPS])
        #expect(e.warnings.first?.contains("Monte Carlo estimates from 200000 rankings") == true)
        let mc = try MonteCarloSlateProbabilities(policy: ts, depth: 3, simulations: 200_000, seed: 4)
        var sips = 0.0
        var rips = 0.0
        for (items, clicks) in logged {
            let p = mc.prefixProbabilities(of: items)
            for j in 0..<3 {
                sips += p[2] / (1.0 / 120) * clicks[j]
                rips += p[j] / [1.0 / 6, 1.0 / 30, 1.0 / 120][j] * clicks[j]
            }
        }
        #expect(abs(try #require(e.estimate(.SIPS)).value - sips / 3000) <= 1e-12 * abs(sips / 3000))
        #expect(abs(try #require(e.estimate(.RIPS)).value - rips / 3000) <= 1e-12 * abs(rips / 3000))
        let without = try SlateEvaluation.run(path: path, columns: columns, targets: [target], depth: 3)
        #expect(without.evaluations[0].estimates.map(\.estimator) == [.IIPS, .SNIIPS])
        // Cascade-DR with the Monte Carlo weights and expectations, against its formula in plain
        // loops with the same rankings and the click-rate model.
        let withModel = try SlateEvaluation.run(
            path: path, columns: columns, targets: [target], depth: 3, seed: 4, rewardModel: true,
            slateSimulations: 200_000)
        let q = try SlateClickRates.fit(path: path, columns: columns, items: 6, depth: 3)
        var dr = 0.0
        for (items, clicks) in logged {
            let p = mc.prefixProbabilities(of: items)
            var previous = 1.0
            for j in 0..<3 {
                let w = p[j] / [1.0 / 6, 1.0 / 30, 1.0 / 120][j]
                let expected = mc.expected(after: Array(items[0..<j])) { q.rate(item: $0, position: j) }
                dr += w * (clicks[j] - q.rate(item: items[j], position: j)) + previous * expected
                previous = w
            }
        }
        let cdr = try #require(withModel.evaluations[0].estimate(.CascadeDR))
        #expect(abs(cdr.value - dr / 3000) <= 1e-12 * abs(dr / 3000), "\(cdr.value) vs \(dr / 3000)")
    }

    /// The expectation of a function of the next item given a drawn prefix, from the rankings'
    /// counts, against Plackett–Luce's closed form Σ_b P(prefix + b) / P(prefix)·f(b): within 4.5
    /// standard errors of a mean of values in [0, 1] over the prefix's draws (SD ≤ 1/2).
    @Test func nextItemExpectationsMatchPlackettLuce() throws {
        let pl = try PlackettLuce(scores: [0.4, -0.8, 1.3, 0.0, -0.2, 0.7], temperature: 0.9)
        let n = 400_000
        let mc = try MonteCarloSlateProbabilities(policy: pl, depth: 3, simulations: n, seed: 21)
        let f = [0.05, 0.9, 0.3, 0.55, 0.12, 0.7]
        var checked = 0
        for prefix in [[]] + Self.prefixes(6, 2) {
            let above = prefix.isEmpty ? 1 : try pl.prefixProbabilities(of: prefix).last!
            var exact = 0.0
            for b in 0..<6 where !prefix.contains(b) {
                exact += try pl.prefixProbabilities(of: prefix + [b]).last! / above * f[b]
            }
            let estimate = mc.expected(after: prefix) { f[$0] }
            let se = 0.5 / (above * Double(n)).squareRoot()
            #expect(abs(estimate - exact) <= 4.5 * se, "\(prefix): \(estimate) vs \(exact)")
            checked += 1
        }
        #expect(checked == 1 + 6 + 30)
        #expect(mc.expected(after: [0, 0]) { _ in 1 } == 0)
    }
}
