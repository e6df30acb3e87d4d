internal import CBLAS
import Dispatch
import Synchronization
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// How many threads one call may use. Passed explicitly to every kernel that can run in
/// parallel; `.automatic` means "the process-wide count set with `Threading.setCount(_:)`".
public enum Parallelism: Sendable, Equatable, CustomStringConvertible {
    /// Run on the calling thread only.
    case sequential
    /// Use exactly this many threads (clamped to at least 1).
    case threads(Int)
    /// Use `Threading.count`.
    case automatic

    /// The thread count this value resolves to now.
    public var resolvedCount: Int {
        switch self {
        case .sequential: return 1
        case .threads(let n): return min(max(1, n), Threading.maxCount)
        case .automatic: return Threading.isSequentialScope ? 1 : Threading.count
        }
    }

    public var description: String {
        switch self {
        case .sequential: return "sequential"
        case .threads(let n): return "threads(\(n))"
        case .automatic: return "automatic(\(Threading.count))"
        }
    }
}

/// The one threading knob of RecKit.
///
/// `Threading.setCount(n)` sets the thread count used by `Parallelism.automatic` **and**
/// OpenBLAS's own thread count (`openblas_set_num_threads`). The default is the
/// `RECKIT_THREADS` environment variable when set, otherwise the number of active cores.
///
/// OpenBLAS's thread count is process-global. RecCore kernels that run their own threads
/// (catalog scoring over item blocks, random fills) call BLAS with one thread from each worker;
/// every BLAS call made through RecCore first sets OpenBLAS to the count that call asked for
/// (a cached compare, so the cost is nil when nothing changes). After a multi-threaded call,
/// OpenBLAS's own worker threads spin (yielding) for a while before they sleep; on few cores
/// they slow the threaded kernels that follow (`SASRec.DataParallel` avoids them in training).
public enum Threading {
    private static let configured = Atomic<Int>(0)
    private static let blasCurrent = Atomic<Int>(0)

    /// Number of cores the OS reports as active.
    public static var coreCount: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Runs `body` with `.automatic` meaning one thread on the calling thread (so kernels and
    /// BLAS calls inside stay single-threaded): for data-parallel workers that already occupy
    /// every core.
    public static func withSequentialKernels<R>(_ body: () throws -> R) rethrows -> R {
        let before = sequential.value
        sequential.value = true
        defer { sequential.value = before }
        return try body()
    }

    static let sequential = ThreadLocal<Bool>()

    /// True inside `withSequentialKernels` on this thread.
    public static var isSequentialScope: Bool { sequential.value ?? false }

    /// The largest thread count RecKit takes (more threads than cores only contend; OpenBLAS
    /// holds its count in an Int32).
    public static let maxCount = 1024

    /// Threads used by `.automatic` (and by OpenBLAS for calls made with `.automatic`): the
    /// count set, else `RECKIT_THREADS` when it is an integer in 1...`maxCount`
    /// (`environmentCount()` says why another value is not), else the active cores.
    public static var count: Int {
        let c = configured.load(ordering: .relaxed)
        if c > 0 { return c }
        let n = (try? environmentCount()) ?? nil ?? min(coreCount, maxCount)
        configured.store(n, ordering: .relaxed)
        return n
    }

    /// `RECKIT_THREADS` as a thread count (nil when unset).
    /// - Throws: `RecCoreError.invalidArgument` naming the variable and its value when it is not
    ///   an integer in 1...`maxCount`.
    public static func environmentCount() throws(RecCoreError) -> Int? {
        guard let s = ProcessInfo.processInfo.environment["RECKIT_THREADS"] else { return nil }
        guard let v = Int(s.trimmingWhitespace()), v >= 1, v <= maxCount else {
            throw .invalidArgument(
                "RECKIT_THREADS must be an integer in 1...\(maxCount), got '\(clipped(s, limit: 40))'")
        }
        return v
    }

    /// Sets the thread count for `.automatic` and OpenBLAS.
    /// - Precondition: `1 <= n <= maxCount`.
    public static func setCount(_ n: Int) {
        precondition(n >= 1 && n <= maxCount, "Threading.setCount: thread count must be in 1...\(maxCount), got \(n)")
        configured.store(n, ordering: .relaxed)
        setBLASThreads(n)
    }

    /// Address space OpenBLAS reserves for each thread that runs a GEMM (Debian's x86-64 build:
    /// a 128 MiB buffer per calling or worker thread, mapped at its first BLAS call).
    public static let blasBufferBytes = 128 << 20

    /// Address space left under the process's limit (`ulimit -v`, RLIMIT_AS): the limit less the
    /// mapped size now; nil when there is no limit.
    public static func addressSpaceLeft() -> Int? {
        var rl = rlimit()
        // UInt64.max is RLIM_INFINITY (no limit).
        guard getrlimit(Int32(RLIMIT_AS.rawValue), &rl) == 0, rl.rlim_cur != UInt64.max else { return nil }
        let limit = rl.rlim_cur > UInt64(Int.max) ? Int.max : Int(rl.rlim_cur)
        // /proc/self/statm: the mapped size in pages first.
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
            let pages = text.split(separator: " ").first.flatMap({ Int($0) })
        else { return limit }
        return limit - pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Refuses a thread count whose OpenBLAS buffers do not fit under the address-space limit:
    /// OpenBLAS retries a failed buffer mapping for ever (the process hangs with no message), so
    /// the check comes before the first BLAS call.
    /// - Throws: `RecCoreError.invalidArgument` naming the limit, what is left and the threads
    ///   that would fit.
    public static func checkAddressSpace(threads: Int) throws(RecCoreError) {
        guard let left = addressSpaceLeft() else { return }
        let margin = 16 << 20
        let need = threads * blasBufferBytes + margin
        guard left < need else { return }
        let fit = max(0, (left - margin) / blasBufferBytes)
        let mb = { (b: Int) in "\(b >> 20) MB" }
        throw .invalidArgument(
            "the address-space limit (ulimit -v) leaves \(mb(max(left, 0))); OpenBLAS maps \(mb(blasBufferBytes)) per thread, "
                + "\(mb(need)) with a margin for \(threads) thread\(threads == 1 ? "" : "s"): "
                + (fit >= 1
                    ? "use --threads \(fit) or raise the limit"
                    : "raise the limit (ulimit -v) by at least \(mb(need - left))"))
    }

    /// OpenBLAS's current thread count, as reported by OpenBLAS.
    public static var blasThreadCount: Int { Int(openblas_get_num_threads()) }

    /// The OpenBLAS kernel family in use (for example "Cooperlake" or "Haswell").
    public static var blasCoreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// OpenBLAS's build configuration string.
    public static var blasConfig: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p)
    }

