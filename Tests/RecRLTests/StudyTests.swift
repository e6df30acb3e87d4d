import Foundation
import RecCore
import RecRL
import Testing
import _RecTestSupport

/// The same metrics up to the order of the NDCG sums' additions (a study adds session totals).
func sameMetrics(_ a: RankingMetrics?, _ b: RankingMetrics) -> Bool {
    guard let a, a.counts == b.counts, a.hits == b.hits, a.eventTypes == b.eventTypes else { return false }
    return zip(a.ndcgSums.joined(), b.ndcgSums.joined()).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) }
}

/// `Study` against its parts computed directly: each baseline run is `Evaluation.run` of the
/// baseline on the seed's split, each trained run the training report's own test metrics, each
/// comparison `PairedComparison` over the sessions of every seed in order, the reference the
/// baseline with the best mean; a study run again loads its trained runs and reports the same.
@Suite struct StudyTests {
    /// 120 sessions over 15 items: a session walks item i → i + 1 (mod 15) mostly, and buys
    /// every fourth step.
    static func eventsFile(_ name: String) throws -> String {
        var g = Xoshiro256(seed: 9)
        var text = "session_id,timestamp,item_id,event\n"
        for s in 0..<120 {
            var item = Int(g.next() % 15)
            for t in 0..<(4 + Int(g.next() % 5)) {
                text += "s\(s),\(t),\(item + 1),\(t % 4 == 3 ? "purchase" : "click")\n"
                item = g.next() % 5 == 0 ? Int(g.next() % 15) : (item + 1) % 15
            }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-study-\(name)-\(getpid()).csv")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func ceJob(_ spec: EventDataSpec) -> TrainingJob {
        var job = TrainingJob(data: spec)
        job.apply(.ce)
        job.model.dim = 8
        job.model.dropout = 0
        job.epochs = 2
        job.settings.batch = 32
        job.validateEvery = 0
        return job
    }

    @Test func partsAgreeWithDirectComputations() throws {
        let file = try Self.eventsFile("parts")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-study-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var spec = EventDataSpec(data: file)
        spec.length = 4
        let methods: [Study.Method] = [
            .baseline(name: "popularity", kind: "popularity", neighbours: 100),
            .baseline(name: "itemknn", kind: "itemknn", neighbours: 10),
            .trained(name: "ce", job: Self.ceJob(spec)),
        ]
        var study = Study(data: spec, methods: methods, seeds: [1, 2])
        study.replicates = 199
        study.outputDirectory = dir
        let report = try study.run()
        #expect(report.runs.map(\.method) == ["popularity", "popularity", "itemknn", "itemknn", "ce", "ce"])
        #expect(report.runs.map(\.seed) == [1, 2, 1, 2, 1, 2])
        var sums = [String: [(sum: Double, count: Int)]]()
        for seed: UInt64 in [1, 2] {
            var s = spec
            s.splitSeed = seed
            let (data, split) = try s.load()
            for (name, k) in [("popularity", 100), ("itemknn", 10)] {
                let r = try #require(try BaselineRanker.named(name, training: data.subset(split.train), neighbours: k))
                let direct = try Evaluation.run(r, data: data, sessions: split.test, length: 4)
                #expect(sameMetrics(report.runs.first { $0.method == name && $0.seed == seed }?.test, direct))
                sums[name, default: []] += try PairedComparison.sessionSums(
                    Evaluation.perSession(r, data: data, sessions: split.test, length: 4), metric: report.metric)
            }
            // The trained run: the training report's test metrics of its chosen epoch.
            let metrics = try JSONDecoder().decode(
                TrainingRun.Report.self,
                from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/ce-seed\(seed)/metrics.json")))
            let ce = try #require(report.runs.first { $0.method == "ce" && $0.seed == seed })
            #expect(sameMetrics(ce.test, metrics.best.test))
            #expect(ce.bestEpoch == metrics.bestEpoch + 1)
            #expect(ce.seconds != nil)
        }
        // The reference: the better baseline by mean.
        func mean(_ n: String) -> Double { report.values(n, metric: report.metric).reduce(0, +) / 2 }
        let best = [("popularity", mean("popularity")), ("itemknn", mean("itemknn")), ("ce", mean("ce"))].max {
            $0.1 < $1.1
        }!.0
        #expect(report.reference == best)
        if report.reference != "ce" {
            let other = report.reference == "popularity" ? "itemknn" : "popularity"
            let direct = try PairedComparison(
                metric: report.metric, a: sums[other]!, b: sums[report.reference]!, replicates: 199, seed: 1)
            #expect(report.comparisons[other] == direct)
        }
        #expect(report.comparisons[report.reference] == nil && report.comparisons.count == 2)
        // Run again: the trained runs are loaded and give the same metrics.
        let again = try study.run()
        #expect(again.runs.map(\.test) == report.runs.map(\.test))
        #expect(again.runs.filter { $0.method == "ce" }.allSatisfy { $0.seconds == nil })
        #expect(again.comparisons == report.comparisons)
        // Other settings or another epoch count in the same folder: CE is trained again, not loaded.
        var changed = study
        var other = Self.ceJob(spec)
        other.settings.learningRate = 0.01
        changed.methods[2] = .trained(name: "ce", job: other)
        #expect(try changed.run().runs.filter { $0.method == "ce" }.allSatisfy { $0.seconds != nil })
        other = Self.ceJob(spec)
        other.epochs = 3
        changed.methods[2] = .trained(name: "ce", job: other)
        let longer = try changed.run()
        #expect(longer.runs.filter { $0.method == "ce" }.allSatisfy { $0.seconds != nil })
        #expect(try changed.run().runs.filter { $0.method == "ce" }.allSatisfy { $0.seconds == nil })
    }

    @Test func badStudiesAreRefused() throws {
        let spec = EventDataSpec(data: "unused.csv")
        let pop = Study.Method.baseline(name: "p", kind: "popularity", neighbours: 1)
        var twice = Study(data: spec, methods: [pop, pop], seeds: [1])
        #expect(throws: RecRLError.invalidParameter("study: method 'p' is named twice")) { try twice.run() }
        twice.methods = [pop]
        twice.reference = "q"
        #expect(throws: RecRLError.invalidParameter("study: the reference 'q' is not one of the methods (p)")) {
            try twice.run()
        }
        var job = TrainingJob(data: spec)
        job.apply(.sqn)
        let noBaseline = Study(data: spec, methods: [.trained(name: "sqn", job: job)], seeds: [1])
        #expect(throws: RecRLError.self) { try noBaseline.run() }
        let noSeeds = Study(data: spec, methods: [pop], seeds: [])
        #expect(throws: RecRLError.invalidParameter("study: give at least one method and one seed")) {
            try noSeeds.run()
        }
    }
}
