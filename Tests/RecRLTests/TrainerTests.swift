import Foundation
import RecCore
import RecNN
import RecOPE
import RecRL
import Testing

/// A small synthetic log: sessions of random items with some purchases.
func syntheticData(sessions: Int = 40, items: Int = 30, seed: UInt64 = 3) throws -> SessionData {
    var g = Xoshiro256(seed: seed)
    var s = [String]()
    var t = [Double]()
    var it = [String]()
    var ev = [String]()
    for u in 0..<sessions {
        let n = 3 + Int(g.next() % 6)
        for k in 0..<n {
            s.append("u\(u)")
            t.append(Double(k))
            it.append("\(1 + Int(g.next() % UInt64(items)))")
            ev.append(g.next() % 4 == 0 ? "purchase" : "click")
        }
    }
    return try SessionData(try EventLog(sessions: s, times: t, items: it, events: ev))
}

func smallConfig(_ alg: Algorithm, items: Int) -> ModelConfig {
    var c = ModelConfig(items: items)
    c.algorithm = alg
    c.length = 4
    c.dim = 8
    c.blocks = 1
    c.heads = 1
    c.dropout = 0
    return c
}

@Suite struct TrainerTests {
    /// The lean path (only the catalog columns each loss needs, argmax by the blocked scorer)
    /// gives the same losses and gradients as the naive path (full Q matrices, dense gradient).
    @Test(arguments: [
        (Algorithm.ce, false), (.sqn, false), (.sac, false), (.snqn, false), (.sa2c, false), (.sqn, true),
        (.sa2c, true),
    ])
    func leanColumnsEqualTheNaivePath(alg: Algorithm, gru: Bool) throws {
        let data = try syntheticData()
        let tr = try Transitions(data, length: 4)
        let batch = Array(0..<min(32, tr.count))
        var grads = [[[Float]]]()
        var losses = [StepLosses]()
        var picked = [Int]()
        for lean in [true, false] {
            var config = smallConfig(alg, items: data.itemCount)
            if gru { config.encoder = .gru }
            let model = SequentialRecommender(
                config: config, itemKeys: data.itemKeys, eventTypes: data.eventTypes, seed: 9)
            // Make the Q head's values non-trivial.
            for n in model.networks {
                if let q = n.qHead {
                    q.weight.value = Matrix.random(q.items, q.dim, seed: 4, distribution: .normal(mean: 0, std: 0.5))
                }
            }
            var st = TrainingSettings()
            st.leanColumns = lean
            st.negatives = 3
            st.warmupSteps = 0
            st.seed = 5
            let trainer = Trainer(model: model, settings: st, totalSteps: 10)
            let (l, p) = try trainer.gradients(tr, batch: batch)
            losses.append(l)
            picked.append(p)
            grads.append(model.networks[p].parameters.map { $0.grad.storage })
        }
        #expect(picked[0] == picked[1])
        #expect(abs(losses[0].ce - losses[1].ce) < 1e-5 && abs(losses[0].q - losses[1].q) < 1e-5 * max(1, losses[1].q))
        for (a, b) in zip(grads[0], grads[1]) {
            let scale = max(1e-3, b.map { abs($0) }.max() ?? 0)
            let diff = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= 1e-4 * scale)
        }
        if alg.usesQ { #expect(losses[0].q > 0) }
    }

