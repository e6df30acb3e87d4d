import Foundation
import RecCore
import RecIO
import RecOPE
import Testing
import _RecTestSupport

/// Hostile input, by class: every case ends in a typed error that names the path once, never a
/// trap.
@Suite struct HostileInputTests {
    static let directory = FileManager.default.temporaryDirectory.path

    /// Class: a directory where a file is expected, for every reader of outside files here.
    @Test func directoriesAreRefused() throws {
        let d = Self.directory
        func expectDirectory(_ what: String, _ body: () throws -> Void) { expectDirectoryRefused(d, what, body) }
        expectDirectory("CSVReader") { _ = try CSVReader(path: d) }
        expectDirectory("CSVMatrix") { _ = try CSVMatrix.read(d) }
        expectDirectory("SafeTensors") { _ = try SafeTensors.read(d) }
        expectDirectory("LoggedData") { _ = try LoggedData.load(csv: d, columns: .openBanditDataset) }
        expectDirectory("LogReader") { _ = try LogReader(path: d, columns: .openBanditDataset) }
        expectDirectory("ItemFeatures") { _ = try ItemFeatures.load(csv: d) }
        expectDirectory("PolicySpec") { _ = try PolicySpec.load(d) }
        expectDirectory("BetaPrior") { _ = try BetaPrior.load(yaml: d, campaign: "all") }
        expectDirectory("OffPolicyState") { _ = try OffPolicyState.load(d) }
    }

    /// A missing file says so, with the path once.
    @Test func missingFilesAreNamed() {
        let p = Self.directory + "/no-such-\(UUID().uuidString).csv"
        #expect(throws: RecIOError.cannotOpen(file: p, reason: "no such file")) { _ = try CSVReader(path: p) }
        #expect(throws: RecOPEError.cannotOpen(file: p, reason: "no such file")) {
            _ = try LoggedData.load(csv: p, columns: .openBanditDataset)
        }
        #expect(throws: RecOPEError.cannotOpen(file: p, reason: "no such file")) { _ = try PolicySpec.load(p) }
    }
}

/// Class: rewards above Float's range but finite as Double: refused with the file and line,
/// never an infinite estimate.
@Suite struct RewardRangeTests {
    @Test func hugeRewardsAreRefusedByEveryLoader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rewards-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for value in ["1e39", "-1e300", "5e18"] {
            let path = dir + "/log.csv"
            try Data("item,position,reward,propensity\n0,0,1,0.5\n1,0,\(value),0.5\n".utf8).write(
                to: URL(fileURLWithPath: path))
            let cols = try LogColumns.parse("item=item,position=position,reward=reward,propensity=propensity")
            #expect {
                _ = try LoggedData.load(csv: path, columns: cols)
            } throws: { error in
                "\(error)".hasPrefix(path + ":3: ") && "\(error)".contains("4.6e18")
            }
            #expect(throws: RecOPEError.self) {
                _ = try LoggedData(
                    items: [0, 1], positions: [0, 0], rewards: [1, Double(value)!], propensities: [0.5, 0.5])
            }
        }
    }
}

/// Class: JSON specs with tokens JSON has no place for (`inf`, `NaN`, numbers beyond Double), and
/// unknown keys: errors naming the line or the key, never a silently ignored setting.
@Suite struct SpecTokenAndKeyTests {
    func load(_ json: String) throws -> any RankingPolicy {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try PolicySpec.load(path)
    }

    @Test(arguments: [
        (#"{"kind": "plackett_luce", "scores": [1, inf, 2]}"#, ":1: not valid JSON: 'inf' is not a JSON number"),
        ("{\"kind\": \"plackett_luce\",\n \"scores\": [1, NaN]}", ":2: not valid JSON: 'NaN' is not a JSON number"),
        (
            #"{"kind": "plackett_luce", "scores": [-Infinity, 2]}"#,
            ":1: not valid JSON: '-Infinity' is not a JSON number"
        ),
        (#"{"kind": "plackett_luce", "scores": [1, 1e400]}"#, ":1: not valid JSON: 1e400 is beyond Double's range"),
        (#"{"kind": "epsilon_greedy", "scores": [1, 2], "epsilon": -1e999}"#, "-1e999 is beyond Double's range"),
        (
            #"{"kind": "plackett_luce", "scores": [1, 2], "temprature": 5}"#,
            #"unknown key "temprature" for kind plackett_luce"#
        ),
        (
            #"{"kind": "uniform", "items": 3, "seed": 4}"#,
            #"unknown key "seed" for kind uniform (it takes: items, kind)"#
        ),
        (
            #"{"kind": "bernoulli_ts", "alpha": [1], "beta": [2], "boost": {"items": [0], "rule": "additive", "amont": 2}}"#,
            #"unknown key "amont" in "boost""#
        ),
        (#"{"kind": "dts", "alpha": [1], "beta": [2], "period": 3}"#, #"unknown key "period" for kind dts"#),
    ])
    func badSpecsAreTypedErrors(json: String, expected: String) {
        #expect {
            _ = try load(json)
        } throws: { error in
            "\(error)".contains(expected) && !"\(error)".contains("\n") && !"\(error)".contains("NSCocoaErrorDomain")
        }
    }

    @Test func everyDocumentedKeyIsAccepted() throws {
        _ = try load(
            #"{"kind": "bernoulli_ts", "alpha": [1, 2], "beta": [3, 4], "clicks": [0, 1], "impressions": [1, 2], "optimistic": true}"#
        )
        _ = try load(
            #"{"kind": "dots", "alpha": [1, 2], "beta": [3, 4], "discount": 0.9, "period_hours": 2, "at": 10}"#)
        _ = try load(#"{"kind": "epsilon_greedy", "scores": [1, 2], "epsilon": 0.1}"#)
        _ = try load(
            #"{"kind": "priority_ts", "alpha": [1, 2], "beta": [3, 4], "boost": {"items": [1], "rule": "multiplicative", "amount": 2}}"#
        )
    }
}

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
        var ref = [Double](repeating: 0, count: n * n)
        for perm in permutations(Array(0..<n)) {
            let p = pl.probability(ofRanking: perm)
            for (r, i) in perm.enumerated() { ref[i * n + r] += p }
        }
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

/// Class: numbers in JSON specs that do not fit the integer they become.
@Suite struct SpecNumberTests {
    func spec(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(UUID().uuidString).json").path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: [
        #"{"kind": "uniform", "items": 1e30}"#,
        #"{"kind": "uniform", "items": 99999999999999999999999999999999999999999}"#,
        #"{"kind": "uniform", "items": -3}"#,
        #"{"kind": "uniform", "items": 2.5}"#,
        #"{"kind": "priority_ts", "alpha": [1, 2], "beta": [5, 5], "boost": {"items": [1e30], "rule": "additive", "amount": 0.1}}"#,
        #"{"kind": "priority_ts", "alpha": [1, 2], "beta": [5, 5], "boost": {"items": [-1], "rule": "additive", "amount": 0.1}}"#,
        #"{"kind": "dts", "alpha": [1, 1], "beta": [9, 9], "at": -1e308}"#,
        #"{"kind": "dts", "alpha": [1, 1], "beta": [9, 9], "period_hours": 1e-300, "at": 1e10}"#,
        #"{"kind": "dts", "alpha": [1, 1], "beta": [9, 9], "at": 1e300}"#,
    ])
    func outOfRangeNumbersAreTypedErrors(json: String) throws {
        let path = try spec(json)
        #expect(throws: RecOPEError.self) {
            let p = try PolicySpec.load(path)
            _ = try p.exactMarginals(k: 1)
        }
    }
}
