import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import SegmentationAPI
import SegmentationCodec
import SegmentationMapping
import ServiceLifecycle

/// The model server: registry, dataset store, job manager and model repository behind the gRPC
/// services, on the HTTP/2 transport. Runs as a swift-service-lifecycle `Service`: on SIGINT or
/// SIGTERM it stops accepting calls, stops running jobs (marking them failed), and lets
/// in-flight calls finish.
public final class SegmentationServer: Service, Sendable {
    public let configuration: ServerConfiguration
    public let registry: any Registry
    /// The one write path for models, versions and aliases, and what scoring serves.
    public let models: ServedModels
    public let jobs: JobManager
    /// What scoring saw, per version and hour, for drift.
    let drift: DriftRecorder
    /// Customers' live state and segments (nil: a registry that cannot hold them).
    public let live: LiveStores?
    public let health = HealthStatus()
    /// Ends the shutdown's drain just before --drain-seconds run out, while connections are open.
    let drain = DrainDeadline()
    public let metrics = ServerMetrics()
    /// The bearer tokens in force (reload on SIGHUP); nil when authentication is off.
    public let tokens: TokenStore?
    private let store: DatasetStore
    /// Held from start to end: one server per data directory.
    private let directoryLock: DataDirectoryLock
    private let metricsEndpoint: MetricsEndpoint?
    /// The HTTP/JSON gateway (--http-port): the same services and interceptors, over HTTP/1.1.
    private let gateway: HTTPGateway?
    /// Spans to the OTLP collector (--otlp-endpoint), when on.
    private let tracing: CallTracing?
    /// The registry's connection pool when the server opened it (PostgreSQL): one of its services.
    private let registryPool: (any Service)?
    private let transport: HTTP2ServerTransport.Posix
    private let connections: ConnectionGuards
    /// What still runs, for a shutdown that overruns its drain.
    private let parts = RunningParts()
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let logger: Logger

