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
    @Option(help: "Negatives per transition (snqn, sa2c).") var negatives: Int = 10
    @Option(help: "Parts each batch is computed in (Trainer's batchParts; threads run parts side by side).")
    var batchParts: Int = 2

    /// A step's FLOPs: the trained network's encoder forward and backward and its softmax head; for
    /// the Q algorithms also the no-dropout forwards of both networks over the next states (and the
    /// states, with negatives) and main's argmax over the catalog for them (the TD columns are few).
    static func flops(_ alg: Algorithm, batch b: Int, length L: Int, dim d: Int, items n: Int, blocks: Int) -> Double {
        var f =
            Flops.encoderStep(batch: b, length: L, dim: d, blocks: blocks, projection: false)
            + Flops.softmaxHead(batch: b, items: n, dim: d)
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
                st.negatives = negatives
                st.warmupSteps = 0
                st.batchParts = batchParts
                let trainer = Trainer(model: model, settings: st, totalSteps: 1_000_000)
                trainer.profile = StepProfile()
                var order = Array(0..<transitions.count)
                order.shuffle(using: &g)
                var next = 0
                let params: [(String, Any)] = [
                    ("algo", alg.rawValue), ("batch", b), ("length", L), ("dim", d), ("items", data.itemCount),
                    ("blocks", c.blocks), ("heads", c.heads), ("parts", batchParts),
                ]
                var m = Measurement(
                    name: "train.\(alg.rawValue)", params: params,
                    timesMs: timeit(reps: common.reps) {
                        if next + b > order.count { next = 0 }
                        let batch = Array(order[next..<(next + b)])
                        next += b
                        _ = try! trainer.train(transitions, batch: batch)
                    }, threads: t)
                m.extra = [
                    ("sequences_per_second", Double(b) / (m.medianMs / 1e3)), ("peak_rss_mb", residentMemoryMB().peak),
                ]
                // Where the time goes, ms a step (part phases summed over the parts' threads).
                if let p = trainer.profile {
                    m.extra += p.phases.map { ("ms_\($0.0)", 1000 * $0.1 / Double(max(1, p.steps))) }
                }
                m.extra += Probes.efficiency(
                    flops: Self.flops(alg, batch: b, length: L, dim: d, items: data.itemCount, blocks: c.blocks),
                    ms: m.medianMs, threads: t)
                out.append(m)
            }
        }
        report(out, format: common.format)
    }
}
