import RecKit

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

// The C ABI over RecKit (`include/reckit.h` documents it for C and Python callers).
//
// Nothing traps across the boundary: every function checks its arguments (null pointers, sizes,
// shapes, ranges) before RecKit sees them, returns a status, and leaves the message — the text
// the `reckit` command prints — for `reckit_last_error` on the calling thread. Arrays pass as
// pointers and shapes; outputs are written into the caller's buffers.

/// The statuses the C functions return.
public enum ReckitStatus: Int32 {
    /// Success.
    case ok = 0
    /// An argument is wrong (a null pointer, a size, a shape, a value out of range).
    case invalidArgument = 1
    /// A file could not be read or written.
    case io = 2
    /// The operation does not exist for this input (for example exact marginals beyond range).
    case unsupported = 3
    /// The result would not fit in memory.
    case memory = 4
    /// The caller's output buffer is too small (the needed size is written where the call says).
    case bufferTooSmall = 5
}

/// The ABI's version: raised when a function's signature or meaning changes.
@_cdecl("reckit_abi_version")
public func reckit_abi_version() -> Int32 { 2 }

/// RecKit's version ("0.1.0"): the same number as `reckit --version` and the Python package's.
@_cdecl("reckit_version")
public func reckit_version() -> UnsafePointer<CChar> { UnsafePointer(BuildStrings.version) }

/// What this build of the library was compiled for and runs on, as bits (1 AVX2, 2 FMA,
/// 4 AVX-512F): `compiled` and `host` (either may be null).
@_cdecl("reckit_build_features")
public func reckit_build_features(_ compiled: UnsafeMutablePointer<Int32>?, _ host: UnsafeMutablePointer<Int32>?) {
    compiled?.pointee = Int32(BuildTarget.compiled.rawValue)
    host?.pointee = Int32(BuildTarget.host.rawValue)
}

/// The OpenBLAS core (kernel set) the loaded OpenBLAS chose, e.g. "Cooperlake", "Haswell",
/// "Prescott" (its `openblas_get_corename`).
@_cdecl("reckit_blas_core")
public func reckit_blas_core() -> UnsafePointer<CChar> { UnsafePointer(BuildStrings.blasCore) }

/// C strings that live as long as the library.
enum BuildStrings {
    nonisolated(unsafe) static let version = strdup(RecKitInfo.version)!
    nonisolated(unsafe) static let blasCore = strdup(Threading.blasCoreName)!
    nonisolated(unsafe) static let advice = BuildTarget.advice.map { strdup($0)! }
}

/// What this build leaves of the CPU's vector features unused and what that costs per kernel, or
/// NULL when it uses them (`BuildTarget.advice`). The caller shows it its own way: the library
/// then does not log it (through swift-log) again.
@_cdecl("reckit_build_advice")
public func reckit_build_advice() -> UnsafePointer<CChar>? {
    BuildTarget.markReported()
    return BuildStrings.advice.map { UnsafePointer($0) }
}

/// The OpenBLAS core this process should load instead of the one it chose: "SkylakeX" or
/// "Haswell" when OpenBLAS chose a generic core on a CPU with AVX-512 or AVX2+FMA and neither
/// `OPENBLAS_CORETYPE` nor `RECKIT_BLAS_CORE=keep` is set; "" otherwise. OpenBLAS reads
/// `OPENBLAS_CORETYPE` only when it loads: a caller asks from a throwaway process, then sets it
/// before loading this library (the Python package does).
@_cdecl("reckit_blas_recommended_core")
public func reckit_blas_recommended_core() -> UnsafePointer<CChar> {
    if case .switchCore(_, let to) = BLASHealth.decision { return to == "SkylakeX" ? skylakeX : haswell }
    return none
}
private nonisolated(unsafe) let skylakeX = UnsafePointer(strdup("SkylakeX")!)
private nonisolated(unsafe) let haswell = UnsafePointer(strdup("Haswell")!)
private nonisolated(unsafe) let none = UnsafePointer(strdup("")!)

/// The last failed call's message on this thread (empty when none has failed). The pointer
/// stays valid until the next failing call on the same thread.
@_cdecl("reckit_last_error")
public func reckit_last_error() -> UnsafePointer<CChar> {
    UnsafePointer(LastError.current.pointer)
}

/// Sets the thread count of RecKit and OpenBLAS (1...1024).
@_cdecl("reckit_set_threads")
public func reckit_set_threads(_ n: Int64) -> Int32 {
    guard n >= 1 && n <= Int64(Threading.maxCount) else {
        return fail(.invalidArgument, "threads must be in 1...\(Threading.maxCount), got \(n)")
    }
    Threading.setCount(Int(n))
    return ReckitStatus.ok.rawValue
}

/// Builds a scorer over `n` items of dimension `d` (row-major floats; `bias` has `n` values or is
/// null) and writes its handle to `out`; free it with `reckit_scorer_free`.
@_cdecl("reckit_scorer_create")
public func reckit_scorer_create(
    _ items: UnsafePointer<Float>?, _ n: Int64, _ d: Int64, _ bias: UnsafePointer<Float>?,
    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    reckit_scorer_create_shard(items, n, d, bias, 0, n, out)
}

/// As `reckit_scorer_create`, for a shard of a catalog: the `n` items are global ids
/// `first_item ..< first_item + n` of a `catalog_size`-item catalog. Its top-k reports global ids
/// and the scores a scorer over the whole catalog gives (canonical scores do not depend on the
/// shard), so `reckit_topk_merge` of the shards' results is the whole catalog's top-k.
@_cdecl("reckit_scorer_create_shard")
public func reckit_scorer_create_shard(
    _ items: UnsafePointer<Float>?, _ n: Int64, _ d: Int64, _ bias: UnsafePointer<Float>?, _ firstItem: Int64,
    _ catalogSize: Int64, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    guard let items, let out else { return fail(.invalidArgument, "items and out must not be null") }
    guard n >= 1 && n <= Int64(Int32.max) else {
        return fail(.invalidArgument, "items: n must be in 1...\(Int32.max), got \(n)")
    }
    guard d >= 1 && d <= 1 << 20 else { return fail(.invalidArgument, "items: d must be in 1...1048576, got \(d)") }
    guard firstItem >= 0, catalogSize <= Int64(Int32.max), firstItem <= catalogSize - n else {
        return fail(
            .invalidArgument,
            "first_item \(firstItem) with \(n) items does not fit a catalog_size \(catalogSize) catalog (at most \(Int32.max))"
        )
    }
    // The catalog, its packed copy for the SIMD kernel and the bias.
    do {
        try MemoryBudget.check(
            "a catalog of \(n) items × d=\(d) and its packed copy", bytes: MemoryBudget.product([Int(n), Int(d), 8]))
    } catch { return fail(.memory, error.description) }
    let count = Int(n) * Int(d)
    let matrix = Matrix(rows: Int(n), cols: Int(d), elements: Array(UnsafeBufferPointer(start: items, count: count)))
    let b = bias.map { Array(UnsafeBufferPointer(start: $0, count: Int(n))) }
    let scorer = CatalogScorer(items: matrix, bias: b, firstItem: Int(firstItem), catalogSize: Int(catalogSize))
    out.pointee = Unmanaged.passRetained(scorer).toOpaque()
    return ReckitStatus.ok.rawValue
}

