import GRPCNIOTransportHTTP2Posix
import NIOCore
import NIOHTTP2
import Synchronization

/// What one connection may hold, enforced under gRPC (grpc-swift has no hook for these): how
/// many connections at once, how long a new one may take to start talking HTTP/2, how long one
/// may stay open with no call whatever its client does, and the header list size advertised.
struct ConnectionLimits: Sendable {
    /// Connections open at once (`--max-connections`); more are closed as they are accepted.
    var maximumConnections = 1_000
    /// From accept to the first HTTP/2 bytes, the TLS handshake included (`--handshake-timeout`).
    var handshakeTimeout: TimeAmount = .seconds(10)
    /// No call for this long: the connection is closed, even when its client never answers the
    /// GOAWAY and PING that grpc-swift sends at the idle timeout and waits on.
    var idleCut: TimeAmount = .seconds(310)
    /// SETTINGS_MAX_HEADER_LIST_SIZE: a header list up to this is decoded, so that one over the
    /// per-call limit fails only its call (CallInterceptor); one over this still costs the
    /// connection, as swift-nio-http2 cannot decode it. 64 KiB because swift-nio-http2 also
    /// closes a connection after 5 CONTINUATION frames in a row (6 frames of 16 KiB).
    static let decodableHeaderListBytes = 64 << 10
    var headerListBytes = decodableHeaderListBytes
}

/// Installs a `ConnectionGuard` on every accepted connection and tells it when calls start and
/// end; counts the connections open.
final class ConnectionGuards: Sendable {
    let limits: ConnectionLimits
    private let metrics: ServerMetrics
    private let open = Atomic<Int>(0)

    init(limits: ConnectionLimits, metrics: ServerMetrics) {
        self.limits = limits
        self.metrics = metrics
    }

    /// The transport's per-connection and per-stream hooks, which run on the channel's event loop.
    var callbacks: HTTP2ServerTransport.Config.ChannelDebuggingCallbacks {
        .init(
            onBindTCPListener: nil,
            onAcceptTCPConnection: { channel in channel.eventLoop.makeCompletedFuture { try self.install(on: channel) } },
            onAcceptHTTP2Stream: { stream in stream.eventLoop.makeCompletedFuture { self.track(stream) } })
    }

    /// Connections open now.
    var openConnections: Int { open.load(ordering: .relaxed) }

    /// Placed just before the HTTP/2 handler: after TLS, so its first read means the handshake is
    /// done and the client is talking HTTP/2.
    private func install(on channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(ConnectionGuard(guards: self), position: .before(try pipeline.handler(type: NIOHTTP2Handler.self)))
    }

    private func track(_ stream: any Channel) {
        guard let connection = stream.parent,
              let guarding = try? connection.pipeline.syncOperations.handler(type: ConnectionGuard.self) else { return }
        guarding.callStarted()
        let bound = NIOLoopBound(guarding, eventLoop: stream.eventLoop)
        stream.closeFuture.whenComplete { _ in bound.value.callEnded() }
    }

    /// Takes a place for a new connection, if there is one.
    func admit() -> Bool {
        if open.add(1, ordering: .relaxed).newValue <= limits.maximumConnections { return true }
        open.subtract(1, ordering: .relaxed)
        return false
    }

    func leave() { open.subtract(1, ordering: .relaxed) }

    func closed(_ reason: ConnectionGuard.CloseReason) { metrics.connectionClosed(reason: reason.rawValue) }
}

/// One connection's watch: admitted or closed at once; closed if it has not started talking
/// HTTP/2 within the handshake timeout, or has had no call for the idle cut.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum CloseReason: String { case overLimit = "over_limit", handshakeTimeout = "handshake_timeout", idle }

    private let guards: ConnectionGuards
    private var context: ChannelHandlerContext?
    private var admitted = false
    private var handshake: Scheduled<Void>?
    private var idle: Scheduled<Void>?
    private var calls = 0

    init(guards: ConnectionGuards) { self.guards = guards }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        guard guards.admit() else {
            guards.closed(.overLimit)
            context.close(promise: nil)
            return
        }
        admitted = true
        handshake = context.eventLoop.assumeIsolated().scheduleTask(in: guards.limits.handshakeTimeout) { self.cut(.handshakeTimeout) }
        armIdleCut()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshake?.cancel()
        idle?.cancel()
        if admitted { guards.leave() }
        admitted = false
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()  // the HTTP/2 handler sends its preface first
        // A second SETTINGS frame: the transport's own has a fixed 16 KiB header list size.
        let settings = HTTP2Frame(streamID: .rootStream, payload: .settings(.settings([
            HTTP2Setting(parameter: .maxHeaderListSize, value: guards.limits.headerListBytes),
        ])))
        context.channel.writeAndFlush(settings, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handshake?.cancel()
        handshake = nil
        context.fireChannelRead(data)
    }

    func callStarted() {
        calls += 1
        idle?.cancel()
        idle = nil
    }

    func callEnded() {
        calls -= 1
        if calls == 0 { armIdleCut() }
    }

    private func armIdleCut() {
        guard let context else { return }
        idle?.cancel()
        idle = context.eventLoop.assumeIsolated().scheduleTask(in: guards.limits.idleCut) { self.cut(.idle) }
    }

    private func cut(_ reason: CloseReason) {
        guard let context, context.channel.isActive else { return }
        guards.closed(reason)
        context.close(promise: nil)
    }
}
