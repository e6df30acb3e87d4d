// swift-tools-version:6.0
// libFuzzer targets for every parser of outside input. Not part of the library: built only by
// `make fuzz` (and CI's short run) with `-sanitize=fuzzer -parse-as-library`, into .build-fuzz/.
import PackageDescription

let targets = [
    "FuzzCSV", "FuzzLog", "FuzzLogStream", "FuzzSlateLog", "FuzzItemFeatures", "FuzzEventLog", "FuzzSplit",
    "FuzzSafeTensors",
    "FuzzPolicySpec", "FuzzPrior", "FuzzOPEState", "FuzzTopKPartial", "FuzzImpressionLog",
]

let package = Package(
    name: "RecKitFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecKit", path: "../")],
    targets: [
        .target(
            name: "FuzzSupport", dependencies: [.product(name: "RecKit", package: "RecKit")],
            path: "Sources/FuzzSupport")
    ]
        + targets.map { name in
            .executableTarget(
                name: name, dependencies: ["FuzzSupport", .product(name: "RecKit", package: "RecKit")],
                path: "Sources/\(name)")
        }
)
