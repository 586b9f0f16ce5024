// swift-tools-version:5.9
// The iOS packet-tunnel glue for Nightjar. Run ./build-xcframework.sh first: it builds
// build/NightjarFFIFFI.xcframework (the Rust static library for device and simulator, with
// the generated C header and module map) and copies the generated Swift bindings into
// Sources/NightjarFFI/ (both gitignored: they are build products of bindings/).
import PackageDescription

let package = Package(
    name: "NightjarTunnel",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "NightjarTunnel", targets: ["NightjarTunnel"]),
    ],
    targets: [
        .binaryTarget(name: "NightjarFFIFFI", path: "build/NightjarFFIFFI.xcframework"),
        .target(name: "NightjarFFI", dependencies: ["NightjarFFIFFI"], path: "Sources/NightjarFFI"),
        .target(
            name: "NightjarTunnel",
            dependencies: ["NightjarFFI"],
            path: "Sources/NightjarTunnel",
            linkerSettings: [.linkedFramework("NetworkExtension"), .linkedFramework("Network")]
        ),
        .testTarget(
            name: "NightjarTunnelTests",
            dependencies: ["NightjarTunnel", "NightjarFFI"],
            path: "Tests/NightjarTunnelTests"
        ),
    ]
)
