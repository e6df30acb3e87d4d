import ArgumentParser
import Foundation
import RecKit

/// Options that read an event log into sessions and a split (shared by train and evaluate).
struct EventDataOptions: ParsableArguments {
    @Option(help: "Event log file (for yoochoose: the clicks file).") var data: String
    @Option(help: "Format of the event log.") var format: EventLogFormat = .csv
    @Option(help: "yoochoose: the buys file.") var buys: String?
    @Option(help: "csv: column roles, e.g. session=user_id,time=ts,item=item,event=type,price=price.") var columns:
        String?
    @Option(
        help:
            "Map raw event values to event types, e.g. view=click,addtocart=cart,transaction=purchase (skip drops rows)."
    ) var eventMap: String?
    @Option(help: "movielens: rating to event type, e.g. 5=purchase,1-4=click.") var ratingMap: String =
        "5=purchase,1-4=click"
    @Option(help: "Keep items with at least this many events (applied first).") var minItemCount: Int = 1
    @Option(help: "Then keep sessions with at least this many events.") var minSessionLength: Int = 3
    @Option(help: "CSV of 'session id, split' (train/valid/test) overriding the random split.") var split: String?
    @Option(help: "Seed of the random 8:1:1 session split.") var splitSeed: UInt64 = 1
    @Option(help: "State length L (items in a state).") var length: Int = 10

    /// The data options as the library's spec.
    func spec() throws -> EventDataSpec {
        var d = EventDataSpec(data: data)
        d.format = format
        d.buys = buys
        d.columns = try columns.map { try EventColumns.parse($0) } ?? EventColumns()
        d.eventMap = try eventMap.map { try EventMapping.parse($0) }
        d.ratingMap = ratingMap
        d.minItemCount = minItemCount
        d.minSessionLength = minSessionLength
        d.split = split
        d.splitSeed = splitSeed
        d.length = length
        return d
    }

    func load() throws -> (SessionData, SessionSplit) { try spec().load() }
}

/// The ranker `--model` names: a baseline (popularity, itemknn, sknn, vsknn) fitted on the
/// training sessions, or a checkpoint (its item vocabulary must be the data's).
func makeRanker(
    _ model: String, head: SequentialRecommender.Head, neighbours: Int, data: SessionData, split: SessionSplit
) throws -> CatalogRanker {
    if BaselineRanker.names.contains(model),
        let baseline = try BaselineRanker.named(model, training: data.subset(split.train), neighbours: neighbours)
    {
        return baseline
    }
    let m = try SequentialRecommender.load(from: model).model
    guard m.itemKeys == data.itemKeys else {
        throw RecRLError.model(
            "\(model): the model's item vocabulary (\(m.itemKeys.count) items) differs from this data's (\(data.itemCount) items); use the same file and filters as in training"
        )
    }
    return ModelRanker(model: m, head: head)
}

func runRL(_ body: () throws -> Void) throws {
    do { try runReporting(body) } catch let e as RecRLError {
        reportError("\(e)")
        throw ExitCode(1)
    } catch let e as RecNNError {
        reportError("\(e)")
        throw ExitCode(1)
    }
}

