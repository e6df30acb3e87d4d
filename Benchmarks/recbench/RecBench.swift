import ArgumentParser
import CBLAS
import Foundation
import RecCore
import RecNN
import RecOPE

@main
struct RecBench: ParsableCommand {
    /// Keeps freed memory in the process (no trim, no per-allocation mmap), so that layers that
    /// allocate fresh activation matrices each step do not page-fault on every allocation. An
    /// executable's choice; the library itself does not touch the allocator.
    static func main() {
        BLASHealth.reexecIfNeeded(tool: "recbench")
        ProcessTuning.keepFreedMemory()
        Self.main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "recbench",
        abstract: "Benchmarks of RecKit's hot paths. Build with `make bench` (release, -target-cpu native).",
        discussion: "Every subcommand takes --batch --items --dim --k --threads --reps --seed --format.",
        subcommands: [
            GemmBench.self, ScoreBench.self, RNGBench.self, MCRankBench.self, ExactRankBench.self, OPEBench.self,
            OPEStreamBench.self, AttentionBench.self, EncoderBench.self, CEStepBench.self, CEHeadBench.self,
            TrainBench.self, IngestBench.self, OPESlateBench.self,
        ])
}

/// `C = A · Iᵀ` with A B×d and I N×d, through the Matrix wrapper and through cblas_sgemm directly.
struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "RecKit's GEMM wrapper against a direct cblas_sgemm call of the same shape.")
    @OptionGroup var common: CommonOptions

    func run() throws {
        let b = common.batch ?? 256
        let n = common.items ?? 100_000
        let d = common.dim ?? 64
        let a = Matrix.random(b, d, seed: common.seed)
        let items = Matrix.random(n, d, seed: common.seed &+ 1)
        var c = Matrix(rows: b, cols: n)
        var out = [Measurement]()
        let params: [(String, Any)] = [("batch", b), ("items", n), ("dim", d)]
        let gflop = 2.0 * Double(b) * Double(n) * Double(d) / 1e9
        for t in try common.threadList() {
            Threading.setCount(t)
            // Interleave the two so that drift in machine load hits both alike.
            var tw = [Double]()
            var td = [Double]()
            _ = timeit(reps: 2) { gemm(a, items, into: &c, transposeB: .transpose) }
            for _ in 0..<common.reps {
                tw += timeit(reps: 1, warmup: 0) { gemm(a, items, into: &c, transposeB: .transpose) }
                td += timeit(reps: 1, warmup: 0) {
                    a.withUnsafeBufferPointer { pa in
                        items.withUnsafeBufferPointer { pi in
                            c.withUnsafeMutableBufferPointer { pc in
                                cblas_sgemm(
                                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(b), Int32(n), Int32(d), 1,
                                    pa.baseAddress, Int32(d), pi.baseAddress, Int32(d), 0, pc.baseAddress, Int32(n))
                            }
                        }
                    }
                }
            }
            let direct = Measurement(name: "gemm.cblas_direct", params: params, timesMs: td, threads: t)
            var wrap = Measurement(name: "gemm.wrapper", params: params, timesMs: tw, threads: t)
            wrap.extra = [
                ("gflops", gflop / (wrap.medianMs / 1e3)), ("cblas_median_ms", direct.medianMs),
                ("ratio", wrap.medianMs / direct.medianMs),
            ]
            out += [
                Measurement(
                    name: direct.name, params: params, timesMs: td, threads: t,
                    extra: [("gflops", gflop / (direct.medianMs / 1e3))]), wrap,
            ]
        }
        report(out, format: common.format)
    }
}

extension CatalogKernel: ExpressibleByArgument {}