    /// The TD targets: with γ = 0.5, r + γ(1 − done) Q_target(s′, argmax Q_main(s′, ·)). Checked
    /// by building the same quantity from the model's own scores.
    @Test func tdTargetIsDoubleQ() throws {
        let data = try syntheticData(sessions: 10)
        let tr = try Transitions(data, length: 4)
        let model = SequentialRecommender(
            config: smallConfig(.sqn, items: data.itemCount), itemKeys: data.itemKeys, eventTypes: data.eventTypes,
            seed: 2)
        for n in model.networks {
            n.qHead!.weight.value = Matrix.random(data.itemCount, 8, seed: 12, distribution: .normal(mean: 0, std: 1))
        }
        var st = TrainingSettings()
        st.seed = 1
        let trainer = Trainer(model: model, settings: st, totalSteps: 1)
        let batch = [0, 1, 2, 3, 4]
        let (l, p) = try trainer.gradients(tr, batch: batch)
        let main = model.networks[p]
        let target = model.networks[1 - p]
        let sMain = try main.states(batch.map { tr.nextState($0) })
        let sT = try target.states(batch.map { tr.nextState($0) })
        let sNow = try main.states(batch.map { tr.state($0) })
        var expected = 0.0
        for (r, j) in batch.enumerated() {
            func q(_ net: QNetwork, _ S: Matrix, _ i: Int) -> Double {
                var v = Double(net.qHead!.bias.value[0, i - 1])
                for k in 0..<8 { v += Double(S[r, k]) * Double(net.qHead!.weight.value[i - 1, k]) }
                return v
            }
            let best = (1...data.itemCount).max {
                q(main, sMain, $0) < q(main, sMain, $1) || (q(main, sMain, $0) == q(main, sMain, $1) && $0 > $1)
            }!
            let y = Double(tr.rewards[j]) + (tr.done[j] ? 0 : 0.5 * q(target, sT, best))
            let e = q(main, sNow, tr.action(j)) - y
            expected += 0.5 * e * e
        }
        #expect(abs(l.q - expected / Double(batch.count)) < 1e-4 * max(1, expected))
    }

    /// 60 synthetic sessions, their seed-1 split and an empty output folder.
    func trainingFixture(_ name: String) throws -> (SessionData, SessionSplit, String) {
        let data = try syntheticData(sessions: 60)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        return (data, SessionSplit.random(sessions: data.sessionCount, seed: 1), dir)
    }

    @Test func checkpointRoundTripAndResumeRepeatTheRun() throws {
        let (data, split, dir) = try trainingFixture("resume")
        var run = TrainingRun(model: smallConfig(.snqn, items: data.itemCount))
        run.settings.batch = 16
        run.settings.negatives = 2
        run.epochs = 2
        run.model.dropout = 0.1
        try checkResume(run, data: data, split: split, dir: dir)
        // The same with the GRU4Rec encoder.
        var gruRun = run
        gruRun.model.encoder = .gru
        try? FileManager.default.removeItem(atPath: dir)
        try checkResume(gruRun, data: data, split: split, dir: dir)
        // And with a sampled objective: the sparse head's lazy Adam rows (per-row step counts,
        // the bias's elements among them) come back from the checkpoint.
        var sampled = run
        sampled.settings.objective = .gbce(negatives: 5, t: 0.75, sampler: .popularity(alpha: 1))
        sampled.settings.sharedNegatives = false
        try? FileManager.default.removeItem(atPath: dir)
        try checkResume(sampled, data: data, split: split, dir: dir)
        // And GRU4Rec's recipe: bpr-max, Adagrad's accumulators and momenta from the checkpoint.
        var gru4rec = run
        var job = TrainingJob(data: EventDataSpec(data: "unused"))
        job.apply(.gru4rec)
        gru4rec.model.algorithm = job.model.algorithm
        gru4rec.model.encoder = job.model.encoder
        gru4rec.settings.objective = .bprMax(
            negatives: 5, sampler: .popularity(alpha: 0.5), elu: 0.5, regularization: 1)
        gru4rec.settings.optimizer = .adagrad(momentum: 0.3)
        gru4rec.settings.learningRate = job.settings.learningRate
        try? FileManager.default.removeItem(atPath: dir)
        try checkResume(gru4rec, data: data, split: split, dir: dir)
    }

