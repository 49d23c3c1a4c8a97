import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// The shared registry for many replicas: PostgreSQL through postgres-nio's connection pool; a
/// thin driver under the catalogue's rules (`CatalogStore`), the same tables and checksums as
/// the embedded SQLite registry. Every call is one bounded transaction (`PostgresCalls.swift`);
/// the schema is migrated by whichever replica starts first, under a transaction-scoped advisory
/// lock, so replicas starting together wait for each other. The shared job queue and the change
/// feed are in `PostgresJobQueue.swift`.
public final class PostgresRegistry: CatalogStore {
    let client: PostgresClient
    private let running: Task<Void, Never>?
    let logger: Logger
    /// Where it connects, without the password (for logs).
    public let location: String
    /// How long one call may take, waiting for a connection included (`--registry-timeout`).
    let callTimeout: Duration
    /// The change feed's own connection (LISTEN), outside the pool.
    let feedConfiguration: PostgresConnection.Configuration

    /// The channel every change of models, versions and aliases is announced on (the payload is
    /// the model's name), by NOTIFY in the changing transaction: sent only if it commits.
    static let changes = "segment_catalog"

    /// Advisory lock key of schema migrations ("segm" as an integer).
    static let migrationLock: Int64 = 0x7365_676D

    /// Connects and brings the schema up to date (on a connection of its own, bounded by the
    /// settings' start timeout).
    /// - Parameter runsPool: whether the registry runs its connection pool itself, as a task of
    ///   its own; false when the pool (`pool`) runs as a service of the caller's ServiceGroup.
    public init(settings: PostgresSettings, logger: Logger, runsPool: Bool = true) async throws {
        client = PostgresClient(
            configuration: settings.poolConfiguration(), backgroundLogger: logger)
        self.logger = logger
        location = settings.description
        callTimeout = settings.callTimeout
        feedConfiguration = try settings.connectionConfiguration()
        let feedConfiguration = self.feedConfiguration
        do {
            // Bound the first contact, so a wrong address fails the start in seconds, saying
            // where it looked. Not a task group: it would wait for a migration that ignores its
            // cancellation, and a start must end on time.
            try await Self.bounded(
                settings.startTimeout, location: location,
                late: RegistryError.unavailable(
                    "no answer from the registry at \(settings) within \(settings.startTimeout)")
            ) { _ in try await Self.migrate(feedConfiguration, logger: logger) }
        } catch {
            throw Self.registryError(error, location: settings.description)
        }
        let client = self.client
        running = runsPool ? Task { await client.run() } : nil
    }

    deinit { running?.cancel() }

    /// The connection pool, to run as a service when the registry does not run it itself.
    public var pool: some Service { client }

    /// Migrations take a transaction-scoped advisory lock, so replicas starting together take
    /// turns; statements are not bounded here (the start timeout bounds the whole).
    private static func migrate(
        _ configuration: PostgresConnection.Configuration, logger: Logger
    ) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: 0, logger: logger)
        try await withTaskCancellationHandler {
            do {
                try await connection.withTransaction(logger: logger) { connection in
                    try await connection.query(
                        "SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
                    try await CatalogSchema.migrate(
                        PostgresTransaction(connection: connection, logger: logger),
                        dialect: .postgres)
                }
            } catch {
                try? await connection.close()
                throw error
            }
            try await connection.close()
        } onCancel: {
            // A start that timed out: the migration's connection goes with it.
            Task { try? await connection.close() }
        }
    }
}

/// Statements of one open transaction on a pooled connection.
struct PostgresTransaction: CatalogTransaction {
    let connection: PostgresConnection
    let logger: Logger

    var forUpdate: String { " FOR UPDATE" }
    var forShare: String { " FOR SHARE" }

    func lockKey(_ key: String) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))", logger: logger)
    }

    func announce(model: String) async throws {
        try await connection.query(
            "SELECT pg_notify(\(PostgresRegistry.changes), \(model))", logger: logger)
    }

    func rows(_ sql: String, _ arguments: [any StatementArgument]) async throws -> [StoredRow] {
        try await connection.query(Self.query(sql, arguments), logger: logger).collect()
            .map(Self.stored)
    }

    func forEachRow(
        _ sql: String, _ arguments: [any StatementArgument],
        _ body: @escaping @Sendable (StoredRow) throws -> Void
    ) async throws {
        for try await row in try await connection.query(
            Self.query(sql, arguments), logger: logger)
        {
            try body(Self.stored(row))
        }
    }

    /// `?` placeholders numbered as PostgreSQL's `$1, $2...` (the catalogue's statements hold no
    /// `?` in a literal), the values bound.
    static func query(_ sql: String, _ arguments: [any StatementArgument]) -> PostgresQuery {
        var numbered = ""
        var index = 0
        for character in sql {
            if character == "?" {
                index += 1
                numbered += "$\(index)"
            } else {
                numbered.append(character)
            }
        }
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument.storedValue {
            case .null: binds.appendNull()
            case .integer(let int): binds.append(int)
            case .real(let double): binds.append(double)
            case .text(let text): binds.append(text)
            case .blob(let data): binds.append(ByteBuffer(bytes: data))
            }
        }
        return PostgresQuery(unsafeSQL: numbered, binds: binds)
    }

    static func stored(_ row: PostgresRow) throws -> StoredRow {
        var values: [String: StoredValue] = [:]
        for cell in row {
            values[cell.columnName] = try stored(cell)
        }
        return StoredRow(values)
    }

    private static func stored(_ cell: PostgresCell) throws -> StoredValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .numeric:
            guard let value = Double(try cell.decode(String.self)) else {
                throw RegistryError.corrupt("column \(cell.columnName) does not hold a number")
            }
            return .real(value)
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(try cell.decode(Data.self))
        default: return .text(try cell.decode(String.self))
        }
    }
}