/// The options of `reckit train` (shared with integrations/mpi's `reckit-mpi train`, which runs
/// the same training data-parallel over MPI ranks).
public struct TrainOptions: ParsableArguments {
    @OptionGroup var input: EventDataOptions
    @Option(
        help:
            "Training algorithm (gru4rec: the GRU encoder trained by GRU4Rec's recipe: bpr-max, Adagrad lr 0.05, 2048 popularity:0.5 negatives, batch 64, no dropout; each can be changed)."
    ) var algo: TrainingMethod = .sqn
    @Option(help: "Output directory.") var out: String = "reckit-model"
    @Option(help: "Epochs.") var epochs: Int = 10
    @Option(help: "Batch size (default 256; gru4rec 64).") var batch: Int?
    @Option(help: "Learning rate (default 0.005; gru4rec 0.05).") var lr: Float?
    @Option(help: "Optimiser: adam or adagrad (with --momentum; GRU4Rec's). Default adam; gru4rec adagrad.")
    var optimizer: String?
    @Option(help: "Adagrad's momentum in [0, 1) (default 0).") var momentum: Float?
    @Option(help: "SA2C's second learning rate (after the warm-up).") var lr2: Float = 0.001
    @Option(help: "State encoder (gru: GRU4Rec; default sasrec).") var encoder: EncoderKind?
    @Option(help: "Hidden size d.") var dim: Int = 64
    @Option(help: "Attention heads.") var heads: Int = 1
    @Option(help: "SASRec blocks.") var blocks: Int = 1
    @Option(help: "SASRec block layout (original: the authors' code).") var layout: SASRec.Layout = .original
    @Option(help: "Dropout rate (default 0.1; gru4rec 0).") var dropout: Float?
    @Flag(help: "SASRec attention with an output projection (PyTorch's block; default: the authors', without).")
    var attentionProjection = false
    @Option(help: "Discount gamma.") var gamma: Float = 0.5
    @Option(help: "Rewards by event type, merged over click=0.2,cart=0.5,like=0.5,purchase=1.") var reward: String?
    @Option(help: "Scale rewards by price.") var priceScaling: RewardTable.PriceScaling = .none
    @Option(
        help:
            "Negatives per transition: SNQN/SA2C's Q head's (default 10) and a sampled objective's (default 256, gSASRec's)."
    ) var negatives: Int?
    @Option(
        help:
            "The supervised head's objective: softmax (the whole catalog; the default), sampled-softmax (logQ-corrected, Yi et al. 2019), gbce (gSASRec, Petrov & Macdonald 2023) or bpr-max (GRU4Rec's: the batch's targets and --negatives shared draws, default 2048; gru4rec's default). The sampled ones update only the rows a step touches."
    ) var objective: String?
    @Option(
        help:
            "A sampled objective's negatives: uniform, popularity (α = 1), popularity:ALPHA, in-batch (the batch's targets; sampled-softmax) or mixed (in-batch plus --negatives uniform). Default uniform; gru4rec popularity:0.5."
    ) var sampler: String?
    @Option(help: "gBCE's calibration t in (0, 1] (default 0.75, gSASRec's).") var gbceT: Double?
    @Option(help: "BPR-max's ELU parameter (0: no ELU; default 0.5, GRU4Rec's).") var elu: Double?
    @Option(help: "BPR-max's score regularization (default 1, GRU4Rec's bpreg).") var bprReg: Double?
    @Option(
        help:
            "A sampled objective's negatives: one list the batch shares (batch: K rows a step) or a list per transition (transition: gSASRec's, up to B·K rows)."
    ) var negativesPer: NegativesPer = .batch
    @Option(help: "Warm-up steps before SAC/SA2C weight the CE loss (default: min(15000, half the steps)).") var warmup:
        Int?
    @Option(help: "Also validate every this many steps (0: at epoch ends only).") var validateEvery: Int = 2000
    @Option(
        help:
            "Metric that picks the best epoch: EVENT_hr@K or EVENT_ndcg@K, K = 5, 10, 20 (default: purchase_ndcg@10, or the first event type's NDCG@10 when the data has no purchases)."
    ) var select: String?
    @Option(help: "Seed of initialisation, batches, coin flips and negatives.") var seed: UInt64 = 1
    @Option(
        help:
            "Parts each batch is computed in (by threads, or by MPI ranks, which must divide it), summed in a fixed order: the result depends on the parts, not on threads or ranks."
    ) var batchParts: Int = 2
    @Flag(help: "Resume from OUT/last.safetensors (same data, split and optimisation settings).") var resume = false
    @Flag(help: "Replace the run already in OUT (its files are removed first); without it such an OUT is an error.")
    var overwrite = false
    @Option(
        help:
            "Settings from a JSON file: a 'reckit tune' OUT/best.json, or {\"settings\": {\"lr\": 0.003, \"dim\": 64}}; they replace the same options given here."
    ) var config: String?
    @Flag(help: "Also report the Q head's test metrics.") var qHead = false
    @Flag(help: "Print the final report as JSON on stdout.") var json = false
    @Option(help: "Also write the HTML training report here (OUT/report.html is always written).") var html: String?
    @OptionGroup var threading: ThreadOptions

    public init() {}

    /// Trains and reports. With `group`, this process is one rank of a data-parallel run: every
    /// rank reads the data and trains on its slice of each batch; rank 0 alone writes the output
    /// directory and prints.
    public func run(group: ProcessGroup? = nil) throws {
        try threading.apply()
        // Over MPI the errors go to the caller, which prints one message and stops every rank.
        if group == nil {
            try runRL { try train(group: nil) }
        } else {
            try train(group: group)
        }
    }

