import ArgumentParser
import Foundation
import RecCore
import RecIO
import RecRL

/// The files of a search: the space and base settings it was started with, every trial's row,
/// the best trial's settings (a file `reckit train --config` takes).
enum TuneFiles {
    /// The `settings` object of a config file (a search's best.json), by name.
    static func settings(_ path: String) throws -> [String: Double] {
        let data = try FileInput.contents(path, limit: 1 << 20)
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch {
            throw RecRLError.invalidParameter("\(path): not valid JSON: \(error)")
        }
        guard let object = value.object, let settings = object["settings"]?.object else {
            throw RecRLError.invalidParameter("\(path): expected an object with \"settings\": {\"lr\": 0.003, ...}")
        }
        var out = [String: Double]()
        for (name, v) in settings {
            guard SearchSpace.settings[name] != nil else {
                throw RecRLError.invalidParameter(
                    "\(path): unknown setting \"\(clipped(name))\" (settings: \(SearchSpace.settings.keys.sorted().joined(separator: ", ")))"
                )
            }
            guard let d = v.number else {
                throw RecRLError.invalidParameter("\(path): \"\(clipped(name))\" must be a number")
            }
            out[name] = d
        }
        return out
    }
}

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Random search over training settings, each trial judged on the validation split.",
        discussion: """
            --space FILE declares the settings to search and their values, e.g. \
            {"lr": {"log_uniform": [0.0005, 0.02]}, "dim": {"choice": [32, 64, 128]}, \
            "dropout": {"uniform": [0, 0.5]}, "blocks": {"int": [1, 3]}} (searchable: batch, blocks, \
            dim, dropout, epochs, gamma, heads, lr, lr2, negatives); every other option is reckit \
            train's and holds for every trial. Trial t's settings depend on the space, --search-seed \
            and t only. Each trial trains in memory and is judged by its best validation epoch \
            (--select); its row goes to OUT/trials.csv as soon as it ends, so a search that stops \
            goes on from there when run again with the same space and options (a larger --trials \
            adds trials). OUT/best.json holds the best trial's settings: reckit train --config \
            OUT/best.json trains it. With --baseline itemknn|sknn|vsknn the space is \
            {"neighbours": ...} and each trial fits the baseline on the training sessions and \
            scores it on the validation ones. The test split is not looked at.
            """)

    @OptionGroup var options: TrainOptions
    @Option(help: "The search space (JSON).") var space: String
    @Option(help: "Trials in the search (the budget).") var trials: Int = 20
    @Option(help: "Seed of the trials' settings.") var searchSeed: UInt64 = 1
    @Option(
        help:
            "Tune a kNN baseline instead of training: itemknn, sknn or vsknn (its setting: neighbours, e.g. {\"neighbours\": {\"int\": [20, 500]}})."
    ) var baseline: String?

    func run() throws {
        try options.threading.apply()
        try runRL { try search() }
    }

    struct Row {
        var trial: Int
        var settings: [String: Double]
        var value: Double?
        var bestEpoch: Int?
        var seconds: Double
        var error: String?
    }

    private func search() throws {
        guard trials >= 1 && trials <= 100_000 else {
            throw ValidationError("--trials must be in 1...100000, got \(trials)")
        }
        if options.resume || options.overwrite || options.json || options.html != nil || options.config != nil {
            throw ValidationError(
                "--resume, --overwrite, --json, --html and --config are reckit train's; reckit tune resumes by itself")
        }
        let spaceFile = space
        let space = try SearchSpace.parse(try FileInput.contents(spaceFile, limit: 1 << 20), file: spaceFile)
        if let baseline {
            guard ["itemknn", "sknn", "vsknn"].contains(baseline) else {
                throw ValidationError(
                    "--baseline is itemknn, sknn or vsknn (popularity has nothing to tune), got '\(baseline)'")
            }
            if let other = space.names.first(where: { !SearchSpace.baselineSettings.contains($0) }) {
                throw RecRLError.invalidParameter(
                    "\(spaceFile): a baseline's search takes \(SearchSpace.baselineSettings.sorted().joined(separator: ", ")) only, not \"\(other)\""
                )
            }
        } else if let other = space.names.first(where: { SearchSpace.baselineSettings.contains($0) }) {
            throw RecRLError.invalidParameter("\(spaceFile): \"\(other)\" is a baseline's setting: give --baseline")
        }
        let dir = options.out
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (data, split) = try options.input.load()
        var base = try options.job()
        base.outputDirectory = nil
        // A setting the job does not have (momentum under Adam, bpr-max's without it) is refused
        // before any trial, not by each.
        for (name, benign) in [("momentum", 0.0), ("bpr_reg", 1), ("elu", 0.5), ("sample_alpha", 0.5)]
        where space.parameters[name] != nil {
            var probe = base
            try probe.set(name, to: benign)
        }
        let selectBy = try base.makeRun(items: data.itemCount).selectionMetric(eventTypes: data.eventTypes).description
        // What a search is: resuming needs the same.
        var identity: [String: String] = [
            "space": canonical(space), "search_seed": String(searchSeed), "select": selectBy,
            "data": options.input.data, "format": options.input.format.rawValue, "algo": options.algo.rawValue,
            "encoder": base.model.encoder.rawValue, "seed": String(options.seed),
            "split_seed": String(options.input.splitSeed),
            "length": String(options.input.length), "reward": options.reward ?? "", "baseline": baseline ?? "",
        ]
        for name in SearchSpace.settings.keys.sorted()
        where space.parameters[name] == nil && !SearchSpace.baselineSettings.contains(name) {
            if let v = baseValue(base, name) { identity["base_" + name] = String(describing: v) }
        }
        // Recorded where they differ from the defaults (searches of earlier versions resume).
        if base.settings.objective != .softmax { identity["objective"] = "\(base.settings.objective)" }
        if base.settings.optimizer != .adam { identity["optimizer"] = "\(base.settings.optimizer)" }
        let identityPath = (dir as NSString).appendingPathComponent("search.json")
        let trialsPath = (dir as NSString).appendingPathComponent("trials.csv")
        var rows = [Row]()
        if FileManager.default.fileExists(atPath: identityPath) {
            let before = try JSONDecoder().decode(
                [String: String].self, from: try FileInput.contents(identityPath, limit: 1 << 20))
            if before != identity {
                let differ = Set(before.keys).union(identity.keys).filter { before[$0] != identity[$0] }.sorted()
                throw RecRLError.invalidParameter(
                    "\(dir) holds another search (different \(differ.joined(separator: ", "))): use another --out")
            }
            rows = try readRows(trialsPath, space: space, metric: selectBy)
            stderrLine("reckit tune: \(rows.count) trials already in \(trialsPath)")
        } else {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try enc.encode(identity), to: identityPath)
        }
        stderrLine(
            "reckit tune: \(data.source): \(data.sessionCount) sessions, \(data.itemCount) items; \(trials) trials over \(space.names.joined(separator: ", ")), judged by validation \(selectBy)"
        )
        for t in rows.count..<trials {
            let settings = space.sample(trial: t, seed: searchSeed)
            var row = Row(trial: t, settings: settings, value: nil, bestEpoch: nil, seconds: 0, error: nil)
            let t0 = Date()
            do {
                if let baseline {
                    // A baseline is fitted on the training sessions and scored on the validation ones.
                    let ranker = try BaselineRanker.named(
                        baseline, training: data.subset(split.train), neighbours: Int(settings["neighbours"]!))!
                    let m = try Evaluation.run(
                        ranker, data: data, sessions: split.validation, length: options.input.length)
                    row.value = m.flat.first { $0.name == selectBy }?.value
                } else {
                    var job = base
                    for name in space.names { try job.set(name, to: settings[name]!) }
                    let run = try job.makeRun(items: data.itemCount)
                    let (_, report) = try run.run(data: data, split: split)
                    row.value = report.best.validation.flat.first { $0.name == selectBy }?.value
                    row.bestEpoch = report.bestEpoch + 1
                }
            } catch {
                row.error = "\(error)"
            }
            row.seconds = Date().timeIntervalSince(t0)
            rows.append(row)
            try writeRows(rows, to: trialsPath, space: space, metric: selectBy)
            let shown = space.names.map { "\($0)=\(format(settings[$0]!, name: $0))" }.joined(separator: " ")
            stderrLine(
                "trial \(t + 1)/\(trials): \(shown): "
                    + (row.value.map {
                        String(format: "%@ %.4f", selectBy, $0) + (row.bestEpoch.map { " (epoch \($0))" } ?? "")
                    }
                        ?? "failed: \(row.error ?? "no value")")
                    + String(format: ", %.1f s", row.seconds))
        }
        let ranked = rows.filter { $0.value != nil }.sorted { ($0.value!, -$0.trial) > ($1.value!, -$1.trial) }
        guard let best = ranked.first else {
            throw RecRLError.invalidParameter("no trial gave a validation \(selectBy) (see \(trialsPath))")
        }
        // The best trial's settings, as reckit train --config takes them.
        var text = "{\n  \"trial\": \(best.trial + 1),\n  \"metric\": \"\(selectBy)\",\n"
        text += "  \"validation\": \(best.value!),\n  \"settings\": {\n"
        text += space.names.map { "    \"\($0)\": \(format(best.settings[$0]!, name: $0))" }.joined(separator: ",\n")
        text += "\n  }\n}\n"
        let bestPath = (dir as NSString).appendingPathComponent("best.json")
        try AtomicFile.write(Data(text.utf8), to: bestPath)
        print("best of \(rows.count) trials by validation \(selectBy):")
        for r in ranked.prefix(5) {
            let shown = space.names.map { "\($0)=\(format(r.settings[$0]!, name: $0))" }.joined(separator: " ")
            print(String(format: "  trial %3d  %.4f  ", r.trial + 1, r.value!) + shown)
        }
        if let baseline {
            let n = Int(best.settings["neighbours"]!)
            print(
                "settings: \(bestPath) (reckit evaluate --model \(baseline) --neighbours \(n)); every trial: \(trialsPath)"
            )
        } else {
            print("settings: \(bestPath) (reckit train --config \(bestPath)); every trial: \(trialsPath)")
        }
    }

    /// A setting's value as written (integers without a fraction, others to 17 digits).
    func format(_ v: Double, name: String) -> String {
        SearchSpace.settings[name]!.integer ? String(Int(v)) : "\(v)"
    }

    /// The job's value of a searchable setting; nil for one it does not have (momentum without
    /// Adagrad, BPR-max's without it, a sampler's α without a popularity sampler).
    func baseValue(_ job: TrainingJob, _ name: String) -> Double? {
        switch name {
        case "momentum":
            if case .adagrad(let m) = job.settings.optimizer { Double(m) } else { nil }
        case "elu", "bpr_reg":
            if case .bprMax(_, _, let a, let l) = job.settings.objective { name == "elu" ? a : l } else { nil }
        case "sample_alpha":
            if case .popularity(let a)? = job.settings.objective.sampler { a } else { nil }
        case "lr": Double(job.settings.learningRate)
        case "lr2": Double(job.settings.learningRate2)
        case "dim": Double(job.model.dim)
        case "heads": Double(job.model.heads)
        case "blocks": Double(job.model.blocks)
        case "dropout": Double(job.model.dropout)
        case "gamma": Double(job.gamma)
        case "negatives": Double(job.settings.negatives)
        case "batch": Double(job.settings.batch)
        default: Double(job.epochs)
        }
    }

    func canonical(_ space: SearchSpace) -> String {
        space.names.map { name -> String in
            switch space.parameters[name]! {
            case .choice(let v): "\(name)=choice\(v)"
            case .uniform(let a, let b): "\(name)=uniform[\(a),\(b)]"
            case .logUniform(let a, let b): "\(name)=log_uniform[\(a),\(b)]"
            case .integer(let a, let b): "\(name)=int[\(a),\(b)]"
            }
        }.joined(separator: ";")
    }

    func header(_ space: SearchSpace, metric: String) -> [String] {
        ["trial"] + space.names + ["validation_" + metric, "best_epoch", "seconds", "error"]
    }

    func writeRows(_ rows: [Row], to path: String, space: SearchSpace, metric: String) throws {
        var text = header(space, metric: metric).joined(separator: ",") + "\n"
        for r in rows {
            var f = [String(r.trial + 1)] + space.names.map { format(r.settings[$0]!, name: $0) }
            f += [r.value.map { "\($0)" } ?? "", r.bestEpoch.map(String.init) ?? "", String(format: "%.3f", r.seconds)]
            // The error, quoted (its quotes doubled).
            f.append(r.error.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" } ?? "")
            text += f.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(text.utf8), to: path)
    }

    /// The rows of an earlier run of this search; their settings are redrawn and must match.
    func readRows(_ path: String, space: SearchSpace, metric: String) throws -> [Row] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let reader = try CSVReader(path: path)
        guard try reader.next(), reader.row.fields.indices.map(reader.row.string) == header(space, metric: metric)
        else {
            throw RecRLError.invalidParameter(
                "\(path): not this search's trials file (its header differs); use another --out")
        }
        var rows = [Row]()
        while try reader.next() {
            let r = reader.row
            let t = rows.count
            guard r.count == header(space, metric: metric).count, r.int(0) == t + 1 else {
                throw RecRLError.invalidParameter("\(path):\(r.line): expected trial \(t + 1)'s row")
            }
            let settings = space.sample(trial: t, seed: searchSeed)
            for (k, name) in space.names.enumerated() where r.string(k + 1) != format(settings[name]!, name: name) {
                throw RecRLError.invalidParameter("\(path):\(r.line): trial \(t + 1)'s \(name) is not this search's")
            }
            let n = space.names.count
            let err = r.string(n + 4)
            rows.append(
                Row(
                    trial: t, settings: settings, value: r.double(n + 1), bestEpoch: r.int(n + 2),
                    seconds: r.double(n + 3) ?? 0, error: err.isEmpty ? nil : err))
        }
        return rows
    }
}
