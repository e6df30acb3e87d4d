import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Every method over several seeds on one event log, judged by the same full-ranking protocol,
/// with a paired test of each method against the best baseline (`reckit study`).
///
/// Per seed s the sessions are split 8:1:1 by s and every trained method is trained with seed s;
/// every method then ranks the same test queries. The report holds each (method, seed)'s test
/// metrics and, for `metric`, a paired comparison of each method with the reference: the
/// baseline (a method without a Q head: popularity, the kNNs, CE, GRU4Rec) with the best mean
/// over the seeds, unless `reference` names another. Sessions are the units of the comparison,
/// pooled over the seeds (a session is paired with itself under the same seed's split): the
/// 95% bootstrap interval of the difference and the sign-flip permutation p-value
/// (`PairedComparison`).
///
/// With an output folder each trained run lives in `OUT/NAME-seedS` (checkpoints, metrics), so
/// a stopped study resumes: a finished run of the same model, data, split, settings and epochs
/// is loaded, not trained again; any other run in the folder (another `--epochs`, tuned
/// settings, data) is trained again over it.
public struct Study: Sendable {
    /// One method of a study.
    public enum Method: Sendable {
        /// A model trained by `job` (its data and seed are the study's).
        case trained(name: String, job: TrainingJob)
        /// A baseline of `BaselineRanker.named` (`popularity`, `itemknn`, `sknn`, `vsknn`) with
        /// `neighbours`.
        case baseline(name: String, kind: String, neighbours: Int)

        /// The method's name in reports.
        public var name: String {
            switch self {
            case .trained(let n, _), .baseline(let n, _, _): return n
            }
        }

        /// Whether it is a baseline: no Q head (the kNNs, popularity, CE, GRU4Rec).
        public var isBaseline: Bool {
            switch self {
            case .baseline: return true
            case .trained(_, let job): return !job.model.algorithm.usesQ
            }
        }
    }

    /// The sessions (the split seed is each seed in turn).
    public var data: EventDataSpec
    /// The methods, in report order.
    public var methods: [Method]
    /// The seeds: of the split and of training.
    public var seeds: [UInt64]
    /// The compared metric (`EVENT_hr@K` or `EVENT_ndcg@K`).
    public var metric = "purchase_ndcg@10"
    /// The method every other is compared with (nil: the best baseline by mean `metric`).
    public var reference: String?
    /// Bootstrap draws and sign flips of the paired comparisons.
    public var replicates = 10_000
    /// Where trained runs are kept (nil: in memory).
    public var outputDirectory: String?
    /// Progress lines.
    public var progress: (@Sendable (String) -> Void)?

    /// A study of `methods` over `seeds` on `data`.
    public init(data: EventDataSpec, methods: [Method], seeds: [UInt64]) {
        self.data = data
        self.methods = methods
        self.seeds = seeds
    }

    /// One method under one seed.
    public struct Run: Sendable, Codable, Equatable {
        /// The method's name.
        public var method: String
        /// The seed.
        public var seed: UInt64
        /// Test metrics (full ranking).
        public var test: RankingMetrics
        /// The chosen epoch (1-based) of a trained method, nil for a baseline.
        public var bestEpoch: Int?
        /// Seconds to train (or fit) and evaluate; nil when the run was loaded from its folder.
        public var seconds: Double?
    }

    /// What a study found.
    public struct Report: Sendable, Codable {
        /// The compared metric.
        public var metric: String
        /// Methods, in order.
        public var methods: [String]
        /// The methods that are baselines (`Method.isBaseline`), in order.
        public var baselines: [String]
        /// The seeds.
        public var seeds: [UInt64]
        /// Every (method, seed), method-major.
        public var runs: [Run]
        /// The reference of the comparisons.
        public var reference: String
        /// Each other method against the reference (a − b: method − reference), pooled over seeds.
        public var comparisons: [String: PairedComparison]
        /// Seconds of the whole study (this invocation).
        public var seconds: Double

