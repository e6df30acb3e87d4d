import RecCore
import RecIO
import RecNN

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension EventDataSpec {
    /// The keys of the data options in a JSON configuration (`reckit train`'s flags in
    /// snake_case).
    public static let configKeys: Set<String> = [
        "data", "format", "buys", "columns", "event_map", "rating_map", "min_item_count", "min_session_length", "split",
        "split_seed", "length",
    ]
}

extension TrainingJob {
    /// The keys a training job's JSON configuration takes: the data's (`EventDataSpec.configKeys`)
    /// and `algo`, `epochs`, `batch`, `lr`, `lr2`, `encoder`, `dim`, `heads`, `blocks`, `layout`,
    /// `dropout`, `attention_projection`, `gamma`, `reward`, `price_scaling`, `negatives`,
    /// `warmup`, `validate_every`, `select`, `seed`, `batch_parts`, `out`, `overwrite`, `q_head`,
    /// `objective`, `sampler`, `gbce_t`, `elu`, `bpr_reg`, `negatives_per` (`batch` or
    /// `transition`), `optimizer` (`adam` or `adagrad`), `momentum`. `algo` may be `gru4rec`
    /// (`TrainingMethod`): its recipe first, then the file's other keys.
    public static let configKeys: Set<String> = EventDataSpec.configKeys.union([
        "algo", "epochs", "batch", "lr", "lr2", "encoder", "dim", "heads", "blocks", "layout", "dropout",
        "attention_projection", "gamma", "reward", "price_scaling", "negatives", "warmup", "validate_every", "select",
        "seed", "batch_parts", "out", "overwrite", "q_head", "objective", "sampler", "gbce_t", "negatives_per",
        "elu", "bpr_reg", "optimizer", "momentum",
    ])

    /// A job from its JSON configuration (relative paths resolve against `base`).
    /// - Throws: `RecRLError.invalidParameter` naming `source` and the key that is wrong.
    public static func parse(config data: Data, source: String, base: URL, allowed: Set<String>? = nil)
        throws(RecRLError) -> TrainingJob
    {
        let c = try ConfigReader(data: data, source: source, base: base, allowed: allowed ?? configKeys)
        var job = TrainingJob(data: try c.dataSpec())
        var method = TrainingMethod.sqn
        if let a = try c.string("algo") {
            method = try c.choice("algo", a, TrainingMethod.self)
            job.apply(method)
        }
        if let e = try c.string("encoder") {
            job.model.encoder = try c.choice("encoder", e, EncoderKind.self)
            if method == .gru4rec && job.model.encoder != .gru {
                throw .invalidParameter("\(source): encoder: gru4rec is the GRU encoder")
            }
        }
        if let l = try c.string("layout") { job.model.layout = try c.choice("layout", l, SASRec.Layout.self) }
        if let p = try c.string("price_scaling") {
            job.priceScaling = try c.choice("price_scaling", p, RewardTable.PriceScaling.self)
        }
        job.epochs = try c.integer("epochs", 1...100_000) ?? job.epochs
        job.settings.batch = try c.integer("batch", 1...1_000_000) ?? job.settings.batch
        job.settings.learningRate = Float(try c.number("lr", positive: true) ?? Double(job.settings.learningRate))
        job.settings.learningRate2 = Float(try c.number("lr2", positive: true) ?? Double(job.settings.learningRate2))
        job.model.dim = try c.integer("dim", 1...65_536) ?? job.model.dim
        job.model.heads = try c.integer("heads", 1...1024) ?? job.model.heads
        job.model.blocks = try c.integer("blocks", 1...1024) ?? job.model.blocks
        job.model.dropout = Float(try c.number("dropout") ?? Double(job.model.dropout))
        let optimizerName = try c.string("optimizer")
        let momentum = try c.number("momentum")
        if optimizerName != nil || momentum != nil {
            do {
                job.settings.optimizer = try OptimizerChoice.named(
                    optimizerName ?? (method == .gru4rec ? "adagrad" : "adam"), momentum: momentum.map(Float.init))
            } catch { throw .invalidParameter("\(source): \(error.description.replacing("--", with: ""))") }
        }
        job.model.attentionOutputProjection = try c.bool("attention_projection") ?? false
        job.gamma = Float(try c.number("gamma") ?? Double(job.gamma))
        job.reward = try c.string("reward")
        let negatives = try c.integer("negatives", 0...1_000_000)
        job.settings.negatives = negatives ?? job.settings.negatives
        // The sampler and t go with a sampled objective named in the same file (not ignored).
        let gru4rec = method == .gru4rec
        let objectiveName = try c.string("objective") ?? (gru4rec ? "bpr-max" : nil)
        if objectiveName == nil || objectiveName == "softmax" {
            for key in ["sampler", "gbce_t", "negatives_per", "elu", "bpr_reg"] where c.value(key) != nil {
                throw .invalidParameter(
                    "\(source): \(key): it goes with objective sampled-softmax or gbce (the file's objective is \(objectiveName ?? "not given: softmax"))"
                )
            }
        } else if objectiveName != "gbce" && c.value("gbce_t") != nil {
            throw .invalidParameter("\(source): gbce_t: it goes with objective gbce, not \(objectiveName!)")
        } else if objectiveName != "bpr-max", let key = ["elu", "bpr_reg"].first(where: { c.value($0) != nil }) {
            throw .invalidParameter("\(source): \(key): it goes with objective bpr-max, not \(objectiveName!)")
        }
        if let o = objectiveName {
            let sampler: NegativeSampler
            do {
                sampler = try NegativeSampler.parse(
                    try c.string("sampler") ?? (gru4rec && o == "bpr-max" ? "popularity:0.5" : "uniform"))
            } catch { throw .invalidParameter("\(source): sampler: \(error)") }
            do {
                job.settings.objective = try SupervisedObjective.named(
                    o, negatives: negatives, t: try c.number("gbce_t"), sampler: sampler, elu: try c.number("elu"),
                    regularization: try c.number("bpr_reg"))
                try job.settings.objective.validate(items: Int.max / 2)
            } catch { throw .invalidParameter("\(source): objective: \(error)") }
        }
        if let per = try c.string("negatives_per") {
            guard per == "batch" || per == "transition" else {
                throw .invalidParameter("\(source): negatives_per: '\(clipped(per))' is not batch or transition")
            }
            job.settings.sharedNegatives = per == "batch"
        }
        job.settings.warmupSteps = try c.integer("warmup", 0...Int(Int32.max))
        job.validateEvery = try c.integer("validate_every", 0...Int(Int32.max)) ?? job.validateEvery
        job.selectBy = try c.string("select")
        if let s = try c.integer("seed", 0...Int.max) { job.settings.seed = UInt64(s) }
        job.settings.batchParts = try c.integer("batch_parts", 1...1024) ?? job.settings.batchParts
        job.outputDirectory = try c.path("out")
        job.overwrite = try c.bool("overwrite") ?? false
        job.evaluateQHead = try c.bool("q_head") ?? false
        do { try job.modelConfig(items: 2).validate() } catch {
            throw .invalidParameter("\(source): \(error)")
        }
        return job
    }
}

