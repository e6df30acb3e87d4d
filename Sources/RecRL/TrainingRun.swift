import RecCore
import RecIO
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A whole training run: epochs over the training transitions, validation and test metrics
/// after each epoch (and every `validateEvery` steps), an atomic checkpoint each epoch, the
/// best epoch chosen by one validation metric, `resume` from the last checkpoint, and a stop
/// with a message when the loss diverges.
public struct TrainingRun {
    /// The model to train.
    public var model: ModelConfig
    /// Batch size, learning rates, seeds and the rest.
    public var settings = TrainingSettings()
    /// Epochs over the training transitions.
    public var epochs = 10
    /// Rewards by event type.
    public var rewards = RewardTable.standard
    /// The TD discount γ.
    public var gamma: Float = 0.5
    /// Metric that picks the best epoch, `EVENT_hr@K` or `EVENT_ndcg@K` (K = 5, 10, 20) for an
    /// event type of the data; nil: `purchase_ndcg@10` when the data has purchases, else the
    /// first event type's NDCG@10. A name the data cannot give is an error listing the valid ones.
    public var selectBy: String? = nil
    /// Also validate every this many steps (0: at epoch ends only).
    public var validateEvery = 0
    /// Directory for `last.safetensors`, `best.safetensors`, `metrics.json`; nil writes nothing.
    public var outputDirectory: String?
    /// Continue from `outputDirectory/last.safetensors`. Without that file it is an error (not a
    /// silent fresh start); a checkpoint that has already done `epochs` epochs returns its report
    /// without training, one that has done more is an error; one trained on other data, another
    /// split or with other optimisation settings is an error naming them (`runFields`).
    public var resume = false
    /// Replace a run already in `outputDirectory` (its files are removed before training starts,
    /// so the directory never mixes two runs). Without it, a new run into a directory that holds
    /// one is an error.
    public var overwrite = false
    /// Called with a progress line (step, sequences/s, losses, ETA) about every `progressSeconds`.
    public var progress: (@Sendable (String) -> Void)?
    /// Seconds between progress lines.
    public var progressSeconds = 2.0
    /// Also evaluate the Q head.
    public var evaluateQHead = false
    /// The processes of a data-parallel run (nil: this process alone). Every process calls `run`
    /// with the same data and settings (checked at the start); each trains on its slice of every
    /// batch, and rank 0 alone evaluates, writes `outputDirectory` and reports progress.
    public var group: ProcessGroup? = nil

    /// A run of `model` with the default settings.
    public init(model: ModelConfig) { self.model = model }

    /// One epoch's evaluation.
    public struct EpochReport: Sendable, Codable {
        /// The epoch, from 0.
        public let epoch: Int
        /// Steps taken by its end.
        public let step: Int
        /// The epoch's mean training loss.
        public let loss: Double
        /// Metrics on the validation sessions.
        public let validation: RankingMetrics
        /// Metrics on the test sessions.
        public let test: RankingMetrics
        /// Test metrics of the Q head (when asked for).
        public let testQ: RankingMetrics?
        /// Wall time of the epoch, evaluation included.
        public let seconds: Double
        /// The epoch's mean supervised (cross-entropy) and TD losses, whose sum is `loss` (nil in
        /// reports written before they were kept).
        public var ceLoss: Double? = nil
        /// The epoch's mean TD loss (nil in older reports).
        public var qLoss: Double? = nil
    }

    /// What a run did: every epoch, and the one chosen.
    public struct Report: Sendable, Codable {
        /// Every epoch, in order.
        public var epochs: [EpochReport]
        /// The epoch with the best validation `selectBy` metric.
        public var bestEpoch: Int
        /// The metric that chose it (`purchase_ndcg@10`, ...).
        public var selectBy: String
        /// Training transitions per second of training time.
        public var sequencesPerSecond: Double
        /// Processes of a data-parallel run and the gradient bytes rank 0 sent (nil: one process).
        public var processes: Int? = nil
        /// Gradient bytes sent per step in a data-parallel run.
        public var gradientTraffic: GradientTraffic? = nil
        /// The chosen epoch's report.
        public var best: EpochReport { epochs.first { $0.epoch == bestEpoch }! }
    }

