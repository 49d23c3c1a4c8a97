import Foundation

/// One open transaction of a registry's database: the few things the catalogue's rules need
/// from a driver. Statements use `?` placeholders and SQL both SQLite and PostgreSQL read alike;
/// where they differ, the transaction says how (`forUpdate`, `lockKey`, `announce`).
public protocol CatalogTransaction: Sendable {
    /// Runs one statement; its rows (use RETURNING to see what a write changed).
    func rows(_ sql: String, _ arguments: [any StatementArgument]) async throws -> [StoredRow]
    /// Runs one query and hands its rows over one at a time, so only one row is in memory at
    /// once (every stored model's bytes, say).
    func forEachRow(
        _ sql: String, _ arguments: [any StatementArgument],
        _ body: @escaping @Sendable (StoredRow) throws -> Void
    ) async throws
    /// Appended to a SELECT that reads a row the transaction will change, or whose existence it
    /// relies on: row locks where writers run at once (PostgreSQL), nothing where the whole
    /// transaction is exclusive anyway (SQLite).
    var forUpdate: String { get }
    var forShare: String { get }
    /// Makes transactions that take the same key run one after the other, until this one ends
    /// (two replicas' identical requests); a database with one writer at a time need not.
    func lockKey(_ key: String) async throws
    /// Tells the other servers on this registry that a model's versions or aliases changed, once
    /// the transaction commits (and only if it does).
    func announce(model: String) async throws
}

extension CatalogTransaction {
    func rows(_ sql: String, _ arguments: any StatementArgument...) async throws -> [StoredRow] {
        try await rows(sql, arguments)
    }

    func exists(_ sql: String, _ arguments: any StatementArgument...) async throws -> Bool {
        try await !rows(sql, arguments).isEmpty
    }
}

/// A registry whose catalogue rules (what may be deleted, when a request id is a retry, how a
/// version is numbered, which messages say so) are this module's, written once in the
/// `CatalogStore` extensions; a conforming type is a thin driver: it opens transactions and
/// runs statements on its database, and may watch versions come and go.
public protocol CatalogStore: Registry {
    /// One transaction that only reads; its statements see one snapshot.
    func read<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T
    /// One transaction that writes: all of it or nothing is applied, and never after the caller
    /// was told it failed.
    func write<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T
    /// A read over every stored model (a start-up check): allowed longer than a call.
    func longRead<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T

    /// A version was registered (committed).
    func registered(_ version: VersionRecord)
    /// A version is about to be deleted; `notDeleted` follows when it was not.
    func deleting(_ name: String, _ version: Int)
    func notDeleted(_ name: String, _ version: Int)
    /// Versions the driver knows were registered that `present` lacks (lost committed writes).
    func lostVersions(present: Set<VersionKey>) -> [DamagedVersion]
}

extension CatalogStore {
    public func longRead<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T { try await read(body) }
    public func registered(_ version: VersionRecord) {}
    public func deleting(_ name: String, _ version: Int) {}
    public func notDeleted(_ name: String, _ version: Int) {}
    public func lostVersions(present: Set<VersionKey>) -> [DamagedVersion] { [] }
}

/// A model version by name and number.
public struct VersionKey: Hashable, Sendable {
    public var model: String
    public var version: Int

    public init(model: String, version: Int) {
        self.model = model
        self.version = version
    }
}

/// A stored version that cannot be served, and why.
public typealias DamagedVersion = (model: String, version: Int, reason: String)
