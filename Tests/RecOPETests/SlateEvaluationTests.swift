import Foundation
import RecCore
import RecOPE
import Testing

/// The slate estimators (`SlateState`): values against OBP's formulas written as plain loops,
/// normal intervals against the per-slate influence computed directly, shards joined mid-slate
/// against one pass, and the reader's slate columns with their errors.
@Suite struct SlateEvaluationTests {
    /// A slate log: `slates` slates of 1…K rows (the last positions sometimes missing), its
    /// probability columns random in (0, 1] (the target's sometimes 0), rewards 0/1.
    static func log(slates: Int, depth K: Int, seed: UInt64) -> LogChunk {
        var g = Xoshiro256(seed: seed)
        var c = LogChunk(source: "slates")
        var roles = [SlateProbability: [Double]]()
        c.slates = []
        c.propensities = []
        c.lines = []
        for s in 0..<slates {
            let rows = Sampling.uniform(&g) < 0.2 ? 1 + Int(Sampling.uniform(&g) * Double(K)) : K
            let slateP = 0.001 + Sampling.uniform(&g) * 0.02
            let targetSlateP = Sampling.uniform(&g) < 0.1 ? 0 : Sampling.uniform(&g) * 0.03
            var cascade = 1.0
            var targetCascade = 1.0
            for p in 0..<min(rows, K) {
                c.items.append(Int32(Sampling.uniform(&g) * 20))
                c.positions.append(Int32(p))
                c.rewards.append(Sampling.uniform(&g) < 0.3 ? 1 : 0)
                c.rowKeys.append(RowHash.mix(UInt64(s) << 8 | UInt64(p)))
                c.lines!.append(c.lines!.count + 2)
                c.slates!.append(RowHash.mix(UInt64(s) &+ 77))
                c.propensities!.append(0.05 + Sampling.uniform(&g) * 0.5)
                cascade *= 0.2 + Sampling.uniform(&g) * 0.8
                targetCascade *= Sampling.uniform(&g)
                roles[.targetPropensity, default: []].append(Sampling.uniform(&g) * 0.6)
                roles[.slatePropensity, default: []].append(slateP)
                roles[.targetSlatePropensity, default: []].append(targetSlateP)
                roles[.cascadePropensity, default: []].append(cascade)
                roles[.targetCascadePropensity, default: []].append(targetCascade)
            }
        }
        c.slateProbabilities = roles
        return c
    }

    /// OBP's value of each estimator, as its classes compute it: Σ r·w / slates; the
    /// self-normalised ones divide each row's w by the mean weight over all rows (SNSIPS) or over
    /// the rows at its position (SNIIPS, SNRIPS).
    static func reference(_ c: LogChunk, _ w: SlateWeighting) -> (ips: Double, sn: Double) {
        let (tr, lr) = (
            [
                SlateWeighting.standard: SlateProbability.targetSlatePropensity, .independent: .targetPropensity,
                .interaction: .targetCascadePropensity,
            ][w]!,
            [SlateWeighting.standard: SlateProbability.slatePropensity, .interaction: .cascadePropensity][w]
        )
        let t = c.slateProbabilities[tr]!
        let l = lr.map { c.slateProbabilities[$0]! } ?? c.propensities!
        let weights = zip(t, l).map { $0 / $1 }
        let slates = Double(Set(c.slates!).count)
        var ips = 0.0
        for j in 0..<c.count { ips += c.rewards[j] * weights[j] }
        var sn = 0.0
        if w == .standard {
            let mean = weights.reduce(0, +) / Double(c.count)
            for j in 0..<c.count { sn += c.rewards[j] * weights[j] / mean }
        } else {
            for p in Set(c.positions) {
                let at = (0..<c.count).filter { c.positions[$0] == p }
                let mean = at.map { weights[$0] }.reduce(0, +) / Double(at.count)
                for j in at { sn += c.rewards[j] * weights[j] / mean }
            }
        }
        return (ips / slates, sn / slates)
    }

