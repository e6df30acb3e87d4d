import ArgumentParser
import Foundation
import RecKit

/// `reckit offline-ab`: estimate target policies' click rates from logs of a running policy.
struct OfflineAB: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offline-ab",
        abstract: "Offline A/B test: estimate target ranking policies' click rates from logged data (IS, CIS, NCIS, pieceNCIS, pointNCIS, SNIPS, DM, DR, SwitchDR).",
        discussion: """
        Logs: --format obd reads the Open Bandit Dataset CSV layout; --format csv reads any CSV with a
        header, mapped by --columns item=COL,position=COL,reward=COL[,propensity=COL][,time=COL][,context=A+B][,position_base=1].
        Propensities come from the log unless --logging gives the logging policy (needed for pointNCIS).
        Policies are JSON specs (see README). Results: a table on stdout, --json FILE (schema in README).
        """)

    @Option(help: "Logged data (CSV).") var logs: String
    @Option(help: "obd or csv.") var format: String = "obd"
    @Option(help: "Column mapping for --format csv.") var columns: String?
    @Option(help: "Logging policy spec (JSON); default: the logged propensities.") var logging: String?
    @Option(help: "Target policy spec (JSON); repeat for several.") var target: [String] = []
    @Option(help: "A trained model (reckit train checkpoint) as the target; repeat for several. Needs --history; the log's items are the model's raw item ids.")
    var targetModel: [String] = []
    @Option(help: "With --target-model: the column holding each row's session history (raw item ids separated by spaces, oldest first).")
    var history: String?
    @Option(help: "With --target-model: how the model serves: greedy, epsilon:EPS[:TAIL_SHARE[:HEAD_FRACTION]], pl:TEMPERATURE; repeat for several.")
    var serving: [String] = []
    @Option(help: "Weight caps; repeat for several.") var cap: [Double] = [2, 5, 10]
    @Option(help: "Bootstrap resamples (0: normal intervals only).") var bootstrap: Int = 1000
    @Option(help: "Item features CSV for the logistic reward model (default for --format obd: item_context.csv beside the log).")
    var itemFeatures: String?
    @Option(help: "pieceNCIS groupings, comma-separated: position, value-model[:BUCKETS], context:COLUMN.")
    var pieceGroups: String = "position,value-model"
    @Option(help: "Seed (bootstrap and Monte Carlo marginals).") var seed: UInt64 = 1
    @Option(help: "Positions evaluated (default: the deepest logged position).") var k: Int?
    @Option(help: "Marginals: exact or mc.") var method: String = "exact"
    @Option(help: "Monte Carlo marginals: simulated rankings.") var simulations: Int = 1_000_000
    @Option(help: "Write the report as JSON to this file (atomically).") var json: String?
    @Option(help: "Write an HTML report with an interval chart (inline SVG) to this file (atomically).") var html: String?
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard ["obd", "csv"].contains(format) else { throw ValidationError("--format must be obd or csv, got '\(format)'") }
        guard format == "obd" || columns != nil else { throw ValidationError("--format csv needs --columns") }
        guard !target.isEmpty || !targetModel.isEmpty else { throw ValidationError("give at least one --target policy spec or --target-model") }
        if !targetModel.isEmpty {
            guard format == "csv", history != nil else { throw ValidationError("--target-model needs --format csv and --history COLUMN") }
            guard target.isEmpty, logging == nil else { throw ValidationError("--target-model compares against the logged propensities: leave out --target and --logging") }
        }
        guard ["exact", "mc"].contains(method) else { throw ValidationError("--method must be exact or mc") }
        guard bootstrap >= 0 else { throw ValidationError("--bootstrap must be at least 0") }
        for c in cap where !(c > 0) { throw ValidationError("--cap values must be positive, got \(c)") }
        if let k, k < 1 { throw ValidationError("--k must be at least 1") }
    }

    func run() throws {
        try threading.apply()
        try runReporting {
            let t0 = DispatchTime.now().uptimeNanoseconds
            var cols = format == "obd" ? LogColumns.openBanditDataset : try LogColumns.parse(columns!)
            if let h = history { cols.context = [h] }
            var data = try LoggedData.load(csv: logs, columns: cols)
            var originalItems = [Int]()
            if !targetModel.isEmpty { (data, originalItems) = data.compactingItems() }
            let depth = k ?? Int(data.positions.max()! + 1)
            var settings = EvaluationSettings()
            settings.caps = cap
            settings.bootstrap = bootstrap
            settings.seed = seed
            let sibling = URL(fileURLWithPath: logs).deletingLastPathComponent().appendingPathComponent("item_context.csv").path
            if let f = itemFeatures ?? (format == "obd" && FileManager.default.fileExists(atPath: sibling) ? sibling : nil) {
                settings.itemFeatures = try ItemFeatures.load(csv: f)
            }
            settings.pieceGroupings = try pieceGroups.split(separator: ",").map { (raw: Substring) throws(RecOPEError) -> PieceGrouping in
                let g = raw.trimmingCharacters(in: .whitespaces)
                if g == "position" { return .position }
                if g.hasPrefix("value-model") {
                    let b = g.split(separator: ":").dropFirst().first.flatMap { Int($0) } ?? 5
                    guard b >= 1 else { throw .invalidParameter("--piece-groups: value-model buckets must be at least 1") }
                    return .valueModel(buckets: b)
                }
                if g.hasPrefix("context:") { return .contextFeature(String(g.dropFirst(8))) }
                throw .invalidParameter("--piece-groups: unknown grouping '\(g)' (position, value-model[:N], context:COLUMN)")
            }
            func marginals(_ p: any RankingPolicy) throws(RecOPEError) -> RankMarginals {
                method == "exact" ? try p.exactMarginals(k: min(depth, p.itemCount))
                    : try p.monteCarloMarginals(k: min(depth, p.itemCount), simulations: simulations, seed: seed)
            }
            let loggingMarginals = try logging.map { (path: String) throws(RecOPEError) in try marginals(try PolicySpec.load(path)) }
            var evaluations = [PolicyEvaluation]()
            for spec in target {
                let p = try PolicySpec.load(spec)
                let name = "\(p.name) (\(URL(fileURLWithPath: spec).lastPathComponent))"
                evaluations.append(try OfflineEvaluation.evaluate(logs: data, target: try marginals(p), policy: name,
                                                                  logging: loggingMarginals, settings: settings))
            }
            for path in targetModel {
                try runRL {
                    evaluations += try modelEvaluations(path, data: data, originalItems: originalItems, depth: depth, settings: settings)
                }
            }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            printTable(data: data, evaluations: evaluations)
            stderrLine("offline A/B of \(evaluations.count) policies on \(data.count) rows in " + String(format: "%.0f ms", ms)
                       + " (\(method) marginals, \(bootstrap) resamples, \(Threading.count) threads)")
            for e in evaluations { for w in e.warnings { stderrLine("warning: \(w)") } }
            if let json { try AtomicFile.write(reportJSON(data: data, evaluations: evaluations), to: json) }
            if let html { try AtomicFile.write(Data(ReportHTML.render(data: data, evaluations: evaluations).utf8), to: html) }
        }
    }

    /// Evaluations of a trained model served by each --serving rule: one policy per distinct
    /// history (per-row policy states).
    func modelEvaluations(_ path: String, data: LoggedData, originalItems: [Int], depth: Int, settings: EvaluationSettings) throws -> [PolicyEvaluation] {
        let model = try SequentialRecommender.load(from: path).model
        let histories = data.contextKeys.map { $0.split(whereSeparator: { $0 == " " || $0 == ";" }).map(String.init) }
        var out = [PolicyEvaluation]()
        for spec in serving.isEmpty ? ["greedy"] : serving {
            let rule = try ServingRule.parse(spec)
            let (marg, unknown) = try model.servingMarginals(histories: histories, candidateKeys: originalItems.map(String.init), rule: rule, k: depth)
            if unknown > 0 && spec == (serving.first ?? "greedy") {
                stderrLine("warning: \(unknown) history items are not in the model's catalog and were left out of the states")
            }
            let name = "\(URL(fileURLWithPath: path).lastPathComponent) \(spec)"
            out.append(try OfflineEvaluation.evaluate(logs: data, targets: marg, targetState: data.contexts, policy: name,
                                                      logging: nil, loggingState: nil, settings: settings))
        }
        return out
    }

    func fmtCap(_ c: Double?) -> String { c.map { $0.isInfinite ? "inf" : String(format: "%g", $0) } ?? "-" }

    func printTable(data: LoggedData, evaluations: [PolicyEvaluation]) {
        let logged = data.meanReward
        print("logs: \(data.source) (\(data.count) rows), logged mean reward " + String(format: "%.6f", logged))
        for e in evaluations {
            print("")
            print("policy: \(e.policy)")
            print("  estimator                        cap    value       95% interval                 uplift vs logged")
            for s in e.estimates {
                let label = s.estimator + (s.groups.map { " by " + $0 } ?? "") + (s.model.map { " (" + $0 + ")" } ?? "")
                let head = "  " + label.padding(toLength: 33, withPad: " ", startingAt: 0) + fmtCap(s.cap).padding(toLength: 6, withPad: " ", startingAt: 0)
                print(head + String(format: " %.6f   [%.6f, %.6f] ", s.value, s.ciLow, s.ciHigh)
                      + (s.ciMethod == "normal" ? "normal   " : "bootstrap") + String(format: "  %+.2f%%", 100 * (s.value - logged) / logged))
            }
            let d = e.diagnostics
            print(String(format: "  diagnostics: ESS %.0f of %d, max weight %.2f, mean weight %.3f, unsupported mass %.3g",
                         d.effectiveSampleSize, data.count, d.maxWeight, d.meanWeight, d.unsupportedMass))
            print("  caps:      " + d.capTable.map { fmtCap($0.cap).padding(toLength: 9, withPad: " ", startingAt: 0) }.joined())
            print("  CIS:       " + d.capTable.map { String(format: "%-9.6f", $0.cis) }.joined())
            print("  NCIS:      " + d.capTable.map { String(format: "%-9.6f", $0.ncis) }.joined())
        }
    }

    func reportJSON(data: LoggedData, evaluations: [PolicyEvaluation]) -> Data {
        func num(_ x: Double) -> Any { x.isFinite ? x : NSNull() }
        let estimates: [[String: Any]] = evaluations.flatMap { e in e.estimates.map { s in [
            "policy": s.policy, "estimator": s.estimator, "cap": s.cap.map { num($0) } ?? NSNull(),
            "groups": s.groups ?? NSNull(), "model": s.model ?? NSNull(), "value": num(s.value), "ci_low": num(s.ciLow), "ci_high": num(s.ciHigh),
            "ci_method": s.ciMethod, "normal_ci_low": num(s.normalLow), "normal_ci_high": num(s.normalHigh),
            "uplift": num(s.value - data.meanReward),
        ] } }
        var diagnostics = [String: Any]()
        for e in evaluations {
            let d = e.diagnostics
            diagnostics[e.policy] = [
                "effective_sample_size": num(d.effectiveSampleSize), "max_weight": num(d.maxWeight), "mean_weight": num(d.meanWeight),
                "unsupported_mass": num(d.unsupportedMass),
                "share_above_cap": d.shareAboveCap.sorted { $0.key < $1.key }.map { ["cap": $0.key, "share": $0.value] },
                "cap_table": d.capTable.map { ["cap": $0.cap.isFinite ? $0.cap as Any : "inf", "cis": num($0.cis), "ncis": num($0.ncis)] },
            ] as [String: Any]
        }
        let report: [String: Any] = [
            "logs": data.source, "rows": data.count, "logged_mean": data.meanReward,
            "estimates": estimates, "diagnostics": diagnostics,
            "warnings": evaluations.flatMap { $0.warnings },
        ]
        return (try? JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    }
}
