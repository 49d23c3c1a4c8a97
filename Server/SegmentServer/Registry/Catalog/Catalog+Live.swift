import Foundation
import SegmentationEngine

// Live stores: per model name, the customers' running state, their segments under the version
// the store follows, and the feed of their moves. Every write runs in one transaction that
// first locks the store's row (`liveStore(_:)`), so writers to one store - this server's
// ingests and time passes, other replicas' - take turns and the feed's positions have no gaps.

/// How a live store tells the day recency is measured to.
public enum LiveClock: String, Sendable, Equatable {
    /// Today, UTC.
    case wall
    /// The day after the latest purchase held, or the model's snapshot day if later.
    case event
}

/// A store's settings and counters (a row of live_stores).
public struct LiveStoreRecord: Sendable, Equatable {
    public var model: String
    /// The ref (`ModelReference` text) its segments follow.
    public var follows: String
    public var clock: LiveClock
    public var schema: LiveCustomerStore.Schema?
    /// The version its customers' segments are (being brought) under.
    public var version: Int
    public var nextSequence: Int64
    public var customers: Int
    /// A model change's re-evaluation in progress: customers after this id are still to do
    /// ("" from the first). nil: none.
    public var rescanAfter: String?
}

/// A customer of a store (a row of live_customers).
public struct LiveCustomerRecord: Sendable {
    public var id: String
    public var state: CustomerState
    /// Under `version`; nil without features.
    public var segment: Int?
    public var version: Int
    public var evaluatedDay: Int
    /// The state's bytes as read, while `state` is unchanged (a re-placement writes them back
    /// as they were instead of encoding the state again).
    var storedBytes: Data? = nil
}

/// A move of the change feed.
public struct LiveMoveRecord: Sendable, Equatable {
    public var sequence: Int64
    public var move: SegmentMove
    /// The version `move.to` is a segment of.
    public var version: Int
    /// The version `move.from` is a segment of (an earlier one after a model change); nil:
    /// unknown (a model change recorded before migration 8).
    public var fromVersion: Int?
    public var at: Date
}

/// A move about to be recorded, with the version its from-segment is a segment of.
struct PendingMove: Sendable {
    var move: SegmentMove
    var fromVersion: Int
}

extension CatalogTransaction {
    /// The store, its row locked until the transaction ends when `locking` (writers); nil when
    /// there is none. Readers take no lock: they must not queue behind ingests and passes.
    func liveStore(_ model: String, locking: Bool = true) async throws -> LiveStoreRecord? {
        try await rows(
            """
            SELECT model, follows, clock, schema_json, version, next_sequence, customers, rescan_after
            FROM live_stores WHERE model = ?\(locking ? forUpdate : "")
            """, model
        ).first.map(LiveStoreRecord.init(row:))
    }

    /// The version `reference` names as stored now (nil: none), read in this transaction: a
    /// replica's view of aliases may be a moment old, and must not point a store back.
    func storedVersion(of reference: ModelReference) async throws -> Int? {
        switch reference.selector {
        case .version(let number):
            return number
        case .alias(let alias):
            return try await rows(
                "SELECT version FROM aliases WHERE model = ? AND alias = ?", reference.name, alias
            ).first?.int("version")
        case .latest:
            return try await rows(
                "SELECT MAX(version) AS version FROM versions WHERE model = ?", reference.name
            ).first.flatMap { try $0.optionalInt("version") }
        }
    }

    /// Makes the store unless it exists (two replicas may make it at once: one row, the first's).
    func createLiveStore(_ store: LiveStoreRecord) async throws {
        let now = Date().timeIntervalSince1970
        _ = try await rows(
            """
            INSERT INTO live_stores (model, follows, clock, schema_json, version, next_sequence,
                customers, rescan_after, created_at, updated_at) VALUES (?, ?, ?, NULL, ?, ?, ?, NULL, ?, ?)
            ON CONFLICT (model) DO NOTHING
            """, store.model, store.follows, store.clock.rawValue, store.version,
            store.nextSequence, store.customers, now, now)
    }

