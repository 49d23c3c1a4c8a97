import Foundation
import SegmentationEngine

// Training jobs: the catalogue's rules, for every backend.

extension CatalogStore {
    public func insertJob(_ job: JobRecord, request: ClientRequest?) async throws -> String {
        let columns = try JobColumns(job)
        return try await write { transaction in
            if let request, let earlier = try await Self.record(request, transaction) {
                return earlier
            }
            _ = try await transaction.rows(
                """
                INSERT INTO jobs (id, model_name, dataset_id, configuration_json, status, stage, fraction, created_at,
                    started_at, finished_at, error, model_version, k_metrics_json, error_code, error_reason, owner)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [job.id] + columns.values + [job.owner])
            return job.id
        }
    }

    public func updateJob(_ job: JobRecord) async throws {
        let columns = try JobColumns(job)
        try await write { transaction in try await Self.update(job, columns, transaction) }
    }

    /// A job claimed by a server is written only by it, while it holds the job: a server that
    /// lost it (queued again after it seemed dead) cannot overwrite the new run or register a
    /// second version for it. A job no server claimed (`owner` nil) is written by its own.
    static func update(
        _ job: JobRecord, _ columns: JobColumns, _ transaction: any CatalogTransaction
    ) async throws {
        let updated = try await transaction.rows(
            """
            UPDATE jobs SET model_name = ?, dataset_id = ?, configuration_json = ?, status = ?, stage = ?,
                fraction = ?, created_at = ?, started_at = ?, finished_at = ?, error = ?, model_version = ?,
                k_metrics_json = ?, error_code = ?, error_reason = ?
            WHERE id = ? AND (CAST(? AS TEXT) IS NULL OR (owner = ? AND status = 'running'))
            RETURNING id
            """, columns.values + [job.id, job.owner, job.owner])
        guard updated.count == 1 else {
            throw RegistryError.notFound(job.owner == nil ? .job(job.id) : .heldJob(job.id))
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        try await read { transaction in
            try await transaction.rows("SELECT * FROM jobs WHERE id = ?", id).first.map(
                JobRecord.init(row:))
        }
    }

    public func jobs(
        limit: Int, modelName: String?, after cursor: JobCursor?
    ) async throws -> Listing<JobRecord> {
        let seconds = cursor?.createdAt.timeIntervalSince1970
        return try await read { transaction in
            // NULL filters are off: one statement serves every combination.
            Listing(
                try await transaction.rows(
                    """
                    SELECT * FROM jobs
                    WHERE (CAST(? AS TEXT) IS NULL OR model_name = ?)
                      AND (CAST(? AS DOUBLE PRECISION) IS NULL OR created_at < ? OR (created_at = ? AND id < ?))
                    ORDER BY created_at DESC, id DESC LIMIT ?
                    """, modelName, modelName, seconds, seconds, seconds, cursor?.id, limit),
                JobRecord.init(row:))
        }
    }

    /// Marks queued and running jobs failed: `owner`'s only when given (a restarting server
    /// must not fail the jobs other servers are running).
    public func failUnfinishedJobs(
        reason: String, at date: Date, owner: String?
    ) async throws -> Int {
        try await write { transaction in
            try await transaction.rows(
                """
                UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, error_code = ?, error_reason = ?
                WHERE status IN ('queued', 'running') AND (CAST(? AS TEXT) IS NULL OR owner = ?)
                RETURNING id
                """, reason, date.timeIntervalSince1970, JobFailure.interrupted.code,
                JobFailure.interrupted.reason, owner, owner
            ).count
        }
    }
}

/// A job's columns that an update writes, in the statements' order, encoded before the
/// transaction starts (so no encoding error can come mid-transaction).
struct JobColumns: Sendable {
    let values: [any StatementArgument]

    init(_ job: JobRecord) throws {
        values = [
            job.modelName, job.datasetID, try JSON.text(job.configuration), job.status.rawValue,
            job.stage, job.fraction, job.createdAt.timeIntervalSince1970,
            job.startedAt?.timeIntervalSince1970, job.finishedAt?.timeIntervalSince1970,
            job.error, job.modelVersion, try JSON.text(job.kMetrics), job.failure?.code,
            job.failure?.reason,
        ]
    }
}

extension JobRecord {
    init(row: StoredRow) throws {
        guard let status = JobStatus(rawValue: try row.text("status")) else {
            throw RegistryError.corrupt("unknown job status")
        }
        self.init(
            id: try row.text("id"), modelName: try row.text("model_name"),
            datasetID: try row.text("dataset_id"),
            configuration: try row.json("configuration_json"),
            status: status, stage: try row.text("stage"), fraction: try row.double("fraction"),
            createdAt: try row.date("created_at"), startedAt: try row.optionalDate("started_at"),
            finishedAt: try row.optionalDate("finished_at"), error: try row.optionalText("error"),
            modelVersion: try row.optionalInt("model_version"),
            kMetrics: try row.json("k_metrics_json"), owner: try row.optionalText("owner"),
            failure: try Self.failure(row))
    }

    private static func failure(_ row: StoredRow) throws -> JobFailure? {
        guard let code = try row.optionalInt("error_code"),
            let reason = try row.optionalText("error_reason")
        else { return nil }
        return JobFailure(code: code, reason: reason)
    }
}
