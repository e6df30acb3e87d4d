import Foundation
import RecCore
import RecOPE
import Testing

@Suite struct DiscountedTSTests {
    /// Worked by hand: prior Beta(1, 1) for two items, γ = 0.5, 4-hour periods from time 0.
    ///   period 0: item 0 click, item 0 no click            → S0 = 1, F0 = 1
    ///   period 1: discount ×0.5 → S0 = F0 = 0.5; item 1 click → S1 = 1
    ///   period 3: discount ×0.25 → S0 = F0 = 0.125, S1 = 0.25; item 0 click → S0 = 1.125
    ///   advance to period 4: ×0.5 → S0 = 0.5625, F0 = 0.0625, S1 = 0.125
    @Test func discountingWorkedByHand() throws {
        let h = 3600.0
        var d = try DiscountedThompsonSampling(prior: try BetaPrior.uniform(items: 2), discount: 0.5, period: 4 * h)
        try d.update(with: [
            .init(time: 0, item: 0, clicked: true), .init(time: 100, item: 0, clicked: false),
            .init(time: 4 * h, item: 1, clicked: true), .init(time: 12 * h + 5, item: 0, clicked: true),
        ])
        #expect(d.successes == [1.125, 0.25] && d.failures == [0.125, 0])
        let p = try d.policy()
        #expect(p.alpha == [2.125, 1.25] && p.beta == [1.125, 1])
        try d.advance(to: 16 * h)
        #expect(d.successes == [0.5625, 0.125] && d.failures == [0.0625, 0])
        // The prior is never discounted.
        #expect(try d.policy(optimistic: true).alpha == [1.5625, 1.125])
        #expect(try d.policy(optimistic: true).name == "dOTS")
    }

    @Test func badLogs() throws {
        var d = try DiscountedThompsonSampling(prior: try BetaPrior.uniform(items: 2), discount: 0.99, period: 10)
        #expect(throws: RecOPEError.self) { try d.update(with: [.init(time: 0, item: 2, clicked: true)]) }
        try d.update(with: [.init(time: 50, item: 0, clicked: true)])
        #expect(throws: RecOPEError.self) { try d.update(with: [.init(time: 20, item: 0, clicked: true)]) }
        #expect(throws: RecOPEError.self) { try d.update(with: [.init(time: .nan, item: 0, clicked: true)]) }
        #expect(throws: RecOPEError.self) {
            try DiscountedThompsonSampling(prior: try BetaPrior.uniform(items: 2), discount: 1.5, period: 10)
        }
        #expect(throws: RecOPEError.self) {
            try DiscountedThompsonSampling(prior: try BetaPrior.uniform(items: 2), discount: 0.9, period: 0)
        }
    }

    /// Unix-epoch times keep their seconds: a click one second before a period boundary
    /// (1,700,006,400 = 118,056 periods of 4 hours) stays in its period, so advancing to the same
    /// second discounts nothing. As Float32 (spacing 128 s there) it moved past the boundary.
    @Test func epochTimesKeepTheirSeconds() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-dts-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("log.csv").path
        try "time,item,click\n1700006399,0,1\n1700006399.5,1,0\n".write(toFile: log, atomically: true, encoding: .utf8)
        let events = try DiscountedThompsonSampling.readEvents(csv: log)
        #expect(events.map(\.time) == [1_700_006_399, 1_700_006_399.5])
        let spec = dir.appendingPathComponent("dts.json").path
        try
            "{\"kind\": \"dts\", \"alpha\": [1, 1], \"beta\": [1, 1], \"discount\": 0.5, \"log\": \"\(log)\", \"at\": 1700006399.9}"
            .write(toFile: spec, atomically: true, encoding: .utf8)
        let p = try #require(try PolicySpec.load(spec) as? ThompsonSampling)
        #expect(p.alpha == [2, 1] && p.beta == [1, 2])
        // Bad fields name the line and field; hexadecimal is not a number.
        for (row, text) in [("0x10,0,1", "log.csv:2: field 1"), ("5,-1,1", "field 2"), ("5,0,2", "field 3")] {
            try "time,item,click\n\(row)\n".write(toFile: log, atomically: true, encoding: .utf8)
            #expect {
                _ = try DiscountedThompsonSampling.readEvents(csv: log)
            } throws: { error in
                "\(error)".contains(text)
            }
        }
    }
}

/// The Open Bandit Dataset's production prior (fetched by scripts/fetch-obp into data/obp).
let obpPriorPath: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("data/obp/obp/policy/conf/prior_bts.yaml").path
}()

@Suite(
    .enabled(if: FileManager.default.fileExists(atPath: obpPriorPath), "run scripts/fetch-obp to fetch the OBD prior"))

struct OpenBanditPriorTests {
    @Test func campaignsLoad() throws {
        #expect(try BetaPrior.load(yaml: obpPriorPath, campaign: "all").alpha.count == 80)
        #expect(try BetaPrior.load(yaml: obpPriorPath, campaign: "men").alpha.count == 34)
        #expect(try BetaPrior.load(yaml: obpPriorPath, campaign: "women").alpha.count == 46)
    }