    func saveLiveStore(_ store: LiveStoreRecord) async throws {
        let schema = try store.schema.map {
            String(decoding: try JSONEncoder().encode($0), as: UTF8.self)
        }
        _ = try await rows(
            """
            UPDATE live_stores SET follows = ?, clock = ?, schema_json = ?, version = ?,
                next_sequence = ?, customers = ?, rescan_after = ?, updated_at = ? WHERE model = ?
            """, store.follows, store.clock.rawValue, schema, store.version, store.nextSequence,
            store.customers, store.rescanAfter, Date().timeIntervalSince1970, store.model)
    }

    /// The stored customers among `ids`.
    func liveCustomers(_ model: String, ids: [String]) async throws -> [String: LiveCustomerRecord]
    {
        var found: [String: LiveCustomerRecord] = [:]
        for chunk in ids.chunked(500) {
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            for row in try await rows(
                "\(LiveCustomerRecord.select) WHERE model = ? AND customer_id IN (\(marks))",
                [model] + chunk)
            {
                let record = try LiveCustomerRecord(row: row)
                found[record.id] = record
            }
        }
        return found
    }

    /// Customers placed as of another day than `day` (earlier, or later: the event clock's day
    /// goes back when refunds take the latest purchase's customer out), in index order.
    func liveCustomersDue(
        _ model: String, day: Int, limit: Int
    ) async throws
        -> [LiveCustomerRecord]
    {
        var due = try await rows(
            "\(LiveCustomerRecord.select) WHERE model = ? AND evaluated_day < ? ORDER BY evaluated_day, customer_id LIMIT ?",
            model, day, limit
        ).map(LiveCustomerRecord.init(row:))
        if due.count < limit {
            due += try await rows(
                "\(LiveCustomerRecord.select) WHERE model = ? AND evaluated_day > ? ORDER BY evaluated_day, customer_id LIMIT ?",
                model, day, limit - due.count
            ).map(LiveCustomerRecord.init(row:))
        }
        return due
    }

    /// Customers after `id`, in id order.
    func liveCustomers(
        _ model: String, after id: String, limit: Int
    ) async throws
        -> [LiveCustomerRecord]
    {
        try await rows(
            "\(LiveCustomerRecord.select) WHERE model = ? AND customer_id > ? ORDER BY customer_id LIMIT ?",
            model, id, limit
        ).map(LiveCustomerRecord.init(row:))
    }

    /// Inserts or replaces customers, many to a statement.
    func saveLiveCustomers(_ model: String, _ customers: [LiveCustomerRecord]) async throws {
        for chunk in customers.chunked(200) {
            let marks = Array(repeating: "(?, ?, ?, ?, ?, ?, ?)", count: chunk.count)
                .joined(separator: ", ")
            var arguments: [any StatementArgument] = []
            arguments.reserveCapacity(chunk.count * 7)
            for customer in chunk {
                arguments +=
                    [
                        model, customer.id, customer.storedBytes ?? customer.state.encoded(),
                        customer.state.hasFeatures ? customer.state.lastDay : nil, customer.segment,
                        customer.version, customer.evaluatedDay,
                    ] as [any StatementArgument]
            }
            _ = try await rows(
                """
                INSERT INTO live_customers (model, customer_id, state, last_day, segment, version, evaluated_day)
                VALUES \(marks)
                ON CONFLICT (model, customer_id) DO UPDATE SET state = excluded.state,
                    last_day = excluded.last_day, segment = excluded.segment, version = excluded.version,
                    evaluated_day = excluded.evaluated_day
                """, arguments)
        }
    }

