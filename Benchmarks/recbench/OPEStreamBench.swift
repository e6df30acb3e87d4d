import ArgumentParser
import Foundation
import RecCore
import RecOPE

/// The streaming offline A/B engine on generated rows that are never stored: throughput of
/// each pass and the peak memory of a whole evaluation.
struct OPEStreamBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ope-stream",
        abstract:
            "Streaming offline A/B: rows/s of the one-pass ratio estimators (normal intervals; with Poisson replicates), and a whole evaluation (every estimator, logistic DM/DR included) with its peak memory."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Generated rows.") var rows: Int = 1_000_000
    @Option(help: "Poisson bootstrap replicates for the replicate measurement.") var replicates: Int = 200
    @Flag(help: "Also run every pass of every estimator (logistic Newton passes included) and report peak RSS.")
    var full = false
    @Flag(
        help:
            "Also measure the ratio pass with empirical-likelihood intervals (counting distinct weight-reward pairs), and the interval solves in the report."
    )
    var likelihood = false
    @Flag(
        help:
            "Also measure the ratio pass with balanced IPW's cells (position, item, context value: 80 × 3 × 20 here), and its classifier's fit in the report."
    )
    var balanced = false

    /// Deterministic rows: item, position, click, propensity, a 20-value context column; chunk
    /// `c` is generated from its own seed, so every pass sees the same rows.
    static func chunk(_ c: Int, rows: Int, items: Int, depth: Int, seed: UInt64) -> LogChunk {
        var g = Xoshiro256(seed: seed &+ UInt64(c) &* 0x9E37_79B9)
        var out = LogChunk(source: "generated")
        let n = rows
        out.items.reserveCapacity(n)
        var ids = [Int32]()
        for j in 0..<n {
            let a = Int32(Sampling.uniform(&g) * Double(items))
            out.items.append(a)
            out.positions.append(Int32(j % depth))
            out.rewards.append(Sampling.uniform(&g) < 0.004 * (1 + Double(a % 5)) ? 1 : 0)
            out.rowKeys.append(RowHash.mix(UInt64(c) << 32 | UInt64(j)))
            ids.append(Int32(Sampling.uniform(&g) * 20))
        }
        out.propensities = [Double](repeating: 1 / Double(items), count: n)
        out.contexts = [LogChunk.Context(name: "user", ids: ids, values: (0..<20).map { "u\($0)" })]
        return out
    }

    func run() throws {
        let nItems = common.items ?? 80
        let K = common.k ?? 3
        let chunkRows = 65536
        let target = try benchPolicy(items: nItems, seed: common.seed).exactMarginals(k: K)
        let logging = try UniformRandomRanking(items: nItems).exactMarginals(k: K)
        let chunks = (rows + chunkRows - 1) / chunkRows
        func feed(_ acc: inout OffPolicyAccumulator) throws(RecOPEError) {
            for c in 0..<chunks {
                try acc.add(
                    Self.chunk(
                        c, rows: min(chunkRows, rows - c * chunkRows), items: nItems, depth: K, seed: common.seed))
            }
        }
        let params: [(String, Any)] = [("rows", rows), ("items", nItems), ("k", K), ("caps", "2,5,10")]
        var out = [Measurement]()
        Threading.setCount(1)
        // The generator alone, to subtract.
        let gen = timeit(reps: max(1, common.reps / 4)) {
            for c in 0..<chunks {
                _ = Self.chunk(
                    c, rows: min(chunkRows, rows - c * chunkRows), items: nItems, depth: K, seed: common.seed)
            }
        }
        let genMs = gen.sorted()[gen.count / 2]
        // Each chunk's rows are summed in blocks on the evaluation's threads (the same bits for
        // any thread count); the generator runs on the calling thread, its time subtracted.
        for t in try common.threadList() {
            Threading.setCount(t)
            let variants: [(Int, String?)] =
                [(0, nil), (replicates, nil)] + (likelihood ? [(0, "likelihood")] : [])
                + (balanced ? [(0, "balanced")] : [])
            for (b, variant) in variants {
                let el = variant != nil
                var s = EvaluationSettings()
                s.bootstrap = b
                s.rewardModels = false
                s.pieceGroupings = [.position]
                s.parallelism = .threads(t)
                if variant == "likelihood" { s.likelihood = .reported }
                if variant == "balanced" { s.balanced = 1 }
                let ev = try OffPolicyEvaluator(
                    targets: [TargetPolicy(name: "ts", marginals: [target])], logging: [logging], settings: s)
                var m = Measurement(
                    name: el
                        ? "ope-stream.ratios+\(variant!)"
                        : b == 0 ? "ope-stream.ratios" : "ope-stream.ratios+replicates",
                    params: params + [("replicates", b)],
                    timesMs: timeit(reps: max(1, common.reps / 4)) {
                        var acc = try! ev.accumulator(for: ev.initialState())
                        try! feed(&acc)
                        _ = acc.finishedState()
                    }, threads: t)
                let netMs = max(m.medianMs - genMs, 1e-3)
                m.extra = [
                    ("rows_per_second", Double(rows) / (netMs / 1e3)),
                    ("rows_per_second_per_core", Double(rows) / (netMs / 1e3) / Double(t)), ("generator_ms", genMs),
                    ("state_kb", Double((try? ev.initialState().encoded().count) ?? 0) / 1024),
                ]
                if el {
                    // The filled state's size (its pairs or cells), and the report's interval
                    // solves or classifier fits alone.
                    var acc = try ev.accumulator(for: ev.initialState())
                    try feed(&acc)
                    let state = try acc.finishedState().advanced()
                    let solve = timeit(reps: max(1, common.reps / 4)) { _ = try! state.report() }
                    m.extra += [
                        ("filled_state_kb", Double(try state.encoded().count) / 1024),
                        ("report_ms", solve.sorted()[solve.count / 2]),
                    ]
                }
                out.append(m)
            }
        }
        Threading.setCount(1)
        if full { out.append(try fullRun(target: target, logging: logging, feed: feed, params: params)) }
        report(out, format: common.format)
    }

    /// Every estimator, every pass, one thread: time, passes and peak RSS above the start.
    func fullRun(
        target: RankMarginals, logging: RankMarginals, feed: (inout OffPolicyAccumulator) throws(RecOPEError) -> Void,
        params: [(String, Any)]
    ) throws -> Measurement {
        var s = EvaluationSettings()
        s.bootstrap = replicates
        s.pieceGroupings = [.position, .valueModel(buckets: 5), .contextFeature("user")]
        let ev = try OffPolicyEvaluator(
            targets: [TargetPolicy(name: "ts", marginals: [target])], logging: [logging], settings: s)
        let before = residentMemoryMB().current
        resetPeakRSS()
        var passes = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try ev.evaluate(progress: { _ in passes += 1 }, feed)
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        let peak = residentMemoryMB().peak
        var m = Measurement(
            name: "ope-stream.all-estimators", params: params + [("replicates", replicates)], timesMs: [ms], threads: 1)
        m.extra = [
            ("passes", passes), ("peak_rss_mb", peak), ("peak_above_start_mb", peak - before),
            ("estimates", r.evaluations[0].estimates.count),
        ]
        return m
    }
}