/// Fused catalog top-k against the bare sgemm of the same shapes.
struct ScoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract:
            "CatalogScorer top-k (SIMD micro-kernel or blocked GEMM, selection fused) against the bare sgemm of the same shape.",
        discussion: """
            One row per kernel (score.topk, with kernel=...; canonical scores), then the bare sgemm. Extra figures: \
            blas_scores_median_ms (the BLAS kernel with BLAS's own scores), over_blas (this kernel's time over the \
            BLAS kernel's canonical one, same run), over_simd (for simdBFloat16: its time over simd's), FLOP and \
            bandwidth efficiency against probes run in the same process.
            """)
    @OptionGroup var common: CommonOptions
    @Option(help: "Catalog block size of the scorer.") var blockItems: Int = 1024
    @Option(help: "States per tile of the scorer.") var tileStates: Int = 256
    @Option(
        help: "Kernels to time, comma-separated: \(CatalogKernel.allCases.map(\.rawValue).joined(separator: ", ")).")
    var kernels: String = "automatic,blas"
    @Flag(help: "Skip the bare sgemm (it allocates the full B×N matrix).") var noSgemm = false

    func kernelList() throws -> [CatalogKernel] {
        try kernels.split(separator: ",").map { s in
            guard let k = CatalogKernel(rawValue: String(s).trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError(
                    "--kernels: '\(s)' is not one of \(CatalogKernel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return k
        }
    }

    func run() throws {
        let b = common.batch ?? 256
        let n = common.items ?? 100_000
        let d = common.dim ?? 64
        let k = common.k ?? 10
        let items = Matrix.random(n, d, seed: common.seed &+ 1)
        let states = Matrix.random(b, d, seed: common.seed)
        let scorers = try kernelList().map {
            ($0, CatalogScorer(items: items, blockItems: blockItems, tileStates: tileStates, kernel: $0))
        }
        let blasScorer = CatalogScorer(items: items, blockItems: blockItems, tileStates: tileStates, arithmetic: .blas)
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            let tb = timeit(reps: common.reps) {
                _ = try! blasScorer.topK(states: states, k: k, parallelism: .threads(t))
            }
            let blasMedian = Measurement(name: "score.topk_blas", params: [], timesMs: tb, threads: t).medianMs
            var rows = [Measurement]()
            var medians = [CatalogKernel: Double]()
            for (requested, scorer) in scorers {
                let params: [(String, Any)] = [
                    ("batch", b), ("items", n), ("dim", d), ("k", k), ("kernel", scorer.kernel.rawValue),
                    ("block_items", blockItems),
                ]
                let before = residentMemoryMB().current
                resetPeakRSS()
                let ts = timeit(reps: common.reps) {
                    _ = try! scorer.topK(states: states, k: k, parallelism: .threads(t))
                }
                let peak = residentMemoryMB().peak
                var m = Measurement(name: "score.topk", params: params, timesMs: ts, threads: t)
                medians[requested] = m.medianMs
                m.extra = [
                    ("items_mb", Double(n * d * 4) / 1_048_576), ("packed_mb", Double(scorer.packedBytes) / 1_048_576),
                    ("peak_rss_above_start_mb", peak - before), ("blas_scores_median_ms", blasMedian),
                ]
                if requested == .simdBFloat16, let simd = medians[.simd] ?? medians[.automatic] {
                    m.extra.append(("over_simd", m.medianMs / simd))
                }
                // Efficiency: FLOP/s against the FMA peak; for one state, the bytes the kernel reads
                // against the streaming bandwidth (a single state's scoring reads the catalog once).
                let bytes = scorer.kernel == .blas ? Double(n * d * 4) : Double(scorer.packedBytes)
                m.extra += Probes.efficiency(
                    flops: Flops.score(batch: b, items: n, dim: d), bytes: b == 1 ? bytes : nil,
                    ms: m.medianMs, threads: t)
                rows.append(m)
            }
            if let blas = medians[.blas] {
                for i in rows.indices { rows[i].extra.insert(("over_blas", rows[i].medianMs / blas), at: 4) }
            }
            if !noSgemm {
                var c = Matrix(rows: b, cols: n)
                let tg = timeit(reps: common.reps) {
                    gemm(states, items, into: &c, transposeB: .transpose, parallelism: .threads(t))
                }
                let g = Measurement(
                    name: "score.sgemm", params: [("batch", b), ("items", n), ("dim", d)], timesMs: tg, threads: t)
                for i in rows.indices {
                    rows[i].extra += [("sgemm_median_ms", g.medianMs), ("ratio", rows[i].medianMs / g.medianMs)]
                }
                rows.append(g)
            }
            out += rows
        }
        report(out, format: common.format)
    }
}