    func checkResume(_ run: TrainingRun, data: SessionData, split: SessionSplit, dir: String) throws {
        let whole = try run.run(data: data, split: split)
        // One epoch, then resume for the second.
        var first = run
        first.epochs = 1
        first.outputDirectory = dir
        _ = try first.run(data: data, split: split)
        var second = run
        second.outputDirectory = dir
        second.resume = true
        let resumed = try second.run(data: data, split: split)
        for (a, b) in zip(whole.model.networks[0].parameters, resumed.model.networks[0].parameters) {
            #expect(a.value.storage == b.value.storage, "parameter \(a.name)")
        }
        #expect(resumed.report.epochs.count == 2)
        // The checkpoint loads back into an equal model; a damaged one is a typed error.
        let loaded = try SequentialRecommender.load(from: dir + "/last.safetensors").model
        #expect(loaded.config == run.model && loaded.itemKeys == data.itemKeys)
        #expect(loaded.networks.count == resumed.model.networks.count)
        for (a, b) in zip(loaded.networks.last!.parameters, resumed.model.networks.last!.parameters) {
            #expect(a.value.storage == b.value.storage)
        }
        let bad = dir + "/bad.safetensors"
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: bad))
        #expect(throws: RecRLError.self) { try SequentialRecommender.load(from: bad) }
    }

    @Test func badSettingsAreTypedErrorsBeforeTraining() throws {
        let (data, split, dir) = try trainingFixture("settings")
        var base = TrainingRun(model: smallConfig(.sqn, items: data.itemCount))
        base.outputDirectory = dir
        var cases = [TrainingRun]()
        var r = base
        r.epochs = 0
        cases.append(r)
        r = base
        r.settings.batch = 0
        cases.append(r)
        r = base
        r.settings.learningRate = .nan
        cases.append(r)
        r = base
        r.model.heads = 3
        cases.append(r)  // dim 8 is not a multiple of 3
        r = base
        r.model.dropout = 1
        cases.append(r)
        for c in cases {
            #expect(throws: RecRLError.self) { try c.run(data: data, split: split) }
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/last.safetensors"))
    }

    @Test func divergenceStopsWithTheLastGoodCheckpoint() throws {
        let (data, split, dir) = try trainingFixture("diverge")
        var run = TrainingRun(model: smallConfig(.sqn, items: data.itemCount))
        run.settings.batch = 16
        run.epochs = 1
        run.outputDirectory = dir
        _ = try run.run(data: data, split: split)
        // Q values of 1e30 (the checkpoint's Q head scaled; its settings unchanged, so it resumes)
        // make the TD loss overflow in the first steps of the next epoch.
        let last = dir + "/last.safetensors"
        let (model, tensors, meta) = try SequentialRecommender.load(from: last)
        for net in model.networks {
            guard let head = net.qHead else { continue }
            head.weight.value = Matrix(
                rows: head.weight.value.rows, cols: head.weight.value.cols,
                elements: head.weight.value.storage.map { $0 * 1e30 })
        }
        try model.save(
            to: last, extra: tensors.filter { !$0.key.hasPrefix("net") },
            metadata: meta.filter { ["epoch", "step", "report", "run"].contains($0.key) })
        let before = try Data(contentsOf: URL(fileURLWithPath: last))
        run.epochs = 2
        run.resume = true
        var stopped: RecRLError? = nil
        do { _ = try run.run(data: data, split: split) } catch { stopped = error }
        let text = stopped.map { "\($0)" } ?? "training did not stop"
        #expect(text.contains("training stopped at step") && text.contains("loss"), "\(text)")
        #expect(text.contains("the last good checkpoint is \(dir)/last.safetensors"), "\(text)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/last.safetensors")) == before)
    }
}

let movieLensPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(

    "../../data/ml-100k/ml-100k.inter"

).standardized.path

/// A run directory holds one run: a new run into it is refused unless asked to replace it (then
/// the old run's files go first), and a resumed run must share the data, the split and the
/// optimisation settings of the one it continues (the error names what changed).
@Suite struct RunDirectoryTests {
    func fixture(_ name: String) throws -> (SessionData, SessionSplit, TrainingRun, String) {
        let data = try syntheticData(sessions: 40)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reckit-rundir-\(name)-\(getpid())")
            .path
        try? FileManager.default.removeItem(atPath: dir)
        var run = TrainingRun(model: smallConfig(.sqn, items: data.itemCount))
        run.settings.batch = 16
        run.epochs = 1
        run.outputDirectory = dir
        return (data, SessionSplit.random(sessions: data.sessionCount, seed: 1), run, dir)
    }

