import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import SegmentationAPI
import SegmentationCodec
import ServiceLifecycle

/// Bounds on what clients may ask of training, each a server flag with a documented default.
public struct TrainingLimits: Sendable {
    /// Most segments (--max-k).
    public var maximumK = 100
    /// Most k-means restarts per k (--max-n-init).
    public var maximumNInit = 100
    /// Most Lloyd iterations per restart (--max-iter).
    public var maximumIterations = 10_000
    /// Most columns in an uploaded file (--max-columns); also bounds the features a spec names.
    public var maximumColumns = 1_000
    /// Most data rows in one dataset, all its files together (--max-rows).
    public var maximumRows = 50_000_000

    public init() {}
}

/// Everything the server is configured with.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port = 50051
    public var dataDirectory = "./segmentation-data"
    public var maximumConcurrentJobs = 1
    /// Jobs waiting to run; more are refused with RESOURCE_EXHAUSTED.
    public var maximumQueuedJobs = 100
    /// Largest dataset upload accepted.
    public var maximumUploadBytes: Int64 = 2 << 30
    /// Largest total of all stored datasets.
    public var maximumDatasetBytes: Int64 = 20 << 30
    /// Largest single request message (a Score batch, an upload chunk): larger ones are refused
    /// with RESOURCE_EXHAUSTED. The transport itself resets streams whose message passes four
    /// times this (it must buffer a message before we can refuse it).
    public var maximumMessageBytes = 16 << 20
    /// Decoded models kept in memory, in bytes of serialized model (LRU).
    public var modelCacheBytes = 512 << 20
    /// What a training spec and a dataset may ask for.
    public var limits = TrainingLimits()
    /// `role:sha256-hex` lines (--auth-tokens); nil: no authentication (loopback only, unless
    /// `allowInsecure`).
    public var tokensFile: String?
    /// Listen on a non-loopback address without tokens (--insecure).
    public var allowInsecure = false
    /// PEM certificate chain and private key (--tls-cert, --tls-key): TLS instead of plaintext.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// PEM CA whose certificates clients must present (--tls-client-ca): mutual TLS.
    public var tlsClientCA: String?

    /// Plaintext, TLS, or mutual TLS, as configured.
    func transportSecurity() throws -> HTTP2ServerTransport.Posix.TransportSecurity {
        switch (tlsCertificate, tlsKey) {
        case (nil, nil):
            guard tlsClientCA == nil else { throw ServerSetupError("--tls-client-ca needs --tls-cert and --tls-key") }
            return .plaintext
        case (let certificate?, let key?):
            for (flag, path) in [("--tls-cert", certificate), ("--tls-key", key)] + (tlsClientCA.map { [("--tls-client-ca", $0)] } ?? [])
            where !FileManager.default.isReadableFile(atPath: path) {
                throw ServerSetupError("\(flag) \(path) cannot be read")
            }
            let chain: [TLSConfig.CertificateSource] = [.file(path: certificate, format: .pem)]
            let privateKey = TLSConfig.PrivateKeySource.file(path: key, format: .pem)
            guard let ca = tlsClientCA else { return .tls(certificateChain: chain, privateKey: privateKey) }
            return .mTLS(certificateChain: chain, privateKey: privateKey) { tls in
                tls.trustRoots = .certificates([.file(path: ca, format: .pem)])
                // Client certificates name people or services, not hosts: the chain is checked, not a host name.
                tls.clientCertificateVerification = .noHostnameVerification
            }
        default:
            throw ServerSetupError("TLS needs both --tls-cert and --tls-key")
        }
    }

    public init() {}
}

/// The model server: registry, dataset store, job manager and model repository behind the gRPC
/// services, on the HTTP/2 transport. Runs as a swift-service-lifecycle `Service`: on SIGINT or
/// SIGTERM it stops accepting calls, stops running jobs (marking them failed), and lets
/// in-flight calls finish.
public final class SegmentationServer: Service, Sendable {
    public let configuration: ServerConfiguration
    public let registry: any Registry
    /// The one write path for models, versions and aliases, and what scoring serves.
    public let models: ModelRepository
    public let jobs: JobManager
    public let health: HealthStatus
    public let counters = ServerCounters()
    /// The bearer tokens in force (reload on SIGHUP); nil when authentication is off.
    public let tokens: TokenStore?
    private let transport: HTTP2ServerTransport.Posix
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let logger: Logger

