internal import CBLAS

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Which kernels (its "core") OpenBLAS runs, against what the CPU can run.
///
/// OpenBLAS picks its core once, when it loads, from the CPU's model number. A CPU it does not
/// know (a cloud VM's generic model, a CPU newer than the OpenBLAS build) gets a generic core:
/// Debian's OpenBLAS 0.3.21 runs its Prescott (SSE3) kernels on an AVX-512 Xeon VM, measured 3.9×
/// slower on a 100k × 256 × 64 sgemm (48 ms against 12.3 ms with `SkylakeX`) and 2.3× slower
/// training. `OPENBLAS_CORETYPE`, read when OpenBLAS loads, chooses the core instead; so a
/// program that finds a generic core must set it and start again (`reexecIfNeeded`), or set it
/// before it loads OpenBLAS (the Python package does).
///
/// RecKit never overrides an `OPENBLAS_CORETYPE` the user or the machine set (some machines set
/// one because older builds break there), and `RECKIT_BLAS_CORE=keep` keeps OpenBLAS's own choice.
public enum BLASHealth {
    /// CPU features that decide which OpenBLAS cores can run.
    public struct Features: OptionSet, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let avx2 = Features(rawValue: 1)
        public static let fma = Features(rawValue: 2)
        public static let avx512f = Features(rawValue: 4)
        public static let avx512bw = Features(rawValue: 8)
        public static let avx512dq = Features(rawValue: 16)
        public static let avx512vl = Features(rawValue: 32)
        /// What OpenBLAS's SkylakeX kernels need.
        public static let skylakeX: Features = [.avx2, .fma, .avx512f, .avx512bw, .avx512dq, .avx512vl]
        /// What its Haswell kernels need.
        public static let haswell: Features = [.avx2, .fma]

