import Foundation
import GRDB
import Logging

/// The embedded registry: one SQLite database (WAL mode) in the data directory, through GRDB; a
/// thin driver under the catalogue's rules (`CatalogStore`). `synchronous=FULL`: a commit the
/// server acknowledged survives a power cut too, at the cost of one more fsync per write. The
/// write-ahead log is checkpointed apart from the writers (`keepCheckpointing`), so live
/// ingests, which write often, do not wait for it. The database is checked (`quick_check`) when
/// opened, and the versions it acknowledged are kept in a ledger beside it, so versions lost
/// with committed writes are named.
///
/// Transactions run on GRDB's writer connection one at a time (an async turnstile), each
/// statement one access, so the rules' statements can be async as PostgreSQL's are. A cancelled
/// transaction rolls back and leaves nothing.
public final class SQLiteRegistry: CatalogStore {
    private let database: DatabasePool
    /// A connection of its own for checkpoints (`checkpoint()`), so that none runs in a writer.
    private let checkpointer: DatabaseQueue
    private let ledger: VersionLedger
    private let turnstile = Turnstile()

    public init(path: String) throws {
        ledger = VersionLedger(path: (path as NSString).deletingPathExtension + "-versions.log")
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        // A transaction spans several accesses (one per statement); the turnstile keeps them apart.
        configuration.allowsUnsafeTransactions = true
        // SQLite's automatic checkpoint runs in the writer that commits past 1,000 pages of
        // log, and made that commit wait several milliseconds (1% of live ingests at 5-10 ms
        // against 2). The server checkpoints on a connection of its own instead (`checkpoint()`,
        // every second); the automatic one stays as a backstop at 100,000 pages should that stop.
        configuration.prepareDatabase { db in
            // The log's file is cut back to 64 MB when it starts afresh.
            try db.execute(
                sql:
                    "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 100000; PRAGMA journal_size_limit = 67108864"
            )
        }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try database.writeWithoutTransaction { db in try Self.migrate(db) }
            var own = Configuration()
            own.busyMode = .timeout(5)
            checkpointer = try DatabaseQueue(path: path, configuration: own)
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

    /// Copies what the write-ahead log holds into the database, as far as readers allow, without
    /// holding up writers (a passive checkpoint); the next writer then starts the log afresh.
    /// Under writes that never pause the log is never wholly copied, so never started afresh,
    /// and would grow: past this many pages (40 MB) a restart checkpoint waits for the writer
    /// that is running, copies the few pages the passive one left, and starts it afresh.
    static let restartPages = 10_000

    public func checkpoint() async throws {
        try await checkpointer.writeWithoutTransaction { db in
            let passive = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")
            let pages: Int = passive?["log"] ?? 0
            if pages > Self.restartPages {
                _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(RESTART)")
            }
        }
    }

    /// Checkpoints every `interval` until cancelled (a server part); a failure is logged when it
    /// starts and when it ends, not every time.
    public func keepCheckpointing(every interval: Duration = .seconds(1), logger: Logger) async {
        var failing = false
        while !Task.isCancelled {
            do {
                try await checkpoint()
                if failing { logger.info("registry checkpoints work again") }
                failing = false
            } catch {
                if !failing {
                    logger.warning(
                        "registry checkpoint failed: the write-ahead log grows until one works",
                        metadata: ["error": "\(error)"])
                }
                failing = true
            }
            try? await Task.sleep(for: interval)
        }
    }

    // MARK: CatalogStore

    public func read<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T { try await transaction(begin: "BEGIN DEFERRED", body) }

    public func write<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T { try await transaction(begin: "BEGIN IMMEDIATE", body) }

    public func registered(_ version: VersionRecord) {
        ledger.registered(version.name, version.version, at: version.createdAt)
    }
    public func deleting(_ name: String, _ version: Int) { ledger.deleting(name, version) }
    public func notDeleted(_ name: String, _ version: Int) { ledger.notDeleted(name, version) }

    /// Versions this registry acknowledged that its database no longer holds.
    public func lostVersions(present: Set<VersionKey>) -> [DamagedVersion] {
        ledger.acknowledged().filter { !present.contains($0.key) }
            .sorted { ($0.key.model, $0.key.version) < ($1.key.model, $1.key.version) }
            .map {
                (
                    model: $0.key.model, version: $0.key.version,
                    reason:
                        "it was registered on \($0.value.formatted(.iso8601)) and acknowledged, but the database no longer holds it: "
                        + "it lost committed writes (a WAL file truncated or deleted after a crash, or an older backup restored); restore it from a backup or train it again"
                )
            }
    }

    private func transaction<T: Sendable>(
        begin: String, _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T {
        await turnstile.enter()
        do {
            let result = try await run(begin: begin, body)
            await turnstile.leave()
            return result
        } catch {
            await turnstile.leave()
            throw Self.registryError(error)
        }
    }

    private func run<T: Sendable>(
        begin: String, _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T {
        try Task.checkCancellation()
        let database = self.database
        try await database.writeWithoutTransaction { db in try db.execute(sql: begin) }
        do {
            let result = try await body(SQLiteTransaction(database: database))
            try await database.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
            return result
        } catch {
            // Not cancellable: a cancelled caller's transaction must still end here.
            await Task {
                try? await database.writeWithoutTransaction { db in
                    if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") }
                }
            }.value
            throw error
        }
    }

    // MARK: Schema

    /// The shared migration list, after adopting a database made before it (GRDB's own ledger,
    /// with the first migration's tables in three steps).
    private static func migrate(_ db: Database) throws {
        try db.inTransaction {
            try adoptLegacyLedger(db)
            try db.execute(sql: CatalogSchema.ledger)
            let applied = Set(try Int.fetchAll(db, sql: "SELECT version FROM schema_migrations"))
            for migration in try CatalogSchema.pending(applied: applied) {
                for statement in migration.statements {
                    try db.execute(sql: CatalogSchema.spelled(statement, for: .sqlite))
                }
                try db.execute(
                    sql:
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    arguments: [migration.version, migration.name, Date().timeIntervalSince1970])
            }
            return .commit
        }
    }

    /// A registry written by a server before the shared list kept GRDB's ledger; its tables are
    /// the list's first migration once its own later steps are applied.
    private static func adoptLegacyLedger(_ db: Database) throws {
        guard try db.tableExists("grdb_migrations"), try !db.tableExists("schema_migrations")
        else { return }
        let done = Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
        guard done.contains("v1") else { return }
        if !done.contains("v2: model checksums") {
            try db.execute(sql: "ALTER TABLE versions ADD COLUMN model_sha256 TEXT")
            for row in try Row.fetchAll(db, sql: "SELECT model, version, model_blob FROM versions")
            {
                let blob: Data = row["model_blob"]
                try db.execute(
                    sql: "UPDATE versions SET model_sha256 = ? WHERE model = ? AND version = ?",
                    arguments: [sha256(blob), row["model"], row["version"]])
            }
        }
        if !done.contains("v3: client request ids") {
            try db.execute(
                sql: CatalogSchema.spelled(
                    CatalogSchema.migrations[0].statements.last!, for: .sqlite))
        }
        try db.execute(sql: CatalogSchema.ledger)
        try db.execute(
            sql:
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'tables', ?)",
            arguments: [Date().timeIntervalSince1970])
    }

    /// SQLite's failures by what a caller can do about them: retry (busy), free space (full),
    /// restore (corrupt), or nothing (the rest).
    private static func registryError(_ error: any Error) -> any Error {
        if error is RegistryError || error is CancellationError { return error }
        guard let database = error as? DatabaseError else {
            return RegistryError.storage(String(describing: error))
        }
        switch database.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: return RegistryError.busy("the registry is busy; retry")
        case .SQLITE_FULL: return RegistryError.full("the registry's disk is full")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return RegistryError.damagedDatabase(
                "the registry database is damaged (\(database.resultCode))")
        case .SQLITE_INTERRUPT: return CancellationError()
        default:
            return RegistryError.storage(
                "SQLite error \(database.resultCode.rawValue): \(database.message ?? "")")
        }
    }
}

/// Statements of one open transaction on the writer connection.
private struct SQLiteTransaction: CatalogTransaction {
    let database: DatabasePool