/// Reads a flat JSON configuration object: unknown keys, types and ranges are errors naming the
/// source and the key.
struct ConfigReader {
    let object: [String: JSONValue]
    let source: String
    let base: URL

    init(data: Data, source: String, base: URL, allowed: Set<String>) throws(RecRLError) {
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw .invalidParameter("\(source):\(error.line): not valid JSON: \(error.message)")
        }
        guard let o = root.object else { throw .invalidParameter("\(source): the configuration must be a JSON object") }
        if let unknown = o.keys.filter({ !allowed.contains($0) }).sorted().first {
            throw .invalidParameter(
                "\(source): unknown key \"\(clipped(unknown))\" (it takes: \(allowed.sorted().joined(separator: ", ")))"
            )
        }
        (object, self.source, self.base) = (o, source, base)
    }

    func bad(_ key: String, _ what: String) -> RecRLError { .invalidParameter("\(source): \"\(key)\" \(what)") }

    func value(_ key: String) -> JSONValue? {
        guard let v = object[key], v != .null else { return nil }
        return v
    }

    func string(_ key: String) throws(RecRLError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.string else { throw bad(key, "must be a string") }
        return s
    }

    func path(_ key: String) throws(RecRLError) -> String? {
        try string(key).map { $0.hasPrefix("/") ? $0 : base.appendingPathComponent($0).path }
    }

    func bool(_ key: String) throws(RecRLError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw bad(key, "must be true or false") }
        return b
    }

    func integer(_ key: String, _ range: ClosedRange<Int>) throws(RecRLError) -> Int? {
        guard let v = value(key) else { return nil }
        guard case .number(let d, let exact) = v, let i = exact, Double(i) == d, range.contains(Int(i)) else {
            throw bad(key, "must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(i)
    }

    func number(_ key: String, positive: Bool = false) throws(RecRLError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.number, d.isFinite, !positive || d > 0 else {
            throw bad(key, positive ? "must be a positive number" : "must be a finite number")
        }
        return d
    }

    func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ raw: String, _ type: T.Type) throws(RecRLError)
        -> T
    where T.RawValue == String {
        guard let v = T(rawValue: raw) else {
            throw bad(
                key, "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), got '\(clipped(raw))'")
        }
        return v
    }

    /// The data options (`EventDataSpec.configKeys`).
    func dataSpec() throws(RecRLError) -> EventDataSpec {
        guard let data = try path("data") else {
            throw .invalidParameter("\(source): missing \"data\" (the event log)")
        }
        var d = EventDataSpec(data: data)
        if let f = try string("format") { d.format = try choice("format", f, EventLogFormat.self) }
        d.buys = try path("buys")
        if let c = try string("columns") { d.columns = try EventColumns.parse(c) }
        if let m = try string("event_map") { d.eventMap = try EventMapping.parse(m) }
        d.ratingMap = try string("rating_map") ?? d.ratingMap
        d.minItemCount = try integer("min_item_count", 1...Int(Int32.max)) ?? d.minItemCount
        d.minSessionLength = try integer("min_session_length", 1...Int(Int32.max)) ?? d.minSessionLength
        d.split = try path("split")
        if let s = try integer("split_seed", 0...Int.max) { d.splitSeed = UInt64(s) }
        d.length = try integer("length", 1...100_000) ?? d.length
        return d
    }
}