/// Merges `p` top-k results of the same `b` states over disjoint item sets (a catalog's shards):
/// `indices` and `scores` hold `p × b × kp` values (part-major; each row best first, unused slots
/// −1 and NaN). Writes the `b × k` best of the union to `out_indices` / `out_scores` (unused slots
/// −1 and NaN) and the items found to `out_counts` (may be null): exactly one scorer's top-k over
/// the whole catalog — same items, same scores, ties to the lower id, NaN last.
@_cdecl("reckit_topk_merge")
public func reckit_topk_merge(
    _ p: Int64, _ b: Int64, _ kp: Int64, _ indices: UnsafePointer<Int64>?, _ scores: UnsafePointer<Float>?,
    _ k: Int64, _ outIndices: UnsafeMutablePointer<Int64>?, _ outScores: UnsafeMutablePointer<Float>?,
    _ outCounts: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let indices, let scores, let outIndices, let outScores else {
        return fail(.invalidArgument, "indices, scores, out_indices and out_scores must not be null")
    }
    guard p >= 1, b >= 1, kp >= 1, k >= 1, b <= Int64(Int32.max), kp <= Int64(Int32.max), k <= Int64(Int32.max)
    else { return fail(.invalidArgument, "p, b, kp and k must be positive, got \(p), \(b), \(kp), \(k)") }
    do {
        try MemoryBudget.check(
            "\(p) top-k parts of \(b) × \(kp)", bytes: MemoryBudget.product([Int(p), Int(b), Int(kp), 8]))
    } catch { return fail(.memory, error.description) }
    let rows = Int(b)
    let width = Int(kp)
    var parts = [TopKResult]()
    for part in 0..<Int(p) {
        var counts = [Int](repeating: 0, count: rows)
        var ids = [Int32](repeating: -1, count: rows * width)
        var values = [Float](repeating: .nan, count: rows * width)
        for r in 0..<rows {
            let base = (part * rows + r) * width
            var n = 0
            while n < width && indices[base + n] >= 0 { n += 1 }
            for j in n..<width where indices[base + j] >= 0 {
                return fail(
                    .invalidArgument,
                    "part \(part), row \(r): item \(indices[base + j]) follows an unused slot (rows hold their items first)"
                )
            }
            for j in 0..<n {
                guard indices[base + j] <= Int64(Int32.max) else {
                    return fail(
                        .invalidArgument, "part \(part), row \(r): item id \(indices[base + j]) exceeds \(Int32.max)")
                }
                ids[r * width + j] = Int32(indices[base + j])
                values[r * width + j] = scores[base + j]
            }
            counts[r] = n
        }
        parts.append(TopKResult(rows: rows, k: width, counts: counts, indices: ids, scores: values))
    }
    let merged: TopKResult
    do { merged = try TopKResult.merge(parts, k: Int(k)) } catch { return fail(.invalidArgument, error.description) }
    let kk = Int(k)
    for r in 0..<rows {
        for j in 0..<kk {
            let inside = j < merged.counts[r]
            outIndices[r * kk + j] = inside ? Int64(merged.indices[r * merged.k + j]) : -1
            outScores[r * kk + j] = inside ? merged.scores[r * merged.k + j] : .nan
        }
        outCounts?[r] = Int64(merged.counts[r])
    }
    return ReckitStatus.ok.rawValue
}

/// Releases a scorer (null is allowed).
@_cdecl("reckit_scorer_free")
public func reckit_scorer_free(_ scorer: UnsafeMutableRawPointer?) {
    guard let scorer else { return }
    Unmanaged<CatalogScorer>.fromOpaque(scorer).release()
}

/// The top `k` items of each of `b` states (row-major `b × d` floats) with the scorer's canonical
/// scores, best first: `indices` and `scores` receive `b × k` values (unused slots: −1 and NaN),
/// `counts` (may be null) the items found per state. Exclusions (both null, or both given): the
/// items of state `r` are `exclude_items[exclude_offsets[r] ..< exclude_offsets[r + 1]]`
/// (`b + 1` offsets, `exclude_count` items).
@_cdecl("reckit_scorer_topk")
public func reckit_scorer_topk(
    _ scorer: UnsafeMutableRawPointer?, _ states: UnsafePointer<Float>?, _ b: Int64, _ d: Int64, _ k: Int64,
    _ excludeOffsets: UnsafePointer<Int64>?, _ excludeItems: UnsafePointer<Int64>?, _ excludeCount: Int64,
    _ indices: UnsafeMutablePointer<Int64>?, _ scores: UnsafeMutablePointer<Float>?,
    _ counts: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let scorer, let states, let indices, let scores else {
        return fail(.invalidArgument, "scorer, states, indices and scores must not be null")
    }
    let s = Unmanaged<CatalogScorer>.fromOpaque(scorer).takeUnretainedValue()
    guard d == Int64(s.items.cols) else {
        return fail(.invalidArgument, "states: d is \(d), but the catalog's items have \(s.items.cols) dimensions")
    }
    guard b >= 1 && b <= Int64(Int32.max) else {
        return fail(.invalidArgument, "states: b must be in 1...\(Int32.max), got \(b)")
    }
    guard k >= 1 && k <= Int64(Int32.max) else { return fail(.invalidArgument, "k must be at least 1, got \(k)") }
    do {
        try MemoryBudget.check(
            "the top-\(k) of \(b) states", bytes: MemoryBudget.product([Int(b), Int(min(k, Int64(s.catalogSize))), 16]))
    } catch { return fail(.memory, error.description) }
    var exclusions: ExclusionSet? = nil
    switch (excludeOffsets, excludeItems) {
    case (nil, nil): break
    case (let offsets?, let items?):
        var perRow = [[Int]]()
        perRow.reserveCapacity(Int(b))
        for r in 0..<Int(b) {
            let lo = offsets[r]
            let hi = offsets[r + 1]
            guard lo >= 0 && lo <= hi && hi <= excludeCount else {
                return fail(
                    .invalidArgument,
                    "exclude_offsets[\(r)...\(r + 1)] = \(lo), \(hi): offsets must rise from 0 to at most exclude_count (\(excludeCount))"
                )
            }
            perRow.append((Int(lo)..<Int(hi)).map { Int(items[$0]) })
        }
        exclusions = ExclusionSet(perRow)
    default: return fail(.invalidArgument, "exclude_offsets and exclude_items go together (both null or both given)")
    }
    let m = Matrix(
        rows: Int(b), cols: Int(d), elements: Array(UnsafeBufferPointer(start: states, count: Int(b) * Int(d))))
    let result: TopKResult
    do { result = try s.topK(states: m, k: Int(k), excluding: exclusions) } catch {
        return fail(.invalidArgument, error.description)
    }
    let kk = Int(k)
    for r in 0..<result.rows {
        for j in 0..<kk {
            let inside = j < result.k
            indices[r * kk + j] = inside ? Int64(result.indices[r * result.k + j]) : -1
            scores[r * kk + j] = inside ? result.scores[r * result.k + j] : .nan
        }
        counts?[r] = Int64(result.counts[r])
    }
    return ReckitStatus.ok.rawValue
}

/// Rank marginals `P(item at rank)` of a policy given as a JSON spec (the keys of `reckit`'s spec
/// files; relative paths in it resolve against `base_dir`, or the working directory when null;
/// errors name `source`, a spec file's path, or "the policy spec" when null):
/// `method` 0 exact, 1 Monte Carlo (`simulations`, `seed`). Writes `items × k` values, row-major,
/// to `out` (`out_len` values available) and the item count to `items_out`; when `out` is too
/// small the status is `bufferTooSmall` with `items_out` set, so a caller can ask once with
/// `out_len` 0 and again with the size.
@_cdecl("reckit_rank_marginals")
public func reckit_rank_marginals(
    _ spec: UnsafePointer<CChar>?, _ baseDir: UnsafePointer<CChar>?, _ source: UnsafePointer<CChar>?, _ k: Int64,
    _ method: Int32,
    _ simulations: Int64, _ seed: UInt64, _ out: UnsafeMutablePointer<Double>?, _ outLen: Int64,
    _ itemsOut: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let spec else { return fail(.invalidArgument, "spec must not be null") }
    guard method == 0 || method == 1 else {
        return fail(.invalidArgument, "method must be 0 (exact) or 1 (Monte Carlo), got \(method)")
    }
    let base = URL(
        fileURLWithPath: baseDir.map { String(cString: $0) } ?? FileManager.default.currentDirectoryPath,
        isDirectory: true)
    let policy: any RankingPolicy
    do {
        policy = try PolicySpec.parse(
            Data(String(cString: spec).utf8), file: source.map { String(cString: $0) } ?? "the policy spec", base: base)
    } catch { return fail(error) }
    let n = Int64(policy.itemCount)
    itemsOut?.pointee = n
    guard k >= 1 && k <= n else {
        return fail(.invalidArgument, "k must be between 1 and the number of items (\(n)), got \(k)")
    }
    guard let out, outLen >= n * k else {
        return fail(.bufferTooSmall, "out holds \(outLen) values; \(n) items × k=\(k) need \(n * k)")
    }
    do {
        let m =
            method == 0
            ? try policy.exactMarginals(k: Int(k))
            : try policy.monteCarloMarginals(k: Int(k), simulations: Int(simulations), seed: seed)
        m.probabilities.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
    } catch { return fail(error) }
    return ReckitStatus.ok.rawValue
}

