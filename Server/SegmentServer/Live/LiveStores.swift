import Foundation
import SegmentationEngine
import Synchronization

/// Bounds of live stores (server flags, documented in docs/live.md).
public struct LiveLimits: Sendable, Equatable {
    /// Rows in one ingested batch (--live-max-batch-rows).
    public var maximumBatchRows = 10_000
    /// Customers in one store (--live-max-customers): a new customer's lines past it are refused.
    public var maximumCustomers = 10_000_000
    /// Lines (event ids) kept per customer (--live-max-lines-per-customer): later ones refused.
    public var maximumLinesPerCustomer = 100_000
    /// Customers re-evaluated per second by the time pass, all stores together (--live-pass-rate).
    public var passRate = 20_000
    /// Days the change feed keeps its moves (--live-move-retention-days).
    public var moveRetentionDays = 30

    public init() {}
}

/// What live stores refuse.
public enum LiveError: Error, Equatable, CustomStringConvertible {
    case noStore(String)
    case follows(model: String, follows: String, asked: String)
    case noCustomer(model: String, id: String)
    case batchTooLarge(rows: Int, limit: Int)
    case positionExpired(after: Int64, oldest: Int64)
    case positionAhead(after: Int64, newest: Int64)
    case customerIDTooLong(String)
    case tooManyBatches(Int)
    case notTransactions(String)

    public var description: String {
        switch self {
        case .noStore(let model):
            "model \(model.quotedForMessage) has no live store: ingest transactions into it first (segment live ingest)"
        case .follows(let model, let follows, let asked):
            "the live store of model \(model.quotedForMessage) follows \(follows), not \(asked): a store follows one ref; name the model alone"
        case .noCustomer(let model, let id):
            "customer \(id.quotedForMessage) has no purchase in the live store of model \(model.quotedForMessage)"
        case .batchTooLarge(let rows, let limit):
            "the batch has \(rows) rows, over the server's limit of \(limit) (--live-max-batch-rows): send smaller batches"
        case .positionExpired(let after, let oldest):
            "position \(after) is older than the moves kept (the oldest is \(oldest), --live-move-retention-days): list the segments' members again and watch from 0"
        case .positionAhead(let after, let newest):
            "position \(after) is past the newest move (\(newest)): pass the last position seen, or 0"
        case .customerIDTooLong(let id):
            "customer id \(id.quotedForMessage) is longer than \(LiveStores.maximumCustomerIDBytes) bytes: live stores key customers by it"
        case .tooManyBatches(let limit):
            "an ingest stream carries at most \(limit) batches: the ones sent were applied; send the rest on a new stream"
        case .notTransactions(let reference):
            "model \(reference) was trained on a customer table: live stores keep transactions"
        }
    }
}

/// A customer of a live store placed under a ref, as of the store's day.
public struct LiveCustomerView: Sendable {
    public var record: LiveCustomerRecord
    public var model: ServedModels.Resolved
    public var day: Int
    public var featureNames: [String]
    /// nil without features (refunds outweigh purchases).
    public var features: [Double]?
    public var assignment: Assignment?
}

/// The live stores of a registry: ingest, the time pass, and reads. Every write to a store is one
/// transaction holding the store's row lock, so this server's and other replicas' writes take
/// turns, stored state and the feed change together, and an acknowledged batch is durable.
public final class LiveStores: Sendable {
    /// The longest customer id a store keys (PostgreSQL's index entries cannot be unbounded).
    static let maximumCustomerIDBytes = 256

    let registry: any CatalogStore
    let models: ServedModels
    public let limits: LiveLimits
    /// Segments matched across versions, for telling model changes.
    let identities: SegmentIdentities
    /// Bumped after each committed write of a store, so its watchers look again at once.
    private let changes = Mutex<[String: Int]>([:])

    public init(registry: any CatalogStore, models: ServedModels, limits: LiveLimits) {
        self.registry = registry
        self.models = models
        self.limits = limits
        identities = SegmentIdentities(models: models)
    }

    // MARK: Time passing

