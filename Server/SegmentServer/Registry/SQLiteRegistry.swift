import Crypto
import Foundation
import GRDB
import SegmentationEngine

/// The embedded registry: one SQLite database (WAL mode) in the data directory, through GRDB.
/// Model bytes are stored in the versions table with their SHA-256, so a version and its model
/// are written in one transaction (after a crash there is either no version or a complete one)
/// and a changed byte is caught when read. `synchronous=FULL`: a commit the server acknowledged
/// survives a power cut too, at the cost of one more fsync per write (writes are rare: uploads,
/// jobs, versions, aliases). The database is checked (`quick_check`) when opened.
public final class SQLiteRegistry: Registry {
    private let database: DatabasePool
    private let ledger: VersionLedger

    public init(path: String) throws {
        ledger = VersionLedger(path: (path as NSString).deletingPathExtension + "-versions.log")
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw RegistryError.storage("cannot open the registry at \(path): \(error)")
        }
        let check = try database.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        guard check == ["ok"] else {
            throw RegistryError.storage(
                "the registry at \(path) fails SQLite's integrity check: \(check.prefix(3).joined(separator: "; "))"
            )
        }
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE datasets (
                        id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, columns_json TEXT NOT NULL,
                        files_json TEXT NOT NULL, rows INTEGER NOT NULL, customers INTEGER NOT NULL,
                        features_json TEXT NOT NULL, created_at REAL NOT NULL);
                    CREATE TABLE models (
                        name TEXT PRIMARY KEY, next_version INTEGER NOT NULL, created_at REAL NOT NULL,
                        updated_at REAL NOT NULL);
                    CREATE TABLE versions (
                        model TEXT NOT NULL REFERENCES models(name), version INTEGER NOT NULL,
                        created_at REAL NOT NULL, dataset_id TEXT NOT NULL, job_id TEXT, parent_version INTEGER,
                        kind TEXT NOT NULL, k INTEGER NOT NULL, silhouette REAL NOT NULL, customers INTEGER NOT NULL,
                        model_blob BLOB NOT NULL, PRIMARY KEY (model, version));
                    CREATE TABLE aliases (
                        model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
                        PRIMARY KEY (model, alias), FOREIGN KEY (model, version) REFERENCES versions(model, version));
                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY, model_name TEXT NOT NULL, dataset_id TEXT NOT NULL,
                        configuration_json TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL,
                        fraction REAL NOT NULL, created_at REAL NOT NULL, started_at REAL, finished_at REAL,
                        error TEXT, model_version INTEGER, k_metrics_json TEXT NOT NULL);
                    CREATE INDEX jobs_by_created ON jobs(created_at);
                    """)
        }
        migrator.registerMigration("v2: model checksums") { db in
            try db.execute(sql: "ALTER TABLE versions ADD COLUMN model_sha256 TEXT")
            for row in try Row.fetchAll(db, sql: "SELECT model, version, model_blob FROM versions")
            {
                let blob: Data = row["model_blob"]
                try db.execute(
                    sql: "UPDATE versions SET model_sha256 = ? WHERE model = ? AND version = ?",
                    arguments: [Self.sha256(blob), row["model"], row["version"]])
            }
        }
        migrator.registerMigration("v3: client request ids") { db in
            try db.execute(
                sql: """
                    CREATE TABLE requests (
                        method TEXT NOT NULL, request_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
                        result_id TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (method, request_id));
                    """)
        }
        return migrator
    }

    // MARK: Client request ids (idempotency)

    public func clientRequest(method: String, id: String) async throws -> ClientRequest? {
        try await read { db in try Self.clientRequest(db, method: method, id: id) }
    }

    public func forgetClientRequest(method: String, id: String) async throws {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM requests WHERE method = ? AND request_id = ?",
                arguments: [method, id])
        }
    }

    private static func clientRequest(
        _ db: Database, method: String, id: String
    ) throws -> ClientRequest? {
        let oldest = Date().timeIntervalSince1970 - ClientRequest.retention
        return try Row.fetchOne(
            db,
            sql: "SELECT * FROM requests WHERE method = ? AND request_id = ? AND created_at >= ?",
            arguments: [method, id, oldest]
        ).map { row in
            ClientRequest(
                method: row["method"], id: row["request_id"], fingerprint: row["fingerprint"],
                resultID: row["result_id"],
                createdAt: Date(timeIntervalSince1970: row["created_at"]))
        }
    }

    /// Records a request (forgetting those past the retention); returns the result id of an
    /// earlier identical request instead, when there is one.
    private static func record(_ request: ClientRequest, _ db: Database) throws -> String? {
        if let earlier = try clientRequest(db, method: request.method, id: request.id),
            try request.isRetry(of: earlier)
        {
            return earlier.resultID
        }
        try db.execute(
            sql: "DELETE FROM requests WHERE created_at < ?",
            arguments: [Date().timeIntervalSince1970 - ClientRequest.retention])
        try db.execute(
            sql:
                "INSERT OR REPLACE INTO requests (method, request_id, fingerprint, result_id, created_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [
                request.method, request.id, request.fingerprint, request.resultID,
                request.createdAt.timeIntervalSince1970,
            ])
        return nil
    }

    // MARK: Datasets

    public func insertDataset(
        _ dataset: DatasetRecord, request: ClientRequest?
    ) async throws -> Bool {
        try await write { db in
            if let request { _ = try Self.record(request, db) }
            if try Row.fetchOne(
                db, sql: "SELECT 1 FROM datasets WHERE id = ?", arguments: [dataset.id]) != nil
            {
                return false
            }
            try db.execute(
                sql: """
                    INSERT INTO datasets (id, name, kind, columns_json, files_json, rows, customers, features_json, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    dataset.id, dataset.name, dataset.kind.rawValue, try JSON.text(dataset.columns),
                    try JSON.text(dataset.files), dataset.rows, dataset.customers,
                    try JSON.text(dataset.features), dataset.createdAt.timeIntervalSince1970,
                ])
            return true
        }
    }

    public func dataset(id: String) async throws -> DatasetRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM datasets WHERE id = ?", arguments: [id]).map(
                Self.dataset(from:))
        }
    }

    public func datasets() async throws -> Listing<DatasetRecord> {
        try await read { db in
            Self.listing(
                try Row.fetchAll(db, sql: "SELECT * FROM datasets ORDER BY created_at DESC, id"),
                Self.dataset(from:))
        }
    }

    public func deleteDataset(id: String, force: Bool) async throws -> [String] {
        try await write { db in
            guard
                try Row.fetchOne(db, sql: "SELECT 1 FROM datasets WHERE id = ?", arguments: [id])
                    != nil
            else {
                throw RegistryError.notFound("dataset \(Names.quoted(id))")
            }
            if try Row.fetchOne(
                db,
                sql: "SELECT 1 FROM jobs WHERE dataset_id = ? AND status IN ('queued', 'running')",
                arguments: [id]) != nil
            {
                throw RegistryError.datasetInUse(
                    "dataset \(id.prefix(19)) is being used by a queued or running job; cancel it first"
                )
            }
            let trained = try Row.fetchAll(
                db,
                sql:
                    "SELECT model, version FROM versions WHERE dataset_id = ? ORDER BY model, version",
                arguments: [id]
            ).map { "\($0["model"] as String)@\($0["version"] as Int)" }
            if !trained.isEmpty && !force {
                throw RegistryError.datasetInUse(
                    "dataset \(id.prefix(19)) is the training data of \(trained.prefix(5).joined(separator: ", "))"
                        + (trained.count > 5 ? " and \(trained.count - 5) more" : "")
                        + "; force the delete to remove it anyway")
            }
            try db.execute(sql: "DELETE FROM datasets WHERE id = ?", arguments: [id])
            return trained
        }
    }

    /// Rows turned into records; a row that does not decode is skipped and counted.
    private static func listing<T>(_ rows: [Row], _ decode: (Row) throws -> T) -> Listing<T> {
        var items: [T] = []
        var unreadable = 0
        for row in rows {
            if let item = try? decode(row) { items.append(item) } else { unreadable += 1 }
        }
        return Listing(items: items, unreadable: unreadable)
    }

    private static func dataset(from row: Row) throws -> DatasetRecord {
        guard let kind = InputKind(rawValue: try value(row, "kind")) else {
            throw RegistryError.corrupt("unknown dataset kind")
        }
        return DatasetRecord(
            id: try value(row, "id"), name: try value(row, "name"), kind: kind,
            columns: try JSON.decode(try value(row, "columns_json") as String),
            files: try JSON.decode(try value(row, "files_json") as String),
            rows: try value(row, "rows"), customers: try value(row, "customers"),
            features: try JSON.decode(try value(row, "features_json") as String),
            createdAt: Date(timeIntervalSince1970: try value(row, "created_at")))
    }

    /// A column's value, or an error when it is NULL or of another type (GRDB's subscript would
    /// stop the process: one damaged row must never take the server down).
    private static func value<T: DatabaseValueConvertible>(_ row: Row, _ column: String) throws -> T
    {
        guard let value = T.fromDatabaseValue(row[column] as DatabaseValue) else {
            throw RegistryError.corrupt("column \(column) does not hold a \(T.self)")
        }
        return value
    }

    /// An optional column: NULL is nil, another type is an error.
    private static func optional<T: DatabaseValueConvertible>(
        _ row: Row, _ column: String
    ) throws -> T? {
        let raw = row[column] as DatabaseValue
        if raw.isNull { return nil }
        guard let value = T.fromDatabaseValue(raw) else {
            throw RegistryError.corrupt("column \(column) does not hold a \(T.self)")
        }
        return value
    }

    public func datasetIDs() async throws -> Set<String> {
        try await read { db in Set(try String.fetchAll(db, sql: "SELECT id FROM datasets")) }
    }

    // MARK: Jobs

    public func insertJob(_ job: JobRecord, request: ClientRequest?) async throws -> String {
        try await write { db in
            if let request, let earlier = try Self.record(request, db) { return earlier }
            try db.execute(
                sql: """
                    INSERT INTO jobs (id, model_name, dataset_id, configuration_json, status, stage, fraction, created_at,
                        started_at, finished_at, error, model_version, k_metrics_json)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: StatementArguments(try Self.jobArguments(job)))
            return job.id
        }
    }

    public func updateJob(_ job: JobRecord) async throws {
        try await write { db in try Self.update(job, db) }
    }

    private static func update(_ job: JobRecord, _ db: Database) throws {
        var arguments = try jobArguments(job)
        let id = arguments.removeFirst()
        try db.execute(
            sql: """
                UPDATE jobs SET model_name = ?, dataset_id = ?, configuration_json = ?, status = ?, stage = ?,
                    fraction = ?, created_at = ?, started_at = ?, finished_at = ?, error = ?, model_version = ?,
                    k_metrics_json = ?
                WHERE id = ?
                """, arguments: StatementArguments(arguments + [id]))
        guard db.changesCount == 1 else { throw RegistryError.notFound("job \(job.id)") }
    }

    private static func jobArguments(_ job: JobRecord) throws -> [(any DatabaseValueConvertible)?] {
        [
            job.id, job.modelName, job.datasetID, try JSON.text(job.configuration),
            job.status.rawValue, job.stage,
            job.fraction, job.createdAt.timeIntervalSince1970, job.startedAt?.timeIntervalSince1970,
            job.finishedAt?.timeIntervalSince1970, job.error, job.modelVersion,
            try JSON.text(job.kMetrics),
        ]
    }

    public func job(id: String) async throws -> JobRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE id = ?", arguments: [id]).map(
                Self.job(from:))
        }
    }

    public func jobs(
        limit: Int, modelName: String?, after cursor: JobCursor?
    ) async throws -> Listing<JobRecord> {
        try await read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let modelName {
                conditions.append("model_name = ?")
                arguments += [modelName]
            }
            if let cursor {
                conditions.append("(created_at < ? OR (created_at = ? AND id < ?))")
                arguments += [
                    cursor.createdAt.timeIntervalSince1970, cursor.createdAt.timeIntervalSince1970,
                    cursor.id,
                ]
            }
            arguments += [limit]
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return Self.listing(
                try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM jobs \(filter) ORDER BY created_at DESC, id DESC LIMIT ?",
                    arguments: arguments), Self.job(from:))
        }
    }

    /// The embedded registry has one server: every unfinished job is that server's.
    public func failUnfinishedJobs(
        reason: String, at date: Date, owner: String?
    ) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: """
                    UPDATE jobs SET status = 'failed', error = ?, finished_at = ?
                    WHERE status IN ('queued', 'running')
                    """, arguments: [reason, date.timeIntervalSince1970])
            return db.changesCount
        }
    }

    private static func job(from row: Row) throws -> JobRecord {
        guard let status = JobStatus(rawValue: try value(row, "status")) else {
            throw RegistryError.corrupt("unknown job status")
        }
        return JobRecord(
            id: try value(row, "id"), modelName: try value(row, "model_name"),
            datasetID: try value(row, "dataset_id"),
            configuration: try JSON.decode(try value(row, "configuration_json") as String),
            status: status, stage: try value(row, "stage"), fraction: try value(row, "fraction"),
            createdAt: Date(timeIntervalSince1970: try value(row, "created_at")),
            startedAt: (try optional(row, "started_at") as Double?).map(
                Date.init(timeIntervalSince1970:)),
            finishedAt: (try optional(row, "finished_at") as Double?).map(
                Date.init(timeIntervalSince1970:)),
            error: try optional(row, "error"), modelVersion: try optional(row, "model_version"),
            kMetrics: try JSON.decode(try value(row, "k_metrics_json") as String))
    }

    // MARK: Models and versions

    public func addVersion(
        _ new: NewVersion, completing job: JobRecord?
    ) async throws -> VersionRecord {
        let record = try await write { db in
            let now = Date.wholeSeconds()
            let next = try Int.fetchOne(
                db, sql: "SELECT next_version FROM models WHERE name = ?", arguments: [new.name])
            if next == nil {
                try db.execute(
                    sql:
                        "INSERT INTO models (name, next_version, created_at, updated_at) VALUES (?, 1, ?, ?)",
                    arguments: [new.name, now.timeIntervalSince1970, now.timeIntervalSince1970])
            }
            let number = next ?? 1
            let record = VersionRecord(
                name: new.name, version: number, createdAt: now, datasetID: new.datasetID,
                jobID: new.jobID,
                parentVersion: new.parentVersion, kind: new.model.kind, k: new.model.k,
                silhouette: new.model.metrics.silhouette,
                customers: new.model.dataReport.customersOut)
            try db.execute(
                sql: """
                    INSERT INTO versions (model, version, created_at, dataset_id, job_id, parent_version, kind, k, silhouette,
                        customers, model_blob, model_sha256)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.name, record.version, now.timeIntervalSince1970, record.datasetID,
                    record.jobID,
                    record.parentVersion, record.kind.rawValue, record.k, record.silhouette,
                    record.customers, new.modelBytes, Self.sha256(new.modelBytes),
                ])
            try db.execute(
                sql: "UPDATE models SET next_version = ?, updated_at = ? WHERE name = ?",
                arguments: [number + 1, now.timeIntervalSince1970, new.name])
            if var job {
                job.modelVersion = number
                try Self.update(job, db)
            }
            return record
        }
        ledger.registered(record.name, record.version, at: record.createdAt)
        return record
    }

    public func models() async throws -> [ModelSummaryRecord] {
        try await read { db in
            let aliasRows = try Row.fetchAll(db, sql: "SELECT model, alias, version FROM aliases")
            var aliases: [String: [String: Int]] = [:]
            for row in aliasRows {
                aliases[row["model"], default: [:]][row["alias"]] = row["version"]
            }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT m.name, m.updated_at, MAX(v.version) AS latest, COUNT(v.version) AS count
                    FROM models m JOIN versions v ON v.model = m.name
                    GROUP BY m.name ORDER BY m.name
                    """
            ).map { row in
                ModelSummaryRecord(
                    name: row["name"], latestVersion: row["latest"], versionCount: row["count"],
                    aliases: aliases[row["name"]] ?? [:],
                    updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
            }
        }
    }

    public func versions(of name: String) async throws -> [VersionRecord] {
        try await read { db in
            guard
                try Row.fetchOne(db, sql: "SELECT 1 FROM models WHERE name = ?", arguments: [name])
                    != nil
            else {
                throw RegistryError.notFound("model \(name.quotedForMessage)")
            }
            // A row that does not decode is left out here and named by corruptVersions().
            return try Row.fetchAll(
                db, sql: "\(Self.versionColumns) WHERE model = ? ORDER BY version",
                arguments: [name]
            )
            .compactMap { try? Self.version(from: $0) }
        }
    }

    public func version(_ name: String, _ number: Int) async throws -> VersionRecord? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "\(Self.versionColumns) WHERE model = ? AND version = ?",
                arguments: [name, number]
            )
            .map { try Self.version(from: $0) }
        }
    }

    private static let versionColumns = """
        SELECT model, version, created_at, dataset_id, job_id, parent_version, kind, k, silhouette, customers FROM versions
        """

    /// A version's record; `corrupt` naming the column when one holds the wrong type (GRDB's
    /// subscripts would stop the process on it).
    private static func version(from row: Row) throws -> VersionRecord {
        VersionRecord(
            name: try value(row, "model"), version: try value(row, "version"),
            createdAt: Date(timeIntervalSince1970: try value(row, "created_at")),
            datasetID: try value(row, "dataset_id"), jobID: try optional(row, "job_id"),
            parentVersion: try optional(row, "parent_version"),
            kind: InputKind(rawValue: try value(row, "kind")) ?? .transactions,
            k: try value(row, "k"),
            silhouette: try value(row, "silhouette"), customers: try value(row, "customers"))
    }

    public func modelBytes(_ name: String, _ number: Int) async throws -> Data {
        try await read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql:
                        "SELECT model_blob, model_sha256 FROM versions WHERE model = ? AND version = ?",
                    arguments: [name, number])
            else {
                throw RegistryError.notFound("model version \(name)@\(number)")
            }
            let data: Data = try Self.value(row, "model_blob")
            let expected: String? = try Self.optional(row, "model_sha256")
            // A version written without a checksum (by an older binary) cannot be checked, not judged damaged.
            guard expected == nil || expected == Self.sha256(data) else {
                throw RegistryError.corrupt(
                    "model version \(name)@\(number) is damaged: its stored bytes fail their SHA-256 checksum"
                )
            }
            return data
        }
    }

    public func probe() async throws {
        _ = try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM aliases") }
    }

    public func corruptVersions() async throws -> [(model: String, version: Int, reason: String)] {
        try await read { db in
            // One blob in memory at a time.
            var damaged: [(model: String, version: Int, reason: String)] = []
            let rows = try Row.fetchCursor(
                db,
                sql:
                    "SELECT model, version, model_blob, model_sha256 FROM versions ORDER BY model, version"
            )
            while let row = try rows.next() {
                let data: Data? = try? Self.value(row, "model_blob")
                let expected: String? = try? Self.optional(row, "model_sha256")
                if expected == nil && data != nil { continue }
                if let data, expected == Self.sha256(data) { continue }
                damaged.append(
                    (
                        model: (try? Self.value(row, "model")) ?? "?",
                        version: (try? Self.value(row, "version")) ?? 0,
                        reason: "its stored bytes fail their SHA-256 checksum"
                    ))
            }
            for row in try Row.fetchAll(db, sql: Self.versionColumns) {
                do { _ = try Self.version(from: row) } catch {
                    damaged.append(
                        (
                            model: (try? Self.value(row, "model")) ?? "?",
                            version: (try? Self.value(row, "version")) ?? 0,
                            reason: "its record does not decode (\(error))"
                        ))
                }
            }
            return damaged
        } + lostVersions()
    }

    /// Versions this registry acknowledged that its database no longer holds.
    private func lostVersions() async throws -> [(model: String, version: Int, reason: String)] {
        let acknowledged = ledger.acknowledged()
        guard !acknowledged.isEmpty else { return [] }
        let present = try await read { db in
            Set(
                try Row.fetchAll(db, sql: "SELECT model, version FROM versions").map {
                    VersionLedger.Entry(model: $0["model"], version: $0["version"])
                })
        }
        return acknowledged.filter { !present.contains($0.key) }.sorted {
            ($0.key.model, $0.key.version) < ($1.key.model, $1.key.version)
        }.map {
            (
                model: $0.key.model, version: $0.key.version,
                reason:
                    "it was registered on \($0.value.formatted(.iso8601)) and acknowledged, but the database no longer holds it: "
                    + "it lost committed writes (a WAL file truncated or deleted after a crash, or an older backup restored); restore it from a backup or train it again"
            )
        }
    }

    public func aliases() async throws -> [(model: String, alias: String, version: Int)] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT model, alias, version FROM aliases ORDER BY model, alias"
            ).map {
                (model: $0["model"], alias: $0["alias"], version: $0["version"])
            }
        }
    }

    public func setAlias(_ name: String, alias: String, version: Int) async throws -> Int? {
        try Names.validateAlias(alias)
        return try await write { db in
            guard
                try Row.fetchOne(
                    db, sql: "SELECT 1 FROM versions WHERE model = ? AND version = ?",
                    arguments: [name, version]) != nil
            else {
                throw RegistryError.notFound("model version \(name)@\(version)")
            }
            let previous = try Int.fetchOne(
                db, sql: "SELECT version FROM aliases WHERE model = ? AND alias = ?",
                arguments: [name, alias])
            try db.execute(
                sql: """
                    INSERT INTO aliases (model, alias, version) VALUES (?, ?, ?)
                    ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version
                    """, arguments: [name, alias, version])
            return previous
        }
    }

    public func deleteAlias(_ name: String, alias: String) async throws {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM aliases WHERE model = ? AND alias = ?", arguments: [name, alias])
            guard db.changesCount == 1 else {
                throw RegistryError.notFound(
                    "alias \(alias.quotedForMessage) of model \(name.quotedForMessage)")
            }
        }
    }

    public func deleteVersion(_ name: String, _ number: Int, force: Bool) async throws -> [String] {
        ledger.deleting(name, number)
        do {
            return try await deleteVersionRows(name, number, force: force)
        } catch {
            ledger.notDeleted(name, number)
            throw error
        }
    }

    private func deleteVersionRows(
        _ name: String, _ number: Int, force: Bool
    ) async throws -> [String] {
        try await write { db in
            guard
                try Row.fetchOne(
                    db, sql: "SELECT 1 FROM versions WHERE model = ? AND version = ?",
                    arguments: [name, number]) != nil
            else {
                throw RegistryError.notFound("model version \(name)@\(number)")
            }
            let aliases = try String.fetchAll(
                db, sql: "SELECT alias FROM aliases WHERE model = ? AND version = ? ORDER BY alias",
                arguments: [name, number])
            if !aliases.isEmpty && !force {
                throw RegistryError.aliasedVersion(name: name, version: number, aliases: aliases)
            }
            try db.execute(
                sql: "DELETE FROM aliases WHERE model = ? AND version = ?",
                arguments: [name, number])
            try db.execute(
                sql: "DELETE FROM versions WHERE model = ? AND version = ?",
                arguments: [name, number])
            return aliases
        }
    }

    // MARK: Access

    private func read<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        do { return try await database.read(body) } catch { throw Self.registryError(error) }
    }

    private func write<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        do { return try await database.write(body) } catch { throw Self.registryError(error) }
    }

    /// SQLite's failures by what a caller can do about them: retry (busy), free space (full),
    /// restore (corrupt), or nothing (the rest).
    private static func registryError(_ error: any Error) -> RegistryError {
        if let error = error as? RegistryError { return error }
        guard let database = error as? DatabaseError else {
            return .storage(String(describing: error))
        }
        switch database.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .busy("the registry is busy; retry")
        case .SQLITE_FULL: return .full("the registry's disk is full")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return .damagedDatabase("the registry database is damaged (\(database.resultCode))")
        default:
            return .storage(
                "SQLite error \(database.resultCode.rawValue): \(database.message ?? "")")
        }
    }
}

/// JSON columns for small nested values.
enum JSON {
    static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}
