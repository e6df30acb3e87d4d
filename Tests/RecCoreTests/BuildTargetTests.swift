import Foundation
import RecCore
import Testing

@Suite struct BuildTargetTests {
    /// The CPU's features as the C builtins report them agree with the kernel's /proc/cpuinfo.
    @Test func hostFeaturesMatchProcCpuinfo() throws {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return }
        let flags = Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
        #expect(BuildTarget.host.contains(.avx2) == flags.contains("avx2"))
        #expect(BuildTarget.host.contains(.fma) == flags.contains("fma"))
        #expect(BuildTarget.host.contains(.avx512f) == flags.contains("avx512f"))
    }

    /// A binary that runs uses only features the CPU has; the advice appears exactly when some
    /// are unused, and names them and the flag.
    @Test func adviceNamesWhatIsUnused() {
        #expect(BuildTarget.compiled.isSubset(of: BuildTarget.host))
        if BuildTarget.unused.isEmpty {
            #expect(BuildTarget.advice == nil)
        } else {
            let advice = BuildTarget.advice ?? ""
            #expect(advice.contains(BuildTarget.unused.description) && advice.contains("-target-cpu"))
        }
        #expect(BuildTarget.Features([.avx2, .avx512f]).description == "AVX2, AVX-512F")
        #expect(BuildTarget.Features().description == "none")
    }

    /// The advice of a flagless build states each kernel's measured cost for the host's class,
    /// and names the flag; a build that uses the CPU has no advice and logs nothing.
    @Test func adviceStatesTheCostPerKernel() {
        let all: BuildTarget.Features = [.avx2, .fma, .avx512f]
        for hostClass in [BuildTarget.HostClass.avx512, .avx2] {
            let costs = BuildTarget.costs(on: hostClass)
            #expect(Set(costs.map(\.kernel)).count == costs.count && costs.count >= 4)
            #expect(costs.allSatisfy { $0.slowdown.lowerBound >= 1 })
            let advice = BuildTarget.advice(unused: all, compiled: [], hostClass: hostClass) ?? ""
            for c in costs { #expect(advice.contains(c.description), "\(hostClass): \(c) missing from \(advice)") }
            #expect(advice.contains("AVX2, FMA, AVX-512F") && advice.contains("-Xswiftc -target-cpu -Xswiftc native"))
        }
        #expect(BuildTarget.advice(unused: [], compiled: all, hostClass: .avx512) == nil)
        #expect(BuildTarget.costs(on: .avx512)[0].description.hasPrefix("top-k scoring, 256 states "))
        if BuildTarget.unused.isEmpty { #expect(!BuildTarget.reportOnce()) }
        BuildTarget.markReported()
        #expect(!BuildTarget.reportOnce())
    }
}