/// Random fills: draws per second.
struct RNGBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rng",
        abstract: "Vectorised random fills (uniform, normal, gamma, Beta click-rate posteriors): draws per second.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Comma-separated subset of: uniform, normal, gumbel, gamma_a100, beta_ctr.") var only: String?

    func run() throws {
        let cols = common.items ?? 1000
        let rows = common.batch ?? 10_000
        let count = rows * cols
        // Click-rate posteriors: a in 1..1000, b in 1e3..3e5, spread log-uniformly.
        var g = Xoshiro256(seed: common.seed)
        let alpha = (0..<cols).map { _ in Float(Foundation.exp(Sampling.uniform(&g) * Foundation.log(1000.0))) }
        let beta = (0..<cols).map { _ in Float(1e3 * Foundation.exp(Sampling.uniform(&g) * Foundation.log(300.0))) }
        let buf = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { buf.deallocate() }
        let stream = RandomStream(seed: common.seed)
        let params: [(String, Any)] = [("rows", rows), ("items", cols), ("draws", count)]
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            let p = Parallelism.threads(t)
            let cases: [(String, () -> Void)] = [
                ("rng.uniform", { stream.fillUniform(buf, parallelism: p) }),
                ("rng.normal", { stream.fillNormal(buf, parallelism: p) }),
                ("rng.gumbel", { stream.fillGumbel(buf, parallelism: p) }),
                ("rng.gamma_a100", { stream.fillGamma(buf, shape: 100, parallelism: p) }),
                ("rng.beta_ctr", { stream.fillBeta(buf, alpha: alpha, beta: beta, parallelism: p) }),
            ]
            let wanted = only.map { Set($0.split(separator: ",").map { "rng." + $0 }) }
            for (name, body) in cases where wanted?.contains(name) ?? true {
                var m = Measurement(name: name, params: params, timesMs: timeit(reps: common.reps, body), threads: t)
                m.extra = [("draws_per_second", Double(count) / (m.medianMs / 1e3))]
                out.append(m)
            }
        }
        report(out, format: common.format)
    }
}

/// A Thompson-sampling policy over `items` items with click-rate posteriors spread like the
/// Open Bandit Dataset's prior (a in 2..1000, b in 2e3..2.2e5), seeded.
func benchPolicy(items n: Int, seed: UInt64) throws -> ThompsonSampling {
    var g = Xoshiro256(seed: seed)
    var alpha = [Double]()
    var beta = [Double]()
    for _ in 0..<n {
        let a = 2 * Foundation.exp(Sampling.uniform(&g) * Foundation.log(500.0))
        let ctr = 0.001 + 0.005 * Sampling.uniform(&g)
        alpha.append(a.rounded())
        beta.append((a / ctr).rounded())
    }
    return try ThompsonSampling(alpha: alpha, beta: beta)
}

/// Monte Carlo rank marginals of Thompson sampling.
struct MCRankBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mc-rank",
        abstract: "Monte Carlo rank marginals of Thompson sampling (Beta draws + top-k + counts).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Simulated rankings.") var simulations: Int = 100_000
    @Option(help: "Write the policy's (alpha, beta) per item as CSV lines here, for the C reference.")
    var writePolicy: String?
    @Option(help: "Write the policy's exact rank marginals (a line per item, k columns) here.")
    var writeExact: String?

    func run() throws {
        let n = common.items ?? 80
        let k = common.k ?? 3
        let policy = try benchPolicy(items: n, seed: common.seed)
        if let path = writePolicy {
            let lines = zip(policy.alpha, policy.beta).map { "\($0),\($1)\n" }.joined()
            try lines.write(toFile: path, atomically: true, encoding: .utf8)
        }
        if let path = writeExact {
            let m = try policy.exactMarginals(k: k)
            let lines = (0..<n).map { i in
                (0..<k).map { cFormat("%.9g", m.probability(item: i, rank: $0)) }.joined(separator: ",") + "\n"
            }
            try lines.joined().write(toFile: path, atomically: true, encoding: .utf8)
        }
        let params: [(String, Any)] = [("items", n), ("k", k), ("simulations", simulations)]
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            var m = Measurement(
                name: "mc-rank.ts", params: params,
                timesMs: timeit(reps: common.reps) {
                    _ = try! policy.monteCarloMarginals(
                        k: k, simulations: simulations, seed: common.seed, parallelism: .threads(t))
                }, threads: t)
            m.extra = [("rankings_per_second", Double(simulations) / (m.medianMs / 1e3))]
            out.append(m)
        }
        report(out, format: common.format)
    }
}