    /// The options as the library's training job.
    func job() throws -> TrainingJob {
        var job = TrainingJob(data: try input.spec())
        job.apply(algo)
        if algo == .gru4rec, let e = encoder, e != .gru {
            throw ValidationError(
                "--encoder: gru4rec is the GRU encoder; for another encoder with its loss use --algo ce --objective bpr-max"
            )
        }
        job.model.dim = dim
        job.model.heads = heads
        job.model.blocks = blocks
        if let dropout { job.model.dropout = dropout }
        if let encoder { job.model.encoder = encoder }
        job.model.layout = layout
        job.model.attentionOutputProjection = attentionProjection
        job.epochs = epochs
        job.gamma = gamma
        job.reward = reward
        job.priceScaling = priceScaling
        if let batch { job.settings.batch = batch }
        if let lr { job.settings.learningRate = lr }
        job.settings.learningRate2 = lr2
        job.settings.negatives = negatives ?? 10
        if objective != nil || algo != .gru4rec {
            job.settings.objective = try Self.objective(
                objective ?? "softmax", negatives: negatives, t: gbceT, sampler: sampler, elu: elu, bprReg: bprReg)
        } else if negatives != nil || sampler != nil || elu != nil || bprReg != nil || gbceT != nil {
            // gru4rec's bpr-max with the options given.
            job.settings.objective = try Self.objective(
                "bpr-max", negatives: negatives, t: gbceT, sampler: sampler ?? "popularity:0.5", elu: elu,
                bprReg: bprReg)
        }
        if optimizer != nil || momentum != nil {
            let name = optimizer ?? (algo == .gru4rec ? "adagrad" : "adam")
            do { job.settings.optimizer = try OptimizerChoice.named(name, momentum: momentum) } catch {
                throw ValidationError(error.description)
            }
        }
        if negativesPer == .transition && !job.settings.objective.isSampled {
            throw ValidationError("--negatives-per: it goes with a sampled --objective (sampled-softmax or gbce)")
        }
        job.settings.sharedNegatives = negativesPer == .batch
        job.settings.warmupSteps = warmup
        job.settings.seed = seed
        job.settings.batchParts = batchParts
        job.validateEvery = validateEvery
        job.selectBy = select
        job.outputDirectory = out
        job.resume = resume
        job.overwrite = overwrite
        job.evaluateQHead = qHead
        if let config {
            for (name, value) in try TuneFiles.settings(config).sorted(by: { $0.key < $1.key }) {
                try job.set(name, to: value)
            }
        }
        return job
    }

    /// `--objective`, `--negatives`, `--gbce-t`, `--sampler`, `--elu` and `--bpr-reg` as an
    /// objective; a bad value is a usage error naming the option.
    static func objective(
        _ name: String, negatives: Int?, t: Double?, sampler: String?, elu: Double? = nil, bprReg: Double? = nil
    ) throws -> SupervisedObjective {
        do {
            return try SupervisedObjective.options(
                name, negatives: negatives, t: t, sampler: sampler, elu: elu, regularization: bprReg)
        } catch { throw ValidationError(error.description) }
    }

