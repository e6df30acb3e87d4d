import ArgumentParser
import Foundation
import RecKit

/// `reckit offline-ab [run]`: one process over a whole log, or one shard's pass (`--partial`).
struct OfflineABRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Estimate target policies' click rates from a log (the default subcommand).",
        discussion: """
            Logs: --format obd reads the Open Bandit Dataset CSV layout; --format csv reads any CSV with a \
            header, mapped by --columns item=COL,position=COL,reward=COL[,propensity=COL][,time=COL][,context=A+B][,position_base=1][,row_key=COL]. \
            A slate log adds slate=COL (rows of one slate consecutive) and probability columns (slate_propensity, \
            cascade_propensity, target_propensity, target_slate_propensity, target_cascade_propensity): it is evaluated \
            by SIPS, IIPS, RIPS, their self-normalised versions and Cascade-DR, the target its target_* columns or \
            --target specs (Plackett-Luce and uniform give slate probabilities in closed form, others by Monte Carlo over \
            --simulations rankings, Cascade-DR's expectations too); with --target \
            specs, --logging (uniform or Plackett-Luce) adds PI, the pseudo-inverse estimator. \
            --logs - reads CSV rows from standard input. Propensities come from the log unless --logging gives \
            the logging policy (needed for pointNCIS). Policies are JSON specs (see README).

            Scale-out: --partial STATE reads this shard's rows for one pass and writes its state; `reckit \
            offline-ab merge` adds the shards' states. Rows are streamed: memory does not grow with the log.
            """)

    @Option(help: "Logged data (CSV); - for standard input.") var logs: String
    @Option(help: "obd or csv.") var format: LogFormat = .obd
    @Option(help: "Column mapping for --format csv.") var columns: String?
    @Option(
        help:
            "The column that identifies a row (bootstrap weights and folds hash it; needed for shards to agree with one pass)."
    )
    var rowKey: String?
    @Option(
        help: "Logging policy spec (JSON); default: the logged propensities. With a slate log: PI's logging policy.")
    var logging: String?
    @Option(help: "Target policy spec (JSON); repeat for several.") var target: [String] = []
    @Option(
        help:
            "A trained model (reckit train checkpoint) as the target; repeat for several. Needs --history; the log's items are the model's raw item ids. Reads the log into memory."
    )
    var targetModel: [String] = []
    @Option(
        help:
            "With --target-model: the column holding each row's session history (raw item ids separated by spaces, oldest first)."
    )
    var history: String?
    @Option(
        help:
            "With --target-model: how the model serves: greedy, epsilon:EPS[:TAIL_SHARE[:HEAD_FRACTION]], pl:TEMPERATURE; repeat for several."
    )
    var serving: [String] = []
    @Option(help: "Weight caps; repeat for several.") var cap: [Double] = [2, 5, 10]
    @Option(help: "Poisson bootstrap replicates (0: normal intervals only).") var bootstrap: Int = 1000
    @Option(
        help:
            "Item features CSV for the logistic reward model (default for --format obd: item_context.csv beside the log)."
    )
    var itemFeatures: String?
    @Option(help: "pieceNCIS groupings, comma-separated: position, value-model[:BUCKETS], context:COLUMN.")
    var pieceGroups: String = "position,value-model"
    @Flag(help: "Ratio estimators only, in one pass (no DM, DR, SwitchDR, value-model pieces).") var noRewardModels =
        false
    @Option(
        help:
            "Item embeddings for MIPS and SNMIPS: a CSV with item_id and categorical columns (one embedding dimension each; numeric columns are ignored). Needs --logging."
    )
    var mipsEmbeddings: String?
    @Option(help: "DRos's shrinkage λ (> 0, or inf): one DRos estimate per λ and reward model; repeat for several.")
    var shrinkage: [Double] = []
    @Option(help: "Sub-Gaussian IPW/DR λ in [0, 1]: one estimate each per λ; repeat for several.")
    var subGaussian: [Double] = []
    @Flag(help: "SLOPE tuning: pick CIS's cap (caps and inf), DRos's λ and the sub-Gaussian λ; report the choice.")
    var slope = false
    @Option(help: "SLOPE's δ (its widths are Student t bounds at 1 − δ).") var slopeDelta = 0.1
    @Option(
        help:
            "The interval: auto (the bootstrap's with replicates, else the normal) or empirical-likelihood (the policy value's interval with the weights' mean fixed at 1, asymmetric, for heavy-tailed weights: every estimator from the weights and rewards, IS, SNIPS and the capped ones, shows it, and the DR family its reward model's). MIPS, BIPW and DM keep auto."
    )
    var interval: IntervalChoice = .auto
    @Option(help: "The empirical-likelihood interval's largest weight (> 1; default: the largest logged weight).")
    var weightBound: Double?
    @Option(
        help:
            "Also balanced IPW (BIPW), its weights a classifier's odds: per position, L2 logistic regression with this C (1: scikit-learn's default) on the item and the context columns; normal interval."
    )
    var balancedIpw: Double?
    @Option(help: "Seed (bootstrap, folds and Monte Carlo marginals).") var seed: UInt64 = 1
    @Option(help: "Positions evaluated (default: the deepest logged position; required with --partial or --logs -).")
    var k: Int?
    @Option(help: "Marginals: exact or mc.") var method: MarginalsMethod = .exact
    @Option(
        help:
            "Monte Carlo marginals: simulated rankings; with a slate log, also the rankings that estimate the slate and cascade probabilities of Thompson-sampling and epsilon-greedy targets."
    )
    var simulations: Int = 1_000_000
    @Option(help: "Write this shard's state for the current pass to FILE (atomically) instead of a report.")
    var partial: String?
    @Option(help: "With --partial: the merged state of the previous pass (from `merge --output`).") var after: String?
    @OptionGroup var report: ReportOutput
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard format == .obd || columns != nil else { throw ValidationError("--format csv needs --columns") }
        if slates {
            guard targetModel.isEmpty, interval == .auto, balancedIpw == nil else {
                throw ValidationError(
                    "a slate log (slate= in --columns) takes its logging probabilities from its columns: leave out --target-model, --interval and --balanced-ipw"
                )
            }
            guard logging == nil || !target.isEmpty else {
                throw ValidationError(
                    "--logging with a slate log adds PI, which needs --target specs (the target's probability of every item at every position)"
                )
            }
            guard target.isEmpty == slateTargetColumns else {
                throw ValidationError(
                    slateTargetColumns
                        ? "the slate log's target_* columns are its target: leave out --target (or the columns)"
                        : "give a --target policy spec or the log's target_* probability columns")
            }
        } else {
            guard !target.isEmpty || !targetModel.isEmpty else {
                throw ValidationError(
                    "give at least one --target policy spec or --target-model (or a slate log's target_* columns)")
            }
        }
        guard serving.isEmpty || !targetModel.isEmpty else {
            throw ValidationError("--serving says how a --target-model serves: it goes with --target-model")
        }
        if !targetModel.isEmpty {
            guard format == .csv, history != nil else {
                throw ValidationError("--target-model needs --format csv and --history COLUMN")
            }
            guard target.isEmpty, logging == nil else {
                throw ValidationError(
                    "--target-model compares against the logged propensities: leave out --target and --logging")
            }
            guard partial == nil, logs != "-" else {
                throw ValidationError(
                    "--target-model reads the whole log into memory (it needs the logged item set): no --partial or --logs -"
                )
            }
        }
        guard bootstrap >= 0, bootstrap <= 100_000 else {
            throw ValidationError("--bootstrap must be in 0...100000, got \(bootstrap)")
        }
        for c in cap where !(c > 0 && c.isFinite) {
            throw ValidationError("--cap values must be positive and finite, got \(c)")
        }
        for l in shrinkage where !(l > 0) {
            throw ValidationError("--shrinkage values must be positive (or inf), got \(l)")
        }
        for l in subGaussian where !(l >= 0 && l <= 1) {
            throw ValidationError("--sub-gaussian values must be in [0, 1], got \(l)")
        }
        guard slopeDelta > 0 && slopeDelta < 1 else {
            throw ValidationError("--slope-delta must be in (0, 1), got \(slopeDelta)")
        }
        if let b = weightBound, !(b > 1 && b.isFinite) {
            throw ValidationError("--weight-bound must be finite and above 1, got \(b)")
        }
        if let b = balancedIpw, !(b > 0 && b.isFinite) {
            throw ValidationError("--balanced-ipw must be a finite number above 0, got \(b)")
        }
        if weightBound != nil && interval != .empiricalLikelihood {
            throw ValidationError("--weight-bound goes with --interval empirical-likelihood")
        }
        if let k, k < 1 || k > 10_000 { throw ValidationError("--k must be in 1...10000, got \(k)") }
        if partial != nil || logs == "-" {
            guard k != nil else {
                throw ValidationError("--partial and --logs - need --k (every shard must evaluate the same positions)")
            }
        }
        guard after == nil || partial != nil else { throw ValidationError("--after goes with --partial") }
        guard simulations >= 1 else { throw ValidationError("--simulations must be at least 1") }
    }

    /// Whether the column mapping names a slate column (the slate estimators' run).
    var slates: Bool {
        format == .csv && (try? LogColumns.parse(columns ?? ""))?.slate != nil
    }

    /// Whether the slate log's mapping names target_* probability columns.
    var slateTargetColumns: Bool {
        (try? LogColumns.parse(columns ?? ""))?.slateProbabilities.keys.contains(where: \.isTarget) ?? false
    }

    func logColumns() throws -> LogColumns {
        var cols = format == .obd ? LogColumns.openBanditDataset : try LogColumns.parse(columns!)
        if let h = history { cols.context = [h] }
        if let rowKey { cols.rowKey = rowKey }
        return cols
    }

    func settings() throws -> EvaluationSettings {
        var s = EvaluationSettings()
        s.caps = cap
        s.bootstrap = bootstrap
        s.seed = seed
        s.rewardModels = !noRewardModels
        s.shrinkage = shrinkage
        if let e = mipsEmbeddings { s.itemEmbeddings = try ItemFeatures.load(csv: e) }
        s.subGaussian = subGaussian
        s.slope = slope
        s.slopeDelta = slopeDelta
        if interval == .empiricalLikelihood {
            s.likelihood = .reported
            s.weightBound = weightBound
        }
        s.balanced = balancedIpw
        s.parallelism = .threads(Threading.count)
        let sibling = URL(fileURLWithPath: logs).deletingLastPathComponent().appendingPathComponent("item_context.csv")
            .path
        if let f = itemFeatures
            ?? (format == .obd && logs != "-" && FileManager.default.fileExists(atPath: sibling) ? sibling : nil)
        {
            s.itemFeatures = try ItemFeatures.load(csv: f)
        }
        s.pieceGroupings = try pieceGroups.split(separator: ",").map { (g: Substring) throws(RecOPEError) in
            try PieceGrouping.parse(String(g))
        }
        return s
    }

    func run() throws {
        try threading.apply()
        try runReporting {
            try checkOutputs(partial, report.json, report.html)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let cols = try logColumns()
            let s = try settings()
            if !targetModel.isEmpty {
                let r = try runModels(columns: cols, settings: s)
                try report.write(r)
                return
            }
            // A stream (standard input, a FIFO, a device) is read once: a run that reads the rows
            // more than once (the deepest position, reward models) reads a temporary copy, and
            // its errors name the stream, not the copy.
            let label = logs == "-" ? "standard input" : logs
            let spool = try partial == nil && (k == nil || !noRewardModels) && Self.isStream(logs) ? spoolInput() : nil
            defer { if let spool { unlink(spool) } }
            let source = spool ?? logs
            if slates {
                do {
                    let job = try makeJob(logs: source, columns: cols, settings: s)
                    if let partial {
                        // Cascade-DR over shards takes two passes: the first counts the click-rate
                        // model's cells, the second (--after the merged first) adds it.
                        let previous = try after.map { (p: String) throws(RecOPEError) in try SlateShard.load(p) }
                        let shard = try job.slateShard(
                            rewardModel: !noRewardModels, partial: true, after: previous)
                        try shard.write(to: partial)
                        stderrLine(
                            "offline-ab: this shard's slate sums (\(shard.states.first?.rows ?? 0) rows) written to \(partial); merge the shards in file order"
                                + (shard.passRemains
                                    ? " (with --output: Cascade-DR's second pass then runs every shard with --after it)"
                                    : "")
                        )
                        return
                    }
                    guard after == nil else {
                        throw RecOPEError.invalidParameter(
                            "--after goes with --partial (a shard's second pass over a slate log)")
                    }
                    try report.write(try job.run())
                } catch let e as RecOPEError { throw e.renamingFile(source, to: label) }
                return
            }
            let r: OfflineABReport
            do {
                let job = try makeJob(logs: source, columns: cols, settings: s)
                if let partial {
                    try runPartial(job, to: partial)
                    return
                }
                r = try job.run(progress: { stderrLine("offline-ab: pass \($0)") })
            } catch let e as RecOPEError { throw e.renamingFile(source, to: label) }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            try report.write(r)
            stderrLine(
                "offline A/B of \(r.evaluations.count) policies on \(r.rows) rows in " + String(format: "%.0f ms", ms)
                    + " (\(method.rawValue) marginals, \(bootstrap) replicates, \(r.passes) passes, \(Threading.count) threads)"
            )
        }
    }

    /// One shard's pass: from the first pass, or the merged state given by --after.
    func runPartial(_ job: OfflineABJob, to path: String) throws {
        let state = try after.map { (p: String) throws(RecOPEError) in try OffPolicyState.load(p) }
        if let state, state.pass == .done {
            throw RecOPEError.invalidParameter(
                "\(after ?? "the state"): every pass is done; run `reckit offline-ab merge` on it for the report")
        }
        let next = try job.runPartial(after: state)
        try next.write(to: path)
        stderrLine(
            "offline-ab: pass \(next.completedPasses + 1) (\(next.pass)) of \(next.rows > 0 ? "\(next.rows) rows" : "this shard") written to \(path)"
        )
    }

    /// Whether `path` is read once only: standard input, a FIFO, a socket or a device (not a
    /// regular file, which can be read again from its start).
    static func isStream(_ path: String) -> Bool {
        if path == "-" { return true }
        var st = stat()
        guard stat(path, &st) == 0 else { return false }  // opening it names the problem
        return (st.st_mode & S_IFMT) != S_IFREG
    }

    /// The job: the target specs (named by policy and file), the logging spec, the depth and the
    /// marginals method.
    func makeJob(logs source: String, columns: LogColumns, settings: EvaluationSettings) throws -> OfflineABJob {
        var targets = [OfflineABJob.Target]()
        for spec in target {
            let p = try PolicySpec.load(spec)
            targets.append(.init(name: "\(p.name) (\(URL(fileURLWithPath: spec).lastPathComponent))", policy: p))
        }
        var job = OfflineABJob(
            logs: source, columns: columns, targets: targets,
            logging: try logging.map { (path: String) throws(RecOPEError) in try PolicySpec.load(path) },
            settings: settings, depth: k,
            marginals: method == .exact ? .exact : .monteCarlo(simulations: simulations))
        job.slateSimulations = simulations
        if job.depth == nil { job.depth = try job.deepestPosition() }
        return job
    }

    /// Copies the log stream (`--logs`: standard input, a FIFO or a device) to a temporary file,
    /// so that later passes can read it again; the copy is removed if the copying fails. Copies
    /// left behind by killed runs (their process is gone) are removed first.
    func spoolInput() throws -> String {
        let label = logs == "-" ? "standard input" : logs
        let dir = FileManager.default.temporaryDirectory.path
        StaleTemporaries.remove(in: dir, prefix: "reckit-stdin-")
        let path = dir + "/reckit-stdin-\(getpid()).csv"
        guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path)
        else {
            throw RecOPEError.cannotOpen(file: path, reason: "cannot create a temporary copy of \(label)")
        }
        do {
            defer { try? out.close() }
            let fd: Int32
            do { fd = try FileInput.open(logs) } catch {
                throw RecOPEError.cannotOpen(file: label, reason: error.reason)
            }
            defer { if fd != STDIN_FILENO { close(fd) } }
            var bytes = [UInt8]()
            while true {
                bytes.removeAll(keepingCapacity: true)
                let n: Int
                do { n = try FileInput.read(fd, into: &bytes, count: 4 << 20, path: label) } catch {
                    throw RecOPEError.cannotOpen(file: label, reason: error.reason)
                }
                if n == 0 { break }
                do { try out.write(contentsOf: bytes) } catch {
                    throw RecOPEError.cannotWrite(
                        file: path, reason: "the temporary copy of \(label): \(error.localizedDescription)")
                }
            }
        } catch {
            unlink(path)
            throw error
        }
        return path
    }

    /// A trained model's policies, one state per distinct history (in memory).
    func runModels(columns: LogColumns, settings: EvaluationSettings) throws -> OfflineABReport {
        var data = try LoggedData.load(csv: logs, columns: columns)
        var originalItems = [Int]()
        (data, originalItems) = data.compactingItems()
        // In Int: a logged position of 2³¹ − 1 is valid input, its depth is not an Int32.
        let deepest = Int(data.positions.max() ?? -1) + 1
        if k == nil && deepest > 10_000 {
            throw RecOPEError.malformedFile(
                file: logs, line: nil,
                message: "the deepest logged position is \(deepest); "
                    + "a model's policies are evaluated over at most 10000 positions (set --k)")
        }
        let depth = k ?? deepest
        var policies = [TargetPolicy]()
        try runRL {
            for path in targetModel {
                let model = try SequentialRecommender.load(from: path).model
                let histories = data.contextKeys.map {
                    $0.split(whereSeparator: { $0 == " " || $0 == ";" }).map(String.init)
                }
                for spec in serving.isEmpty ? ["greedy"] : serving {
                    let rule = try ServingRule.parse(spec)
                    let (marg, unknown) = try model.servingMarginals(
                        histories: histories, candidateKeys: originalItems.map(String.init), rule: rule, k: depth)
                    if unknown > 0 && spec == (serving.first ?? "greedy") {
                        stderrLine(
                            "warning: \(unknown) history items are not in the model's catalog and were left out of the states"
                        )
                    }
                    policies.append(
                        TargetPolicy(name: "\(URL(fileURLWithPath: path).lastPathComponent) \(spec)", marginals: marg))
                }
            }
        }
        return try OfflineEvaluation.evaluate(
            logs: data, policies: policies, targetStates: policies.map { _ in data.contexts },
            logging: nil, loggingState: nil, settings: settings)
    }
}