// MARK: Errors

/// The last failed call's message, per thread (a C string owned here).
final class LastError {
    let pointer: UnsafeMutablePointer<CChar>
    init(_ message: String) { pointer = strdup(oneLine(message)) }
    deinit { free(pointer) }

    static let perThread = ThreadLocal<LastError>()
    static var current: LastError {
        if let e = perThread.value { return e }
        let e = LastError("")
        perThread.value = e
        return e
    }
}

/// Records `message` as this thread's last error; returns the status.
func fail(_ status: ReckitStatus, _ message: String) -> Int32 {
    LastError.perThread.value = LastError(message)
    return status.rawValue
}

/// A policy error as a status and its message.
func fail(_ error: RecOPEError) -> Int32 {
    switch error {
    case .cannotOpen, .cannotWrite: return fail(.io, error.description)
    case .unsupported: return fail(.unsupported, error.description)
    case .invalidParameter, .malformedFile: return fail(.invalidArgument, error.description)
    }
}

// MARK: Offline A/B

/// Copies `data` into a malloc'd buffer (with a terminating 0, so that text is a C string).
func mallocCopy(
    _ data: Data, to out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, length: UnsafeMutablePointer<Int64>?
) -> Bool {
    guard let p = malloc(data.count + 1)?.assumingMemoryBound(to: UInt8.self) else { return false }
    data.copyBytes(to: p, count: data.count)
    p[data.count] = 0
    out.pointee = p
    length?.pointee = Int64(data.count)
    return true
}

/// An offline A/B job from its JSON configuration (`OfflineABJob.parse(config:)`; errors name
/// `source`, or "the configuration" when null; relative paths resolve against `base_dir`).
func offlineABJob(
    _ config: UnsafePointer<CChar>, _ baseDir: UnsafePointer<CChar>?, _ source: UnsafePointer<CChar>?,
    _ log: UnsafeMutableRawPointer? = nil
) throws(RecOPEError) -> OfflineABJob {
    let base = URL(
        fileURLWithPath: baseDir.map { String(cString: $0) } ?? FileManager.default.currentDirectoryPath,
        isDirectory: true)
    let rows = log.map { Unmanaged<LogBuilder>.fromOpaque($0).takeUnretainedValue() }
    var job = try OfflineABJob.parse(
        config: Data(String(cString: config).utf8), source: source.map { String(cString: $0) } ?? "the configuration",
        base: base, logsGiven: rows?.source)
    if let rows { job.rows = try rows.arrays(job.columns) }
    return job
}

// MARK: Logs in memory

/// Logged rows given column by column (`reckit_log_create`, `reckit_log_add_column`), held until
/// `reckit_log_free`; an offline A/B run reads them with the configuration's column names.
final class LogBuilder {
    let source: String
    let items: LogValues<Int64>
    let positions: LogValues<Int64>
    let rewards: LogValues<Double>
    let propensities: LogValues<Double>?
    var coded: [String: LogArrays.Column] = [:]
    /// Number columns by name (a slate log's probability columns).
    var numbers: [String: LogValues<Double>] = [:]

    init(
        source: String, items: LogValues<Int64>, positions: LogValues<Int64>, rewards: LogValues<Double>,
        propensities: LogValues<Double>?
    ) {
        (self.source, self.items, self.positions, self.rewards, self.propensities) =
            (source, items, positions, rewards, propensities)
    }

    /// The rows under `columns`' names (its context and row-key columns must have been added).
    func arrays(_ columns: LogColumns) throws(RecOPEError) -> LogArrays {
        func column(_ name: String) throws(RecOPEError) -> LogArrays.Column {
            guard let c = coded[name] else {
                throw .malformedFile(
                    file: source, line: nil,
                    message: "missing column '\(clipped(name))' (given: \(coded.keys.sorted().joined(separator: ", ")))"
                )
            }
            return c
        }
        if columns.propensity != nil && propensities == nil {
            throw .malformedFile(file: source, line: nil, message: "missing column '\(columns.propensity!)'")
        }
        var contexts = [LogArrays.Column]()
        for name in columns.context { contexts.append(try column(name)) }
        var arrays = try LogArrays(
            source: source, columns: columns, items: items, positions: positions, rewards: rewards,
            propensities: columns.propensity == nil ? nil : propensities, contexts: contexts,
            rowKeys: try columns.rowKey.map { (k: String) throws(RecOPEError) in try column(k) })
        if let slate = columns.slate {
            var probabilities = [SlateProbability: LogValues<Double>]()
            for (role, name) in columns.slateProbabilities {
                guard let v = numbers[name] else {
                    throw .malformedFile(
                        file: source, line: nil,
                        message: "missing column '\(clipped(name))' (the \(role.rawValue) column)")
                }
                probabilities[role] = v
            }
            try arrays.setSlates(try column(slate), probabilities: probabilities)
        }
        return arrays
    }
}

/// Rows in memory for an offline A/B run: `n` item ids, positions (as logged: the configuration's
/// format says the top position), rewards and propensities (or null). `source` names them in
/// errors and, without a row-key column, in the row keys (as a file of that name would). The
/// arrays (and the columns' codes, values and flags added later; not their value texts) are
/// borrowed, read in place: they must stay valid and unchanged until `reckit_log_free`.
@_cdecl("reckit_log_create")
public func reckit_log_create(
    _ source: UnsafePointer<CChar>?, _ n: Int64, _ item: UnsafePointer<Int64>?, _ position: UnsafePointer<Int64>?,
    _ reward: UnsafePointer<Double>?, _ propensity: UnsafePointer<Double>?,
    _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    guard let source, let item, let position, let reward, let out else {
        return fail(.invalidArgument, "source, item, position, reward and out must not be null")
    }
    guard n >= 1 && n <= Int64(Int32.max) * 64 else { return fail(.invalidArgument, "n must be positive, got \(n)") }
    let count = Int(n)
    let b = LogBuilder(
        source: String(cString: source), items: LogValues(borrowing: UnsafeBufferPointer(start: item, count: count)),
        positions: LogValues(borrowing: UnsafeBufferPointer(start: position, count: count)),
        rewards: LogValues(borrowing: UnsafeBufferPointer(start: reward, count: count)),
        propensities: propensity.map { LogValues(borrowing: UnsafeBufferPointer(start: $0, count: count)) })
    out.pointee = Unmanaged.passRetained(b).toOpaque()
    return ReckitStatus.ok.rawValue
}