    private func train(group: ProcessGroup?) throws {
        let writer = (group?.rank ?? 0) == 0
        func say(_ line: String) { if writer { stderrLine(line) } }
        if writer { try checkOutputs(html) }
        let (data, split) = try input.load()
        say(
            "reckit train: \(data.source): \(data.eventCount) events, \(data.sessionCount) sessions, \(data.itemCount) items; split \(split.train.count)/\(split.validation.count)/\(split.test.count)"
        )
        if split.validation.isEmpty || split.test.isEmpty {
            say(
                "warning: the \(split.validation.isEmpty ? "validation" : "test") split is empty: its metrics are not defined and the best epoch is the first"
            )
        }
        let job = try job()
        let mc = job.modelConfig(items: data.itemCount)
        var run = try job.makeRun(items: data.itemCount)
        if writer { run.progress = { stderrLine($0) } }
        run.group = group
        let splitPath = (out as NSString).appendingPathComponent("split.csv")
        if writer && !resume {
            // A run directory is one run: refused if it holds another (unless --overwrite, which
            // clears it) before the split is written, and only for a run that can start.
            try run.check(data: data, split: split)
            try run.prepareRunDirectory()
            try split.write(splitPath, data: data)
        }
        let (_, report) = try run.run(data: data, split: split)
        guard writer else { return }
        // A resumed run checked that its split is the checkpoint's; the file is written again only
        // if it went missing.
        if resume && !FileManager.default.fileExists(atPath: splitPath) { try split.write(splitPath, data: data) }
        let page = Data(TrainingReportHTML.render(report, model: mc, source: data.source).utf8)
        try AtomicFile.write(page, to: (out as NSString).appendingPathComponent("report.html"))
        if let html { try AtomicFile.write(page, to: html) }
        let best = report.best
        if json {
            try printJSON(report, what: "the training report")
        } else {
            print(
                "\(algo.rawValue): best epoch \(best.epoch + 1) of \(report.epochs.count) by validation \(report.selectBy); \(String(format: "%.0f", report.sequencesPerSecond)) sequences/s"
            )
            print("test (supervised head):")
            print(best.test.table(), terminator: "")
            if let q = best.testQ {
                print("test (Q head):")
                print(q.table(), terminator: "")
            }
            print("checkpoints: \(out)/best.safetensors, \(out)/last.safetensors")
            if let t = report.gradientTraffic, let r = report.processes {
                print(
                    String(
                        format:
                            "data-parallel over %ld processes: %.2f MB of gradients sent per step by each (dense: %.2f MB)",
                        r, t.sentPerStep / 1e6, t.densePerStep / 1e6))
            }
        }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a sequential recommender (SASRec encoder) with CE, SQN, SAC, SNQN or SA2C on an event log.",
        discussion: """
            Sessions are filtered (items with at least --min-item-count events, then sessions with at \
            least --min-session-length), split 8:1:1 by --split-seed (or --split FILE), and turned \
            into transitions with rewards by event type (--reward click=0.2,purchase=1). Writes \
            OUT/last.safetensors each epoch (with the optimiser state, for --resume), \
            OUT/best.safetensors (best validation epoch), OUT/metrics.json, OUT/split.csv and \
            OUT/report.html (metrics and losses by epoch, the chosen epoch; --html FILE writes a copy).
            """)

    @OptionGroup var options: TrainOptions

