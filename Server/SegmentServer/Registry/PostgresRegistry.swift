import Crypto
import Foundation
import Logging
import PostgresNIO
import SegmentationEngine

/// The shared registry for many replicas: PostgreSQL through postgres-nio's connection pool,
/// the same tables and checksums as the embedded SQLite registry. Every method is one
/// transaction; the schema is created and migrated by whichever replica starts first, under a
/// transaction-scoped advisory lock, so replicas starting together wait for each other.
public final class PostgresRegistry: SharedRegistry {
    private let client: PostgresClient
    private let running: Task<Void, Never>
    private let logger: Logger
    /// Where it connects, without the password (for logs).
    public let location: String
    /// How long one call may take, waiting for a connection included (`--registry-timeout`).
    private let callTimeout: Duration
    /// The change feed's own connection (LISTEN), outside the pool.
    private let feedConfiguration: PostgresConnection.Configuration

    /// The channel every change of models, versions and aliases is announced on (the payload is
    /// the model's name), by NOTIFY in the changing transaction: sent only if it commits.
    static let changes = "segment_catalog"

    /// Advisory lock key of schema migrations ("segm" as an integer).
    static let migrationLock: Int64 = 0x7365_676D

    public init(settings: PostgresSettings, logger: Logger) async throws {
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username,
            password: settings.password,
            database: settings.database,
            tls: settings.requireTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = settings.maximumConnections
        // The database bounds each statement and lock wait too, so a statement whose caller gave
        // up cannot hold locks past the call's own bound.
        let milliseconds = String(settings.callTimeout.components.seconds * 1000)
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", milliseconds), ("lock_timeout", milliseconds),
            ("idle_in_transaction_session_timeout", milliseconds),
        ]
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let client = self.client
        running = Task { await client.run() }
        self.logger = logger
        location = settings.description
        callTimeout = settings.callTimeout
        var feed = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.username,
            password: settings.password,
            database: settings.database,
            tls: settings.requireTLS
                ? .require(try .init(configuration: .makeClientConfiguration())) : .disable)
        feed.options.connectTimeout = .seconds(5)
        feedConfiguration = feed
        do {
            // The pool waits for a connection as long as the server keeps trying: bound the first
            // contact, so a wrong address fails the start in seconds, saying where it looked. Not
            // a task group: it would wait for a migration that ignores its cancellation (a pool
            // wait can), and a start must end on time.
            try await Self.bounded(
                settings.startTimeout, location: location,
                late: RegistryError.unavailable(
                    "no answer from the registry at \(settings) within \(settings.startTimeout)")
            ) { _ in try await self.migrate() }
        } catch {
            running.cancel()
            throw Self.registryError(error, location: settings.description)
        }
    }

    deinit { running.cancel() }

    // MARK: Schema

    /// Versioned migrations, applied in order, each once.
    static let migrations: [(version: Int, name: String, sql: [String])] = [
        (
            1, "tables",
            [
                """
                CREATE TABLE datasets (
                    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, columns_json TEXT NOT NULL,
                    files_json TEXT NOT NULL, rows BIGINT NOT NULL, customers BIGINT NOT NULL,
                    features_json TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE models (
                    name TEXT PRIMARY KEY, next_version INTEGER NOT NULL, created_at DOUBLE PRECISION NOT NULL,
                    updated_at DOUBLE PRECISION NOT NULL)
                """,
                """
                CREATE TABLE versions (
                    model TEXT NOT NULL REFERENCES models(name), version INTEGER NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL, dataset_id TEXT NOT NULL, job_id TEXT, parent_version INTEGER,
                    kind TEXT NOT NULL, k INTEGER NOT NULL, silhouette DOUBLE PRECISION NOT NULL, customers BIGINT NOT NULL,
                    model_blob BYTEA NOT NULL, model_sha256 TEXT NOT NULL, PRIMARY KEY (model, version))
                """,
                """
                CREATE TABLE aliases (
                    model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
                    PRIMARY KEY (model, alias), FOREIGN KEY (model, version) REFERENCES versions(model, version))
                """,
                """
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY, model_name TEXT NOT NULL, dataset_id TEXT NOT NULL,
                    configuration_json TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL,
                    fraction DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION,
                    finished_at DOUBLE PRECISION, error TEXT, model_version INTEGER, k_metrics_json TEXT NOT NULL)
                """,
                "CREATE INDEX jobs_by_created ON jobs(created_at)",
                """
                CREATE TABLE requests (
                    method TEXT NOT NULL, request_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
                    result_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (method, request_id))
                """,
            ]
        ),
        (2, "job owners", ["ALTER TABLE jobs ADD COLUMN owner TEXT"]),
        (
            3, "shared job queue",
            [
                "ALTER TABLE jobs ADD COLUMN heartbeat_at DOUBLE PRECISION",
                "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE",
                "CREATE INDEX jobs_by_status ON jobs(status, created_at)",
            ]
        ),
    ]

    private func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            // Bounded by the start timeout instead: a replica waits its turn behind another's migration.
            try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
            try await connection.query("SET LOCAL lock_timeout = 0", logger: logger)
            try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)
                """, logger: logger)
            var applied = Set<Int>()
            for try await version in try await connection.query(
                "SELECT version FROM schema_migrations", logger: logger
            ).decode(Int.self) {
                applied.insert(version)
            }
            if let newest = applied.max(), newest > Self.migrations.last!.version {
                throw RegistryError.storage(
                    "the registry's schema is version \(newest), newer than this server's \(Self.migrations.last!.version): upgrade the server"
                )
            }
            for migration in Self.migrations where !applied.contains(migration.version) {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    """
                    INSERT INTO schema_migrations (version, name, applied_at)
                    VALUES (\(migration.version), \(migration.name), \(Date().timeIntervalSince1970))
                    """, logger: logger)
            }
        }
    }

    // MARK: Change feed

    /// LISTEN on the changes channel on a connection of its own, outside the pool (a feed that
    /// is cut or stuck never holds up the calls); each time it starts listening (the first time
    /// too: changes between the server's load and the LISTEN would be missed) it reports a
    /// possible gap, so the caller re-reads all; a lost connection is retried with backoff up to 2 s.
    public func followChanges(_ changed: @escaping @Sendable (String?) async -> Void) async {
        var pause = Duration.milliseconds(100)
        var attempt = 0
        while !Task.isCancelled {
            do {
                attempt += 1
                let connection = try await PostgresConnection.connect(
                    configuration: feedConfiguration, id: attempt, logger: logger)
                defer { Task { try? await connection.close() } }
                // The notifications do not end when this task is cancelled (the server's shutdown):
                // closing the connection ends them.
                try await withTaskCancellationHandler {
                    try await connection.listen(on: Self.changes) { notifications in
                        // Listening now: whatever changed before (or while disconnected) is read afresh.
                        await changed(nil)
                        pause = .milliseconds(100)
                        for try await notification in notifications {
                            await changed(notification.payload)
                        }
                    }
                } onCancel: {
                    Task { try? await connection.close() }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "registry change feed lost; reconnecting",
                    metadata: ["error": "\(Self.describe(error))"])
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(2))
        }
    }

    private static func announce(
        _ name: String, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        try await connection.query("SELECT pg_notify(\(changes), \(name))", logger: logger)
    }

    // MARK: Shared job queue

    // Each of these is one statement, atomic on its own: no transaction block around it. Times
    // come from the database's clock (`clock_timestamp()`), never the servers'.

    public func claimJob(owner: String) async throws -> JobRecord? {
        // Through the commit gate: a claim that lands after the caller gave up would leave a job
        // "running" here that nothing runs.
        let rows = try await gated(
            """
            UPDATE jobs SET status = 'running', owner = \(owner), heartbeat_at = EXTRACT(EPOCH FROM clock_timestamp()),
                attempts = attempts + 1, started_at = EXTRACT(EPOCH FROM clock_timestamp()), stage = 'reading', error = NULL
            WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND NOT cancel_requested
                        ORDER BY created_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING *
            """)
        return try rows.first.map(Self.job(from:))
    }

    public func heartbeat(
        owner: String, jobs: [String]
    ) async throws -> (stop: Set<String>, lost: Set<String>) {
        var stop = Set<String>(), lost = Set<String>()
        // One statement per job: a server runs a handful at most.
        for id in jobs {
            let rows = try await single(
                """
                UPDATE jobs SET heartbeat_at = EXTRACT(EPOCH FROM clock_timestamp())
                WHERE owner = \(owner) AND status = 'running' AND id = \(id)
                RETURNING cancel_requested
                """)
            guard let row = rows.first else { lost.insert(id); continue }
            if (try? row.decode(Bool.self)) == true { stop.insert(id) }
        }
        return (stop, lost)
    }

    /// One statement in a transaction with the commit gate (see `write`), its rows collected.
    private func gated(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await write { connection, logger in
            try await connection.query(query, logger: logger).collect()
        }
    }

    /// One statement outside a transaction block, its rows collected (for statements whose late
    /// effect is harmless: heartbeats, re-queues, counts).
    private func single(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let client = self.client, logger = self.logger
        do {
            return try await bounded { _ in try await client.query(query, logger: logger).collect()
            }
        } catch {
            throw Self.registryError(error, location: location)
        }
    }

    public func requeueStalled(
        stalledAfter: Double, maximumAttempts: Int
    ) async throws -> (requeued: [String], failed: [String]) {
        let requeued = try await single(
            """
            UPDATE jobs SET status = 'queued', owner = NULL, stage = 'queued', fraction = 0, heartbeat_at = NULL,
                error = 'its server stopped responding; queued again'
            WHERE status = 'running' AND heartbeat_at < EXTRACT(EPOCH FROM clock_timestamp()) - \(stalledAfter)
              AND attempts < \(maximumAttempts) AND NOT cancel_requested
            RETURNING id
            """
        ).compactMap { try? $0.decode(String.self) }
        let failed = try await single(
            """
            UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END,
                finished_at = EXTRACT(EPOCH FROM clock_timestamp()),
                error = CASE WHEN cancel_requested THEN 'cancelled by request; its server had stopped responding'
                             ELSE 'its server stopped responding, on each of ' || attempts || ' attempts' END
            WHERE status = 'running' AND heartbeat_at < EXTRACT(EPOCH FROM clock_timestamp()) - \(stalledAfter)
            RETURNING id
            """
        ).compactMap { try? $0.decode(String.self) }
        return (requeued, failed)
    }

    public func releaseJob(id: String, owner: String) async throws {
        _ = try await gated(
            """
            UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
                owner = NULL, stage = 'queued', fraction = 0, heartbeat_at = NULL, attempts = GREATEST(attempts - 1, 0),
                finished_at = CASE WHEN cancel_requested THEN EXTRACT(EPOCH FROM clock_timestamp()) ELSE NULL END,
                error = CASE WHEN cancel_requested THEN 'cancelled by request' ELSE 'its server shut down; queued again' END
            WHERE id = \(id) AND owner = \(owner) AND status = 'running'
            """)
    }

    public func queuedJobCount() async throws -> Int {
        try await single("SELECT count(*) FROM jobs WHERE status = 'queued'").first.map {
            try $0.decode(Int.self)
        } ?? 0
    }

    public func requestCancel(jobID: String, at date: Date) async throws -> JobRecord {
        try await write { connection, logger in
            guard
                let row = try await connection.query(
                    """
                    UPDATE jobs SET cancel_requested = TRUE,
                        status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
                        error = CASE WHEN status = 'queued' THEN 'cancelled by request before it started' ELSE error END,
                        finished_at = CASE WHEN status = 'queued' THEN \(date.timeIntervalSince1970) ELSE finished_at END
                    WHERE id = \(jobID) AND status IN ('queued', 'running')
                    RETURNING *
                    """, logger: logger
                ).collect().first
            else {
                guard
                    let stored = try await connection.query(
                        "SELECT * FROM jobs WHERE id = \(jobID)", logger: logger
                    ).collect().first
                else {
                    throw RegistryError.notFound("job \(jobID.quotedForMessage)")
                }
                return try Self.job(from: stored)
            }
            return try Self.job(from: row)
        }
    }

    // MARK: Client request ids

    public func clientRequest(method: String, id: String) async throws -> ClientRequest? {
        try await read { connection, logger in
            try await Self.clientRequest(connection, logger, method: method, id: id)
        }
    }

    public func forgetClientRequest(method: String, id: String) async throws {
        try await write { connection, logger in
            try await connection.query(
                "DELETE FROM requests WHERE method = \(method) AND request_id = \(id)",
                logger: logger)
        }
    }

    private static func clientRequest(
        _ connection: PostgresConnection, _ logger: Logger, method: String, id: String
    ) async throws -> ClientRequest? {
        let oldest = Date().timeIntervalSince1970 - ClientRequest.retention
        let rows = try await connection.query(
            """
            SELECT fingerprint, result_id, created_at FROM requests
            WHERE method = \(method) AND request_id = \(id) AND created_at >= \(oldest)
            """, logger: logger)
        for try await (fingerprint, result, created) in rows.decode((String, String, Double).self) {
            return ClientRequest(
                method: method, id: id, fingerprint: fingerprint, resultID: result,
                createdAt: Date(timeIntervalSince1970: created))
        }
        return nil
    }

    /// Records a request (forgetting those past the retention); returns the result id of an
    /// earlier identical request instead, when there is one. The advisory lock on the id makes two
    /// replicas' identical requests take turns.
    private static func record(
        _ request: ClientRequest, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> String? {
        try await connection.query(
            "SELECT pg_advisory_xact_lock(hashtext(\(request.method + " " + request.id)))",
            logger: logger)
        if let earlier = try await clientRequest(
            connection, logger, method: request.method, id: request.id),
            try request.isRetry(of: earlier)
        {
            return earlier.resultID
        }
        try await connection.query(
            "DELETE FROM requests WHERE created_at < \(Date().timeIntervalSince1970 - ClientRequest.retention)",
            logger: logger)
        try await connection.query(
            """
            INSERT INTO requests (method, request_id, fingerprint, result_id, created_at)
            VALUES (\(request.method), \(request.id), \(request.fingerprint), \(request.resultID), \(request.createdAt.timeIntervalSince1970))
            ON CONFLICT (method, request_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, result_id = EXCLUDED.result_id,
                created_at = EXCLUDED.created_at
            """, logger: logger)
        return nil
    }

    // MARK: Datasets

    public func insertDataset(
        _ dataset: DatasetRecord, request: ClientRequest?
    ) async throws -> Bool {
        let columns = try JSON.text(dataset.columns), files = try JSON.text(dataset.files),
            features = try JSON.text(dataset.features)
        return try await write { connection, logger in
            if let request { _ = try await Self.record(request, connection, logger) }
            let inserted = try await connection.query(
                """
                INSERT INTO datasets (id, name, kind, columns_json, files_json, rows, customers, features_json, created_at)
                VALUES (\(dataset.id), \(dataset.name), \(dataset.kind.rawValue), \(columns), \(files), \(dataset.rows),
                    \(dataset.customers), \(features), \(dataset.createdAt.timeIntervalSince1970))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: logger
            ).collect()
            return !inserted.isEmpty
        }
    }

    public func dataset(id: String) async throws -> DatasetRecord? {
        try await read { connection, logger in
            try await connection.query("SELECT * FROM datasets WHERE id = \(id)", logger: logger)
                .collect().first.map(Self.dataset(from:))
        }
    }

    public func datasets() async throws -> Listing<DatasetRecord> {
        try await read { connection, logger in
            Self.listing(
                try await connection.query(
                    "SELECT * FROM datasets ORDER BY created_at DESC, id", logger: logger
                ).collect(),
                Self.dataset(from:))
        }
    }

    public func datasetIDs() async throws -> Set<String> {
        try await read { connection, logger in
            var ids = Set<String>()
            for try await id in try await connection.query(
                "SELECT id FROM datasets", logger: logger
            ).decode(String.self) { ids.insert(id) }
            return ids
        }
    }

    public func deleteDataset(id: String, force: Bool) async throws -> [String] {
        try await write { connection, logger in
            guard
                try await !connection.query(
                    "SELECT 1 FROM datasets WHERE id = \(id) FOR UPDATE", logger: logger
                ).collect().isEmpty
            else {
                throw RegistryError.notFound("dataset \(Names.quoted(id))")
            }
            if try await !connection.query(
                "SELECT 1 FROM jobs WHERE dataset_id = \(id) AND status IN ('queued', 'running')",
                logger: logger
            ).collect().isEmpty {
                throw RegistryError.datasetInUse(
                    "dataset \(id.prefix(19)) is being used by a queued or running job; cancel it first"
                )
            }
            var trained: [String] = []
            for try await (model, version) in try await connection.query(
                "SELECT model, version FROM versions WHERE dataset_id = \(id) ORDER BY model, version",
                logger: logger
            ).decode((String, Int).self) {
                trained.append("\(model)@\(version)")
            }
            if !trained.isEmpty && !force {
                throw RegistryError.datasetInUse(
                    "dataset \(id.prefix(19)) is the training data of \(trained.prefix(5).joined(separator: ", "))"
                        + (trained.count > 5 ? " and \(trained.count - 5) more" : "")
                        + "; force the delete to remove it anyway")
            }
            try await connection.query("DELETE FROM datasets WHERE id = \(id)", logger: logger)
            return trained
        }
    }

    private static func dataset(from row: PostgresRow) throws -> DatasetRecord {
        let r = row.makeRandomAccess()
        guard let kind = InputKind(rawValue: try r["kind"].decode(String.self)) else {
            throw RegistryError.corrupt("unknown dataset kind")
        }
        return DatasetRecord(
            id: try r["id"].decode(String.self), name: try r["name"].decode(String.self),
            kind: kind,
            columns: try JSON.decode(try r["columns_json"].decode(String.self)),
            files: try JSON.decode(try r["files_json"].decode(String.self)),
            rows: try r["rows"].decode(Int64.self),
            customers: try r["customers"].decode(Int64.self),
            features: try JSON.decode(try r["features_json"].decode(String.self)),
            createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)))
    }

    /// Rows turned into records; a row that does not decode is skipped and counted.
    private static func listing<T>(
        _ rows: [PostgresRow], _ decode: (PostgresRow) throws -> T
    ) -> Listing<T> {
        var items: [T] = []
        var unreadable = 0
        for row in rows {
            if let item = try? decode(row) { items.append(item) } else { unreadable += 1 }
        }
        return Listing(items: items, unreadable: unreadable)
    }

    // MARK: Jobs

    public func insertJob(_ job: JobRecord, request: ClientRequest?) async throws -> String {
        let configuration = try JSON.text(job.configuration), metrics = try JSON.text(job.kMetrics)
        return try await write { connection, logger in
            if let request, let earlier = try await Self.record(request, connection, logger) {
                return earlier
            }
            try await connection.query(
                """
                INSERT INTO jobs (id, model_name, dataset_id, configuration_json, status, stage, fraction, created_at,
                    started_at, finished_at, error, model_version, k_metrics_json, owner)
                VALUES (\(job.id), \(job.modelName), \(job.datasetID), \(configuration), \(job.status.rawValue), \(job.stage),
                    \(job.fraction), \(job.createdAt.timeIntervalSince1970), \(job.startedAt?.timeIntervalSince1970),
                    \(job.finishedAt?.timeIntervalSince1970), \(job.error), \(job.modelVersion), \(metrics), \(job.owner))
                """, logger: logger)
            return job.id
        }
    }

    public func updateJob(_ job: JobRecord) async throws {
        let configuration = try JSON.text(job.configuration), metrics = try JSON.text(job.kMetrics)
        try await write { connection, logger in
            try await Self.update(
                job, configuration: configuration, metrics: metrics, connection, logger)
        }
    }

    private static func update(
        _ job: JobRecord, configuration: String, metrics: String, _ connection: PostgresConnection,
        _ logger: Logger
    ) async throws {
        let updated = try await connection.query(
            """
            UPDATE jobs SET model_name = \(job.modelName), dataset_id = \(job.datasetID), configuration_json = \(configuration),
                status = \(job.status.rawValue), stage = \(job.stage), fraction = \(job.fraction),
                created_at = \(job.createdAt.timeIntervalSince1970), started_at = \(job.startedAt?.timeIntervalSince1970),
                finished_at = \(job.finishedAt?.timeIntervalSince1970), error = \(job.error), model_version = \(job.modelVersion),
                k_metrics_json = \(metrics)
            WHERE id = \(job.id)
              -- A job claimed by a server is written only by it, while it holds the job: a server
              -- that lost it (queued again after it seemed dead) cannot overwrite the new run or
              -- register a second version for it.
              AND (\(job.owner)::TEXT IS NULL OR (owner = \(job.owner) AND status = 'running'))
            RETURNING id
            """, logger: logger
        ).collect()
        guard updated.count == 1 else {
            throw RegistryError.notFound("job \(job.id) (held by this server)")
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        try await read { connection, logger in
            try await connection.query("SELECT * FROM jobs WHERE id = \(id)", logger: logger)
                .collect().first.map(Self.job(from:))
        }
    }

    public func jobs(
        limit: Int, modelName: String?, after cursor: JobCursor?
    ) async throws -> Listing<JobRecord> {
        try await read { connection, logger in
            // NULL filters are off: one statement serves every combination.
            let seconds = cursor?.createdAt.timeIntervalSince1970
            let rows = try await connection.query(
                """
                SELECT * FROM jobs
                WHERE (\(modelName)::TEXT IS NULL OR model_name = \(modelName))
                  AND (\(seconds)::DOUBLE PRECISION IS NULL OR created_at < \(seconds) OR (created_at = \(seconds) AND id < \(cursor?.id)))
                ORDER BY created_at DESC, id DESC LIMIT \(limit)
                """, logger: logger
            ).collect()
            return Self.listing(rows, Self.job(from:))
        }
    }

    /// Marks queued and running jobs failed: `owner`'s only when given (a restarting server
    /// must not fail the jobs other servers are running).
    public func failUnfinishedJobs(
        reason: String, at date: Date, owner: String?
    ) async throws -> Int {
        try await write { connection, logger in
            try await connection.query(
                """
                UPDATE jobs SET status = 'failed', error = \(reason), finished_at = \(date.timeIntervalSince1970)
                WHERE status IN ('queued', 'running') AND (\(owner)::TEXT IS NULL OR owner = \(owner)) RETURNING id
                """, logger: logger
            ).collect().count
        }
    }

    private static func job(from row: PostgresRow) throws -> JobRecord {
        let r = row.makeRandomAccess()
        guard let status = JobStatus(rawValue: try r["status"].decode(String.self)) else {
            throw RegistryError.corrupt("unknown job status")
        }
        return JobRecord(
            id: try r["id"].decode(String.self), modelName: try r["model_name"].decode(String.self),
            datasetID: try r["dataset_id"].decode(String.self),
            configuration: try JSON.decode(try r["configuration_json"].decode(String.self)),
            status: status, stage: try r["stage"].decode(String.self),
            fraction: try r["fraction"].decode(Double.self),
            createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)),
            startedAt: try r["started_at"].decode(Double?.self).map(
                Date.init(timeIntervalSince1970:)),
            finishedAt: try r["finished_at"].decode(Double?.self).map(
                Date.init(timeIntervalSince1970:)),
            error: try r["error"].decode(String?.self),
            modelVersion: try r["model_version"].decode(Int?.self),
            kMetrics: try JSON.decode(try r["k_metrics_json"].decode(String.self)),
            owner: try r["owner"].decode(String?.self))
    }

    // MARK: Models and versions

    public func addVersion(
        _ new: NewVersion, completing job: JobRecord?
    ) async throws -> VersionRecord {
        let jobColumns = try job.map {
            (try JSON.text($0.configuration), try JSON.text($0.kMetrics))
        }
        let checksum = SQLiteRegistry.sha256(new.modelBytes)
        return try await write { connection, logger in
            let now = Date.wholeSeconds().timeIntervalSince1970
            // The model's row, locked: two replicas registering versions of one model take turns.
            try await connection.query(
                """
                INSERT INTO models (name, next_version, created_at, updated_at) VALUES (\(new.name), 1, \(now), \(now))
                ON CONFLICT (name) DO NOTHING
                """, logger: logger)
            var number = 1
            for try await next in try await connection.query(
                "SELECT next_version FROM models WHERE name = \(new.name) FOR UPDATE",
                logger: logger
            ).decode(Int.self) {
                number = next
            }
            let record = VersionRecord(
                name: new.name, version: number, createdAt: Date(timeIntervalSince1970: now),
                datasetID: new.datasetID, jobID: new.jobID,
                parentVersion: new.parentVersion, kind: new.model.kind, k: new.model.k,
                silhouette: new.model.metrics.silhouette,
                customers: new.model.dataReport.customersOut)
            try await connection.query(
                """
                INSERT INTO versions (model, version, created_at, dataset_id, job_id, parent_version, kind, k, silhouette,
                    customers, model_blob, model_sha256)
                VALUES (\(record.name), \(record.version), \(now), \(record.datasetID), \(record.jobID), \(record.parentVersion),
                    \(record.kind.rawValue), \(record.k), \(record.silhouette), \(record.customers), \(new.modelBytes), \(checksum))
                """, logger: logger)
            try await connection.query(
                "UPDATE models SET next_version = \(number + 1), updated_at = \(now) WHERE name = \(new.name)",
                logger: logger)
            try await Self.announce(new.name, connection, logger)
            if var job, let (configuration, metrics) = jobColumns {
                job.modelVersion = number
                try await Self.update(
                    job, configuration: configuration, metrics: metrics, connection, logger)
            }
            return record
        }
    }

    public func models() async throws -> [ModelSummaryRecord] {
        try await read { connection, logger in
            var aliases: [String: [String: Int]] = [:]
            for try await (model, alias, version) in try await connection.query(
                "SELECT model, alias, version FROM aliases", logger: logger
            )
            .decode((String, String, Int).self) {
                aliases[model, default: [:]][alias] = version
            }
            var summaries: [ModelSummaryRecord] = []
            for try await (name, updated, latest, count) in try await connection.query(
                """
                SELECT m.name, m.updated_at, MAX(v.version), COUNT(v.version)
                FROM models m JOIN versions v ON v.model = m.name
                GROUP BY m.name ORDER BY m.name
                """, logger: logger
            ).decode((String, Double, Int, Int).self) {
                summaries.append(
                    ModelSummaryRecord(
                        name: name, latestVersion: latest, versionCount: count,
                        aliases: aliases[name] ?? [:],
                        updatedAt: Date(timeIntervalSince1970: updated)))
            }
            return summaries
        }
    }

    public func versions(of name: String) async throws -> [VersionRecord] {
        try await read { connection, logger in
            guard
                try await !connection.query(
                    "SELECT 1 FROM models WHERE name = \(name)", logger: logger
                ).collect().isEmpty
            else {
                throw RegistryError.notFound("model \(name.quotedForMessage)")
            }
            return try await connection.query(
                "\(unescaped: Self.versionColumns) WHERE model = \(name) ORDER BY version",
                logger: logger
            ).collect().map(Self.version(from:))
        }
    }

    public func version(_ name: String, _ number: Int) async throws -> VersionRecord? {
        try await read { connection, logger in
            try await connection.query(
                "\(unescaped: Self.versionColumns) WHERE model = \(name) AND version = \(number)",
                logger: logger
            ).collect().first.map(Self.version(from:))
        }
    }

    /// A version's record without its model bytes (they are read only by `modelBytes`).
    private static let versionColumns =
        "SELECT model, version, created_at, dataset_id, job_id, parent_version, kind, k, silhouette, customers FROM versions"

    private static func version(from row: PostgresRow) throws -> VersionRecord {
        let r = row.makeRandomAccess()
        return VersionRecord(
            name: try r["model"].decode(String.self), version: try r["version"].decode(Int.self),
            createdAt: Date(timeIntervalSince1970: try r["created_at"].decode(Double.self)),
            datasetID: try r["dataset_id"].decode(String.self),
            jobID: try r["job_id"].decode(String?.self),
            parentVersion: try r["parent_version"].decode(Int?.self),
            kind: InputKind(rawValue: try r["kind"].decode(String.self)) ?? .transactions,
            k: try r["k"].decode(Int.self),
            silhouette: try r["silhouette"].decode(Double.self),
            customers: try r["customers"].decode(Int.self))
    }

    public func modelBytes(_ name: String, _ number: Int) async throws -> Data {
        try await read { connection, logger in
            for try await (data, expected) in try await connection.query(
                "SELECT model_blob, model_sha256 FROM versions WHERE model = \(name) AND version = \(number)",
                logger: logger
            ).decode((Data, String).self) {
                guard expected == SQLiteRegistry.sha256(data) else {
                    throw RegistryError.corrupt(
                        "model version \(name)@\(number) is damaged: its stored bytes fail their SHA-256 checksum"
                    )
                }
                return data
            }
            throw RegistryError.notFound("model version \(name)@\(number)")
        }
    }

    public func probe() async throws {
        _ = try await read { connection, logger in
            try await connection.query("SELECT count(*) FROM aliases", logger: logger).collect()
        }
    }

    public func corruptVersions() async throws -> [(model: String, version: Int, reason: String)] {
        // Every stored model's bytes, once at start: far more than one call's work.
        try await read(bound: .seconds(max(300, callTimeout.components.seconds * 20))) {
            connection, logger in
            // One blob in memory at a time: the rows stream.
            var damaged: [(model: String, version: Int, reason: String)] = []
            for try await (model, version, data, expected) in try await connection.query(
                "SELECT model, version, model_blob, model_sha256 FROM versions ORDER BY model, version",
                logger: logger
            ).decode((String, Int, Data, String).self) where SQLiteRegistry.sha256(data) != expected
            {
                damaged.append(
                    (
                        model: model, version: version,
                        reason: "its stored bytes fail their SHA-256 checksum"
                    ))
            }
            return damaged
        }
    }

    public func aliases() async throws -> [(model: String, alias: String, version: Int)] {
        try await read { connection, logger in
            var all: [(model: String, alias: String, version: Int)] = []
            for try await (model, alias, version) in try await connection.query(
                "SELECT model, alias, version FROM aliases ORDER BY model, alias",
                logger: logger
            ).decode((String, String, Int).self) {
                all.append((model: model, alias: alias, version: version))
            }
            return all
        }
    }

    public func setAlias(_ name: String, alias: String, version: Int) async throws -> Int? {
        try Names.validateAlias(alias)
        return try await write { connection, logger in
            guard
                try await !connection.query(
                    "SELECT 1 FROM versions WHERE model = \(name) AND version = \(version) FOR SHARE",
                    logger: logger
                ).collect().isEmpty
            else {
                throw RegistryError.notFound("model version \(name)@\(version)")
            }
            var previous: Int?
            for try await old in try await connection.query(
                "SELECT version FROM aliases WHERE model = \(name) AND alias = \(alias) FOR UPDATE",
                logger: logger
            ).decode(Int.self) {
                previous = old
            }
            try await connection.query(
                """
                INSERT INTO aliases (model, alias, version) VALUES (\(name), \(alias), \(version))
                ON CONFLICT (model, alias) DO UPDATE SET version = EXCLUDED.version
                """, logger: logger)
            try await Self.announce(name, connection, logger)
            return previous
        }
    }

    public func deleteAlias(_ name: String, alias: String) async throws {
        try await write { connection, logger in
            let deleted = try await connection.query(
                "DELETE FROM aliases WHERE model = \(name) AND alias = \(alias) RETURNING alias",
                logger: logger
            ).collect()
            guard deleted.count == 1 else {
                throw RegistryError.notFound(
                    "alias \(alias.quotedForMessage) of model \(name.quotedForMessage)")
            }
            try await Self.announce(name, connection, logger)
        }
    }

    public func deleteVersion(_ name: String, _ number: Int, force: Bool) async throws -> [String] {
        try await write { connection, logger in
            guard
                try await !connection.query(
                    "SELECT 1 FROM versions WHERE model = \(name) AND version = \(number) FOR UPDATE",
                    logger: logger
                ).collect().isEmpty
            else {
                throw RegistryError.notFound("model version \(name)@\(number)")
            }
            var aliases: [String] = []
            for try await alias in try await connection.query(
                "SELECT alias FROM aliases WHERE model = \(name) AND version = \(number) ORDER BY alias",
                logger: logger
            ).decode(String.self) {
                aliases.append(alias)
            }
            if !aliases.isEmpty && !force {
                throw RegistryError.aliasedVersion(name: name, version: number, aliases: aliases)
            }
            try await connection.query(
                "DELETE FROM aliases WHERE model = \(name) AND version = \(number)", logger: logger)
            try await connection.query(
                "DELETE FROM versions WHERE model = \(name) AND version = \(number)", logger: logger
            )
            try await Self.announce(name, connection, logger)
            return aliases
        }
    }

    // MARK: Access

    /// Reads run in a transaction too: the statements of one read (a model's summary and its
    /// aliases, say) see one snapshot. A read is answered as soon as its statements are: the
    /// COMMIT of nothing is not waited for (on a starved or dying connection it can come late).
    private func read<T: Sendable>(
        bound: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> sending T
    ) async throws -> T {
        try await transaction(bound: bound) { connection, logger, outcome, _ in
            let result = try await body(connection, logger)
            await outcome.settle(.success(result), final: true)
            return result
        }
    }

    /// One transaction, bounded by the call timeout; PostgreSQL's failures by what a caller can
    /// do about them. A write is never applied after its caller was told it failed: waiting for
    /// a connection is cancelled at the bound (the pool drops the request, it never runs later),
    /// and the transaction's last step claims the commit from the bound's timer: past the bound
    /// it rolls back instead; once claimed, the caller waits for COMMIT's own answer, a few more
    /// bounds at most (then it is told the outcome is not known).
    private func write<T: Sendable>(
        bound: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> sending T
    ) async throws -> T {
        try await transaction(bound: bound) { connection, logger, outcome, late in
            let result = try await body(connection, logger)
            guard await outcome.claimCommit() else { throw late }
            return result
        }
    }

    private func transaction<T: Sendable>(
        bound seconds: Duration?,
        _ body:
            @escaping @Sendable (PostgresConnection, Logger, FirstOutcome<T>, _ late: RegistryError)
            async throws -> T
    ) async throws -> T {
        let client = self.client, logger = self.logger, location = self.location,
            timeout = seconds ?? callTimeout
        do {
            return try await bounded(timeout) { outcome in
                try await client.withTransaction(logger: logger) { connection in
                    if seconds != nil {
                        // A longer bound than the database's own per-statement one (set at connect).
                        try await connection.query(
                            "SET LOCAL statement_timeout = 0", logger: logger)
                    }
                    return try await body(
                        connection, logger, outcome,
                        RegistryError.unavailable(Self.lateMessage(location, timeout)))
                }
            }
        } catch {
            throw Self.registryError(error, location: location)
        }
    }

    /// `body`, or UNAVAILABLE once `timeout` has passed. The caller gets its answer at the bound
    /// whatever `body` does, unless `body` has claimed its commit by then (the answer is then
    /// COMMIT's, for `commitBounds` more at most): `body` is cancelled and not waited for (a task
    /// group would wait, and a connection attempt or a pool wait can ignore cancellation for
    /// seconds). A COMMIT sent as the database stopped was seen never to answer (postgres-nio
    /// 1.33): waiting for it held a server's shutdown for ever.
    private func bounded<T: Sendable>(
        _ timeout: Duration? = nil,
        _ body: @escaping @Sendable (FirstOutcome<T>) async throws -> T
    ) async throws -> T {
        try await Self.bounded(timeout ?? callTimeout, location: location, body)
    }

    static func bounded<T: Sendable>(
        _ timeout: Duration, location: String, late: RegistryError? = nil,
        _ body: @escaping @Sendable (FirstOutcome<T>) async throws -> T
    ) async throws -> T {
        let late = late ?? RegistryError.unavailable(Self.lateMessage(location, timeout))
        let outcome = FirstOutcome<T>()
        let work = Task {
            do { await outcome.settle(.success(try await body(outcome)), final: true) } catch {
                await outcome.settle(.failure(error), final: true)
            }
        }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            await outcome.settle(.failure(late), final: false)
            // Claimed: COMMIT's answer, for a few more bounds (a busy process can take that long
            // to read it; one that never comes must not hold the caller for ever).
            guard (try? await Task.sleep(for: timeout * Self.commitBounds)) != nil else { return }
            await outcome.giveUpOnCommit(
                .failure(RegistryError.unavailable(Self.unconfirmedMessage(location, timeout))))
        }
        defer {
            work.cancel()
            timer.cancel()
        }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            Task { await outcome.settle(.failure(CancellationError()), final: false) }
        }
    }

    /// How many bounds past the first a claimed COMMIT's answer is waited for.
    static let commitBounds = 3

    /// The answer when COMMIT was sent and never answered: whether it was applied is not known.
    private static func unconfirmedMessage(_ location: String, _ timeout: Duration) -> String {
        "the registry at \(location) did not confirm the change within \((1 + commitBounds) * Int(timeout.components.seconds)) s "
            + "(--registry-timeout x \(1 + commitBounds)): it may or may not have been applied; read it back before retrying"
    }

    private static func lateMessage(_ location: String, _ timeout: Duration) -> String {
        "the registry at \(location) did not answer within \(timeout.components.seconds) s (--registry-timeout); nothing was changed; retry"
    }

    /// For logs: postgres-nio's errors print a generic text; their code and the server's
    /// message say what happened (no query text, no parameters).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return String(describing: error) }
        return "\(error.code)" + (error.serverInfo?[.message].map { ": \($0)" } ?? "")
    }

    static func registryError(_ error: any Error, location: String) -> RegistryError {
        if let error = error as? RegistryError { return error }
        if let error = error as? PostgresTransactionError {
            // The closure's own error (a RegistryError, say) is the one that matters.
            if let inner = error.closureError ?? error.beginError ?? error.commitError
                ?? error.rollbackError
            {
                return registryError(inner, location: location)
            }
        }
        if let error = error as? PSQLError {
            switch error.serverInfo?[.sqlState] {
            case "40001", "40P01", "55P03", "57014": return .busy("the registry is busy; retry")
            case "53100": return .full("the registry's disk is full")
            case "XX001", "XX002": return .damagedDatabase("the registry database is damaged")
            case let state?:
                return .storage("PostgreSQL error \(state): \(error.serverInfo?[.message] ?? "")")
            case nil:
                // No server answer: the connection failed. Worth retrying once it is back.
                return .unavailable(
                    "the registry at \(location) cannot be reached (\(error.code)); retry")
            }
        }
        if error is CancellationError { return .busy("the registry call was cancelled") }
        // The pool gives up on a database it cannot reach (its circuit breaker): unreachable, not a storage fault.
        if String(describing: type(of: error)).contains("ConnectionPoolError") {
            return .unavailable("the registry at \(location) cannot be reached (\(error)); retry")
        }
        return .storage(String(describing: error))
    }
}

