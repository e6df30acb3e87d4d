@_spi(Testing) import RecCore
import Testing

/// The OpenBLAS core RecKit asks for, over synthetic CPU feature sets, core names and
/// environments.
@Suite struct BLASHealthTests {
    typealias F = BLASHealth.Features
    static let generic = [
        "Prescott", "Nehalem", "Core2", "Atom", "Katmai", "Penryn", "Dunnington", "Sandybridge",
        "unknown",
    ]
    static let wide = ["Haswell", "Zen", "SkylakeX", "COOPERLAKE", "SapphireRapids", "Excavator"]

    @Test func genericCoresOnWideCPUsGetTheBestCoreTheyCanRun() {
        for core in Self.generic {
            #expect(BLASHealth.recommendedCore(core: core, features: .skylakeX) == "SkylakeX")
            #expect(BLASHealth.recommendedCore(core: core, features: [.avx2, .fma, .avx512f]) == "Haswell")
            #expect(BLASHealth.recommendedCore(core: core, features: [.avx2, .fma, .avx512f, .avx512bw]) == "Haswell")
            #expect(BLASHealth.recommendedCore(core: core, features: .haswell) == "Haswell")
            #expect(BLASHealth.recommendedCore(core: core, features: [.avx2]) == nil)
            #expect(BLASHealth.recommendedCore(core: core, features: [.fma]) == nil)
            #expect(BLASHealth.recommendedCore(core: core, features: []) == nil)
        }
        for core in Self.wide {
            #expect(BLASHealth.recommendedCore(core: core, features: .skylakeX) == nil)
            #expect(BLASHealth.recommendedCore(core: core, features: .haswell) == nil)
        }
    }

    @Test func theEnvironmentWins() {
        let prescott = "Prescott"
        #expect(
            BLASHealth.decide(core: prescott, features: .skylakeX, environment: [:])
                == .switchCore(
                    from: "Prescott", to: "SkylakeX"))
        #expect(
            BLASHealth.decide(core: prescott, features: .skylakeX, environment: ["OPENBLAS_CORETYPE": "Haswell"])
                == .setByEnvironment("Haswell"))
        // Even a generic value the machine set stands (older builds break on some hosts).
        #expect(
            BLASHealth.decide(core: prescott, features: .skylakeX, environment: ["OPENBLAS_CORETYPE": "Prescott"])
                == .setByEnvironment("Prescott"))
        #expect(
            BLASHealth.decide(core: prescott, features: .haswell, environment: ["RECKIT_BLAS_CORE": "keep"])
                == .keptByRequest(core: "Prescott", recommended: "Haswell"))
        #expect(
            BLASHealth.decide(core: prescott, features: .haswell, environment: ["OPENBLAS_CORETYPE": ""])
                == .switchCore(from: "Prescott", to: "Haswell"))
        #expect(BLASHealth.decide(core: "Cooperlake", features: .skylakeX, environment: [:]) == .fine)
        #expect(BLASHealth.decide(core: "Prescott", features: [], environment: [:]) == .fine)
    }

    @Test func theHostsModelAndFeatures() {
        let text =
            "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14 96-Core Processor \nflags\t: fpu\n"
        #expect(BLASHealth.cpuModel(cpuinfo: text) == "AMD EPYC 9R14 96-Core Processor")
        #expect(BLASHealth.cpuModel(cpuinfo: "processor : 0\n") == nil)
        // What the CPU reports agrees with the build-target probe.
        let host = BuildTarget.host
        #expect(host.contains(.avx2) == BLASHealth.hostFeatures.contains(.avx2))
        #expect(host.contains(.fma) == BLASHealth.hostFeatures.contains(.fma))
        #expect(host.contains(.avx512f) == BLASHealth.hostFeatures.contains(.avx512f))
        // Whatever this host runs, a restart is only asked for a generic core.
        if case .switchCore(let from, _) = BLASHealth.decide(
            core: Threading.blasCoreName, features: BLASHealth.hostFeatures, environment: [:])
        {
            #expect(!BLASHealth.wideCores.contains(from.lowercased()))
        }
    }
}