    /// Published Monte Carlo results (1e5 simulations) for campaign "all", top-3: item 61 is the
    /// most likely item at every rank, about [0.198, 0.245, 0.198]; item 0 about
    /// [0.0108, 0.0093, 0.0092]. The exact marginals must lie within 4 of the published run's
    /// standard errors plus its rounding.
    @Test func matchesPublishedMarginals() throws {
        let ts = try ThompsonSampling(prior: try BetaPrior.load(yaml: obpPriorPath, campaign: "all"))
        let exact = try ts.exactMarginals(k: 3)
        for r in 0..<3 { #expect(abs(exact.columnSum(rank: r) - 1) < 1e-9) }
        func close(_ p: Double, _ published: Double, rounding: Double) -> Bool {
            abs(p - published) <= 4 * (published * (1 - published) / 1e5).squareRoot() + rounding
        }
        for (r, v) in [0.198, 0.245, 0.198].enumerated() {
            #expect(
                close(exact.probability(item: 61, rank: r), v, rounding: 5e-4),
                "item 61 rank \(r + 1): \(exact.probability(item: 61, rank: r))")
            let best = (0..<80).max { exact.probability(item: $0, rank: r) < exact.probability(item: $1, rank: r) }
            #expect(best == 61)
        }
        for (r, v) in [0.0108, 0.0093, 0.0092].enumerated() {
            #expect(
                close(exact.probability(item: 0, rank: r), v, rounding: 5e-5),
                "item 0 rank \(r + 1): \(exact.probability(item: 0, rank: r))")
        }
        // And a 1e7-ranking simulation agrees with the exact values within 4 SE in every cell.
        let mc = try ts.monteCarloMarginals(k: 3, simulations: 10_000_000, seed: 61)
        #expect(agreeWithinStandardErrors(mc, exact) == nil)
    }
}

/// The RecOPE part of README.md's library tour, kept compiling and checked.
@Suite(
    .enabled(if: FileManager.default.fileExists(atPath: obpPriorPath), "run scripts/fetch-obp to fetch the OBD prior"))

struct ReadmePolicyTourTests {
    @Test func tour() throws {
        let prior = try BetaPrior.load(yaml: obpPriorPath, campaign: "all")
        let ts = try ThompsonSampling(prior: prior)
        let boosted = try ThompsonSampling(
            prior: prior, boost: PriorityBoost(items: [3, 7], rule: .multiplicative(1.2)))
        var dts = try DiscountedThompsonSampling(prior: prior, discount: 0.99, period: 4 * 3600)
        try dts.update(with: [.init(time: 0, item: 61, clicked: true)])
        let dots = try dts.policy(optimistic: true)
        let exact = try ts.exactMarginals(k: 3)
        let mc = try dots.monteCarloMarginals(k: 3, simulations: 100_000, seed: 1)
        #expect(exact.probability(item: 61, rank: 0) > 0.19)
        #expect(mc.standardError(item: 61, rank: 0) > 0)
        #expect(mc.denominator(item: 5, rank: 2) > 0)
        #expect(try boosted.exactMarginals(k: 1).probability(item: 3, rank: 0) > exact.probability(item: 3, rank: 0))
        _ = try PlackettLuce(scores: [2.0, 1.0, 0.5], temperature: 0.5)
    }

    /// The offline A/B part of the tour: one process, then the same rows in two shards.
    @Test func offlineABTour() throws {
        let path = obpPriorPath.replacingOccurrences(
            of: "policy/conf/prior_bts.yaml", with: "dataset/obd/random/all/all.csv")
        let ts = try ThompsonSampling(prior: try BetaPrior.load(yaml: obpPriorPath, campaign: "all"))
        var settings = EvaluationSettings()
        settings.caps = [2, 5, 10]
        settings.bootstrap = 200  // Poisson replicates
        settings.pieceGroupings = [.position, .valueModel(buckets: 5)]
        let evaluator = try OffPolicyEvaluator(
            targets: [TargetPolicy(name: "bts", marginals: [try ts.exactMarginals(k: 3)])],
            logging: [try UniformRandomRanking(items: 80).exactMarginals(k: 3)], settings: settings)
        var columns = LogColumns.openBanditDataset
        columns.rowKey = ""  // OBD's unnamed index column
        let report = try evaluator.evaluate { (acc: inout OffPolicyAccumulator) throws(RecOPEError) in
            let reader = try LogReader(path: path, columns: columns)
            while let chunk = try reader.next(maxRows: 4096) { try acc.add(chunk) }
        }
        let ncis = try #require(report.evaluations[0].estimate(.NCIS, cap: 5))
        #expect(abs(ncis.value - 0.003947) < 5e-7 && ncis.method == .poissonBootstrap)
        // Shards: each reads its rows into its own accumulator; the driver merges and advances.
        var state = evaluator.initialState()
        while state.pass != .done {
            var shards = [OffPolicyState]()
            for part in 0..<2 {
                var acc = try evaluator.accumulator(for: state)
                let reader = try LogReader(path: path, columns: columns)
                var i = 0
                while let chunk = try reader.next(maxRows: 1000) {
                    if i % 2 == part { try acc.add(chunk) }
                    i += 1
                }
                shards.append(acc.finishedState())  // `write(to:)` / `load` in a real deployment
            }
            state = try OffPolicyState.merge(shards).advanced()
        }
        let merged = try state.report()
        #expect(merged.evaluations[0].estimate(.NCIS, cap: 5)?.interval == ncis.interval)
        #expect(merged.evaluations[0].estimates.count == report.evaluations[0].estimates.count)
    }
}