    func run() throws { try options.run() }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "HR@k and NDCG@k (k = 5, 10, 20) per event type on the test sessions, full ranking: a trained model or a baseline (popularity, item-kNN, SKNN, V-SKNN).",
        discussion: """
            --model popularity ranks items by their training-event counts (ties: lower item id). \
            --model itemknn scores items by their similarity to the state's last item (session-rec's \
            ItemKNN: co-occurrence over training sessions, λ = 20, α = 0.5); --model sknn and \
            --model vsknn by the --neighbours most similar training sessions (session-based kNN and \
            its vector variant with session-rec's defaults; every session sharing an item is a \
            candidate). \
            --model FILE loads a checkpoint from reckit train; the data must give the same item \
            vocabulary (same file and filters). The split is --split FILE (e.g. OUT/split.csv) or \
            the random split of --split-seed.
            """)

    @OptionGroup var input: EventDataOptions
    @Option(help: "'popularity', 'itemknn', 'sknn', 'vsknn' or a checkpoint (.safetensors).") var model: String =
        "popularity"
    @Option(help: "Neighbours of the kNN baselines (items for itemknn, sessions for sknn/vsknn).") var neighbours =
        100
    @Option(help: "Head of a model.") var head: SequentialRecommender.Head = .supervised
    @Option(help: "Sessions to evaluate.") var on: SplitPart = .test
    @Flag(help: "JSON output.") var json = false
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try threading.apply()
        try runRL {
            let (data, split) = try input.load()
            let sessions: [Int]
            switch on {
            case .test: sessions = split.test
            case .valid: sessions = split.validation
            }
            guard !sessions.isEmpty else {
                throw RecRLError.invalidParameter(
                    "\(input.split ?? "the split"): no \(on) sessions to evaluate (\(split.train.count)/\(split.validation.count)/\(split.test.count) train/valid/test)"
                )
            }
            let ranker = try makeRanker(model, head: head, neighbours: neighbours, data: data, split: split)
            let metrics = try Evaluation.run(ranker, data: data, sessions: sessions, length: input.length)
            if json {
                try printJSON(NamedMetrics(metrics), what: "the metrics")
            } else {
                print("\(model) on \(sessions.count) \(on) sessions:")
                print(metrics.table(), terminator: "")
            }
        }
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Rankers compared on the same held-out sessions: one metric each with its 95% bootstrap interval, and each against the first with a paired test.",
        discussion: """
            Every --model (a baseline: popularity, itemknn, sknn, vsknn; or a checkpoint) ranks \
            the same test queries (full ranking, as evaluate). The first --model is the reference: \
            each other one gets the difference of the metric, its 95% paired bootstrap interval \
            (sessions resampled) and a two-sided paired permutation p-value (each session's \
            results swapped between the two with probability 1/2). Sessions are the units.
            """)

    @OptionGroup var input: EventDataOptions
    @Option(
        help: "A ranker ('popularity', 'itemknn', 'sknn', 'vsknn' or a checkpoint); repeat, the first is the reference."
    )
    var model: [String] = []
    @Option(help: "Metric: EVENT_hr@K or EVENT_ndcg@K (K = 5, 10, 20).") var metric: String = "purchase_ndcg@10"
    @Option(help: "Head of the checkpoints.") var head: SequentialRecommender.Head = .supervised
    @Option(help: "Neighbours of the kNN baselines.") var neighbours = 100
    @Option(help: "Sessions to compare on.") var on: SplitPart = .test
    @Option(help: "Bootstrap draws and sign flips.") var replicates = 10000
    @Option(help: "Seed of the draws.") var seed: UInt64 = 1
    @Flag(help: "JSON output.") var json = false
    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try threading.apply()
        try runRL {
            guard model.count >= 2 else {
                throw RecRLError.invalidParameter("compare: give at least two --model (the first is the reference)")
            }
            _ = try PairedComparison.parse(metric: metric)
            guard replicates >= 99 && replicates <= 10_000_000 else {
                throw RecRLError.invalidParameter("compare: --replicates must be in 99...10000000 (got \(replicates))")
            }
            let (data, split) = try input.load()
            let sessions = on == .test ? split.test : split.validation
            guard !sessions.isEmpty else { throw RecRLError.invalidParameter("compare: no \(on) sessions") }
            var sums = [[(sum: Double, count: Int)]]()
            for m in model {
                let r = try makeRanker(m, head: head, neighbours: neighbours, data: data, split: split)
                let per = try Evaluation.perSession(r, data: data, sessions: sessions, length: input.length)
                sums.append(try PairedComparison.sessionSums(per, metric: metric))
            }
            let width = min(max(model.map(\.count).max() ?? 0, 10), 60)
            func column(_ name: String) -> String {
                let clipped = name.count > width ? "…" + name.suffix(width - 1) : Substring(name)
                return clipped + String(repeating: " ", count: width - clipped.count + 2)
            }
            var rows = [PairedComparison]()
            for k in 1..<model.count {
                rows.append(
                    try PairedComparison(metric: metric, a: sums[k], b: sums[0], replicates: replicates, seed: seed))
            }
            // Each ranker's own interval: its value against zero.
            let zero = sums[0].map { (sum: 0.0, count: $0.count) }
            let own = try model.indices.map { k in
                try PairedComparison(metric: metric, a: sums[k], b: zero, replicates: replicates, seed: seed)
            }
            if json {
                struct Out: Encodable {
                    let metric: String
                    let models: [String]
                    let values: [PairedComparison]
                    let againstFirst: [PairedComparison]
                }
                try printJSON(
                    Out(metric: metric, models: model, values: own, againstFirst: rows), what: "the comparison")
                return
            }
            print(
                "\(metric) on \(own[0].sessions) \(on) sessions (\(replicates) bootstrap draws and sign flips, seed \(seed)):"
            )
            for (k, m) in model.enumerated() {
                print("  " + column(m) + cFormat("%.4f  [%.4f, %.4f]", own[k].a, own[k].lower, own[k].upper))
            }
            print("against \(model[0]):")
            for (k, r) in rows.enumerated() {
                print(
                    "  " + column(model[k + 1])
                        + cFormat("%+.4f  [%+.4f, %+.4f]  p = %.4f", r.difference, r.lower, r.upper, r.pValue))
            }
        }
    }
}

/// `--negatives-per`: how a sampled objective's negatives are drawn.
enum NegativesPer: String, NamedChoice, ExpressibleByArgument {
    /// One list the batch shares.
    case batch
    /// A list per transition.
    case transition
}
