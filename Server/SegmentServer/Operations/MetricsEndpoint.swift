import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Plain HTTP/1.1 for Prometheus: `GET /metrics` answers the text exposition; any other path is
/// 404 and any other method 405. Off unless `--metrics-port` is given. Bound at construction, so a
/// port in use fails the server's start rather than its first scrape.
final class MetricsEndpoint: Sendable {
    /// Scrapers are few; more connections than this at once are closed at accept.
    static let maximumConnections = 16
    /// A whole request must arrive within this of connecting or of the previous answer, however
    /// the client trickles it; then the connection is closed.
    static let requestDeadline: TimeAmount = .seconds(10)

    private let channel:
        NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let render: @Sendable () async -> [UInt8]
    private let open = Atomic<Int>(0)
    let port: Int

    init(host: String, port: Int, render: @escaping @Sendable () async -> [UInt8]) async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    // Slow or idle connections cannot hold the 16 places for long.
                    try child.pipeline.syncOperations.addHandler(
                        RequestDeadline(Self.requestDeadline))
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: child)
                }
            }
        self.port = channel.channel.localAddress?.port ?? port
        self.render = render
    }

    /// Serves until the surrounding task is cancelled, then closes the port.
    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { connections in
                try await withTaskCancellationHandler {
                    for try await connection in connections {
                        guard open.add(1, ordering: .relaxed).newValue <= Self.maximumConnections
                        else {
                            open.subtract(1, ordering: .relaxed)
                            try? await connection.channel.close()
                            continue
                        }
                        group.addTask {
                            defer { self.open.subtract(1, ordering: .relaxed) }
                            try? await self.serve(connection)
                        }
                    }
                } onCancel: {
                    channel.channel.close(promise: nil)
                }
            }
        }
    }

    private func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    ) async throws {
        try await connection.executeThenClose { requests, responses in
            for try await part in requests {
                guard case .head(let request) = part else { continue }
                let (status, body) = await answer(request)
                var headers = HTTPHeaders()
                headers.add(
                    name: "Content-Type",
                    value: status == .ok
                        ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
                headers.add(name: "Content-Length", value: "\(body.count)")
                if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                try await responses.write(
                    .head(
                        HTTPResponseHead(version: request.version, status: status, headers: headers)
                    ))
                try await responses.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                try await responses.write(.end(nil))
                if !request.isKeepAlive { return }
            }
        }
    }

    private func answer(_ request: HTTPRequestHead) async -> (HTTPResponseStatus, [UInt8]) {
        let path =
            request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        guard path == "/metrics" else {
            return (.notFound, Array("only /metrics is served here\n".utf8))
        }
        guard request.method == .GET else { return (.methodNotAllowed, Array("use GET\n".utf8)) }
        return (.ok, await render())
    }
}

/// Closes the connection unless a whole request arrives within `limit` of connecting or of the
/// previous answer: a byte now and then (which would reset a read-idle timer) does not keep it.
private final class RequestDeadline: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let limit: TimeAmount
    private var timer: Scheduled<Void>?

    init(_ limit: TimeAmount) { self.limit = limit }

    func handlerAdded(context: ChannelHandlerContext) { arm(context) }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: limit) {
            bound.value.close(promise: nil)
        }
    }
}
