import Foundation
import SegmentationEngine
import Synchronization

/// What one ingested batch did.
public struct IngestOutcome: Sendable {
    public var batchID: String
    public var applied: LiveCustomerStore.Applied
    /// New customers refused because the store holds --live-max-customers.
    public var refusedCustomers: [String]
    public var report: DataReport
    /// Every row cleaning left out, by line and reason.
    public var droppedRows: [DroppedRow] = []
    /// Customers whose segment changed with this batch (one changed by several batches written
    /// together counts at the last of them).
    public var moves: Int
    /// The newest move's position once the batch was written (0: none yet).
    public var lastSequence: Int64
    public var day: Int
    public var customers: Int
    public var version: Int
    /// The customers the batch changed (last), with their segment now: only when asked for.
    public var placed: [LivePlacement] = []
}

/// A customer an ingested batch changed, placed as of the store's day.
public struct LivePlacement: Sendable, Equatable {
    public var customerID: String
    /// nil: none (refunds outweigh purchases).
    public var segment: Int?
    /// Whether the batch moved them (a first purchase too).
    public var moved: Bool
}

/// A batch read and cleaned by the model's rules, checked before any write.
struct PreparedBatch: Sendable {
    var batchID: String
    var table: TransactionTable
    var report: DataReport
    var rows: Int { report.rowsIn }
}

extension LiveStores {
    // MARK: Ingest

    /// Ingests one stream of batches into the store of `reference.name` (made on first use,
    /// following `reference`). `batches` hands each batch to `send` in order. Batches are read
    /// and cleaned as they come while a writer commits them: the batches waiting when it is free
    /// are written together in one transaction (a group commit), so a fast stream pays for fewer
    /// transactions and cleaning overlaps writing, and a lone batch is written at once. Returns
    /// once every batch sent is committed; when `batches` throws, the batches sent before are
    /// committed first.
    public func ingest(
        into reference: ModelReference, clock: LiveClock?, placing: Bool = false,
        batches: (_ send: (_ batchID: String, _ csv: Data) async throws -> Void) async throws ->
            Void
    ) async throws -> [IngestOutcome] {
        let existing = try await registry.read {
            try await $0.liveStore(reference.name, locking: false)
        }
        let follows = try followed(reference, by: existing)
        let queue = IngestQueue(
            maximumWaitingRows: limits.maximumBatchRows, schema: existing?.schema)
        return try await withThrowingTaskGroup(of: [IngestOutcome].self) { group in
            group.addTask {
                try await self.write(
                    queue, into: reference.name, following: follows, clock: clock,
                    placing: placing)
            }
            do {
                try await batches { batchID, csv in
                    try await queue.push(try await self.prepare(csv, batchID, following: follows))
                }
            } catch {
                queue.close()
                _ = try? await group.next()
                throw error
            }
            queue.close()
            return try await group.next() ?? []
        }
    }

    /// Reads and cleans a batch by the rules of the model `follows` resolves to now.
    func prepare(
        _ csv: Data, _ batchID: String, following follows: ModelReference
    ) async throws -> PreparedBatch {
        let resolved = try await transactionsModel(follows)
        var loader = resolved.model.liveBatchLoader()
        try loader.add(bytes: csv, source: "batch")
        let (table, report) = try loader.finish(requireRows: false)
        guard report.rowsIn <= limits.maximumBatchRows else {
            throw LiveError.batchTooLarge(rows: report.rowsIn, limit: limits.maximumBatchRows)
        }
        if let long = table.customerIDs.first(where: {
            $0.utf8.count > Self.maximumCustomerIDBytes
        }) {
            throw LiveError.customerIDTooLong(long)
        }
        return PreparedBatch(batchID: batchID, table: table, report: report)
    }

    /// Commits the queue's batches, a group at a time, until it is closed and empty.
    private func write(
        _ queue: IngestQueue, into name: String, following follows: ModelReference,
        clock: LiveClock?, placing: Bool
    ) async throws -> [IngestOutcome] {
        var outcomes: [IngestOutcome] = []
        while let group = await queue.next() {
            do {
                outcomes += try await commit(
                    group, into: name, following: follows, clock: clock, placing: placing)
                changed(name)
            } catch {
                queue.fail(error)
                throw error
            }
        }
        return outcomes
    }

