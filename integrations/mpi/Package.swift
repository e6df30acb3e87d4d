// swift-tools-version:6.0
// RecKit over MPI: `reckit-mpi train` runs `reckit train` data-parallel over OpenMPI ranks.
//
// A package of its own, beside RecKit rather than inside it: it links libmpi, which a user of
// RecKit without MPI neither has nor needs. RecKit itself only defines the `ProcessGroup`
// protocol its trainer sums gradients through; this package implements it over MPI.
// Debian: libopenmpi-dev and openmpi-bin (`bash ../../scripts/bootstrap mpi` installs them).
import PackageDescription

let package = Package(
    name: "RecKitMPI",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RecKitMPI", targets: ["RecKitMPI"]),
        .executable(name: "reckit-mpi", targets: ["reckit-mpi"]),
    ],
    dependencies: [
        .package(name: "RecKit", path: "../.."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System library: OpenMPI's C API (the predefined handles through a small shim).
        .systemLibrary(
            name: "CMPI",
            path: "Sources/CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]
        ),
        // `MPIProcessGroup`: RecKit's ProcessGroup over MPI_COMM_WORLD.
        .target(name: "RecKitMPI", dependencies: ["CMPI", .product(name: "RecKit", package: "RecKit")]),
        .executableTarget(
            name: "reckit-mpi",
            dependencies: [
                "RecKitMPI",
                .product(name: "RecKit", package: "RecKit"),
                .product(name: "ReckitCLI", package: "RecKit"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ]
)
