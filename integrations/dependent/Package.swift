// swift-tools-version:6.0
// A SwiftPM dependent of RecKit, built as an app that adds RecKit to its Package.swift builds it:
// `swift build -c release`, no flags. SwiftPM then compiles RecKit for the baseline x86-64 target
// (SSE2, no AVX or FMA); `.ci/run` builds this package that way (`scripts/test-dependent`), runs a
// top-k over a catalog and checks it against a plain loop, and prints what RecKit chose and the
// advice it gives about the build. `swift build -c release -Xswiftc -target-cpu -Xswiftc native`
// builds it for the CPU at hand.
import PackageDescription

let package = Package(
    name: "RecKitDependent",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecKit", path: "../..")],
    targets: [
        .executableTarget(name: "scorer-app", dependencies: [.product(name: "RecCore", package: "RecKit")])
    ]
)
