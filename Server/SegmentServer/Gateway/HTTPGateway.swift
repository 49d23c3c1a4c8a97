import Foundation
import GRPCCore
import GRPCInProcessTransport
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import SegmentBuild
import SegmentationCodec
import Synchronization

/// The HTTP/JSON gateway (`--http-port`): every unary method of the gRPC services as a Connect
/// protocol unary call over HTTP/1.1, `POST /package.Service/Method` with the request as proto3
/// JSON (`application/json`) or binary protobuf (`application/proto`), answered in the same
/// format; a failure is Connect's error object with the HTTP status google.rpc.Code maps the code
/// to. `GET /openapi.json` serves the OpenAPI document. Calls go to the same services through an
/// in-process gRPC server with the same interceptors: tokens (`Authorization: Bearer`), roles,
/// metrics, logs and error details are the gRPC port's. Served by Hummingbird, with TLS when the
/// server has it.
public final class HTTPGateway: Sendable {
    /// Request headers passed on as the call's metadata (lower case).
    static let forwardedHeaders: Set<String> = [
        "authorization", "traceparent", "tracestate", "x-request-id",
    ]

    private let inProcess = InProcessTransport()
    private let server: GRPCServer<InProcessTransport.Server>
    private let client: GRPCClient<InProcessTransport.Client>
    private let host: String
    private let requestedPort: Int
    private let maximumBodyBytes: Int
    private let limits: GatewayLimits
    private let tracing: CallTracing?
    /// The server's logger, as the interceptor logs calls (without the gateway's `part`).
    private let callLogger: Logger
    private let tls: TLSConfiguration?
    private let logger: Logger
    private let boundPort = Mutex<Int?>(nil)

    init(
        host: String, port: Int, maximumBodyBytes: Int, limits: GatewayLimits,
        tls: TLSConfiguration?, services: [any RegistrableRPCService],
        interceptors: [any ServerInterceptor], tracing: CallTracing?, logger: Logger
    ) {
        server = GRPCServer(
            transport: inProcess.server, services: services, interceptors: interceptors)
        client = GRPCClient(transport: inProcess.client)
        self.host = host
        self.requestedPort = port
        self.maximumBodyBytes = maximumBodyBytes
        self.limits = limits
        self.tls = tls
        self.tracing = tracing
        callLogger = logger
        var logger = logger
        logger[metadataKey: "part"] = "http gateway"
        self.logger = logger
    }

    /// The OpenAPI document of the methods served, as `/openapi.json` answers it.
    public static let openAPI = OpenAPIDocument.json(
        paths: Array(GatewayMethod.all.keys), version: BuildInfo.current.version)

    /// The port listened on, once listening (nil before).
    var port: Int? { boundPort.withLock { $0 } }

    /// Serves until the enclosing ServiceGroup shuts down gracefully: then stops accepting, lets
    /// the requests in flight finish, and stops the in-process server.
    func run() async throws {
        let responder = GatewayResponder(
            client: client, maximumBodyBytes: maximumBodyBytes,
            maximumHeaderBytes: limits.maximumHeaderBytes, openAPI: Self.openAPI,
            refusals: GatewayRefusals(logger: callLogger, tracing: tracing))
        // At --max-connections open connections, further ones wait in the listen backlog until
        // one closes; a connection with no request for --idle-timeout is closed.
        let configuration = ApplicationConfiguration(
            address: .hostname(host, port: requestedPort), serverName: nil,
            reuseAddress: true,
            availableConnectionsDelegate: MaximumAvailableConnections(
                limits.maximumConnections, logger: logger))
        let http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(Int64(limits.idleSeconds)))
        let onRunning: @Sendable (any Channel) async -> Void = { channel in
            self.boundPort.withLock { $0 = channel.localAddress?.port }
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await MessageSizeLimit.$bytes.withValue(self.maximumBodyBytes) {
                    try await self.server.serve()
                }
            }
            group.addTask { try await self.client.runConnections() }
            defer {
                client.beginGracefulShutdown()
                server.beginGracefulShutdown()
            }
            if let tls {
                try await Application(
                    responder: responder,
                    server: try .tls(.http1(configuration: http1), tlsConfiguration: tls),
                    configuration: configuration, onServerRunning: onRunning, logger: logger
                ).run()
            } else {
                try await Application(
                    responder: responder, server: .http1(configuration: http1),
                    configuration: configuration,
                    onServerRunning: onRunning, logger: logger
                ).run()
            }
        }
    }
}

/// What bounds the gateway's clients: the gRPC port's flags, applied to HTTP.
struct GatewayLimits: Sendable {
    /// --max-connections, counted apart from the gRPC port's.
    var maximumConnections: Int
    /// --idle-timeout: a connection with no request for this long is closed.
    var idleSeconds: Int
    /// --max-header-bytes: a request with more header bytes (name + value + 32 per field, as
    /// HTTP/2 counts them) is answered 431 (the decoder's own cap, 80 KiB, closes the connection).
    var maximumHeaderBytes: Int
}

/// A request's context: Hummingbird's, and the client's address (the call's peer in logs and the
/// alias history).
struct GatewayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// "http:ADDRESS:PORT", as gRPC names its peers "ipv4:ADDRESS:PORT".
    var peer: String {
        guard let address = remoteAddress else { return "http:unknown" }
        return "http:\(address.ipAddress ?? "unknown"):\(address.port ?? 0)"
    }
}

