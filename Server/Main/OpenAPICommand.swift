import ArgumentParser
import Foundation
import SegmentServer

/// `segment-server openapi`: prints the HTTP gateway's OpenAPI document (what `/openapi.json`
/// serves with --http-port), for API tools and docs/openapi.json.
struct OpenAPICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment-server openapi",
        abstract: "Prints the OpenAPI 3.1 document of the HTTP/JSON gateway (--http-port).")

    func run() throws {
        FileHandle.standardOutput.write(Data(HTTPGateway.openAPI))
    }
}
