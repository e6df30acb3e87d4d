internal import CBLAS

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

    /// nil when the build uses the CPU's vector features; otherwise what is left unused, what it
    /// costs and the flag that fixes it, in one paragraph (the CLI prints it once on stderr).
    public static var advice: String? {
        guard !unused.isEmpty else { return nil }
        return "this build of RecKit does not use the CPU's \(unused) (compiled for: \(compiled)); its SIMD "
            + "kernels run slower (measured, README: Monte Carlo rank sampling, Beta and normal draws 1.7-2.7x, "
            + "training steps 5-45%). Build with -Xswiftc -target-cpu -Xswiftc native "
            + "(swift build -c release -Xswiftc -target-cpu -Xswiftc native; the Makefile does)."
    }
}
