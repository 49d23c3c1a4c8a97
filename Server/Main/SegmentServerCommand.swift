import ArgumentParser
import Foundation
import Logging
import SegmentBuild
import SegmentServer
import ServiceLifecycle

struct SegmentServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment-server",
        abstract: "Trains and hosts versioned customer-segmentation models over gRPC.",
        discussion: """
            Every option falls back to its environment variable, then to its default. \
            Backups of the embedded store: segment-server backup --to FILE, and segment-server \
            restore --from FILE --data-dir DIR (each with --help).
            """,
        version: BuildInfo.current.line(program: "segment-server"))

    @Option(help: "Address to listen on (env SEGMENT_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on, 0 for any free port (env SEGMENT_PORT; default 50051).")
    var port: Int?

    @Option(
        name: .customLong("data-dir"),
        help:
            "Folder for the registry and datasets (env SEGMENT_DATA_DIR; default ./segmentation-data)."
    )
    var dataDirectory: String?

    @Option(
        name: .customLong("max-jobs"),
        help: "Training jobs run at once (env SEGMENT_MAX_JOBS; default 1).")
    var maximumJobs: Int?

    @Option(
        name: .customLong("max-upload-mb"),
        help: "Largest dataset upload accepted, in MiB (env SEGMENT_MAX_UPLOAD_MB; default 2048).")
    var maximumUploadMegabytes: Int?

    @Option(
        name: .customLong("max-datasets-mb"),
        help:
            "Largest total of all stored datasets, in MiB; uploads past it are refused with RESOURCE_EXHAUSTED (env SEGMENT_MAX_DATASETS_MB; default 20480)."
    )
    var maximumDatasetMegabytes: Int?

    @Option(
        name: .customLong("max-k"),
        help:
            "Most segments a training spec may ask for (env SEGMENT_MAX_K; default 100, at most 1000)."
    )
    var maximumK: Int?

    @Option(
        name: .customLong("max-n-init"),
        help: "Most k-means restarts per k (env SEGMENT_MAX_N_INIT; default 100).")
    var maximumNInit: Int?

    @Option(
        name: .customLong("max-iter"),
        help: "Most Lloyd iterations per restart (env SEGMENT_MAX_ITER; default 10000).")
    var maximumIterations: Int?

    @Option(
        name: .customLong("max-columns"),
        help:
            "Most columns in an uploaded file, and features in a spec (env SEGMENT_MAX_COLUMNS; default 1000)."
    )
    var maximumColumns: Int?

    @Option(
        name: .customLong("max-queued-jobs"),
        help:
            "Jobs waiting to run; more are refused with RESOURCE_EXHAUSTED (env SEGMENT_MAX_QUEUED_JOBS; default 100)."
    )
    var maximumQueuedJobs: Int?

    @Option(
        name: .customLong("live-max-batch-rows"),
        help:
            "Rows in one batch of live IngestTransactions or RecordTransactions; larger batches are refused. Also the rows of a stream waiting to be written, and so of one group commit (env SEGMENT_LIVE_MAX_BATCH_ROWS; default 10000)."
    )
    var liveMaximumBatchRows: Int?

    @Option(
        name: .customLong("live-max-customers"),
        help:
            "Customers in one model's live store; new customers' lines past it are refused (env SEGMENT_LIVE_MAX_CUSTOMERS; default 10000000)."
    )
    var liveMaximumCustomers: Int?

    @Option(
        name: .customLong("live-max-lines-per-customer"),
        help:
            "Transaction lines (event ids) a live store keeps per customer; later lines are refused (env SEGMENT_LIVE_MAX_LINES_PER_CUSTOMER; default 100000)."
    )
    var liveMaximumLines: Int?

    @Option(
        name: .customLong("live-pass-rate"),
        help:
            "Customers of live stores re-placed per second as days pass or an alias moves (env SEGMENT_LIVE_PASS_RATE; default 20000)."
    )
    var livePassRate: Int?

    @Option(
        name: .customLong("live-move-retention-days"),
        help:
            "Days the live change feed keeps its moves for watchers to resume (env SEGMENT_LIVE_MOVE_RETENTION_DAYS; default 30)."
    )
    var liveMoveRetentionDays: Int?

    @Option(
        name: .customLong("model-cache-mb"),
        help:
            "Decoded models kept in memory, in MiB of serialized model, least recently used out first (env SEGMENT_MODEL_CACHE_MB; default 512)."
    )
    var modelCacheMegabytes: Int?

    @Option(
        name: .customLong("registry"),
        help:
            "The shared registry of replicas: postgres://USER@HOST[:PORT]/DATABASE[?sslmode=require] (env SEGMENT_REGISTRY; default: the embedded SQLite registry in --data-dir). Give the password by --registry-password-file or SEGMENT_REGISTRY_PASSWORD, not in the URL: it is never logged either way."
    )
    var registry: String?

    @Option(
        name: .customLong("registry-password-file"),
        help:
            "File holding the registry's password (env SEGMENT_REGISTRY_PASSWORD_FILE; or the password itself in SEGMENT_REGISTRY_PASSWORD)."
    )
    var registryPasswordFile: String?

    @Option(
        name: .customLong("registry-timeout"),
        help:
            "Seconds a call to the shared --registry may take, waiting for a connection included; past it the call fails with UNAVAILABLE (REGISTRY_UNAVAILABLE) and its write is never applied later (env SEGMENT_REGISTRY_TIMEOUT; default 5; 1 to 60)."
    )
    var registryTimeout: Int?

    @Option(
        name: .customLong("drain-seconds"),
        help:
            "After SIGTERM or SIGINT: seconds in-flight calls and streams may take to finish (new calls are refused, health is NOT_SERVING); streams and large Scores still open just before the end answer UNAVAILABLE (SHUTTING_DOWN), and anything left at the end is cancelled (env SEGMENT_DRAIN_SECONDS; default 20; 0 to 3600)."
    )
    var drainSeconds: Int?

    @Option(
        name: .customLong("max-concurrent-streams"),
        help:
            "Concurrent calls per connection, advertised to clients in HTTP/2 SETTINGS so they queue the rest; a stream over it is refused alone (REFUSED_STREAM, which gRPC clients retry), and only past four times it does the connection go (env SEGMENT_MAX_CONCURRENT_STREAMS; default 100; 1 to 10000)."
    )
    var maximumConcurrentStreams: Int?

    @Option(
        name: .customLong("idle-timeout"),
        help:
            "Seconds a connection may stay open with no call in progress before the server closes it (env SEGMENT_IDLE_TIMEOUT; default 300; 1 to 86400)."
    )
    var idleTimeout: Int?

    @Option(
        name: .customLong("max-connections"),
        help:
            "Connections open at once; more are closed as they are accepted (clients see UNAVAILABLE and retry). Keep it under the open-files limit (ulimit -n) (env SEGMENT_MAX_CONNECTIONS; default 1000; 1 to 1000000)."
    )
    var maximumConnections: Int?

    @Option(
        name: .customLong("handshake-timeout"),
        help:
            "Seconds a new connection may take to finish its TLS handshake and start HTTP/2; then it is closed (env SEGMENT_HANDSHAKE_TIMEOUT; default 10; 1 to 300)."
    )
    var handshakeTimeout: Int?

    @Option(
        name: .customLong("max-header-bytes"),
        help:
            "Largest metadata (headers) of one call, counted as HTTP/2 does (name + value + 32 per entry); a larger one fails that call alone with RESOURCE_EXHAUSTED (env SEGMENT_MAX_HEADER_BYTES; default 16384; 1024 to 65536; clients are told 64 KiB is the most they may send, and a connection that sends more is closed)."
    )
    var maximumHeaderBytes: Int?

    @Option(
        name: .customLong("datasets-dir"),
        help:
            "Folder of uploaded datasets shared by the replicas of a --registry (every replica reads and writes it: one disk or NFS) (env SEGMENT_DATASETS_DIR; default DATA_DIR/datasets, this server's own)."
    )
    var datasetsDirectory: String?

    @Option(
        name: .customLong("replica-id"),
        help:
            "This server among the replicas of a --registry, recorded on the jobs it runs; keep it across restarts (env SEGMENT_REPLICA_ID; default HOST:DATA_DIR)."
    )
    var replicaID: String?

    @Option(
        name: .customLong("auth-tokens"),
        help:
            "File of 'role:sha256-hex-of-token' lines (roles admin, trainer, scorer, viewer); calls then need 'authorization: Bearer TOKEN'. Re-read on SIGHUP (env SEGMENT_AUTH_TOKENS; default: authentication off, loopback only)."
    )
    var authTokens: String?

    @Flag(
        help:
            "Allow listening on a non-loopback address without --auth-tokens (env SEGMENT_INSECURE=1)."
    )
    var insecure = false

    @Option(
        name: .customLong("tls-cert"),
        help:
            "PEM certificate chain: serve TLS (with --tls-key; env SEGMENT_TLS_CERT; default plaintext)."
    )
    var tlsCertificate: String?

    @Option(
        name: .customLong("tls-key"), help: "PEM private key of --tls-cert (env SEGMENT_TLS_KEY).")
    var tlsKey: String?

    @Option(
        name: .customLong("tls-client-ca"),
        help:
            "PEM CA that client certificates must chain to: mutual TLS (env SEGMENT_TLS_CLIENT_CA)."
    )
    var tlsClientCA: String?

    @Option(
        name: .customLong("metrics-port"),
        help:
            "Serve Prometheus metrics over plain HTTP at http://HOST:PORT/metrics, on the --host address; 0 picks a free port (env SEGMENT_METRICS_PORT; default off)."
    )
    var metricsPort: Int?

    @Option(
        name: .customLong("http-port"),
        help:
            "Serve the HTTP/JSON gateway on this port of the --host address: every unary method as POST /package.Service/Method with proto3 JSON, the OpenAPI document at /openapi.json, with the gRPC port's tokens and TLS; 0 picks a free port (env SEGMENT_HTTP_PORT; default off)."
    )
    var httpPort: Int?

    @Option(
        name: .customLong("otlp-endpoint"),
        help:
            "Trace every call (health checks aside) as an OpenTelemetry span sent over OTLP/gRPC to this collector URL, e.g. http://127.0.0.1:4317 (https:// for TLS); the caller's W3C traceparent is its parent, and the standard OTEL_* variables tune sampling, batching and headers (env SEGMENT_OTLP_ENDPOINT; default off)."
    )
    var otlpEndpoint: String?

    @Option(
        name: .customLong("drift-flush-seconds"),
        help:
            "How often what scoring saw is added to the registry's drift windows, 1...3600 (env SEGMENT_DRIFT_FLUSH_SECONDS; default 10)."
    )
    var driftFlushSeconds: Int?

    @Flag(
        name: .customLong("no-drift"),
        help:
            "Do not count what scoring sees for drift (GetDrift then reads only other servers' counts) (env SEGMENT_NO_DRIFT=1)."
    )
    var noDrift = false

    @Option(
        name: .customLong("log-format"),
        help:
            "text (one key=value line per event) or json (one JSON object per line) (env SEGMENT_LOG_FORMAT; default text)."
    )
    var logFormat: LogFormat?

    @Option(
        name: .customLong("log-level"),
        help:
            "trace, debug, info, notice, warning, error or critical (env SEGMENT_LOG_LEVEL; default info)."
    )
    var logLevel: String?

    @Option(
        name: .customLong("max-rows"),
        help:
            "Most data rows in one dataset, all its files together; more are refused with RESOURCE_EXHAUSTED (env SEGMENT_MAX_ROWS; default 50000000)."
    )
    var maximumRows: Int?

    @Option(
        name: .customLong("max-message-mb"),
        help:
            "Largest request message (a Score batch, an upload chunk), in MiB; larger ones are refused with RESOURCE_EXHAUSTED (env SEGMENT_MAX_MESSAGE_MB; default 16)."
    )
    var maximumMessageMegabytes: Int?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = ServerConfiguration()
        /// The flag, else its environment variable, else the default (ServerConfiguration's); within its range.
        func value(
            _ flag: Int?, _ variable: String, _ fallback: Int, _ range: ClosedRange<Int>,
            _ name: String
        ) throws -> Int {
            let value =
                try flag ?? environment[variable].map { try Self.integer($0, variable) } ?? fallback
            guard range.contains(value) else {
                throw ValidationError(
                    "--\(name) must be between \(range.lowerBound) and \(range.upperBound)")
            }
            return value
        }
        configuration.host = host ?? environment["SEGMENT_HOST"] ?? configuration.host
        configuration.port = try value(port, "SEGMENT_PORT", configuration.port, 0...65535, "port")
        configuration.dataDirectory =
            dataDirectory ?? environment["SEGMENT_DATA_DIR"] ?? configuration.dataDirectory
        configuration.maximumConcurrentJobs = try value(
            maximumJobs, "SEGMENT_MAX_JOBS", configuration.maximumConcurrentJobs, 1...256,
            "max-jobs")
        configuration.maximumQueuedJobs = try value(
            maximumQueuedJobs, "SEGMENT_MAX_QUEUED_JOBS", configuration.maximumQueuedJobs,
            1...100_000, "max-queued-jobs")
        configuration.live.maximumBatchRows = try value(
            liveMaximumBatchRows, "SEGMENT_LIVE_MAX_BATCH_ROWS",
            configuration.live.maximumBatchRows,
            1...1_000_000, "live-max-batch-rows")
        configuration.live.maximumCustomers = try value(
            liveMaximumCustomers, "SEGMENT_LIVE_MAX_CUSTOMERS", configuration.live.maximumCustomers,
            1...1_000_000_000, "live-max-customers")
        configuration.live.maximumLinesPerCustomer = try value(
            liveMaximumLines, "SEGMENT_LIVE_MAX_LINES_PER_CUSTOMER",
            configuration.live.maximumLinesPerCustomer, 1...10_000_000,
            "live-max-lines-per-customer")
        configuration.live.passRate = try value(
            livePassRate, "SEGMENT_LIVE_PASS_RATE", configuration.live.passRate, 1...10_000_000,
            "live-pass-rate")
        configuration.live.moveRetentionDays = try value(
            liveMoveRetentionDays, "SEGMENT_LIVE_MOVE_RETENTION_DAYS",
            configuration.live.moveRetentionDays, 1...3_650, "live-move-retention-days")
        configuration.maximumUploadBytes =
            Int64(
                try value(
                    maximumUploadMegabytes, "SEGMENT_MAX_UPLOAD_MB",
                    Int(configuration.maximumUploadBytes >> 20), 1...1 << 30, "max-upload-mb"))
            << 20
        configuration.maximumDatasetBytes =
            Int64(
                try value(
                    maximumDatasetMegabytes, "SEGMENT_MAX_DATASETS_MB",
                    Int(configuration.maximumDatasetBytes >> 20), 1...1 << 30, "max-datasets-mb"))
            << 20
        configuration.maximumMessageBytes =
            try value(
                maximumMessageMegabytes, "SEGMENT_MAX_MESSAGE_MB",
                configuration.maximumMessageBytes >> 20, 1...256, "max-message-mb") << 20
        configuration.modelCacheBytes =
            try value(
                modelCacheMegabytes, "SEGMENT_MODEL_CACHE_MB", configuration.modelCacheBytes >> 20,
                0...1 << 30, "model-cache-mb") << 20
        configuration.limits.maximumK = try value(
            maximumK, "SEGMENT_MAX_K", configuration.limits.maximumK, 2...1000, "max-k")
        configuration.limits.maximumNInit = try value(
            maximumNInit, "SEGMENT_MAX_N_INIT", configuration.limits.maximumNInit, 1...1000,
            "max-n-init")
        configuration.limits.maximumIterations = try value(
            maximumIterations, "SEGMENT_MAX_ITER", configuration.limits.maximumIterations,
            1...1_000_000, "max-iter")
        configuration.limits.maximumColumns = try value(
            maximumColumns, "SEGMENT_MAX_COLUMNS", configuration.limits.maximumColumns, 1...100_000,
            "max-columns")
        configuration.limits.maximumRows = try value(
            maximumRows, "SEGMENT_MAX_ROWS", configuration.limits.maximumRows, 1...Int(Int32.max),
            "max-rows")
        configuration.drainSeconds = try value(
            drainSeconds, "SEGMENT_DRAIN_SECONDS", configuration.drainSeconds, 0...3600,
            "drain-seconds")
        configuration.maximumConcurrentStreams = try value(
            maximumConcurrentStreams, "SEGMENT_MAX_CONCURRENT_STREAMS",
            configuration.maximumConcurrentStreams, 1...10_000, "max-concurrent-streams")
        configuration.idleTimeoutSeconds = try value(
            idleTimeout, "SEGMENT_IDLE_TIMEOUT", configuration.idleTimeoutSeconds, 1...86_400,
            "idle-timeout")
        configuration.maximumConnections = try value(
            maximumConnections, "SEGMENT_MAX_CONNECTIONS", configuration.maximumConnections,
            1...1_000_000, "max-connections")
        configuration.handshakeTimeoutSeconds = try value(
            handshakeTimeout, "SEGMENT_HANDSHAKE_TIMEOUT", configuration.handshakeTimeoutSeconds,
            1...300, "handshake-timeout")
        configuration.maximumHeaderBytes = try value(
            maximumHeaderBytes, "SEGMENT_MAX_HEADER_BYTES", configuration.maximumHeaderBytes,
            1024...65_536, "max-header-bytes")
        configuration.tokensFile = authTokens ?? environment["SEGMENT_AUTH_TOKENS"]
        configuration.datasetsDirectory = datasetsDirectory ?? environment["SEGMENT_DATASETS_DIR"]
        configuration.replicaID = replicaID ?? environment["SEGMENT_REPLICA_ID"]
        if let url = registry ?? environment["SEGMENT_REGISTRY"] {
            var password = environment["SEGMENT_REGISTRY_PASSWORD"]
            if let file = registryPasswordFile ?? environment["SEGMENT_REGISTRY_PASSWORD_FILE"] {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    throw ValidationError("--registry-password-file: cannot read \(file)")
                }
                password = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            do {
                var settings = try PostgresSettings(url: url, password: password)
                settings.callTimeout = .seconds(
                    try value(
                        registryTimeout, "SEGMENT_REGISTRY_TIMEOUT",
                        Int(settings.callTimeout.components.seconds), 1...60, "registry-timeout"))
                configuration.postgres = settings
            } catch {
                throw ValidationError(String(describing: error))
            }
        }
        configuration.allowInsecure = insecure || environment["SEGMENT_INSECURE"] == "1"
        configuration.tlsCertificate = tlsCertificate ?? environment["SEGMENT_TLS_CERT"]
        configuration.tlsKey = tlsKey ?? environment["SEGMENT_TLS_KEY"]
        configuration.tlsClientCA = tlsClientCA ?? environment["SEGMENT_TLS_CLIENT_CA"]
        if metricsPort != nil || environment["SEGMENT_METRICS_PORT"] != nil {
            configuration.metricsPort = try value(
                metricsPort, "SEGMENT_METRICS_PORT", 0, 0...65535, "metrics-port")
        }
        if httpPort != nil || environment["SEGMENT_HTTP_PORT"] != nil {
            configuration.httpPort = try value(
                httpPort, "SEGMENT_HTTP_PORT", 0, 0...65535, "http-port")
        }
        if let endpoint = otlpEndpoint ?? environment["SEGMENT_OTLP_ENDPOINT"] {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme),
                url.host != nil, let port = url.port, (1...65535).contains(port)
            else {
                throw ValidationError(
                    "--otlp-endpoint '\(endpoint)' is not a collector URL: give http://HOST:PORT or https://HOST:PORT"
                )
            }
            configuration.otlpEndpoint = endpoint
        }
        configuration.measureDrift = !(noDrift || environment["SEGMENT_NO_DRIFT"] == "1")
        configuration.driftFlushInterval = .seconds(
            try value(
                driftFlushSeconds, "SEGMENT_DRIFT_FLUSH_SECONDS", 10, 1...3600,
                "drift-flush-seconds"))
        let formatName = environment["SEGMENT_LOG_FORMAT"] ?? "text"
        guard let format = logFormat ?? LogFormat(rawValue: formatName) else {
            throw ValidationError(
                "SEGMENT_LOG_FORMAT='\(formatName)' is not a log format; use text or json")
        }
        let levelName = logLevel ?? environment["SEGMENT_LOG_LEVEL"] ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else {
            throw ValidationError(
                "unknown log level '\(levelName)'; use trace, debug, info, notice, warning, error or critical"
            )
        }
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "segment-server")
        let server: SegmentationServer
        do {
            server = try await SegmentationServer(configuration: configuration, logger: logger)
        } catch let error as ServerSetupError {
            // A setup the operator must change (not a mistyped flag: no usage text).
            Self.fail(error.description, code: Self.setupRefused)
        } catch let error as TokenFileError {
            Self.fail("\(error)", code: Self.setupRefused)
        } catch let error as RegistryError {
            // Only an unreachable registry is worth retrying as it is; a damaged or newer one is not.
            switch error {
            case .unavailable, .busy:
                Self.fail("cannot open the registry: \(error)", code: Self.registryUnavailable)
            default: Self.fail("cannot open the registry: \(error)", code: Self.setupRefused)
            }
        }
        // SIGHUP re-reads the tokens file: rotate tokens without a restart.
        signal(SIGHUP, SIG_IGN)
        let hangups = DispatchSource.makeSignalSource(signal: SIGHUP)
        hangups.setEventHandler {
            guard let tokens = server.tokens else { return }
            do {
                let count = try tokens.reload()
                logger.info("tokens reloaded", metadata: ["count": "\(count)"])
            } catch {
                logger.error(
                    "tokens file not reloaded; the previous tokens stay in force",
                    metadata: ["error": "\(error)"])
            }
        }
        hangups.resume()
        defer { hangups.cancel() }
        var lifecycle = ServiceGroupConfiguration(
            services: server.services, gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // A call still open --drain-seconds after SIGTERM (a client's endless stream) is cancelled: the process always exits.
        lifecycle.maximumGracefulShutdownDuration = .seconds(configuration.drainSeconds)
        let group = ServiceGroup(configuration: lifecycle)
        try await group.run()
    }

    /// Exit codes besides 64 (a bad flag or value, with the usage text): the setup is refused
    /// (data directory held by another server, no tokens on a public address...), or the
    /// registry cannot be reached (unreachable PostgreSQL: worth retrying).
    static let setupRefused: Int32 = 78
    static let registryUnavailable: Int32 = 69

    private static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("segment-server: error: \(message)\n".utf8))
        Foundation.exit(code)
    }

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    private static func integer(_ text: String, _ name: String) throws -> Int {
        guard let value = Int(text) else {
            throw ValidationError("\(name)='\(text)' is not a whole number")
        }
        return value
    }
}