    /// The latest last-purchase day of customers with features, leaving out `excluded` (whose
    /// state the caller is changing); nil when there is none.
    func latestPurchaseDay(_ model: String, excluding excluded: Set<String>) async throws -> Int? {
        let found = try await rows(
            """
            SELECT customer_id, last_day FROM live_customers WHERE model = ? AND last_day IS NOT NULL
            ORDER BY last_day DESC LIMIT ?
            """, model, excluded.count + 1)
        for row in found where !excluded.contains(try row.text("customer_id")) {
            return try row.int("last_day")
        }
        return nil
    }

    /// The latest purchase day a store's event clock counts from (nil on the wall clock).
    func latestPurchaseDay(of store: LiveStoreRecord) async throws -> Int? {
        store.clock == .event ? try await latestPurchaseDay(store.model, excluding: []) : nil
    }

    /// Appends moves from `first` on; returns the next free position.
    func appendLiveMoves(
        _ model: String, _ moves: [PendingMove], version: Int, from first: Int64
    ) async throws -> Int64 {
        let at = Date().timeIntervalSince1970
        var sequence = first
        for chunk in moves.chunked(200) {
            let marks = Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count)
                .joined(separator: ", ")
            var arguments: [any StatementArgument] = []
            for pending in chunk {
                let move = pending.move
                arguments +=
                    [
                        model, sequence, move.customerID, move.from, move.to, move.cause.rawValue,
                        move.day, version, pending.fromVersion, at,
                    ] as [any StatementArgument]
                sequence += 1
            }
            _ = try await rows(
                """
                INSERT INTO live_moves (model, sequence, customer_id, from_segment, to_segment, cause, day, version, from_version, at)
                VALUES \(marks)
                """, arguments)
        }
        return sequence
    }
}

extension CatalogStore {
    public func liveStores() async throws -> [LiveStoreRecord] {
        try await read { transaction in
            try await transaction.rows(
                """
                SELECT model, follows, clock, schema_json, version, next_sequence, customers, rescan_after
                FROM live_stores ORDER BY model
                """
            ).map(LiveStoreRecord.init(row:))
        }
    }

    /// A store, one of its customers, and (on the event clock) the latest purchase day of a
    /// customer with features, read together.
    public func liveCustomer(
        _ model: String, id: String
    ) async throws -> (
        store: LiveStoreRecord, customer: LiveCustomerRecord?, latestPurchase: Int?
    )? {
        try await read { transaction in
            guard let store = try await transaction.liveStore(model, locking: false) else {
                return nil
            }
            let customer = try await transaction.liveCustomers(model, ids: [id])[id]
            return (store, customer, try await transaction.latestPurchaseDay(of: store))
        }
    }

    /// A store and (on the event clock) the latest purchase day of a customer with features.
    public func liveStoreForReading(
        _ model: String
    ) async throws -> (store: LiveStoreRecord, latestPurchase: Int?)? {
        try await read { transaction in
            guard let store = try await transaction.liveStore(model, locking: false) else {
                return nil
            }
            return (store, try await transaction.latestPurchaseDay(of: store))
        }
    }

    /// A page of a segment's members, after `id`.
    public func liveMembers(
        _ model: String, segment: Int, version: Int, after id: String, limit: Int
    ) async throws -> [LiveCustomerRecord] {
        try await read { transaction in
            try await transaction.rows(
                "\(LiveCustomerRecord.select) WHERE model = ? AND segment = ? AND customer_id > ? AND version = ? ORDER BY customer_id LIMIT ?",
                model, segment, id, version, limit
            ).map(LiveCustomerRecord.init(row:))
        }
    }

