// reckit-mpi: `mpirun -np R reckit-mpi train ...` trains as `reckit train` does, data-parallel
// over R ranks; `reckit-mpi compare A B` says whether two checkpoints hold the same parameters
// within a tolerance (the scaled-out run against one process); `reckit-mpi bench` measures steps/s
// and gradient bytes per step on a synthetic catalog.
import ArgumentParser
import Foundation
import RecKit
import RecKitMPI
import ReckitCLI

struct ReckitMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reckit-mpi",
        abstract:
            "RecKit over MPI: data-parallel training (run under mpirun), checkpoint comparison, a step benchmark.",
        subcommands: [TrainMPI.self, Compare.self, BenchMPI.self])
}

struct TrainMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "reckit train, data-parallel over the ranks of mpirun (same options, same result as one process).",
        discussion: """
            Every rank reads the data and takes its slice of each global batch (--batch is the global \
            batch); gradients and losses are summed across the ranks before each Adam step, and \
            dropout masks, negatives and coin flips come from the step and the sample's index in the \
            batch, so R ranks end with the parameters one process gives (up to rounding). Rank 0 \
            alone writes OUT and prints. Threads per rank: --threads, else the cores divided by the \
            ranks on this machine. A rank that fails stops every rank with its message.
            """)
    @OptionGroup var options: TrainOptions
    func run() throws { try MPIRun.run { group in try options.run(group: group) } }
}

/// MPI set-up, per-rank threads and the error path shared by the subcommands that run on ranks.
enum MPIRun {
    static func run(_ body: (MPIProcessGroup) throws -> Void) throws {
        let group: MPIProcessGroup
        do { group = try MPIProcessGroup() } catch {
            stderrLine("reckit-mpi: error: \(error)")
            throw ExitCode(1)
        }
        if ProcessInfo.processInfo.environment["RECKIT_THREADS"] == nil {
            Threading.setCount(max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, group.localSize)))
        }
        do {
            try body(group)
        } catch {
            fail(group, error)
        }
        group.finalize()
    }

    /// Prints the error once and stops every rank. An error every rank meets (bad options, a
    /// diverged loss) is printed by rank 0 alone: the others wait a moment, in which rank 0's
    /// abort ends them; an error of one rank only is printed by that rank.
    static func fail(_ group: MPIProcessGroup, _ error: Error) -> Never {
        if group.rank != 0 { Thread.sleep(forTimeInterval: 1) }
        let message: String
        if let line = errorLine(error) {
            message = line
        } else if let v = error as? ValidationError {
            message = v.message
        } else {
            message = "\(error)"
        }
        stderrLine("reckit-mpi: rank \(group.rank) of \(group.size): error: \(message)")
        group.abort(1)
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the parameters of two checkpoints: per tensor, ‖a − b‖ / ‖b‖ and the largest |a − b|.",
        discussion:
            "Exit status 1 when a tensor differs by more than --tolerance, is missing or has another shape. Optimiser states (adam*) are not parameters and are skipped."
    )
    @Argument(help: "Checkpoint A (e.g. the data-parallel run's last.safetensors).") var a: String
    @Argument(help: "Checkpoint B (the reference, e.g. one process's).") var b: String
    @Option(help: "Largest relative difference ‖a − b‖ / ‖b‖ per tensor.") var tolerance: Double = 1e-5
    @Flag(help: "Print every tensor, not only the worst.") var all = false

    func run() throws {
        let ta: [String: Tensor]
        let tb: [String: Tensor]
        do {
            ta = try SafeTensors.read(a).tensors
            tb = try SafeTensors.read(b).tensors
        } catch {
            stderrLine("reckit-mpi: error: \(error)")
            throw ExitCode(1)
        }
        let names = tb.keys.filter { !$0.hasPrefix("adam") }.sorted()
        var worst = (name: "", relative: 0.0, maxAbs: 0.0)
        var problems = [String]()
        for name in names {
            guard let x = ta[name] else {
                problems.append("\(name): missing in \(a)")
                continue
            }
            let y = tb[name]!
            guard x.shape == y.shape else {
                problems.append("\(name): shape \(x.shape) in \(a), \(y.shape) in \(b)")
                continue
            }
            var d = 0.0
            var n = 0.0
            var m = 0.0
            for (u, v) in zip(x.values, y.values) {
                let e = Double(u) - Double(v)
                d += e * e
                n += Double(v) * Double(v)
                m = max(m, abs(e))
            }
            let rel = d == 0 ? 0 : (n > 0 ? (d / n).squareRoot() : .infinity)
            if all { print(String(format: "%@  relative %.3e  max |a-b| %.3e", name, rel, m)) }
            if rel > worst.relative || worst.name.isEmpty { worst = (name, rel, m) }
            if !(rel <= tolerance) {
                problems.append(String(format: "%@: relative difference %.3e > %.1e", name, rel, tolerance))
            }
        }
        print(
            String(
                format: "%ld tensors; worst %@: relative %.3e, max |a-b| %.3e (tolerance %.1e)",
                names.count, worst.name, worst.relative, worst.maxAbs, tolerance))
        if !problems.isEmpty {
            for p in problems.prefix(20) { stderrLine("reckit-mpi compare: \(p)") }
            throw ExitCode(1)
        }
    }
}

