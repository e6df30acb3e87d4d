import ArgumentParser
import Foundation
import RecCore

/// Options every recbench subcommand shares, named the same everywhere.
struct CommonOptions: ParsableArguments {
    @Option(help: "Batch size B (states, rows).") var batch: Int?
    @Option(help: "Catalog size N (items, columns).") var items: Int?
    @Option(help: "Dimension d.") var dim: Int?
    @Option(help: "Top-k size.") var k: Int?
    @Option(help: "Sequence length L.") var length: Int?
    @Option(help: "Attention heads.") var heads: Int?
    @Option(help: "Encoder blocks.") var blocks: Int?
    @Option(help: "Threads (RecKit's knob: also OpenBLAS's). Repeat or comma-separate to sweep, e.g. --threads 1,2.")
    var threads: [String] = []
    @Option(help: "Timed repetitions (after one warm-up).") var reps: Int = 20
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Output: table or json (one JSON object per measurement).") var format: OutputFormat = .table

    func threadList() throws -> [Int] {
        let parts = threads.flatMap { $0.split(separator: ",") }.map { String($0).trimmingCharacters(in: .whitespaces) }
        if parts.isEmpty { return [Threading.coreCount] }
        return try parts.map { s in
            guard let n = Int(s), n >= 1, n <= Threading.maxCount else {
                throw ValidationError("--threads: '\(s)' is not an integer in 1...\(Threading.maxCount)")
            }
            return n
        }
    }

    func validate() throws {
        for (name, v) in [("--batch", batch), ("--items", items), ("--dim", dim), ("--k", k)] {
            if let v, v < 1 { throw ValidationError("\(name) must be at least 1, got \(v)") }
        }
        if reps < 1 { throw ValidationError("--reps must be at least 1, got \(reps)") }
        _ = try threadList()
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, json }

/// One measurement: a name, its parameters, timing statistics and extra figures.
struct Measurement {
    var name: String
    var params: [(String, Any)]
    var timesMs: [Double]
    var threads: Int
    var extra: [(String, Any)] = []

    var medianMs: Double { median(timesMs) }
    var minMs: Double { timesMs.min() ?? .nan }
}

/// The median of `values` (NaN when empty).
func median(_ values: [Double]) -> Double {
    if values.isEmpty { return .nan }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}

/// Milliseconds between successive `next()` calls (the first from its creation): a step's phases.
struct PhaseClock {
    private var last = DispatchTime.now().uptimeNanoseconds

    mutating func next() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) / 1e6
    }
}

/// Times `body` `reps` times after one warm-up call; milliseconds.
func timeit(reps: Int, warmup: Int = 1, _ body: () -> Void) -> [Double] {
    for _ in 0..<warmup { body() }
    var out = [Double]()
    out.reserveCapacity(reps)
    for _ in 0..<reps {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let t1 = DispatchTime.now().uptimeNanoseconds
        out.append(Double(t1 - t0) / 1e6)
    }
    return out
}

/// Resident set size now and its peak (high-water mark), in MB, from /proc/self/status.
func residentMemoryMB() -> (current: Double, peak: Double) {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (.nan, .nan) }
    func field(_ name: String) -> Double {
        for line in s.split(separator: "\n") where line.hasPrefix(name) {
            // "VmHWM:\t  474508 kB": the padding shrinks as the number grows (none at 8 digits).
            let parts = line.split(omittingEmptySubsequences: true) { $0 == " " || $0 == "\t" }
            if parts.count >= 2, let kb = Double(parts[1]) { return kb / 1024 }
        }
        return .nan
    }
    return (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak RSS counter (Linux: writing 5 to /proc/self/clear_refs).
func resetPeakRSS() {
    try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
}

/// The 1-minute load average, for the report.
func loadAverage() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
        let first = s.split(separator: " ").first, let v = Double(first)
    else { return .nan }
    return v
}

func jsonValue(_ v: Any) -> String {
    switch v {
    case let d as Double: return d.isFinite ? String(format: "%.6g", d) : "null"
    case let f as Float: return f.isFinite ? String(format: "%.6g", Double(f)) : "null"
    case let i as Int: return String(i)
    case let i as UInt64: return String(i)
    case let b as Bool: return b ? "true" : "false"
    case let s as String:
        var o = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            default: o.unicodeScalars.append(ch)
            }
        }
        return o + "\""
    case let pairs as [(String, Any)]:
        return "{" + pairs.map { "\(jsonValue($0.0)): \(jsonValue($0.1))" }.joined(separator: ", ") + "}"
    default: return jsonValue(String(describing: v))
    }
}

/// Who chose the OpenBLAS core: "openblas", "environment" (OPENBLAS_CORETYPE) or "reckit".
var blasChooser: String {
    if BLASHealth.replacedCore != nil { return "reckit" }
    if case .setByEnvironment = BLASHealth.decision { return "environment" }
    return "openblas"
}

/// Prints measurements as a table or as JSON lines.
func report(_ ms: [Measurement], format: OutputFormat) {
    let core = Threading.blasCoreName
    switch format {
    case .json:
        for m in ms {
            var fields: [(String, Any)] = [
                ("name", m.name), ("params", m.params), ("median_ms", m.medianMs),
                ("min_ms", m.minMs), ("threads", m.threads), ("blas_core", core),
                ("reps", m.timesMs.count), ("load_avg_1m", loadAverage()),
                ("build_unused_features", BuildTarget.unused.description), ("cpu", BLASHealth.cpuModel),
                ("isa", BLASHealth.hostFeatures.description), ("blas_core_chosen_by", blasChooser),
            ]
            fields += m.extra
            print(jsonValue(fields))
        }
    case .table:
        print("# cpu=\(BLASHealth.cpuModel)  isa=\(BLASHealth.hostFeatures)  blas_core=\(BLASHealth.coreDescription)")
        print(
            "# blas_core=\(core)  cores=\(Threading.coreCount)  load_avg_1m=\(String(format: "%.2f", loadAverage()))"
                + "  build=\(BuildTarget.unused.isEmpty ? "native" : "baseline (unused: \(BuildTarget.unused))")")
        let header = ["name", "params", "threads", "median_ms", "min_ms", "extra"]
        var rows = [header]
        for m in ms {
            rows.append([
                m.name,
                m.params.map { "\($0.0)=\($0.1)" }.joined(separator: " "),
                String(m.threads),
                String(format: "%.3f", m.medianMs),
                String(format: "%.3f", m.minMs),
                m.extra.map { "\($0.0)=\(fmt($0.1))" }.joined(separator: " "),
            ])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        for r in rows {
            print(
                r.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  "))
        }
    }
}

func fmt(_ v: Any) -> String {
    switch v {
    case let d as Double:
        return abs(d) >= 1e5 || (abs(d) < 1e-2 && d != 0) ? String(format: "%.4g", d) : String(format: "%.3f", d)
    default: return "\(v)"
    }
}