    /// Moves after `sequence`, oldest first, and the oldest position kept (nil: none kept).
    public func liveMoves(
        _ model: String, after sequence: Int64, limit: Int
    ) async throws -> (moves: [LiveMoveRecord], oldest: Int64?) {
        try await read { transaction in
            // The moves first: a trim between the two reads then shows as an expired position,
            // never as moves silently missing.
            let moves = try await transaction.rows(
                """
                SELECT sequence, customer_id, from_segment, to_segment, cause, day, version, from_version, at
                FROM live_moves WHERE model = ? AND sequence > ? ORDER BY sequence LIMIT ?
                """, model, sequence, limit
            ).map(LiveMoveRecord.init(row:))
            let oldest = try await transaction.rows(
                "SELECT MIN(sequence) AS oldest FROM live_moves WHERE model = ?", model
            ).first.flatMap { try $0.optionalInt("oldest") }.map(Int64.init)
            return (moves, oldest)
        }
    }

    /// A store's oldest kept move and its newest recorded before `date` (nil: none is that old).
    public func liveMovesRecorded(
        _ model: String, before date: Date
    ) async throws -> ClosedRange<Int64>? {
        try await read { transaction in
            let newest = try await transaction.rows(
                "SELECT MAX(sequence) AS newest FROM live_moves WHERE model = ? AND at < ?", model,
                date.timeIntervalSince1970
            ).first.flatMap { try $0.optionalInt("newest") }.map(Int64.init)
            let oldest = try await transaction.rows(
                "SELECT MIN(sequence) AS oldest FROM live_moves WHERE model = ?", model
            ).first.flatMap { try $0.optionalInt("oldest") }.map(Int64.init)
            guard let newest, let oldest, oldest <= newest else { return nil }
            return oldest...newest
        }
    }

    /// Forgets a store's moves up to `sequence` (the oldest first: what is kept has no gap).
    public func dropLiveMoves(_ model: String, through sequence: Int64) async throws {
        try await write { transaction in
            _ = try await transaction.rows(
                "DELETE FROM live_moves WHERE model = ? AND sequence <= ?", model, sequence)
        }
    }
}

extension LiveStoreRecord {
    init(row: StoredRow) throws {
        let clockText = try row.text("clock")
        guard let clock = LiveClock(rawValue: clockText) else {
            throw RegistryError.corrupt("live store clock \(clockText.quotedForMessage) is unknown")
        }
        self.init(
            model: try row.text("model"), follows: try row.text("follows"), clock: clock,
            schema: try row.optionalText("schema_json").map {
                try JSONDecoder().decode(LiveCustomerStore.Schema.self, from: Data($0.utf8))
            },
            version: try row.int("version"), nextSequence: try row.int64("next_sequence"),
            customers: try row.int("customers"), rescanAfter: try row.optionalText("rescan_after"))
    }
}

extension LiveCustomerRecord {
    static let select =
        "SELECT customer_id, state, segment, version, evaluated_day FROM live_customers"

    init(row: StoredRow) throws {
        let id = try row.text("customer_id")
        let bytes = try row.blob("state")
        do {
            self.init(
                id: id, state: try CustomerState(decoding: bytes),
                segment: try row.optionalInt("segment"), version: try row.int("version"),
                evaluatedDay: try row.int("evaluated_day"), storedBytes: bytes)
        } catch let error as CustomerStateDecodingError {
            throw RegistryError.corrupt("live customer \(id.quotedForMessage): \(error)")
        }
    }
}

extension LiveMoveRecord {
    init(row: StoredRow) throws {
        let causeText = try row.text("cause")
        guard let cause = SegmentMove.Cause(rawValue: causeText) else {
            throw RegistryError.corrupt("live move cause \(causeText.quotedForMessage) is unknown")
        }
        self.init(
            sequence: try row.int64("sequence"),
            move: SegmentMove(
                customerID: try row.text("customer_id"), from: try row.optionalInt("from_segment"),
                to: try row.optionalInt("to_segment"), cause: cause, day: try row.int("day")),
            version: try row.int("version"),
            // Recorded before migration 8: a model change's earlier version was not kept; any
            // other move's from-segment is of the move's own version.
            fromVersion: try row.optionalInt("from_version")
                ?? (cause == .modelChange ? nil : row.int("version")),
            at: try row.date("at"))
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