struct BenchMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract:
            "Training steps per second and gradient bytes per step, data-parallel over the ranks (synthetic sessions).",
        discussion: """
            The sessions of recbench train (uniformly random items, one purchase in four events). Each \
            rank times whole steps (its slice, the sums across ranks, Adam); rank 0 prints the median. \
            Under `mpirun -np 1` (or without mpirun) the step runs alone, without a process group: the \
            single-process reference.
            """)
    @Option(help: "Algorithms, comma-separated.") var algo: String = "ce,sqn"
    @Option(help: "Catalog size N.") var items: Int = 10_000
    @Option(help: "Global batch.") var batch: Int = 256
    @Option(help: "Hidden size d.") var dim: Int = 64
    @Option(help: "State length.") var length: Int = 10
    @Option(help: "Timed steps.") var steps: Int = 20
    @Option(help: "Untimed steps first.") var warmup: Int = 3
    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        for (name, value, low) in [
            ("--items", items, 1), ("--batch", batch, 1), ("--dim", dim, 1), ("--length", length, 1),
            ("--steps", steps, 1), ("--warmup", warmup, 0),
        ] where value < low {
            throw ValidationError("\(name) must be at least \(low), got \(value)")
        }
        guard items <= ModelConfig.maxItems, dim <= ModelConfig.maxDim, length <= ModelConfig.maxLength else {
            throw ValidationError(
                "--items, --dim or --length beyond RecKit's limits (\(ModelConfig.maxItems), \(ModelConfig.maxDim), \(ModelConfig.maxLength))"
            )
        }
    }

    func run() throws {
        try MPIRun.run { group in
            if threading.threads != nil { try threading.apply() }
            let algs = try algo.split(separator: ",").map { s throws -> Algorithm in
                guard let a = Algorithm(rawValue: String(s)) else {
                    throw ValidationError("--algo: unknown algorithm '\(s)'")
                }
                return a
            }
            var g = Xoshiro256(seed: 1)
            var sess = [String]()
            var times = [Double]()
            var ids = [String]()
            var events = [String]()
            for s in 0..<max(2000, items / 5) {
                for k in 0..<10 {
                    sess.append(String(s))
                    times.append(Double(k))
                    ids.append(String(k < 5 ? 1 + ((s * 5 + k) % items) : 1 + Int(g.next() % UInt64(items))))
                    events.append(g.next() % 4 == 0 ? "purchase" : "click")
                }
            }
            let data = try SessionData(
                try EventLog(sessions: sess, times: times, items: ids, events: events),
                preprocessing: Preprocessing(minItemCount: 1, minSessionLength: 1))
            let transitions = try Transitions(data, length: length)
            let alone = group.size == 1
            for alg in algs {
                var c = ModelConfig(items: data.itemCount)
                c.algorithm = alg
                c.length = length
                c.dim = dim
                let model = SequentialRecommender(
                    config: c, itemKeys: data.itemKeys, eventTypes: data.eventTypes, seed: 1)
                var st = TrainingSettings()
                st.batch = batch
                st.warmupSteps = 0
                let trainer = Trainer(model: model, settings: st, totalSteps: 1_000_000, group: alone ? nil : group)
                var ms = [Double]()
                for step in 0..<(warmup + steps) {
                    let lo = (step * batch) % max(1, transitions.count - batch)
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try trainer.train(transitions, batch: Array(lo..<(lo + batch)))
                    if step >= warmup { ms.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
                }
                guard group.rank == 0 else { continue }
                ms.sort()
                let median = ms[ms.count / 2]
                let t = trainer.traffic
                print(
                    String(
                        format:
                            "bench-mpi algo=%@ items=%ld batch=%ld ranks=%ld threads=%ld median_ms=%.2f steps_per_s=%.2f "
                            + "seq_per_s=%.0f sent_mb_per_step=%.3f dense_mb_per_step=%.3f",
                        alg.rawValue, data.itemCount, batch, group.size, Threading.count, median, 1000 / median,
                        Double(batch) * 1000 / median, t.sentPerStep / 1e6, t.densePerStep / 1e6))
            }
        }
    }
}

// OpenBLAS picks its kernels when it loads: on a CPU it does not know (a VM's generic model) each
// rank starts again once with the core the CPU runs, before MPI starts, as `reckit` does, so that
// the ranks run the kernels one `reckit` process runs.
BLASHealth.reexecIfNeeded(tool: "reckit-mpi")

// Argument errors come before MPI starts: every rank meets them, rank 0 alone prints.
do {
    var command = try ReckitMPI.parseAsRoot()
    try command.run()
} catch {
    let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"]
    if rank == nil || rank == "0" { ReckitMPI.exit(withError: error) }
    exit(ReckitMPI.exitCode(for: error).rawValue)
}
