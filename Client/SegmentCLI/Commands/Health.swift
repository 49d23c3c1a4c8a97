import ArgumentParser
import Foundation

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the server is up and serving (exit 5 when it is not).",
        discussion: """
            Health is per service: "" (the default) is the whole server; "liveness" answers while \
            the process does; "segmentation.v1.ScoringService" stays SERVING while the registry is \
            briefly away; the registry's services need it (docs/operations.md, Health).
            """)
    @Option(help: "The health service name to check (default: the whole server).")
    var service = ""
    @OptionGroup var server: ServerOptions

    func run() async throws {
        let name = service
        try await reportingErrors(server: server.address) {
            let status = try await server.withServer { services in
                try await services.health.check(.with { $0.service = name }).status
            }
            guard status == .serving else {
                let what = name.isEmpty ? "" : " for \(name)"
                let word =
                    status == .notServing
                    ? "NOT_SERVING" : status == .serviceUnknown ? "SERVICE_UNKNOWN" : "UNKNOWN"
                throw CLIError.unreachable("the server at \(server.address) is \(word)\(what)")
            }
            Output.print("SERVING")
        }
    }
}