        public var description: String {
            if isSuperset(of: .skylakeX) { return "AVX-512" }
            if isSuperset(of: .haswell) { return "AVX2+FMA" }
            return "no AVX2+FMA"
        }
    }

    /// This CPU's features.
    public static let hostFeatures = Features(rawValue: Int(reckit_host_blas_features()))

    /// Cores whose kernels use 256-bit or wider vectors with FMA (OpenBLAS 0.3.x names, as
    /// `openblas_get_corename` reports them, lowercased). Any other core is generic here.
    @_spi(Testing) public static let wideCores: Set<String> = [
        "haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator", "steamroller",
    ]

    /// The core to ask OpenBLAS for on a CPU with `features` when it chose `core`: `SkylakeX`
    /// on an AVX-512 CPU (F, BW, DQ, VL) or `Haswell` on an AVX2+FMA CPU when `core` is generic
    /// (Prescott, Nehalem, Core2, Atom, Katmai, Sandybridge, ...); nil when `core` already uses
    /// wide vectors, or the CPU has none.
    public static func recommendedCore(core: String, features: Features) -> String? {
        guard !wideCores.contains(core.lowercased()) else { return nil }
        if features.isSuperset(of: .skylakeX) { return "SkylakeX" }
        if features.isSuperset(of: .haswell) { return "Haswell" }
        return nil
    }

    /// What a process should do about its OpenBLAS core.
    public enum Decision: Equatable, Sendable {
        /// OpenBLAS's core uses the CPU's vectors (or the CPU has none to use).
        case fine
        /// `OPENBLAS_CORETYPE` is set (by the user, the machine, or RecKit's restart): its
        /// choice stands.
        case setByEnvironment(String)
        /// `RECKIT_BLAS_CORE=keep`: OpenBLAS's own choice stands, although it is generic.
        case keptByRequest(core: String, recommended: String)
        /// Set `OPENBLAS_CORETYPE` to `recommended` and load OpenBLAS again (start again).
        case switchCore(from: String, to: String)
    }

    /// The decision for a process whose OpenBLAS chose `core` on a CPU with `features`, under
    /// `environment` (`OPENBLAS_CORETYPE`, `RECKIT_BLAS_CORE`).
    public static func decide(core: String, features: Features, environment: [String: String]) -> Decision {
        if let set = environment["OPENBLAS_CORETYPE"], !set.isEmpty { return .setByEnvironment(set) }
        guard let better = recommendedCore(core: core, features: features) else { return .fine }
        if environment["RECKIT_BLAS_CORE"]?.lowercased() == "keep" {
            return .keptByRequest(core: core, recommended: better)
        }
        return .switchCore(from: core, to: better)
    }

    /// The core this process's OpenBLAS runs (`RECKIT_BLAS_CORE_AS` stands in for it in tests:
    /// a generic core on any CPU).
    static var effectiveCore: String {
        ProcessInfo.processInfo.environment["RECKIT_BLAS_CORE_AS"] ?? Threading.blasCoreName
    }

    /// This process's decision.
    public static var decision: Decision {
        decide(core: effectiveCore, features: hostFeatures, environment: ProcessInfo.processInfo.environment)
    }

    /// The CPU's model name (`/proc/cpuinfo`), "unknown" when there is none.
    public static let cpuModel: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        return cpuModel(cpuinfo: text) ?? "unknown"
    }()

    /// The first `model name` of a `/proc/cpuinfo` text.
    @_spi(Testing) public static func cpuModel(cpuinfo: String) -> String? {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("model name") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return String(line[line.index(after: colon)...]).trimmingWhitespace()
        }
        return nil
    }

    /// The core in use, with how it was chosen: "Cooperlake", "SkylakeX (set by RecKit; OpenBLAS
    /// chose Prescott)", "SkylakeX (OPENBLAS_CORETYPE)".
    public static var coreDescription: String {
        let core = Threading.blasCoreName
        if let replaced = replacedCore { return "\(core) (set by RecKit; OpenBLAS chose \(replaced))" }
        if case .setByEnvironment = decision { return "\(core) (OPENBLAS_CORETYPE)" }
        return core
    }

    /// The core OpenBLAS chose before RecKit restarted the process with another (nil when it
    /// did not).
    public static var replacedCore: String? { ProcessInfo.processInfo.environment["RECKIT_BLAS_CORE_REPLACED"] }

    /// What the diagnosis costs, in one paragraph for the user (nil when the core is fine or was
    /// set by the environment).
    public static var advice: String? {
        switch decision {
        case .fine, .setByEnvironment: return nil
        case .keptByRequest(let core, let better):
            return
                "OpenBLAS runs its generic \(core) kernels on this \(hostFeatures) CPU (kept: RECKIT_BLAS_CORE=keep); "
                + "OPENBLAS_CORETYPE=\(better) runs GEMM about 4x faster (measured: 100k x 256 x 64 sgemm 48 ms "
                + "against 12.3 ms; training 2.3x)."
        case .switchCore(let core, let better):
            return "OpenBLAS chose its generic \(core) kernels on this \(hostFeatures) CPU; "
                + "OPENBLAS_CORETYPE=\(better) runs GEMM about 4x faster (measured: 100k x 256 x 64 sgemm 48 ms "
                + "against 12.3 ms; training 2.3x)."
        }
    }

    static func toStderr(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { LibC.write(2, $0.baseAddress!, $0.count) }
    }

    /// When OpenBLAS chose a generic core on a CPU with wide vectors and nothing set
    /// `OPENBLAS_CORETYPE`: says so once on stderr (naming `tool`) and starts this program again
    /// with `OPENBLAS_CORETYPE` set to the better core (OpenBLAS reads it only when it loads).
    /// Returns (doing nothing) otherwise, or when the restart fails.
    public static func reexecIfNeeded(tool: String) {
        guard case .switchCore(let from, let to) = decision else { return }
        let note =
            "\(tool): note: OpenBLAS chose its generic \(from) kernels on this \(hostFeatures) CPU; "
            + "running with OPENBLAS_CORETYPE=\(to) (about 4x faster GEMM; RECKIT_BLAS_CORE=keep keeps \(from))\n"
        toStderr(note)
        setenv("OPENBLAS_CORETYPE", to, 1)
        setenv("RECKIT_BLAS_CORE_REPLACED", from, 1)
        unsetenv("RECKIT_BLAS_CORE_AS")
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: carry on with the generic core.
        let failed = "\(tool): note: restarting failed (\(String(cString: strerror(errno)))); keeping \(from)\n"
        toStderr(failed)
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv("RECKIT_BLAS_CORE_REPLACED")
    }
}
