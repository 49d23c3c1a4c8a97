import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SegmentationAPI

public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table, json, csv
}

/// Options every command that talks to the server takes.
public struct ServerOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("server"),
        help: "host:port of the segment server (env SEGMENT_SERVER; default 127.0.0.1:50051).")
    var server: String?

    @Option(
        name: .shortAndLong,
        help:
            "table for people, json (proto3 JSON mapping of the API's messages) or csv for scripts."
    )
    var output: OutputFormat = .table

    @Option(
        name: .customLong("token-file"),
        help:
            "File holding the bearer token for a server with --auth-tokens (default: env SEGMENT_TOKEN)."
    )
    var tokenFile: String?

    @OptionGroup var tls: TLSOptions

    public init() {}

    var address: String {
        server ?? ProcessInfo.processInfo.environment["SEGMENT_SERVER"] ?? "127.0.0.1:50051"
    }

    /// Runs `body` with typed clients for every service of the server.
    func withServer<T: Sendable>(_ body: @Sendable (Services) async throws -> T) async throws -> T {
        let (host, port) = try Self.parse(address)
        // An IPv4 literal as such: with TLS, a DNS target would verify the certificate against the
        // literal as a host name, and certificates name IP addresses in their own field.
        let isIPv4 =
            host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
        let security = try tls.transportSecurity()
        let configuration = HTTP2ClientTransport.Posix.Config.defaults {
            $0.connection.maxIdleTime = nil
        }
        let transport =
            isIPv4
            ? try HTTP2ClientTransport.Posix(
                target: .ipv4(address: host, port: port), transportSecurity: security,
                config: configuration)
            : try HTTP2ClientTransport.Posix(
                target: .dns(host: host, port: port), transportSecurity: security,
                config: configuration)
        let interceptors: [any ClientInterceptor] =
            try token().map { [BearerToken(token: $0)] } ?? []
        return try await withGRPCClient(transport: transport, interceptors: interceptors) {
            client in
            try await body(Services(client: client))
        }
    }

    /// The token from --token-file, else SEGMENT_TOKEN; nil when neither is given.
    func token() throws -> String? {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw CLIError.invalidInput("cannot read --token-file \(tokenFile)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ProcessInfo.processInfo.environment["SEGMENT_TOKEN"].flatMap {
            $0.isEmpty ? nil : $0
        }
    }

    /// Runs a command's body against the server, reporting any failure as one line and an exit code.
    func call(_ body: @Sendable (Services, OutputFormat) async throws -> Void) async throws {
        let format = output
        try await reportingErrors(server: address) {
            try await withServer { services in try await body(services, format) }
        }
    }

    static func parse(_ address: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"),
            let port = Int(address[address.index(after: colon)...]),
            (1...65535).contains(port), colon > address.startIndex
        else {
            throw CLIError.usage("--server '\(address)' must be host:port, e.g. 127.0.0.1:50051")
        }
        return (String(address[..<colon]), port)
    }
}

/// The generated clients, created once per connection.
struct Services: Sendable {
    let datasets: Segmentation_V1_DatasetService.Client<HTTP2ClientTransport.Posix>
    let training: Segmentation_V1_TrainingService.Client<HTTP2ClientTransport.Posix>
    let models: Segmentation_V1_ModelRegistry.Client<HTTP2ClientTransport.Posix>
    let scoring: Segmentation_V1_ScoringService.Client<HTTP2ClientTransport.Posix>
    let health: Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>
    let live: Segmentation_V1_LiveSegmentationService.Client<HTTP2ClientTransport.Posix>

    init(client: GRPCClient<HTTP2ClientTransport.Posix>) {
        datasets = .init(wrapping: client)
        training = .init(wrapping: client)
        models = .init(wrapping: client)
        scoring = .init(wrapping: client)
        health = .init(wrapping: client)
        live = .init(wrapping: client)
    }
}

/// Call options for responses that may be large (a model with its sample, a score batch).
let largeResponses: CallOptions = {
    var options = CallOptions.defaults
    options.maxResponseMessageBytes = 64 << 20
    options.maxRequestMessageBytes = 64 << 20
    return options
}()

/// Sends `authorization: Bearer TOKEN` with every call.
struct BearerToken: ClientInterceptor {
    let token: String

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>, context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws ->
            StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.replaceOrAddString("Bearer \(token)", forKey: "authorization")
        return try await next(request, context)
    }
}

/// How the CLI secures its connection: plaintext by default; `--tls` (or a CA, a certificate)
/// for a server with --tls-cert; `--cert`/`--key` for one that wants client certificates.
public struct TLSOptions: ParsableArguments, Sendable {
    @Flag(
        name: .customLong("tls"),
        help: "Connect with TLS, trusting the system's CAs (env SEGMENT_TLS=1).") var useTLS = false
    @Option(
        name: .customLong("ca"),
        help: "PEM CA to trust instead of the system's; implies --tls (env SEGMENT_CA).") var ca:
        String?
    @Option(
        name: .customLong("cert"),
        help: "PEM client certificate for mutual TLS, with --key; implies --tls (env SEGMENT_CERT)."
    ) var certificate: String?
    @Option(name: .customLong("key"), help: "PEM private key of --cert (env SEGMENT_KEY).") var key:
        String?

    public init() {}

    func transportSecurity() throws -> HTTP2ClientTransport.Posix.TransportSecurity {
        let environment = ProcessInfo.processInfo.environment
        let ca = self.ca ?? environment["SEGMENT_CA"]
        let certificate = self.certificate ?? environment["SEGMENT_CERT"]
        let key = self.key ?? environment["SEGMENT_KEY"]
        guard useTLS || environment["SEGMENT_TLS"] == "1" || ca != nil || certificate != nil else {
            return .plaintext
        }
        for path in [ca, certificate, key].compactMap({ $0 })
        where !FileManager.default.isReadableFile(atPath: path) {
            throw CLIError.invalidInput("cannot read \(path)")
        }
        let roots: TLSConfig.TrustRootsSource =
            ca.map { .certificates([.file(path: $0, format: .pem)]) } ?? .systemDefault
        switch (certificate, key) {
        case (nil, nil): return .tls { $0.trustRoots = roots }
        case (let certificate?, let key?):
            return .mTLS(
                certificateChain: [.file(path: certificate, format: .pem)],
                privateKey: .file(path: key, format: .pem)
            ) {
                $0.trustRoots = roots
            }
        default: throw CLIError.usage("--cert and --key go together")
        }
    }
}
