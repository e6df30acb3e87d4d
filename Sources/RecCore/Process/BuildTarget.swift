internal import CBLAS
internal import Logging
import Synchronization

/// The x86-64 vector features this build of RecKit was compiled for, against those of the CPU it
/// runs on. SwiftPM builds a dependency for the baseline x86-64 target unless the dependent passes
/// `-Xswiftc -target-cpu -Xswiftc native` (or another CPU): the SIMD kernels then run on SSE2,
/// silently slower (README, "Measured figures": the baseline build's rows).
public enum BuildTarget {
    /// x86-64 vector features that change RecKit's kernels.
    public struct Features: OptionSet, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// 256-bit integer and float vectors.
        public static let avx2 = Features(rawValue: 1)
        /// Fused multiply-add.
        public static let fma = Features(rawValue: 2)
        /// 512-bit vectors (foundation).
        public static let avx512f = Features(rawValue: 4)

        public var description: String {
            let names = [(Features.avx2, "AVX2"), (.fma, "FMA"), (.avx512f, "AVX-512F")].filter { contains($0.0) }.map(
                \.1)
            return names.isEmpty ? "none" : names.joined(separator: ", ")
        }
    }

    /// What RecCore was compiled for (the compiler's target macros).
    public static let compiled = Features(rawValue: Int(reckit_compiled_features()))
    /// What this CPU has.
    public static let host = Features(rawValue: Int(reckit_host_features()))
    /// Features the CPU has and the build does not use.
    public static var unused: Features { host.subtracting(compiled) }

    /// What a build without the host's vector features costs one kernel: how many times faster a
    /// native build ran it (`-target-cpu native` against no flags, the same host and run).
    public struct KernelCost: Sendable, Equatable, CustomStringConvertible {
        /// The kernel, as the README's figures name it.
        public let kernel: String
        /// Native speed over this build's, low and high over the runs measured.
        public let slowdown: ClosedRange<Double>
        /// What the flagless build does instead, if it takes another path.
        public let note: String?

        public var description: String {
            let range =
                slowdown.lowerBound == slowdown.upperBound
                ? cFormat("%.1fx", slowdown.lowerBound)
                : cFormat("%.1f-%.1fx", slowdown.lowerBound, slowdown.upperBound)
            return "\(kernel) \(range)" + (note.map { " (\($0))" } ?? "")
        }
    }

    /// The class of host a cost table was measured on.
    public enum HostClass: String, Sendable {
        /// AVX-512 (and AVX2, FMA): an Intel Xeon VM, 2 cores.
        case avx512 = "AVX-512"
        /// AVX2 and FMA, no AVX-512: measured with an AVX2 build (`-target-cpu haswell`) on the
        /// AVX-512 host, so the vector width is AVX2's but the core is not an AVX2-only one.
        case avx2 = "AVX2"
    }

    /// The host class of this CPU (nil without AVX2: nothing to gain from a native build).
    public static var hostClass: HostClass? {
        host.contains(.avx512f) ? .avx512 : host.contains(.avx2) ? .avx2 : nil
    }

    /// What a baseline (flagless) build costs each kernel on a host class: `recbench` on 2
    /// threads, a native build against a flagless one alternating in the same run (Measured
    /// figures, "Flagless builds": top-k of 100,000 items, d = 64; `mc-rank`; `rng beta_ctr`;
    /// `train --algo ce,sqn --items 100000 --blocks 2`). Scoring takes OpenBLAS's GEMM in a
    /// flagless build (`CatalogKernel.automatic`), which dispatches on the CPU at run time;
    /// training's GEMMs do too, its softmax, attention and layer norm cannot.
    public static func costs(on hostClass: HostClass) -> [KernelCost] {
        switch hostClass {
        case .avx512:
            return [
                KernelCost(kernel: "top-k scoring, 256 states", slowdown: 1.6...1.7, note: "scores through OpenBLAS"),
                KernelCost(kernel: "top-k scoring, 1 state", slowdown: 1.2...1.3, note: "scores through OpenBLAS"),
                KernelCost(kernel: "Monte Carlo rank sampling", slowdown: 2.2...3.3, note: nil),
                KernelCost(kernel: "Beta draws", slowdown: 2.4...2.4, note: nil),
                KernelCost(kernel: "training steps", slowdown: 4.1...5.5, note: "softmax, attention, layer norm"),
            ]
        case .avx2:
            return [
                KernelCost(kernel: "top-k scoring, 256 states", slowdown: 1.0...1.2, note: "scores through OpenBLAS"),
                KernelCost(kernel: "top-k scoring, 1 state", slowdown: 1.1...1.1, note: "scores through OpenBLAS"),
                KernelCost(kernel: "Monte Carlo rank sampling", slowdown: 1.7...2.0, note: nil),
                KernelCost(kernel: "Beta draws", slowdown: 1.6...1.8, note: nil),
                KernelCost(kernel: "training steps", slowdown: 3.5...4.7, note: "softmax, attention, layer norm"),
            ]
        }
    }

    /// The costs of this build on this host: empty when the build uses the CPU's features.
    public static var costs: [KernelCost] {
        guard !unused.isEmpty, let c = hostClass else { return [] }
        return costs(on: c)
    }

    /// nil when the build uses the CPU's vector features; otherwise what is left unused, what it
    /// costs per kernel on this class of host and the flag that fixes it, in one paragraph (the
    /// CLI prints it once on stderr; a library logs it once through swift-log, `reportOnce`).
    public static var advice: String? { advice(unused: unused, compiled: compiled, hostClass: hostClass) }

    /// The advice for a build compiled for `compiled` on a host of `hostClass` with `unused` left.
    public static func advice(unused: Features, compiled: Features, hostClass: HostClass?) -> String? {
        guard !unused.isEmpty else { return nil }
        let measured =
            hostClass.map { c in
                "; a native build is faster, measured on an \(c.rawValue) host: "
                    + costs(on: c).map(\.description).joined(separator: ", ")
            } ?? ""
        return "this build of RecKit does not use the CPU's \(unused) (compiled for: \(compiled))\(measured). "
            + "Build with -Xswiftc -target-cpu -Xswiftc native (swift build -c release -Xswiftc -target-cpu "
            + "-Xswiftc native; in Xcode, Other Swift Flags: -target-cpu native; RecKit's Makefile does)."
    }

    private static let reported = Mutex(false)

    /// Logs `advice` once per process at `.notice` through swift-log (label "RecKit"), the way a
    /// library warns without printing: the app's logging backend decides where it goes. Called
    /// where the vector kernels start (catalog scoring, Monte Carlo rank sampling); a no-op when
    /// the build uses the CPU's features or after `markReported()`.
    /// - Returns: whether this call logged.
    @discardableResult
    public static func reportOnce() -> Bool {
        let first = reported.withLock { done in
            defer { done = true }
            return !done
        }
        guard first, let advice else { return false }
        Logger(label: "RecKit").notice("\(advice)")
        return true
    }

    /// Marks the advice as reported, for a program that shows it its own way (the `reckit` CLI
    /// prints it on stderr; the Python package keeps it in `build_info()`).
    public static func markReported() { reported.withLock { $0 = true } }
}