/// Where the PostgreSQL registry is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=require]`,
/// the password preferably from a file or the environment, never from logs.
public struct PostgresSettings: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var requireTLS: Bool
    public var maximumConnections = 10
    /// How long the first contact (connect and migrate) may take.
    public var startTimeout: Duration = .seconds(15)
    /// How long one call may take, waiting for a connection included (`--registry-timeout`);
    /// also the database's statement, lock and idle-in-transaction timeouts.
    public var callTimeout: Duration = .seconds(5)

    /// Parses the URL; `password` (from --registry-password-file or SEGMENT_REGISTRY_PASSWORD)
    /// overrides one in the URL.
    public init(url text: String, password: String? = nil) throws {
        guard let url = URLComponents(string: text),
            ["postgres", "postgresql"].contains(url.scheme ?? ""),
            let host = url.host, !host.isEmpty
        else {
            throw RegistryError.invalid(
                "--registry must be postgres://USER@HOST[:PORT]/DATABASE (got a value that is not)")
        }
        guard let user = url.user, !user.isEmpty else {
            throw RegistryError.invalid("--registry needs a user: postgres://USER@HOST/DATABASE")
        }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty else {
            throw RegistryError.invalid(
                "--registry needs a database: postgres://USER@HOST/DATABASE")
        }
        self.host = host
        port = url.port ?? 5432
        username = user
        self.password = password ?? url.password
        self.database = database
        requireTLS =
            url.queryItems?.contains {
                $0.name == "sslmode"
                    && ["require", "verify-full", "verify-ca"].contains($0.value ?? "")
            } ?? false
    }

    /// The URL without the password.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)"
            + (requireTLS ? "?sslmode=require" : "")
    }
}

/// The first of several outcomes (a result, the timeout, the caller's cancellation) wins,
/// except that once the work has claimed its commit only the work's own result counts.
actor FirstOutcome<T: Sendable> {
    private var outcome: Result<T, any Error>?
    private var committing = false
    private var waiter: CheckedContinuation<T, any Error>?

    /// `final`: the work's own result (it wins even after a claimed commit).
    func settle(_ result: Result<T, any Error>, final: Bool) {
        guard final || !committing else { return }
        answer(result)
    }

    /// Whether the work may commit: false once the bound or the caller's cancellation has
    /// answered the caller (the work must roll back then).
    func claimCommit() -> Bool {
        guard outcome == nil else { return false }
        committing = true
        return true
    }

    /// The commit was claimed but never answered: the caller gets `result` all the same.
    func giveUpOnCommit(_ result: Result<T, any Error>) { answer(result) }

    /// The caller's answer, once: later ones are dropped.
    private func answer(_ result: Result<T, any Error>) {
        guard outcome == nil else { return }
        outcome = result
        waiter?.resume(with: result)
        waiter = nil
    }

    func value() async throws -> T {
        if let outcome { return try outcome.get() }
        return try await withCheckedThrowingContinuation { waiter = $0 }
    }
}
