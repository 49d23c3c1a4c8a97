import Foundation
import Logging
import PostgresNIO

// What makes the PostgreSQL registry shared: the change feed every replica follows, and the
// job queue any replica may take work from.

extension PostgresRegistry: SharedRegistry {
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

    // Each of these is one statement, atomic on its own: no transaction block around it. Times
    // come from the database's clock (`clock_timestamp()`), never the servers'.

    public func claimJob(owner: String) async throws -> JobRecord? {
        // Through the commit gate: a claim that lands after the caller gave up would leave a job
        // "running" here that nothing runs.
        let rows = try await gated(
            """
            UPDATE jobs SET status = 'running', owner = \(owner), heartbeat_at = EXTRACT(EPOCH FROM clock_timestamp()),
                attempts = attempts + 1, started_at = EXTRACT(EPOCH FROM clock_timestamp()), stage = 'reading', error = NULL,
                error_code = NULL, error_reason = NULL
            WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND NOT cancel_requested
                        ORDER BY created_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
            RETURNING *
            """)
        return try rows.first.map { try JobRecord(row: PostgresTransaction.stored($0)) }
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
        try await write { (transaction: PostgresTransaction) in
            try await transaction.connection.query(query, logger: transaction.logger).collect()
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
                             ELSE 'its server stopped responding, on each of ' || attempts || ' attempts' END,
                error_code = \(JobFailure.interrupted.code), error_reason = \(JobFailure.interrupted.reason)
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
        try await write { (transaction: PostgresTransaction) in
            let connection = transaction.connection, logger = transaction.logger
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
                    throw RegistryError.notFound(.job(jobID))
                }
                return try JobRecord(row: PostgresTransaction.stored(stored))
            }
            return try JobRecord(row: PostgresTransaction.stored(row))
        }
    }
}
