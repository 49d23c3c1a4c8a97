import Foundation
import GRPCCore
import Prometheus
import SegmentBuild
import SegmentationAPI
import SegmentationEngine
import Synchronization

/// The server's measurements, in a Prometheus registry of the server's own (no process-wide
/// bootstrap: two servers in one process, as in the tests, count apart), every metric with the
/// help text of `MetricCatalog`.
///
/// RPC metrics are go-grpc-prometheus' server set under its names and labels, so existing gRPC
/// dashboards read them: `grpc_server_started_total`, `grpc_server_handled_total{...,grpc_code}`,
/// `grpc_server_msg_received_total`, `grpc_server_msg_sent_total` and the latency histogram
/// `grpc_server_handling_seconds`; status codes are spelled as everywhere else in the server
/// (`StatusName`: OK, NOT_FOUND...). The rest are ours (`segment_*`) and the usual process
/// metrics (`process_*`). docs/operations.md (Metrics) lists them all.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    /// Scoring metrics carry the model and version for this many (model, version) pairs; later
    /// pairs are counted under model="_other", version="_other", so a registry of many versions
    /// cannot grow the scrape without bound.
    public static let maximumModelSeries = 200

    /// Handles by label set: making one takes the registry's lock, which a call should not pay
    /// every time.
    private let counters = Mutex<[SeriesKey: Prometheus.Counter]>([:])
    private let histograms = Mutex<[SeriesKey: DurationHistogram]>([:])
    private let modelSeries = Mutex<Set<ModelSeries>>([])
    private let startTime = Date().timeIntervalSince1970
    private let stoppedScoresSoFar = Atomic<Int>(0)
    private let cpuCounted = Mutex<Double>(0)

    private struct SeriesKey: Hashable {
        var metric: MetricCatalog
        var labels: [String]
    }
    private struct ModelSeries: Hashable { var model: String; var version: String }

    public init() {
        // Present from the start, at zero, so a dashboard's rate() has a first sample.
        for state in ["succeeded", "failed", "cancelled"] {
            _ = counter(.jobsFinished, [("state", state)])
        }
        for reason in ["over_limit", "handshake_timeout", "idle"] {
            _ = counter(.connectionsClosed, [("reason", reason)])
        }
        _ = counter(.streamsRefused)
        _ = counter(.uploadBytes)
        _ = counter(.scoresStoppedEarly)
        let build = BuildInfo.current
        gauge(
            .buildInfo,
            [("version", build.version), ("commit", build.commit), ("built", build.date)]
        )
        .set(1.0)
        gauge(.startTime).set(startTime)
        gauge(.maximumFDs).set(Double(ProcessResources.maximumFileDescriptors()))
    }

    // MARK: Recording

    /// A call began (after its method is known; before it is authenticated).
    func rpcStarted(service: String, method: String) {
        counter(.grpcStarted, Self.labels(service, method)).increment()
    }

    /// The counters of a method's messages received and sent (a call looks them up once, then
    /// counts each message without a lookup).
    func messageCounters(
        service: String, method: String
    ) -> (
        received: Prometheus.Counter, sent: Prometheus.Counter
    ) {
        let labels = Self.labels(service, method)
        return (counter(.grpcReceived, labels), counter(.grpcSent, labels))
    }

    /// One finished call: its status code (nil: OK) and how long it took.
    func rpcFinished(service: String, method: String, code: RPCError.Code?, duration: Duration) {
        let labels = Self.labels(service, method)
        counter(.grpcHandled, labels + [("grpc_code", StatusName.of(code))]).increment()
        histogram(.grpcHandlingSeconds, labels).record(duration)
    }

    /// A training job ended: succeeded, failed or cancelled; a succeeded one's duration is recorded.
    func jobFinished(state: String, duration: Duration?) {
        counter(.jobsFinished, [("state", state)]).increment()
        if let duration { histogram(.trainingSeconds).record(duration) }
    }

    /// One Score request (or one request of a stream) scored `count` customers in `duration`.
    func customersScored(_ count: Int, model: String, version: Int, duration: Duration) {
        let labels = modelLabels(model: model, version: String(version))
        counter(.scoredCustomers, labels).increment(by: Int64(count))
        histogram(.scoreSeconds, labels).record(duration)
    }

    /// `segment_drift_psi{model,version,feature}`: the population stability index of the last
    /// 24 hours' scoring against the training data, per clustering feature and for the segment
    /// shares (feature="segments"); `segment_drift_customers{model,version}` how many it rests on.
    func driftMeasured(model: String, version: Int, report: DriftReport) {
        let version = String(version)
        for item in report.features + [report.segments] {
            gauge(.driftPSI, [("model", model), ("version", version), ("feature", item.name)])
                .set(item.psi)
        }
        gauge(.driftCustomers, [("model", model), ("version", version)])
            .set(Double(report.customers))
    }

    func uploadReceived(bytes: Int) { counter(.uploadBytes).increment(by: Int64(bytes)) }

    /// A large Score request stopped mid-way (its client cancelled or its deadline passed).
    func scoreStoppedEarly() {
        counter(.scoresStoppedEarly).increment()
        stoppedScoresSoFar.add(1, ordering: .relaxed)
    }

    /// Large Score requests stopped mid-way since the server started.
    public var scoresStoppedEarly: Int { stoppedScoresSoFar.load(ordering: .relaxed) }

    /// A connection the server closed itself: `over_limit` (--max-connections), `handshake_timeout`
    /// (--handshake-timeout) or `idle` (no call past --idle-timeout, its client not closing it).
    func connectionClosed(reason: String) {
        counter(.connectionsClosed, [("reason", reason)]).increment()
    }

    /// One request of a ScoreStream answered with a ScoreError (the stream itself goes on, OK).
    func scoreStreamRequestFailed(code: RPCError.Code?) {
        counter(.scoreStreamErrors, [("grpc_code", StatusName.of(code))]).increment()
    }

    /// A stream over the advertised MAX_CONCURRENT_STREAMS, refused alone (REFUSED_STREAM).
    func streamRefused() {
        counter(.streamsRefused).increment()
    }

    /// grpc_type, grpc_service, grpc_method, as go-grpc-prometheus has them.
    private static func labels(_ service: String, _ method: String) -> [(String, String)] {
        [
            ("grpc_type", APISchema.methodTypes[service + "/" + method] ?? "unary"),
            ("grpc_service", service), ("grpc_method", method),
        ]
    }

    /// model and version, or "_other" for both past `maximumModelSeries` pairs.
    private func modelLabels(model: String, version: String) -> [(String, String)] {
        let series = ModelSeries(model: model, version: version)
        let admitted = modelSeries.withLock { seen in
            if seen.contains(series) { return true }
            guard seen.count < Self.maximumModelSeries else { return false }
            seen.insert(series)
            return true
        }
        return admitted
            ? [("model", model), ("version", version)]
            : [("model", "_other"), ("version", "_other")]
    }

    // MARK: Handles

    private func counter(
        _ metric: MetricCatalog, _ labels: [(String, String)] = []
    )
        -> Prometheus.Counter
    {
        let key = SeriesKey(metric: metric, labels: labels.flatMap { [$0.0, $0.1] })
        return counters.withLock { handles in
            if let handle = handles[key] { return handle }
            let handle = registry.makeCounter(descriptor: metric.descriptor, labels: labels)
            handles[key] = handle
            return handle
        }
    }

    private func histogram(
        _ metric: MetricCatalog, _ labels: [(String, String)] = []
    )
        -> DurationHistogram
    {
        let key = SeriesKey(metric: metric, labels: labels.flatMap { [$0.0, $0.1] })
        return histograms.withLock { handles in
            if let handle = handles[key] { return handle }
            let handle = registry.makeDurationHistogram(
                descriptor: metric.descriptor, labels: labels, buckets: Self.buckets(metric))
            handles[key] = handle
            return handle
        }
    }

    /// Gauges are set when scraped or rarely (drift): made through the registry each time.
    private func gauge(_ metric: MetricCatalog, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: metric.descriptor, labels: labels)
    }

    private static func buckets(_ metric: MetricCatalog) -> [Duration] {
        switch metric {
        // Training takes from a fraction of a second to an hour.
        case .trainingSeconds:
            [
                .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15),
                .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
            ]
        // Calls and scores take from well under a millisecond (a cached score) to minutes (a
        // large upload).
        default:
            [
                .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
            ]
        }
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
        gauge(.jobs, [("state", "queued")]).set(Double(snapshot.queuedJobs))
        gauge(.jobs, [("state", "running")]).set(Double(snapshot.runningJobs))
        gauge(.models).set(Double(snapshot.models))
        gauge(.versions).set(Double(snapshot.versions))
        gauge(.decodedModels).set(Double(snapshot.cachedModels))
        gauge(.openConnections).set(Double(snapshot.openConnections))
        let memory = ProcessResources.memory()
        gauge(.residentMemory).set(Double(memory.residentBytes))
        gauge(.virtualMemory).set(Double(memory.virtualBytes))
        gauge(.openFDs).set(Double(ProcessResources.openFileDescriptors()))
        // A counter moves by what was used since the last scrape.
        let cpu = ProcessResources.cpuSeconds()
        let step = cpuCounted.withLock { counted in
            defer { counted = max(counted, cpu) }
            return max(0, cpu - counted)
        }
        counter(.cpuSeconds).increment(by: step)
        return registry.emitToBuffer()
    }
}

/// The process's CPU time, memory and descriptors, from the kernel (/proc on Linux; zeros where
/// /proc is absent).
enum ProcessResources {
    /// User and system CPU time so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        guard getrusage(Int32(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double {
            Double(time.tv_sec) + Double(time.tv_usec) / 1e6
        }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The soft limit on open descriptors (RLIMIT_NOFILE).
    static func maximumFileDescriptors() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        return Int(clamping: limit.rlim_cur)
    }

    static func memory() -> (residentBytes: Int, virtualBytes: Int) {
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