    /// Re-places up to `limit` customers of one store that are due: every customer once a day
    /// (time passing), and all of them after the followed ref moved to another version (a model
    /// change). Returns how many it placed (0: none was due).
    public func pass(_ name: String, limit: Int) async throws -> Int {
        guard
            let existing = try await registry.read({
                try await $0.liveStore(name, locking: false)
            })
        else {
            return 0
        }
        let follows = try ModelReference(parsing: existing.follows)
        let placed = try await withIdentities(of: name, following: follows) {
            resolved, identities in
            try await registry.write { transaction -> LiveAttempt<Int> in
                guard var store = try await transaction.liveStore(name) else { return .done(0) }
                guard try await transaction.storedVersion(of: follows) == resolved.version else {
                    return .staleView
                }
                let before = store
                Self.follow(resolved, in: &store)
                let day = try await Self.day(
                    of: store, model: resolved.model, in: transaction, changing: [], excluding: [])
                var due: [LiveCustomerRecord]
                if let cursor = store.rescanAfter {
                    due = try await transaction.liveCustomers(name, after: cursor, limit: limit)
                    store.rescanAfter = due.count < limit ? nil : due.last?.id
                } else {
                    due = try await transaction.liveCustomersDue(name, day: day, limit: limit)
                }
                // Nothing to do writes nothing: an idle store costs its writers no commit.
                guard !due.isEmpty || store != before else { return .done(0) }
                let missing = identities.missing(due.map(\.version) + [store.version])
                guard missing.isEmpty else { return .needs(missing) }
                let part = LiveCustomerStore(
                    schema: store.schema,
                    customers: Dictionary(uniqueKeysWithValues: due.map { ($0.id, $0.state) }))
                let segments = try part.segments(
                    of: due.map(\.id), under: resolved.model, day: day)
                var moves: [PendingMove] = []
                for i in due.indices {
                    let to = segments[due[i].id]
                    let cause: SegmentMove.Cause =
                        due[i].version != store.version ? .modelChange : .timePassing
                    if let move = identities.move(
                        due[i].id, from: due[i].segment, fromVersion: due[i].version, to: to,
                        version: store.version, cause: cause, day: day)
                    {
                        moves.append(move)
                    }
                    due[i].segment = to
                    due[i].version = store.version
                    due[i].evaluatedDay = day
                }
                // Many to a statement, the state's bytes as they were read.
                try await transaction.saveLiveCustomers(name, due)
                store.nextSequence = try await transaction.appendLiveMoves(
                    name, moves, version: store.version, from: store.nextSequence)
                try await transaction.saveLiveStore(store)
                return .done(due.count)
            }
        }
        if placed > 0 { changed(name) }
        return placed
    }

    /// Points the store at the version its ref resolves to now; a different one starts a
    /// re-evaluation of every customer (the pass's model change).
    static func follow(_ resolved: ServedModels.Resolved, in store: inout LiveStoreRecord) {
        guard store.version != resolved.version else { return }
        store.version = resolved.version
        store.rescanAfter = ""
    }

    // MARK: Reads

    public func customer(
        _ id: String, of reference: ModelReference
    ) async throws
        -> LiveCustomerView
    {
        guard let (store, record, latest) = try await registry.liveCustomer(reference.name, id: id)
        else {
            throw LiveError.noStore(reference.name)
        }
        guard let record else { throw LiveError.noCustomer(model: reference.name, id: id) }
        let follows = try ModelReference(parsing: store.follows)
        let resolved = try await transactionsModel(
            reference.selector == .latest ? follows : reference)
        let day = Self.day(of: store, model: resolved.model, latestPurchase: latest)
        let part = LiveCustomerStore(schema: store.schema, customers: [id: record.state])
        let features = part.features(of: id, snapshotDay: day)
        let assignment = try part.assignment(of: id, under: resolved.model, day: day)
        return LiveCustomerView(
            record: record, model: resolved, day: day, featureNames: part.featureNames,
            features: features, assignment: assignment)
    }

    /// Customers one members call may place under another ref than the store's, looking for a
    /// page (it then answers with fewer and the token to go on from).
    static let membersScanBudget = 100_000

    /// A page of a segment's members, with their features as of the store's day: under the
    /// store's ref, from its stored segments; under another ref (another version or alias of
    /// the model), by placing the store's customers in id order until the page is full or
    /// `membersScanBudget` are placed. `next`: where the next page starts (nil: no more).
    public func members(
        of reference: ModelReference, segment: Int, after id: String, limit: Int
    ) async throws -> (
        store: LiveStoreRecord, version: Int, day: Int, featureNames: [String],
        members: [(LiveCustomerRecord, [Double])], next: String?
    ) {
        guard let (store, latest) = try await registry.liveStoreForReading(reference.name) else {
            throw LiveError.noStore(reference.name)
        }
        let follows = try ModelReference(parsing: store.follows)
        let own = reference.selector == .latest || reference == follows
        let resolved = try await transactionsModel(own ? follows : reference)
        let day = Self.day(of: store, model: resolved.model, latestPurchase: latest)
        let part = LiveCustomerStore(schema: store.schema, customers: [:])
        guard !own else {
            let page = try await registry.liveMembers(
                reference.name, segment: segment, version: store.version, after: id, limit: limit)
            let members = page.compactMap { record in
                part.features(of: record.state, snapshotDay: day).map { (record, $0) }
            }
            // A full page may be followed by more: its last id is where the next one starts.
            let next = page.count == limit ? page.last?.id : nil
            return (store, store.version, day, part.featureNames, members, next)
        }
        var members: [(LiveCustomerRecord, [Double])] = []
        var cursor = id
        var scanned = 0
        var more = true
        while more, members.count < limit, scanned < Self.membersScanBudget {
            let chunk = try await registry.read { [cursor] transaction in
                try await transaction.liveCustomers(reference.name, after: cursor, limit: 1_000)
            }
            more = chunk.count == 1_000
            let placed = try LiveCustomerStore(
                schema: store.schema,
                customers: Dictionary(uniqueKeysWithValues: chunk.map { ($0.id, $0.state) })
            ).segments(of: chunk.map(\.id), under: resolved.model, day: day)
            for record in chunk {
                scanned += 1
                cursor = record.id
                if placed[record.id] == segment,
                    let features = part.features(of: record.state, snapshotDay: day)
                {
                    members.append((record, features))
                    if members.count == limit {
                        more = more || record.id != chunk.last?.id
                        break
                    }
                }
            }
        }
        return (store, resolved.version, day, part.featureNames, members, more ? cursor : nil)
    }