    /// Writes batches in one transaction holding the store's row lock: applies them in order,
    /// places the customers they changed as of the store's day after them, and writes those
    /// customers and their moves.
    func commit(
        _ batches: [PreparedBatch], into name: String, following follows: ModelReference,
        clock: LiveClock?, placing: Bool = false
    ) async throws -> [IngestOutcome] {
        let limits = self.limits
        return try await withIdentities(of: name, following: follows) { resolved, identities in
            try await registry.write { transaction in
                // Before the store is made: a view that is behind writes nothing.
                guard try await transaction.storedVersion(of: follows) == resolved.version else {
                    return .staleView
                }
                var store = try await Self.lockedStore(
                    name, following: follows, version: resolved.version, clock: clock,
                    in: transaction)
                Self.follow(resolved, in: &store)
                let outcomes = try await Self.apply(
                    batches, to: &store, with: resolved, identities: identities, limits: limits,
                    placing: placing, in: transaction)
                if case .done = outcomes { try await transaction.saveLiveStore(store) }
                return outcomes
            }
        }
    }

    /// The store's row, locked for writing; made when missing.
    private static func lockedStore(
        _ name: String, following follows: ModelReference, version: Int, clock: LiveClock?,
        in transaction: any CatalogTransaction
    ) async throws -> LiveStoreRecord {
        var found = try await transaction.liveStore(name)
        if found == nil {
            try await transaction.createLiveStore(
                LiveStoreRecord(
                    model: name, follows: follows.description, clock: clock ?? .wall,
                    schema: nil, version: version, nextSequence: 1, customers: 0,
                    rescanAfter: nil))
            // Another replica may have made it first: read what is there.
            found = try await transaction.liveStore(name)
        }
        guard var store = found else {
            throw RegistryError.storage("the live store of \(name) was not made")
        }
        guard store.follows == follows.description else {
            throw LiveError.follows(
                model: name, follows: store.follows, asked: follows.description)
        }
        if let clock { store.clock = clock }
        return store
    }

    /// Applies cleaned batches in order to the customers they name, then places the changed
    /// ones once, as of the store's day after the last batch.
    private static func apply(
        _ batches: [PreparedBatch], to store: inout LiveStoreRecord,
        with resolved: ServedModels.Resolved, identities: SegmentIdentities.Versions,
        limits: LiveLimits, placing: Bool, in transaction: any CatalogTransaction
    ) async throws -> LiveAttempt<[IngestOutcome]> {
        var named = Set<String>()
        for batch in batches {
            named.formUnion(batch.table.customer.lazy.map { batch.table.customerIDs[Int($0)] })
            named.formUnion(batch.table.cancellationLines.lazy.map(\.customerID))
        }
        let loaded = try await transaction.liveCustomers(store.model, ids: named.sorted())
        let missing = identities.missing(loaded.values.map(\.version) + [store.version])
        guard missing.isEmpty else { return .needs(missing) }
        var part = LiveCustomerStore(schema: store.schema, customers: loaded.mapValues(\.state))
        var known = Set(loaded.keys)
        var outcomes: [IngestOutcome] = []
        // The batch that changed each customer last: its moves are counted there.
        var lastChange: [String: Int] = [:]
        for (index, batch) in batches.enumerated() {
            var applied = try part.apply(batch.table, maximumLines: limits.maximumLinesPerCustomer)
            // New customers past the store's limit are refused whole, in id order.
            let newcomers = applied.customers.subtracting(known).sorted()
            let room = max(0, limits.maximumCustomers - store.customers)
            let refused = Array(newcomers.dropFirst(room))
            for id in refused {
                let state = part.customers[id]!
                applied.overLimit += state.lines.count
                applied.purchases -= state.purchases
                applied.cancellations -= state.lines.count - state.purchases
                applied.customers.remove(id)
                part.forget(id)
            }
            store.customers += newcomers.count - refused.count
            known.formUnion(newcomers.dropLast(refused.count))
            for id in applied.customers { lastChange[id] = index }
            outcomes.append(
                IngestOutcome(
                    batchID: batch.batchID, applied: applied, refusedCustomers: refused,
                    report: batch.report,
                    droppedRows: Self.refusedRows(
                        of: batch.table, applied: applied, refusedCustomers: Set(refused)),
                    moves: 0, lastSequence: 0, day: 0, customers: 0, version: store.version))
        }
        store.schema = part.schema
        let changed = lastChange.keys.sorted()
        let day = try await Self.day(
            of: store, model: resolved.model, in: transaction,
            changing: changed.map { part.customers[$0]! }, excluding: Set(changed))
        let segments = try part.segments(of: changed, under: resolved.model, day: day)
        var records: [LiveCustomerRecord] = []
        var moves: [PendingMove] = []
        for id in changed {
            let to = segments[id]
            let move = identities.move(
                id, from: loaded[id]?.segment, fromVersion: loaded[id]?.version ?? store.version,
                to: to, version: store.version, cause: .transaction, day: day)
            if placing {
                outcomes[lastChange[id]!].placed.append(
                    LivePlacement(customerID: id, segment: to, moved: move != nil))
            }
            if let move {
                moves.append(move)
                outcomes[lastChange[id]!].moves += 1
            }
            records.append(
                LiveCustomerRecord(
                    id: id, state: part.customers[id]!, segment: to, version: store.version,
                    evaluatedDay: day))
        }
        try await transaction.saveLiveCustomers(store.model, records)
        store.nextSequence = try await transaction.appendLiveMoves(
            store.model, moves, version: store.version, from: store.nextSequence)
        for index in outcomes.indices {
            outcomes[index].lastSequence = store.nextSequence - 1
            outcomes[index].day = day
            outcomes[index].customers = store.customers
        }
        return .done(outcomes)
    }
}

