import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import SegmentationAPI
import SwiftProtobuf
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// Reflection as clients use it, JSON log lines, and the server's documented flags and variables.
extension OperationsTests {
    @Test(
        "Reflection resolves what grpcurl asks: nested types, enum values in their scope, fields, oneofs, leading dots, files with their imports; unknowns are NOT_FOUND"
    )
    func reflectionIndex() throws {
        let index = ReflectionIndex(services: SegmentationServer.serviceNames)
        func files(_ request: Grpc_Reflection_V1_ServerReflectionRequest) throws -> [String] {
            try index.answer(request).fileDescriptorResponse.fileDescriptorProto.map {
                try Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name
            }
        }
        func notFound(_ request: Grpc_Reflection_V1_ServerReflectionRequest) -> Bool {
            index.answer(request).errorResponse.errorCode == 5
        }
        for symbol in [
            "grpc.health.v1.HealthCheckResponse.ServingStatus",
            "grpc.health.v1.HealthCheckResponse.SERVING",
            "grpc.health.v1.HealthCheckRequest.service", ".grpc.health.v1.Health.Check",
            "grpc.health.v1.Health",
        ] {
            #expect(
                try files(.with { $0.fileContainingSymbol = symbol }) == [
                    "grpc/health/v1/health.proto"
                ], "\(symbol)")
        }
        let scoring = try files(
            .with { $0.fileContainingSymbol = "segmentation.v1.ScoreRequest.model" })
        #expect(scoring.first == "segmentation/v1/scoring.proto")
        #expect(try files(.with { $0.fileByFilename = "segmentation/v1/scoring.proto" }) == scoring)
        #expect(
            Set(scoring).count == scoring.count && scoring.contains("segmentation/v1/common.proto"))
        #expect(
            try files(.with { $0.fileContainingSymbol = "segmentation.v1.ScoreRequest.input" })
                == scoring)
        #expect(notFound(.with { $0.fileContainingSymbol = "segmentation.v1.NoSuchThing" }))
        #expect(notFound(.with { $0.fileByFilename = "no/such.proto" }))
        #expect(notFound(.with { $0.allExtensionNumbersOfType = "grpc.health.v1.Health" }))
        #expect(
            index.answer(
                .with { $0.allExtensionNumbersOfType = ".grpc.health.v1.HealthCheckRequest" }
            ).allExtensionNumbersResponse.baseTypeName
                == "grpc.health.v1.HealthCheckRequest")
        #expect(index.answer(.init()).errorResponse.errorCode == 3)
        #expect(
            index.answer(.with { $0.listServices = "*" }).listServicesResponse.service.map(\.name)
                == SegmentationServer.serviceNames.sorted())
    }

    static func eventually(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("the condition did not hold within 5 s")
    }

    @Test(
        "--log-format json: one JSON object per line, a call's line with method, status, duration, peer, role, trace id, model version and error, never its token"
    )
    func jsonLogLines() async throws {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "segment-server") {
            JSONLogHandler(label: $0) { line in lines.withLock { $0.append(line) } }
        }
        logger.logLevel = .info
        let harness = try Harness()
        defer { harness.remove() }
        let token = "trainer-secret-5521"
        let tokens = try SecurityTests.writeTokens(harness, [.trainer: token])
        let sample = try harness.sampleFile(customers: 200)
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        try await harness.withServer(
            configure: { $0.tokensFile = tokens }, logger: logger, clientToken: token
        ) { services, _ in
            _ = try await services.models.listModels(.init())
            let dataset = try await services.upload(sample.path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 2...2).state == .succeeded)
            // A caller's W3C trace context names the call's trace; a failure logs its message.
            let traced: Metadata = ["traceparent": "00-\(trace)-00f067aa0ba902b7-01"]
            _ = try await services.models.getModel(
                .with { $0.model = .init(text: "shop@1") }, metadata: traced)
            let missing = await statusCode {
                _ = try await services.models.getModel(
                    .with { $0.model = .init(text: "nosuch") }, metadata: traced)
            }
            #expect(missing == .notFound)
        }
        let all = lines.withLock { $0 }
        #expect(all.allSatisfy { $0.hasSuffix("}\n") && !$0.dropLast().contains("\n") })
        let objects = try all.map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        #expect(
            objects.allSatisfy {
                $0["time"] is String && $0["level"] is String && $0["message"] is String
            })
        let call = try #require(
            objects.first {
                $0["message"] as? String == "rpc"
                    && $0["method"] as? String == "segmentation.v1.ModelRegistry/ListModels"
            })
        #expect(call["status"] as? String == "OK")
        #expect(call["role"] as? String == "trainer")
        // Without a traceparent the server makes a trace id of its own.
        #expect((call["trace_id"] as? String)?.wholeMatch(of: /[0-9a-f]{32}/) != nil)
        #expect(call["error"] == nil && call["model"] == nil)
        let gets = objects.filter {
            $0["method"] as? String == "segmentation.v1.ModelRegistry/GetModel"
        }
        #expect(gets.count == 2 && gets.allSatisfy { $0["trace_id"] as? String == trace })
        let served = try #require(gets.first { $0["status"] as? String == "OK" })
        #expect(served["model"] as? String == "shop" && served["version"] as? String == "1")
        let failed = try #require(gets.first { $0["status"] as? String == "NOT_FOUND" })
        #expect((failed["error"] as? String ?? "").contains("nosuch"), "\(failed)")
        #expect(call["ms"] is Double)
        #expect((call["peer"] as? String ?? "").contains("127.0.0.1"))
        #expect(!all.joined().contains(token))
        // Nested metadata, numbers, and a number JSON cannot hold.
        let nested = JSONLogHandler.json(
            .dictionary([
                "list": .array([.string("a"), .stringConvertible(2)]),
                "nan": .stringConvertible(Double.nan),
                "ok": .stringConvertible(true), "x": .stringConvertible(1.5),
            ]))
        let decoded = try #require(
            try JSONSerialization.jsonObject(with: Data(nested.utf8)) as? [String: Any])
        #expect(
            decoded["nan"] as? String == "nan" && decoded["x"] as? Double == 1.5
                && decoded["ok"] as? Bool == true)
        #expect((decoded["list"] as? [Any])?.count == 2)
        // Escaping: quotes, backslashes and control characters survive a round trip.
        let odd = "a \"quoted\" \\ path\nnew line\u{01}"
        #expect(
            try JSONSerialization.jsonObject(
                with: Data(JSONLogHandler.quoted(odd).utf8), options: .fragmentsAllowed) as? String
                == odd)
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(
        "Reflection (v1 and v1alpha) lets a real client (Python grpcio-reflection) list the services and call a method with no .proto files, while tokens are on"
    )
    func reflectionWithARealClient() async throws {
        let python = Self.packageRoot.appendingPathComponent("bench/.venv/bin/python").path
        let script = Self.packageRoot.appendingPathComponent("Tests/Python/reflection_client.py")
            .path
        #expect(
            FileManager.default.isExecutableFile(atPath: python),
            "bench/.venv is missing: run scripts/setup.sh (it installs grpcio-reflection)")
        guard FileManager.default.isExecutableFile(atPath: python) else { return }
        let harness = try Harness()
        defer { harness.remove() }
        let token = "viewer-reflect-93"
        let tokens = try SecurityTests.writeTokens(
            harness, [.viewer: token, .admin: "admin-reflect-11"])
        let (path, _) = try harness.sampleFile(customers: 200)
        let output = try await harness.withServer(
            configure: { $0.tokensFile = tokens }, clientToken: "admin-reflect-11"
        ) { services, server in
            _ = try await services.train(
                try await services.upload(path).id, model: "reflected", ks: 3...3, nInit: 1)
            let port = try await server.listeningPort
            return try await Self.run(python, [script, "127.0.0.1:\(port)", token])
        }
        let result = try #require(
            try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
            "not JSON: \(output)")
        let expected = SegmentationServer.serviceNames.sorted()
        #expect(result["services"] as? [String] == expected)
        #expect(result["v1_services"] as? [String] == expected)
        #expect(result["models"] as? [String] == ["reflected"])
        #expect(result["score_input"] as? String == "segmentation.v1.ScoreRequest")
        #expect(result["score_output"] as? String == "segmentation.v1.ScoreResponse")
        #expect((result["score_input_fields"] as? [String] ?? []).contains("model"))
        let files = result["v1_symbol_files"] as? [String] ?? []
        #expect(files.first == "segmentation/v1/scoring.proto")
        #expect(files.contains("segmentation/v1/common.proto"))
        #expect(result["v1_missing_code"] as? Int == 5)
    }

    @Test(
        "segment-server --help documents every flag with its environment variable, and the server reads each variable it names",
        .enabled(
            if: ProcessTests.built,
            "build the executables first (swift build); scripts/test.sh does"))
    func helpNamesEveryVariable() async throws {
        let help = try await Self.run(ProcessTests.server, ["--help"])
        let source = try String(
            contentsOf: Self.packageRoot.appendingPathComponent(
                "Server/Main/SegmentServerCommand.swift"), encoding: .utf8)
        // Each option's block: its line starting with "  --" and the indented lines under it.
        var blocks: [String] = []
        for line in help.split(separator: "\n") {
            if line.hasPrefix("  --") || line.hasPrefix("  -h") {
                blocks.append(String(line))
            } else if !blocks.isEmpty, line.hasPrefix("    ") {
                blocks[blocks.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
            }
        }
        let options = blocks.filter { !$0.contains("--help") && !$0.contains("--version") }
        let declared = source.matches(of: /@Option\(|@Flag\(/).count
        #expect(
            options.count == declared,
            "--help shows \(options.count) options, the command declares \(declared)")
        for block in options {
            let variable = block.firstMatch(of: /env (SEGMENT_[A-Z_]+)/)?.1
            #expect(variable != nil, "no environment variable in: \(block)")
            if let variable {
                #expect(
                    source.contains("\"\(variable)\""), "\(variable) is documented but not read")
            }
        }
        for flag in [
            "--metrics-port", "--log-format", "--auth-tokens", "--tls-cert", "--tls-client-ca",
            "--insecure",
        ] {
            #expect(options.contains { $0.contains(flag) }, "\(flag) is not in --help")
        }
    }

    /// Runs a program to its end; its standard output, or an error with its standard error.
    static func run(_ program: String, _ arguments: [String]) async throws -> String {
        let result = try await ProcessTests.run(program, arguments)
        guard result.status == 0 else {
            throw RPCError(code: .internalError, message: "\(program) failed: \(result.stderr)")
        }
        return result.stdout
    }
}
