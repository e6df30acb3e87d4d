import ArgumentParser
import Foundation
import RecCore
import RecIO
import RecOPE
import RecRL

/// The log readers on generated CSV files: rows/s of `LogReader` (offline A/B logs) and of
/// `EventLog.load` (event logs), a one-pass offline A/B evaluation from the file, and, in the same
/// run, `pandas.read_csv` and `pyarrow.csv.read_csv` on the same files when a Python with them is
/// at hand: run just before and just after RecKit's readers on each file, the faster of the two
/// counting (a VM's speed drifts within minutes).
struct IngestBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract:
            "Log readers on generated CSV files (offline A/B log: item, position, click, propensity, user; event log: session_id, timestamp, item_id, event) beside pandas.read_csv and pyarrow.csv, run just before and just after RecKit on each file (the faster of the two counts)."
    )
    @OptionGroup var common: CommonOptions
    @Option(help: "Generated rows per file.") var rows: Int = 3_000_000
    @Option(help: "Directory for the generated files (kept for reuse; default: a temporary one, removed).")
    var directory: String?
    @Option(
        help:
            "A Python with pandas (and pyarrow) for the peers; default .venv-torch/bin/python when it exists, else python3. 'none' skips them."
    )
    var python: String?
    @Option(
        help:
            "Measurements to run: ab, depth (the position column alone), events, matrix (a float matrix of rows/10 rows and 16 columns), pass (comma-separated)."
    )
    var only: String = "ab,depth,events,matrix,pass"

    /// Writes `header` then `rows` lines from `line(j, &g)` to `path`, 4 MiB at a time.
    static func writeLines(
        _ path: String, header: String, rows: Int, seed: UInt64, _ line: (Int, inout Xoshiro256) -> String
    ) throws {
        var g = Xoshiro256(seed: seed)
        let fd = Foundation.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot write \(path)") }
        defer { close(fd) }
        var out = Array(header.utf8)
        out.reserveCapacity(1 << 22 + 256)
        for j in 0..<rows {
            out += Array(line(j, &g).utf8)
            if out.count > 1 << 22 || j == rows - 1 {
                _ = out.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
                out.removeAll(keepingCapacity: true)
            }
        }
        if rows == 0 { _ = out.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) } }
    }

    /// The offline A/B log: 80 items, 3 positions, clicks, propensities with six significant
    /// digits, 1000 users.
    static func writeABLog(_ path: String, rows: Int, seed: UInt64) throws {
        try writeLines(path, header: "item,position,click,propensity,user\n", rows: rows, seed: seed) { j, g in
            let item = Int(Sampling.uniform(&g) * 80)
            let click = Sampling.uniform(&g) < 0.004 * (1 + Double(item % 5)) ? 1 : 0
            let p = 0.001 + 0.05 * Sampling.uniform(&g)
            let user = Int(Sampling.uniform(&g) * 1000)
            return "\(item),\(j % 3),\(click),\(String(format: "%.6g", p)),u\(user)\n"
        }
    }

    /// The event log: sessions of ~8 events, Unix-second times, 50k items, click/cart/purchase.
    static func writeEventLog(_ path: String, rows: Int, seed: UInt64) throws {
        var session = 1
        var t = 1_600_000_000
        try writeLines(path, header: "session_id,timestamp,item_id,event\n", rows: rows, seed: seed) { _, g in
            if Sampling.uniform(&g) < 0.125 { session += 1 }
            t += Int(Sampling.uniform(&g) * 30)
            let item = Int(Sampling.uniform(&g) * 50_000)
            let u = Sampling.uniform(&g)
            let ev = u < 0.9 ? "click" : u < 0.97 ? "cart" : "purchase"
            return "\(session),\(t),\(item),\(ev)\n"
        }
    }

    /// The float matrix: 16 columns of values in (-1, 1) as `CSVMatrix.write` prints them (the
    /// shortest text that gives the Float back), no header.
    static func writeMatrix(_ path: String, rows: Int, seed: UInt64) throws {
        try writeLines(path, header: "", rows: rows, seed: seed) { _, g in
            (0..<16).map { _ in "\(Float(Sampling.uniform(&g) * 2 - 1))" }.joined(separator: ",") + "\n"
        }
    }

    func run() throws {
        let dir: String
        var temporary = false
        if let directory {
            dir = directory
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } else {
            dir = NSTemporaryDirectory() + "/recbench-ingest-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            temporary = true
        }
        defer { if temporary { try? FileManager.default.removeItem(atPath: dir) } }
        let ab = dir + "/ab-\(rows).csv"
        let events = dir + "/events-\(rows).csv"
        if !FileManager.default.fileExists(atPath: ab) { try Self.writeABLog(ab, rows: rows, seed: common.seed) }
        if !FileManager.default.fileExists(atPath: events) {
            try Self.writeEventLog(events, rows: rows, seed: common.seed)
        }
        let matrix = dir + "/matrix-\(rows / 10)x16.csv"
        let matrixRows = rows / 10
        if only.split(separator: ",").contains("matrix") && !FileManager.default.fileExists(atPath: matrix) {
            try Self.writeMatrix(matrix, rows: matrixRows, seed: common.seed)
        }
        let matrixBytes = Double((try? FileManager.default.attributesOfItem(atPath: matrix)[.size] as? Int) ?? 0)
        let abBytes = Double((try FileManager.default.attributesOfItem(atPath: ab)[.size] as? Int) ?? 0)
        let evBytes = Double((try FileManager.default.attributesOfItem(atPath: events)[.size] as? Int) ?? 0)
        // Read each file once so every reader starts from the page cache.
        for f in [ab, events, matrix] { _ = FileManager.default.contents(atPath: f) }
        var columns = LogColumns.openBanditDataset
        columns.item = "item"
        columns.position = "position"
        columns.reward = "click"
        columns.propensity = "propensity"
        columns.time = nil
        columns.context = ["user"]
        columns.positionBase = 0
        let reps = max(1, common.reps / 4)
        let threadList = try common.threadList()
        let params: [(String, Any)] = [("rows", rows)]
        var out = [Measurement]()
        // The peers run just before and just after RecKit on each file (the VM's speed drifts
        // within minutes), and the faster of the two counts.
        func peerRun(_ file: String) throws -> [String: Double] {
            try pythonPeers(
                ab: file == "ab" ? ab : "", events: file == "events" ? events : "",
                matrix: file == "matrix" ? matrix : "", threads: threadList, reps: reps)
        }
        var peers = [String: Double]()
        func measuredPeers(_ file: String, _ body: () throws -> Void) throws {
            let before = try peerRun(file)
            try body()
            let after = try peerRun(file)
            for (k, v) in before { peers[k] = min(v, after[k] ?? v) }
        }
        func withPeers(_ m: inout Measurement, file: String, bytes: Double) {
            let rps = Double(file == "matrix" ? matrixRows : rows) / (m.medianMs / 1e3)
            m.extra += [("rows_per_second", rps), ("mb_per_second", bytes / 1e6 / (m.medianMs / 1e3))]
            if let p = peers["pandas:" + file] {
                m.extra += [("pandas_ms", p), ("vs_pandas", (p / m.medianMs))]
            }
            if let p = peers["pyarrow\(m.threads):" + file] {
                m.extra += [("pyarrow_ms", p), ("vs_pyarrow", (p / m.medianMs))]
            }
        }
        let parts = Set(only.split(separator: ",").map(String.init))
        /// A reader timed on every thread count, between the peers' two runs on its file.
        func reader(_ file: String, name: String, bytes: Double, _ read: @escaping (Int) -> Void) throws {
            guard parts.contains(file) else { return }
            var runs = [Measurement]()
            try measuredPeers(file) {
                for t in threadList {
                    Threading.setCount(t)
                    runs.append(
                        Measurement(
                            name: name, params: params + [("mb", bytes / 1e6)], timesMs: timeit(reps: reps) { read(t) },
                            threads: t))
                }
            }
            for var m in runs {
                withPeers(&m, file: file, bytes: bytes)
                out.append(m)
            }
        }
        try reader("ab", name: "ingest.ab-log", bytes: abBytes) { t in
            let r = try! LogReader(path: ab, columns: columns, parallelism: .threads(t))
            var n = 0
            while let c = try! r.next() { n += c.count }
            precondition(n == rows)
        }
        for t in threadList where parts.contains("depth") {
            Threading.setCount(t)
            var m = Measurement(
                name: "ingest.ab-log-positions", params: params + [("mb", abBytes / 1e6)],
                timesMs: timeit(reps: reps) {
                    precondition(
                        try! LogReader.deepestPosition(path: ab, columns: columns, parallelism: .threads(t)) == 3)
                }, threads: t)
            m.extra += [("rows_per_second", Double(rows) / (m.medianMs / 1e3))]
            out.append(m)
        }
        try reader("events", name: "ingest.event-log", bytes: evBytes) { _ in
            let log = try! EventLog.load(csv: events)
            precondition(log.count == rows)
        }
        try reader("matrix", name: "ingest.float-matrix", bytes: matrixBytes) { t in
            let m = try! CSVMatrix.read(matrix, parallelism: .threads(t))
            precondition(m.rows == matrixRows && m.cols == 16)
        }
        // One pass of the ratio estimators (no reward models, no bootstrap) from the file.
        let target = try benchPolicy(items: 80, seed: common.seed).exactMarginals(k: 3)
        let logging = try UniformRandomRanking(items: 80).exactMarginals(k: 3)
        for t in threadList where parts.contains("pass") {
            Threading.setCount(t)
            var s = EvaluationSettings()
            s.bootstrap = 0
            s.rewardModels = false
            s.pieceGroupings = [.position]
            s.parallelism = .threads(t)
            let ev = try OffPolicyEvaluator(
                targets: [TargetPolicy(name: "ts", marginals: [target])], logging: [logging], settings: s)
            resetPeakRSS()
            let before = residentMemoryMB().current
            var m = Measurement(
                name: "ingest.offline-ab-pass", params: params,
                timesMs: timeit(reps: reps) {
                    var acc = try! ev.accumulator(for: ev.initialState())
                    let r = try! LogReader(path: ab, columns: columns, parallelism: .threads(t))
                    while let c = try! r.next() { try! acc.add(c) }
                    _ = acc.finishedState()
                }, threads: t)
            let peak = residentMemoryMB().peak
            m.extra += [
                ("rows_per_second", Double(rows) / (m.medianMs / 1e3)), ("peak_above_start_mb", peak - before),
            ]
            out.append(m)
        }
        Threading.setCount(1)
        report(out, format: common.format)
    }

    /// Milliseconds (median) of pandas.read_csv (one thread) and pyarrow.csv.read_csv (per thread
    /// count) on the files given (an empty path is skipped), keyed "pandas:ab", "pyarrow2:events",
    /// ...; empty without a Python.
    func pythonPeers(ab: String, events: String, matrix: String, threads: [Int], reps: Int) throws -> [String: Double] {
        var py = python
        if py == nil {
            let venv = FileManager.default.currentDirectoryPath + "/.venv-torch/bin/python"
            py = FileManager.default.isExecutableFile(atPath: venv) ? venv : "/usr/bin/python3"
        }
        guard let py, py != "none" else { return [:] }
        let script = """
            import json, sys, time
            try:
                import pandas as pd
            except ImportError:
                print(json.dumps({"error": "no pandas"})); sys.exit(0)
            try:
                import pyarrow as pa, pyarrow.csv as pacsv
            except ImportError:
                pa = None
            files = {k: v for k, v in (("ab", sys.argv[1]), ("events", sys.argv[2]), ("matrix", sys.argv[3])) if v}
            threads = [int(t) for t in sys.argv[4].split(",")]
            reps = int(sys.argv[5])
            def med(f):
                f()
                ts = []
                for _ in range(reps):
                    t0 = time.perf_counter(); f(); ts.append((time.perf_counter() - t0) * 1e3)
                ts.sort(); return ts[len(ts) // 2]
            out = {"pandas_version": pd.__version__}
            for k, path in files.items():
                # The matrix has no header; pandas reads it as float32, as RecKit does.
                kw = {"header": None, "dtype": "float32"} if k == "matrix" else {}
                out["pandas:" + k] = med(lambda: pd.read_csv(path, **kw))
                if pa is not None:
                    out["pyarrow_version"] = pa.__version__
                    ro = pacsv.ReadOptions(autogenerate_column_names=(k == "matrix"))
                    for t in threads:
                        pa.set_cpu_count(t); pa.set_io_thread_count(t)
                        out["pyarrow%d:%s" % (t, k)] = med(lambda: pacsv.read_csv(path, read_options=ro))
            print(json.dumps(out))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: py)
        p.arguments = [
            "-c", script, ab, events, matrix, threads.map(String.init).joined(separator: ","), String(reps),
        ]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return [:] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        var out = [String: Double]()
        for (k, v) in obj { if let d = v as? Double { out[k] = d } }
        // The versions, once per run.
        if !peerVersionsShown {
            peerVersionsShown = true
            if let v = obj["pandas_version"] as? String {
                FileHandle.standardError.write("ingest: pandas \(v)\n".data(using: .utf8)!)
            }
            if let v = obj["pyarrow_version"] as? String {
                FileHandle.standardError.write("ingest: pyarrow \(v)\n".data(using: .utf8)!)
            }
        }
        return out
    }
}

/// Whether `recbench ingest` has named the peers' versions (it runs them several times).
nonisolated(unsafe) var peerVersionsShown = false
