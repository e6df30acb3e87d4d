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
        for (a, b) in zip(loaded.networks[1].parameters, resumed.model.networks[1].parameters) {
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
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/last.safetensors"))
        // A reward of 1e30 makes the TD loss overflow in the first steps of the next epoch.
        run.rewards = RewardTable(["click": 1e30, "purchase": 1e30])
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

@Suite struct EvaluationTests {
    @Test func rankOfTargetsMatchesASort() {
        var g = Xoshiro256(seed: 4)
        let B = 7
        let N = 50
        var vals = (0..<(B * N)).map { _ in Float(Int(g.next() % 10)) }  // many ties
        vals[3] = .nan
        let z = Matrix(rows: B, cols: N, elements: vals)
        let targets = (0..<B).map { 1 + ($0 * 7) % N }
        let r = rankOfTargets(z, targets: targets)
        for b in 0..<B {
            let order = (0..<N).sorted { ranksAbove(z[b, $0], Int32($0), z[b, $1], Int32($1)) }
            #expect(r[b] == order.firstIndex(of: targets[b] - 1)!)
        }
    }

    @Test func popularityAndMetricsByHand() throws {
        let pop = PopularityRanker(trainingCounts: [5, 9, 5, 1])
        #expect(pop.rank == [1, 0, 2, 3])
        var m = RankingMetrics(cutoffs: [1, 3], eventTypes: ["click", "purchase"])
        m.add(rank: 0, event: 0)
        m.add(rank: 2, event: 0)
        m.add(rank: 5, event: 1)
        #expect(m.hitRate("click", at: 1) == 0.5 && m.hitRate("click", at: 3) == 1)
        #expect(abs(m.ndcg("click", at: 3)! - (1 + 1 / log2(4.0)) / 2) < 1e-12)
        #expect(m.hitRate("purchase", at: 3) == 0)
    }

    /// The data-pipeline check of the README on real data: the popularity ranking on
    /// MovieLens-100K under the documented protocol.
    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: movieLensPath),
            "run scripts/fetch-movielens to fetch MovieLens-100K"))
    func movieLensPopularityBaseline() throws {
        let path = movieLensPath
        let log = try EventLog.loadMovieLens(path, ratings: .purchaseFiveClickRest)
        #expect(log.count == 100_000)
        let data = try SessionData(log, preprocessing: Preprocessing(minItemCount: 5, minSessionLength: 3))
        var purchase = [Double]()
        var click = [Double]()
        for seed: UInt64 in 1...3 {
            let split = SessionSplit.random(sessions: data.sessionCount, seed: seed)
            let m = try Evaluation.run(
                PopularityRanker(trainingCounts: data.subset(split.train).itemCounts()), data: data,
                sessions: split.test, length: 10)
            purchase.append(m.hitRate("purchase", at: 10)!)
            click.append(m.hitRate("click", at: 10)!)
        }
        let mp = purchase.reduce(0, +) / 3
        let mc = click.reduce(0, +) / 3
        #expect(mp > 0.05 && mp < 0.08, "purchase HR@10 \(purchase)")
        #expect(mc > 0.04 && mc < 0.06, "click HR@10 \(click)")
    }
}