        /// The values of `metric` (e.g. `purchase_hr@20`) of `method`, by seed (NaN where the
        /// metric is not defined).
        public func values(_ method: String, metric m: String) -> [Double] {
            guard let (event, kind, k) = try? PairedComparison.parse(metric: m) else { return [] }
            return runs.filter { $0.method == method }.map {
                (kind == "hr" ? $0.test.hitRate(event, at: k) : $0.test.ndcg(event, at: k)) ?? .nan
            }
        }
    }

    /// Trains, fits and evaluates every method under every seed.
    /// - Throws: `RecRLError` (data, options, a diverged run, no baseline, an unknown reference)
    ///   or `RecNNError`.
    public func run() throws -> Report {
        let clock = ContinuousClock()
        let start = clock.now
        func seconds(since t: ContinuousClock.Instant) -> Double {
            let d = clock.now - t
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        _ = try PairedComparison.parse(metric: metric)
        guard !methods.isEmpty, !seeds.isEmpty else {
            throw RecRLError.invalidParameter("study: give at least one method and one seed")
        }
        let names = methods.map(\.name)
        if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw RecRLError.invalidParameter("study: method '\(clipped(dup))' is named twice")
        }
        if let reference, !names.contains(reference) {
            throw RecRLError.invalidParameter(
                "study: the reference '\(clipped(reference))' is not one of the methods (\(names.joined(separator: ", ")))"
            )
        }
        guard reference != nil || methods.contains(where: \.isBaseline) else {
            throw RecRLError.invalidParameter(
                "study: no baseline to compare with (popularity, itemknn, sknn, vsknn, ce or gru4rec); give one or name a --reference"
            )
        }
        var runs = [String: [Run]]()
        var sums = [String: [(sum: Double, count: Int)]]()
        for seed in seeds {
            var spec = data
            spec.splitSeed = seed
            let (sessions, split) = try spec.load()
            guard !split.test.isEmpty else {
                throw RecRLError.invalidParameter("study: seed \(seed) leaves no test sessions")
            }
            progress?(
                "study: seed \(seed): \(sessions.sessionCount) sessions (\(split.train.count)/\(split.validation.count)/\(split.test.count)), \(sessions.itemCount) items"
            )
            for m in methods {
                let t0 = clock.now
                var fresh = true
                let ranker: CatalogRanker
                var bestEpoch: Int?
                switch m {
                case .baseline(_, let kind, let k):
                    guard let r = try BaselineRanker.named(kind, training: sessions.subset(split.train), neighbours: k)
                    else {
                        throw RecRLError.invalidParameter(
                            "study: unknown baseline '\(clipped(kind))' (\(BaselineRanker.names.joined(separator: ", ")))"
                        )
                    }
                    ranker = r
                case .trained(let name, let base):
                    let (model, epoch, trained) = try trainedModel(
                        name, base, seed: seed, spec: spec, sessions: sessions, split: split)
                    ranker = ModelRanker(model: model)
                    bestEpoch = epoch
                    fresh = trained
                }
                let per = try Evaluation.perSession(ranker, data: sessions, sessions: split.test, length: spec.length)
                var total = RankingMetrics(eventTypes: sessions.eventTypes)
                for p in per { total.add(p) }
                sums[m.name, default: []] += try PairedComparison.sessionSums(per, metric: metric)
                let run = Run(
                    method: m.name, seed: seed, test: total, bestEpoch: bestEpoch,
                    seconds: fresh ? seconds(since: t0) : nil)
                runs[m.name, default: []].append(run)
                let value = total.value(metric) ?? .nan
                progress?(
                    "study: \(m.name) seed \(seed): \(metric) \(cFormat("%.4f", value))"
                        + (fresh ? cFormat(" (%.1f s)", run.seconds!) : " (loaded)"))
            }
        }
        func mean(_ name: String) -> Double {
            let v = runs[name]!.map { $0.test.value(metric) ?? .nan }
            return v.reduce(0, +) / Double(v.count)
        }
        // The best baseline by mean (the first of equals; an undefined mean never wins).
        var ref = reference ?? ""
        if reference == nil {
            var best = -Double.infinity
            for m in methods where m.isBaseline {
                let v = mean(m.name)
                if ref.isEmpty || (!v.isNaN && v > best) {
                    ref = m.name
                    best = v.isNaN ? -.infinity : v
                }
            }
        }
        var comparisons = [String: PairedComparison]()
        for m in methods where m.name != ref {
            comparisons[m.name] = try PairedComparison(
                metric: metric, a: sums[m.name]!, b: sums[ref]!, replicates: replicates, seed: 1)
        }
        return Report(
            metric: metric, methods: names, baselines: methods.filter(\.isBaseline).map(\.name), seeds: seeds,
            runs: names.flatMap { runs[$0]! }, reference: ref, comparisons: comparisons,
            seconds: seconds(since: start))
    }

