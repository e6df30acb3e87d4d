// swift-tools-version:6.0
// RecKit: a fast numerical core for recommender systems (OpenBLAS GEMM + Swift SIMD),
// offline RL for sequential recommenders, and offline A/B testing of ranking policies.
import PackageDescription

let package = Package(
    name: "RecKit",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RecKit", targets: ["RecKit"]),
        .library(name: "RecCore", targets: ["RecCore"]),
        .library(name: "RecIO", targets: ["RecIO"]),
        .library(name: "RecNN", targets: ["RecNN"]),
        .library(name: "RecOPE", targets: ["RecOPE"]),
        .library(name: "RecRL", targets: ["RecRL"]),
        .library(name: "RecReports", targets: ["RecReports"]),
        .executable(name: "reckit", targets: ["reckit"]),
        // The command line's commands as a library, for tools that run them in another setting
        // (integrations/mpi's reckit-mpi runs `train` over MPI with the same options).
        .library(name: "ReckitCLI", targets: ["ReckitCLI"]),
        .executable(name: "recbench", targets: ["recbench"]),
        // The C ABI (include/reckit.h): the shared library the Python package loads.
        .library(name: "RecKitC", type: .dynamic, targets: ["RecKitC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation` (make docs): the DocC catalogs in Sources/*/*.docc.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // swift-log: how a library warns without printing (RecCore logs its build advice once).
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // System library: OpenBLAS's CBLAS and LAPACKE (Debian: libopenblas-dev, liblapacke-dev).
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // System library: libyaml's event parser (Debian: libyaml-dev), for the OBD prior files
        // (RecOPE composes the events; a YAML package would bring full Foundation and its ICU data,
        // 45 MB, into every build of the Python wheel).
        .systemLibrary(
            name: "CYAML",
            path: "Sources/CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // Vector primitives Swift's SIMD types do not lower to one instruction (fused multiply-add,
        // square root, mask bits), as inline C over clang's extended vectors.
        .target(name: "CSIMD"),
        // Numerics with no domain words: Matrix, BLAS wrappers, SIMD kernels, top-k,
        // catalog scoring, random numbers, special functions.
        .target(
            name: "RecCore", dependencies: ["CBLAS", "CSIMD", .product(name: "Logging", package: "swift-log")]),
        // File formats: CSV matrices, atomic writes (later: safetensors, .npy, logs).
        .target(name: "RecIO", dependencies: ["RecCore", "CSIMD"]),
        // Layers with hand-written backward, optimisers, checkpoints.
        .target(name: "RecNN", dependencies: ["RecCore", "RecIO"]),
        // Offline evaluation: ranking policies, rank marginals (Monte Carlo and exact).
        .target(name: "RecOPE", dependencies: ["RecCore", "RecIO", "CSIMD", "CYAML"]),
        // Offline RL for sequential recommenders: event logs, sessions, transitions, trainers,
        // evaluation, serving policies.
        .target(name: "RecRL", dependencies: ["RecCore", "RecIO", "RecNN", "RecOPE"]),
        // Self-contained HTML reports (inline SVG charts) of offline A/B tests and training runs.
        .target(name: "RecReports", dependencies: ["RecCore", "RecOPE", "RecRL"]),
        // Umbrella: re-exports the library modules.
        .target(name: "RecKit", dependencies: ["RecCore", "RecIO", "RecNN", "RecOPE", "RecRL", "RecReports"]),
        .target(
            name: "ReckitCLI",
            dependencies: ["RecKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(name: "reckit", dependencies: ["ReckitCLI"]),
        // @_cdecl functions over the library: statuses and messages, never a trap.
        .target(name: "RecKitC", dependencies: ["RecKit"]),
        .executableTarget(
            name: "recbench",
            dependencies: [
                "RecCore", "RecIO", "RecNN", "RecOPE", "RecRL", "CBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/recbench"
        ),
        .target(name: "_RecTestSupport", dependencies: ["RecCore"], path: "Tests/_RecTestSupport"),
        .testTarget(name: "RecCoreTests", dependencies: ["RecCore", "_RecTestSupport"]),
        .testTarget(name: "RecIOTests", dependencies: ["RecIO", "_RecTestSupport"]),
        .testTarget(name: "RecOPETests", dependencies: ["RecOPE", "_RecTestSupport"]),
        .testTarget(name: "RecNNTests", dependencies: ["RecNN", "_RecTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "RecRLTests", dependencies: ["RecRL", "RecOPE", "_RecTestSupport"]),
        .testTarget(name: "RecKitCTests", dependencies: ["RecKitC", "RecKit"]),
    ]
)
