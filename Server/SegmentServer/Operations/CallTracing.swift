import Foundation
import GRPCCore
import Logging
import OTel
import SegmentBuild
import SegmentationAPI
import ServiceLifecycle
import Tracing

/// The server's calls as OpenTelemetry spans (--otlp-endpoint; off by default): one SERVER span
/// per call, the child of the caller's W3C `traceparent` when it sent one, exported over OTLP/gRPC
/// in batches by `service`, which runs in the server's ServiceGroup and sends what is left when it
/// shuts down. The standard OTEL_* variables (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER,
/// OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS...) tune it; swift-otel reads them.
struct CallTracing: Sendable {
    /// The exporter and its batch processor.
    let service: any Service
    private let begin: @Sendable (_ name: String, _ metadata: Metadata) -> any Span

    /// The tracing --otlp-endpoint asks for; nil when `OTEL_SDK_DISABLED=true` switches it off
    /// (the standard switch: it must not stop the server from starting).
    static func make(
        endpoint: String, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> CallTracing? {
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" {
            logger.notice(
                "tracing is off: OTEL_SDK_DISABLED=true overrides --otlp-endpoint",
                metadata: ["otlp_endpoint": "\(endpoint)"])
            return nil
        }
        return try CallTracing(endpoint: endpoint, logger: logger)
    }

    private init(endpoint: String, logger: Logger) throws {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "segment-server"
        configuration.resourceAttributes["service.version"] = BuildInfo.current.version
        configuration.diagnosticLogger = .custom(logger)
        configuration.propagators = [.traceContext]
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.endpoint = endpoint
        configuration.traces.otlpExporter.protocol = .grpc
        // A collector that is away must not hold a shutdown for long: the last export gives up
        // after this (OTEL_EXPORTER_OTLP_TIMEOUT and OTEL_BSP_EXPORT_TIMEOUT override it).
        configuration.traces.otlpExporter.timeout = .seconds(3)
        configuration.traces.batchSpanProcessor.exportTimeout = .seconds(3)
        do {
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            service = backend.service
            begin = Self.spans(of: backend.factory)
        } catch {
            throw ServerSetupError(
                "--otlp-endpoint \(endpoint): tracing cannot start: \(error) (this build exports OTLP over gRPC only; check the OTEL_* variables)"
            )
        }
    }

    /// Starts a call's span with `tracer`, in the trace its metadata names.
    private static func spans(of tracer: some Tracer) -> @Sendable (String, Metadata) -> any Span {
        { name, metadata in
            var context = ServiceContext.topLevel
            // Only the trace context headers: a propagator that cannot read them logs the carrier
            // it was given, which must never hold the caller's token.
            var carrier = Metadata()
            for key in ["traceparent", "tracestate"] {
                for value in metadata[stringValues: key] { carrier.addString(value, forKey: key) }
            }
            tracer.extract(carrier, into: &context, using: MetadataExtractor())
            return tracer.startSpan(name, context: context, ofKind: .server)
        }
    }

    /// A span for a call that has just arrived; its caller ends it.
    func start(_ method: MethodDescriptor, metadata: Metadata, peer: String) -> any Span {
        let span = start(named: method.fullyQualifiedMethod, metadata: metadata, peer: peer)
        span.attributes["rpc.system"] = "grpc"
        span.attributes["rpc.service"] = method.service.fullyQualifiedService
        span.attributes["rpc.method"] = method.method
        return span
    }

    /// A span named `name`, with the client's address.
    func start(named name: String, metadata: Metadata, peer: String) -> any Span {
        let span = begin(name, metadata)
        // "ipv4:127.0.0.1:50000", "ipv6:[::1]:50000", "http:127.0.0.1:50000": the address alone
        // and the port, as the conventions spell them.
        if let colon = peer.firstIndex(of: ":"), let last = peer.lastIndex(of: ":"), colon < last {
            let address = peer[peer.index(after: colon)..<last]
            span.attributes["client.address"] = String(
                address.hasPrefix("[") ? address.dropFirst().dropLast() : address)
            if let port = Int(peer[peer.index(after: last)...]) {
                span.attributes["client.port"] = port
            }
        }
        if peer.hasPrefix("http:") { span.attributes["segmentation.gateway"] = true }
        return span
    }

    /// Ends a call's span with what its log line says: the status, the model version it served,
    /// the reason and message of a failure.
    static func end(
        _ span: any Span, error: RPCError?, reason: String?, model: (name: String, version: Int)?
    ) {
        span.attributes["rpc.grpc.status_code"] = Int(error?.code.rawValue ?? 0)
        if let model {
            span.attributes["segmentation.model"] = model.name
            span.attributes["segmentation.model_version"] = model.version
        }
        if let error {
            span.attributes["error.type"] = reason ?? StatusName.of(error.code)
            // OpenTelemetry's gRPC conventions: only server faults mark a server span as an error.
            if Self.serverFaults.contains(error.code) {
                span.setStatus(SpanStatus(code: .error, message: error.message))
            }
        }
        span.end()
    }

    /// The codes the RPC semantic conventions count as a server span's error.
    static let serverFaults: Set<RPCError.Code> = [
        .unknown, .deadlineExceeded, .unimplemented, .internalError, .unavailable, .dataLoss,
    ]
}

/// The trace id a span carries (hex), for the call's log line.
extension Span {
    var traceID: String? { context.otelTraceID }
}

/// Reads W3C trace context from a call's metadata.
private struct MetadataExtractor: Extractor {
    func extract(key: String, from carrier: Metadata) -> String? {
        carrier[stringValues: key].first(where: { _ in true })
    }
}