/// Adds a coded column (a context or the row key) named `name`: per row a code (`n`, the log's
/// rows) into `count` values, the UTF-8 text `values[offsets[v] ..< offsets[v + 1]]` (as the value
/// would be written in a CSV file). The codes are borrowed (see `reckit_log_create`); the texts
/// are copied.
@_cdecl("reckit_log_add_column")
public func reckit_log_add_column(
    _ log: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?, _ codes: UnsafePointer<Int32>?, _ n: Int64,
    _ values: UnsafePointer<UInt8>?, _ offsets: UnsafePointer<Int64>?, _ count: Int64
) -> Int32 {
    guard let log, let name, let codes, let offsets else {
        return fail(.invalidArgument, "log, name, codes and offsets must not be null")
    }
    let b = Unmanaged<LogBuilder>.fromOpaque(log).takeUnretainedValue()
    let column = String(cString: name)
    guard n == Int64(b.items.count) else {
        return fail(.invalidArgument, "column '\(clipped(column))': \(n) codes for \(b.items.count) rows")
    }
    guard count >= 0, count <= Int64(Int32.max) else {
        return fail(.invalidArgument, "count must be in 0...\(Int32.max)")
    }
    var texts = [String]()
    texts.reserveCapacity(Int(count))
    for v in 0..<Int(count) {
        let lo = offsets[v]
        let hi = offsets[v + 1]
        guard lo >= 0, hi >= lo, hi == lo || values != nil else {
            return fail(.invalidArgument, "column '\(clipped(column))': value offsets must rise from 0")
        }
        guard
            let text = String(
                validating: UnsafeBufferPointer(start: values.map { $0 + Int(lo) }, count: Int(hi - lo)), as: UTF8.self)
        else {
            return fail(.invalidArgument, "column '\(clipped(column))': value \(v) is not UTF-8")
        }
        texts.append(text)
    }
    b.coded[column] = .coded(
        .init(codes: LogValues(borrowing: UnsafeBufferPointer(start: codes, count: Int(n))), values: texts))
    return ReckitStatus.ok.rawValue
}

/// Adds an integer column (a context or the row key) named `name`: `n` (the log's rows) values,
/// each read as its decimal text (as a CSV file written from it holds it); `missing`, when not
/// null, flags per row (non-zero) the values that are missing (an empty field). No text is made
/// per row: a key column of distinct integers costs what its integers cost. Both arrays are
/// borrowed (see `reckit_log_create`).
@_cdecl("reckit_log_add_int_column")
public func reckit_log_add_int_column(
    _ log: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?, _ values: UnsafePointer<Int64>?, _ n: Int64,
    _ missing: UnsafePointer<UInt8>?
) -> Int32 {
    guard let log, let name, let values else { return fail(.invalidArgument, "log, name and values must not be null") }
    return addingColumn(log, name, n) { b, column in
        let count = Int(n)
        b.coded[column] = .integers(
            .init(
                values: LogValues(borrowing: UnsafeBufferPointer(start: values, count: count)),
                missing: missing.map { LogValues(borrowing: UnsafeBufferPointer(start: $0, count: count)) }))
    }
}

/// Runs `add` with the log's builder and the column's name when `n` is the log's row count;
/// otherwise the failure naming the column.
func addingColumn(
    _ log: UnsafeMutableRawPointer, _ name: UnsafePointer<CChar>, _ n: Int64, _ add: (LogBuilder, String) -> Void
) -> Int32 {
    let b = Unmanaged<LogBuilder>.fromOpaque(log).takeUnretainedValue()
    let column = String(cString: name)
    guard n == Int64(b.items.count) else {
        return fail(.invalidArgument, "column '\(clipped(column))': \(n) values for \(b.items.count) rows")
    }
    add(b, column)
    return ReckitStatus.ok.rawValue
}

/// Adds a number column named `name` (a slate log's probability column): `n` (the log's rows)
/// values, borrowed (see `reckit_log_create`).
@_cdecl("reckit_log_add_number_column")
public func reckit_log_add_number_column(
    _ log: UnsafeMutableRawPointer?, _ name: UnsafePointer<CChar>?, _ values: UnsafePointer<Double>?, _ n: Int64
) -> Int32 {
    guard let log, let name, let values else { return fail(.invalidArgument, "log, name and values must not be null") }
    return addingColumn(log, name, n) { b, column in
        b.numbers[column] = LogValues(borrowing: UnsafeBufferPointer(start: values, count: Int(n)))
    }
}

/// Releases a log (null is allowed).
@_cdecl("reckit_log_free")
public func reckit_log_free(_ log: UnsafeMutableRawPointer?) {
    guard let log else { return }
    Unmanaged<LogBuilder>.fromOpaque(log).release()
}

/// The report's JSON (snake_case keys; non-finite numbers as null), as `reckit offline-ab --json`
/// writes it.
func reportJSON(_ report: OfflineABReport) throws -> Data {
    try JSONOutput.encode(report, pretty: false, snakeCase: true, what: "the report").data
}

/// Runs an offline A/B test (the JSON configuration's keys: `OfflineABJob.parse(config:)`; with
/// `log`, a `reckit_log_create` handle, its rows instead of a `logs` file) and
/// writes the report's JSON, a malloc'd C string, to `report_json`, and when `html` is not null
/// the HTML report (`reckit offline-ab --html`'s page) to `html` (free both with `reckit_free`).
@_cdecl("reckit_offline_ab")
public func reckit_offline_ab(
    _ config: UnsafePointer<CChar>?, _ baseDir: UnsafePointer<CChar>?, _ source: UnsafePointer<CChar>?,
    _ log: UnsafeMutableRawPointer?,
    _ reportOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ reportLength: UnsafeMutablePointer<Int64>?,
    _ htmlOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ htmlLength: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let config, let reportOut else { return fail(.invalidArgument, "config and report_json must not be null") }
    reportOut.pointee = nil
    htmlOut?.pointee = nil
    do {
        let job = try offlineABJob(config, baseDir, source, log)
        return try writeOfflineABReport(
            try job.run(), to: reportOut, length: reportLength, html: htmlOut, htmlLength: htmlLength,
            what: "the report")
    } catch let e as RecOPEError { return fail(e) } catch { return fail(.invalidArgument, "\(error)") }
}

/// An offline A/B report's JSON into `out` and, when `html` is not null, its HTML page into
/// `html` (malloc'd; on failure nothing is left allocated).
func writeOfflineABReport(
    _ report: OfflineABReport, to out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>,
    length: UnsafeMutablePointer<Int64>?, html: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
    htmlLength: UnsafeMutablePointer<Int64>?, what: String
) throws -> Int32 {
    guard mallocCopy(try reportJSON(report), to: out, length: length) else {
        return fail(.memory, "\(what): out of memory")
    }
    if let html, !mallocCopy(Data(ReportHTML.render(report).utf8), to: html, length: htmlLength) {
        free(out.pointee)
        out.pointee = nil
        return fail(.memory, "the HTML report: out of memory")
    }
    return ReckitStatus.ok.rawValue
}

