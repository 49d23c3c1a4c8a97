import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import SegmentationAPI
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// Log lines kept in memory, to check what the server writes (and what it never writes).
final class CapturedLog: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "captured") { _ in Handler(log: self) }
        logger.logLevel = .info
        return logger
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let text =
                "\(event.message) "
                + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                    separator: " ")
            log.lines.withLock { $0.append(text) }
        }
    }
}

@Suite("Tokens and roles, per-call logs", .serialized, .timeLimit(.minutes(10)))
struct SecurityTests {
    static let tokens: [Role: String] = [
        .admin: "admin-7f3a", .trainer: "trainer-91bc", .scorer: "scorer-44d0",
        .viewer: "viewer-0e2f",
    ]

    static func writeTokens(_ harness: Harness, _ roles: [Role: String]) throws -> String {
        let path = try harness.sideFile("tokens")
        let text =
            "# role:sha256 of the token\n"
            + roles.map { TokenStore.line(role: $0.key, token: $0.value) }.joined(separator: "\n")
            + "\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `body` with clients for the running server sending `token` (none when nil).
    static func asCaller<T: Sendable>(
        _ token: String?, _ server: SegmentationServer, _ body: (Services) async throws -> T
    ) async throws -> T {
        let port = try await server.listeningPort
        return try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext),
            interceptors: token.map { [BearerToken(token: $0)] } ?? []
        ) { client in try await body(Services(client: client)) }
    }

    @Test(
        "Each role may do its part and no more; no or unknown token is UNAUTHENTICATED; health stays open; tokens rotate on reload; every call logs one line without the token"
    )
    func roles() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let tokensFile = try Self.writeTokens(harness, Self.tokens)
        let (path, _) = try harness.sampleFile(customers: 150)
        let log = CapturedLog()
        try await harness.withServer(
            configure: { $0.tokensFile = tokensFile }, logger: log.logger,
            clientToken: Self.tokens[.admin]
        ) { admin, server in
            let score = { @Sendable (services: Services) async throws in
                _ = try await services.scoring.score(
                    .with {
                        $0.model = .init(text: "m")
                        $0.features = .with {
                            $0.featureNames = [
                                "recency", "frequency", "monetary", "avg_order_value",
                            ]; $0.rows = [.with { $0.values = [5, 2, 90, 45] }]
                        }
                    })
            }
            // The trainer uploads and trains; the admin moves the alias.
            let dataset = try await Self.asCaller(Self.tokens[.trainer], server) { trainer in
                let dataset = try await trainer.upload(path)
                #expect(
                    try await trainer.train(dataset.id, model: "m", ks: 3...3, nInit: 1).state
                        == .succeeded)
                #expect(
                    await statusCode {
                        _ = try await trainer.models.setAlias(
                            .with {
                                $0.model = .init(name: "m", version: Int(1)); $0.alias = "prod"
                            })
                    } == .permissionDenied)
                #expect(await statusCode { try await score(trainer) } == .permissionDenied)
                return dataset
            }
            _ = try await admin.models.setAlias(
                .with {
                    $0.model = .init(name: "m", version: Int(1)); $0.alias = "prod"
                })
            try await Self.asCaller(Self.tokens[.scorer], server) { scorer in
                try await score(scorer)
                let models = try await scorer.models.listModels(.init())
                #expect(models.models.count == 1)
                #expect(await statusCode { _ = try await scorer.upload(path) } == .permissionDenied)
                #expect(
                    await statusCode {
                        _ = try await scorer.datasets.deleteDataset(
                            .with {
                                $0.id = dataset.id; $0.force = true
                            })
                    } == .permissionDenied)
            }
            try await Self.asCaller(Self.tokens[.viewer], server) { viewer in
                let model = try await viewer.models.getModel(
                    .with { $0.model = .init(text: "m@prod") }
                ).model
                #expect(model.segments.count == 3)
                #expect(await statusCode { try await score(viewer) } == .permissionDenied)
                #expect(
                    await statusCode {
                        _ = try await viewer.models.renameSegment(
                            .with {
                                $0.model = .init(text: "m"); $0.segmentID = 0; $0.newName = "X"
                            })
                    } == .permissionDenied)
                #expect(
                    await statusCode {
                        _ = try await viewer.models.exportAssignments(
                            .with { $0.model = .init(text: "m") }
                        ) { for try await _ in $0.messages {} }
                    } == .permissionDenied)
            }
            for token in [nil, "not-a-token", Self.tokens[.admin]! + "x"] as [String?] {
                try await Self.asCaller(token, server) { stranger in
                    #expect(
                        await statusCode { try await score(stranger) } == .unauthenticated,
                        "token \(token ?? "none")")
                    let health = try await stranger.health.check(.init())
                    #expect(health.status == .serving)
                }
            }
            // Rotation: a new viewer token replaces the old one once the file is re-read.
            let rotated = try Self.writeTokens(
                harness, [.admin: Self.tokens[.admin]!, .viewer: "viewer-new"])
            try FileManager.default.removeItem(atPath: tokensFile)
            try FileManager.default.moveItem(atPath: rotated, toPath: tokensFile)
            #expect(try server.tokens?.reload() == 2)
            try await Self.asCaller(Self.tokens[.viewer], server) { old in
                #expect(
                    await statusCode { _ = try await old.models.listModels(.init()) }
                        == .unauthenticated)
            }
            try await Self.asCaller("viewer-new", server) { new in
                let models = try await new.models.listModels(.init())
                #expect(models.models.count == 1)
            }
        }
        let lines = log.lines.withLock { $0 }.filter { $0.hasPrefix("rpc ") }
        #expect(
            lines.contains {
                $0.contains("method=segmentation.v1.ScoringService/Score")
                    && $0.contains("role=scorer") && $0.contains("status=OK")
            })
        #expect(
            lines.contains {
                $0.contains("method=segmentation.v1.ModelRegistry/SetAlias")
                    && $0.contains("role=trainer") && $0.contains("status=PERMISSION_DENIED")
            })
        #expect(
            lines.contains { $0.contains("status=UNAUTHENTICATED") && $0.contains("role=none") })
        #expect(lines.allSatisfy { $0.contains("ms=") && $0.contains("peer=") })
        let everything = log.lines.withLock { $0 }.joined(separator: "\n")
        for token in Self.tokens.values {
            #expect(!everything.contains(token), "a token was logged")
        }
    }

    @Test(
        "Every RPC of every service has a decided ability; a tokens file with a bad line is refused; no tokens on a public address needs --insecure"
    )
    func policyAndSetup() async throws {
        let methods =
            Segmentation_V1_DatasetService.Method.descriptors
            + Segmentation_V1_TrainingService.Method.descriptors
            + Segmentation_V1_ModelRegistry.Method.descriptors
            + Segmentation_V1_ScoringService.Method.descriptors
        for method in methods {
            #expect(
                AccessPolicy.needs[method.fullyQualifiedMethod] != nil,
                "\(method) has no decided ability")
            #expect(AccessPolicy.ability(for: method) != .open, "\(method) must need a token")
        }
        // Only health and reflection are open: load balancers and schema tools call them without a token.
        let open =
            Grpc_Health_V1_Health.Method.descriptors
            + Grpc_Reflection_V1_ServerReflection.Method.descriptors
            + Grpc_Reflection_V1alpha_ServerReflection.Method.descriptors
        for method in open {
            #expect(AccessPolicy.ability(for: method) == .open, "\(method) should be open")
        }
        let harness = try Harness()
        defer { harness.remove() }
        let bad = try harness.sideFile("bad-tokens")
        try "superuser:abcd\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: TokenFileError.self) { try TokenStore(path: bad) }
        // No token at all would lock everyone out: refused, saying why. CRLF line ends are fine.
        try "# nobody yet\n\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect { try TokenStore(path: bad) } throws: { "\($0)".contains("names no token") }
        try
            (TokenStore.line(role: .viewer, token: "t1") + "\r\n"
            + TokenStore.line(role: .admin, token: "t2") + "\r\n")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(try TokenStore(path: bad).reload() == 2)
        var configuration = ServerConfiguration()
        configuration.host = "0.0.0.0"
        configuration.port = 0
        configuration.dataDirectory = harness.dataDirectory
        await #expect(throws: ServerSetupError.self) {
            _ = try await SegmentationServer(
                configuration: configuration, logger: Logger(label: "t"))
        }
    }

    @Test(
        "The real server and CLI: no token exits 8, SEGMENT_TOKEN and --token-file work, SIGHUP rotates tokens; a public address without tokens is refused",
        .enabled(
            if: ProcessTests.built,
            "build the executables first (swift build); scripts/test.sh does"))
    func processes() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let tokensFile = try Self.writeTokens(harness, [.viewer: "first-token"])
        let server = try await ServerProcess.start(
            dataDirectory: harness.dataDirectory, extra: ["--auth-tokens", tokensFile])
        defer { server.stopWithoutWaiting() }
        let address = ["SEGMENT_SERVER": "127.0.0.1:\(server.port)"]
        let denied = try await ProcessTests.run(
            ProcessTests.client, ["models", "list"], environment: address)
        #expect(
            denied.status == 8 && denied.stderr.contains("bearer token"),
            "\(denied.status) \(denied.stderr)")
        #expect(
            try await ProcessTests.run(
                ProcessTests.client, ["models", "list"],
                environment: address.merging(["SEGMENT_TOKEN": "first-token"]) { $1 }
            ).status == 0)
        let file = try harness.sideFile("token")
        try "second-token\n".write(toFile: file, atomically: true, encoding: .utf8)
        // Rotate: the second token replaces the first once the server has re-read the file.
        let rotated = try Self.writeTokens(harness, [.viewer: "second-token"])
        try FileManager.default.removeItem(atPath: tokensFile)
        try FileManager.default.moveItem(atPath: rotated, toPath: tokensFile)
        kill(server.processIdentifier, SIGHUP)
        var status: Int32 = -1
        for _ in 0..<50 {
            status = try await ProcessTests.run(
                ProcessTests.client, ["models", "list", "--token-file", file], environment: address
            ).status
            if status == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status == 0)
        #expect(
            try await ProcessTests.run(
                ProcessTests.client, ["models", "list"],
                environment: address.merging(["SEGMENT_TOKEN": "first-token"]) { $1 }
            ).status == 8)
        let open = try await ProcessTests.run(
            ProcessTests.server,
            ["--host", "0.0.0.0", "--port", "0", "--data-dir", harness.dataDirectory + "-open"])
        #expect(
            open.status == 78 && open.stderr.contains("--insecure")
                && !open.stderr.contains("USAGE"), "\(open.status) \(open.stderr)")
    }
}