    /// Trains on `split.train`, validates on `split.validation`, tests on `split.test`.
    /// - Throws: `.diverged` (the last good checkpoint stays on disk), `.missingReward`, I/O errors.
    public func run(data: SessionData, split: SessionSplit) throws(RecRLError) -> (
        model: SequentialRecommender, report: Report
    ) {
        let selectBy = try checkInputs(data: data, split: split)
        let writer = (group?.rank ?? 0) == 0
        let train = try Transitions(data.subset(split.train), length: model.length, rewards: rewards, gamma: gamma)
        let stepsPerEpoch = (train.count + settings.batch - 1) / settings.batch
        let rec = SequentialRecommender(
            config: model, itemKeys: data.itemKeys, eventTypes: data.eventTypes, seed: settings.seed)
        rec.trainingCounts = train.data.itemCounts()
        let trainer = Trainer(model: rec, settings: settings, totalSteps: stepsPerEpoch * epochs, group: group)
        var report = Report(epochs: [], bestEpoch: -1, selectBy: selectBy, sequencesPerSecond: 0)
        var startEpoch = 0
        if let group { try checkSameRun(group, data: data, transitions: train.count) }
        if writer { try prepareOutputDirectory() }
        if resume, let lastPath = path("last.safetensors"), FileManager.default.fileExists(atPath: lastPath) {
            (report, startEpoch) = try resumeFrom(
                lastPath, model: rec, trainer: trainer, data: data, split: split, selectBy: selectBy, report: report)
        }
        var clock = TrainingClock()
        for epoch in startEpoch..<epochs {
            let t0 = Date()
            let losses = try trainEpoch(
                epoch, train: train, trainer: trainer, model: rec, data: data,
                validation: split.validation, clock: &clock, writer: writer)
            clock.trainSeconds += Date().timeIntervalSince(t0)
            // Only rank 0 evaluates and writes; the others go on to the next epoch's first step,
            // where they wait for it.
            guard writer else { continue }
            try finishEpoch(
                epoch, losses: losses, seconds: { Date().timeIntervalSince(t0) }, model: rec, trainer: trainer,
                data: data, split: split, clock: clock, report: &report)
        }
        if writer { try writeMetrics(report) }
        return (rec, report)
    }

    /// The checks `run` makes before anything is built or written (settings, a training set,
    /// rewards the data has, something to resume from when asked to), for a caller that writes
    /// to the run directory first.
    /// - Throws: the error `run` would throw.
    public func check(data: SessionData, split: SessionSplit) throws(RecRLError) {
        _ = try checkInputs(data: data, split: split)
    }

    /// The checks before anything is built: settings, a training set, rewards the data has, and
    /// something to resume from when asked to. Returns the metric that selects the best epoch.
    func checkInputs(data: SessionData, split: SessionSplit) throws(RecRLError) -> String {
        try validate()
        guard !split.train.isEmpty else { throw .empty("\(data.source): no training sessions") }
        let selectBy = try selectionMetric(eventTypes: data.eventTypes)
        if let unknown = rewards.given.subtracting(data.eventTypes).sorted().first {
            throw .invalidParameter(
                "reward for event type '\(clipped(unknown))', which \(data.source) does not have "
                    + "(its event types: \(data.eventTypes.joined(separator: ", ")))")
        }
        if resume && existing(path("last.safetensors")) == nil {
            throw .invalidParameter(
                "resume: nothing to resume, \(path("last.safetensors") ?? "(no output directory)") does not exist "
                    + "(start without resume to train from scratch)")
        }
        return selectBy
    }

