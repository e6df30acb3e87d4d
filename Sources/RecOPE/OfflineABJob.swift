import RecCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An offline A/B test of ranking policies on a log file, as `reckit offline-ab` runs it (and the C
/// ABI and the Python package): the target policies' marginals at the evaluated depth, the
/// streaming evaluator over the log's rows (read again for the reward-model passes, from memory
/// when the first pass's rows fit 64 MB), one shard's pass (`runPartial`), or the whole report.
public struct OfflineABJob: Sendable {
    /// How rank marginals are computed.
    public enum Marginals: Sendable, Equatable {
        /// Exact (Gauss–Legendre quadrature).
        case exact
        /// Monte Carlo with this many rankings from the settings' seed.
        case monteCarlo(simulations: Int)
    }

    /// A target policy and the name the report gives it.
    public struct Target: Sendable {
        /// The report's name for it.
        public var name: String
        /// The policy.
        public var policy: any RankingPolicy
        /// A named target.
        public init(name: String, policy: any RankingPolicy) {
            self.name = name
            self.policy = policy
        }
    }

    /// The log (a CSV file).
    public var logs: String
    /// Its columns.
    public var columns: LogColumns
    /// The policies to evaluate.
    public var targets: [Target]
    /// The logging policy; nil: the logged propensities.
    public var logging: (any RankingPolicy)?
    /// Estimator settings (caps, bootstrap, seed, reward models, item features, groupings).
    public var settings: EvaluationSettings
    /// Positions evaluated; nil: the deepest logged position (a quick first read).
    public var depth: Int?
    /// How marginals are computed.
    public var marginals: Marginals
    /// The rows in memory, read instead of the `logs` file when set.
    public var rows: LogArrays?
    /// A slate log's Monte Carlo rankings for the slate and cascade probabilities of targets
    /// without a closed form (Thompson sampling, epsilon-greedy); nil: IIPS and PI only for them.
    public var slateSimulations: Int? = 1_000_000

    /// A job over `logs` with the default settings.
    public init(
        logs: String, columns: LogColumns, targets: [Target], logging: (any RankingPolicy)? = nil,
        settings: EvaluationSettings = EvaluationSettings(), depth: Int? = nil, marginals: Marginals = .exact
    ) {
        self.logs = logs
        self.columns = columns
        self.targets = targets
        self.logging = logging
        self.settings = settings
        self.depth = depth
        self.marginals = marginals
    }

    /// The deepest logged position + 1 (a quick read of the position column; the other columns
    /// are checked by the passes, which report a log's first bad value).
    /// - Throws: `RecOPEError` for an unreadable log, a bad position, or a log without rows.
    public func deepestPosition() throws(RecOPEError) -> Int {
        if let rows { return rows.depth }
        let deepest = try LogReader.deepestPosition(path: logs, columns: columns, parallelism: settings.parallelism)
        guard deepest > 0 else { throw .malformedFile(file: logs, line: nil, message: "the log has no rows") }
        return deepest
    }

    /// A policy's marginals at `depth` (at most its item count).
    func marginals(_ p: any RankingPolicy, depth: Int) throws(RecOPEError) -> RankMarginals {
        switch marginals {
        case .exact: return try p.exactMarginals(k: min(depth, p.itemCount))
        case .monteCarlo(let n):
            return try p.monteCarloMarginals(k: min(depth, p.itemCount), simulations: n, seed: settings.seed)
        }
    }

    /// The evaluator: every policy's marginals at `depth`.
    public func evaluator(depth: Int) throws(RecOPEError) -> OffPolicyEvaluator {
        let loggingMarginals = try logging.map { (p: any RankingPolicy) throws(RecOPEError) in
            try marginals(p, depth: depth)
        }
        var policies = [TargetPolicy]()
        for t in targets {
            policies.append(TargetPolicy(name: t.name, marginals: [try marginals(t.policy, depth: depth)]))
        }
        return try OffPolicyEvaluator(targets: policies, logging: loggingMarginals.map { [$0] }, settings: settings)
    }

    /// The report over every row of the log (`progress` hears each pass's name).
    public func run(progress: ((String) -> Void)? = nil) throws(RecOPEError) -> OfflineABReport {
        if columns.slate != nil { return try slateShard(rewardModel: settings.rewardModels).report() }
        let d: Int
        if let depth { d = depth } else { d = try deepestPosition() }
        return try runRows(depth: d, progress: progress)
    }

    /// A slate log's sums: the slate estimators, the target its target_* columns or the target
    /// policies (with a `logging` policy, uniform or Plackett–Luce, PI too); `rewardModel` adds
    /// Cascade-DR (a first pass fits its click-rate model). A shard (`partial`) counts the model's
    /// cells in its first pass instead and adds Cascade-DR in a second pass `after` the merged
    /// first (`SlateEvaluation.shard`).
    public func slateShard(rewardModel: Bool = false, partial: Bool = false, after: SlateShard? = nil)
        throws(RecOPEError) -> SlateShard
    {
        guard settings.balanced == nil else {
            throw .invalidParameter("balanced_ipw: balanced IPW is not a slate estimator; leave it out for a slate log")
        }
        var slateTargets = [SlateTarget]()
        if !targets.isEmpty {
            let d: Int
            if let depth { d = depth } else { d = try deepestPosition() }
            for t in targets {
                slateTargets.append(
                    SlateTarget(name: t.name, policy: t.policy, marginals: try marginals(t.policy, depth: d)))
            }
        }
        return try SlateEvaluation.shard(
            source: rows.map { .rows($0) } ?? .file(logs), columns: columns, targets: slateTargets, depth: depth,
            bootstrap: settings.bootstrap,
            level: settings.level, seed: settings.seed, parallelism: settings.parallelism, rewardModel: rewardModel,
            logging: logging, slateSimulations: slateSimulations, partial: partial, after: after)
    }

    func runRows(depth d: Int, progress: ((String) -> Void)?) throws(RecOPEError) -> OfflineABReport {
        let e = try evaluator(depth: d)
        // Only a multi-pass evaluation reads the rows again.
        var cache = ChunkCache(budgetBytes: settings.rewardModels ? 64 << 20 : 0)
        let logs = self.logs
        let columns = self.columns
        let rows = self.rows
        let readAll = { (acc: inout OffPolicyAccumulator) throws(RecOPEError) in
            if let rows {
                try rows.forEachChunk { (c) throws(RecOPEError) in try acc.add(c) }
            } else {
                try cache.read(logs, columns: columns, into: &acc)
            }
        }
        return try e.evaluate(progress: { progress?("\($0)") }, readAll)
    }

    /// One shard's pass: the state after adding this log's rows to `after` (the merged state of
    /// the previous pass) or, without it, to the first pass's empty state. `depth` must be set
    /// (every shard evaluates the same positions).
    /// - Throws: `.invalidParameter` without a depth or when `after` has no pass left.
    public func runPartial(after: OffPolicyState? = nil) throws(RecOPEError) -> OffPolicyState {
        guard columns.slate == nil else {
            throw .invalidParameter("a slate log's shard: use slateShard() (one pass, merged in file order)")
        }
        guard let depth else {
            throw .invalidParameter("a shard's pass needs the depth (k): every shard must evaluate the same positions")
        }
        let e = try evaluator(depth: depth)
        let state = after ?? e.initialState()
        guard state.pass != .done else {
            throw .invalidParameter("the state's passes are all done: merge it for the report")
        }
        var acc = try e.accumulator(for: state)
        if let rows {
            try rows.forEachChunk { (c) throws(RecOPEError) in try acc.add(c) }
        } else {
            let reader = try LogReader(path: logs, columns: columns)
            while let c = try reader.next() { try acc.add(c) }
        }
        return acc.finishedState()
    }

    /// Chunks of the first pass kept for the later ones while they fit a memory budget; a
    /// larger log is read again from its file on every pass.
    struct ChunkCache {
        let budgetBytes: Int
        var chunks: [LogChunk] = []
        var complete = false
        var overBudget = false

        init(budgetBytes: Int) { self.budgetBytes = budgetBytes }

        mutating func read(_ path: String, columns: LogColumns, into acc: inout OffPolicyAccumulator)
            throws(RecOPEError)
        {
            if complete {
                for c in chunks { try acc.add(c) }
                return
            }
            let reader = try LogReader(path: path, columns: columns)
            var bytes = 0
            while let c = try reader.next() {
                try acc.add(c)
                guard !overBudget else { continue }
                bytes +=
                    c.count * (48 + 4 * c.contexts.count)
                    + c.contexts.reduce(0) { $0 + $1.values.reduce(0) { $0 + 16 + $1.utf8.count } }
                if bytes > budgetBytes {
                    overBudget = true
                    chunks = []
                } else {
                    chunks.append(c)
                }
            }
            complete = !overBudget
        }
    }
}
