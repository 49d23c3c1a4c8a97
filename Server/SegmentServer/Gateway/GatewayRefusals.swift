import GRPCCore
import Hummingbird
import Logging
import SegmentationAPI
import Tracing

/// The log line and span of a request the gateway refused itself, before any gRPC call (a path
/// that is no method, a wrong verb, Content-Type or encoding, headers or a body over the limits,
/// a body that is no message): calls that reached the gRPC server are logged and traced there.
/// The same fields as a call's line, with `http`, the HTTP status; the span named by the method
/// when the path is one (`HTTP POST` and the like when it is not: paths are the client's to
/// choose, and a span name must not be).
struct GatewayRefusals: Sendable {
    let logger: Logger
    let tracing: CallTracing?

    func record(
        _ error: ConnectError, _ request: Request, peer: String,
        since started: ContinuousClock.Instant
    ) {
        let path = request.uri.path
        let method = GatewayMethod.all[path]?.descriptor
        var metadata = Metadata()
        for key in ["traceparent", "tracestate"] {
            if let value = request.headers.first(where: { $0.name.canonicalName == key })?.value {
                metadata.addString(value, forKey: key)
            }
        }
        let span = tracing.map {
            $0.start(
                named: method?.fullyQualifiedMethod ?? "HTTP \(request.method.rawValue)",
                metadata: metadata, peer: peer)
        }
        let elapsed = ContinuousClock.now - started
        let milliseconds =
            Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds)
            / 1e15
        let reason = "HTTP_\(error.httpStatus)"
        logger.info(
            "rpc",
            metadata: [
                "method": "\(method?.fullyQualifiedMethod ?? String(path.prefix(200)))",
                "status": "\(StatusName.of(error.code))",
                "http": "\(error.httpStatus)",
                "ms": .stringConvertible((milliseconds * 100).rounded() / 100),
                "peer": "\(peer)",
                "trace_id":
                    "\(span?.traceID ?? CallNotes.traceID(in: metadata) ?? CallNotes.newTraceID())",
                "reason": "\(reason)",
                "error": "\(error.message)",
            ])
        if let span {
            span.attributes["http.response.status_code"] = error.httpStatus
            CallTracing.end(
                span, error: RPCError(code: error.code, message: error.message), reason: reason,
                model: nil)
        }
    }
}
