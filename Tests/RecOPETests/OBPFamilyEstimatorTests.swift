import Foundation
import RecCore
import RecOPE
import Testing

/// SNDR, DRos, sub-Gaussian IPW and DR, and their SLOPE choices, recomputed here by plain loops
/// on a small log (OBP's formulas; `python/tests/test_obp_engine.py` compares with OBP itself).
@Suite struct OBPFamilyEstimatorTests {
    static let items = [0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2]
    static let positions = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1]
    static let rewards = [1.0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0]

    static func report(slopeDelta: Double = 0.1) throws -> (PolicyEvaluation, RankMarginals) {
        let logging = try UniformRandomRanking(items: 3).exactMarginals(k: 2)
        let target = try ThompsonSampling(alpha: [5, 2, 1], beta: [10, 10, 10]).exactMarginals(k: 2)
        let logs = try LoggedData(items: items, positions: positions, rewards: rewards, propensities: nil)
        var settings = EvaluationSettings()
        settings.caps = [1.5, 3]
        settings.bootstrap = 0
        settings.rewardSmoothing = 2
        settings.shrinkage = [0.5, .infinity]
        settings.subGaussian = [0, 0.25]
        settings.slope = true
        settings.slopeDelta = slopeDelta
        let ev = try OfflineEvaluation.evaluate(
            logs: logs, target: target, policy: "t", logging: logging, settings: settings)
        return (ev, target)
    }

    /// The rows' weights, click-rate predictions of the logged pair and DM terms.
    static func rowTerms(_ target: RankMarginals) -> (w: [Double], q: [Double], dm: [Double]) {
        let r = rewards
        func q(_ a: Int, _ k: Int) -> Double {
            let rows = items.indices.filter { positions[$0] == k }
            let mean = rows.reduce(0.0) { $0 + r[$1] } / Double(rows.count)
            let mine = rows.filter { items[$0] == a }
            return (mine.reduce(0.0) { $0 + r[$1] } + 2 * mean) / (Double(mine.count) + 2)
        }
        let w = items.indices.map { target.probability(item: items[$0], rank: positions[$0]) / (1.0 / 3) }
        let qf = items.indices.map { q(items[$0], positions[$0]) }
        let dm = positions.map { k in (0..<3).reduce(0.0) { $0 + target.probability(item: $1, rank: k) * q($1, k) } }
        return (w, qf, dm)
    }

    static func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(x.count) }

    @Test func valuesMatchTheirFormulas() throws {
        let (ev, target) = try Self.report()
        let (w, q, dm) = Self.rowTerms(target)
        let r = Self.rewards
        let n = Double(r.count)
        func v(_ e: Estimator, _ cap: Double? = nil) throws -> Double {
            try #require(ev.estimate(e, cap: cap, model: e == .SubGaussianIPW ? nil : .ctr)).value
        }
        let residual = r.indices.map { w[$0] * (r[$0] - q[$0]) }
        let sndr = Self.mean(dm) + residual.reduce(0, +) / w.reduce(0, +)
        #expect(abs(try v(.SNDR) - sndr) < 1e-12)
        for l in [0.5, Double.infinity] {
            let shrunk = r.indices.map {
                dm[$0] + (l.isInfinite ? w[$0] : l * w[$0] / (w[$0] * w[$0] + l)) * (r[$0] - q[$0])
            }
            #expect(abs(try v(.DRos, l) - Self.mean(shrunk)) < 1e-12, "DRos λ = \(l)")
        }
        // λ = ∞ is DR; sub-Gaussian λ = 0 is IS and DR.
        #expect(abs(try v(.DRos, .infinity) - v(.DR)) < 1e-12)
        #expect(abs(try v(.SubGaussianIPW, 0) - ev.estimate(.IS)!.value) < 1e-12)
        #expect(abs(try v(.SubGaussianDR, 0) - v(.DR)) < 1e-12)
        let l = 0.25
        let hat = w.map { $0 / (1 - l + l * $0) }
        #expect(abs(try v(.SubGaussianIPW, l) - Self.mean(zip(hat, r).map(*))) < 1e-12)
        let sgdr = r.indices.map { dm[$0] + hat[$0] * (r[$0] - q[$0]) }
        #expect(abs(try v(.SubGaussianDR, l) - Self.mean(sgdr)) < 1e-12)
        // The new estimators differ from the ones they generalise here (the test compares
        // different numbers).
        #expect(try abs(v(.DRos, 0.5) - v(.DR)) > 1e-6 && abs(v(.SubGaussianDR, l) - v(.DR)) > 1e-6)
        #expect(try abs(v(.SNDR) - v(.DR)) > 1e-6)
    }

    /// SNDR's normal interval: the standard error of the rows' influence
    /// uᵢ = DMᵢ + (aᵢ − v·wᵢ)/w̄ computed row by row.
    @Test func sndrStandardErrorIsTheInfluences() throws {
        let (ev, target) = try Self.report()
        let (w, q, dm) = Self.rowTerms(target)
        let r = Self.rewards
        let n = Double(r.count)
        let a = r.indices.map { w[$0] * (r[$0] - q[$0]) }
        let v = a.reduce(0, +) / w.reduce(0, +)
        let wbar = Self.mean(w)
        let u = r.indices.map { dm[$0] + (a[$0] - v * w[$0]) / wbar }
        let ubar = Self.mean(u)
        let se = (u.reduce(0.0) { $0 + ($1 - ubar) * ($1 - ubar) } / (n - 1) / n).squareRoot()
        let e = try #require(ev.estimate(.SNDR, model: .ctr))
        let z = SpecialFunctions.normalQuantile(0.975)
        #expect(abs((e.normal.high - e.value) / z - se) < 1e-12 * max(se, 1))
        #expect(se > 0)
    }

    /// SLOPE as OBP runs it: widths √(var/(n − 1))·t(n − 1, 1 − δ), candidates by decreasing
    /// width, kept while every kept estimate is within the widths.
    @Test func slopeChoosesAsOBPDoes() throws {
        for delta in [0.1, 0.3, 0.05, 0.5] {
            let (ev, target) = try Self.report(slopeDelta: delta)
            let (w, q, dm) = Self.rowTerms(target)
            let r = Self.rewards
            let n = Double(r.count)
            func choose(_ candidates: [(Double, [Double])]) -> Double {
                let t = SpecialFunctions.studentTQuantile(1 - delta, degreesOfFreedom: n - 1)
                let theta = candidates.map { Self.mean($0.1) }
                let cnf = candidates.map { c -> Double in
                    let m = Self.mean(c.1)
                    return (c.1.reduce(0.0) { $0 + ($1 - m) * ($1 - m) } / n / (n - 1)).squareRoot() * t
                }
                let order = cnf.indices.sorted { cnf[$0] != cnf[$1] ? cnf[$0] > cnf[$1] : $0 > $1 }
                var kept = [Int]()
                for (i, idx) in order.enumerated() {
                    if kept.allSatisfy({ abs(theta[$0] - theta[idx]) <= cnf[idx] + (6.0.squareRoot() - 1) * cnf[$0] }) {
                        kept.append(idx)
                    } else {
                        return candidates[order[i - 1]].0
                    }
                }
                return candidates[order.last!].0
            }
            let cis =
                [(Double.infinity, zip(w, r).map(*))]
                + [3.0, 1.5].map { c in (c, r.indices.map { min(w[$0], c) * r[$0] }) }
            let dros = [0.5, Double.infinity].map { l in
                (
                    l,
                    r.indices.map {
                        dm[$0] + (l.isInfinite ? w[$0] : l * w[$0] / (w[$0] * w[$0] + l)) * (r[$0] - q[$0])
                    }
                )
            }
            let tuned = ev.estimates.filter { $0.tuning == .slope }
            #expect(tuned.count == 4, "CIS, SubGaussianIPW, DRos and SubGaussianDR (ctr; no logistic model here)")
            let cisTuned = try #require(tuned.first { $0.estimator == .CIS })
            #expect(cisTuned.cap == choose(cis), "δ = \(delta)")
            #expect(cisTuned.value == ev.estimate(.CIS, cap: cisTuned.cap)?.value ?? ev.estimate(.IS)!.value)
            let drosTuned = try #require(tuned.first { $0.estimator == .DRos && $0.model == .ctr })
            #expect(drosTuned.cap == choose(dros), "δ = \(delta)")
            #expect(drosTuned.label == "DRos (ctr) SLOPE")
        }
    }

    /// MIPS and SNMIPS: per embedding dimension the target's and the logging policy's mass on the
    /// logged item's category at its position, multiplied over dimensions.
    @Test func mipsMatchesItsFormula() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-mips-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("items.csv").path
        try "item_id,colour,size\n0,red,s\n1,red,l\n2,blue,l\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let embeddings = try ItemFeatures.load(csv: csv)
        let colour = [0, 0, 1]
        let size = [0, 1, 1]
        let logging = try PlackettLuce(scores: [0.2, 1, 0.5]).exactMarginals(k: 2)
        let target = try ThompsonSampling(alpha: [5, 2, 1], beta: [10, 10, 10]).exactMarginals(k: 2)
        let logs = try LoggedData(
            items: Self.items, positions: Self.positions, rewards: Self.rewards, propensities: nil)
        var settings = EvaluationSettings()
        settings.bootstrap = 0
        settings.rewardModels = false
        settings.itemEmbeddings = embeddings
        let ev = try OfflineEvaluation.evaluate(
            logs: logs, target: target, policy: "t", logging: logging, settings: settings)
        func mass(_ m: RankMarginals, _ col: [Int], _ cat: Int, _ k: Int) -> Double {
            (0..<3).filter { col[$0] == cat }.reduce(0.0) { $0 + m.probability(item: $1, rank: k) }
        }
        let we = Self.items.indices.map { j -> Double in
            let (a, k) = (Self.items[j], Self.positions[j])
            let pe = mass(target, colour, colour[a], k) * mass(target, size, size[a], k)
            let pb = mass(logging, colour, colour[a], k) * mass(logging, size, size[a], k)
            return pe / pb
        }
        let r = Self.rewards
        let mips = zip(we, r).map(*).reduce(0, +) / Double(r.count)
        #expect(abs(try #require(ev.estimate(.MIPS)).value - mips) < 1e-12)
        #expect(
            abs(try #require(ev.estimate(.SNMIPS)).value - zip(we, r).map(*).reduce(0, +) / we.reduce(0, +)) < 1e-12)
        #expect(abs(mips - ev.estimate(.IS)!.value) > 1e-4, "the embedding changes the weights")
        // Without the logging marginals: skipped, with a warning.
        let noLogging = try OfflineEvaluation.evaluate(
            logs: try LoggedData(
                items: Self.items, positions: Self.positions, rewards: Self.rewards,
                propensities: Self.items.map { _ in 0.25 }),
            target: target, policy: "t", logging: nil, settings: settings)
        #expect(noLogging.estimate(.MIPS) == nil)
        #expect(noLogging.warnings.contains { $0.contains("MIPS needs the logging policy") })
    }

    /// Bad hyperparameters are refused with the setting named.
    @Test func badHyperparameters() throws {
        let target = try UniformRandomRanking(items: 3).exactMarginals(k: 2)
        for (edit, message) in [
            ({ (s: inout EvaluationSettings) in s.shrinkage = [0] }, "shrinkage"),
            ({ (s: inout EvaluationSettings) in s.shrinkage = [.nan] }, "shrinkage"),
            ({ (s: inout EvaluationSettings) in s.subGaussian = [1.5] }, "sub-Gaussian"),
            ({ (s: inout EvaluationSettings) in s.slopeDelta = 1 }, "SLOPE"),
        ] {
            var s = EvaluationSettings()
            edit(&s)
            #expect {
                _ = try OffPolicyEvaluator(
                    targets: [TargetPolicy(name: "t", marginals: [target])], logging: nil, settings: s)
            } throws: { "\($0)".contains(message) }
        }
    }
}
