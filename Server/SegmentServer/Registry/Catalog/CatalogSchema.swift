import Foundation

/// The registry's tables, as one list of migrations both backends apply in order, each once,
/// recording them in `schema_migrations`. A new table or column is one more entry here.
///
/// Statements are written in PostgreSQL's types; `statements(for:)` gives SQLite's spelling
/// (its type affinities read the rest alike).
public enum CatalogSchema {
    public struct Migration: Sendable {
        public var version: Int
        public var name: String
        var statements: [String]
    }

    public enum Dialect: Sendable { case sqlite, postgres }

    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "tables",
            statements: [
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
            ]),
        Migration(
            version: 2, name: "job owners", statements: ["ALTER TABLE jobs ADD COLUMN owner TEXT"]),
        Migration(
            version: 3, name: "shared job queue",
            statements: [
                "ALTER TABLE jobs ADD COLUMN heartbeat_at DOUBLE PRECISION",
                "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
                "ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE",
                "CREATE INDEX jobs_by_status ON jobs(status, created_at)",
            ]),
        Migration(
            version: 4, name: "alias history",
            statements: [
                // Kept when versions or the model go: the audit log outlives what it tells of.
                """
                CREATE TABLE alias_history (
                    model TEXT NOT NULL, sequence INTEGER NOT NULL, alias TEXT NOT NULL, action TEXT NOT NULL,
                    previous_version INTEGER, version INTEGER, author TEXT, role TEXT, peer TEXT,
                    at DOUBLE PRECISION NOT NULL, PRIMARY KEY (model, sequence))
                """
            ]),
        Migration(
            version: 5, name: "drift windows",
            statements: [
                """
                CREATE TABLE drift_windows (
                    model TEXT NOT NULL, version INTEGER NOT NULL, hour BIGINT NOT NULL,
                    counts_json TEXT NOT NULL, PRIMARY KEY (model, version, hour))
                """,
                // Old windows are dropped by hour on every write.
                "CREATE INDEX drift_windows_by_hour ON drift_windows(hour)",
            ]),
        Migration(
            version: 6, name: "job failure reasons",
            statements: [
                "ALTER TABLE jobs ADD COLUMN error_code INTEGER",
                "ALTER TABLE jobs ADD COLUMN error_reason TEXT",
            ]),
        Migration(
            version: 7, name: "live segmentation",
            statements: [
                // One store per model name: the ref it follows, its clock, the columns of its
                // batches, the version its segments are under, the change feed's next position,
                // and a model change's re-evaluation in progress (a customer-id cursor).
                """
                CREATE TABLE live_stores (
                    model TEXT PRIMARY KEY, follows TEXT NOT NULL, clock TEXT NOT NULL, schema_json TEXT,
                    version INTEGER NOT NULL, next_sequence BIGINT NOT NULL, customers BIGINT NOT NULL,
                    rescan_after TEXT, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)
                """,
                // last_day: the last purchase day of a customer with features (NULL without), for
                // the event clock's "day after the latest purchase".
                """
                CREATE TABLE live_customers (
                    model TEXT NOT NULL, customer_id TEXT NOT NULL, state BYTEA NOT NULL, last_day INTEGER,
                    segment INTEGER, version INTEGER NOT NULL, evaluated_day INTEGER NOT NULL,
                    PRIMARY KEY (model, customer_id))
                """,
                "CREATE INDEX live_customers_by_segment ON live_customers(model, segment, customer_id)",
                "CREATE INDEX live_customers_by_evaluation ON live_customers(model, evaluated_day, customer_id)",
                "CREATE INDEX live_customers_by_last_day ON live_customers(model, last_day)",
                """
                CREATE TABLE live_moves (
                    model TEXT NOT NULL, sequence BIGINT NOT NULL, customer_id TEXT NOT NULL,
                    from_segment INTEGER, to_segment INTEGER, cause TEXT NOT NULL, day INTEGER NOT NULL,
                    version INTEGER NOT NULL, at DOUBLE PRECISION NOT NULL, PRIMARY KEY (model, sequence))
                """,
                "CREATE INDEX live_moves_by_time ON live_moves(at)",
            ]),
        Migration(
            version: 8, name: "live move versions",
            statements: [
                // The version a move's from-segment is a segment of: after a model change, an
                // earlier one than the move's own (NULL in older rows: unknown for a model
                // change, the move's own for the others).
                "ALTER TABLE live_moves ADD COLUMN from_version INTEGER"
            ]),
    ]

    static var newest: Int { migrations.last!.version }

    static let ledger = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)
        """

    /// The migrations a database that has `applied` still needs; refused when it was migrated by
    /// a newer server (its tables may mean what this one cannot read).
    static func pending(applied: Set<Int>) throws -> [Migration] {
        if let newest = applied.max(), newest > Self.newest {
            throw RegistryError.storage(
                "the registry's schema is version \(newest), newer than this server's \(Self.newest): upgrade the server"
            )
        }
        return migrations.filter { !applied.contains($0.version) }
    }

    /// Brings a database up to date in the caller's transaction, which the caller holds alone.
    static func migrate(_ transaction: any CatalogTransaction, dialect: Dialect) async throws {
        _ = try await transaction.rows(ledger)
        let applied = try await transaction.rows("SELECT version FROM schema_migrations")
            .map { try $0.int("version") }
        for migration in try pending(applied: Set(applied)) {
            for statement in migration.statements {
                _ = try await transaction.rows(spelled(statement, for: dialect))
            }
            _ = try await transaction.rows(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                migration.version, migration.name, Date().timeIntervalSince1970)
        }
    }

    static func spelled(_ statement: String, for dialect: Dialect) -> String {
        switch dialect {
        case .postgres: statement
        case .sqlite:
            statement.replacingOccurrences(of: "BYTEA", with: "BLOB")
                .replacingOccurrences(of: "DOUBLE PRECISION", with: "REAL")
                .replacingOccurrences(of: "BIGINT", with: "INTEGER")
        }
    }
}
