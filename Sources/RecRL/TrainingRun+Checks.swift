import RecCore

// Checks before a run: settings, the selection metric, what a resumed run must share.
extension TrainingRun {
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
        if st.objective.usesBatchTargets && !st.sharedNegatives {
            throw bad(
                st.objective.sampler?.usesBatch == true
                    ? "the \(st.objective.sampler!) sampler's negatives are the batch's: they are shared (not per transition)"
                    : "bpr-max's negatives are the batch's targets and a shared list: they are shared (not per transition)"
            )
        }
        try m.validate()
        do {
            try MemoryBudget.check(
                "training \(m.items) items × d=\(m.dim), batch \(st.batch), length \(m.length)",
                bytes: m.trainingBytes(batch: st.batch, negatives: st.negatives))
        } catch { throw bad(error.description) }
        if let selectBy { _ = try SelectionMetric(parsing: selectBy) }
        guard gamma >= 0 && gamma < 1 else { throw bad("discount must be in [0, 1), got \(gamma)") }
        guard validateEvery >= 0 else { throw bad("validation interval must be at least 0, got \(validateEvery)") }
    }

    /// The metric `selectBy` names (default: `SelectionMetric.default`), checked against what the
    /// data can give.
    /// - Throws: `.invalidParameter` for a metric the data cannot give, listing the valid ones.
    public func selectionMetric(eventTypes: [String]) throws(RecRLError) -> SelectionMetric {
        let cutoffs = RankingMetrics(eventTypes: eventTypes).cutoffs
        guard let name = selectBy else { return .default(eventTypes: eventTypes) }
        let valid = eventTypes.flatMap { e in cutoffs.flatMap { ["\(e)_hr@\($0)", "\(e)_ndcg@\($0)"] } }
        let unknown = RecRLError.invalidParameter(
            "unknown selection metric '\(clipped(name))' (this data gives: \(valid.joined(separator: ", ")))")
        let metric: SelectionMetric
        do { metric = try SelectionMetric(parsing: name) } catch { throw unknown }
        guard eventTypes.contains(metric.event) && cutoffs.contains(metric.cutoff) else { throw unknown }
        return metric
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
        // Recorded for Adagrad only: Adam's runs resume from checkpoints written before it existed.
        if s.optimizer != .adam { fields["optimizer"] = "\(s.optimizer)" }
        return fields
    }
}
