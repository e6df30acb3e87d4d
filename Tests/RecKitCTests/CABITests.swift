import Foundation
import RecKit
import RecKitC
import Testing

/// The C ABI: the same results as the Swift API (bits), and every bad argument a status with a
/// message, never a trap.
@Suite struct CABITests {
    func lastError() -> String { String(cString: reckit_last_error()) }

    @Test func topKIsTheSwiftScorersBits() throws {
        let (n, d, b, k) = (1_000, 16, 5, 7)
        let items = Matrix.random(n, d, seed: 1)
        let states = Matrix.random(b, d, seed: 2)
        let bias = (0..<n).map { Float($0 % 7) * 0.01 }
        let want = try CatalogScorer(items: items, bias: bias).topK(
            states: states, k: k, excluding: ExclusionSet([[3, 5], [], [999], [0, 1, 2], []]))
        var handle: UnsafeMutableRawPointer?
        #expect(reckit_scorer_create(items.storage, Int64(n), Int64(d), bias, &handle) == 0)
        defer { reckit_scorer_free(handle) }
        var idx = [Int64](repeating: 0, count: b * k)
        var sc = [Float](repeating: 0, count: b * k)
        var counts = [Int64](repeating: 0, count: b)
        let offsets: [Int64] = [0, 2, 2, 3, 6, 6]
        let excluded: [Int64] = [3, 5, 999, 0, 1, 2]
        let status = reckit_scorer_topk(
            handle, states.storage, Int64(b), Int64(d), Int64(k), offsets, excluded, Int64(excluded.count), &idx, &sc,
            &counts)
        #expect(status == 0, "\(lastError())")
        #expect(idx == want.indices.map(Int64.init))
        #expect(sc.map(\.bitPattern) == want.scores.map(\.bitPattern))
        #expect(counts == want.counts.map(Int64.init))
    }

    @Test func badArgumentsAreStatusesWithMessages() {
        let items = [Float](repeating: 1, count: 12)
        var handle: UnsafeMutableRawPointer?
        #expect(reckit_scorer_create(nil, 3, 4, nil, &handle) == 1)
        #expect(lastError().contains("must not be null"))
        #expect(reckit_scorer_create(items, 0, 4, nil, &handle) == 1)
        #expect(lastError().contains("n must be in 1..."))
        #expect(reckit_scorer_create(items, 3, 4, nil, &handle) == 0)
        defer { reckit_scorer_free(handle) }
        var idx = [Int64](repeating: 0, count: 4)
        var sc = [Float](repeating: 0, count: 4)
        #expect(reckit_scorer_topk(handle, items, 1, 5, 2, nil, nil, 0, &idx, &sc, nil) == 1)
        #expect(lastError().contains("d is 5, but the catalog's items have 4 dimensions"))
        #expect(reckit_scorer_topk(handle, items, 1, 4, 0, nil, nil, 0, &idx, &sc, nil) == 1)
        let offsets: [Int64] = [0, 3]
        let bad: [Int64] = [0, 1]
        #expect(reckit_scorer_topk(handle, items, 1, 4, 2, offsets, bad, 2, &idx, &sc, nil) == 1)
        #expect(lastError().contains("offsets must rise"))
        let outside: [Int64] = [7]
        #expect(reckit_scorer_topk(handle, items, 1, 4, 2, [0, 1], outside, 1, &idx, &sc, nil) == 1)
        #expect(lastError().contains("7"))
        #expect(reckit_scorer_topk(handle, items, 1, 4, 2, [0, 1], nil, 1, &idx, &sc, nil) == 1)
        #expect(reckit_set_threads(0) == 1 && lastError().contains("threads must be in 1...1024"))
        // A later success leaves the message of the last failure; a new failure replaces it.
        #expect(reckit_scorer_topk(handle, items, 1, 4, 2, nil, nil, 0, &idx, &sc, nil) == 0)
        #expect(lastError().contains("threads"))
    }