    @Test func aNewRunDoesNotMixWithAnOldOne() throws {
        let (data, split, run, dir) = try fixture("new")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try run.run(data: data, split: split)
        #expect {
            try run.prepareRunDirectory()
        } throws: { error in
            "\(error)".contains("already holds a run (last.safetensors, best.safetensors, metrics.json)")
        }
        #expect {
            _ = try run.run(data: data, split: split)
        } throws: { error in
            "\(error)".contains("--overwrite")
        }
        // Replacing: the old files go before the new run writes; a run that then fails leaves no
        // checkpoint of the old one behind.
        var again = run
        again.overwrite = true
        again.settings.learningRate = .nan
        try again.prepareRunDirectory()
        for f in TrainingRun.runFiles { #expect(!FileManager.default.fileExists(atPath: dir + "/" + f), "\(f)") }
        #expect(throws: RecRLError.self) { _ = try again.run(data: data, split: split) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/last.safetensors"))
    }

    @Test func resumeRefusesChangedDataSplitAndSettings() throws {
        let (data, split, run, dir) = try fixture("resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try run.run(data: data, split: split)
        var base = run
        base.resume = true
        base.epochs = 2
        func refused(_ r: TrainingRun, split s: SessionSplit = split, data d: SessionData? = nil, _ text: String) {
            #expect {
                _ = try r.run(data: d ?? data, split: s)
            } throws: { error in
                "\(error)".contains("trained with other settings: \(text)")
            }
        }
        var r = base
        r.settings.learningRate = 0.01
        refused(r, "learning rate 0.01 (the checkpoint's: 0.005)")
        r = base
        r.gamma = 0.9
        refused(r, "gamma 0.9")
        r = base
        r.settings.batch = 8
        refused(r, "batch 8")
        r = base
        r.settings.seed = 7
        refused(r, "seed 7")
        r = base
        r.rewards = try RewardTable.parse("purchase=2")
        refused(r, "rewards")
        refused(base, split: SessionSplit.random(sessions: data.sessionCount, seed: 2), "split")
        // The same run continues.
        #expect(try base.run(data: data, split: split).report.epochs.count == 2)
    }
}

@Suite struct SampledObjectiveTrainerTests {
    /// A sampled objective moves only the supervised head's rows of the step's targets and
    /// negatives (a lazy Adam on sparse rows: no update of the other rows); the full softmax
    /// moves every row.
    @Test(arguments: [
        (SupervisedObjective.sampledSoftmax(negatives: 5, sampler: .uniform), false),
        (.gbce(negatives: 5, t: 0.75, sampler: .popularity(alpha: 1)), false),
        (.sampledSoftmax(negatives: 5, sampler: .uniform), true), (.softmax, true),
    ])
    func aStepMovesTheTouchedRowsOnly(objective: SupervisedObjective, shared: Bool) throws {
        let data = try syntheticData(sessions: 40, items: 3000, seed: 4)
        let tr = try Transitions(data, length: 4)
        let model = SequentialRecommender(
            config: smallConfig(.ce, items: data.itemCount), itemKeys: data.itemKeys, eventTypes: data.eventTypes,
            seed: 9)
        var st = TrainingSettings()
        st.objective = objective
        st.sharedNegatives = shared
        let trainer = Trainer(model: model, settings: st, totalSteps: 10)
        let head = model.networks[0].ceHead
        let before = head.weight.value.storage
        let batch = Array(0..<16)
        let biasBefore = head.bias.value.storage
        try trainer.train(tr, batch: batch)
        let d = head.dim
        let moved = (0..<head.items).filter { i in
            (0..<d).contains { head.weight.value.storage[i * d + $0] != before[i * d + $0] }
        }
        if objective.isSampled {
            #expect(
                moved.count >= 2 && moved.count <= batch.count * (1 + objective.negatives), "\(moved.count) rows moved")
            // Every target's bias moved (a weight row may not: a state of padding only is 0).
            for t in Set(batch.map { tr.action($0) - 1 }) { #expect(head.bias.value.storage[t] != biasBefore[t]) }
        } else {
            #expect(moved.count == head.items)
        }
    }

