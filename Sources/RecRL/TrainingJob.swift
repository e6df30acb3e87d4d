import RecCore
import RecIO
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Where a training run's sessions come from: the event log, its format and mappings, the
/// filters and the split (`reckit train`'s data options).
public struct EventDataSpec: Sendable {
    /// The event log (for yoochoose: the clicks file).
    public var data: String
    /// Its format.
    public var format: EventLogFormat = .csv
    /// yoochoose: the buys file.
    public var buys: String?
    /// csv: column roles.
    public var columns = EventColumns()
    /// Raw event values to event types (nil: the format's default).
    public var eventMap: EventMapping?
    /// movielens: ratings to event types.
    public var ratingMap = "5=purchase,1-4=click"
    /// Keep items with at least this many events (applied first).
    public var minItemCount = 1
    /// Then keep sessions with at least this many events.
    public var minSessionLength = 3
    /// A CSV of "session id, split" overriding the random split.
    public var split: String?
    /// Seed of the random 8:1:1 session split.
    public var splitSeed: UInt64 = 1
    /// State length L.
    public var length = 10

    /// A spec reading `data` as CSV with the default columns.
    public init(data: String) { self.data = data }

    /// The sessions and their split.
    /// - Throws: `RecRLError` naming the file, line and field of a bad row or option.
    public func load() throws(RecRLError) -> (SessionData, SessionSplit) {
        let log: EventLog
        switch format {
        case .csv: log = try EventLog.load(csv: data, columns: columns, events: eventMap ?? .identity)
        case .retailrocket: log = try EventLog.loadRetailRocket(data, events: eventMap ?? .retailRocket)
        case .yoochoose: log = try EventLog.loadYooChoose(clicks: data, buys: buys)
        case .movielens: log = try EventLog.loadMovieLens(data, ratings: try RatingMapping.parse(ratingMap))
        }
        let sessions = try SessionData(
            log, preprocessing: Preprocessing(minItemCount: minItemCount, minSessionLength: minSessionLength))
        let sp: SessionSplit
        if let split {
            sp = try SessionSplit.load(split, for: sessions)
        } else {
            sp = SessionSplit.random(sessions: sessions.sessionCount, seed: splitSeed)
        }
        return (sessions, sp)
    }
}

/// A training run as `reckit train` sets it up, from its options: the model (algorithm, encoder,
/// sizes) and the optimisation (epochs, batch, learning rates, rewards, seeds, output folder).
public struct TrainingJob: Sendable {
    /// The sessions.
    public var data: EventDataSpec
    /// The model's settings; `items` and `length` are set from the data when the run starts.
    public var model = ModelConfig(items: 1)
    /// Epochs.
    public var epochs = 10
    /// Discount γ.
    public var gamma: Float = 0.5
    /// Rewards by event type (`RewardTable.parse`'s text, over the standard table).
    public var reward: String?
    /// Price scaling of the rewards.
    public var priceScaling = RewardTable.PriceScaling.none
    /// Batch, learning rates, negatives, warm-up, seed, batch parts.
    public var settings = TrainingSettings()
    /// Also validate every this many steps (0: at epoch ends only).
    public var validateEvery = 2000
    /// The metric that picks the best epoch (nil: the default).
    public var selectBy: String?
    /// The output folder (checkpoints, metrics, split), or nil to train in memory.
    public var outputDirectory: String?
    /// Replace a run already in the output folder.
    public var overwrite = false
    /// Resume from the output folder's last checkpoint.
    public var resume = false
    /// Also report the Q head's test metrics.
    public var evaluateQHead = false

    /// A job on `data` with `reckit train`'s defaults.
    public init(data: EventDataSpec) { self.data = data }

    /// The model's configuration for a catalog of `items`.
    public func modelConfig(items: Int) -> ModelConfig {
        var mc = model
        mc.items = items
        mc.length = data.length
        return mc
    }

    /// The run for a catalog of `items` (progress and process group are the caller's to set).
    /// - Throws: `RecRLError` for a malformed reward table.
    public func makeRun(items: Int) throws(RecRLError) -> TrainingRun {
        var run = TrainingRun(model: modelConfig(items: items))
        run.epochs = epochs
        run.gamma = gamma
        var rt = try reward.map { (r: String) throws(RecRLError) in try RewardTable.parse(r) } ?? .standard
        rt.priceScaling = priceScaling
        run.rewards = rt
        run.settings = settings
        run.validateEvery = validateEvery
        run.selectBy = selectBy
        run.outputDirectory = outputDirectory
        run.resume = resume
        run.overwrite = overwrite
        run.evaluateQHead = evaluateQHead
        return run
    }

    /// Loads the data, trains, and (with an output folder) writes the checkpoints, the metrics
    /// and `split.csv` as `reckit train` does. Returns the best model and the report.
    /// - Throws: `RecRLError` (data, options, a diverged run) or `RecNNError`.
    public func run(progress: (@Sendable (String) -> Void)? = nil) throws -> (
        model: SequentialRecommender, report: TrainingRun.Report, data: SessionData
    ) {
        let (sessions, split) = try data.load()
        var run = try makeRun(items: sessions.itemCount)
        run.progress = progress
        if let out = outputDirectory, !resume {
            try run.check(data: sessions, split: split)
            try run.prepareRunDirectory()
            try split.write(PathText.join(out, "split.csv"), data: sessions)
        }
        let (model, report) = try run.run(data: sessions, split: split)
        if let out = outputDirectory, resume, !FileManager.default.fileExists(atPath: PathText.join(out, "split.csv")) {
            try split.write(PathText.join(out, "split.csv"), data: sessions)
        }
        return (model, report, sessions)
    }
}
