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
    /// SETTINGS_MAX_CONCURRENT_STREAMS as clients are told it (`--max-concurrent-streams`). A
    /// stream over it is refused alone (RST_STREAM REFUSED_STREAM, which gRPC clients retry);
    /// swift-nio-http2 itself enforces `enforcedStreams`, and answers a stream over that with a
    /// connection error, so it is told a larger number than clients are.
    var advertisedStreams = 100
    var enforcedStreams: Int { advertisedStreams * 4 }
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
            onAcceptTCPConnection: { channel in
                channel.eventLoop.makeCompletedFuture { try self.install(on: channel) }
            },
            onAcceptHTTP2Stream: { stream in
                stream.eventLoop.makeCompletedFuture { try self.track(stream) }
            })
    }

    /// Connections open now.
    var openConnections: Int { open.load(ordering: .relaxed) }

    /// Placed just before the HTTP/2 handler: after TLS, so its first read means the handshake is
    /// done and the client is talking HTTP/2.
    private func install(on channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(
            ConnectionGuard(guards: self),
            position: .before(try pipeline.handler(type: NIOHTTP2Handler.self)))
    }

    private func track(_ stream: any Channel) throws {
        guard let connection = stream.parent,
            let guarding = try? connection.pipeline.syncOperations.handler(
                type: ConnectionGuard.self)
        else { return }
        guard guarding.callStarted() else {
            // First in the stream's pipeline, so that its frame goes straight to HTTP/2, before
            // gRPC has seen the call.
            try stream.pipeline.syncOperations.addHandler(RefuseStream(), position: .first)
            metrics.streamRefused()
            return
        }
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

    func closed(_ reason: ConnectionGuard.CloseReason) {
        metrics.connectionClosed(reason: reason.rawValue)
    }
}

