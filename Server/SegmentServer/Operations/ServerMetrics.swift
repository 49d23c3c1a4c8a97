import CoreMetrics
import Foundation
import GRPCCore
import Prometheus
import SegmentationEngine
import Synchronization

/// The server's measurements, recorded through swift-metrics into a Prometheus registry of the
/// server's own. No process-wide `MetricsSystem.bootstrap`: two servers in one process (tests)
/// count apart, and a library embedding the server keeps its own metrics backend.
///
/// RPC metrics follow the names go-grpc-prometheus made common, so existing gRPC dashboards work:
/// `grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}` and the latency
/// histogram `grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}`. The rest are ours (`segment_*`) and
/// the usual process gauges (`process_*`). docs/operations.md (Metrics) lists them all.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    /// Handles by label set: making one through the factory validates names and takes the
    /// registry's lock, which a call should not pay every time.
    private let rpcHandled = Mutex<[RPCKey: CoreMetrics.Counter]>([:])
    private let rpcLatency = Mutex<[MethodKey: CoreMetrics.Timer]>([:])
    private let startTime = Date().timeIntervalSince1970
    private let scoredCustomers: CoreMetrics.Counter
    private let uploadBytes: CoreMetrics.Counter
    private let stoppedScores: CoreMetrics.Counter
    private let stoppedScoresSoFar = Atomic<Int>(0)
    private let connectionsClosed: [String: CoreMetrics.Counter]
    private let streamsRefused: CoreMetrics.Counter
    private let streamErrors = Mutex<[RPCError.Code?: CoreMetrics.Counter]>([:])

    private struct MethodKey: Hashable { var service: String; var method: String }
    private struct RPCKey: Hashable { var method: MethodKey; var code: RPCError.Code? }

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Calls take from well under a millisecond (a cached score) to minutes (a large upload).
        factory.durationHistogramBuckets["grpc_server_handling_seconds"] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
            .seconds(60),
        ]
        factory.durationHistogramBuckets["segment_training_duration_seconds"] = [
            .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15),
            .seconds(30),
            .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
        ]
        self.factory = factory
        scoredCustomers = CoreMetrics.Counter(
            label: "segment_scored_customers_total", factory: factory)
        uploadBytes = CoreMetrics.Counter(label: "segment_upload_bytes_total", factory: factory)
        stoppedScores = CoreMetrics.Counter(
            label: "segment_scores_stopped_early_total", factory: factory)
        connectionsClosed = Dictionary(
            uniqueKeysWithValues: ["over_limit", "handshake_timeout", "idle"].map {
                (
                    $0,
                    CoreMetrics.Counter(
                        label: "segment_connections_closed_total", dimensions: [("reason", $0)],
                        factory: factory)
                )
            })
        streamsRefused = CoreMetrics.Counter(
            label: "segment_streams_refused_total", factory: factory)
        // Present from the start, at zero, so a dashboard's rate() has a first sample.
        for state in ["succeeded", "failed", "cancelled"] { _ = jobsFinished(state) }
    }

    // MARK: Recording

    /// One finished call: its status code (nil: OK) and how long it took.
    func rpcFinished(service: String, method: String, code: RPCError.Code?, duration: Duration) {
        let key = MethodKey(service: service, method: method)
        let counter = rpcHandled.withLock { handles in
            let rpc = RPCKey(method: key, code: code)
            if let counter = handles[rpc] { return counter }
            let counter = CoreMetrics.Counter(
                label: "grpc_server_handled_total",
                dimensions: Self.labels(service, method) + [("grpc_code", Self.name(of: code))],
                factory: factory)
            handles[rpc] = counter
            return counter
        }
        let timer = rpcLatency.withLock { handles in
            if let timer = handles[key] { return timer }
            let timer = CoreMetrics.Timer(
                label: "grpc_server_handling_seconds", dimensions: Self.labels(service, method),
                factory: factory)
            handles[key] = timer
            return timer
        }
        counter.increment()
        timer.recordNanoseconds(duration.nanoseconds)
    }

    /// A training job ended: succeeded, failed or cancelled; a succeeded one's duration is recorded.
    func jobFinished(state: String, duration: Duration?) {
        jobsFinished(state).increment()
        if let duration {
            CoreMetrics.Timer(label: "segment_training_duration_seconds", factory: factory)
                .recordNanoseconds(duration.nanoseconds)
        }
    }

    func customersScored(_ count: Int) { scoredCustomers.increment(by: count) }

    /// `segment_drift_psi{model,version,feature}`: the population stability index of the last
    /// 24 hours' scoring against the training data, per clustering feature and for the segment
    /// shares (feature="segments"); `segment_drift_customers{model,version}` how many it rests on.
    func driftMeasured(model: String, version: Int, report: DriftReport) {
        let version = String(version)
        for item in report.features + [report.segments] {
            gauge(
                "segment_drift_psi",
                [("model", model), ("version", version), ("feature", item.name)]
            ).record(item.psi)
        }
        gauge("segment_drift_customers", [("model", model), ("version", version)])
            .record(report.customers)
    }

    func uploadReceived(bytes: Int) { uploadBytes.increment(by: bytes) }

    /// A large Score request stopped mid-way (its client cancelled or its deadline passed).
    func scoreStoppedEarly() {
        stoppedScores.increment()
        stoppedScoresSoFar.add(1, ordering: .relaxed)
    }

    /// Large Score requests stopped mid-way since the server started.
    public var scoresStoppedEarly: Int { stoppedScoresSoFar.load(ordering: .relaxed) }

    /// A connection the server closed itself: `over_limit` (--max-connections), `handshake_timeout`
    /// (--handshake-timeout) or `idle` (no call past --idle-timeout, its client not closing it).
    func connectionClosed(reason: String) {
        connectionsClosed[reason]?.increment()
    }

    /// One request of a ScoreStream answered with a ScoreError (the stream itself goes on, OK).
    func scoreStreamRequestFailed(code: RPCError.Code?) {
        // One handle per code, made once (making one takes the registry's lock).
        streamErrors.withLock { handles in
            if handles[code] == nil {
                handles[code] = CoreMetrics.Counter(
                    label: "segment_score_stream_errors_total",
                    dimensions: [("grpc_code", Self.name(of: code))],
                    factory: factory)
            }
            return handles[code]!
        }.increment()
    }

    /// A stream over the advertised MAX_CONCURRENT_STREAMS, refused alone (REFUSED_STREAM).
    func streamRefused() {
        streamsRefused.increment()
    }

    /// grpc_type, grpc_service, grpc_method, as go-grpc-prometheus has them.
    private static func labels(_ service: String, _ method: String) -> [(String, String)] {
        [
            ("grpc_type", APISchema.methodTypes[service + "/" + method] ?? "unary"),
            ("grpc_service", service), ("grpc_method", method),
        ]
    }

    /// The code as go-grpc-prometheus labels it (Go's `codes.Code.String()`): OK, NotFound, Internal...
    static func name(of code: RPCError.Code?) -> String {
        guard let code else { return "OK" }
        return switch code {
        case .cancelled: "Canceled"
        case .invalidArgument: "InvalidArgument"
        case .deadlineExceeded: "DeadlineExceeded"
        case .notFound: "NotFound"
        case .alreadyExists: "AlreadyExists"
        case .permissionDenied: "PermissionDenied"
        case .resourceExhausted: "ResourceExhausted"
        case .failedPrecondition: "FailedPrecondition"
        case .aborted: "Aborted"
        case .outOfRange: "OutOfRange"
        case .unimplemented: "Unimplemented"
        case .internalError: "Internal"
        case .unavailable: "Unavailable"
        case .dataLoss: "DataLoss"
        case .unauthenticated: "Unauthenticated"
        default: "Unknown"
        }
    }

    private func jobsFinished(_ state: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(
            label: "segment_jobs_finished_total", dimensions: [("state", state)], factory: factory)
    }

    // MARK: Scrape

    /// What the server holds right now, sampled when scraped.
    struct Snapshot {
        var queuedJobs: Int
        var runningJobs: Int
        var models: Int
        var versions: Int
        var cachedModels: Int
        var openConnections: Int
    }

    /// The Prometheus text exposition, with the sampled gauges brought up to date first.
    func exposition(_ snapshot: Snapshot) -> [UInt8] {
        gauge("segment_jobs", [("state", "queued")]).record(snapshot.queuedJobs)
        gauge("segment_jobs", [("state", "running")]).record(snapshot.runningJobs)
        gauge("segment_models").record(snapshot.models)
        gauge("segment_model_versions").record(snapshot.versions)
        gauge("segment_models_decoded").record(snapshot.cachedModels)
        gauge("segment_open_connections").record(snapshot.openConnections)
        let memory = ProcessMemory.current()
        gauge("process_resident_memory_bytes").record(memory.residentBytes)
        gauge("process_virtual_memory_bytes").record(memory.virtualBytes)
        gauge("process_open_fds").record(ProcessMemory.openFileDescriptors())
        gauge("process_start_time_seconds").record(startTime)
        return registry.emitToBuffer()
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Gauge
    {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
    }
}

/// The process's memory and descriptors, from /proc (Linux); zeros where /proc is absent.
enum ProcessMemory {
    static func current() -> (residentBytes: Int, virtualBytes: Int) {
        // statm: size resident shared text lib data dt, in pages.
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else {
            return (0, 0)
        }
        let pages = text.split(separator: " ").compactMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard pages.count >= 2 else { return (0, 0) }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        return (pages[1] * pageSize, pages[0] * pageSize)
    }

    static func openFileDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }
}

extension Duration {
    /// Whole nanoseconds (swift-metrics' timers take them), saturating beyond ~292 years.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : whole + attoseconds / 1_000_000_000
    }
}