    /// Moves after `sequence` (at most `limit`); `positionExpired` when moves after it were
    /// dropped already.
    public func moves(
        of reference: ModelReference, after sequence: Int64, limit: Int
    ) async throws -> [LiveMoveRecord] {
        let store = try await followedStore(reference)
        let (moves, oldest) = try await registry.liveMoves(
            reference.name, after: sequence, limit: limit)
        let newest = store.nextSequence - 1
        guard sequence <= newest else {
            throw LiveError.positionAhead(after: sequence, newest: newest)
        }
        if let oldest, sequence > 0, sequence < oldest - 1 {
            throw LiveError.positionExpired(after: sequence, oldest: oldest)
        }
        if oldest == nil, sequence > 0, sequence < newest {
            throw LiveError.positionExpired(after: sequence, oldest: newest + 1)
        }
        return moves
    }

    /// Whether the store is re-placing every customer after the followed ref moved.
    public func isReevaluating(_ name: String) async throws -> Bool {
        try await registry.read { try await $0.liveStore(name, locking: false) }?.rescanAfter
            != nil
    }

    /// A number that changes after every committed write of the store.
    public func changeCount(_ name: String) -> Int { changes.withLock { $0[name] ?? 0 } }

    func changed(_ name: String) { changes.withLock { $0[name, default: 0] += 1 } }

    /// The store `reference` names, refused when it names another ref than the store follows.
    private func followedStore(_ reference: ModelReference) async throws -> LiveStoreRecord {
        guard
            let store = try await registry.read({
                try await $0.liveStore(reference.name, locking: false)
            })
        else {
            throw LiveError.noStore(reference.name)
        }
        _ = try followed(reference, by: store)
        return store
    }

    /// The ref a store follows: its own once it exists (naming the model alone means it);
    /// another is refused.
    func followed(
        _ reference: ModelReference, by store: LiveStoreRecord?
    ) throws -> ModelReference {
        guard let store else { return reference }
        let follows = try ModelReference(parsing: store.follows)
        guard reference.selector == .latest || reference == follows else {
            throw LiveError.follows(
                model: reference.name, follows: store.follows, asked: reference.description)
        }
        return follows
    }

    func transactionsModel(
        _ reference: ModelReference
    ) async throws
        -> ServedModels.Resolved
    {
        let resolved = try await models.resolve(reference)
        guard resolved.model.kind == .transactions else {
            throw LiveError.notTransactions(reference.description)
        }
        return resolved
    }

    /// The store's day: today (UTC) on the wall clock; on the event clock the day after the
    /// latest purchase of a customer with features - the stored ones but `excluded`, and
    /// `changing` as they are now - or the model's snapshot day if later.
    static func day(
        of store: LiveStoreRecord, model: SegmentationModel,
        in transaction: any CatalogTransaction, changing: [CustomerState],
        excluding excluded: Set<String>
    ) async throws -> Int {
        let stored =
            store.clock == .event
            ? try await transaction.latestPurchaseDay(store.model, excluding: excluded) : nil
        let latest = ([stored] + changing.filter(\.hasFeatures).map(\.lastDay)).compactMap { $0 }
            .max()
        return day(of: store, model: model, latestPurchase: latest)
    }

    /// The store's day given the latest purchase day of a customer with features (read with
    /// the store, for readers).
    static func day(
        of store: LiveStoreRecord, model: SegmentationModel, latestPurchase latest: Int?
    ) -> Int {
        let today = TimestampParser.day(of: Int64(Date().timeIntervalSince1970))
        guard store.clock == .event else { return today }
        guard let latest else { return model.snapshotDay ?? today }
        return max(model.snapshotDay ?? 0, latest + 1)
    }
}
