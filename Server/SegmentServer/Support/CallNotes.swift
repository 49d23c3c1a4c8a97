import GRPCCore
import Synchronization

/// What a call's log line carries beyond what the interceptor sees: the model version its handler
/// served (noted where a reference is resolved) and the W3C trace id the caller sent, or one made
/// for the call. The interceptor binds one per call, for the handler and its reply's producer.
final class CallNotes: Sendable {
    @TaskLocal static var current: CallNotes?

    let traceID: String
    /// Who called: the transport's peer, or for a call the HTTP gateway made in-process, the
    /// HTTP client's address it passed on.
    let peer: String
    private let served = Mutex<(model: String, version: Int)?>(nil)

    /// The metadata key the HTTP gateway names its client's address by.
    static let gatewayPeerKey = "segment-gateway-peer"

    /// - Parameter traceID: the call's span's trace id, when calls are traced (it is the
    ///   caller's, or a new one the tracer made).
    init(metadata: Metadata, remotePeer: String, traceID: String? = nil) {
        self.traceID = traceID ?? Self.traceID(in: metadata) ?? Self.newTraceID()
        peer = Self.peer(metadata: metadata, remotePeer: remotePeer)
    }

    static func peer(metadata: Metadata, remotePeer: String) -> String {
        let forwarded = metadata[stringValues: gatewayPeerKey].first(where: { _ in true })
        return remotePeer.hasPrefix("in-process:") ? forwarded ?? remotePeer : remotePeer
    }

    /// The model version the call served (the last, for a stream that named several).
    var model: (name: String, version: Int)? {
        served.withLock { $0.map { ($0.model, $0.version) } }
    }

    static func served(model: String, version: Int) {
        current?.served.withLock { $0 = (model, version) }
    }

    /// The trace id of a `traceparent` header (W3C Trace Context: version-traceid-parentid-flags,
    /// lower-case hex; an all-zero id is invalid).
    static func traceID(in metadata: Metadata) -> String? {
        guard let header = metadata[stringValues: "traceparent"].first(where: { _ in true })
        else { return nil }
        let parts = header.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32,
            parts[2].count == 16, parts[3].count == 2,
            parts.prefix(4).allSatisfy({ $0.allSatisfy(\.isLowerHexDigit) }),
            parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" })
        else { return nil }
        return String(parts[1])
    }

    static func newTraceID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let value = generator.next() as UInt64
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}

extension Character {
    fileprivate var isLowerHexDigit: Bool { isHexDigit && !isUppercase }
}
