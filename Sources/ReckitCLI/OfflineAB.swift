import ArgumentParser
import Foundation
import RecKit

/// `reckit offline-ab`: estimate target policies' click rates from logs of a running policy, in
/// one process or shard by shard (`--partial`, then `merge`).
struct OfflineAB: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offline-ab",
        abstract:
            "Offline A/B test: estimate target ranking policies' click rates from logged data (IS, CIS, NCIS, pieceNCIS, pointNCIS, SNIPS, DM, DR, SwitchDR, SNDR, DRos, sub-Gaussian, MIPS, BIPW; slate logs: SIPS, IIPS, RIPS, Cascade-DR, PI).",
        subcommands: [OfflineABRun.self, OfflineABMerge.self],
        defaultSubcommand: OfflineABRun.self)
}

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case obd, csv
}

enum MarginalsMethod: String, ExpressibleByArgument, CaseIterable {
    case exact, mc
}

/// Report outputs shared by a single run and a merge.
struct ReportOutput: ParsableArguments {
    @Option(help: "Write the report as JSON to this file (atomically).") var json: String?
    @Option(help: "Write an HTML report with an interval chart (inline SVG) to this file (atomically).") var html:
        String?

    func write(_ report: OfflineABReport) throws {
        printTable(report)
        for w in report.warnings { stderrLine("warning: \(w)") }
        for e in report.evaluations { for w in e.warnings { stderrLine("warning: \(w)") } }
        if let json {
            let (data, nonFinite) = try JSONOutput.encode(report, pretty: true, snakeCase: true, what: json)
            if let w = JSONOutput.warning(nonFinite, in: json) { stderrLine(w) }
            try AtomicFile.write(data, to: json)
        }
        if let html { try AtomicFile.write(Data(ReportHTML.render(report).utf8), to: html) }
    }

    static func fmtCap(_ c: Double?) -> String { c.map { $0.isInfinite ? "inf" : String(format: "%g", $0) } ?? "-" }

    func printTable(_ report: OfflineABReport) {
        let logged = report.loggedMean
        let slates = report.evaluations.allSatisfy { $0.estimates.allSatisfy(\.estimator.isSlate) }
        print(
            "logs: \(report.logs) (\(report.rows) rows), logged mean reward\(slates ? " per slate" : "") "
                + String(format: "%.6f", logged))
        for e in report.evaluations {
            print("")
            print("policy: \(e.policy)")
            print("  estimator                        cap    value       95% interval                 uplift vs logged")
            for s in e.estimates {
                let head =
                    "  " + s.label.padding(toLength: 33, withPad: " ", startingAt: 0)
                    + Self.fmtCap(s.cap).padding(toLength: 6, withPad: " ", startingAt: 0)
                print(
                    head + String(format: " %.6f   [%.6f, %.6f] ", s.value, s.interval.low, s.interval.high)
                        + OfflineAB.methodLabel(s.method) + "  " + ReportHTML.uplift(s.value, logged))
            }
            let d = e.diagnostics
            print(
                String(
                    format: "  diagnostics: ESS %.0f of %ld, max weight %.2f, mean weight %.3f, ",
                    d.effectiveSampleSize, report.rows, d.maxWeight, d.meanWeight)
                    + (d.unsupportedMass.map { String(format: "unsupported mass %.3g", $0) }
                        ?? (slates ? "(the first slate weighting's)" : "unsupported mass not computed (one pass)")))
            guard !d.capTable.isEmpty else { continue }
            print(
                "  caps:      "
                    + d.capTable.map { Self.fmtCap($0.cap).padding(toLength: 9, withPad: " ", startingAt: 0) }.joined())
            print("  CIS:       " + d.capTable.map { String(format: "%-9.6f", $0.cis) }.joined())
            print("  NCIS:      " + d.capTable.map { String(format: "%-9.6f", $0.ncis) }.joined())
        }
    }
}

/// `reckit offline-ab merge`: merges shards' states of one pass; prints the report when every
/// pass is done, else writes the next pass's state.
struct OfflineABMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract:
            "Merge the states shards wrote with --partial; print the report, or write the next pass's state (--output).",
        discussion: """
            Every state must come from the same settings, policies and earlier passes; a difference is an error \
            naming it. When passes remain (the reward models need more than one), --output receives the merged \
            state: run each shard again with --partial SHARD_STATE --after that file, then merge again.
            """)

    @Argument(help: "State files written by `reckit offline-ab --partial`.") var states: [String]
    @Option(help: "Where to write the merged state when passes remain (atomically).") var output: String?
    @OptionGroup var report: ReportOutput

    func validate() throws {
        guard !states.isEmpty else { throw ValidationError("give at least one state file") }
    }

    func run() throws {
        try runReporting {
            try checkOutputs(output, report.json, report.html)
            // One state in memory at a time: memory does not grow with the number of shards.
            let t0 = DispatchTime.now().uptimeNanoseconds
            if let data = FileManager.default.contents(atPath: states[0]), SlateShard.isSlateState(data) {
                // A slate log's shards, in file order (a slate cut between two is joined).
                var merged = try SlateShard.decode(data, file: states[0])
                for p in states.dropFirst() { try merged.merge(try SlateShard.load(p)) }
                stderrLine("merged \(states.count) slate states of \(merged.states[0].rows) rows")
                if merged.passRemains {
                    guard let output else {
                        throw RecOPEError.invalidParameter(
                            "Cascade-DR's second pass remains: give --output MERGED, run every shard with --after MERGED, and merge again"
                        )
                    }
                    try merged.write(to: output)
                    stderrLine(
                        "next: Cascade-DR's pass. Run every shard with --partial STATE --after \(output), then merge again, in file order."
                    )
                    return
                }
                try report.write(try merged.report())
                return
            }
            var merged = try OffPolicyState.load(states[0])
            for p in states.dropFirst() {
                merged = try OffPolicyState.merge([merged, try OffPolicyState.load(p)], names: [states[0], p])
            }
            let next = try merged.advanced()
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            if next.pass == .done {
                stderrLine("merged \(states.count) states of \(next.rows) rows in " + String(format: "%.1f ms", ms))
                try report.write(try next.report())
                return
            }
            guard let output else {
                throw RecOPEError.invalidParameter(
                    "pass \(next.completedPasses + 1) (\(next.pass)) remains: give --output MERGED, run every shard with --after MERGED, and merge again"
                )
            }
            try next.write(to: output)
            stderrLine(
                "merged \(states.count) states; next: pass \(next.completedPasses + 1) (\(next.pass)). Run every shard with --partial STATE --after \(output), then merge again."
            )
        }
    }
}

extension OfflineAB {
    /// The text report's 9-character interval method.
    static func methodLabel(_ m: IntervalMethod) -> String {
        switch m {
        case .normal: return "normal   "
        case .poissonBootstrap: return "bootstrap"
        case .empiricalLikelihood: return "EL       "
        }
    }
}