    static func settings(depth: Int, bootstrap: Int = 0) -> SlateSettings {
        var s = SlateSettings(depth: depth, weightings: [.standard, .independent, .interaction])
        s.bootstrap = bootstrap
        s.seed = 3
        return s
    }

    @Test func valuesEqualOBPsFormulas() throws {
        let c = Self.log(slates: 700, depth: 4, seed: 11)
        var state = try SlateState(settings: Self.settings(depth: 4))
        try state.add(c)
        let got = try state.estimates(policy: "t")
        #expect(got.count == 6)
        for w in [SlateWeighting.standard, .independent, .interaction] {
            let (ips, sn) = Self.reference(c, w)
            let a = try #require(got.first { $0.estimator == w.estimator })
            let b = try #require(got.first { $0.estimator == w.selfNormalized })
            #expect(abs(a.value - ips) <= 1e-12 * abs(ips), "\(w): \(a.value) vs \(ips)")
            #expect(abs(b.value - sn) <= 1e-12 * abs(sn), "\(w) SN: \(b.value) vs \(sn)")
            #expect(a.value != b.value)
        }
        #expect(state.slates == 700)
    }

    /// The normal interval's standard error: IPS's is the standard deviation of the slates' sums
    /// over √slates; the self-normalised one's is the same of each slate's influence on the value,
    /// Σ_p (a_p − v_p·b_p)·m̄_p/b̄_p + v_p·(m_p − m̄_p) with v_p = ā_p/b̄_p, computed here slate by slate.
    @Test func normalIntervalsAreTheSlatesDeltaMethod() throws {
        let K = 3
        let c = Self.log(slates: 500, depth: K, seed: 5)
        var state = try SlateState(settings: Self.settings(depth: K))
        try state.add(c)
        let got = try state.estimates(policy: "t")
        let w = SlateWeighting.independent
        let weights = zip(c.slateProbabilities[.targetPropensity]!, c.propensities!).map { $0 / $1 }
        // Per slate, in order: a_p, b_p, m_p.
        var slates = [[Double]]()
        var last: UInt64? = nil
        for j in 0..<c.count {
            if c.slates![j] != last {
                slates.append([Double](repeating: 0, count: 3 * K))
                last = c.slates![j]
            }
            let p = Int(c.positions[j])
            slates[slates.count - 1][p] += weights[j] * c.rewards[j]
            slates[slates.count - 1][K + p] += weights[j]
            slates[slates.count - 1][2 * K + p] += 1
        }
        let n = Double(slates.count)
        let mean = (0..<(3 * K)).map { i in slates.map { $0[i] }.reduce(0, +) / n }
        func sd(_ xs: [Double]) -> Double {
            let m = xs.reduce(0, +) / Double(xs.count)
            return (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot()
        }
        let z = SpecialFunctions.normalQuantile(0.975)
        let ips = try #require(got.first { $0.estimator == w.estimator })
        let seIPS = sd(slates.map { $0[0..<K].reduce(0, +) }) / n.squareRoot()
        #expect(abs((ips.normal.high - ips.normal.low) / (2 * z) - seIPS) <= 1e-9 * seIPS)
        let sn = try #require(got.first { $0.estimator == w.selfNormalized })
        let influence = slates.map { x in
            (0..<K).reduce(0.0) { acc, p in
                let v = mean[p] / mean[K + p]
                return acc + (x[p] - v * x[K + p]) * mean[2 * K + p] / mean[K + p] + v
                    * (x[2 * K + p] - mean[2 * K + p])
            }
        }
        let seSN = sd(influence) / n.squareRoot()
        #expect(abs((sn.normal.high - sn.normal.low) / (2 * z) - seSN) <= 1e-9 * seSN, "\(sn.normal) vs \(seSN)")
    }

    /// Two shards cut inside a slate (and a third holding one slate's middle only), merged in file
    /// order, give the one pass's values and intervals (bootstrap included).
    @Test(arguments: [1, 2, 3, 1000, 1001, 1002, 2399])
    func shardsCutMidSlateEqualOnePass(at: Int) throws {
        let c = Self.log(slates: 800, depth: 3, seed: 9)
        let cut = min(at, c.count - 2)
        let settings = Self.settings(depth: 3, bootstrap: 40)
        var one = try SlateState(settings: settings)
        try one.add(c)
        var a = try SlateState(settings: settings)
        try a.add(c.rows(0..<cut))
        var mid = try SlateState(settings: settings)
        try mid.add(c.rows(cut..<(cut + 1)))
        var b = try SlateState(settings: settings)
        try b.add(c.rows((cut + 1)..<c.count))
        // Shards travel as files: each state through JSON first.
        let copy = { (x: SlateState) in try JSONDecoder().decode(SlateState.self, from: JSONEncoder().encode(x)) }
        a = try copy(a)
        #expect(a == (try copy(a)))
        try a.merge(try copy(mid))
        try a.merge(try copy(b))
        #expect(a.rows == one.rows && a.slates == one.slates)
        let x = try one.estimates(policy: "t")
        let y = try a.estimates(policy: "t")
        for (e, f) in zip(x, y) {
            #expect(e.estimator == f.estimator)
            for (u, v) in [
                (e.value, f.value), (e.normal.low, f.normal.low), (e.interval.low, f.interval.low),
                (e.interval.high, f.interval.high),
            ] {
                #expect(abs(u - v) <= 1e-12 * max(abs(u), 1), "\(e.estimator) at cut \(cut): \(u) vs \(v)")
            }
            #expect(e.method == .poissonBootstrap)
        }
    }

    @Test func badSlateLogsAreTypedErrors() throws {
        var c = Self.log(slates: 30, depth: 3, seed: 1)
        var state = try SlateState(settings: Self.settings(depth: 2))
        // A position past the depth names the row's line.
        #expect(throws: RecOPEError.self) { try state.add(c) }
        state = try SlateState(settings: Self.settings(depth: 3))
        // A slate that comes back after another.
        let back = c.slates![0]
        c.slates![c.count - 1] = back
        do {
            try state.add(c)
            Issue.record("a returning slate was accepted")
        } catch let e {
            #expect("\(e)".contains("consecutive") && "\(e)".contains("slates:\(c.lines![c.count - 1])"))
        }
        var noSlates = Self.log(slates: 3, depth: 3, seed: 1)
        noSlates.slates = nil
        #expect(throws: RecOPEError.self) {
            var s = try SlateState(settings: Self.settings(depth: 3))
            try s.add(noSlates)
        }
        #expect(throws: RecOPEError.self) { try SlateState(settings: SlateSettings(depth: 0, weightings: [.standard])) }
        #expect(throws: RecOPEError.self) {
            try SlateState(settings: SlateSettings(depth: 3, weightings: [.standard, .standard]))
        }
    }

    /// The CSV reader's slate columns: hashes of the slate id and the probabilities, the same on
    /// any thread count; a target probability of 0 is valid, a logging one of 0 names the line.
    @Test func readerTakesSlateColumns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slate-reader-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var text = "sid,item,pos,click,p,ps,ts\n"
        for s in 0..<3000 {
            for p in 0..<2 {
                text += "s\(s),\(s % 7),\(p),\(s % 3 == 0 ? 1 : 0),0.5,0.25,\(s % 5 == 0 ? "0" : "0.125")\n"
            }
        }
        let path = dir.appendingPathComponent("log.csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var cols = try LogColumns.parse(
            "slate=sid,item=item,position=pos,reward=click,propensity=p,slate_propensity=ps,target_slate_propensity=ts")
        #expect(SlateWeighting.available(cols) == [.standard])
        var reports = [OfflineABReport]()
        for t in [1, 2] {
            reports.append(try SlateEvaluation.run(path: path, columns: cols, parallelism: .threads(t)))
        }
        #expect(reports[0] == reports[1])
        let sips = try #require(reports[0].evaluations[0].estimates.first { $0.estimator == .SIPS })
        // Σ r·w / slates: slates s ≡ 0 (mod 3), not ≡ 0 (mod 5), weight 0.5, two rows each.
        let clicked = (0..<3000).filter { $0 % 3 == 0 && $0 % 5 != 0 }.count
        #expect(abs(sips.value - Double(clicked) * 2 * 0.5 / 3000) < 1e-12)
        #expect(reports[0].loggedMean == Double((0..<3000).filter { $0 % 3 == 0 }.count) * 2 / 3000)
        try (text + "s9,1,0,1,0.5,0,0.1\n").write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try SlateEvaluation.run(path: path, columns: cols)
            Issue.record("a zero slate propensity was accepted")
        } catch let e {
            #expect("\(e)".contains(":6002") && "\(e)".contains("slate_propensity"))
        }
        cols.slateProbabilities = [:]
        #expect(throws: RecOPEError.self) { try SlateEvaluation.run(path: path, columns: cols) }
    }

    /// The job file (the C ABI and Python run it): a slate log needs no targets, refuses them, and
    /// reports what `SlateEvaluation.run` does.
    @Test func jobFileRunsTheSlateEstimators() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slate-job-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("log.csv").path
        try "sid,item,pos,click,p,tp\na,1,0,1,0.5,0.25\na,2,1,0,0.5,0.5\nb,0,0,1,0.25,0.5\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        let columns = "slate=sid,item=item,position=pos,reward=click,propensity=p,target_propensity=tp"
        let config = #"{"format": "csv", "columns": "\#(columns)", "bootstrap": 0}"#
        let job = try OfflineABJob.parse(config: Data(config.utf8), source: "job.json", base: dir, logsGiven: path)
        let report = try job.run()
        let direct = try SlateEvaluation.run(path: path, columns: try LogColumns.parse(columns), depth: nil)
        #expect(report.evaluations == direct.evaluations)
        // IIPS: (1·0.5 + 0·1 + 1·2) / 2 slates.
        #expect(report.evaluations[0].estimate(.IIPS)?.value == 1.25)
        let withTarget = #"{"format": "csv", "columns": "\#(columns)", "targets": [{"kind": "uniform", "items": 3}]}"#
        do {
            _ = try OfflineABJob.parse(config: Data(withTarget.utf8), source: "job.json", base: dir, logsGiven: path)
            Issue.record("a slate job with targets was accepted")
        } catch let e {
            #expect("\(e)".contains("job.json") && "\(e)".contains("leave out \"targets\""))
        }
    }

    /// Plackett–Luce's prefix probabilities summed over every prefix that ends with item a at
    /// position p are its exact rank marginals; a uniform ranking's are 1/(N(N−1)…).
    @Test(arguments: [1.0, 0.3])
    func prefixProbabilitiesAddUpToTheMarginals(temperature: Double) throws {
        let scores = [0.5, -1.2, 2.0, 0.0, 0.9, -0.3]
        let pl = try PlackettLuce(scores: scores, temperature: temperature)
        let K = 3
        let exact = try pl.exactMarginals(k: K)
        var sums = [Double](repeating: 0, count: scores.count * K)
        var total = 0.0
        for a in 0..<6 {
            for b in 0..<6 where b != a {
                for c in 0..<6 where c != a && c != b {
                    let p = try pl.prefixProbabilities(of: [a, b, c])
                    // Each prefix probability directly: Π exp(ℓ)/Σ over the remaining items.
                    var direct = 1.0
                    var left = Set(0..<6)
                    for (i, x) in [a, b, c].enumerated() {
                        direct *= exp(scores[x] / temperature) / left.map { exp(scores[$0] / temperature) }.reduce(0, +)
                        left.remove(x)
                        #expect(abs(p[i] - direct) <= 1e-13 * direct)
                    }
                    sums[c * K + 2] += p[2]
                    total += p[2]
                }
            }
        }
        #expect(abs(total - 1) < 1e-12)
        for i in 0..<6 { #expect(abs(sums[i * K + 2] - exact.probability(item: i, rank: 2)) < 1e-12) }
        let u = try UniformRandomRanking(items: 6)
        #expect(try u.prefixProbabilities(of: [4, 0, 2]) == [1.0 / 6, 1.0 / 30, 1.0 / 120])
        #expect(throws: RecOPEError.self) { try pl.prefixProbabilities(of: [1, 1]) }
        #expect(throws: RecOPEError.self) { try pl.prefixProbabilities(of: [6]) }
        // Scores far apart: no overflow, no NaN.
        let wide = try PlackettLuce(scores: [1e3, -1e3, 0], temperature: 1)
        let q = try wide.prefixProbabilities(of: [1, 2, 0])
        #expect(q.allSatisfy { $0.isFinite && $0 >= 0 } && q[0] == 0)
        #expect(try wide.prefixProbabilities(of: [0, 2, 1]) == [1, 1, 1])
    }

    /// A Plackett–Luce target's probabilities computed per slate equal the same probabilities
    /// given as target_* columns, across a chunk edge inside a slate (70,002 rows); a target
    /// without slate probabilities (Thompson sampling) gives IIPS only, with a warning.
    @Test func specTargetEqualsItsColumns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slate-spec-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let scores = [0.3, -0.5, 1.1, 0.0, 0.7, -1.0, 0.2]
        let pl = try PlackettLuce(scores: scores, temperature: 0.8)
        let marginals = try pl.exactMarginals(k: 3)
        var g = Xoshiro256(seed: 4)
        var plain = "sid,item,pos,click,p,ps,pc\n"
        var withTarget = "sid,item,pos,click,p,ps,pc,tp,tps,tpc\n"
        var logged = [(items: [Int], clicks: [Double])]()
        for s in 0..<23_334 {
            var items = Array(0..<7)
            for i in 0..<3 {
                let j = i + Int(Sampling.uniform(&g) * Double(7 - i))
                items.swapAt(i, j)
            }
            let slate = Array(items[0..<3])
            let prefix = try pl.prefixProbabilities(of: slate)
            logged.append((slate, []))
            for p in 0..<3 {
                let click = Sampling.uniform(&g) < 0.1 + 0.1 * Double(slate[p] % 3) ? 1.0 : 0.0
                logged[logged.count - 1].clicks.append(click)
                let row =
                    "s\(s),\(slate[p]),\(p),\(Int(click)),\(1.0 / 7),\(1.0 / 210),\([1.0 / 7, 1.0 / 42, 1.0 / 210][p])"
                plain += row + "\n"
                withTarget +=
                    row + ",\(marginals.probability(item: slate[p], rank: p)),\(prefix[2]),\(prefix[p])\n"
            }
        }
        let a = dir.appendingPathComponent("plain.csv").path
        let b = dir.appendingPathComponent("target.csv").path
        try plain.write(toFile: a, atomically: true, encoding: .utf8)
        try withTarget.write(toFile: b, atomically: true, encoding: .utf8)
        let base =
            "slate=sid,item=item,position=pos,reward=click,propensity=p,slate_propensity=ps,cascade_propensity=pc"
        let bySpec = try SlateEvaluation.run(
            path: a, columns: try LogColumns.parse(base),
            targets: [SlateTarget(name: "pl", policy: pl, marginals: marginals)], bootstrap: 20)
        let byColumns = try SlateEvaluation.run(
            path: b,
            columns: try LogColumns.parse(
                base + ",target_propensity=tp,target_slate_propensity=tps,target_cascade_propensity=tpc"),
            bootstrap: 20, policy: "pl")
        #expect(bySpec.rows == 70_002 && bySpec.evaluations[0].estimates.count == 6)
        for (x, y) in zip(bySpec.evaluations[0].estimates, byColumns.evaluations[0].estimates) {
            #expect(x.estimator == y.estimator)
            // The columns hold the probabilities as decimal text (17 digits): equal to ~1e-15.
            #expect(abs(x.value - y.value) <= 1e-12 * abs(y.value), "\(x.estimator)")
            #expect(abs(x.interval.high - y.interval.high) <= 1e-12 * abs(y.interval.high))
        }
        // Cascade-DR after the click-rate pass, against its formula in plain loops: q̂ from the
        // counts, w_p = π(a_0…a_p) / π_B(a_0…a_p), E_p = Σ_b softmax over the items not above·q̂(b, p).
        let withModel = try SlateEvaluation.run(
            path: a, columns: try LogColumns.parse(base),
            targets: [SlateTarget(name: "pl", policy: pl, marginals: marginals)], rewardModel: true)
        #expect(withModel.passes == 2)
        var clicks = [Double](repeating: 0, count: 21)
        var shows = [Double](repeating: 0, count: 21)
        for (items, c) in logged {
            for p in 0..<3 {
                clicks[items[p] * 3 + p] += c[p]
                shows[items[p] * 3 + p] += 1
            }
        }
        let q = (0..<21).map { cell -> Double in
            let k = cell % 3
            let positionClicks: Double = stride(from: k, to: 21, by: 3).map { clicks[$0] }.reduce(0, +)
            let positionShows: Double = stride(from: k, to: 21, by: 3).map { shows[$0] }.reduce(0, +)
            let mean = positionClicks / positionShows
            return (clicks[cell] + 10 * mean) / (shows[cell] + 10)
        }
        var total = 0.0
        for (items, c) in logged {
            var previous = 1.0
            var target = 1.0
            var left = Set(0..<7)
            for p in 0..<3 {
                let z = left.map { exp(scores[$0] / 0.8) }.reduce(0, +)
                let expected = left.map { exp(scores[$0] / 0.8) / z * q[$0 * 3 + p] }.reduce(0, +)
                target *= exp(scores[items[p]] / 0.8) / z
                let w = target / [1.0 / 7, 1.0 / 42, 1.0 / 210][p]
                total += w * (c[p] - q[items[p] * 3 + p]) + previous * expected
                previous = w
                left.remove(items[p])
            }
        }
        let dr = try #require(withModel.evaluations[0].estimate(.CascadeDR))
        #expect(abs(dr.value - total / 23_334) <= 1e-10 * abs(dr.value), "\(dr.value) vs \(total / 23_334)")
        let ts = try ThompsonSampling(alpha: [2, 3, 1, 4, 2, 2, 5], beta: [5, 5, 6, 4, 7, 3, 9])
        let r = try SlateEvaluation.run(
            path: a, columns: try LogColumns.parse(base),
            targets: [SlateTarget(name: "ts", policy: ts, marginals: try ts.exactMarginals(k: 3))])
        #expect(r.evaluations[0].estimates.map(\.estimator) == [.IIPS, .SNIIPS])
        #expect(r.evaluations[0].warnings.first?.contains("Plackett–Luce") == true)
    }

    /// Cascade-DR over shards: the first pass counts the click-rate model's cells, the merged
    /// counts fit the model, and the second pass (every shard after the merged first) reports
    /// what one process reports, Cascade-DR included; a second pass over other rows is refused.
    @Test func cascadeDoublyRobustOverShardsTakesTwoPasses() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slate-cdr-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pl = try PlackettLuce(scores: [0.3, -0.5, 1.1, 0.0, 0.7, -1.0, 0.2], temperature: 0.8)
        let marginals = try pl.exactMarginals(k: 3)
        var g = Xoshiro256(seed: 11)
        var lines = [String]()
        for s in 0..<900 {
            var items = Array(0..<7)
            for i in 0..<3 { items.swapAt(i, i + Int(Sampling.uniform(&g) * Double(7 - i))) }
            for p in 0..<3 {
                let click = Sampling.uniform(&g) < 0.1 + 0.1 * Double(items[p] % 3) ? 1 : 0
                lines.append(
                    "s\(s),\(items[p]),\(p),\(click),\(1.0 / 7),\(1.0 / 210),\([1.0 / 7, 1.0 / 42, 1.0 / 210][p])")
            }
        }
        let header = "sid,item,pos,click,p,ps,pc\n"
        let cuts = [0, 999, 1902, lines.count]  // between slates (a spec target needs whole slates)
        var paths = [String]()
        for i in 0..<3 {
            let path = dir.appendingPathComponent("part\(i).csv").path
            try (header + lines[cuts[i]..<cuts[i + 1]].joined(separator: "\n") + "\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let whole = dir.appendingPathComponent("all.csv").path
        try (header + lines.joined(separator: "\n") + "\n").write(toFile: whole, atomically: true, encoding: .utf8)
        let cols = try LogColumns.parse(
            "slate=sid,item=item,position=pos,reward=click,propensity=p,slate_propensity=ps,cascade_propensity=pc")
        let targets = [SlateTarget(name: "pl", policy: pl, marginals: marginals)]
        let one = try SlateEvaluation.run(
            path: whole, columns: cols, targets: targets, depth: 3, bootstrap: 25, rewardModel: true)
        #expect(one.evaluations[0].estimate(.CascadeDR) != nil)
        func pass(after: SlateShard?) throws -> SlateShard {
            var merged: SlateShard?
            for path in paths {
                let file = path + ".json"
                try SlateEvaluation.shard(
                    path: path, columns: cols, targets: targets, depth: 3, bootstrap: 25, rewardModel: true,
                    partial: true, after: after
                ).write(to: file)
                let s = try SlateShard.load(file)
                if merged == nil { merged = s } else { try merged!.merge(s) }
            }
            return merged!
        }
        let first = try pass(after: nil)
        #expect(first.passRemains && first.clickCounts != nil)
        let partialReport = try first.report()
        #expect(partialReport.evaluations[0].estimate(.CascadeDR) == nil)
        #expect(partialReport.warnings.contains { $0.contains("--after") })
        let second = try pass(after: first)
        #expect(!second.passRemains)
        let r = try second.report()
        #expect(r.passes == 2 && r.rows == one.rows)
        #expect(r.evaluations[0].estimates.count == one.evaluations[0].estimates.count)
        for (x, y) in zip(r.evaluations[0].estimates, one.evaluations[0].estimates) {
            #expect(x.estimator == y.estimator)
            #expect(abs(x.value - y.value) <= 1e-12 * abs(y.value), "\(x.estimator): \(x.value) vs \(y.value)")
            #expect(abs(x.interval.low - y.interval.low) <= 1e-12 && abs(x.interval.high - y.interval.high) <= 1e-12)
        }
        // A second pass that skips a shard, or mixes passes, is refused.
        var short = try SlateEvaluation.shard(
            path: paths[0], columns: cols, targets: targets, depth: 3, rewardModel: true, partial: true, after: first)
        try short.merge(
            try SlateEvaluation.shard(
                path: paths[1], columns: cols, targets: targets, depth: 3, rewardModel: true, partial: true,
                after: first))
        #expect(throws: RecOPEError.self) { try short.report() }
        var mixed = try SlateEvaluation.shard(
            path: paths[0], columns: cols, targets: targets, depth: 3, rewardModel: true, partial: true)
        #expect(throws: RecOPEError.self) {
            try mixed.merge(
                try SlateEvaluation.shard(
                    path: paths[1], columns: cols, targets: targets, depth: 3, rewardModel: true, partial: true,
                    after: first))
        }
        // after on a one-pass evaluation (no reward model) is refused.
        #expect(throws: RecOPEError.self) {
            try SlateEvaluation.shard(
                path: paths[0], columns: cols, targets: targets, depth: 3, partial: true, after: first)
        }
    }

    /// Shard files: two shards of one log cut inside a slate, written, read back and merged in
    /// file order, report what one pass over the log reports; a changed byte fails the checksum.
    @Test func shardFilesMergeToOnePass() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slate-shards-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var lines = [String]()
        var g = Xoshiro256(seed: 8)
        for s in 0..<400 {
            for p in 0..<3 {
                let click = Sampling.uniform(&g) < 0.3 ? 1 : 0
                lines.append("s\(s),\(p + 3 * (s % 2)),\(p),\(click),0.25,0.05,\(0.2 + 0.1 * Double(s % 3)),0.5")
            }
        }
        let header = "sid,item,pos,click,p,ps,tp,tps\n"
        let whole = dir.appendingPathComponent("all.csv").path
        let a = dir.appendingPathComponent("a.csv").path
        let b = dir.appendingPathComponent("b.csv").path
        try (header + lines.joined(separator: "\n") + "\n").write(toFile: whole, atomically: true, encoding: .utf8)
        try (header + lines[0..<601].joined(separator: "\n") + "\n").write(toFile: a, atomically: true, encoding: .utf8)
        try (header + lines[601...].joined(separator: "\n") + "\n").write(toFile: b, atomically: true, encoding: .utf8)
        let cols = try LogColumns.parse(
            "slate=sid,item=item,position=pos,reward=click,propensity=p,slate_propensity=ps,target_propensity=tp,target_slate_propensity=tps"
        )
        let one = try SlateEvaluation.run(path: whole, columns: cols, depth: 3, bootstrap: 30)
        var shards = [SlateShard]()
        for (i, path) in [a, b].enumerated() {
            let file = dir.appendingPathComponent("shard\(i).json").path
            try SlateEvaluation.shard(path: path, columns: cols, targets: [], depth: 3, bootstrap: 30).write(to: file)
            shards.append(try SlateShard.load(file))
        }
        var merged = shards[0]
        try merged.merge(shards[1])
        let r = try merged.report()
        #expect(r.rows == one.rows && r.loggedMean == one.loggedMean)
        for (x, y) in zip(r.evaluations[0].estimates, one.evaluations[0].estimates) {
            #expect(x.estimator == y.estimator)
            #expect(abs(x.value - y.value) <= 1e-12 * abs(y.value) && abs(x.interval.low - y.interval.low) <= 1e-12)
        }
        var data = try shards[0].encoded()
        let at = data.firstIndex(of: UInt8(ascii: "7")) ?? data.startIndex
        data[at] = data[at] == UInt8(ascii: "7") ? UInt8(ascii: "8") : data[at]
        #expect(throws: RecOPEError.self) { try SlateShard.decode(data, file: "x.json") }
        #expect(throws: RecOPEError.self) { try SlateShard.decode(Data("{}".utf8), file: "x.json") }
        var other = shards[0]
        other.policies = ["another"]
        #expect(throws: RecOPEError.self) { try other.merge(shards[1]) }
    }

    /// FuzzSlateLog's find: a chunk filled exactly by the rows before a bad row comes out before
    /// the error on one thread in one block too (it was dropped there, not on three threads in
    /// 16-byte blocks), as a row-by-row read gives.
    @Test func aChunkFilledBeforeABadRowComesFirst() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("full-chunk-\(getpid()).csv").path
        defer { unlink(path) }
        var text = "sid,item,pos,click,p,tp\n"
        for s in 0..<5 { text += "s\(s),\(s),0,1,0.5,0.25\n" }
        text += "s5,1,0,1,0.5,x\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let cols = try LogColumns.parse(
            "slate=sid,item=item,position=pos,reward=click,propensity=p,target_propensity=tp")
        for (threads, block) in [(1, 2 << 20), (3, 16)] {
            let r = try LogReader(path: path, columns: cols, parallelism: .threads(threads), blockBytes: block)
            let first = try r.next(maxRows: 5)
            #expect(first?.lines == [2, 3, 4, 5, 6], "\(threads) threads")
            do {
                _ = try r.next(maxRows: 5)
                Issue.record("the bad row was read")
            } catch let e {
                #expect("\(e)".contains(":7: column 'tp'"))
            }
        }
    }
}
