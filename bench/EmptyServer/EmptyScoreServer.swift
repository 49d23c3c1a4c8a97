// segment-empty-server: the ScoringService with an empty handler on the same transport and
// settings as segment-server. It measures what the gRPC framework itself can do on this
// machine, the ceiling our real Score handler is compared with.
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SegmentationAPI

struct EmptyScoring: Segmentation_V1_ScoringService.SimpleServiceProtocol {
    func score(
        request: Segmentation_V1_ScoreRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ScoreResponse {
        Segmentation_V1_ScoreResponse()
    }

    func scoreStream(
        request: RPCAsyncSequence<Segmentation_V1_ScoreRequest, any Error>,
        response: RPCWriter<Segmentation_V1_ScoreResponse>, context: ServerContext
    ) async throws {
        for try await _ in request { try await response.write(Segmentation_V1_ScoreResponse()) }
    }
}

@main
enum EmptyScoreServer {
    static func main() async {
        do {
            try await serve()
        } catch {
            // A port in use, say: one line and a failing exit, not a trap.
            FileHandle.standardError.write(Data("segment-empty-server: \(error)\n".utf8))
            exit(1)
        }
    }

    static func serve() async throws {
        let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 50061 : 50061
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext,
            config: .defaults { $0.rpc.maxRequestPayloadSize = 16 << 20 })
        let server = GRPCServer(transport: transport, services: [EmptyScoring()])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            let address = try await transport.listeningAddress
            FileHandle.standardError.write(
                Data("empty score server listening on \(address)\n".utf8))
        }
    }
}