extension LiveStores {
    /// Every row of a batch not applied, by line: what cleaning left out, lines over the
    /// per-customer limit, and the lines of new customers past the store's limit.
    static func refusedRows(
        of table: TransactionTable, applied: LiveCustomerStore.Applied,
        refusedCustomers: Set<String>
    ) -> [DroppedRow] {
        var rows = table.droppedRows
        rows += applied.overLimitLines.map {
            DroppedRow(line: $0, reason: "over --live-max-lines-per-customer")
        }
        if !refusedCustomers.isEmpty {
            // A refused newcomer's lines, but those already told as over its line limit.
            let told = Set(applied.overLimitLines)
            var lines: [Int] = []
            for row in 0..<table.count
            where refusedCustomers.contains(table.customerIDs[Int(table.customer[row])]) {
                lines.append(table.rowLines?[row] ?? 0)
            }
            for line in table.cancellationLines where refusedCustomers.contains(line.customerID) {
                lines.append(line.line)
            }
            rows += lines.filter { !told.contains($0) }.map {
                DroppedRow(line: $0, reason: "a new customer over --live-max-customers")
            }
        }
        return rows.sorted { $0.line < $1.line }
    }
}

/// Batches between an ingest stream's reader and its writer: the writer takes all that wait;
/// the reader waits while `maximumWaitingRows` rows do, so a stream's memory is bounded.
final class IngestQueue: Sendable {
    private struct State {
        var waiting: [PreparedBatch] = []
        var waitingRows = 0
        /// The columns the stream's batches have (fixed by the store, or its first batch).
        var schema: LiveCustomerStore.Schema?
        var closed = false
        var failure: (any Error)?
        var writer: CheckedContinuation<Void, Never>?
        var reader: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>
    let maximumWaitingRows: Int

    init(maximumWaitingRows: Int, schema: LiveCustomerStore.Schema?) {
        self.maximumWaitingRows = maximumWaitingRows
        state = Mutex(State(schema: schema))
    }

    /// Adds a batch once there is room; throws the writer's failure, or a batch whose columns
    /// differ from the stream's (refused here: inside the write it would fail its whole group).
    func push(_ batch: PreparedBatch) async throws {
        await withCheckedContinuation { continuation in
            let room = state.withLock { state in
                guard state.failure == nil, !state.waiting.isEmpty,
                    state.waitingRows + batch.rows > maximumWaitingRows
                else { return true }
                state.reader = continuation
                return false
            }
            if room { continuation.resume() }
        }
        let writer = try state.withLock { state throws -> CheckedContinuation<Void, Never>? in
            if let failure = state.failure { throw failure }
            if batch.table.count > 0 {
                try LiveCustomerStore(schema: state.schema, customers: [:])
                    .checkColumns(of: batch.table)
                state.schema = LiveCustomerStore.Schema(of: batch.table)
            }
            state.waiting.append(batch)
            state.waitingRows += batch.rows
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume()
    }

    /// Every batch waiting (after waiting for one); nil once closed and empty.
    func next() async -> [PreparedBatch]? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                guard state.waiting.isEmpty, !state.closed else { return true }
                state.writer = continuation
                return false
            }
            if ready { continuation.resume() }
        }
        let (batches, reader) = state.withLock { state in
            defer {
                state.waiting = []
                state.waitingRows = 0
                state.reader = nil
            }
            return (state.waiting, state.reader)
        }
        reader?.resume()
        return batches.isEmpty ? nil : batches
    }

    /// No more batches: the writer ends once the waiting ones are written.
    func close() {
        let writer = state.withLock { state in
            state.closed = true
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume()
    }

    /// The writer failed: the reader's next push throws `error`. Batches pushed since the
    /// writer took its last group are dropped unwritten; the stream ends with the error, so none
    /// was acknowledged, and a client sends them again (a line applied twice changes nothing).
    func fail(_ error: any Error) {
        let reader = state.withLock { state in
            state.failure = error
            defer { state.reader = nil }
            return state.reader
        }
        reader?.resume()
    }
}
