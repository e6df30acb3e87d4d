import Foundation
import RecCore
import RecRL
import Testing

/// `reckit tune`'s search space: what it reads and refuses, and draws that depend on the space,
/// the seed and the trial only.
@Suite struct SearchSpaceTests {
    static let text = #"""
        {"lr": {"log_uniform": [0.0005, 0.02]}, "dim": {"choice": [32, 64, 128]},
         "dropout": {"uniform": [0, 0.5]}, "blocks": {"int": [1, 3]}}
        """#

    @Test func drawsStayInTheirRangesAndDependOnTheTrialOnly() throws {
        let space = try SearchSpace.parse(Data(Self.text.utf8), file: "space.json")
        #expect(space.names == ["blocks", "dim", "dropout", "lr"])
        var seenDims = Set<Double>()
        var seenBlocks = Set<Double>()
        var logs = [Double]()
        for t in 0..<400 {
            let s = space.sample(trial: t, seed: 7)
            #expect(s == space.sample(trial: t, seed: 7))
            #expect([32, 64, 128].contains(s["dim"]!))
            #expect((1...3).contains(Int(s["blocks"]!)) && s["blocks"] == s["blocks"]!.rounded())
            #expect(s["dropout"]! >= 0 && s["dropout"]! <= 0.5)
            #expect(s["lr"]! >= 0.0005 && s["lr"]! <= 0.02)
            seenDims.insert(s["dim"]!)
            seenBlocks.insert(s["blocks"]!)
            logs.append(log(s["lr"]!))
        }
        #expect(seenDims.count == 3 && seenBlocks.count == 3)
        // log lr is uniform: its mean is the middle of the log range within 4 standard errors.
        let lo = log(0.0005)
        let hi = log(0.02)
        let mean = logs.reduce(0, +) / Double(logs.count)
        let se = (hi - lo) / sqrt(12) / sqrt(Double(logs.count))
        #expect(abs(mean - (lo + hi) / 2) < 4 * se, "mean \(mean)")
        // Another seed, other draws.
        #expect(space.sample(trial: 0, seed: 7) != space.sample(trial: 0, seed: 8))
    }

    @Test func badSpacesAreRefusedNamingTheSetting() {
        func refused(_ json: String, _ wanted: String) {
            do {
                _ = try SearchSpace.parse(Data(json.utf8), file: "s.json")
                Issue.record("accepted \(json)")
            } catch {
                #expect("\(error)".contains(wanted), "\(error)")
            }
        }
        refused(#"{"learning_rate": {"uniform": [0, 1]}}"#, #"unknown setting "learning_rate" (searchable: batch"#)
        refused(#"{"dim": {"uniform": [8, 32]}}"#, #"is an integer setting: use "int" or "choice""#)
        refused(#"{"dim": {"choice": [8, 16.5]}}"#, "16.5 is not an integer")
        refused(#"{"lr": {"log_uniform": [0, 0.1]}}"#, "log_uniform needs 0 < low")
        refused(#"{"lr": {"uniform": [0.1, 0.01]}}"#, "needs low ≤ high")
        refused(#"{"lr": {"normal": [0, 1]}}"#, #"unknown distribution "normal""#)
        refused(#"{"lr": {"uniform": [0.1]}}"#, "takes [low, high]")
        refused(#"{"lr": {"choice": []}}"#, "takes a non-empty array")
        refused(#"{"lr": 0.1}"#, "expected one of")
        refused("{}", "must be a JSON object of settings")
        refused("{nope", "not valid JSON")
    }

    @Test func settingsReachTheJob() throws {
        var job = TrainingJob(data: EventDataSpec(data: "x.csv"))
        try job.set("lr", to: 0.003)
        try job.set("dim", to: 32)
        try job.set("epochs", to: 4)
        try job.set("negatives", to: 20)
        #expect(job.settings.learningRate == Float(0.003) && job.model.dim == 32)
        #expect(job.epochs == 4 && job.settings.negatives == 20)
        #expect(throws: RecRLError.self) { try job.set("dim", to: 32.5) }
        #expect(throws: RecRLError.self) { try job.set("momentum", to: 0.9) }
        // A baseline's setting is not a training one.
        #expect(throws: RecRLError.self) { try job.set("neighbours", to: 100) }
    }

    /// A job file's sampled-objective keys: read when the file names a sampled objective,
    /// refused (naming the key) where they would be ignored.
    @Test func jobFileObjectiveKeys() throws {
        func job(_ json: String) throws(RecRLError) -> TrainingJob {
            try TrainingJob.parse(config: Data(json.utf8), source: "job.json", base: URL(fileURLWithPath: "/tmp"))
        }
        let j = try job(
            #"{"data": "x.csv", "objective": "gbce", "negatives": 64, "gbce_t": 0.5, "sampler": "popularity:0.5", "negatives_per": "transition"}"#
        )
        #expect(j.settings.objective == .gbce(negatives: 64, t: 0.5, sampler: .popularity(alpha: 0.5)))
        #expect(!j.settings.sharedNegatives)
        func refused(_ json: String, _ fragment: String) {
            do {
                _ = try job(json)
                Issue.record("accepted \(json)")
            } catch {
                #expect("\(error)".contains(fragment), "\(error)")
            }
        }
        refused(#"{"data": "x.csv", "sampler": "popularity"}"#, "job.json: sampler: it goes with objective")
        refused(
            #"{"data": "x.csv", "objective": "softmax", "gbce_t": 0.5}"#, "job.json: gbce_t: it goes with objective")
        refused(#"{"data": "x.csv", "negatives_per": "transition"}"#, "job.json: negatives_per: it goes with objective")
        refused(
            #"{"data": "x.csv", "objective": "sampled-softmax", "gbce_t": 0.5}"#,
            "gbce_t: it goes with objective gbce, not sampled-softmax")
    }
}