    /// In-batch negatives: each transition's negatives are the batch's other targets, each logit
    /// corrected by log(B·q_i), q the targets' training frequency (the step's loss, computed
    /// again by hand from the network's states).
    @Test func inBatchNegativesAreTheBatchsTargets() throws {
        let data = try syntheticData(sessions: 40, items: 50, seed: 6)
        let tr = try Transitions(data, length: 4)
        let model = SequentialRecommender(
            config: smallConfig(.ce, items: data.itemCount), itemKeys: data.itemKeys, eventTypes: data.eventTypes,
            seed: 9)
        var st = TrainingSettings()
        st.objective = .sampledSoftmax(negatives: 3, sampler: .inBatch)
        st.batchParts = 1
        let trainer = Trainer(model: model, settings: st, totalSteps: 10)
        let batch = Array(0..<24)
        let (losses, p) = try trainer.gradients(tr, batch: batch)
        let net = model.networks[p]
        let S = try net.states(batch.map { tr.state($0) }, split: false)
        let targets = batch.map { tr.action($0) }
        var counts = [Double](repeating: 0, count: data.itemCount)
        for j in 0..<tr.count { counts[tr.action(j) - 1] += 1 }
        let total = counts.reduce(0, +)
        let head = CatalogHead(name: "h", items: data.itemCount, dim: net.ceHead.dim, seed: 1)
        head.weight.value = net.ceHead.weight.value
        head.bias.value = net.ceHead.bias.value
        let (manual, _) = try head.sampledLoss(
            states: S, targets: targets, sampled: .shared(targets), kind: .softmax,
            correction: { Float(log(Double(batch.count) * counts[$0] / total)) })
        #expect(abs(losses.ce - manual) < 1e-5 * max(1, manual), "step \(losses.ce), by hand \(manual)")
    }

    /// Options a catalog cannot take are errors naming them.
    @Test func badObjectivesAreRefused() throws {
        #expect(
            throws: RecRLError.invalidParameter(
                "negatives must be in 1...29 for a sampled objective over 30 items, got 30")
        ) {
            try SupervisedObjective.sampledSoftmax(negatives: 30, sampler: .uniform).validate(items: 30)
        }
        #expect(throws: RecRLError.invalidParameter("gBCE calibration t must be in (0, 1], got 0.0")) {
            try SupervisedObjective.gbce(negatives: 3, t: 0, sampler: .uniform).validate(items: 30)
        }
        #expect(
            throws: RecRLError.invalidParameter("the popularity sampler's α must be finite and at least 0, got -1.0")
        ) {
            try NegativeSampler.parse("popularity:-1")
        }
        #expect(
            throws: RecRLError.invalidParameter("unknown objective 'bpr' (softmax, sampled-softmax, gbce or bpr-max)")
        ) {
            try SupervisedObjective.named("bpr", negatives: nil, t: nil, sampler: .uniform)
        }
        // BPR-max: its negatives may be 0 (in-batch only) or more than the catalog (drawn with
        // replacement), its sampler not a batch one, its ELU and regularization non-negative.
        try SupervisedObjective.bprMax(negatives: 0, sampler: .uniform, elu: 0, regularization: 0).validate(items: 30)
        try SupervisedObjective.bprMax(negatives: 2048, sampler: .popularity(alpha: 0.5), elu: 1, regularization: 2)
            .validate(items: 30)
        #expect(throws: RecRLError.self) {
            try SupervisedObjective.bprMax(negatives: 5, sampler: .inBatch, elu: 0.5, regularization: 1)
                .validate(items: 30)
        }
        #expect(throws: RecRLError.self) {
            try SupervisedObjective.bprMax(negatives: 5, sampler: .uniform, elu: -1, regularization: 1)
                .validate(items: 30)
        }
        #expect(throws: RecRLError.invalidParameter("--bpr-reg: it goes with --objective bpr-max")) {
            try SupervisedObjective.options("gbce", negatives: nil, t: nil, sampler: nil, regularization: 1)
        }
        try SupervisedObjective.gbce(negatives: 29, t: 1, sampler: .popularity(alpha: 0)).validate(items: 30)
        #expect(throws: RecRLError.invalidParameter("--sampler: in-batch goes with --objective sampled-softmax")) {
            try SupervisedObjective.options("gbce", negatives: nil, t: nil, sampler: "in-batch")
        }
        var run = TrainingRun(model: smallConfig(.ce, items: 30))
        run.settings.objective = .sampledSoftmax(negatives: 3, sampler: .mixed)
        run.settings.sharedNegatives = false
        #expect(throws: RecRLError.self) { try run.validate() }
    }
}
