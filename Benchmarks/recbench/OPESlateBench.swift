import ArgumentParser
import Foundation
import RecCore
import RecOPE

/// The slate estimators' pass (`SlateState.add`) on generated slate rows: rows/s per core and the
/// state's size, with and without Poisson replicates.
struct OPESlateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ope-slate",
        abstract:
            "Slate estimators (SIPS, IIPS, RIPS and self-normalised): rows/s of the one-pass slate state on generated slates, normal intervals and with Poisson replicates."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Generated rows.") var rows: Int = 1_000_000
    @Option(help: "Poisson bootstrap replicates for the replicate measurement.") var replicates: Int = 200
    @Option(
        help:
            "A Python with sb-obp for the peer (OBP's six slate classes on the same rows, with and without their input checks, and its bootstrap interval of SIPS with as many samples as --replicates); default .build-wheel/test-venv/bin/python (scripts/test-python makes it) when it exists; 'none' skips it."
    )
    var python: String?

    /// Slates of `depth` rows with every probability column; chunk `c` from its own seed.
    static func chunk(_ c: Int, rows n: Int, depth K: Int, seed: UInt64) -> LogChunk {
        var g = Xoshiro256(seed: seed &+ UInt64(c) &* 0x9E37_79B9)
        var out = LogChunk(source: "generated")
        out.slates = []
        out.propensities = []
        var roles = [SlateProbability: [Double]]()
        for role in SlateProbability.allCases { roles[role] = [] }
        var slateP = 0.0
        var targetP = 0.0
        var cascade = 1.0
        var targetCascade = 1.0
        for j in 0..<n {
            let p = j % K
            if p == 0 {
                slateP = 0.001 + 0.01 * Sampling.uniform(&g)
                targetP = 0.012 * Sampling.uniform(&g)
                cascade = 1
                targetCascade = 1
            }
            out.items.append(Int32(Sampling.uniform(&g) * 100))
            out.positions.append(Int32(p))
            out.rewards.append(Sampling.uniform(&g) < 0.05 ? 1 : 0)
            out.rowKeys.append(RowHash.mix(UInt64(c) << 32 | UInt64(j)))
            out.slates!.append(RowHash.mix(UInt64(c) << 32 | UInt64(j / K)))
            let q = 0.01 + 0.2 * Sampling.uniform(&g)
            out.propensities!.append(q)
            cascade *= 0.3 + 0.7 * Sampling.uniform(&g)
            targetCascade *= Sampling.uniform(&g)
            roles[.targetPropensity]!.append(q * 2 * Sampling.uniform(&g))
            roles[.slatePropensity]!.append(slateP)
            roles[.targetSlatePropensity]!.append(targetP)
            roles[.cascadePropensity]!.append(cascade)
            roles[.targetCascadePropensity]!.append(targetCascade)
        }
        out.slateProbabilities = roles
        return out
    }

    func run() throws {
        let K = common.k ?? 5
        let chunkRows = 65_520 - 65_520 % K
        let chunks = (rows + chunkRows - 1) / chunkRows
        let data = (0..<chunks).map {
            Self.chunk($0, rows: min(chunkRows, rows - $0 * chunkRows), depth: K, seed: common.seed)
        }
        var out = [Measurement]()
        for b in [0, replicates] {
            var s = SlateSettings(depth: K, weightings: [.standard, .independent, .interaction])
            s.bootstrap = b
            var state = try SlateState(settings: s)
            var m = Measurement(
                name: b == 0 ? "ope-slate.pass" : "ope-slate.pass+replicates",
                params: [("rows", rows), ("depth", K), ("weightings", 3), ("replicates", b)],
                timesMs: timeit(reps: max(1, common.reps / 4)) {
                    state = try! SlateState(settings: s)
                    for c in data { try! state.add(c) }
                }, threads: 1)
            let report = timeit(reps: max(1, common.reps / 4)) { _ = try! state.estimates(policy: "t") }
            m.extra = [
                ("rows_per_second_per_core", Double(rows) / (m.medianMs / 1e3)),
                ("state_kb", Double(try JSONEncoder().encode(state).count) / 1024),
                ("report_ms", report.sorted()[report.count / 2]),
            ]
            out.append(m)
            if b == 0, let peer = try obpPeer(data, depth: K, state: state) { out.append(peer) }
        }
        if out.count == 3, let obp = out[1].extra.first(where: { $0.0 == "obp_six_ms" })?.1 as? Double {
            out[0].extra.append(("obp_six_over_reckit", obp / out[0].medianMs))
            if let c = out[1].extra.first(where: { $0.0 == "obp_six_core_ms" })?.1 as? Double {
                out[0].extra.append(("obp_core_over_reckit", c / out[0].medianMs))
            }
            if let boot = out[1].extra.first(where: { $0.0 == "obp_sips_bootstrap_ms" })?.1 as? Double {
                out[2].extra.append(("obp_one_bootstrap_over_reckit_all", boot / out[2].medianMs))
            }
        }
        report(out, format: common.format)
    }

    /// OBP's slate estimators on the same rows (written as raw arrays for numpy): the median time
    /// of its six classes' `estimate_policy_value` (the values RecKit's one pass gives, checked
    /// equal to 1e-9 relative) and of `SlateStandardIPS.estimate_interval` with `--replicates`
    /// bootstrap samples; nil without a Python that imports obp.
    func obpPeer(_ data: [LogChunk], depth K: Int, state: SlateState) throws -> Measurement? {
        var py = python
        if py == nil {
            let venv = FileManager.default.currentDirectoryPath + "/.build-wheel/test-venv/bin/python"
            py = FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
        }
        guard let py, py != "none" else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recbench-slate-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func write(_ name: String, _ values: [Double]) throws {
            try values.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: dir.appendingPathComponent(name))
        }
        var slate = [Double]()
        var offset = 0
        for c in data {
            slate += (0..<c.count).map { Double(offset + $0 / K) }
            offset += c.count / K
        }
        try write("slate_id", slate)
        try write("position", data.flatMap { $0.positions.map(Double.init) })
        try write("reward", data.flatMap(\.rewards))
        try write("pscore_item_position", data.flatMap { $0.propensities! })
        for role in SlateProbability.allCases {
            try write(role.rawValue, data.flatMap { $0.slateProbabilities[role]! })
        }
        let ours = try state.estimates(policy: "t")
        let script = """
            import json, sys, time
            import numpy as np
            try:
                import obp
                from obp.ope import (SlateStandardIPS, SlateIndependentIPS, SlateRewardInteractionIPS,
                    SelfNormalizedSlateStandardIPS, SelfNormalizedSlateIndependentIPS,
                    SelfNormalizedSlateRewardInteractionIPS)
            except ImportError:
                print(json.dumps({"error": "no obp"})); sys.exit(0)
            d, K, reps, boot = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
            a = {n: np.fromfile(d + "/" + n) for n in ["slate_id", "position", "reward", "pscore_item_position",
                 "slate_propensity", "cascade_propensity", "target_propensity", "target_slate_propensity",
                 "target_cascade_propensity"]}
            sid, pos = a["slate_id"].astype(np.int64), a["position"].astype(np.int64)
            common = dict(slate_id=sid, reward=a["reward"], position=pos)
            calls = {
                "SIPS": lambda c: c(len_list=K).estimate_policy_value(**common, pscore=a["slate_propensity"],
                    evaluation_policy_pscore=a["target_slate_propensity"]),
                "IIPS": lambda c: c(len_list=K).estimate_policy_value(**common,
                    pscore_item_position=a["pscore_item_position"],
                    evaluation_policy_pscore_item_position=a["target_propensity"]),
                "RIPS": lambda c: c(len_list=K).estimate_policy_value(**common, pscore_cascade=a["cascade_propensity"],
                    evaluation_policy_pscore_cascade=a["target_cascade_propensity"]),
            }
            classes = {"SIPS": SlateStandardIPS, "IIPS": SlateIndependentIPS, "RIPS": SlateRewardInteractionIPS,
                "SNSIPS": SelfNormalizedSlateStandardIPS, "SNIIPS": SelfNormalizedSlateIndependentIPS,
                "SNRIPS": SelfNormalizedSlateRewardInteractionIPS}
            def six():
                return {n: float(calls[n.replace("SN", "", 1) if n.startswith("SN") else n](c))
                        for n, c in classes.items()}
            def med(f, r):
                f(); ts = []
                for _ in range(r):
                    t0 = time.perf_counter(); f(); ts.append((time.perf_counter() - t0) * 1e3)
                ts.sort(); return ts[len(ts) // 2]
            columns = {"SIPS": ("slate_propensity", "target_slate_propensity"),
                "IIPS": ("pscore_item_position", "target_propensity"),
                "RIPS": ("cascade_propensity", "target_cascade_propensity")}
            def core():
                # The estimators' arithmetic alone (OBP's _estimate_round_rewards, its input checks skipped).
                out = {}
                for n, c in classes.items():
                    ps, eps = columns[n[2:] if n.startswith("SN") else n]
                    r = c(len_list=K)._estimate_round_rewards(reward=a["reward"], position=pos,
                        behavior_policy_pscore=a[ps], evaluation_policy_pscore=a[eps])
                    out[n] = float(r.sum() / np.unique(sid).shape[0])
                return out
            out = {"obp_version": getattr(obp, "__version__", "?"), "values": six(), "six_ms": med(six, reps),
                   "core_values": core(), "core_ms": med(core, reps)}
            if boot > 0:
                sips = SlateStandardIPS(len_list=K)
                out["sips_bootstrap_ms"] = med(lambda: sips.estimate_interval(**common, pscore=a["slate_propensity"],
                    evaluation_policy_pscore=a["target_slate_propensity"], n_bootstrap_samples=boot,
                    random_state=1), 1)
            print(json.dumps(out))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: py)
        p.arguments = [
            "-c", script, dir.path, String(K), String(max(1, common.reps / 4)), String(replicates),
        ]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard let obj = try? JSONSerialization.jsonObject(with: output) as? [String: Any],
            let values = obj["values"] as? [String: Double], let six = obj["six_ms"] as? Double
        else {
            FileHandle.standardError.write("ope-slate: no OBP peer (\(py) has no obp)\n".data(using: .utf8)!)
            return nil
        }
        var worst = 0.0
        let core = obj["core_values"] as? [String: Double] ?? [:]
        for e in ours {
            for v in [values[e.estimator.rawValue], core[e.estimator.rawValue]].compactMap({ $0 }) {
                worst = max(worst, abs(v - e.value) / max(abs(v), 1e-300))
            }
        }
        FileHandle.standardError.write(
            "ope-slate: OBP \(obj["obp_version"] as? String ?? "?") on the same rows; largest relative difference of the six values \(worst)\n"
                .data(using: .utf8)!)
        var m = Measurement(
            name: "ope-slate.obp", params: [("rows", rows), ("depth", K), ("estimators", 6)], timesMs: [six],
            threads: 1)
        m.extra = [("obp_six_ms", six), ("max_relative_difference", worst)]
        if let c = obj["core_ms"] as? Double { m.extra.append(("obp_six_core_ms", c)) }
        if let boot = obj["sips_bootstrap_ms"] as? Double {
            m.extra.append(("obp_sips_bootstrap_ms", boot))
            m.extra.append(("bootstrap_samples", replicates))
        }
        return m
    }
}