    /// - Parameter registry: the storage of models, datasets and jobs; nil: the embedded SQLite
    ///   registry in the data directory.
    /// - Parameter hooks: points where tests hold the server's work.
    public init(
        configuration: ServerConfiguration, logger: Logger,
        registry injected: (any Registry)? = nil,
        hooks: ServerHooks = ServerHooks()
    ) async throws {
        self.configuration = configuration
        self.logger = logger
        let directory = configuration.dataDirectory
        if let file = configuration.tokensFile {
            tokens = try TokenStore(path: file)
        } else {
            guard Self.isLoopback(configuration.host) || configuration.allowInsecure else {
                throw ServerSetupError(
                    "refusing to listen on \(configuration.host) without --auth-tokens: anyone reaching the port "
                        + "could delete models; give a tokens file, or --insecure to accept that")
            }
            tokens = nil
            logger.warning(
                "authentication is OFF: every client may call every method (give --auth-tokens FILE to require tokens)"
            )
        }
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        directoryLock = try DataDirectoryLock(directory: directory)
        if let injected {
            (registry, registryPool) = (injected, nil)
        } else if let postgres = configuration.postgres {
            let shared = try await PostgresRegistry(
                settings: postgres, logger: logger, runsPool: false)
            (registry, registryPool) = (shared, shared.pool)
            logger.info("registry: PostgreSQL", metadata: ["registry": "\(postgres)"])
        } else {
            registry = try SQLiteRegistry(
                path: (directory as NSString).appendingPathComponent("registry.sqlite"))
            registryPool = nil
        }
        models = ServedModels(registry: registry, cacheBytes: configuration.modelCacheBytes)
        store = try DatasetStore(
            dataDirectory: directory, datasetsDirectory: configuration.datasetsDirectory,
            replicaID: configuration.effectiveReplicaID,
            maximumBytes: configuration.maximumUploadBytes,
            quotaBytes: configuration.maximumDatasetBytes)
        jobs = JobManager(
            registry: registry, models: models, store: store,
            maximumConcurrentJobs: configuration.maximumConcurrentJobs,
            maximumQueuedJobs: configuration.maximumQueuedJobs, logger: logger,
            observer: hooks.training,
            metrics: metrics,
            // The registry's own queue when replicas share it, else this server's.
            queue: SharedJobQueue(registry, owner: configuration.effectiveReplicaID, logger: logger)
                ?? LocalJobQueue())
        let served = models
        drift = DriftRecorder(
            registry: registry, metrics: metrics, logger: logger,
            flushInterval: configuration.driftFlushInterval,
            reference: { name, version in
                try? await served.resolve(
                    ModelReference(name: name, selector: .version(version))
                ).model.driftReference
            })
        live = (registry as? any CatalogStore).map {
            LiveStores(registry: $0, models: served, limits: configuration.live)
        }
        let connections = ConnectionGuards(
            limits: ConnectionLimits(
                maximumConnections: configuration.maximumConnections,
                handshakeTimeout: .seconds(Int64(configuration.handshakeTimeoutSeconds)),
                // grpc-swift sends GOAWAY and a PING at the idle timeout and waits for the ACK; a client
                // that never sends it is cut off 10 s later (sooner for idle timeouts under 10 s).
                idleCut: .seconds(
                    Int64(
                        configuration.idleTimeoutSeconds + min(10, configuration.idleTimeoutSeconds)
                    )),
                headerListBytes: ConnectionLimits.decodableHeaderListBytes,
                advertisedStreams: configuration.maximumConcurrentStreams), metrics: metrics)
        self.connections = connections
        transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: configuration.host, port: configuration.port),
            transportSecurity: try configuration.transportSecurity(),
            config: .defaults {
                $0.rpc.maxRequestPayloadSize = 4 * configuration.maximumMessageBytes
                // gzip and deflate both ways: a request compressed with either is read (its size
                // limit applies to the decompressed message), and a reply is compressed with the
                // first of them the client's grpc-accept-encoding lists.
                $0.compression.enabledAlgorithms = .all
                // Advertised in SETTINGS, so compliant clients hold calls back instead of having
                // the connection reset (swift-nio-http2 answers a stream over it with a
                // connection-level PROTOCOL_ERROR).
                // swift-nio-http2 enforces this larger number; clients are told the flag's
                // (ConnectionGuard), and a stream between the two is refused alone.
                $0.http2.maxConcurrentStreams = connections.limits.enforcedStreams
                // A connection with no call for this long is closed (GOAWAY): idle connections
                // cannot pile up and hold file descriptors for ever.
                $0.connection.maxIdleTime = .seconds(configuration.idleTimeoutSeconds)
                // --max-connections, --handshake-timeout, the idle cut and the header list size.
                $0.channelDebuggingCallbacks = connections.callbacks
            })
        // Every call is counted and logged once; all but health's and reflection's are authenticated
        // (when tokens are on) and wait for the startup checks.
        let tracing = try configuration.otlpEndpoint.flatMap {
            try CallTracing.make(endpoint: $0, logger: logger)
        }
        self.tracing = tracing
        let calls = CallInterceptor(
            tokens: tokens, logger: logger, metrics: metrics, health: health,
            maximumHeaderBytes: configuration.maximumHeaderBytes, drain: drain, tracing: tracing)
        let reflection = ReflectionIndex(services: Self.serviceNames)
        var services: [any RegistrableRPCService] = [
            DatasetService(
                registry: registry, store: store, limits: configuration.limits,
                metrics: metrics,
                afterChunk: hooks.afterUploadChunk),
            TrainingService(
                registry: registry, jobs: jobs, store: store, limits: configuration.limits),
            ModelRegistryService(models: models, store: store, drift: drift),
            ScoringService(
                models: models, metrics: metrics, health: health, drain: drain,
                drift: configuration.measureDrift ? drift : nil,
                beforeLargeScore: hooks.beforeLargeScore),
            HealthService(health: health),
            ReflectionService(index: reflection, health: health),
            ReflectionServiceV1Alpha(index: reflection, health: health),
        ]
        if let live { services.append(LiveService(stores: live, health: health)) }
        server = GRPCServer(transport: transport, services: services, interceptors: [calls])
        gateway = try configuration.httpPort.map { port in
            HTTPGateway(
                host: configuration.host, port: port,
                maximumBodyBytes: configuration.maximumMessageBytes,
                limits: GatewayLimits(
                    maximumConnections: configuration.maximumConnections,
                    idleSeconds: configuration.idleTimeoutSeconds,
                    maximumHeaderBytes: configuration.maximumHeaderBytes),
                tls: try configuration.gatewayTLS(), services: services, interceptors: [calls],
                tracing: tracing, logger: logger)
        }
        if let port = configuration.metricsPort {
            let (metrics, jobs, models) = (self.metrics, self.jobs, self.models)
            metricsEndpoint = try await Self.opening("--metrics-port \(port)") {
                try await MetricsEndpoint(host: configuration.host, port: port) {
                    let (queued, running) = await jobs.counts
                    let inventory = models.inventory
                    return metrics.exposition(
                        .init(
                            queuedJobs: queued, runningJobs: running, models: inventory.models,
                            versions: inventory.versions, cachedModels: inventory.decoded,
                            openConnections: connections.openConnections))
                }
            }
        } else {
            metricsEndpoint = nil
        }
    }

    /// What must hold before any call but health's is served: jobs a crash left unfinished are
    /// marked failed, the model tables are loaded (damaged versions named in the log), and dataset
    /// folders no record names are removed.
    private func startUp() async throws {
        // On a shared registry nothing: jobs a crash left "running" stop being marked alive, and
        // the shared queue runs them again elsewhere (or here), or fails them after two tries.
        let interrupted =
            registry is any SharedRegistry
            ? 0
            : try await registry.failUnfinishedJobs(
                reason: "server restarted", at: Date.wholeSeconds(), owner: nil)
        if interrupted > 0 {
            logger.warning(
                "marked jobs failed after a restart", metadata: ["count": "\(interrupted)"])
        }
        try await models.load()
        for damaged in models.problems() {
            logger.error(
                "a stored model version cannot be served",
                metadata: [
                    "model": "\(damaged.name)@\(damaged.version)", "reason": "\(damaged.reason)",
                ])
        }
        // Only in a datasets folder this registry owns: another registry's folder (a --datasets-dir
        // shared by mistake) is never cleaned. Every id, readable record or not: a damaged row
        // must never cost the dataset its files.
        switch try store.claim(for: registryIdentity) {
        case .ours:
            let orphans = store.removeOrphans(keeping: try await registry.datasetIDs())
            if orphans > 0 {
                logger.warning(
                    "removed dataset folders no record names", metadata: ["count": "\(orphans)"])
            }
        case .another(let owner):
            logger.error(
                "the datasets folder belongs to another registry: nothing in it is cleaned up; give this server its own --datasets-dir (or, if the folder really is this registry's now, delete its .segment-registry file)",
                metadata: [
                    "datasets": "\(store.root)", "owner": "\(owner)",
                    "this_registry": "\(registryIdentity)",
                ])
        }
    }

    /// Names this server's registry in the datasets folder's ownership marker: the PostgreSQL
    /// database (as configured; replicas name it alike), or the SQLite file's full path.
    private var registryIdentity: String {
        if let postgres = configuration.postgres { return postgres.description }
        if registry is SQLiteRegistry {
            let path = (configuration.dataDirectory as NSString).appendingPathComponent(
                "registry.sqlite")
            return "sqlite:"
                + URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        }
        return "injected:\(type(of: registry)):"
            + URL(fileURLWithPath: configuration.dataDirectory).standardizedFileURL.path
    }

    /// Probes the registry every `registryProbeInterval`: NOT_SERVING once
    /// `registryProbeFailures` probes in a row fail or do not answer within
    /// `registryProbeTimeout`, SERVING again once one answers. After a failure the next probe
    /// comes sooner (`registryProbeRetry`), so a real outage still shows within seconds while one
    /// slow answer (a busy machine starving the probe) does not pull a working server from its
    /// load balancer. Ends when cancelled.
    private func watchRegistry() async {
        let probe = RegistryProbe(registry: registry, timeout: configuration.registryProbeTimeout)
        var failures = 0
        while (try? await Task.sleep(for: nextProbeDelay(afterFailures: failures))) != nil {
            guard let problem = await probe.problem() else {
                failures = 0
                if health.phase == .registryUnavailable {
                    health.set(.serving)
                    logger.notice("the registry answers again: serving")
                }
                continue
            }
            failures += 1
            if failures >= configuration.registryProbeFailures, health.phase == .serving {
                health.set(.registryUnavailable)
                logger.error(
                    "the registry does not answer: its services' health (and the whole server's) is NOT_SERVING until it does; scoring stays SERVING",
                    metadata: ["error": "\(problem)", "failed_probes": "\(failures)"])
            }
        }
    }

    private func nextProbeDelay(afterFailures failures: Int) -> Duration {
        failures == 0
            ? configuration.registryProbeInterval
            : min(configuration.registryProbeInterval, configuration.registryProbeRetry)
    }

    /// A port that cannot be opened is a setup error naming its flag, not a transport trace.
    private static func opening<T>(_ flag: String, _ open: () async throws -> T) async throws -> T {
        do {
            return try await open()
        } catch {
            let reason =
                "\(error)".contains("in use") ? "the address is already in use" : "\(error)"
            throw ServerSetupError("\(flag) cannot be opened: \(reason)")
        }
    }

    /// Every service registered above, as reflection lists them.
    static let serviceNames = [
        Segmentation_V1_DatasetService.descriptor, Segmentation_V1_TrainingService.descriptor,
        Segmentation_V1_ModelRegistry.descriptor, Segmentation_V1_ScoringService.descriptor,
        Segmentation_V1_LiveSegmentationService.descriptor,
        Grpc_Health_V1_Health.descriptor, Grpc_Reflection_V1_ServerReflection.descriptor,
        Grpc_Reflection_V1alpha_ServerReflection.descriptor,
    ].map(\.fullyQualifiedService)

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The port actually listened on (useful with port 0), once listening.
    public var listeningPort: Int {
        get async throws {
            guard let address = try await transport.listeningAddress.ipv4 else {
                throw RPCError(code: .internalError, message: "the server is not listening on IPv4")
            }
            return address.port
        }
    }

    /// The port the metrics endpoint listens on, when it is on.
    public var metricsPort: Int? { metricsEndpoint?.port }

    /// The port the HTTP gateway listens on, once listening (nil when it is off or not yet up).
    public var httpPort: Int? { gateway?.port }

    /// Serves until shut down: runs `services` in a ServiceGroup of their own (a server embedded
    /// in a program or a test; `segment-server` puts them in its own group, with the signals).
    /// Health is NOT_SERVING (and other calls UNAVAILABLE) while the startup checks run, SERVING
    /// after them, NOT_SERVING while the registry fails its probe.
    public func run() async throws {
        try await ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services, logger: logger)
        ).run()
    }

    /// The server's long-lived parts, each a service of one ServiceGroup, in the order they
    /// start. A graceful shutdown (SIGTERM, or the gRPC server ending after `shutDown()`) runs
    /// through them in reverse, each once the one after it has ended: the gRPC server first
    /// (jobs stopped, calls drained), then the shared job queue, the startup checks and registry
    /// probe, the change feed and the metrics endpoint, and last the registry's connection pool
    /// and the data directory's lock, which nothing uses by then.
    public var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        var services: [any Service] = [ServerPart("data directory lock", holding: directoryLock)]
        if let registryPool { services.append(registryPool) }
        // Shut down after the gRPC server: the last calls' spans are sent.
        if let tracing { services.append(tracing.service) }
        if let endpoint = metricsEndpoint {
            services.append(part("metrics endpoint") { try await endpoint.run() })
        }
        if let shared = registry as? any SharedRegistry {
            services.append(part("registry change feed") { await self.follow(shared) })
        }
        if let sqlite = registry as? SQLiteRegistry {
            services.append(
                part("registry checkpoints") { await sqlite.keepCheckpointing(logger: self.logger) }
            )
        }
        services.append(
            part("startup checks and registry probe", untilShutdown: false) {
                // Cancelled by a shutdown during the checks: nothing will serve.
                try await cancelWhenGracefulShutdown {
                    do { try await self.startServing() } catch {
                        // Nothing will ever serve; waiters for SERVING must not wait on.
                        self.health.shutDown()
                        throw error
                    }
                    await self.watchRegistry()
                }
            })
        // Stopped after the gRPC server (listed before it): the last calls' counts are stored.
        services.append(
            part("drift recorder") {
                await self.drift.run()
            })
        if let live {
            services.append(
                part("live time pass") {
                    guard await self.health.untilServing() else { return }
                    await LiveTimePass(
                        stores: live, interval: self.configuration.livePassInterval,
                        trimInterval: self.configuration.liveTrimInterval, logger: self.logger
                    ).run()
                })
        }
        if registry is any SharedRegistry {
            // Claims, heartbeats, and re-queuing other servers' stalled jobs.
            services.append(
                part("shared job queue") {
                    guard await self.health.untilServing() else { return }
                    await self.jobs.runSharedQueue()
                })
        }
        services.append(ServerPart("gRPC server", parts: parts) { try await self.serve() })
        if let gateway {
            // Stopped first: it finishes its requests (it ends itself on the graceful shutdown),
            // then the gRPC server drains.
            services.append(
                part("HTTP gateway", untilShutdown: false) {
                    try await gateway.run()
                })
        }
        return services.map {
            // Any part ending ends the server; a failure (a startup check, say) is the group's.
            .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup)
        }
    }

    /// A part that runs until the group shuts down (when `untilShutdown`, its body is cancelled
    /// then) or until its body ends.
    private func part(
        _ name: String, untilShutdown: Bool = true,
        _ body: @escaping @Sendable () async throws -> Void
    ) -> ServerPart {
        ServerPart(name, parts: parts) {
            if untilShutdown {
                do {
                    try await cancelWhenGracefulShutdown(body)
                } catch is CancellationError where Task.isShuttingDownGracefully {
                    // Cancelled because the server is shutting down: the end it was waiting for
                    // (the metrics endpoint's accept loop throws this), not a failure.
                }
            } else {
                try await body()
            }
        }
    }

    /// The gRPC server, until its drain ends; a graceful shutdown starts `shutDown()`.
    private func serve() async throws {
        let logger = self.logger
        // Cancelled only when the shutdown overran (the ServiceGroup's --drain-seconds): say what
        // was still running, so an overrun can be traced.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                do {
                    // Every call's request messages are checked against the limit (SegmentationCodec).
                    try await MessageSizeLimit.$bytes.withValue(configuration.maximumMessageBytes) {
                        try await self.server.serve()
                    }
                } catch {
                    // Nothing will ever serve; waiters for SERVING must not wait on.
                    self.health.shutDown()
                    throw error
                }
            } onGracefulShutdown: {
                Task { await self.shutDown() }
            }
        } onCancel: {
            // Before any shutdown, the group cancels the server because another part failed (a
            // startup check, say): that error is the group's answer, and nothing overran.
            guard self.parts.shutdownStarted else { return }
            logger.warning(
                "cancelling the server: its shutdown did not end within --drain-seconds",
                metadata: ["still_running": "\(self.parts.description)"])
        }
    }

    /// What still runs and where the shutdown has got to, jobs included (logged when the drain's
    /// time is up; tests name it when a shutdown does not end).
    public var shutdownProgress: String {
        get async { "\(parts.description); jobs: \(await jobs.shutdownProgress)" }
    }

    /// Applies other servers' changes to what this one serves, through the repository's one write
    /// path: a model's versions and aliases re-read when it changed, everything after a gap, and
    /// everything every 30 s besides (the fallback for a notification missed or not applied, or a
    /// feed connection that hangs without failing).
    private func follow(_ shared: any SharedRegistry) async {
        let models = self.models, logger = self.logger
        // Both run until the server's task group cancels them.
        let polling = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(30))
                if Task.isCancelled { return }
                do { try await models.reloadCatalog() } catch {
                    logger.warning(
                        "the periodic catalog re-read failed; it is tried again in 30 s",
                        metadata: ["error": "\(error)"])
                }
            }
        }
        defer { polling.cancel() }
        await shared.followChanges { name in
            do {
                if let name {
                    try await models.refresh(model: name)
                } else {
                    try await models.reloadCatalog()
                }
            } catch {
                logger.warning(
                    "a registry change was not applied; it will be on the next one",
                    metadata: ["model": "\(name ?? "all")", "error": "\(error)"])
            }
        }
    }

    /// Runs the startup checks once listening, then turns SERVING.
    private func startServing() async throws {
        let port = try await listeningPort
        try await startUp()
        try Task.checkCancellation()
        health.markStarted()
        guard health.phase == .serving else { return }
        let http = await gatewayAddress
        logger.info(
            "serving",
            metadata: [
                "address": "\(configuration.host):\(port)",
                "data": "\(configuration.dataDirectory)",
                "metrics": "\(metricsPort.map { "\(configuration.host):\($0)/metrics" } ?? "off")",
                "http": "\(http)",
            ])
    }

    /// Where the HTTP gateway listens ("off" when it is not on), waiting a moment for it to bind.
    private var gatewayAddress: String {
        get async {
            guard let gateway else { return "off" }
            for _ in 0..<100 {
                if let port = gateway.port { return "\(configuration.host):\(port)" }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return "not listening yet"
        }
    }

    /// Stops accepting calls and jobs, ends running jobs, then lets in-flight calls finish.
    public func shutDown() async {
        logger.info(
            "shutting down: no new calls or jobs; draining the calls in flight",
            metadata: ["drain_seconds": "\(configuration.drainSeconds)"])
        health.shutDown()
        let (drain, seconds) = (self.drain, configuration.drainSeconds)
        Task {
            try? await Task.sleep(
                for: .seconds(seconds) - DrainDeadline.margin(drainSeconds: seconds))
            drain.end()
        }
        parts.shutdown(at: "stopping jobs")
        await jobs.shutdown()
        parts.shutdown(at: "draining calls")
        server.beginGracefulShutdown()
    }
}

/// A configuration the server refuses to start with.
public struct ServerSetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
