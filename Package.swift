// swift-tools-version:6.0
// BYOC Inference Platform: gateway (data + control plane), CLI, and example model server.
import PackageDescription

/// Release builds skip dynamic exclusivity checks: the data plane is single-threaded per worker
/// and the checks cost several percent of CPU per request (measured with perf).
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "byoc",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "byoc-gateway", targets: ["byoc-gateway"]),
        .executable(name: "byocctl", targets: ["byocctl"]),
        .executable(name: "byoc-echo-model", targets: ["byoc-echo-model"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries chosen by the user, wrapped as system-library targets.
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev", "protobuf-c-compiler"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CHTTPParser", providers: [.apt(["libhttp-parser-dev"])]),
        // fork/exec with PR_SET_PDEATHSIG for the local runtime.
        .target(name: "CByocSys"),
        // The committed protoc-c output of Protos/ (regenerate with Protos/generate.sh).
        .target(name: "ByocProtos", dependencies: ["CProtobufC"], path: "Generated",
                exclude: ["README.md"], publicHeadersPath: ".",
                cSettings: [.headerSearchPath(".")]),

        // Data plane, bottom up.
        .target(name: "Transport", dependencies: ["CByocSys"], swiftSettings: swiftSettings),
        .target(name: "HTTP2", dependencies: ["Transport", "CNGHTTP2"], swiftSettings: swiftSettings),
        .target(name: "GRPC", dependencies: ["HTTP2", "Transport"], swiftSettings: swiftSettings),
        .target(name: "Messages", dependencies: ["ByocProtos", "CProtobufC"], swiftSettings: swiftSettings),
        .target(name: "Router", dependencies: ["GRPC", "HTTP2", "Transport", "Messages", "COpenSSL"],
                swiftSettings: swiftSettings),

        // TLS on OpenSSL (server with ALPN h2 + client with verification), HTTP/1.1 for browsers,
        // Prometheus and probes, and the web console (JSON API, UI, metrics).
        .target(name: "TLS", dependencies: ["COpenSSL", "Transport", "GRPC", "HTTP2"], swiftSettings: swiftSettings),
        .target(name: "HTTP1", dependencies: ["CHTTPParser", "Transport", "GRPC"], swiftSettings: swiftSettings),
        .target(name: "WebConsole", dependencies: ["HTTP1", "Admin", "Registry", "Router", "Messages", "GRPC"],
                swiftSettings: swiftSettings),

        // Control plane.
        .target(name: "Registry", dependencies: ["CSQLite", "Messages"], swiftSettings: swiftSettings),
        .target(name: "Reconciler", dependencies: ["Registry", "Messages", "Router", "GRPC", "CByocSys"],
                swiftSettings: swiftSettings),
        .target(name: "Kubernetes", dependencies: ["Reconciler", "Registry", "Router", "HTTP2", "Transport", "TLS", "GRPC"],
                swiftSettings: swiftSettings),
        .target(name: "Admin", dependencies: ["Registry", "Reconciler", "Messages", "GRPC", "Router"],
                swiftSettings: swiftSettings),

        // Executables.
        .executableTarget(name: "byoc-gateway",
                          dependencies: ["Router", "Admin", "Registry", "Reconciler", "GRPC", "Transport", "TLS", "HTTP1",
                                         "WebConsole", "Kubernetes"],
                          swiftSettings: swiftSettings),
        .executableTarget(name: "byocctl",
                          dependencies: ["GRPC", "Messages", "TLS",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: swiftSettings),
        .executableTarget(name: "byoc-echo-model", dependencies: ["GRPC", "Messages", "Transport"],
                          swiftSettings: swiftSettings),

        // Tests.
        .testTarget(name: "TransportTests", dependencies: ["Transport", "TestSupport"]),
        // The HTTP/2 session and stream state in memory (no sockets, no threads).
        .testTarget(name: "HTTP2Tests", dependencies: ["HTTP2"]),
        // Test helpers shared by the test targets.
        .target(name: "TestSupport", dependencies: ["GRPC", "HTTP2", "Transport"],
                path: "Tests/TestSupport"),
        .testTarget(name: "GRPCTests", dependencies: ["GRPC", "HTTP2", "Transport", "TestSupport"]),
        .testTarget(name: "MessagesTests", dependencies: ["Messages"]),
        .testTarget(name: "RouterTests", dependencies: ["Router", "GRPC", "HTTP2", "Transport", "Messages",
                                                       "TestSupport"]),
        .testTarget(name: "ControlPlaneTests", dependencies: ["Registry", "Reconciler", "Admin", "Messages"]),
        .testTarget(name: "KubernetesTests", dependencies: ["Kubernetes", "Reconciler", "Registry", "Router", "HTTP2", "Transport"]),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "GRPC", "HTTP2", "Transport", "TestSupport"]),
        .testTarget(name: "WebTests", dependencies: ["HTTP1", "WebConsole", "Transport", "GRPC", "TestSupport"]),
        .testTarget(name: "byocctlTests", dependencies: ["byocctl", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ],
    swiftLanguageModes: [.v5]
)