    /// - Parameter registry: the storage of models, datasets and jobs; nil: the embedded SQLite
    ///   registry in the data directory.
    /// - Parameter hooks: points where tests hold the server's work.
    public init(configuration: ServerConfiguration, logger: Logger, registry injected: (any Registry)? = nil,
                hooks: ServerHooks = ServerHooks()) async throws {
        self.configuration = configuration
        self.logger = logger
        let directory = configuration.dataDirectory
        if let file = configuration.tokensFile {
            tokens = try TokenStore(path: file)
        } else {
            guard Self.isLoopback(configuration.host) || configuration.allowInsecure else {
                throw ServerSetupError("refusing to listen on \(configuration.host) without --auth-tokens: anyone reaching the port "
                                       + "could delete models; give a tokens file, or --insecure to accept that")
            }
            tokens = nil
            logger.warning("authentication is OFF: every client may call every method (give --auth-tokens FILE to require tokens)")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        registry = try injected ?? SQLiteRegistry(path: (directory as NSString).appendingPathComponent("registry.sqlite"))
        let interrupted = try await registry.failUnfinishedJobs(reason: "server restarted", at: Date.wholeSeconds())
        if interrupted > 0 { logger.warning("marked jobs failed after a restart", metadata: ["count": "\(interrupted)"]) }
        models = ModelRepository(registry: registry, cacheBytes: configuration.modelCacheBytes)
        try await models.load()
        for damaged in models.problems() {
            logger.error("a stored model version cannot be served",
                         metadata: ["model": "\(damaged.name)@\(damaged.version)", "reason": "\(damaged.reason)"])
        }
        let store = try DatasetStore(dataDirectory: directory, maximumBytes: configuration.maximumUploadBytes,
                                     quotaBytes: configuration.maximumDatasetBytes)
        // Every id, readable record or not: a damaged row must never cost the dataset its files.
        let orphans = store.removeOrphans(keeping: try await registry.datasetIDs())
        if orphans > 0 { logger.warning("removed dataset folders no record names", metadata: ["count": "\(orphans)"]) }
        jobs = JobManager(registry: registry, models: models, store: store,
                          maximumConcurrentJobs: configuration.maximumConcurrentJobs,
                          maximumQueuedJobs: configuration.maximumQueuedJobs, logger: logger, observer: hooks.training)
        health = HealthStatus()
        transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: configuration.host, port: configuration.port),
            transportSecurity: try configuration.transportSecurity(),
            config: .defaults { $0.rpc.maxRequestPayloadSize = 4 * configuration.maximumMessageBytes })
        // Every call but health's is authenticated (when tokens are on) and logged once.
        let calls = CallInterceptor(tokens: tokens, logger: logger)
        server = GRPCServer(transport: transport, services: [
            DatasetService(registry: registry, store: store, limits: configuration.limits, afterChunk: hooks.afterUploadChunk),
            TrainingService(registry: registry, jobs: jobs, store: store, limits: configuration.limits),
            ModelRegistryService(models: models, store: store),
            ScoringService(models: models, counters: counters, beforeLargeScore: hooks.beforeLargeScore),
            HealthService(health: health),
        ], interceptorPipeline: [.apply(calls, to: .allExcluding(services: [Grpc_Health_V1_Health.descriptor], methods: []))])
    }

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

    /// Serves until shut down; SERVING as soon as it listens.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    // Every call's request messages are checked against the limit (SegmentationCodec).
                    try await MessageSizeLimit.$bytes.withValue(self.configuration.maximumMessageBytes) {
                        try await self.server.serve()
                    }
                }
                let port = try await self.listeningPort
                self.health.set(.serving)
                self.logger.info("serving", metadata: ["address": "\(self.configuration.host):\(port)",
                                                       "data": "\(self.configuration.dataDirectory)"])
            }
        } onGracefulShutdown: {
            Task { await self.shutDown() }
        }
    }

    /// Stops accepting calls and jobs, ends running jobs, then lets in-flight calls finish.
    public func shutDown() async {
        logger.info("shutting down")
        health.shutDown()
        await jobs.shutdown()
        server.beginGracefulShutdown()
    }
}

/// A configuration the server refuses to start with.
public struct ServerSetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