@Suite struct ServingTests {
    @Test func policiesFollowTheModelScores() throws {
        let data = try syntheticData(sessions: 20, items: 15)
        let model = SequentialRecommender(
            config: smallConfig(.sqn, items: data.itemCount), itemKeys: data.itemKeys, eventTypes: data.eventTypes,
            seed: 4)
        let state = [3, 5, 0, 0]
        let candidates = [2, 4, 6, 8, 10]
        let z = try model.scores([state])
        let greedy = try model.servingPolicy(state: state, candidates: candidates, rule: .greedy)
        let m = try greedy.exactMarginals(k: 2)
        let best = candidates.indices.max { z[0, candidates[$0] - 1] < z[0, candidates[$1] - 1] }!
        #expect(m.probability(item: best, rank: 0) == 1)
        let pl = try model.servingPolicy(state: state, candidates: candidates, rule: try ServingRule.parse("pl:0.5"))
        let plm = try pl.exactMarginals(k: 1)
        let w = candidates.map { exp(Double(z[0, $0 - 1]) / 0.5) }
        for j in candidates.indices { #expect(abs(plm.probability(item: j, rank: 0) - w[j] / w.reduce(0, +)) < 1e-6) }
        let eg = try model.servingPolicy(
            state: state, candidates: candidates, rule: try ServingRule.parse("epsilon:0.2:0.6:0.4"),
            popularity: data.itemCounts())
        #expect(abs(try eg.exactMarginals(k: 1).columnSum(rank: 0) - 1) < 1e-9)
        #expect(throws: RecRLError.self) { try model.servingPolicy(state: state, candidates: [0], rule: .greedy) }
        #expect(throws: RecRLError.self) { try ServingRule.parse("softmax") }
    }
}

/// The RecRL part of README.md's library tour, kept compiling and checked (on simulated
/// sessions instead of MovieLens, one short epoch).
@Suite struct ReadmeRLTourTests {
    @Test func tour() throws {
        var c = SessionSimulator.Config()
        c.items = 60
        c.sessions = 300
        let log = try SessionSimulator(config: c, seed: 1).generate(seed: 2)
        let data = try SessionData(log, preprocessing: Preprocessing(minItemCount: 1, minSessionLength: 3))
        let split = SessionSplit.random(sessions: data.sessionCount, seed: 1)
        var model = ModelConfig(items: data.itemCount)
        model.algorithm = .sa2c
        model.length = 10
        model.dim = 16
        model.blocks = 1
        var run = TrainingRun(model: model)
        run.epochs = 1
        run.rewards = try RewardTable.parse("click=0.2,purchase=1.0")
        run.gamma = 0.5
        let (recommender, report) = try run.run(data: data, split: split)
        let ndcg = try #require(report.best.test.ndcg("purchase", at: 10))
        #expect(ndcg >= 0 && ndcg <= 1)
        let scores = try recommender.scores([[12, 7, 3, 0, 0, 0, 0, 0, 0, 0]])
        #expect(scores.rows == 1 && scores.cols == data.itemCount)
        let policy = try recommender.servingPolicy(
            state: [12, 7, 3, 0, 0, 0, 0, 0, 0, 0], candidates: Array(1...50),
            rule: .plackettLuce(temperature: 0.5))
        #expect(policy.itemCount == 50)
        let popularity = try Evaluation.run(
            PopularityRanker(trainingCounts: data.subset(split.train).itemCounts()),
            data: data, sessions: split.test, length: 10)
        #expect(popularity.counts.reduce(0, +) == split.test.reduce(0) { $0 + data.range($1).count })
    }
}

/// A trained model as the target of an offline A/B test (what `reckit offline-ab
/// --target-model` does): on slates logged by a uniformly random policy, the IS estimate of
/// the model's greedy policy matches the exact value computed from the simulator's true
/// next-event probabilities, within 4 standard errors.
@Suite struct ModelOfflineABTests {
    @Test func isEstimateOfTheTrainedPolicyMatchesTheTruth() throws {
        var c = SessionSimulator.Config()
        c.items = 40
        c.sessions = 600
        let sim = try SessionSimulator(config: c, seed: 11)
        let data = try SessionData(try sim.generate(seed: 12))
        var mc = ModelConfig(items: data.itemCount)
        mc.algorithm = .ce
        mc.dim = 16
        var run = TrainingRun(model: mc)
        run.epochs = 2
        let (model, _) = try run.run(data: data, split: SessionSplit.random(sessions: data.sessionCount, seed: 1))
        let K = 3
        let n = data.itemCount
        let impressions = 6000
        let exam = (0..<K).map { 1 / Double($0 + 1) }
        var g = Xoshiro256(seed: 5)
        var histories = [[String]]()
        var items = [Int]()
        var positions = [Int]()
        var rewards = [Double]()
        var ctx = [Int]()
        var attract = [[Double]]()
        for imp in 0..<impressions {
            let s = Int(g.next() % UInt64(data.sessionCount))
            let r = data.range(s)
            let cut = r.lowerBound + Int(g.next() % UInt64(r.count))
            let h = data.items[r.lowerBound..<cut].map { Int($0) }
            histories.append(h.map { data.itemKeys[$0 - 1] })
            // The simulator's items are its own ids; map dense ids back through the raw keys.
            let p = sim.nextItemProbabilities(history: h.map { (item: Int(data.itemKeys[$0 - 1])!, purchase: false) })
            attract.append(
                (0..<n).map { j in
                    min(1, 10 * (p.click[Int(data.itemKeys[j])! - 1] + p.purchase[Int(data.itemKeys[j])! - 1]))
                })
            let slate = try UniformRandomRanking(items: n).sampleRanking(k: K, using: &g)
            for (pos, j) in slate.enumerated() {
                items.append(j)
                positions.append(pos)
                ctx.append(imp)
                rewards.append(Double(g.next() >> 11) * 0x1p-53 < exam[pos] * attract[imp][j] ? 1 : 0)
            }
        }
        let logs = try LoggedData(
            items: items, positions: positions, rewards: rewards,
            propensities: [Double](repeating: 1 / Double(n), count: items.count), contexts: ctx)
        let (marg, unknown) = try model.servingMarginals(
            histories: histories, candidateKeys: data.itemKeys, rule: .greedy, k: K)
        #expect(unknown == 0 && marg.count == impressions)
        var truth = 0.0
        for (imp, m) in marg.enumerated() {
            for j in 0..<n {
                for pos in 0..<K { truth += m.probability(item: j, rank: pos) * exam[pos] * attract[imp][j] }
            }
        }
        truth /= Double(impressions * K)
        var settings = EvaluationSettings()
        settings.bootstrap = 0
        settings.caps = [10]
        let ev = try OfflineEvaluation.evaluate(
            logs: logs, targets: marg, targetState: logs.contexts, policy: "greedy",
            logging: nil, loggingState: nil, settings: settings)
        let isEst = try #require(ev.estimate(.IS))
        let se = (isEst.normal.high - isEst.normal.low) / (2 * 1.959964)
        #expect(abs(isEst.value - truth) < 4 * se, "IS \(isEst.value) ± \(se), truth \(truth)")
        // The model's greedy policy is better than the uniform logging policy here.
        #expect(truth > logs.meanReward * 1.5, "truth \(truth), logged \(logs.meanReward)")
    }
}

@Suite struct ModelConfigCompatibilityTests {
    /// New models use the authors' block (no attention output projection, dropout after both
    /// FFN layers); a checkpoint config written before those fields existed rebuilds the block
    /// it was trained with (a projection, no output dropout), so its tensors still all load.
    @Test func legacyConfigsKeepTheirArchitecture() throws {
        let fresh = ModelConfig(items: 20)
        #expect(fresh.attentionOutputProjection == false && fresh.ffnOutputDropout == true)
        let freshNames = QNetwork(fresh, seed: 1).parameters.map(\.name)
        #expect(!freshNames.contains { $0.contains("attn.out") })
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(fresh)) as! [String: Any]
        json.removeValue(forKey: "attentionOutputProjection")
        json.removeValue(forKey: "ffnOutputDropout")
        let legacy = try JSONDecoder().decode(ModelConfig.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(legacy.attentionOutputProjection == nil)
        #expect(QNetwork(legacy, seed: 1).parameters.contains { $0.name.contains("attn.out.weight") })
    }
}
