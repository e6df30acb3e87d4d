import ArgumentParser
import Foundation
import RecKit

/// `reckit study`: every method over several seeds on one event log, with a paired test of each
/// against the best baseline; writes OUT/study.json and OUT/report.html.
struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract:
            "Baselines and RL methods over seeds on one event log: test metrics (mean ± sd) and each method against the best baseline by a paired test.",
        discussion: """
            For each --seeds value s the sessions are split 8:1:1 by s (--split-seed is not used) \
            and every trained method is trained with seed s (the README protocol's settings: \
            d = 64, 1 block, 1 head, batch 256, Adam lr 0.005, --epochs; gru4rec its own recipe); \
            the baselines (popularity, itemknn, sknn, vsknn) are fitted on the training sessions. \
            Every method ranks the same test queries against the whole catalog. The reference is \
            the baseline (no Q head: the kNNs, popularity, ce, gru4rec) with the best mean \
            --metric, or --reference. Each other method gets the difference, its 95% paired \
            bootstrap interval and a sign-flip permutation p-value, sessions pooled over the seeds. \
            --tuned NAME=DIR adds NAME-tuned with the settings of a reckit tune folder's best.json \
            (its trials.csv draws the tuning curve). Trained runs stay in OUT/NAME-seedS: a study \
            run again loads the finished ones.
            """)

    @OptionGroup var input: EventDataOptions
    @Option(help: "Methods, comma-separated: popularity, itemknn, sknn, vsknn, ce, sqn, sac, snqn, sa2c, gru4rec.")
    var methods = "popularity,itemknn,sknn,vsknn,gru4rec,ce,sqn,snqn,sa2c"
    @Option(help: "Seeds (split and training), comma-separated.") var seeds = "1,2,3"
    @Option(help: "Epochs of the trained methods.") var epochs = 10
    @Option(help: "Hidden size d of the trained methods.") var dim = 64
    @Option(help: "Neighbours of the kNN baselines.") var neighbours = 100
    @Option(
        help:
            "A tuned variant: NAME=DIR (a reckit tune folder; its best.json's settings) or NAME=FILE.json; adds NAME-tuned. Repeat."
    ) var tuned: [String] = []
    @Option(help: "The compared metric: EVENT_hr@K or EVENT_ndcg@K (K = 5, 10, 20).") var metric = "purchase_ndcg@10"
    @Option(help: "The method the others are compared with (default: the best baseline).") var reference: String?
    @Option(help: "Bootstrap draws and sign flips.") var replicates = 10000
    @Option(help: "Output folder (trained runs, study.json, report.html).") var out = "reckit-study"
    @Option(help: "Also write the HTML report here.") var html: String?
    @Flag(help: "Print the report as JSON on stdout.") var json = false
    @OptionGroup var threading: ThreadOptions

    static let trainedNames = Set(TrainingMethod.allCases.map(\.rawValue))

    func run() throws {
        try threading.apply()
        try runRL {
            if input.split != nil {
                throw ValidationError("--split: a study splits by each of its --seeds")
            }
            let seedList = try seeds.split(separator: ",", omittingEmptySubsequences: false).map { s -> UInt64 in
                guard let v = UInt64(s.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--seeds: '\(clipped(s))' is not a seed (comma-separated integers)")
                }
                return v
            }
            guard epochs >= 1 && epochs <= 10_000 else {
                throw ValidationError("--epochs must be in 1...10000, got \(epochs)")
            }
            guard neighbours >= 1 else { throw ValidationError("--neighbours must be at least 1, got \(neighbours)") }
            guard replicates >= 99 && replicates <= 10_000_000 else {
                throw ValidationError("--replicates must be in 99...10000000, got \(replicates)")
            }
            let spec = try input.spec()
            var list = [Study.Method]()
            for name in methods.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
                list.append(try method(name, spec: spec, settings: [:], as: name))
            }
            var curves = [(String, [Double])]()
            for t in tuned {
                guard let eq = t.firstIndex(of: "="), !t[..<eq].isEmpty, !t[t.index(after: eq)...].isEmpty else {
                    throw ValidationError("--tuned: expected NAME=DIR or NAME=FILE, got '\(clipped(t))'")
                }
                let name = String(t[..<eq])
                let path = String(t[t.index(after: eq)...])
                var isDir: ObjCBool = false
                let best =
                    FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
                    ? (path as NSString).appendingPathComponent("best.json") : path
                let settings = try TuneFiles.settings(best)
                list.append(try method(name, spec: spec, settings: settings, as: name + "-tuned"))
                if isDir.boolValue,
                    let c = try? Self.tuningCurve((path as NSString).appendingPathComponent("trials.csv"))
                {
                    curves.append((name + "-tuned", c))
                }
            }
            try checkOutputs(html)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            var study = Study(data: spec, methods: list, seeds: seedList)
            study.metric = metric
            study.reference = reference
            study.replicates = replicates
            study.outputDirectory = out
            study.progress = { stderrLine($0) }
            let report = try study.run()
            let (data, _) = try JSONOutput.encode(report, pretty: true, what: "the study")
            try AtomicFile.write(data, to: (out as NSString).appendingPathComponent("study.json"))
            let page = Data(StudyReportHTML.render(report, source: spec.data, tuning: curves).utf8)
            try AtomicFile.write(page, to: (out as NSString).appendingPathComponent("report.html"))
            if let html { try AtomicFile.write(page, to: html) }
            if json {
                try printJSON(report, what: "the study")
            } else {
                print(StudyReportHTML.table(report), terminator: "")
                print("report: \(out)/report.html, \(out)/study.json")
            }
        }
    }

    /// The study method `name` (a baseline or a training method) with tuned `settings`, called
    /// `label`.
    func method(_ name: String, spec: EventDataSpec, settings: [String: Double], as label: String) throws
        -> Study.Method
    {
        if BaselineRanker.names.contains(name) {
            var k = neighbours
            for (key, v) in settings {
                guard key == "neighbours", v >= 1, v == v.rounded(), v < 1e9 else {
                    throw ValidationError(
                        "--tuned \(name): a baseline takes the setting \"neighbours\" (a positive integer) only, got \"\(key)\" = \(v)"
                    )
                }
                k = Int(v)
            }
            return .baseline(name: label, kind: name, neighbours: k)
        }
        guard let m = TrainingMethod(rawValue: name) else {
            throw ValidationError(
                "--methods: unknown method '\(clipped(name))' (\((BaselineRanker.names + TrainingMethod.allCases.map(\.rawValue)).joined(separator: ", ")))"
            )
        }
        var job = TrainingJob(data: spec)
        job.apply(m)
        job.epochs = epochs
        job.model.dim = dim
        for (key, v) in settings.sorted(by: { $0.key < $1.key }) {
            do { try job.set(key, to: v) } catch { throw ValidationError("--tuned \(name): \(error)") }
        }
        return .trained(name: label, job: job)
    }

    /// Each trial's validation value in a reckit tune trials.csv (NaN for a failed trial).
    static func tuningCurve(_ path: String) throws -> [Double] {
        let reader = try CSVReader(path: path)
        guard try reader.next() else { return [] }
        let header = reader.row.fields.indices.map(reader.row.string)
        guard let col = header.firstIndex(where: { $0.hasPrefix("validation_") }) else { return [] }
        var out = [Double]()
        while try reader.next() {
            out.append(Double(reader.row.string(col)) ?? .nan)
        }
        return out
    }
}
