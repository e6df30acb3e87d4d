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
        var report = Report(epochs: [], bestEpoch: -1, selectBy: selectBy.description, sequencesPerSecond: 0)
        var startEpoch = 0
        if let group { try checkSameRun(group, data: data, transitions: train.count) }
        if writer { try prepareOutputDirectory() }
        if resume, let lastPath = path("last.safetensors"), FileManager.default.fileExists(atPath: lastPath) {
            (report, startEpoch) = try resumeFrom(
                lastPath, model: rec, trainer: trainer, data: data, split: split, selectBy: selectBy.description,
                report: report)
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
                data: data, split: split, clock: clock, selectBy: selectBy, report: &report)
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
    func checkInputs(data: SessionData, split: SessionSplit) throws(RecRLError) -> SelectionMetric {
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

    func existing(_ p: String?) -> String? { p.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil } }
}

func formatDuration(_ s: Double) -> String {
    guard s.isFinite, abs(s) < 1e15 else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600
        ? cFormat("%ldh%02ldm", t / 3600, (t % 3600) / 60) : cFormat("%ldm%02lds", t / 60, t % 60)
}
