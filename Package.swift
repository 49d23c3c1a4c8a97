// swift-tools-version:6.1
// Customer segmentation: an engine (pure Swift, no transport), its gRPC API, a model server
// and a CLI. See docs/architecture.md for the layout and the design.
import PackageDescription

/// Release builds of the engine are compiled for the CPU that builds them (AVX2 or AVX-512 where
/// present): the clustering kernels run 1.3-1.6x faster that way (BENCHMARKS.md). To build a
/// binary for other machines, name their CPU: `SEGMENT_TARGET_CPU=x86-64 swift build -c release`.
let engineTargetCPU = Context.environment["SEGMENT_TARGET_CPU"] ?? "native"
let engineSettings: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", engineTargetCPU], .when(configuration: .release))
]

/// The product's version; a tagged commit ("v1.2.0" or "1.2.0") names its own. `--version` on both
/// binaries prints it with the commit and the build date (Sources/SegmentBuildC).
let productVersion: String = {
    if let tag = Context.gitInformation?.currentTag {
        return tag.hasPrefix("v") ? String(tag.dropFirst()) : tag
    }
    return "0.9.0"
}()
let buildCommit: String = {
    guard let git = Context.gitInformation else { return "unknown" }
    return String(git.currentCommit.prefix(12)) + (git.hasUncommittedChanges ? "-dirty" : "")
}()

let package = Package(
    name: "CustomerSegmentation",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SegmentationEngine", targets: ["SegmentationEngine"]),
        .library(name: "SegmentationMessages", targets: ["SegmentationMessages"]),
        .library(name: "SegmentationAPI", targets: ["SegmentationAPI"]),
        .library(name: "SegmentReport", targets: ["SegmentReport"]),
        .executable(name: "segment-server", targets: ["segment-server"]),
        .executable(name: "segment", targets: ["segment"]),
        .executable(name: "segment-bench", targets: ["segment-bench"]),
        .executable(name: "segment-load", targets: ["segment-load"]),
        .executable(name: "segment-empty-server", targets: ["segment-empty-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(
            url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // The shared registry of replicas (--registry postgres://...).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The /metrics endpoint's HTTP/1.1 (the gRPC transport already builds on NIO).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        // The HTTP/JSON gateway (--http-port): HTTP/1.1 with TLS, graceful shutdown, body limits.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // OpenTelemetry tracing (--otlp-endpoint): a span per call, exported over OTLP/gRPC only (the
        // OTLP/HTTP exporter's trait would add async-http-client for nothing we use).
        .package(
            url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0",
            traits: ["OTLPGRPC"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // gzip and deflate bodies on the HTTP gateway (zlib, with a bound on what a body inflates to).
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        // Only the benchmark uses it: the measured comparison behind our own CSV reader.
        .package(url: "https://github.com/yaslab/CSV.swift.git", from: "2.5.2"),
    ],
    targets: [
        // The segmentation engine: data, cleaning, features, clustering, metrics, labels,
        // the model value and scoring. It depends on nothing else of ours and knows no transport.
        .target(
            name: "SegmentationEngine", path: "Sources/SegmentationEngine",
            swiftSettings: engineSettings),

        // The message codec the generated code uses: GRPCProtobuf's, with the server's message size
        // limit answered as RESOURCE_EXHAUSTED.
        .target(
            name: "SegmentationCodec",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Sources/SegmentationCodec"
        ),

        // The version, commit and build date (a C target: Swift has no string defines).
        .target(
            name: "SegmentBuildC", path: "Sources/SegmentBuildC",
            cSettings: [
                .define("SEGMENT_VERSION", to: "\"\(productVersion)\""),
                .define("SEGMENT_COMMIT", to: "\"\(buildCommit)\""),
            ]),
        .target(
            name: "SegmentBuild", dependencies: ["SegmentBuildC"], path: "Sources/SegmentBuild"),

        // Code generated by protoc from Protos/ (committed; regenerate with scripts/generate-protos.sh):
        // the messages (plain data) and the gRPC services over them.
        .target(
            name: "SegmentationMessages",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/SegmentationMessages"
        ),
        .target(
            name: "SegmentationAPI",
            dependencies: [
                "SegmentationMessages",
                "SegmentationCodec",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Sources/SegmentationAPI"
        ),

        // The one place API messages and engine types are mapped, and training specs checked,
        // for the server and the CLI. No gRPC.
        .target(
            name: "SegmentationMapping",
            dependencies: [
                "SegmentationEngine", "SegmentationMessages",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Sources/SegmentationMapping"
        ),
        // The model report: self-contained HTML with inline SVG charts, and text charts for the
        // terminal, drawn from a GetModel response. No gRPC, no engine: any model a server returns.
        .target(
            name: "SegmentReport",
            dependencies: ["SegmentationMessages"],
            path: "Sources/SegmentReport"
        ),

        // The server's logic as a library (services, registry, jobs), so tests can run it in-process.
        .target(
            name: "SegmentServer",
            dependencies: [
                "SegmentationEngine",
                "SegmentationAPI",
                "SegmentationCodec",
                "SegmentationMapping",
                "SegmentBuild",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Server/SegmentServer"
        ),
        .executableTarget(
            name: "segment-server",
            dependencies: [
                "SegmentServer", "SegmentBuild",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Server/Main"
        ),

        // The CLI's commands as a library, and the thin `segment` executable.
        .target(
            name: "SegmentCLI",
            dependencies: [
                "SegmentationEngine",
                "SegmentationAPI",
                "SegmentationMapping",
                "SegmentReport",
                "SegmentBuild",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Client/SegmentCLI"
        ),
        .executableTarget(name: "segment", dependencies: ["SegmentCLI"], path: "Client/Main"),

        // Release-build benchmark of the engine (see bench/ and BENCHMARKS.md).
        .executableTarget(
            name: "segment-bench",
            dependencies: ["SegmentationEngine", .product(name: "CSV", package: "CSV.swift")],
            path: "bench/EngineBench"
        ),

        // Serving benchmarks: a load client and the empty-handler server (the framework's ceiling).
        .executableTarget(
            name: "segment-load",
            dependencies: [
                "SegmentationAPI", "SegmentationEngine",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ],
            path: "bench/LoadClient"
        ),
        .executableTarget(
            name: "segment-empty-server",
            dependencies: [
                "SegmentationAPI",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ],
            path: "bench/EmptyServer"
        ),

        .testTarget(
            name: "SegmentationEngineTests",
            dependencies: ["SegmentationEngine"],
            path: "Tests/SegmentationEngineTests"
        ),
        .testTarget(
            name: "SegmentationMappingTests",
            dependencies: ["SegmentationMapping", "SegmentationEngine", "SegmentationMessages"],
            path: "Tests/SegmentationMappingTests"
        ),
        .testTarget(
            name: "SegmentReportTests",
            dependencies: ["SegmentReport", "SegmentationMessages"],
            path: "Tests/SegmentReportTests"
        ),
        .testTarget(
            name: "SegmentServerTests",
            dependencies: [
                "SegmentServer", "SegmentCLI", "SegmentationEngine", "SegmentationAPI",
                "SegmentReport", "SegmentBuild",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/SegmentServerTests"
        ),
    ]
)