    /// The trained model of `name` under `seed`: loaded from its folder when a finished run is
    /// there, else trained (and kept there). Returns the model, its chosen epoch (1-based) and
    /// whether it was trained now.
    func trainedModel(
        _ name: String, _ base: TrainingJob, seed: UInt64, spec: EventDataSpec, sessions: SessionData,
        split: SessionSplit
    ) throws -> (SequentialRecommender, Int?, Bool) {
        var job = base
        job.data = spec
        job.settings.seed = seed
        job.outputDirectory = outputDirectory.map { PathText.join($0, "\(name)-seed\(seed)") }
        job.resume = false
        var run = try job.makeRun(items: sessions.itemCount)
        run.progress = nil
        if let dir = job.outputDirectory {
            if let loaded = try finishedRun(in: dir, run: run, sessions: sessions, split: split) { return loaded }
            // An unfinished run, or another one, starts again.
            run.overwrite = true
        }
        if let out = job.outputDirectory {
            try run.check(data: sessions, split: split)
            try run.prepareRunDirectory()
            try split.write(PathText.join(out, "split.csv"), data: sessions)
        }
        let (model, report) = try run.run(data: sessions, split: split)
        return (model, report.bestEpoch + 1, true)
    }

    /// The best model of the finished run in `dir` when it is `run`'s: the same model, item
    /// vocabulary, data, split and optimisation settings (`TrainingRun.runFields`, recorded in
    /// `last.safetensors`) and all of `run.epochs`; nil otherwise (the caller trains again).
    func finishedRun(in dir: String, run: TrainingRun, sessions: SessionData, split: SessionSplit) throws
        -> (SequentialRecommender, Int?, Bool)?
    {
        let fm = FileManager.default
        let paths = ["metrics.json", "best.safetensors", "last.safetensors"].map { PathText.join(dir, $0) }
        guard paths.allSatisfy({ fm.fileExists(atPath: $0) }) else { return nil }
        guard
            let report = try? JSONDecoder().decode(
                TrainingRun.Report.self, from: try FileInput.contents(paths[0], limit: 1 << 28)),
            report.epochs.count == run.epochs,
            let (last, _, meta) = try? SequentialRecommender.load(from: paths[2]),
            last.config == run.model, last.itemKeys == sessions.itemKeys,
            let stored = meta["run"],
            let fields = try? JSONDecoder().decode([String: String].self, from: Data(stored.utf8)),
            fields == run.runFields(data: sessions, split: split)
        else {
            progress?("study: \(dir) holds another or an unfinished run: training it again")
            return nil
        }
        let best = try SequentialRecommender.load(from: paths[1]).model
        return (best, report.bestEpoch + 1, false)
    }
}

extension RankingMetrics {
    /// Adds another set of queries' sums (same cutoffs and event types).
    public mutating func add(_ other: RankingMetrics) {
        precondition(other.cutoffs == cutoffs && other.eventTypes == eventTypes, "RankingMetrics.add: other shape")
        for t in counts.indices {
            counts[t] += other.counts[t]
            for c in cutoffs.indices {
                hits[t][c] += other.hits[t][c]
                ndcgSums[t][c] += other.ndcgSums[t][c]
            }
        }
    }

    /// The value of `metric` (`EVENT_hr@K`, `EVENT_ndcg@K`); nil for a metric it does not hold.
    public func value(_ metric: String) -> Double? {
        guard let (event, kind, k) = try? PairedComparison.parse(metric: metric) else { return nil }
        return kind == "hr" ? hitRate(event, at: k) : ndcg(event, at: k)
    }
}