/// One shard's pass of an offline A/B test (`log` as for `reckit_offline_ab`): the configuration
/// must set `k`; `after` (`after_len`
/// bytes, or null) is the merged state of the previous pass. Writes the shard's state (bytes, as
/// `reckit offline-ab --partial` writes them) to a malloc'd buffer (free it with `reckit_free`).
/// A slate log's shard: its slate sums, merged in file order; with a target that takes
/// Cascade-DR, a first pass that also counts its click-rate model's cells and a second pass
/// `after` the merged first.
@_cdecl("reckit_offline_ab_partial")
public func reckit_offline_ab_partial(
    _ config: UnsafePointer<CChar>?, _ baseDir: UnsafePointer<CChar>?, _ source: UnsafePointer<CChar>?,
    _ log: UnsafeMutableRawPointer?,
    _ after: UnsafePointer<UInt8>?, _ afterLength: Int64,
    _ stateOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ stateLength: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let config, let stateOut else { return fail(.invalidArgument, "config and state must not be null") }
    guard afterLength >= 0, after != nil || afterLength == 0 else {
        return fail(.invalidArgument, "after: \(afterLength) bytes at a null pointer")
    }
    stateOut.pointee = nil
    do {
        let job = try offlineABJob(config, baseDir, source, log)
        let data: Data
        if job.columns.slate != nil {
            // A slate log's shard: its slate sums (merged in file order); Cascade-DR's model
            // from the merged first pass in a second.
            guard job.depth != nil else {
                throw RecOPEError.invalidParameter(
                    "k: a slate log's shards need k (every shard must evaluate the same positions)")
            }
            let previous = try after.map { (p: UnsafePointer<UInt8>) throws(RecOPEError) in
                try SlateShard.decode(Data(UnsafeBufferPointer(start: p, count: Int(afterLength))), file: "after")
            }
            data = try job.slateShard(rewardModel: job.settings.rewardModels, partial: true, after: previous)
                .encoded()
        } else {
            let previous = try after.map { (p: UnsafePointer<UInt8>) throws(RecOPEError) in
                try OffPolicyState.decode(Data(UnsafeBufferPointer(start: p, count: Int(afterLength))), file: "after")
            }
            data = try job.runPartial(after: previous).encoded()
        }
        guard mallocCopy(data, to: stateOut, length: stateLength) else {
            return fail(.memory, "the state: out of memory")
        }
    } catch let e as RecOPEError { return fail(e) } catch { return fail(.invalidArgument, "\(error)") }
    return ReckitStatus.ok.rawValue
}

/// Merges `count` shard states (`states[i]`, `lengths[i]` bytes) of one pass. When every pass is
/// done, `done` is set to 1, `out` receives the report's JSON and `html` (when not null) the HTML
/// report; otherwise `done` is 0 and `out` the merged state, to give every shard as `after` for
/// the next pass. Slate shards (`SlateShard`) are merged in the order given, into the report (or,
/// when Cascade-DR's second pass remains, into the merged state, `done` 0).
/// Free the buffers with `reckit_free`.
@_cdecl("reckit_offline_ab_merge")
public func reckit_offline_ab_merge(
    _ states: UnsafePointer<UnsafePointer<UInt8>?>?, _ lengths: UnsafePointer<Int64>?, _ count: Int64,
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<Int64>?,
    _ done: UnsafeMutablePointer<Int32>?, _ htmlOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
    _ htmlLength: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let states, let lengths, let out else {
        return fail(.invalidArgument, "states, lengths and out must not be null")
    }
    guard count >= 1 else { return fail(.invalidArgument, "count must be at least 1, got \(count)") }
    out.pointee = nil
    htmlOut?.pointee = nil
    // The states' bytes, each checked.
    var blobs = [Data]()
    for i in 0..<Int(count) {
        guard let p = states[i], lengths[i] >= 0 else {
            return fail(.invalidArgument, "states[\(i)]: a null pointer or a negative length")
        }
        blobs.append(Data(UnsafeBufferPointer(start: p, count: Int(lengths[i]))))
    }
    /// The report's JSON into `out` and its HTML into `htmlOut` (when given); done.
    func writeReport(_ report: OfflineABReport) throws -> Int32 {
        let status = try writeOfflineABReport(
            report, to: out, length: outLength, html: htmlOut, htmlLength: htmlLength, what: "the merge")
        if status == ReckitStatus.ok.rawValue { done?.pointee = 1 }
        return status
    }
    do {
        if SlateShard.isSlateState(blobs[0]) {
            // A slate log's shards, in file order (a slate cut between two is joined): the report.
            var merged = try SlateShard.decode(blobs[0], file: "states[0]")
            for i in 1..<blobs.count { try merged.merge(try SlateShard.decode(blobs[i], file: "states[\(i)]")) }
            if merged.passRemains {
                guard mallocCopy(try merged.encoded(), to: out, length: outLength) else {
                    return fail(.memory, "the merge: out of memory")
                }
                done?.pointee = 0
                return ReckitStatus.ok.rawValue
            }
            return try writeReport(try merged.report())
        }
        var merged: OffPolicyState?
        for (i, blob) in blobs.enumerated() {
            let s = try OffPolicyState.decode(blob, file: "states[\(i)]")
            merged =
                try merged.map { (m: OffPolicyState) throws(RecOPEError) in
                    try OffPolicyState.merge([m, s], names: ["states[0...\(i - 1)]", "states[\(i)]"])
                } ?? s
        }
        let next = try merged!.advanced()
        if next.pass == .done { return try writeReport(try next.report()) }
        guard mallocCopy(try next.encoded(), to: out, length: outLength) else {
            return fail(.memory, "the merge: out of memory")
        }
        done?.pointee = 0
    } catch let e as RecOPEError { return fail(e) } catch { return fail(.invalidArgument, "\(error)") }
    return ReckitStatus.ok.rawValue
}

/// Frees a buffer a RecKit function returned (null is allowed).
@_cdecl("reckit_free")
public func reckit_free(_ p: UnsafeMutableRawPointer?) { free(p) }

// MARK: OBP-style estimators

/// The round rewards of an estimator on per-round action distributions (OBP's arrays; see
/// `ActionDistributionOPE`): `estimator` 0 IPW, 1 SNIPW, 2 DM, 3 DR, 4 SwitchDR, 5 SNDR, 6 DRos,
/// 7 sub-Gaussian IPW, 8 sub-Gaussian DR, with `lambda` (IPW's and DR's clip, SwitchDR's
/// threshold, DRos's shrinkage, +inf for none; the sub-Gaussian λ in [0, 1]). `action`,
/// `position` (0-based), `reward`, `pscore` hold `n` values; `action_dist` and
/// `estimated_rewards` (null for IPW, SNIPW and sub-Gaussian IPW) `n × actions × positions`,
/// row-major. Writes `n` values to `out`.
@_cdecl("reckit_obp_round_rewards")
public func reckit_obp_round_rewards(
    _ estimator: Int32, _ lambda: Double, _ n: Int64, _ actions: Int64, _ positions: Int64,
    _ action: UnsafePointer<Int64>?, _ position: UnsafePointer<Int64>?, _ reward: UnsafePointer<Double>?,
    _ pscore: UnsafePointer<Double>?, _ actionDist: UnsafePointer<Double>?, _ estimatedRewards: UnsafePointer<Double>?,
    _ out: UnsafeMutablePointer<Double>?
) -> Int32 {
    guard let action, let position, let reward, let pscore, let actionDist, let out else {
        return fail(.invalidArgument, "action, position, reward, pscore, action_dist and out must not be null")
    }
    guard n >= 1, actions >= 1, positions >= 1, n <= Int64(Int32.max), actions <= 1 << 24, positions <= 1 << 16,
        let cells = MemoryBudget.product([Int(n), Int(actions), Int(positions)])
    else {
        return fail(
            .invalidArgument, "n (\(n)), actions (\(actions)) and positions (\(positions)) must be positive and fit")
    }
    guard !lambda.isNaN, lambda >= 0 else {
        return fail(.invalidArgument, "lambda_ must be non-negative, got \(lambda)")
    }
    let e: ActionDistributionOPE.Estimator
    switch estimator {
    case 0: e = .ipw(lambda: lambda)
    case 1: e = .snipw
    case 2: e = .dm
    case 3: e = .dr(lambda: lambda)
    case 4: e = .switchDR(lambda: lambda)
    case 5: e = .sndr
    case 6: e = .dros(lambda: lambda)
    case 7, 8:
        guard lambda <= 1 else {
            return fail(.invalidArgument, "lambda_ must be in [0, 1] (sub-Gaussian), got \(lambda)")
        }
        e = estimator == 7 ? .subGaussianIPW(lambda: lambda) : .subGaussianDR(lambda: lambda)
    default:
        return fail(
            .invalidArgument,
            "estimator must be 0...8 (IPW, SNIPW, DM, DR, SwitchDR, SNDR, DRos, sub-Gaussian IPW, sub-Gaussian DR), got \(estimator)"
        )
    }
    let count = Int(n)
    do {
        let rounds = try ActionDistributionOPE.Rounds(
            n: count, actions: Int(actions), positions: Int(positions),
            action: UnsafeBufferPointer(start: action, count: count),
            position: UnsafeBufferPointer(start: position, count: count),
            reward: UnsafeBufferPointer(start: reward, count: count),
            pscore: UnsafeBufferPointer(start: pscore, count: count),
            actionDistribution: UnsafeBufferPointer(start: actionDist, count: cells),
            estimatedRewards: estimatedRewards.map { UnsafeBufferPointer(start: $0, count: cells) })
        try ActionDistributionOPE.roundRewards(e, rounds, into: UnsafeMutableBufferPointer(start: out, count: count))
    } catch { return fail(error) }
    return ReckitStatus.ok.rawValue
}