/// Routes a request to its method (or the OpenAPI document) and answers it.
private struct GatewayResponder: HTTPResponder {
    typealias Context = GatewayRequestContext
    let client: GatewayMethod.Client
    let maximumBodyBytes: Int
    let maximumHeaderBytes: Int
    let openAPI: [UInt8]
    let refusals: GatewayRefusals

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        do {
            return try await answer(request, peer: context.peer)
        } catch let error as RPCError {
            // The call's own answer: logged and traced by the gRPC server's interceptor.
            return Self.response(ConnectError(error))
        } catch {
            let refusal =
                error as? ConnectError ?? ConnectError(code: .internalError, message: "\(error)")
            refusals.record(refusal, request, peer: context.peer, since: started)
            return Self.response(refusal)
        }
    }

    private func answer(_ request: Request, peer: String) async throws -> Response {
        try checkHeaderSize(request.headers)
        let path = request.uri.path
        if path == "/openapi.json" {
            guard request.method == .get || request.method == .head else {
                throw ConnectError(
                    code: .unimplemented, message: "use GET for /openapi.json", http: 405,
                    allow: "GET, HEAD")
            }
            return Self.response(.ok, contentType: "application/json", body: openAPI)
        }
        guard let method = GatewayMethod.all[path] else {
            throw ConnectError(
                code: .unimplemented,
                message:
                    "no unary method \(path.dropFirst()): POST /package.Service/Method, as /openapi.json lists (streaming methods are gRPC's alone)",
                http: 404)
        }
        guard request.method == .post else {
            throw ConnectError(
                code: .unimplemented, message: "use POST for \(path)", http: 405, allow: "POST")
        }
        guard let format = request.headers[.contentType].flatMap(GatewayFormat.init(contentType:))
        else {
            throw ConnectError(
                code: .invalidArgument,
                message: "Content-Type must be application/json or application/proto", http: 415)
        }
        let encoding = try GatewayEncoding.ofRequest(request.headers[.contentEncoding])
        let body = request.body
        var bytes: ByteBuffer
        do {
            bytes = try await body.collect(upTo: maximumBodyBytes)
        } catch {
            throw ConnectError(
                code: .resourceExhausted,
                message:
                    "the request body is larger than the server's message limit of \(maximumBodyBytes) bytes",
                http: 413)
        }
        if let encoding { bytes = try encoding.decompress(bytes, limit: maximumBodyBytes) }
        let answer = try await method.call(
            Array(buffer: bytes), format, metadata(request, peer: peer), options(request), client)
        return try Self.reply(
            answer, contentType: format.rawValue,
            encoding: GatewayEncoding.forReply(request.headers[.acceptEncoding]))
    }

    /// A method's answer, compressed when the client accepts it and it is large enough to gain.
    private static func reply(
        _ answer: [UInt8], contentType: String, encoding: GatewayEncoding?
    ) throws -> Response {
        guard let encoding, answer.count >= GatewayEncoding.minimumCompressedBytes else {
            var response = response(.ok, contentType: contentType, body: answer)
            response.headers[.vary] = "Accept-Encoding"
            return response
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: contentType, .contentEncoding: encoding.rawValue,
                .vary: "Accept-Encoding",
            ],
            body: ResponseBody(byteBuffer: try encoding.compress(answer)))
    }

    /// RESOURCE_EXHAUSTED with 431 when the headers are over --max-header-bytes.
    private func checkHeaderSize(_ headers: HTTPFields) throws {
        let size = headers.reduce(0) { $0 + $1.name.rawName.utf8.count + $1.value.utf8.count + 32 }
        guard size > maximumHeaderBytes else { return }
        throw ConnectError(
            code: .resourceExhausted,
            message:
                "the request's headers take \(size) bytes, over the server's limit of \(maximumHeaderBytes) (--max-header-bytes)",
            http: 431)
    }

    /// The headers a call's interceptors read (the bearer token, trace context, request id).
    private func metadata(_ request: Request, peer: String) -> Metadata {
        // Believed only from in-process calls: no client reaches that transport but this gateway.
        var metadata: Metadata = [CallNotes.gatewayPeerKey: .string(peer)]
        for field in request.headers
        where HTTPGateway.forwardedHeaders.contains(field.name.canonicalName) {
            metadata.addString(field.value, forKey: field.name.canonicalName)
        }
        return metadata
    }

    /// Connect's `Connect-Timeout-Ms` as the call's deadline.
    private func options(_ request: Request) throws -> CallOptions {
        var options = CallOptions.defaults
        if let text = request.headers.first(where: {
            $0.name.canonicalName == "connect-timeout-ms"
        })?.value {
            guard let milliseconds = Int64(text), milliseconds > 0, text.count <= 10 else {
                throw ConnectError(
                    code: .invalidArgument,
                    message:
                        "Connect-Timeout-Ms must be a positive number of milliseconds (at most 10 digits)"
                )
            }
            options.timeout = .milliseconds(milliseconds)
        }
        return options
    }

    static func response(_ error: ConnectError) -> Response {
        var response = response(
            HTTPResponse.Status(code: error.httpStatus), contentType: "application/json",
            body: error.json)
        if let allow = error.allow { response.headers[.allow] = allow }
        return response
    }

    static func response(
        _ status: HTTPResponse.Status, contentType: String, body: [UInt8]
    )
        -> Response
    {
        Response(
            status: status, headers: [.contentType: contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension ServerConfiguration {
    /// The gateway's TLS: the gRPC port's certificate, key and client CA (nil: plaintext, as there).
    func gatewayTLS() throws -> TLSConfiguration? {
        guard let certificate = tlsCertificate, let key = tlsKey else { return nil }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map {
                .certificate($0)
            },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        tls.applicationProtocols = ["http/1.1"]
        if let ca = tlsClientCA {
            tls.trustRoots = .file(ca)
            // Client certificates name people or services, not hosts, as on the gRPC port.
            tls.certificateVerification = .noHostnameVerification
        }
        return tls
    }
}