    @Test func marginalsAreTheSpecsAndSizesAreAsked() throws {
        let spec = #"{"kind": "bernoulli_ts", "alpha": [2, 3, 1], "beta": [0.1, 2, 1]}"#
        var items: Int64 = 0
        #expect(reckit_rank_marginals(spec, nil, nil, 2, 0, 0, 0, nil, 0, &items) == 5)
        #expect(items == 3)
        var out = [Double](repeating: 0, count: 6)
        #expect(reckit_rank_marginals(spec, nil, nil, 2, 0, 0, 0, &out, 6, &items) == 0, "\(lastError())")
        let want = try ThompsonSampling(alpha: [2, 3, 1], beta: [0.1, 2, 1]).exactMarginals(k: 2)
        #expect(out == want.probabilities)
        #expect(reckit_rank_marginals(spec, nil, nil, 2, 1, 10_000, 3, &out, 6, &items) == 0)
        let mc = try ThompsonSampling(alpha: [2, 3, 1], beta: [0.1, 2, 1]).monteCarloMarginals(
            k: 2, simulations: 10_000, seed: 3)
        #expect(out == mc.probabilities)
        // The spec checks of the CLI, naming the source given.
        #expect(
            reckit_rank_marginals(
                #"{"kind": "uniform", "items": 3, "items": 4}"#, nil, "spec.json", 1, 0, 0, 0, &out, 6, nil) == 1)
        #expect(lastError().contains("spec.json:1: key \"items\" appears twice"))
        #expect(reckit_rank_marginals("{", nil, nil, 1, 0, 0, 0, &out, 6, nil) == 1)
        #expect(lastError().contains("the policy spec:"))
        #expect(lastError().contains("not valid JSON"))
        #expect(reckit_rank_marginals(spec, nil, nil, 4, 0, 0, 0, &out, 6, nil) == 1)
        #expect(reckit_rank_marginals(spec, nil, nil, 1, 2, 0, 0, &out, 6, nil) == 1)
        #expect(reckit_rank_marginals(nil, nil, nil, 1, 0, 0, 0, &out, 6, nil) == 1)
        #expect(reckit_abi_version() == 2)
        #expect(String(cString: reckit_version()) == RecKitInfo.version)
        #expect(String(cString: reckit_blas_core()) == Threading.blasCoreName)
        var compiled: Int32 = -1
        var host: Int32 = -1
        reckit_build_features(&compiled, &host)
        #expect(Int(compiled) == BuildTarget.compiled.rawValue && Int(host) == BuildTarget.host.rawValue)
    }
}

/// The OBD sample's folder (fetched by scripts/fetch-obp).
let obdFolder: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("data/obp/obp").path
}()

/// Offline A/B over the C ABI: the report `OfflineABJob` gives (the CLI's), and a pass-by-pass
/// partial/merge loop that ends in the same report.
@Suite(
    .enabled(
        if: FileManager.default.fileExists(atPath: obdFolder + "/dataset/obd/random/all/all.csv"),
        "run scripts/fetch-obp to fetch the OBD sample"))
struct CABIOfflineABTests {
    func lastError() -> String { String(cString: reckit_last_error()) }

    var config: String {
        """
        {"logs": "dataset/obd/random/all/all.csv", "targets": [{"kind": "bernoulli_ts", "prior": "policy/conf/prior_bts.yaml"},
         {"name": "uniform", "spec": {"kind": "uniform", "items": 80}}], "bootstrap": 100, "k": 3, "seed": 7}
        """
    }

    func take(_ p: UnsafeMutablePointer<UInt8>?, _ n: Int64) -> Data {
        defer { reckit_free(p) }
        return Data(UnsafeBufferPointer(start: p, count: Int(n)))
    }

