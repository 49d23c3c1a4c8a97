import Foundation
import GRPCCore
import SegmentationAPI
import Testing

@testable import SegmentServer

/// The HTTP/JSON gateway's tables (scripts/test-gateway.sh calls it over HTTP, with schemathesis).
@Suite("HTTP gateway")
struct GatewayTests {
    @Test(
        "The gateway serves every unary method of the hosted services and health, and no streaming one"
    )
    func everyUnaryMethod() {
        // Every service the server hosts (reflection's only method streams).
        let hosted = SegmentationServer.serviceNames
        let unary = APISchema.methodTypes.filter { method, type in
            type == "unary" && hosted.contains(String(method.split(separator: "/")[0]))
        }.keys.map { "/" + $0 }
        #expect(Set(GatewayMethod.all.keys) == Set(unary))
        #expect(GatewayMethod.all.count == 23)
    }

    @Test(
        "docs/openapi.json is the document the gateway serves, with a path per method and every schema it names"
    )
    func openAPIDocument() throws {
        let committed = try Data(
            contentsOf: OperationsTests.packageRoot.appendingPathComponent("docs/openapi.json"))
        #expect(
            Array(committed) == HTTPGateway.openAPI,
            "docs/openapi.json is stale: .build/debug/segment-server openapi > docs/openapi.json")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(HTTPGateway.openAPI)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: Any])
        #expect(Set(paths.keys) == Set(GatewayMethod.all.keys))
        let schemas = try #require(
            (document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let text = String(decoding: HTTPGateway.openAPI, as: UTF8.self)
        for match in text.matches(of: /"#\/components\/schemas\/([A-Za-z0-9_.]+)"/) {
            #expect(schemas[String(match.1)] != nil, "\(match.1) is referenced but not defined")
        }
        // proto3 JSON: 64-bit integers are strings, field names lowerCamelCase, oneofs exclusive.
        let report = try #require(schemas["segmentation.v1.DataReport"] as? [String: Any])
        let rowsIn = try #require(
            ((report["properties"] as? [String: Any])?["rowsIn"] as? [String: Any])?["anyOf"]
                as? [[String: Any]])
        #expect(rowsIn.first?["type"] as? String == "string")
        let reference = try #require(schemas["segmentation.v1.ModelRef"] as? [String: Any])
        #expect((reference["allOf"] as? [Any])?.count == 1)
    }

    @Test(
        "With the metrics endpoint and the gateway on, SIGTERM drains and exits 0 (systemd counts anything else a failure)",
        .enabled(
            if: ProcessTests.built,
            "build the executables first (swift build); scripts/test.sh does"))
    func cleanExitWithEveryPort() async throws {
        let data = FileManager.default.temporaryDirectory
            .appendingPathComponent("gateway-exit-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let server = try await ServerProcess.start(
            dataDirectory: data, extra: ["--metrics-port", "0", "--http-port", "0"])
        // Serving: the log line names the gateway's address.
        for _ in 0..<100 where !server.log.text.contains("http=127.0.0.1:") {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(server.log.text.contains("http=127.0.0.1:"))
        await server.stop()
        #expect(
            server.terminationStatus == 0,
            "exit status \(server.terminationStatus): \(server.log.text)")
    }

    @Test("A job's google.rpc.Status reads and writes as proto3 JSON, its details spelled out")
    func jobStatusAsJSON() throws {
        let job = Segmentation_V1_Job.with {
            $0.id = "job-1"
            $0.status = RPCErrors.status(
                code: 1, message: "cancelled by request", reason: "CANCELLED")
        }
        _ = ErrorDetailTypes.registered
        let json = try job.jsonString()
        #expect(json.contains(#""@type":"type.googleapis.com/google.rpc.ErrorInfo""#), "\(json)")
        #expect(json.contains(#""reason":"CANCELLED""#))
        let read = try Segmentation_V1_Job(jsonString: json)
        #expect(read.status.message == "cancelled by request")
        #expect(
            try Google_Rpc_ErrorInfo(unpackingAny: read.status.details[0]).reason == "CANCELLED")
    }

    @Test("Errors map to the HTTP status google.rpc.Code gives and Connect's code names")
    func errorMapping() {
        let cases: [(RPCError.Code, Int, String)] = [
            (.invalidArgument, 400, "invalid_argument"), (.notFound, 404, "not_found"),
            (.unauthenticated, 401, "unauthenticated"),
            (.permissionDenied, 403, "permission_denied"),
            (.aborted, 409, "aborted"), (.resourceExhausted, 429, "resource_exhausted"),
            (.unavailable, 503, "unavailable"), (.cancelled, 499, "canceled"),
            (.deadlineExceeded, 504, "deadline_exceeded"),
            (.failedPrecondition, 400, "failed_precondition"),
        ]
        for (code, http, name) in cases {
            let error = ConnectError(code: code, message: "m")
            #expect(error.httpStatus == http, "\(code)")
            #expect(error.codeName == name)
        }
        #expect(ConnectError(code: .invalidArgument, message: "m", http: 415).httpStatus == 415)
    }
}