    /// A file in the output directory (nil without one).
    func path(_ name: String) -> String? {
        outputDirectory.map { PathText.join($0, name) }
    }

    /// The files a run writes in its directory.
    public static let runFiles = ["last.safetensors", "best.safetensors", "metrics.json", "split.csv", "report.html"]

    /// Makes the output directory ready for a new run, before anything is written to it: created
    /// if missing; when it holds a run (checkpoints or metrics), an error unless `overwrite`;
    /// then (and when only a split or report is left by a run that failed early) every one of
    /// `runFiles` is removed, so the new run's split and checkpoints are never mixed with the
    /// old run's. With `resume` nothing is touched.
    /// - Throws: `.invalidParameter` naming the directory and the run files it holds.
    public func prepareRunDirectory() throws(RecRLError) {
        guard let dir = outputDirectory, !resume else { return }
        do { try Directory.create(dir) } catch { throw .io(error) }
        let held = Self.runFiles.filter { existing(path($0)) != nil }
        guard !held.isEmpty else { return }
        // A split or report without checkpoints is what a run that failed before its first epoch
        // leaves: nothing to keep.
        let isRun = held.contains { ["last.safetensors", "best.safetensors", "metrics.json"].contains($0) }
        guard overwrite || !isRun else {
            throw .invalidParameter(
                "\(dir) already holds a run (\(held.joined(separator: ", "))): give --overwrite to replace it, "
                    + "--resume to continue it, or another --out")
        }
        for name in held {
            guard let p = path(name), unlink(p) == 0 || errno == ENOENT else {
                throw .io(.cannotWrite(file: path(name) ?? name, reason: "cannot remove the old run's file"))
            }
        }
    }

    /// Creates the output directory and removes the temporaries a killed run left behind; a new
    /// run refuses a directory that holds another run's checkpoints (`prepareRunDirectory`).
    func prepareOutputDirectory() throws(RecRLError) {
        guard let dir = outputDirectory else { return }
        // The split (and report) a caller wrote after `prepareRunDirectory` belong to this run;
        // checkpoints there belong to another.
        if !resume
            && ["last.safetensors", "best.safetensors", "metrics.json"].contains(where: { existing(path($0)) != nil })
        {
            try prepareRunDirectory()
        }
        do { try Directory.create(dir) } catch { throw .io(error) }
        for name in ["last.safetensors", "best.safetensors", "metrics.json"] {
            let removed = AtomicFile.removeStaleTemporaries(of: PathText.join(dir, name))
            if removed > 0 { progress?("removed \(removed) temporary file(s) of \(name) left by a killed run") }
        }
    }