/// One connection's watch: admitted or closed at once; closed if it has not started talking
/// HTTP/2 within the handshake timeout, or has had no call for the idle cut.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum CloseReason: String {
        case overLimit = "over_limit"
        case handshakeTimeout = "handshake_timeout"
        case idle
    }

    private let guards: ConnectionGuards
    private var context: ChannelHandlerContext?
    private var admitted = false
    private var handshake: Scheduled<Void>?
    private var idle: Scheduled<Void>?
    private var calls = 0
    /// Whether the server's SETTINGS have gone out (their stream limit rewritten to the advertised one).
    private var settingsSent = false
    /// The output is half-closed (grpc-swift's graceful close: every response written).
    private var outputClosed = false
    /// A full close waiting for the client to close its side, and its bound.
    private var lingering: (promise: EventLoopPromise<Void>, bound: Scheduled<Void>)?
    /// How long a full close after the output's waits for the client to close its side.
    static let lingerBound: TimeAmount = .seconds(5)

    init(guards: ConnectionGuards) { self.guards = guards }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        guard guards.admit() else {
            guards.closed(.overLimit)
            context.close(promise: nil)
            return
        }
        admitted = true
        handshake = context.eventLoop.assumeIsolated().scheduleTask(
            in: guards.limits.handshakeTimeout
        ) { self.cut(.handshakeTimeout) }
        armIdleCut()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshake?.cancel()
        idle?.cancel()
        endLingering(context, closing: false)
        if admitted { guards.leave() }
        admitted = false
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()  // the HTTP/2 handler sends its preface first
        // A second SETTINGS frame: the transport's own has a fixed 16 KiB header list size.
        let settings = HTTP2Frame(
            streamID: .rootStream,
            payload: .settings(
                .settings([
                    HTTP2Setting(
                        parameter: .maxHeaderListSize, value: guards.limits.headerListBytes)
                ])))
        context.channel.writeAndFlush(settings, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handshake?.cancel()
        handshake = nil
        context.fireChannelRead(data)
    }

    /// Counts a new call; false when the connection already has as many as clients are told.
    func callStarted() -> Bool {
        guard calls < guards.limits.advertisedStreams else { return false }
        calls += 1
        idle?.cancel()
        idle = nil
        return true
    }

    func callEnded() {
        calls -= 1
        if calls == 0 { armIdleCut() }
    }

    /// A full close right after the output's half-close (how grpc-swift closes a connection once
    /// its last call has ended in a graceful shutdown) waits, within `lingerBound`, for the client
    /// to close its side. Closing a socket that has unread input (the client's WINDOW_UPDATEs and
    /// PINGs keep coming) sends a TCP reset, and the client's kernel then drops the response bytes
    /// its application has not read yet: a large Score answered OK during a shutdown reached a
    /// busy client as "Stream unexpectedly closed".
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .output:
            outputClosed = true
            context.close(mode: .output, promise: promise)
        case .all where outputClosed && context.channel.isActive:
            if let lingering {
                promise.map { lingering.promise.futureResult.cascade(to: $0) }
                return
            }
            let waiting = context.eventLoop.makePromise(of: Void.self)
            promise.map { waiting.futureResult.cascade(to: $0) }
            let bound = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerBound) {
                self.endLingering(context, closing: true)
            }
            lingering = (waiting, bound)
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client closed its side (with remote half-closure allowed): nothing more will arrive.
        if case ChannelEvent.inputClosed = event { endLingering(context, closing: true) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        endLingering(context, closing: false)
        context.fireChannelInactive()
    }

    /// Ends a lingering close: closes the connection now, or (`closing` false) reports the
    /// close that already happened.
    private func endLingering(_ context: ChannelHandlerContext, closing: Bool) {
        guard let (promise, bound) = lingering else { return }
        lingering = nil
        bound.cancel()
        if closing, context.channel.isActive {
            context.close(mode: .all, promise: promise)
        } else {
            promise.succeed()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !settingsSent {
            var bytes = unwrapOutboundIn(data)
            if Self.advertise(guards.limits.advertisedStreams, in: &bytes) {
                settingsSent = true
                context.write(wrapOutboundOut(bytes), promise: promise)
                return
            }
        }
        context.write(data, promise: promise)
    }

    /// Rewrites SETTINGS_MAX_CONCURRENT_STREAMS in the server's first SETTINGS frame, if `bytes`
    /// begins with it (swift-nio-http2 writes its preface as one buffer); true once done.
    static func advertise(_ streams: Int, in bytes: inout ByteBuffer) -> Bool {
        let start = bytes.readerIndex
        guard let length = bytes.getInteger(at: start, as: UInt32.self).map({ Int($0 >> 8) }),
            bytes.getInteger(at: start + 3, as: UInt8.self) == 0x4,
            bytes.getInteger(at: start + 4, as: UInt8.self) == 0,  // not an ACK
            bytes.readableBytes >= 9 + length
        else { return false }
        for entry in stride(from: start + 9, to: start + 9 + length, by: 6)
        where bytes.getInteger(at: entry, as: UInt16.self) == 0x3 {
            bytes.setInteger(UInt32(streams), at: entry + 2)
        }
        return true
    }

    private func armIdleCut() {
        guard let context else { return }
        idle?.cancel()
        idle = context.eventLoop.assumeIsolated().scheduleTask(in: guards.limits.idleCut) {
            self.cut(.idle)
        }
    }

    private func cut(_ reason: CloseReason) {
        guard let context, context.channel.isActive else { return }
        guards.closed(reason)
        context.close(promise: nil)
    }
}

/// Refuses a stream over the advertised limit: RST_STREAM REFUSED_STREAM (the server did not
/// process it, so gRPC clients send it again), then closes it.
final class RefuseStream: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private var refused = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
    }

    /// Nothing of a refused call reaches gRPC.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(_ context: ChannelHandlerContext) {
        guard !refused else { return }
        refused = true
        context.writeAndFlush(wrapOutboundOut(.rstStream(.refusedStream)), promise: nil)
    }
}
