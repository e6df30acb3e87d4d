import ArgumentParser
import Foundation
import RecKit

/// `reckit rl-study`: the RL trainers on simulated sessions whose structure is known (gateway
/// items lead to purchases later in the session), over several seeds; prints test HR/NDCG@10
/// by event type, mean ± sd, for each algorithm; with `--slates`, each trained model served as
/// a slate policy and valued by the offline A/B engine on logged slates beside its exact value.
struct RLStudy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rl-study",
        abstract:
            "Train CE and the RL variants on simulated sessions with a known purchase structure; compare test metrics over seeds."
    )
    @Option(help: "Algorithms, comma-separated.") var algos: String = "ce,sqn,snqn,sa2c"
    @Option(help: "Seeds (data, split and training), comma-separated.") var seeds: String = "1,2,3"
    @Option(help: "Items in the simulated catalog.") var items: Int = 300
    @Option(help: "Simulated sessions.") var sessions: Int = 4000
    @Option(help: "Epochs.") var epochs: Int = 8
    @Option(help: "Adam learning rate.") var lr: Float = 0.005
    @Option(help: "Batch size.") var batch: Int = 256
    @Option(
        help:
            "The supervised head's objective: softmax, sampled-softmax or gbce (as reckit train's)."
    ) var objective: String = "softmax"
    @Option(help: "Negatives: the Q head's (default 10) and a sampled objective's (default 256).") var negatives: Int?
    @Option(help: "A sampled objective's negatives: uniform, popularity, popularity:ALPHA, in-batch or mixed.")
    var sampler: String = "uniform"
    @Option(help: "gBCE's calibration t in (0, 1] (default 0.75).") var gbceT: Double?
    @Option(
        help:
            "How sessions are drawn: inverse-cdf (O(items) an event; the logs of earlier versions), structural (O(1) an event, other draws of the same world), or auto (structural above 10,000 items)."
    ) var drawing: DrawingChoice = .auto
    @Option(
        help:
            "Test histories on which the best model's next-item distribution is compared with the world's (top-10 overlap, mass captured, KL); 0 for none."
    ) var recovery: Int = 0
    @Option(
        help:
            "Logged slates a seed, one per test history (taken in turn when there are more slates than histories): each trained model, served as a slate policy, is valued on them by the offline A/B engine (IIPS, SNIIPS; a uniform logging policy showed the slates) beside its exact value in the world; 0 for none."
    ) var slates: Int = 0
    @Option(help: "Positions of the logged slates.") var slateDepth: Int = 5
    @Option(
        help:
            "The logging policy of the slates: uniform, or popularity:T (Plackett–Luce over log(1 + the item's training events) / T; its exact item-position probabilities are the propensities)."
    ) var logging: String = "uniform"
    @Option(help: "How a model serves its slate: greedy, epsilon:EPS[:TAIL_SHARE[:HEAD_FRACTION]] or pl:TEMPERATURE.")
    var serving: String = "greedy"
    @OptionGroup var threading: ThreadOptions

    enum DrawingChoice: String, ExpressibleByArgument, CaseIterable {
        case auto
        case inverseCDF = "inverse-cdf"
        case structural
    }

    func run() throws {
        try threading.apply()
        let algs = try algos.split(separator: ",").map { s -> Algorithm in
            do { return try Algorithm(parsing: String(s), field: "--algos") } catch {
                throw ValidationError("\(error)")
            }
        }
        let seedList = try seeds.split(separator: ",", omittingEmptySubsequences: false).map { s -> UInt64 in
            guard let v = UInt64(s.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError(
                    "--seeds: '\(clipped(s))' is not a seed (comma-separated integers in 0...\(UInt64.max))")
            }
            return v
        }
        guard !algs.isEmpty else { throw ValidationError("--algos: give at least one algorithm") }
        guard epochs >= 1 && epochs <= 10_000 else {
            throw ValidationError("--epochs must be in 1...10000, got \(epochs)")
        }
        guard lr > 0 && lr.isFinite else { throw ValidationError("--lr must be positive and finite, got \(lr)") }
        guard batch >= 1 && batch <= 1_000_000 else {
            throw ValidationError("--batch must be in 1...1000000, got \(batch)")
        }
        guard recovery >= 0 && recovery <= 1_000_000 else {
            throw ValidationError("--recovery must be in 0...1000000, got \(recovery)")
        }
        guard slates >= 0 && slates <= 10_000_000 else {
            throw ValidationError("--slates must be in 0...10000000, got \(slates)")
        }
        guard slateDepth >= 1 && slateDepth <= min(items, 64) else {
            throw ValidationError("--slate-depth must be in 1...\(min(items, 64)), got \(slateDepth)")
        }
        let rule: ServingRule
        do { rule = try ServingRule.parse(serving) } catch { throw ValidationError("--serving: \(error)") }
        var loggingTemperature: Double? = nil
        if logging != "uniform" {
            guard logging.hasPrefix("popularity:"), let t = Double(logging.dropFirst(11)), t > 0, t.isFinite else {
                throw ValidationError(
                    "--logging: expected uniform or popularity:T with T > 0, got '\(clipped(logging))'")
            }
            loggingTemperature = t
        }
        let supervised = try TrainOptions.objective(objective, negatives: negatives, t: gbceT, sampler: sampler)
        do { try supervised.validate(items: items) } catch { throw ValidationError("\(error)") }
        let drawBy: SessionSimulator.Drawing =
            switch drawing {
            case .inverseCDF: .inverseCDF
            case .structural: .structural
            case .auto: items > 10_000 ? .structural : .inverseCDF
            }
        var check = SessionSimulator.Config()
        check.items = items
        check.sessions = sessions
        do { try check.validate() } catch { throw ValidationError("\(error) (--items, --sessions)") }
        try runRL {
            var results = [Algorithm: [[String: Double]]]()
            var recoveries = [Algorithm: [SessionSimulator.Recovery]]()
            var values = [Algorithm: [SessionSimulator.SlateValue]]()
            for seed in seedList {
                var c = SessionSimulator.Config()
                c.items = items
                c.sessions = sessions
                let sim = try SessionSimulator(config: c, seed: seed)
                let data = try SessionData(try sim.generate(seed: seed &+ 100, drawing: drawBy))
                let split = SessionSplit.random(sessions: data.sessionCount, seed: seed)
                let histories =
                    recovery > 0 ? SessionSimulator.histories(data, sessions: split.test, limit: recovery) : []
                // One logged slate per test history, the histories taken in turn when there are
                // more slates than histories (each slate and next event drawn afresh).
                let testHistories =
                    slates > 0 ? SessionSimulator.histories(data, sessions: split.test, limit: slates) : []
                let slateHistories =
                    testHistories.isEmpty ? [] : (0..<slates).map { testHistories[$0 % testHistories.count] }
                // A popularity logging policy: the world items' training events.
                var loggingScores: [Double]? = nil
                if let t = loggingTemperature {
                    var counts = [Double](repeating: 0, count: items)
                    for s in split.train {
                        for e in data.range(s) {
                            if let v = Int(data.itemKeys[Int(data.items[e]) - 1]), v >= 1 && v <= items {
                                counts[v - 1] += 1
                            }
                        }
                    }
                    loggingScores = counts.map { log1p($0) / t }
                }
                for a in algs {
                    var mc = ModelConfig(items: data.itemCount)
                    mc.algorithm = a
                    var run = TrainingRun(model: mc)
                    run.epochs = epochs
                    run.settings.learningRate = lr
                    run.settings.seed = seed
                    run.settings.batch = batch
                    run.settings.objective = supervised
                    run.settings.negatives = negatives ?? 10
                    let (model, report) = try run.run(data: data, split: split)
                    if !histories.isEmpty {
                        let r = try sim.recovery(of: model, histories: histories)
                        recoveries[a, default: []].append(r)
                        stderrLine(
                            String(
                                format:
                                    "seed %llu %@: recovery over %ld histories: top-10 overlap %.4f, mass captured %.4f, KL %.4f nats, unseen mass %.4f",
                                seed, a.rawValue, r.histories, r.topOverlap, r.massCaptured, r.kl, r.unseenMass))
                    }
                    if !slateHistories.isEmpty {
                        let v = try sim.slateValue(
                            of: model, rule: rule, histories: slateHistories, depth: slateDepth, seed: seed &+ 200,
                            loggingScores: loggingScores)
                        values[a, default: []].append(v)
                        let iips = v.estimates.first { $0.estimator == .IIPS }
                        stderrLine(
                            String(
                                format:
                                    "seed %llu %@: slate value over %ld slates: exact %.4f, IIPS %.4f [%.4f, %.4f] (logging %.4f)",
                                seed, a.rawValue, v.slates, v.trueValue, iips?.value ?? .nan,
                                iips?.interval.low ?? .nan, iips?.interval.high ?? .nan, v.loggingValue))
                    }
                    var flat = [String: Double]()
                    for (k, v) in report.best.test.flat { flat[k] = v }
                    results[a, default: []].append(flat)
                    stderrLine(
                        "seed \(seed) \(a.rawValue): purchase HR@10 \(String(format: "%.4f", flat["purchase_hr@10"] ?? .nan)), click HR@10 \(String(format: "%.4f", flat["click_hr@10"] ?? .nan))"
                    )
                }
            }
            let keys = ["purchase_hr@10", "purchase_ndcg@10", "click_hr@10", "click_ndcg@10"]
            print(
                "algorithm  "
                    + keys.map { $0.padding(toLength: 17, withPad: " ", startingAt: 0) }.joined(separator: " "))
            for a in algs {
                let rs = results[a] ?? []
                let cells = keys.map { k -> String in
                    let v = rs.compactMap { $0[k] }
                    // A metric the data cannot give (no such events in the test sessions) is
                    // undefined, not 0 ± 0.
                    guard !v.isEmpty, v.allSatisfy(\.isFinite) else {
                        return "undefined".padding(toLength: 20, withPad: " ", startingAt: 0)
                    }
                    let m = v.reduce(0, +) / Double(v.count)
                    let sd =
                        v.count > 1
                        ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
                    return String(format: "%.4f ± %.4f   ", m, sd)
                }
                print(a.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + cells.joined(separator: " "))
            }
            if slates > 0 {
                print("")
                print(
                    "slate value (\(rule.name), \(slateDepth) positions, \(slates) logged slates a seed over the test histories; \(logging) logging): exact, and the offline A/B engine's IIPS and SNIIPS with their 95% intervals"
                )
                for a in algs {
                    for (seed, v) in zip(seedList, values[a] ?? []) {
                        var line = a.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0) + " seed \(seed)"
                        line += String(format: "  exact %.4f  logging %.4f", v.trueValue, v.loggingValue)
                        for e in v.estimates {
                            let covers = e.interval.low <= v.trueValue && v.trueValue <= e.interval.high
                            line += String(
                                format: "  %@ %.4f [%.4f, %.4f]%@", e.estimator.rawValue, e.value, e.interval.low,
                                e.interval.high, covers ? "" : " (misses)")
                        }
                        print(line)
                    }
                }
            }
            if recovery > 0 {
                print("")
                print(
                    "recovery   top-10 overlap     mass captured      KL (nats)          unseen mass        (\(recovery) test histories a seed)"
                )
                for a in algs {
                    let rs = recoveries[a] ?? []
                    let cells = [\SessionSimulator.Recovery.topOverlap, \.massCaptured, \.kl, \.unseenMass].map {
                        path -> String in
                        let v = rs.map { $0[keyPath: path] }
                        let m = v.reduce(0, +) / Double(max(1, v.count))
                        let sd =
                            v.count > 1
                            ? (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot() : 0
                        return String(format: "%.4f ± %.4f   ", m, sd)
                    }
                    print(a.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + cells.joined(separator: " "))
                }
            }
        }
    }
}