    /// Restores the model, the optimiser state and the report from `lastPath`; returns the report
    /// and the first epoch still to train.
    func resumeFrom(
        _ lastPath: String, model rec: SequentialRecommender, trainer: Trainer, data: SessionData,
        split: SessionSplit, selectBy: String, report initial: Report
    ) throws(RecRLError) -> (Report, Int) {
        var report = initial
        let (saved, tensors, meta) = try SequentialRecommender.load(from: lastPath)
        guard saved.config == model else {
            throw .model(
                "\(lastPath): the checkpoint's model differs from the requested one (\(saved.config.differences(from: model)))"
            )
        }
        guard saved.itemKeys == data.itemKeys else {
            throw .model("\(lastPath): the checkpoint's item vocabulary differs from this data's")
        }
        if let stored = meta["run"] {
            guard let saved = try? JSONDecoder().decode([String: String].self, from: Data(stored.utf8)) else {
                throw .model("\(lastPath): metadata 'run' is damaged; cannot resume from it")
            }
            let now = runFields(data: data, split: split)
            let changed = now.keys.sorted().filter { saved[$0] != now[$0] }.map {
                "\($0) \(clipped(now[$0]!, limit: 80)) (the checkpoint's: \(clipped(saved[$0] ?? "none", limit: 80)))"
            }
            guard changed.isEmpty else {
                throw .invalidParameter(
                    "resume: \(lastPath) was trained with other settings: \(changed.joined(separator: "; ")); "
                        + "resume with the checkpoint's, or start a new run (--overwrite)")
            }
        } else {
            progress?("\(lastPath) predates the run's recorded settings: they are not checked on resume")
        }
        try rec.restore(tensors, file: lastPath)
        guard let e = meta["epoch"].flatMap(Int.init), let s = meta["step"].flatMap(Int.init) else {
            throw .model("\(lastPath): no epoch/step metadata to resume from")
        }
        try trainer.restore(tensors, step: s, file: lastPath)
        if let r = meta["report"], let old = try? JSONDecoder().decode(Report.self, from: Data(r.utf8)) {
            report = old
        }
        guard e + 1 <= epochs else {
            throw .invalidParameter(
                "\(lastPath) has already trained \(e + 1) epochs, more than the \(epochs) asked "
                    + "for (ask for more epochs to continue it)")
        }
        guard report.epochs.contains(where: { $0.epoch == report.bestEpoch }), report.selectBy == selectBy else {
            throw .model(
                "\(lastPath): its metadata 'report' is missing, damaged or selects by another metric "
                    + "(\(clipped(report.selectBy))); cannot resume from it")
        }
        if e + 1 == epochs { progress?("\(lastPath) has already trained all \(epochs) epochs: nothing to train") }
        progress?("resumed from \(lastPath) after epoch \(e + 1) (step \(s))")
        return (report, e + 1)
    }

    /// Training time and sequences so far, and the first step's loss (the divergence check's scale).
    struct TrainingClock {
        var trainSeconds = 0.0
        var sequences = 0
        var lossScale: Double?
    }

