import Foundation
import RecCore
import RecIO
import RecRL
import Testing

/// Hostile input to training and checkpoints, by class.
@Suite struct HostileRLInputTests {
    func scratch(_ name: String) -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-rl-\(name)-\(UUID().uuidString)")
            .path
        try? FileManager.default.removeItem(atPath: d)
        return d
    }

    /// Class: checkpoint header numbers that do not fit (config fields rewritten in a real
    /// checkpoint's metadata): typed errors naming the file and the field, nothing allocated.
    @Test(arguments: [
        (#""heads":-1"#, "heads"), (#""dim":4611686018427387904"#, "hidden size"), (#""length":-5"#, "state length"),
        (#""blocks":100000000"#, "blocks"), (#""items":4611686018427387904"#, "items"),
        (#""layout":"sideways""#, "layout"),
        (#""encoder":"lstm""#, "encoder"), (#""dropout":7"#, "dropout"), (#""dim":1024,"heads":1"#, "parameters"),
    ])
    func checkpointConfigNumbersAreTypedErrors(field: String, expected: String) throws {
        let data = try syntheticData(sessions: 20)
        let dir = scratch("config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let model = SequentialRecommender(
            config: smallConfig(.sqn, items: data.itemCount), itemKeys: data.itemKeys,
            eventTypes: data.eventTypes, seed: 1)
        let path = dir + "/m.safetensors"
        try model.save(to: path)
        var (tensors, meta) = try SafeTensors.read(path)
        // Patch the config JSON object.
        var config = try JSONSerialization.jsonObject(with: Data(meta["config"]!.utf8)) as! [String: Any]
        let patch = try JSONSerialization.jsonObject(with: Data("{\(field)}".utf8)) as! [String: Any]
        for (k, v) in patch { config[k] = v }
        meta["config"] = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        if field.hasPrefix(#""items""#) { tensors = [:] }
        try SafeTensors.write(tensors, metadata: meta, to: path)
        #expect {
            _ = try SequentialRecommender.load(from: path)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix(path + ": ") && text.contains(expected) && !text.contains("\n")
                && text.components(separatedBy: path).count == 2
        }
    }

    /// Class: `--resume` with nothing to resume, and with fewer epochs than already done.
    @Test func resumeEdgesAreSaidNotGuessed() throws {
        let data = try syntheticData(sessions: 40)
        let split = SessionSplit.random(sessions: data.sessionCount, seed: 1)
        let dir = scratch("resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var run = TrainingRun(model: smallConfig(.ce, items: data.itemCount))
        run.settings.batch = 16
        run.epochs = 2
        run.outputDirectory = dir
        run.resume = true
        #expect {
            _ = try run.run(data: data, split: split)
        } throws: { error in
            "\(error)".contains("nothing to resume") && "\(error)".contains(dir + "/last.safetensors")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/last.safetensors"))
        run.resume = false
        // A killed run's temporary checkpoint (its writer long gone) is removed by the next run.
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let stale = dir + "/.last.safetensors.tmp-2147483000-5"
        try Data("partial".utf8).write(to: URL(fileURLWithPath: stale))
        let done = try run.run(data: data, split: split)
        #expect(!FileManager.default.fileExists(atPath: stale))
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/last.safetensors"))
        // Fewer epochs than done: an error, the checkpoint untouched.
        run.resume = true
        run.epochs = 1
        #expect {
            _ = try run.run(data: data, split: split)
        } throws: { error in
            "\(error)".contains("already trained 2 epochs, more than the 1 asked for")
        }
        // As many as done: the stored report, nothing trained, the checkpoint untouched.
        run.epochs = 2
        let again = try run.run(data: data, split: split)
        #expect(again.report.epochs.count == 2 && again.report.bestEpoch == done.report.bestEpoch)
        #expect(again.report.best.test.flat.map(\.value) == done.report.best.test.flat.map(\.value))
        for (a, b) in zip(again.model.networks[0].parameters, done.model.networks[0].parameters) {
            #expect(a.value.storage == b.value.storage)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/last.safetensors")) == before)
    }

    /// Class: unknown `--select` metrics are errors listing what the data gives; the default
    /// falls back (by name, printed as such) when the data has no purchases.
    @Test func selectionMetricIsCheckedAgainstTheData() throws {
        var run = TrainingRun(model: smallConfig(.ce, items: 5))
        run.selectBy = "purchase_ndcg@7"
        #expect {
            _ = try run.selectionMetric(eventTypes: ["click", "purchase"])
        } throws: { error in
            "\(error)".contains("unknown selection metric 'purchase_ndcg@7'") && "\(error)".contains("purchase_ndcg@10")
        }
        run.selectBy = "recall@10"
        #expect(throws: RecRLError.self) { try run.validate() }
        run.selectBy = "like_hr@5"
        #expect(try run.selectionMetric(eventTypes: ["click", "like"]).description == "like_hr@5")
        run.selectBy = nil
        #expect(try run.selectionMetric(eventTypes: ["click", "purchase"]).description == "purchase_ndcg@10")
        #expect(try run.selectionMetric(eventTypes: ["view", "cart"]).description == "view_ndcg@10")
        // Event types with underscores; the typed metric's value is the report's number.
        run.selectBy = "add_to_cart_ndcg@20"
        let m = try run.selectionMetric(eventTypes: ["click", "add_to_cart"])
        #expect(m == SelectionMetric(event: "add_to_cart", measure: .ndcg, cutoff: 20))
        var metrics = RankingMetrics(eventTypes: ["click", "add_to_cart"])
        metrics.add(rank: 3, event: 1)
        metrics.add(rank: 30, event: 1)
        #expect(m.value(in: metrics) == metrics.ndcg("add_to_cart", at: 20))
        #expect(SelectionMetric(event: "click", measure: .hr, cutoff: 5).value(in: metrics) == -.infinity)
        for bad in ["_ndcg@10", "click_ndcg@", "click_map@10", "click_hr@0", "ndcg@10"] {
            #expect(throws: RecRLError.self, "\(bad)") { try SelectionMetric(parsing: bad) }
        }
        // Through a whole run: the report carries the metric actually used.
        let data = try syntheticData(sessions: 30)
        var r = TrainingRun(model: smallConfig(.ce, items: data.itemCount))
        r.epochs = 1
        r.settings.batch = 16
        r.selectBy = "click_hr@20"
        #expect(
            try r.run(data: data, split: SessionSplit.random(sessions: data.sessionCount, seed: 2)).report.selectBy
                == "click_hr@20")
        r.selectBy = "cart_hr@20"
        #expect(throws: RecRLError.self) {
            try r.run(data: data, split: SessionSplit.random(sessions: data.sessionCount, seed: 2))
        }
    }

    /// Class: rewards beyond Float's range and `--reward` entries for event types the data does
    /// not have.
    @Test func rewardTablesAreChecked() throws {
        for bad in ["purchase=1e39", "click=-3.5e38", "purchase=nan", "click=inf", "=1", "click", "click=1=2"] {
            #expect(throws: RecRLError.self, "\(bad)") { _ = try RewardTable.parse(bad) }
        }
        #expect(try RewardTable.parse("purchase=3e38").rewards["purchase"] == 3e38)
        let data = try syntheticData(sessions: 20)
        var run = TrainingRun(model: smallConfig(.sqn, items: data.itemCount))
        run.epochs = 1
        run.settings.batch = 16
        run.rewards = try RewardTable.parse("purchse=2")
        #expect {
            _ = try run.run(data: data, split: SessionSplit.random(sessions: data.sessionCount, seed: 1))
        } throws: { error in
            "\(error)".contains("reward for event type 'purchse'") && "\(error)".contains("click, purchase")
        }
        // Standard entries for types the data lacks (cart, like) are not the user's: fine.
        run.rewards = try RewardTable.parse("purchase=2")
        _ = try run.run(data: data, split: SessionSplit.random(sessions: data.sessionCount, seed: 1))
    }

    /// Class: sizes from outside checked before allocation (the training-step estimate).
    @Test func oversizedTrainingIsRefusedWithItsBytes() throws {
        let data = try syntheticData(sessions: 20)
        var run = TrainingRun(model: smallConfig(.sqn, items: data.itemCount))
        run.settings.batch = 1 << 40
        #expect {
            _ = try run.run(data: data, split: SessionSplit.random(sessions: data.sessionCount, seed: 1))
        } throws: { error in
            "\(error)".contains("batch 1099511627776") && "\(error)".contains("bytes")
                && "\(error)".contains("of memory")
        }
        var big = ModelConfig(items: 1 << 30)
        big.dim = 4096
        #expect(throws: RecRLError.self) { try big.validate() }
        #expect(big.trainingBytes(batch: Int.max, negatives: 1) == nil)
    }

    /// Class: messages echo outside values cut to ~80 characters, on one line, the path once.
    @Test func hugeFieldsAreCutInMessages() throws {
        let dir = scratch("fields")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let big = String(repeating: "v", count: 100_000)
        let sessions = try syntheticData(sessions: 5)
        let cases: [(String, () throws -> Void)] = [
            ("u0,\(big)\n", { _ = try SessionSplit.load(dir + "/log.csv", for: sessions) }),
            (
                "session_id,timestamp,item_id,event\ns,\(big),2,click\n",
                { _ = try EventLog.load(csv: dir + "/log.csv") }
            ),
            ("\(big),timestamp\ns,1\n", { _ = try EventLog.load(csv: dir + "/log.csv") }),
        ]
        for (text, load) in cases {
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/log.csv"))
            do {
                try load()
                Issue.record("no error")
            } catch {
                let m = "\(error)"
                #expect(
                    m.count < 600 && !m.contains("\n") && m.components(separatedBy: dir + "/log.csv").count == 2,
                    "\(m.prefix(300))")
            }
        }
    }

    /// Class: degenerate simulator (rl-study) arguments.
    @Test func degenerateSimulatorConfigsAreTypedErrors() {
        var cases = [SessionSimulator.Config]()
        var c = SessionSimulator.Config()
        c.items = 1
        cases.append(c)
        c = .init()
        c.items = 0
        cases.append(c)
        c = .init()
        c.items = -4
        cases.append(c)
        c = .init()
        c.sessions = 0
        cases.append(c)
        c = .init()
        c.items = 3
        c.neighbours = 3
        cases.append(c)
        c = .init()
        c.purchaseRate = .nan
        cases.append(c)
        c = .init()
        c.meanLength = 1e300
        cases.append(c)
        c = .init()
        c.items = 1 << 40
        cases.append(c)
        for c in cases {
            #expect(throws: RecRLError.self) { _ = try SessionSimulator(config: c, seed: 1) }
        }
    }
}
