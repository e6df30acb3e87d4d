import ArgumentParser
import Foundation
import RecCore
import RecRL

/// Offline RL training steps on synthetic sessions (uniformly random items, one purchase in
/// four events): the whole `Trainer.train` step (states, targets, argmax over the catalog,
/// CE + Q losses, backward, Adam), for each algorithm.
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training step of CE / SQN / SAC / SNQN / SA2C (SASRec encoder, CE + Q heads over N items, Adam).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Algorithms, comma-separated (ce, sqn, sac, snqn, sa2c).") var algo: String = "ce,sqn,sac,snqn,sa2c"
    @Option(
        help: "Negatives per transition: SNQN/SA2C's Q head's (default 10) and a sampled objective's (default 256).")
    var negatives: Int?
    @Option(
        help:
            "Supervised objectives, comma-separated: softmax (the whole catalog), sampled-softmax, gbce (each measured in the same run)."
    ) var objective: String = "softmax"
    @Option(help: "A sampled objective's negatives: uniform, popularity, popularity:ALPHA, in-batch or mixed.")
    var sampler: String?
    @Flag(help: "A sampled objective's negatives drawn per transition (default: one list the batch shares).")
    var negativesPerTransition = false
    @Option(help: "Parts each batch is computed in (Trainer's batchParts; threads run parts side by side).")
    var batchParts: Int = 2

    /// A step's FLOPs: the trained network's encoder forward and backward and its softmax head; for
    /// the Q algorithms also the no-dropout forwards of both networks over the next states (and the
    /// states, with negatives) and main's argmax over the catalog for them (the TD columns are few).
    static func flops(
        _ alg: Algorithm, batch b: Int, length L: Int, dim d: Int, items n: Int, blocks: Int,
        objective: SupervisedObjective = .softmax
    ) -> Double {
        // A sampled head scores K + 1 columns a state: 3 × 2·B·(K + 1)·d (forward, dW, dS).
        let head =
            objective.isSampled
            ? 6 * Double(b) * Double(objective.negatives + 1) * Double(d)
            : Flops.softmaxHead(batch: b, items: n, dim: d)
        var f = Flops.encoderStep(batch: b, length: L, dim: d, blocks: blocks, projection: false) + head
        if alg.usesQ {
            let evaluated = alg.usesNegatives ? 2 * b : b
            f += 2 * Flops.encoderForward(batch: evaluated, length: L, dim: d, blocks: blocks, projection: false)
            f += Flops.score(batch: evaluated, items: n, dim: d)
        }
        return f
    }

    func run() throws {
        let b = common.batch ?? 256
        let L = common.length ?? 10
        let d = common.dim ?? 64
        let n = common.items ?? 100_000
        let algs = try algo.split(separator: ",").map { s -> Algorithm in
            guard let a = Algorithm(rawValue: String(s)) else {
                throw ValidationError("--algo: unknown algorithm '\(s)'")
            }
            return a
        }
        let objectives = try objective.split(separator: ",").map { part in
            let name = String(part)
            do {
                return try SupervisedObjective.options(
                    name, negatives: name == "softmax" ? nil : negatives, t: nil,
                    sampler: name == "softmax" ? nil : sampler)
            } catch { throw ValidationError("\(error)") }
        }
        // Synthetic sessions covering the catalog.
        var g = Xoshiro256(seed: common.seed)
        var sess = [String]()
        var times = [Double]()
        var items = [String]()
        var events = [String]()
        let sessions = max(2000, n / 5)
        for s in 0..<sessions {
            for k in 0..<10 {
                sess.append(String(s))
                times.append(Double(k))
                items.append(String(k < 5 ? 1 + ((s * 5 + k) % n) : 1 + Int(g.next() % UInt64(n))))
                events.append(g.next() % 4 == 0 ? "purchase" : "click")
            }
        }
        let data = try SessionData(
            try EventLog(sessions: sess, times: times, items: items, events: events),
            preprocessing: Preprocessing(minItemCount: 1, minSessionLength: 1))
        let transitions = try Transitions(data, length: L)
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            for alg in algs {
                for obj in objectives {
                    var c = ModelConfig(items: data.itemCount)
                    c.algorithm = alg
                    c.length = L
                    c.dim = d
                    c.heads = common.heads ?? 1
                    c.blocks = common.blocks ?? 1
                    let model = SequentialRecommender(
                        config: c, itemKeys: data.itemKeys, eventTypes: data.eventTypes, seed: common.seed)
                    var st = TrainingSettings()
                    st.batch = b
                    st.negatives = negatives ?? 10
                    st.objective = obj
                    st.sharedNegatives = !negativesPerTransition
                    try st.objective.validate(items: data.itemCount)
                    st.warmupSteps = 0
                    st.batchParts = batchParts
                    let trainer = Trainer(model: model, settings: st, totalSteps: 1_000_000)
                    trainer.profile = StepProfile()
                    var order = Array(0..<transitions.count)
                    order.shuffle(using: &g)
                    var next = 0
                    let params: [(String, Any)] = [
                        ("algo", alg.rawValue), ("batch", b), ("length", L), ("dim", d), ("items", data.itemCount),
                        ("blocks", c.blocks), ("heads", c.heads), ("parts", batchParts), ("objective", obj.description),
                        ("negatives_per", !obj.isSampled ? "-" : negativesPerTransition ? "transition" : "batch"),
                    ]
                    var m = Measurement(
                        name: "train.\(alg.rawValue)"
                            + (obj.isSampled ? "." + String(obj.description.prefix { $0 != " " }) : ""),
                        params: params,
                        timesMs: timeit(reps: common.reps) {
                            if next + b > order.count { next = 0 }
                            let batch = Array(order[next..<(next + b)])
                            next += b
                            _ = try! trainer.train(transitions, batch: batch)
                        }, threads: t)
                    m.extra = [
                        ("sequences_per_second", Double(b) / (m.medianMs / 1e3)),
                        ("peak_rss_mb", residentMemoryMB().peak),
                    ]
                    // Where the time goes, ms a step (part phases summed over the parts' threads).
                    if let p = trainer.profile {
                        m.extra += p.phases.map { ("ms_\($0.0)", 1000 * $0.1 / Double(max(1, p.steps))) }
                    }
                    m.extra += Probes.efficiency(
                        flops: Self.flops(
                            alg, batch: b, length: L, dim: d, items: data.itemCount, blocks: c.blocks, objective: obj),
                        ms: m.medianMs, threads: t)
                    out.append(m)
                }
            }
        }
        report(out, format: common.format)
    }
}