/// OBP's slate IPS row terms (`ActionDistributionOPE.slateRowTerms`): `estimator` 0 standard
/// (whole-slate probabilities), 1 independent (item-position), 2 reward interaction (cascade);
/// `self_normalized` non-zero for OBP's self-normalised class. `position` (0-based), `reward`,
/// `pscore` (logging) and `evaluation_pscore` hold `n` values; writes `n` row terms to `out`.
@_cdecl("reckit_obp_slate_row_terms")
public func reckit_obp_slate_row_terms(
    _ estimator: Int32, _ selfNormalized: Int32, _ lenList: Int64, _ n: Int64, _ position: UnsafePointer<Int64>?,
    _ reward: UnsafePointer<Double>?, _ pscore: UnsafePointer<Double>?, _ evaluationPscore: UnsafePointer<Double>?,
    _ out: UnsafeMutablePointer<Double>?
) -> Int32 {
    guard let position, let reward, let pscore, let evaluationPscore, let out else {
        return fail(.invalidArgument, "position, reward, pscore, evaluation_policy_pscore and out must not be null")
    }
    guard n >= 1, n <= Int64(Int32.max), lenList >= 1, lenList <= 1 << 16 else {
        return fail(.invalidArgument, "n (\(n)) and len_list (\(lenList)) must be positive and fit")
    }
    let kinds: [SlateWeighting] = [.standard, .independent, .interaction]
    guard estimator >= 0 && estimator < 3 else {
        return fail(.invalidArgument, "estimator must be 0 (standard), 1 (independent) or 2 (reward interaction)")
    }
    let count = Int(n)
    do {
        try ActionDistributionOPE.slateRowTerms(
            kinds[Int(estimator)], selfNormalized: selfNormalized != 0, depth: Int(lenList),
            position: UnsafeBufferPointer(start: position, count: count),
            reward: UnsafeBufferPointer(start: reward, count: count),
            logging: UnsafeBufferPointer(start: pscore, count: count),
            target: UnsafeBufferPointer(start: evaluationPscore, count: count),
            into: UnsafeMutableBufferPointer(start: out, count: count))
    } catch { return fail(error) }
    return ReckitStatus.ok.rawValue
}

/// MIPS's marginalized importance weights with a known embedding distribution
/// (`ActionDistributionOPE.marginalEmbeddingWeights`; OBP's `p_e_a` path): `position` (0-based,
/// `n`), `embedding` (`n × dimensions` categories), `pi_b` and `action_dist`
/// (`n × actions × positions`), `p_e_a` (`actions × categories × dimensions`), all row-major.
/// Writes `n` weights to `out`.
@_cdecl("reckit_obp_marginal_weights")
public func reckit_obp_marginal_weights(
    _ n: Int64, _ actions: Int64, _ positions: Int64, _ dimensions: Int64, _ categories: Int64,
    _ position: UnsafePointer<Int64>?, _ embedding: UnsafePointer<Int64>?, _ piB: UnsafePointer<Double>?,
    _ actionDist: UnsafePointer<Double>?, _ pEA: UnsafePointer<Double>?, _ out: UnsafeMutablePointer<Double>?
) -> Int32 {
    guard let position, let embedding, let piB, let actionDist, let pEA, let out else {
        return fail(.invalidArgument, "position, action_embed, pi_b, action_dist, p_e_a and out must not be null")
    }
    guard n >= 1, actions >= 1, positions >= 1, dimensions >= 1, categories >= 1, n <= Int64(Int32.max),
        let cells = MemoryBudget.product([Int(n), Int(actions), Int(positions)]),
        let embedCells = MemoryBudget.product([Int(n), Int(dimensions)]),
        let pCells = MemoryBudget.product([Int(actions), Int(categories), Int(dimensions)])
    else {
        return fail(
            .invalidArgument,
            "n (\(n)), actions (\(actions)), positions (\(positions)), dimensions (\(dimensions)) and categories (\(categories)) must be positive and fit"
        )
    }
    let count = Int(n)
    do {
        let rounds = try ActionDistributionOPE.EmbeddingRounds(
            n: count, actions: Int(actions), positions: Int(positions), dimensions: Int(dimensions),
            categories: Int(categories), position: UnsafeBufferPointer(start: position, count: count),
            embedding: UnsafeBufferPointer(start: embedding, count: embedCells),
            logging: UnsafeBufferPointer(start: piB, count: cells),
            target: UnsafeBufferPointer(start: actionDist, count: cells),
            embeddingDistribution: UnsafeBufferPointer(start: pEA, count: pCells))
        try ActionDistributionOPE.marginalEmbeddingWeights(
            rounds, into: UnsafeMutableBufferPointer(start: out, count: count))
    } catch { return fail(error) }
    return ReckitStatus.ok.rawValue
}

/// SLOPE's choice among `k` candidates from their estimates and confidence widths
/// (`SlopeSelection.choose`, the rule the engine's tuned estimators use): writes the chosen
/// 0-based index to `out`.
@_cdecl("reckit_slope_choice")
public func reckit_slope_choice(
    _ k: Int64, _ estimates: UnsafePointer<Double>?, _ widths: UnsafePointer<Double>?,
    _ out: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let estimates, let widths, let out else {
        return fail(.invalidArgument, "estimates, widths and out must not be null")
    }
    guard k >= 1, k <= 1 << 20 else { return fail(.invalidArgument, "k must be in 1...2^20, got \(k)") }
    let theta = Array(UnsafeBufferPointer(start: estimates, count: Int(k)))
    let cnf = Array(UnsafeBufferPointer(start: widths, count: Int(k)))
    if let i = theta.firstIndex(where: { !$0.isFinite }) {
        return fail(.invalidArgument, "estimate \(i) (\(theta[i])) is not finite")
    }
    if let i = cnf.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
        return fail(.invalidArgument, "width \(i) (\(cnf[i])) is not a finite non-negative number")
    }
    out.pointee = Int64(SlopeSelection.choose(estimates: theta, widths: cnf))
    return ReckitStatus.ok.rawValue
}

/// The Student t quantile at `p` with `nu` degrees of freedom (`SpecialFunctions.studentTQuantile`),
/// written to `out`.
@_cdecl("reckit_student_t_quantile")
public func reckit_student_t_quantile(_ p: Double, _ nu: Double, _ out: UnsafeMutablePointer<Double>?) -> Int32 {
    guard let out else { return fail(.invalidArgument, "out must not be null") }
    guard p > 0, p < 1, nu > 0, nu.isFinite else {
        return fail(.invalidArgument, "needs 0 < p < 1 and a finite nu > 0, got p = \(p), nu = \(nu)")
    }
    out.pointee = SpecialFunctions.studentTQuantile(p, degreesOfFreedom: nu)
    return ReckitStatus.ok.rawValue
}

// MARK: Training and serving