    @Test func reportEqualsTheJobsAndPartialsMergeToIt() throws {
        let job = try OfflineABJob.parse(
            config: Data(config.utf8), source: "c", base: URL(fileURLWithPath: obdFolder, isDirectory: true))
        let want = try JSONOutput.encode(try job.run(), pretty: false, snakeCase: true, what: "r").data
        var out: UnsafeMutablePointer<UInt8>?
        var n: Int64 = 0
        var html: UnsafeMutablePointer<UInt8>?
        var hn: Int64 = 0
        #expect(reckit_offline_ab(config, obdFolder, nil, nil, &out, &n, &html, &hn) == 0, "\(lastError())")
        #expect(take(html, hn) == Data(ReportHTML.render(try job.run()).utf8))
        let got = take(out, n)
        #expect(got == want)
        let report = try JSONSerialization.jsonObject(with: got) as? [String: Any]
        let names = (report?["evaluations"] as? [[String: Any]])?.map { $0["policy"] as? String }
        #expect(names == ["TS", "uniform"])

        // Pass by pass: one shard's state, merged, given back as `after` until the report comes.
        var after = Data()
        var passes = 0
        while true {
            var state: UnsafeMutablePointer<UInt8>?
            var sn: Int64 = 0
            let status = after.withUnsafeBytes { a in
                reckit_offline_ab_partial(
                    config, obdFolder, nil, nil, after.isEmpty ? nil : a.bindMemory(to: UInt8.self).baseAddress,
                    Int64(after.count), &state, &sn)
            }
            #expect(status == 0, "\(lastError())")
            guard status == 0 else { return }
            let s = take(state, sn)
            var merged: UnsafeMutablePointer<UInt8>?
            var mn: Int64 = 0
            var done: Int32 = -1
            let ms = s.withUnsafeBytes { b in
                var pointers: [UnsafePointer<UInt8>?] = [b.bindMemory(to: UInt8.self).baseAddress]
                return reckit_offline_ab_merge(&pointers, [Int64(s.count)], 1, &merged, &mn, &done, nil, nil)
            }
            #expect(ms == 0, "\(lastError())")
            passes += 1
            if done == 1 {
                #expect(take(merged, mn) == want)
                break
            }
            after = take(merged, mn)
            #expect(passes < 20)
            if passes >= 20 { return }
        }
        #expect(passes > 1)
    }

    @Test func badConfigurationsNameTheKey() {
        var out: UnsafeMutablePointer<UInt8>?
        let cases: [(String, String)] = [
            ("{", "the configuration:1: not valid JSON"),
            (#"{"logs": "x.csv", "targets": [], "k": 3}"#, "\"targets\" must be a non-empty list"),
            (#"{"targets": [{"kind": "uniform", "items": 3}]}"#, "missing \"logs\""),
            (#"{"logs": "x.csv", "target": []}"#, "unknown key \"target\""),
            (
                #"{"logs": "x.csv", "targets": [{"kind": "uniform", "items": 3}], "k": 0}"#,
                "\"k\" must be an integer in 1...10000"
            ),
            (#"{"logs": "x.csv", "targets": [{"kind": "unifrm"}]}"#, "targets[0]"),
            (
                #"{"logs": "x.csv", "format": "csv", "targets": [{"kind": "uniform", "items": 3}]}"#,
                "format csv needs \"columns\""
            ),
            (#"{"logs": "nope.csv", "targets": [{"kind": "uniform", "items": 3}], "k": 2}"#, "nope.csv"),
            (
                #"{"logs": "x.csv", "targets": [{"kind": "uniform", "items": 3}], "method": "mc", "simulations": 0}"#,
                "\"simulations\""
            ),
        ]
        for (config, text) in cases {
            #expect(reckit_offline_ab(config, "/tmp", nil, nil, &out, nil, nil, nil) != 0)
            #expect(out == nil)
            #expect(lastError().contains(text), "\(config): \(lastError())")
        }
        #expect(reckit_offline_ab(nil, nil, nil, nil, &out, nil, nil, nil) == 1)
        var done: Int32 = 0
        #expect(reckit_offline_ab_merge(nil, nil, 1, &out, nil, &done, nil, nil) == 1)
        let junk: [UInt8] = [1, 2, 3]
        junk.withUnsafeBufferPointer { b in
            var ptrs: [UnsafePointer<UInt8>?] = [b.baseAddress]
            #expect(reckit_offline_ab_merge(&ptrs, [3], 1, &out, nil, &done, nil, nil) != 0)
        }
        #expect(lastError().contains("states[0]"))
        reckit_free(nil)
    }
}
