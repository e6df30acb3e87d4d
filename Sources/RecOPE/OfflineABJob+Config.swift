import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension OfflineABJob {
    /// The keys a job's JSON configuration takes (the C ABI's and the Python package's form of
    /// `reckit offline-ab`'s options).
    public static let configKeys: Set<String> = [
        "logs", "format", "columns", "row_key", "targets", "logging", "caps", "bootstrap", "seed", "item_features",
        "piece_groups", "reward_models", "k", "method", "simulations", "shrinkage", "sub_gaussian", "slope",
        "slope_delta", "mips_embeddings", "interval", "weight_bound", "balanced_ipw",
    ]

    /// A job from its JSON configuration: `logs` (a CSV path), `format` (`obd` or `csv`), `columns`
    /// (for csv: the `--columns` mapping), `row_key`, `targets` (a list; each a spec file's path, a
    /// spec object, or `{"name": ..., "spec": path or object}`), `logging` (a path or a spec),
    /// `caps`, `bootstrap`, `seed`, `item_features` (a CSV path; for obd the default is
    /// `item_context.csv` beside the log), `piece_groups`, `reward_models`, `k`, `method`
    /// (`exact` or `mc`), `simulations`, `shrinkage` (DRos's λ list; `"inf"` allowed),
    /// `sub_gaussian` (λ list in [0, 1]), `slope` (true: SLOPE tuning), `slope_delta`, `mips_embeddings` (an item CSV whose
    /// categorical columns are MIPS's embedding), `balanced_ipw` (balanced IPW's classifier C). Relative paths resolve against `base`. With `logsGiven`
    /// (the rows are in memory, `rows`, and this names them) the configuration has no `logs`.
    /// - Throws: `RecOPEError` naming `source` and the key that is wrong (an unknown key too).
    public static func parse(config data: Data, source: String, base: URL, logsGiven: String? = nil)
        throws(RecOPEError) -> OfflineABJob
    {
        func bad(_ m: String) -> RecOPEError { .malformedFile(file: source, line: nil, message: m) }
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw .malformedFile(file: source, line: error.line, message: "not valid JSON: \(error.message)")
        }
        guard let c = root.object else { throw bad("the configuration must be a JSON object") }
        if let unknown = c.keys.filter({ !configKeys.contains($0) }).sorted().first {
            throw bad("unknown key \"\(clipped(unknown))\" (it takes: \(configKeys.sorted().joined(separator: ", ")))")
        }
        func path(_ p: String) -> String { p.hasPrefix("/") ? p : base.appendingPathComponent(p).path }
        func string(_ key: String) throws(RecOPEError) -> String? {
            guard let v = c[key], v != .null else { return nil }
            guard let s = v.string else { throw bad("\"\(key)\" must be a string") }
            return s
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(RecOPEError) -> Int? {
            guard let v = c[key], v != .null else { return nil }
            guard case .number(let d, let exact) = v, let i = exact, range.contains(Int(i)), Double(i) == d else {
                throw bad("\"\(key)\" must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return Int(i)
        }
        func policy(_ v: JSONValue, what: String) throws(RecOPEError) -> (any RankingPolicy, String) {
            if let p = v.string {
                let full = path(p)
                let policy = try PolicySpec.load(full)
                return (policy, "\(policy.name) (\(URL(fileURLWithPath: full).lastPathComponent))")
            }
            guard let o = v.object else { throw bad("\(what) must be a spec file's path or a spec object") }
            do {
                let p = try PolicySpec.build(o, file: "\(source): \(what)", base: base)
                return (p, p.name)
            } catch {
                switch error {
                case .invalidParameter(let m), .unsupported(let m):
                    throw .malformedFile(file: "\(source): \(what)", line: nil, message: m)
                default: throw error
                }
            }
        }

        let logPath: String
        if let given = logsGiven {
            if c["logs"] != nil && c["logs"] != .null { throw bad("\"logs\" and rows in memory: give one") }
            logPath = given
        } else {
            guard let logs = try string("logs") else { throw bad("missing \"logs\" (the log's path)") }
            logPath = path(logs)
        }
        let format = try string("format") ?? "obd"
        guard format == "obd" || format == "csv" else {
            throw bad("\"format\" must be obd or csv, got '\(clipped(format))'")
        }
        var columns: LogColumns
        if format == "obd" {
            if c["columns"] != nil && c["columns"] != .null { throw bad("\"columns\" goes with format csv") }
            columns = .openBanditDataset
        } else {
            guard let spec = try string("columns") else { throw bad("format csv needs \"columns\"") }
            columns = try LogColumns.parse(spec)
        }
        if let key = try string("row_key") { columns.rowKey = key }

        let list: [JSONValue]
        let targetColumns = columns.slateProbabilities.keys.filter(\.isTarget)
        if columns.slate != nil, !targetColumns.isEmpty {
            // The log's target_* columns are the target.
            for key in ["targets", "logging"] where c[key] != nil && c[key] != .null && c[key] != .array([]) {
                throw bad(
                    "a slate log with target_* columns is evaluated from them: leave out \"\(key)\" (or the columns)")
            }
            list = []
        } else {
            guard let l = c["targets"]?.array, !l.isEmpty else {
                throw bad("\"targets\" must be a non-empty list of policy specs (paths or objects)")
            }
            list = l
        }
        var targets = [Target]()
        for (i, t) in list.enumerated() {
            let what = "targets[\(i)]"
            if let o = t.object, o["spec"] != nil {
                if let extra = o.keys.filter({ $0 != "name" && $0 != "spec" }).sorted().first {
                    throw bad("\(what): unknown key \"\(clipped(extra))\" next to \"spec\" (it takes name and spec)")
                }
                let (p, defaultName) = try policy(o["spec"]!, what: what)
                if let n = o["name"], n.string == nil { throw bad("\(what): \"name\" must be a string") }
                targets.append(Target(name: o["name"]?.string ?? defaultName, policy: p))
            } else {
                let (p, name) = try policy(t, what: what)
                targets.append(Target(name: name, policy: p))
            }
        }
        let names = targets.map(\.name)
        if Set(names).count < names.count {
            // Names must tell the report's policies apart: number the repeated ones.
            var seen = [String: Int]()
            for i in targets.indices where names.filter({ $0 == names[i] }).count > 1 {
                seen[names[i], default: 0] += 1
                targets[i].name += " #\(seen[names[i]]!)"
            }
        }
        let logging = try c["logging"].flatMap { (v: JSONValue) throws(RecOPEError) in
            v == .null ? nil : try policy(v, what: "logging").0
        }

        var s = EvaluationSettings()
        if let caps = c["caps"], caps != .null {
            guard let a = caps.array, !a.isEmpty else { throw bad("\"caps\" must be a non-empty list of numbers") }
            s.caps = []
            for v in a {
                guard let x = v.number, x > 0, x.isFinite else {
                    throw bad("\"caps\" values must be positive and finite numbers")
                }
                s.caps.append(x)
            }
        }
        func numbers(_ key: String, _ ok: (Double) -> Bool, _ what: String) throws(RecOPEError) -> [Double] {
            guard let v = c[key], v != .null else { return [] }
            guard let a = v.array else { throw bad("\"\(key)\" must be a list of numbers") }
            var out = [Double]()
            for x in a {
                guard let d = x.number ?? (x.string == "inf" ? .infinity : nil), ok(d) else {
                    throw bad("\"\(key)\" values must be \(what)")
                }
                out.append(d)
            }
            return out
        }
        s.shrinkage = try numbers("shrinkage", { $0 > 0 }, "positive numbers (or \"inf\")")
        s.subGaussian = try numbers("sub_gaussian", { $0 >= 0 && $0 <= 1 }, "numbers in [0, 1]")
        if let v = c["slope"], v != .null {
            guard case .bool(let b) = v else { throw bad("\"slope\" must be true or false") }
            s.slope = b
        }
        if let v = c["slope_delta"], v != .null {
            guard let d = v.number, d > 0, d < 1 else { throw bad("\"slope_delta\" must be a number in (0, 1)") }
            s.slopeDelta = d
        }
        if let v = c["interval"], v != .null {
            switch v.string {
            case "auto": break
            case "empirical-likelihood": s.likelihood = .reported
            default: throw bad("\"interval\" must be \"auto\" or \"empirical-likelihood\"")
            }
        }
        if let v = c["weight_bound"], v != .null {
            guard let d = v.number, d > 1, d.isFinite else {
                throw bad("\"weight_bound\" must be a finite number above 1")
            }
            guard s.likelihood != nil else {
                throw bad("\"weight_bound\" goes with \"interval\": \"empirical-likelihood\"")
            }
            s.weightBound = d
        }
        if let v = c["balanced_ipw"], v != .null {
            guard let d = v.number, d > 0, d.isFinite else {
                throw bad("\"balanced_ipw\" must be a finite number above 0 (the classifier's C)")
            }
            s.balanced = d
        }
        s.bootstrap = try integer("bootstrap", 0...100_000) ?? 1000
        if let v = c["seed"], v != .null {
            guard case .number(let d, let exact) = v, let i = exact, i >= 0, Double(i) == d else {
                throw bad("\"seed\" must be a non-negative integer")
            }
            s.seed = UInt64(i)
        }
        if let v = c["reward_models"], v != .null {
            guard case .bool(let b) = v else { throw bad("\"reward_models\" must be true or false") }
            s.rewardModels = b
        }
        let sibling = URL(fileURLWithPath: logPath).deletingLastPathComponent().appendingPathComponent(
            "item_context.csv"
        ).path
        if let f = try string("item_features") {
            s.itemFeatures = try ItemFeatures.load(csv: path(f))
        } else if format == "obd" && FileManager.default.fileExists(atPath: sibling) {
            s.itemFeatures = try ItemFeatures.load(csv: sibling)
        }
        if let f = try string("mips_embeddings") { s.itemEmbeddings = try ItemFeatures.load(csv: path(f)) }
        if let g = try string("piece_groups") {
            s.pieceGroupings = try g.split(separator: ",").map { (g: Substring) throws(RecOPEError) in
                try PieceGrouping.parse(String(g))
            }
        }
        let depth = try integer("k", 1...10_000)
        let method = try string("method") ?? "exact"
        let marginals: Marginals
        switch method {
        case "exact":
            if c["simulations"] != nil && c["simulations"] != .null { throw bad("\"simulations\" goes with method mc") }
            marginals = .exact
        case "mc": marginals = .monteCarlo(simulations: try integer("simulations", 1...1_000_000_000) ?? 1_000_000)
        default: throw bad("\"method\" must be exact or mc, got '\(clipped(method))'")
        }
        var job = OfflineABJob(
            logs: logPath, columns: columns, targets: targets, logging: logging, settings: s, depth: depth,
            marginals: marginals)
        if case .monteCarlo(let n) = marginals { job.slateSimulations = n }
        return job
    }
}