/// Any error RecKit throws as a status and its message.
func fail(any error: any Error) -> Int32 {
    switch error {
    case let e as RecOPEError: return fail(e)
    case let e as RecRLError:
        switch e {
        case .io(let io):
            if case .cannotOpen = io { return fail(.io, e.description) }
            if case .cannotWrite = io { return fail(.io, e.description) }
            return fail(.invalidArgument, e.description)
        default: return fail(.invalidArgument, e.description)
        }
    case let e as RecNNError: return fail(.invalidArgument, e.description)
    case let e as RecIOError:
        switch e {
        case .cannotOpen, .cannotWrite: return fail(.io, e.description)
        default: return fail(.invalidArgument, e.description)
        }
    case let e as MemoryBudgetError: return fail(.memory, e.description)
    default: return fail(.invalidArgument, String(describing: error))
    }
}

/// The base folder and source label of a configuration.
func configPlace(_ baseDir: UnsafePointer<CChar>?, _ source: UnsafePointer<CChar>?, _ label: String) -> (URL, String) {
    (
        URL(
            fileURLWithPath: baseDir.map { String(cString: $0) } ?? FileManager.default.currentDirectoryPath,
            isDirectory: true),
        source.map { String(cString: $0) } ?? label
    )
}

/// Trains a sequential recommender (`TrainingJob.parse(config:)`: `reckit train`'s options as
/// JSON). Writes the best model's handle to `model` (free it with `reckit_model_free`) and the
/// training report's JSON to `report_json` (free it with `reckit_free`). With `"out"`, the run
/// folder gets what `reckit train` writes (checkpoints, metrics, split.csv, report.html).
@_cdecl("reckit_train")
public func reckit_train(
    _ config: UnsafePointer<CChar>?, _ baseDir: UnsafePointer<CChar>?, _ source: UnsafePointer<CChar>?,
    _ modelOut: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ reportOut: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, _ reportLength: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let config, let modelOut else { return fail(.invalidArgument, "config and model must not be null") }
    modelOut.pointee = nil
    reportOut?.pointee = nil
    let (base, label) = configPlace(baseDir, source, "the training configuration")
    do {
        let job = try TrainingJob.parse(config: Data(String(cString: config).utf8), source: label, base: base)
        let (model, report, data) = try job.run()
        if let out = job.outputDirectory {
            let page = TrainingReportHTML.render(report, model: model.config, source: data.source)
            try AtomicFile.write(Data(page.utf8), to: PathText.join(out, "report.html"))
        }
        if let reportOut {
            let json = try JSONOutput.encode(report, pretty: false, snakeCase: true, what: "the training report").data
            guard mallocCopy(json, to: reportOut, length: reportLength) else {
                return fail(.memory, "the training report: out of memory")
            }
        }
        modelOut.pointee = Unmanaged.passRetained(ModelBox(model)).toOpaque()
    } catch { return fail(any: error) }
    return ReckitStatus.ok.rawValue
}

/// A model behind a C handle.
final class ModelBox {
    let model: SequentialRecommender
    init(_ model: SequentialRecommender) { self.model = model }
}

func modelBox(_ p: UnsafeMutableRawPointer) -> SequentialRecommender {
    Unmanaged<ModelBox>.fromOpaque(p).takeUnretainedValue().model
}

/// Loads a checkpoint written by `reckit train` (or `reckit_model_save`).
@_cdecl("reckit_model_load")
public func reckit_model_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?)
    -> Int32
{
    guard let path, let out else { return fail(.invalidArgument, "path and model must not be null") }
    out.pointee = nil
    do {
        let model = try SequentialRecommender.load(from: String(cString: path)).model
        out.pointee = Unmanaged.passRetained(ModelBox(model)).toOpaque()
    } catch { return fail(any: error) }
    return ReckitStatus.ok.rawValue
}

/// Releases a model (null is allowed).
@_cdecl("reckit_model_free")
public func reckit_model_free(_ model: UnsafeMutableRawPointer?) {
    guard let model else { return }
    Unmanaged<ModelBox>.fromOpaque(model).release()
}

/// The model's facts as JSON: `items`, `length`, `algorithm`, `encoder`, `dim`, `item_keys`
/// (item i + 1's raw key at index i), `event_types`, `has_q_head`.
@_cdecl("reckit_model_info")
public func reckit_model_info(
    _ model: UnsafeMutableRawPointer?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
    _ length: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let model, let out else { return fail(.invalidArgument, "model and out must not be null") }
    let m = modelBox(model)
    struct Info: Encodable {
        let items: Int
        let length: Int
        let algorithm: String
        let encoder: String
        let dim: Int
        let itemKeys: [String]
        let eventTypes: [String]
        let hasQHead: Bool
    }
    let info = Info(
        items: m.config.items, length: m.config.length, algorithm: m.config.algorithm.rawValue,
        encoder: m.config.encoder.rawValue, dim: m.config.dim, itemKeys: m.itemKeys, eventTypes: m.eventTypes,
        hasQHead: m.networks[0].qHead != nil)
    do {
        let data = try JSONOutput.encode(info, pretty: false, snakeCase: true, what: "the model info").data
        guard mallocCopy(data, to: out, length: length) else { return fail(.memory, "the model info: out of memory") }
    } catch { return fail(any: error) }
    return ReckitStatus.ok.rawValue
}

/// The states of `b` histories given as dense item ids (1...items) in `ids[offsets[r] ..<
/// offsets[r + 1]]`, oldest first: the last `length` of each, right-padded with 0 (what
/// `SequentialRecommender.state(rawHistory:)` makes of raw keys).
func historyStates(
    _ m: SequentialRecommender, _ offsets: UnsafePointer<Int64>, _ ids: UnsafePointer<Int64>?, _ b: Int
) throws(RecRLError) -> [[Int]] {
    var states = [[Int]]()
    states.reserveCapacity(b)
    for r in 0..<b {
        let lo = Int(offsets[r])
        let hi = Int(offsets[r + 1])
        guard lo >= 0, hi >= lo, hi == lo || ids != nil else {
            throw .invalidParameter("offsets[\(r)...\(r + 1)] = \(lo), \(hi): offsets must rise from 0")
        }
        var h = [Int]()
        for j in lo..<hi {
            let id = ids![j]
            guard id >= 1 && id <= Int64(m.config.items) else {
                throw .invalidParameter("history \(r): item id \(id) is not in 1...\(m.config.items)")
            }
            h.append(Int(id))
        }
        let tail = Array(h.suffix(m.config.length))
        states.append(tail + [Int](repeating: 0, count: m.config.length - tail.count))
    }
    return states
}

/// Scores of every item (`b × items` floats, column i = item i + 1) for `b` histories (see
/// `historyStates`); `head` 0 supervised, 1 Q.
@_cdecl("reckit_model_scores")
public func reckit_model_scores(
    _ model: UnsafeMutableRawPointer?, _ head: Int32, _ offsets: UnsafePointer<Int64>?, _ ids: UnsafePointer<Int64>?,
    _ b: Int64, _ out: UnsafeMutablePointer<Float>?
) -> Int32 {
    guard let model, let offsets, let out else {
        return fail(.invalidArgument, "model, offsets and out must not be null")
    }
    guard b >= 1 && b <= Int64(Int32.max) else {
        return fail(.invalidArgument, "b must be in 1...\(Int32.max), got \(b)")
    }
    guard head == 0 || head == 1 else {
        return fail(.invalidArgument, "head must be 0 (supervised) or 1 (q), got \(head)")
    }
    let m = modelBox(model)
    do {
        try MemoryBudget.check(
            "scores of \(b) histories × \(m.config.items) items",
            bytes: MemoryBudget.product([Int(b), m.config.items, 8]))
        let states = try historyStates(m, offsets, ids, Int(b))
        let s = try m.scores(states, head: head == 1 ? .q : .supervised)
        s.storage.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
    } catch { return fail(any: error) }
    return ReckitStatus.ok.rawValue
}