/// Exact rank marginals of Thompson sampling.
struct ExactRankBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exact-rank",
        abstract: "Exact rank marginals of Thompson sampling (quadrature + Poisson-binomial).")
    @OptionGroup var common: CommonOptions

    func run() throws {
        let n = common.items ?? 80
        let k = common.k ?? 3
        let policy = try benchPolicy(items: n, seed: common.seed)
        let params: [(String, Any)] = [("items", n), ("k", k)]
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            var sums = [Double]()
            var m = Measurement(
                name: "exact-rank.ts", params: params,
                timesMs: timeit(reps: common.reps) {
                    let r = try! policy.exactMarginals(k: k)
                    sums = (0..<k).map { r.columnSum(rank: $0) }
                }, threads: t)
            m.extra = [("max_column_sum_error", sums.map { abs($0 - 1) }.max() ?? 0)]
            out.append(m)
        }
        report(out, format: common.format)
    }
}

/// Off-policy estimators on synthetic logs.
struct OPEBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ope",
        abstract:
            "Offline evaluation: all estimators with normal intervals (rows/s), and the percentile bootstrap (resamples/s)."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Logged rows.") var rows: Int = 10_000
    @Option(help: "Bootstrap resamples for the bootstrap measurement.") var bootstrap: Int = 1000

    func run() throws {
        let nItems = common.items ?? 80
        let K = common.k ?? 3
        var g = Xoshiro256(seed: common.seed)
        var items = [Int]()
        var positions = [Int]()
        var rewards = [Double]()
        for j in 0..<rows {
            items.append(Int(Sampling.uniform(&g) * Double(nItems)))
            positions.append(j % K)
            rewards.append(Sampling.uniform(&g) < 0.004 ? 1 : 0)
        }
        let logs = try LoggedData(
            items: items, positions: positions, rewards: rewards,
            propensities: [Double](repeating: 1 / Double(nItems), count: rows))
        let target = try benchPolicy(items: nItems, seed: common.seed).exactMarginals(k: K)
        let logging = try UniformRandomRanking(items: nItems).exactMarginals(k: K)
        let params: [(String, Any)] = [("rows", rows), ("items", nItems), ("k", K), ("bootstrap", bootstrap)]
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            var s = EvaluationSettings()
            s.bootstrap = 0
            s.parallelism = .threads(t)
            var m = Measurement(
                name: "ope.estimators", params: params,
                timesMs: timeit(reps: common.reps) {
                    _ = try! OfflineEvaluation.evaluate(
                        logs: logs, target: target, policy: "ts", logging: logging, settings: s)
                }, threads: t)
            m.extra = [("rows_per_second", Double(rows) / (m.medianMs / 1e3))]
            out.append(m)
            s.bootstrap = bootstrap
            var b = Measurement(
                name: "ope.bootstrap", params: params,
                timesMs: timeit(reps: max(1, common.reps / 4)) {
                    _ = try! OfflineEvaluation.evaluate(
                        logs: logs, target: target, policy: "ts", logging: logging, settings: s)
                }, threads: t)
            b.extra = [("resamples_per_second", Double(bootstrap) / (max(b.medianMs - m.medianMs, 1e-3) / 1e3))]
            out.append(b)
        }
        report(out, format: common.format)
    }
}