    /// Sets OpenBLAS's thread count if it differs from the last value RecCore set.
    @usableFromInline
    internal static func setBLASThreads(_ n: Int) {
        let n = min(max(1, n), maxCount)
        if blasCurrent.load(ordering: .relaxed) != n {
            openblas_set_num_threads(Int32(n))
            blasCurrent.store(n, ordering: .relaxed)
        }
    }

    /// Runs `body(chunk)` for every chunk in `0..<chunks` on up to `threads` threads.
    /// Chunks are handed out dynamically; results must depend on the chunk index only
    /// (never on the thread), which is how RecCore stays reproducible across thread counts.
    public static func parallelFor(chunks: Int, parallelism: Parallelism, _ body: (Int) -> Void) {
        guard chunks > 0 else { return }
        let t = min(parallelism.resolvedCount, chunks)
        if t <= 1 {
            for c in 0..<chunks { body(c) }
            return
        }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: t) { _ in
                while true {
                    let c = next.add(1, ordering: .relaxed).oldValue
                    if c >= chunks { break }
                    box.value(c)
                }
            }
        }
    }

    /// As `parallelFor(chunks:parallelism:_:)`, with per-worker scratch state: each worker calls
    /// `make()` once, passes the state to every chunk it runs, and hands it to `release` at the
    /// end. Results must still depend on the chunk index only.
    public static func parallelFor<State>(
        chunks: Int, parallelism: Parallelism, scratch make: () -> State,
        release: (State) -> Void, body: (Int, inout State) -> Void
    ) {
        guard chunks > 0 else { return }
        let t = min(parallelism.resolvedCount, chunks)
        let next = Atomic<Int>(0)
        let worker: (Int) -> Void = { _ in
            var state = make()
            while true {
                let c = next.add(1, ordering: .relaxed).oldValue
                if c >= chunks { break }
                body(c, &state)
            }
            release(state)
        }
        perWorker(t, worker)
    }

    /// Runs `body(worker)` once for each worker in `0..<workers`, concurrently.
    public static func perWorker(_ workers: Int, _ body: (Int) -> Void) {
        guard workers > 0 else { return }
        if workers == 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in box.value(w) }
        }
    }
}

/// Wraps a value that is shared across worker threads under a discipline the compiler cannot
/// check (disjoint writes to a buffer, a closure that only reads).
@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline var value: T
    @usableFromInline init(_ value: T) { self.value = value }
}