    /// One epoch's training steps in a seeded order; returns the summed losses and the step count.
    /// - Throws: `.diverged` when a loss is not finite or exceeds 1000 × the first.
    func trainEpoch(
        _ epoch: Int, train: Transitions, trainer: Trainer, model rec: SequentialRecommender, data: SessionData,
        validation: [Int], clock: inout TrainingClock, writer: Bool
    ) throws(RecRLError) -> (total: Double, ce: Double, q: Double, steps: Int) {
        let progress = writer ? progress : nil
        let t0 = Date()
        let stepsPerEpoch = (train.count + settings.batch - 1) / settings.batch
        let order = shuffledIndices(train.count, seed: settings.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var lastPrint = Date()
        var sums = (total: 0.0, ce: 0.0, q: 0.0, steps: 0)
        for b in 0..<stepsPerEpoch {
            let batch = Array(order[(b * settings.batch)..<min(order.count, (b + 1) * settings.batch)])
            let l = try step(trainer, train, batch: batch, clock: &clock)
            sums.total += l.total
            sums.ce += l.ce
            sums.q += l.q
            sums.steps += 1
            clock.sequences += batch.count
            if let progress, Date().timeIntervalSince(lastPrint) >= progressSeconds {
                lastPrint = Date()
                let rate = Double(clock.sequences) / max(clock.trainSeconds + Date().timeIntervalSince(t0), 1e-9)
                let left = Double((epochs - epoch) * stepsPerEpoch - b - 1) * Double(settings.batch) / max(rate, 1e-9)
                progress(
                    cFormat(
                        "epoch %ld/%ld step %ld  %.0f seq/s  CE %.4f  Q %.5f  ETA ", epoch + 1, epochs, trainer.step,
                        rate, l.ce, l.q) + formatDuration(left))
            }
            if validateEvery > 0, trainer.step % validateEvery == 0, let progress, !validation.isEmpty {
                let v = try Evaluation.run(
                    ModelRanker(model: rec), data: data, sessions: validation, length: model.length)
                progress(
                    "step \(trainer.step) validation: "
                        + v.flat.filter { $0.name.hasSuffix("@10") }.map {
                            "\($0.name) \(cFormat("%.4f", $0.value))"
                        }.joined(separator: "  "))
            }
        }
        return sums
    }

    /// One training step, with the divergence checks.
    func step(_ trainer: Trainer, _ train: Transitions, batch: [Int], clock: inout TrainingClock) throws(RecRLError)
        -> StepLosses
    {
        let l: StepLosses
        do { l = try trainer.train(train, batch: batch) } catch {
            if case .diverged(let s, let m, _) = error {
                throw .diverged(step: s, message: m, checkpoint: existing(path("last.safetensors")))
            }
            throw error
        }
        if clock.lossScale == nil { clock.lossScale = max(1, l.total) }
        if !(l.total < 1000 * clock.lossScale!) {
            throw .diverged(
                step: trainer.step, message: "loss exploded to \(l.total) (first loss \(clock.lossScale!))",
                checkpoint: existing(path("last.safetensors")))
        }
        return l
    }

    /// Evaluates the epoch's model on the validation and test sessions, adds the epoch to the
    /// report (and makes it the best when it is), and writes last.safetensors (and
    /// best.safetensors) atomically.
    func finishEpoch(
        _ epoch: Int, losses: (total: Double, ce: Double, q: Double, steps: Int), seconds: () -> Double,
        model rec: SequentialRecommender, trainer: Trainer, data: SessionData, split: SessionSplit,
        clock: TrainingClock, report: inout Report
    ) throws(RecRLError) {
        let val = try Evaluation.run(
            ModelRanker(model: rec), data: data, sessions: split.validation, length: model.length)
        let test = try Evaluation.run(ModelRanker(model: rec), data: data, sessions: split.test, length: model.length)
        let testQ =
            evaluateQHead && model.algorithm.usesQ
            ? try Evaluation.run(
                ModelRanker(model: rec, head: .q), data: data, sessions: split.test, length: model.length) : nil
        let n = Double(max(losses.steps, 1))
        let er = EpochReport(
            epoch: epoch, step: trainer.step, loss: losses.total / n, validation: val, test: test, testQ: testQ,
            seconds: seconds(), ceLoss: losses.ce / n, qLoss: losses.q / n)
        report.epochs.append(er)
        let score = selectionValue(val, report.selectBy)
        let bestSoFar = report.bestEpoch < 0 || score > selectionValue(report.best.validation, report.selectBy)
        if bestSoFar { report.bestEpoch = epoch }
        report.sequencesPerSecond = Double(clock.sequences) / max(clock.trainSeconds, 1e-9)
        if let group {
            report.processes = group.size
            report.gradientTraffic = trainer.traffic
        }
        progress?(
            cFormat("epoch %ld/%ld done: loss %.4f, validation ", epoch + 1, epochs, er.loss) + report.selectBy
                + cFormat(" %.4f", score) + (bestSoFar ? " (best)" : "") + cFormat(", %.1f s", er.seconds))
        if let lastPath = path("last.safetensors"), let bestPath = path("best.safetensors") {
            let rj = String(decoding: (try? JSONOutput.encode(report).data) ?? Data(), as: UTF8.self)
            let fields = runFields(data: data, split: split)
            let run = String(decoding: (try? JSONOutput.encode(fields).data) ?? Data(), as: UTF8.self)
            // The last and best checkpoints are replaced together or not at all (a full disk
            // leaves the previous epoch's pair).
            var files = [
                (
                    data: try rec.checkpoint(
                        extra: trainer.stateTensors(),
                        metadata: ["epoch": "\(epoch)", "step": "\(trainer.step)", "report": rj, "run": run],
                        what: lastPath),
                    path: lastPath
                )
            ]
            if bestSoFar {
                files.append(
                    (
                        data: try rec.checkpoint(
                            metadata: ["epoch": "\(epoch)", "step": "\(trainer.step)"], what: bestPath), path: bestPath
                    ))
            }
            do { try AtomicFile.write(files) } catch { throw .io(error) }
        }
    }

    /// Writes metrics.json (every epoch's report) atomically.
    func writeMetrics(_ report: Report) throws(RecRLError) {
        guard let path = path("metrics.json") else { return }
        do {
            let (d, nonFinite) = try JSONOutput.encode(report, pretty: true, what: path)
            if let w = JSONOutput.warning(nonFinite, in: path) { progress?(w) }
            try AtomicFile.write(d, to: path)
        } catch { throw .io(error) }
    }

    /// Every process of a group must train the same model on the same data with the same
    /// settings; a process that differs would silently pull the others' parameters elsewhere.
    func checkSameRun(_ group: ProcessGroup, data: SessionData, transitions: Int) throws(RecRLError) {
        // Dictionaries and sets are printed sorted: their order differs between processes.
        let rewardList = rewards.rewards.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let description =
            "\(model)|\(settings)|\(epochs)|\(rewardList)|\(rewards.priceScaling)|\(rewards.given.sorted())|\(gamma)|\(resume)|\(transitions)|\(data.itemKeys.count)|"
            + "\(data.eventCount)|\(data.sessionCount)|\(data.itemKeys.first ?? "")|\(data.itemKeys.last ?? "")"
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in description.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let mine = [Int32(truncatingIfNeeded: hash), Int32(truncatingIfNeeded: hash >> 32)]
        let all = try group.allGather(mine)
        if let other = all.firstIndex(where: { $0 != all[0] }) {
            throw .invalidParameter(
                "process \(other) of the group has other training options or data than process 0 "
                    + "(every process must run the same command on the same data)")
        }
    }

    /// Checks the settings before anything is trained or written.
    /// - Throws: `.invalidParameter` naming the first bad value.
    public func validate() throws(RecRLError) {
        let m = model
        let st = settings
        func bad(_ what: String) -> RecRLError { .invalidParameter(what) }
        guard epochs >= 1 else { throw bad("epochs must be at least 1, got \(epochs)") }
        guard st.batch >= 1 else { throw bad("batch size must be at least 1, got \(st.batch)") }
        guard st.learningRate > 0 && st.learningRate.isFinite else {
            throw bad("learning rate must be positive and finite, got \(st.learningRate)")
        }
        guard st.learningRate2 > 0 && st.learningRate2.isFinite else {
            throw bad("second learning rate must be positive and finite, got \(st.learningRate2)")
        }
        guard st.batchParts >= 1 && st.batchParts <= 4096 else {
            throw bad("batch parts must be in 1...4096, got \(st.batchParts)")
        }
        if let g = group, st.batchParts % g.size != 0 {
            throw bad(
                "batch parts (\(st.batchParts)) must be a multiple of the processes (\(g.size)): each computes whole parts"
            )
        }
        guard st.negatives >= 0 else { throw bad("negatives must be at least 0, got \(st.negatives)") }
        guard (st.warmupSteps ?? 0) >= 0 else { throw bad("warm-up steps must be at least 0, got \(st.warmupSteps!)") }
        guard m.items >= 1 else { throw bad("the catalog is empty") }
        try st.objective.validate(items: m.items)
        try m.validate()
        do {
            try MemoryBudget.check(
                "training \(m.items) items × d=\(m.dim), batch \(st.batch), length \(m.length)",
                bytes: m.trainingBytes(batch: st.batch, negatives: st.negatives))
        } catch { throw bad(error.description) }
        if let selectBy, !selectBy.contains("_hr@") && !selectBy.contains("_ndcg@") {
            throw bad("unknown selection metric '\(clipped(selectBy))' (EVENT_hr@K or EVENT_ndcg@K, K = 5, 10 or 20)")
        }
        guard gamma >= 0 && gamma < 1 else { throw bad("discount must be in [0, 1), got \(gamma)") }
        guard validateEvery >= 0 else { throw bad("validation interval must be at least 0, got \(validateEvery)") }
    }

    /// The metric names the data can give, and the one `selectBy` resolves to.
    /// - Throws: `.invalidParameter` for a name the data cannot give, listing the valid ones.
    public func selectionMetric(eventTypes: [String]) throws(RecRLError) -> String {
        let cutoffs = RankingMetrics(eventTypes: eventTypes).cutoffs
        let valid = eventTypes.flatMap { e in cutoffs.flatMap { ["\(e)_hr@\($0)", "\(e)_ndcg@\($0)"] } }
        guard let name = selectBy else {
            return eventTypes.contains("purchase") ? "purchase_ndcg@10" : "\(eventTypes.first ?? "click")_ndcg@10"
        }
        guard valid.contains(name) else {
            throw .invalidParameter(
                "unknown selection metric '\(clipped(name))' (this data gives: \(valid.joined(separator: ", ")))")
        }
        return name
    }

    /// The selection metric's value; a type without validation events has no value (−∞: the
    /// first epoch stays the best).
    func selectionValue(_ m: RankingMetrics, _ name: String) -> Double {
        m.flat.first(where: { $0.name == name })?.value ?? -.infinity
    }

    /// What a resumed run must share with the run it continues: the data, the split and every
    /// setting of the optimisation (not the epoch count, threads or progress options), as
    /// name → value.
    public func runFields(data: SessionData, split: SessionSplit) -> [String: String] {
        var dataHash = StableHash.words([UInt64(data.eventCount), UInt64(data.sessionCount), UInt64(data.itemCount)])
        dataHash = StableHash.bytes(data.sessionKeys.joined(separator: "\u{1}").utf8, seed: dataHash)
        dataHash = StableHash.bytes(data.itemKeys.joined(separator: "\u{1}").utf8, seed: dataHash)
        dataHash = StableHash.words(data.items.map { UInt64(UInt32(bitPattern: $0)) }, seed: dataHash)
        dataHash = StableHash.words(data.events.map { UInt64($0) }, seed: dataHash)
        var splitHash: UInt64 = 0
        for (tag, list) in [(1, split.train), (2, split.validation), (3, split.test)] {
            splitHash = StableHash.words([UInt64(tag)] + list.map { UInt64($0) }, seed: splitHash)
        }
        let s = settings
        func show(_ v: Float?) -> String { v.map { "\($0)" } ?? "default" }
        var fields = [
            "data":
                "\(data.eventCount) events, \(data.sessionCount) sessions, fingerprint \(String(dataHash, radix: 16))",
            "split":
                "\(split.train.count)/\(split.validation.count)/\(split.test.count) sessions, fingerprint \(String(splitHash, radix: 16))",
            "batch": "\(s.batch)", "learning rate": "\(s.learningRate)", "learning rate 2": "\(s.learningRate2)",
            "negatives": "\(s.negatives)", "warm-up steps": s.warmupSteps.map(String.init) ?? "default",
            "advantage clip": "\(s.advantageClip)", "Q weight": "\(s.qWeight)",
            "dense embedding updates": "\(s.denseEmbeddingUpdates)", "seed": "\(s.seed)",
            "dropout seed": s.dropoutSeed.map(String.init) ?? "default", "gamma": "\(gamma)",
            "rewards": rewards.rewards.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                separator: ","),
            "price scaling": "\(rewards.priceScaling)",
        ]
        // Recorded for the sampled objectives only: runs of the full softmax, the default, resume
        // from checkpoints written before the field existed.
        if s.objective.isSampled {
            fields["objective"] = s.objective.description + (s.sharedNegatives ? ", shared negatives" : "")
        }
        return fields
    }

    func existing(_ p: String?) -> String? { p.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil } }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite, abs(s) < 1e15 else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600
        ? cFormat("%ldh%02ldm", t / 3600, (t % 3600) / 60) : cFormat("%ldm%02lds", t / 60, t % 60)
}