/// Scaled dot-product attention, forward and backward.
struct AttentionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Causal multi-head scaled dot-product attention kernel: forward and backward (projections excluded).")
    @OptionGroup var common: CommonOptions

    func run() throws {
        let b = common.batch ?? 256
        let L = common.length ?? 50
        let d = common.dim ?? 64
        let h = common.heads ?? 1
        guard d % h == 0 else { throw ValidationError("--dim \(d) must be a multiple of --heads \(h)") }
        let s = Attention.Shape(batch: b, length: L, heads: h, headDim: d / h)
        let q = Matrix.random(b * L, d, seed: 1)
        let k = Matrix.random(b * L, d, seed: 2)
        let v = Matrix.random(b * L, d, seed: 3)
        let pad = (0..<(b * L)).map { $0 % L < L / 5 }
        let params: [(String, Any)] = [("batch", b), ("length", L), ("dim", d), ("heads", h)]
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            var cache: Attention.Cache!
            var o: Matrix!
            var f = Measurement(
                name: "attention.forward", params: params,
                timesMs: timeit(reps: common.reps) {
                    (o, cache) = Attention.forward(
                        q: q, k: k, v: v, shape: s, causal: true, keyPadding: pad, parallelism: .threads(t))
                }, threads: t)
            f.extra = Probes.efficiency(
                flops: Flops.attentionForward(batch: b, length: L, dim: d), ms: f.medianMs, threads: t)
            var bw = Measurement(
                name: "attention.backward", params: params,
                timesMs: timeit(reps: common.reps) {
                    _ = Attention.backward(
                        dOutput: o, q: q, k: k, v: v, cache: cache, shape: s, parallelism: .threads(t))
                }, threads: t)
            bw.extra = Probes.efficiency(
                flops: 2 * Flops.attentionForward(batch: b, length: L, dim: d), ms: bw.medianMs, threads: t)
            out += [f, bw]
        }
        report(out, format: common.format)
    }
}

/// SASRec encoder forward + backward.
struct EncoderBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoder",
        abstract: "SASRec encoder forward + backward (training mode, dropout 0.2) for a batch.")
    @OptionGroup var common: CommonOptions
    @Flag(
        help:
            "Give attention an output projection (PyTorch's block; the default, the authors' original layout, has none)."
    )
    var attentionProjection = false

    func run() throws {
        let b = common.batch ?? 256
        let L = common.length ?? 10
        let d = common.dim ?? 64
        var c = SASRec.Config(items: common.items ?? 10_000)
        c.length = L
        c.dim = d
        c.heads = common.heads ?? 1
        c.blocks = common.blocks ?? 2
        c.attentionOutputProjection = attentionProjection
        let model = SASRec(config: c, seed: common.seed)
        var g = Xoshiro256(seed: common.seed)
        let seqs = randomSequences(batch: b, length: L, items: c.items, &g)
        let params: [(String, Any)] = [
            ("batch", b), ("length", L), ("dim", d), ("heads", c.heads), ("blocks", c.blocks), ("items", c.items),
            ("attention_projection", attentionProjection),
        ]
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            let dStates = Matrix.random(b, d, seed: 3)
            var m = Measurement(
                name: "encoder.sasrec_fwd_bwd", params: params,
                timesMs: timeit(reps: common.reps) {
                    let (_, cache) = try! model.forward(seqs, training: true, seed: 1)
                    model.backward(cache, dStates)
                    model.zeroGrad()
                }, threads: t)
            let step = Flops.encoderStep(batch: b, length: L, dim: d, blocks: c.blocks, projection: attentionProjection)
            m.extra =
                [("sequences_per_second", Double(b) / (m.medianMs / 1e3))]
                + Probes.efficiency(flops: step, ms: m.medianMs, threads: t)
            out.append(m)
            var fw = Measurement(
                name: "encoder.sasrec_forward", params: params,
                timesMs: timeit(reps: common.reps) {
                    _ = try! model.forward(seqs, training: false)
                }, threads: t)
            fw.extra = Probes.efficiency(flops: step / 3, ms: fw.medianMs, threads: t)
            out.append(fw)
            // Data-parallel over the batch: one worker per thread, single-threaded kernels inside.
            let par = SASRec.DataParallel(model, workers: t)
            var p = Measurement(
                name: "encoder.sasrec_fwd_bwd_data_parallel", params: params,
                timesMs: timeit(reps: common.reps) {
                    let (_, cache) = try! par.forward(seqs, training: true, seed: 1)
                    par.backward(cache, dStates)
                    model.zeroGrad()
                }, threads: t)
            p.extra =
                [("sequences_per_second", Double(b) / (p.medianMs / 1e3))]
                + Probes.efficiency(flops: step, ms: p.medianMs, threads: t)
            out.append(p)
        }
        report(out, format: common.format)
    }
}

