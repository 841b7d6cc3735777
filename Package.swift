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
        // C libraries chosen by the user, wrapped as system-library targets (Sources/Shims).
        .systemLibrary(name: "CNGHTTP2", path: "Sources/Shims/CNGHTTP2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CProtobufC", path: "Sources/Shims/CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev", "protobuf-c-compiler"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/Shims/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/Shims/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CHTTPParser", path: "Sources/Shims/CHTTPParser", providers: [.apt(["libhttp-parser-dev"])]),
        // fork/exec with PR_SET_PDEATHSIG for the local runtime, eventfd/epoll helpers.
        .target(name: "CByocSys", path: "Sources/Shims/CByocSys"),
        // The committed protoc-c output of Protos/ (regenerate with Protos/generate.sh, which also writes
        // descriptors.binpb, the FileDescriptorSet, and the Swift bindings in Sources/Shared/Messages/Generated).
        .target(name: "ByocProtos", dependencies: ["CProtobufC"], path: "Generated",
                exclude: ["README.md", "descriptors.binpb"], publicHeadersPath: ".",
                cSettings: [.headerSearchPath(".")]),

        // Shared vocabulary of both planes (Sources/Shared): protobuf messages, the route and
        // token tables the control plane builds and the data plane reads, and libcrypto.
        .target(name: "Messages", dependencies: ["ByocProtos", "CProtobufC"], path: "Sources/Shared/Messages",
                swiftSettings: swiftSettings),
        .target(name: "Crypto", dependencies: ["COpenSSL"], path: "Sources/Shared/Crypto", swiftSettings: swiftSettings),
        .target(name: "Routing", dependencies: ["Crypto"], path: "Sources/Shared/Routing", swiftSettings: swiftSettings),

        // The protocol stack, bottom up (Sources/Protocols): used by the data plane, the
        // Kubernetes client, byocctl and the example model.
        .target(name: "Transport", dependencies: ["CByocSys"], path: "Sources/Protocols/Transport",
                swiftSettings: swiftSettings),
        .target(name: "TLS", dependencies: ["COpenSSL", "Transport"], path: "Sources/Protocols/TLS",
                swiftSettings: swiftSettings),
        .target(name: "HTTP2", dependencies: ["Transport", "CNGHTTP2"], path: "Sources/Protocols/HTTP2",
                swiftSettings: swiftSettings),
        .target(name: "GRPC", dependencies: ["HTTP2", "TLS", "Transport"], path: "Sources/Protocols/GRPC",
                swiftSettings: swiftSettings),
        .target(name: "HTTP1", dependencies: ["CHTTPParser", "Transport"], path: "Sources/Protocols/HTTP1",
                swiftSettings: swiftSettings),
        // The server runtime: worker threads, listeners, protocol sniffing and hand-off to
        // HTTP/2 (gRPC), HTTP/1.1 or TLS.
        .target(name: "Server", dependencies: ["GRPC", "HTTP1", "HTTP2", "TLS", "Transport"],
                path: "Sources/Protocols/Server", swiftSettings: swiftSettings),

        // Data plane (Sources/DataPlane): route, balance, proxy; the access log and span export
        // (encoded on the workers, written and sent by background threads).
        .target(name: "Telemetry", path: "Sources/DataPlane/Telemetry", swiftSettings: swiftSettings),
        .target(name: "Router", dependencies: ["GRPC", "HTTP2", "Transport", "Messages", "Routing", "Telemetry"],
                path: "Sources/DataPlane/Router", swiftSettings: swiftSettings),

        // Control plane (Sources/ControlPlane): registry, reconciler, Admin API, web console.
        .target(name: "Registry", dependencies: ["CSQLite", "Routing"], path: "Sources/ControlPlane/Registry",
                swiftSettings: swiftSettings),
        .target(name: "Reconciler", dependencies: ["Registry", "Routing", "Transport"], path: "Sources/ControlPlane/Reconciler",
                swiftSettings: swiftSettings),
        .target(name: "Admin", dependencies: ["Registry", "Messages", "GRPC", "Routing"],
                path: "Sources/ControlPlane/Admin", swiftSettings: swiftSettings),
        .target(name: "WebConsole", dependencies: ["HTTP1", "Server", "Router", "Messages", "GRPC", "Routing", "Transport"],
                path: "Sources/ControlPlane/WebConsole", swiftSettings: swiftSettings),

        // Runtimes under the reconciler's `Runtime` interface (Sources/Runtimes).
        .target(name: "Local", dependencies: ["Reconciler", "Registry", "Routing", "GRPC", "Messages", "CByocSys"],
                path: "Sources/Runtimes/Local", swiftSettings: swiftSettings),
        .target(name: "Kubernetes", dependencies: ["Reconciler", "Registry", "Routing", "GRPC", "HTTP2", "Transport"],
                path: "Sources/Runtimes/Kubernetes", swiftSettings: swiftSettings),

        // Executables (Sources/Executables).
        .executableTarget(name: "byoc-gateway",
                          dependencies: ["Router", "Server", "Admin", "Registry", "Reconciler", "Local", "Kubernetes",
                                         "Routing", "Messages", "GRPC", "HTTP1", "TLS", "Transport", "WebConsole",
                                         "Telemetry"],
                          path: "Sources/Executables/byoc-gateway", swiftSettings: swiftSettings),
        .executableTarget(name: "byocctl",
                          dependencies: ["GRPC", "Messages", "Routing", "TLS",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/Executables/byocctl", swiftSettings: swiftSettings),
        .executableTarget(name: "byoc-echo-model", dependencies: ["Server", "GRPC", "HTTP2", "Messages", "Transport"],
                          path: "Sources/Executables/byoc-echo-model", swiftSettings: swiftSettings),

        // Tests.
        // Test helpers shared by the test targets.
        .target(name: "TestSupport", dependencies: ["Server", "GRPC", "HTTP2", "Transport"],
                path: "Tests/TestSupport"),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "TestSupport"]),
        // The HTTP/2 session and stream state in memory (no sockets, no threads).
        .testTarget(name: "HTTP2Tests", dependencies: ["HTTP2"]),
        .testTarget(name: "GRPCTests", dependencies: ["Server", "GRPC", "HTTP2", "Transport", "TestSupport", "CNGHTTP2"]),
        .testTarget(name: "MessagesTests", dependencies: ["Messages", "CProtobufC"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry"]),
        .testTarget(name: "RouterTests", dependencies: ["Router", "Routing", "Server", "GRPC", "HTTP2", "Transport",
                                                       "Messages", "TestSupport", "Telemetry"]),
        .testTarget(name: "ControlPlaneTests", dependencies: ["Registry", "Reconciler", "Local", "Admin", "Messages",
                                                             "Routing", "GRPC"]),
        .testTarget(name: "KubernetesTests", dependencies: ["Kubernetes", "Reconciler", "Registry", "Routing"]),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "Server", "GRPC", "HTTP2", "Transport", "TestSupport"]),
        .testTarget(name: "WebTests", dependencies: ["HTTP1", "WebConsole", "Routing", "Router", "Transport", "GRPC", "TestSupport"]),
        .testTarget(name: "byocctlTests", dependencies: ["byocctl", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ],
    swiftLanguageModes: [.v5]
)

// The libFuzzer targets (Tests/Fuzz): only with BYOC_FUZZ=1, so the normal build and `swift test`
// never compile them; Tests/Fuzz/run builds them with -sanitize=fuzzer,address.
if Context.environment["BYOC_FUZZ"] == "1" {
    package.targets.append(
        .executableTarget(name: "byoc-fuzz", dependencies: ["Messages", "GRPC", "HTTP1", "WebConsole"],
                          path: "Tests/Fuzz/byoc-fuzz", swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
}