/// The top `k` items of each of `b` histories: `indices` (0-based item indices, i.e. dense id − 1;
/// −1 when fewer) and `scores` (`b × k`), best first, ties to the lower index; with
/// `exclude_history` the items of the history are left out.
@_cdecl("reckit_model_recommend")
public func reckit_model_recommend(
    _ model: UnsafeMutableRawPointer?, _ head: Int32, _ offsets: UnsafePointer<Int64>?, _ ids: UnsafePointer<Int64>?,
    _ b: Int64, _ k: Int64, _ excludeHistory: Int32, _ indices: UnsafeMutablePointer<Int64>?,
    _ scores: UnsafeMutablePointer<Float>?
) -> Int32 {
    guard let model, let offsets, let indices, let scores else {
        return fail(.invalidArgument, "model, offsets, indices and scores must not be null")
    }
    guard b >= 1 && b <= Int64(Int32.max) else {
        return fail(.invalidArgument, "b must be in 1...\(Int32.max), got \(b)")
    }
    guard k >= 1 && k <= Int64(Int32.max) else { return fail(.invalidArgument, "k must be at least 1, got \(k)") }
    guard head == 0 || head == 1 else {
        return fail(.invalidArgument, "head must be 0 (supervised) or 1 (q), got \(head)")
    }
    let m = modelBox(model)
    let n = m.config.items
    do {
        try MemoryBudget.check("scores of \(b) histories × \(n) items", bytes: MemoryBudget.product([Int(b), n, 8]))
        let states = try historyStates(m, offsets, ids, Int(b))
        let s = try m.scores(states, head: head == 1 ? .q : .supervised)
        let kk = Int(k)
        for r in 0..<Int(b) {
            var row = Array(s.storage[(r * n)..<((r + 1) * n)])
            if excludeHistory != 0 {
                for j in Int(offsets[r])..<Int(offsets[r + 1]) { row[Int(ids![j]) - 1] = -.infinity }
            }
            var top = try TopK.select(row, k: min(kk, n))
            if excludeHistory != 0 { top.removeAll { $0.score == -.infinity } }
            for j in 0..<kk {
                indices[r * kk + j] = j < top.count ? Int64(top[j].item) : -1
                scores[r * kk + j] = j < top.count ? top[j].score : .nan
            }
        }
    } catch { return fail(any: error) }
    return ReckitStatus.ok.rawValue
}

/// The item vectors and bias of a model's head (`head` 0 supervised, 1 Q): `items × dim` floats
/// (row i = item i + 1, the catalog `reckit score --items-from` scores) to `vectors` and `items`
/// floats to `bias` (may be null).
@_cdecl("reckit_model_head")
public func reckit_model_head(
    _ model: UnsafeMutableRawPointer?, _ head: Int32, _ vectors: UnsafeMutablePointer<Float>?,
    _ bias: UnsafeMutablePointer<Float>?
) -> Int32 {
    guard let model, let vectors else { return fail(.invalidArgument, "model and vectors must not be null") }
    guard head == 0 || head == 1 else {
        return fail(.invalidArgument, "head must be 0 (supervised) or 1 (q), got \(head)")
    }
    let m = modelBox(model)
    guard let h = head == 1 ? m.networks[0].qHead : m.networks[0].ceHead else {
        return fail(.invalidArgument, "this model (\(m.config.algorithm.rawValue)) has no Q head")
    }
    h.weight.value.storage.withUnsafeBufferPointer { vectors.update(from: $0.baseAddress!, count: $0.count) }
    if let bias { h.bias.value.storage.withUnsafeBufferPointer { bias.update(from: $0.baseAddress!, count: $0.count) } }
    return ReckitStatus.ok.rawValue
}

/// Writes the model as a checkpoint (atomically) that `reckit_model_load`, `reckit evaluate` and
/// `reckit offline-ab --target-model` read.
@_cdecl("reckit_model_save")
public func reckit_model_save(_ model: UnsafeMutableRawPointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    guard let model, let path else { return fail(.invalidArgument, "model and path must not be null") }
    do { try modelBox(model).save(to: String(cString: path)) } catch { return fail(any: error) }
    return ReckitStatus.ok.rawValue
}

/// HR@k and NDCG@k per event type (`reckit evaluate --json`'s object) of a model (or, with a
/// null model, the baseline `"baseline"` names: popularity (default), itemknn, sknn, vsknn, with
/// `"neighbours"`, default 100) on the data of a configuration with the data keys of
/// `TrainingJob.parse(config:)` and `"on"`: "test" (default) or "valid"; `head` 0 supervised, 1 Q.
@_cdecl("reckit_evaluate")
public func reckit_evaluate(
    _ model: UnsafeMutableRawPointer?, _ head: Int32, _ config: UnsafePointer<CChar>?, _ baseDir: UnsafePointer<CChar>?,
    _ source: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
    _ length: UnsafeMutablePointer<Int64>?
) -> Int32 {
    guard let config, let out else { return fail(.invalidArgument, "config and out must not be null") }
    guard head == 0 || head == 1 else {
        return fail(.invalidArgument, "head must be 0 (supervised) or 1 (q), got \(head)")
    }
    out.pointee = nil
    let (base, label) = configPlace(baseDir, source, "the evaluation configuration")
    do {
        let c = try ConfigReaderC.parse(config, base: base, label: label)
        let (data, split) = try c.spec.load()
        let sessions = c.on == "valid" ? split.validation : split.test
        guard !sessions.isEmpty else {
            throw RecRLError.invalidParameter("\(label): no \(c.on) sessions to evaluate")
        }
        let ranker: CatalogRanker
        if let model {
            let m = modelBox(model)
            guard m.itemKeys == data.itemKeys else {
                throw RecRLError.model(
                    "the model's item vocabulary (\(m.itemKeys.count) items) differs from this data's (\(data.itemCount) items); use the same file and filters as in training"
                )
            }
            ranker = ModelRanker(model: m, head: head == 1 ? .q : .supervised)
        } else {
            guard
                let r = try BaselineRanker.named(
                    c.baseline, training: data.subset(split.train), neighbours: c.neighbours)
            else {
                throw RecRLError.invalidParameter(
                    "\(label): \"baseline\" must be one of \(BaselineRanker.names.joined(separator: ", ")), got '\(clipped(c.baseline))'"
                )
            }
            ranker = r
        }
        let metrics = try Evaluation.run(ranker, data: data, sessions: sessions, length: c.spec.length)
        let json = try JSONOutput.encode(NamedMetrics(metrics), pretty: false, snakeCase: false, what: "the metrics")
            .data
        guard mallocCopy(json, to: out, length: length) else { return fail(.memory, "the metrics: out of memory") }
    } catch { return fail(any: error) }
    return ReckitStatus.ok.rawValue
}

/// The data keys plus "on", for `reckit_evaluate`.
enum ConfigReaderC {
    static func parse(_ config: UnsafePointer<CChar>, base: URL, label: String) throws(RecRLError) -> (
        spec: EventDataSpec, on: String, baseline: String, neighbours: Int
    ) {
        let data = Data(String(cString: config).utf8)
        var on = "test"
        var baseline = "popularity"
        var neighbours = 100
        if case .object(let o)? = try? JSONValue.parse(data) {
            if let v = o["on"] {
                guard let s = v.string, s == "test" || s == "valid" else {
                    throw .invalidParameter("\(label): \"on\" must be test or valid")
                }
                on = s
            }
            if let v = o["baseline"] {
                guard let s = v.string else { throw .invalidParameter("\(label): \"baseline\" must be a string") }
                baseline = s
            }
            if let v = o["neighbours"] {
                guard let d = v.number, d == d.rounded(), d >= 1, d <= 1e9 else {
                    throw .invalidParameter("\(label): \"neighbours\" must be an integer in 1...1000000000")
                }
                neighbours = Int(d)
            }
        }
        let job = try TrainingJob.parse(
            config: data, source: label, base: base,
            allowed: EventDataSpec.configKeys.union(["on", "baseline", "neighbours"]))
        return (job.data, on, baseline, neighbours)
    }
}