    var forUpdate: String { "" }
    var forShare: String { "" }
    func lockKey(_ key: String) async throws {}
    func announce(model: String) async throws {}

    func rows(_ sql: String, _ arguments: [any StatementArgument]) async throws -> [StoredRow] {
        let arguments = Self.arguments(arguments)
        return try await database.writeWithoutTransaction { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.stored)
        }
    }

    func forEachRow(
        _ sql: String, _ arguments: [any StatementArgument],
        _ body: @escaping @Sendable (StoredRow) throws -> Void
    ) async throws {
        let arguments = Self.arguments(arguments)
        try await database.writeWithoutTransaction { db in
            let cursor = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try cursor.next() { try body(Self.stored(row)) }
        }
    }

    private static func arguments(_ values: [any StatementArgument]) -> StatementArguments {
        StatementArguments(
            values.map { value -> DatabaseValue in
                switch value.storedValue {
                case .null: .null
                case .integer(let int): int.databaseValue
                case .real(let double): double.databaseValue
                case .text(let text): text.databaseValue
                case .blob(let data): data.databaseValue
                }
            })
    }

    private static func stored(_ row: Row) -> StoredRow {
        var values: [String: StoredValue] = [:]
        for (column, value) in row {
            values[column] =
                switch value.storage {
                case .null: .null
                case .int64(let int): .integer(int)
                case .double(let double): .real(double)
                case .string(let text): .text(text)
                case .blob(let data): .blob(data)
                }
        }
        return StoredRow(values)
    }
}

/// One transaction at a time, in the order they asked (an async lock: the holder awaits).
private actor Turnstile {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        guard busy else { busy = true; return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}