/// One supervised training step: SASRec encoder + cross-entropy over the whole catalog + Adam.
/// Measured twice: the encoder on the whole batch with multi-threaded GEMMs, and data-parallel
/// over the batch; the head's passes split the catalog over the threads in both.
struct CEStepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ce-step",
        abstract: "Supervised training step: SASRec forward/backward, fused softmax cross-entropy over N items, Adam.")
    @OptionGroup var common: CommonOptions

    /// The encoder's forward for a step's seed: the states and the matching backward.
    typealias Encode = (UInt64) -> (Matrix, (Matrix) -> Void)

    func run() throws {
        let b = common.batch ?? 256
        let L = common.length ?? 10
        let d = common.dim ?? 64
        let n = common.items ?? 100_000
        var c = SASRec.Config(items: n)
        c.length = L
        c.dim = d
        c.heads = common.heads ?? 1
        c.blocks = common.blocks ?? 2
        let encoder = SASRec(config: c, seed: common.seed)
        let head = CatalogHead(name: "head", items: n, dim: d, seed: common.seed &+ 7)
        let adam = Adam(parameters: encoder.parameters + head.parameters, learningRate: 1e-3)
        var g = Xoshiro256(seed: common.seed)
        let seqs = randomSequences(batch: b, length: L, items: n, &g)
        let targets = (0..<b).map { _ in 1 + Int(Sampling.uniform(&g) * Double(n)) }
        let params: [(String, Any)] = [
            ("batch", b), ("length", L), ("dim", d), ("items", n), ("blocks", c.blocks), ("heads", c.heads),
        ]
        let flops =
            Flops.encoderStep(batch: b, length: L, dim: d, blocks: c.blocks, projection: c.hasAttentionOutputProjection)
            + Flops.softmaxHead(batch: b, items: n, dim: d)
        var out = [Measurement]()
        for t in try common.threadList() {
            Threading.setCount(t)
            // The encoder on the whole batch (its GEMMs on OpenBLAS's threads), then split over
            // the batch (`SASRec.DataParallel`: one part per thread, single-threaded kernels).
            let parallel = SASRec.DataParallel(encoder, workers: t)
            let variants: [(String, Encode)] = [
                (
                    "ce-step.sasrec",
                    { step in
                        let (states, cache) = try! encoder.forward(seqs, training: true, seed: step)
                        return (states, { encoder.backward(cache, $0) })
                    }
                ),
                (
                    "ce-step.sasrec_data_parallel",
                    { step in
                        let (states, cache) = try! parallel.forward(seqs, training: true, seed: step)
                        return (states, { parallel.backward(cache, $0) })
                    }
                ),
            ]
            for (name, encode) in variants {
                var step: UInt64 = 0
                // Per-phase wall times of every timed step (the warm-up's dropped below).
                var phases = [[Double]](repeating: [], count: 6)
                var m = Measurement(
                    name: name, params: params,
                    timesMs: timeit(reps: common.reps) {
                        step += 1
                        var lap = PhaseClock()
                        let (states, backward) = encode(step)
                        phases[0].append(lap.next())
                        let (_, dS) = try! head.crossEntropy(states: states, targets: targets, parallelism: .threads(t))
                        phases[1].append(head.lastCrossEntropySeconds.forward * 1e3)
                        phases[2].append(lap.next() - phases[1].last!)
                        backward(dS)
                        phases[3].append(lap.next())
                        adam.step()
                        phases[4].append(lap.next())
                        encoder.zeroGrad()
                        head.zeroGrad()
                        phases[5].append(lap.next())
                    }, threads: t)
                m.extra = [
                    ("sequences_per_second", Double(b) / (m.medianMs / 1e3)), ("peak_rss_mb", residentMemoryMB().peak),
                ]
                let names = [
                    "encoder_forward", "head_forward", "head_backward", "encoder_backward", "adam", "zero_grad",
                ]
                for (name, times) in zip(names, phases) {
                    m.extra.append(("ms_" + name, median(Array(times.dropFirst()))))
                }
                m.extra += Probes.efficiency(flops: flops, ms: m.medianMs, threads: t)
                out.append(m)
            }
        }
        report(out, format: common.format)
    }
}

/// Right-padded random item sequences (ids 1...items, lengths 1...length).
func randomSequences(batch: Int, length L: Int, items: Int, _ g: inout Xoshiro256) -> [[Int]] {
    (0..<batch).map { _ -> [Int] in
        let len = 1 + Int(Sampling.uniform(&g) * Double(L))
        return (0..<L).map { $0 < len ? 1 + Int(Sampling.uniform(&g) * Double(items)) : 0 }
    }
}
