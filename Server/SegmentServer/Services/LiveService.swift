import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping

/// Live segmentation over gRPC: translates requests and answers, and delegates to `LiveStores`.
struct LiveService: Segmentation_V1_LiveSegmentationService.SimpleServiceProtocol {
    let stores: LiveStores
    let health: HealthStatus

    /// Moves sent per read of the feed.
    static let feedPage = 500
    /// Batches one ingest stream may carry (its answer has a result for each).
    static let maximumBatchesPerStream = 10_000
    /// Refused rows one answer lists by line (all are counted in the batches' data reports).
    static let maximumRefusedRowsListed = 10_000

    func ingestTransactions(
        request: RPCAsyncSequence<Segmentation_V1_IngestTransactionsRequest, any Error>,
        context: ServerContext
    ) async throws -> Segmentation_V1_IngestTransactionsResponse {
        var messages = request.makeAsyncIterator()
        guard let first = try await messages.next() else {
            throw InvalidField("model", "the ingest stream sent no request: name the model")
        }
        let outcomes = try await stores.ingest(
            into: try ModelReference(first.model), clock: try LiveClock(first.clock)
        ) { send in
            var message: Segmentation_V1_IngestTransactionsRequest? = first
            var batches = 0
            while let current = message {
                if current.hasCsv {
                    // The answer holds a result per batch: a stream cannot grow it without bound.
                    guard batches < Self.maximumBatchesPerStream else {
                        throw LiveError.tooManyBatches(Self.maximumBatchesPerStream)
                    }
                    batches += 1
                    try await send(current.batchID, current.csv.data)
                }
                message = try await messages.next()
                if let next = message, next.hasModel || next.clock != .unspecified {
                    throw InvalidField(
                        next.hasModel ? "model" : "clock",
                        "only the first request of an ingest stream names the model and clock")
                }
            }
        }
        return .with { response in
            var rowsLeft = Self.maximumRefusedRowsListed
            response.batches = outcomes.map { $0.proto(listing: &rowsLeft) }
            if let last = outcomes.last {
                response.lastSequence = last.lastSequence
                response.storeDate = TimestampParser.isoDate(day: last.day)
                response.storeCustomers = Int64(last.customers)
                response.modelVersion = Int32(last.version)
            }
        }
    }

    func recordTransactions(
        request: Segmentation_V1_IngestTransactionsRequest, context: ServerContext
    ) async throws -> Segmentation_V1_RecordTransactionsResponse {
        guard request.hasCsv else {
            throw InvalidField("csv", "csv is required: the transactions to record")
        }
        let reference = try ModelReference(request.model)
        let outcome = try await stores.ingest(
            into: reference, clock: try LiveClock(request.clock), placing: true
        ) { send in
            try await send(request.batchID, request.csv.data)
        }[0]
        var customers: [Segmentation_V1_LivePlacement] = []
        for placed in outcome.placed {
            let segment = try await stores.identities.named(
                placed.segment, of: reference.name, version: outcome.version)
            customers.append(
                .with {
                    $0.customerID = placed.customerID
                    $0.segmentID = segment.id
                    $0.segmentName = segment.name
                    $0.moved = placed.moved
                })
        }
        return .with {
            var rowsLeft = Self.maximumRefusedRowsListed
            $0.result = outcome.proto(listing: &rowsLeft)
            $0.lastSequence = outcome.lastSequence
            $0.storeDate = TimestampParser.isoDate(day: outcome.day)
            $0.storeCustomers = Int64(outcome.customers)
            $0.modelVersion = Int32(outcome.version)
            $0.customers = customers
        }
    }

    func getCustomer(
        request: Segmentation_V1_GetCustomerRequest, context: ServerContext
    ) async throws -> Segmentation_V1_LiveCustomer {
        guard !request.customerID.isEmpty else {
            throw InvalidField("customer_id", "customer_id is required")
        }
        let view = try await stores.customer(
            request.customerID, of: try ModelReference(request.model))
        return view.proto
    }

    func listSegmentMembers(
        request: Segmentation_V1_ListSegmentMembersRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ListSegmentMembersResponse {
        let size = try Self.pageSize(request.pageSize)
        let page = try await stores.members(
            of: try ModelReference(request.model), segment: Int(request.segmentID),
            after: request.pageToken, limit: size)
        return .with { response in
            response.featureNames = page.featureNames
            response.modelVersion = Int32(page.version)
            response.storeDate = TimestampParser.isoDate(day: page.day)
            response.members = page.members.map { record, features in
                .with {
                    $0.customerID = record.id
                    $0.features = features
                    $0.evaluatedDate = TimestampParser.isoDate(day: record.evaluatedDay)
                }
            }
            response.nextPageToken = page.next ?? ""
        }
    }

    static func pageSize(_ asked: Int32) throws -> Int {
        guard asked >= 0, asked <= 10_000 else {
            throw InvalidField("page_size", "page_size must be 0 (1,000) to 10,000, not \(asked)")
        }
        return asked == 0 ? 1_000 : Int(asked)
    }

    func watchSegmentChanges(
        request: Segmentation_V1_WatchSegmentChangesRequest,
        response: RPCWriter<Segmentation_V1_SegmentChange>, context: ServerContext
    ) async throws {
        guard request.afterSequence >= 0 else {
            throw InvalidField("after_sequence", "after_sequence must be 0 or a position seen")
        }
        var feed = LiveFeed(
            service: self, reference: try ModelReference(request.model),
            after: request.afterSequence, summarizing: request.summarizeModelChanges)
        try await feed.run(into: response, context: context)
    }

    func waitForChange(
        _ name: String, since seen: Int, context: ServerContext
    ) async throws {
        for _ in 0..<10 {
            try await Task.sleep(for: .milliseconds(100))
            if stores.changeCount(name) != seen || context.cancellation.isCancelled
                || health.phase == .stopping
            {
                return
            }
        }
    }
}

/// A segment as answers name it: its id (-1: none), name and stable id (0: none).
struct NamedSegment {
    var id: Int32
    var name: String
    var stableID: Int32

    init(_ id: Int?, _ segment: Segment?) {
        self.id = Int32(id ?? -1)
        name = segment?.name ?? ""
        stableID = Int32(segment?.stableIDOrDefault ?? 0)
    }
}

extension SegmentIdentities {
    /// Segment `id` of `model`'s `version` as answers name it.
    func named(_ id: Int?, of model: String, version: Int?) async throws -> NamedSegment {
        NamedSegment(id, try await segment(id, of: model, version: version))
    }
}

extension LiveClock {
    init?(_ clock: Segmentation_V1_LiveClock) throws {
        switch clock {
        case .unspecified: return nil
        case .wall: self = .wall
        case .event: self = .event
        case .UNRECOGNIZED(let value):
            throw InvalidField("clock", "clock \(value) is not one of WALL (1) or EVENT (2)")
        }
    }
}

extension IngestOutcome {
    /// The batch's result, listing at most `rowsLeft` of its refused rows (taken from it).
    func proto(listing rowsLeft: inout Int) -> Segmentation_V1_IngestBatchResult {
        var result = proto
        let listed = droppedRows.prefix(rowsLeft)
        rowsLeft -= listed.count
        result.refusedRows = listed.map { row in
            .with {
                $0.line = Int64(row.line)
                $0.reason = row.reason
            }
        }
        result.refusedRowsCutShort = listed.count < droppedRows.count
        return result
    }

    var proto: Segmentation_V1_IngestBatchResult {
        .with {
            $0.batchID = batchID
            $0.purchasesApplied = Int64(applied.purchases)
            $0.cancellationsApplied = Int64(applied.cancellations)
            $0.repeated = Int64(applied.repeated)
            $0.refusedOverLimit = Int64(applied.overLimit)
            $0.refusedCustomers = refusedCustomers
            $0.dataReport = report.proto
            $0.moves = Int64(moves)
        }
    }
}

extension LiveCustomerView {
    var proto: Segmentation_V1_LiveCustomer {
        .with {
            $0.customerID = record.id
            if let assignment { $0.score = assignment.proto() }
            $0.modelName = model.name
            $0.modelVersion = Int32(model.version)
            $0.featureNames = featureNames
            $0.features = features ?? []
            $0.storeDate = TimestampParser.isoDate(day: day)
            if let first = record.state.firstDay {
                $0.firstPurchaseDate = TimestampParser.isoDate(day: first)
            }
            if let last = record.state.lastDay {
                $0.lastPurchaseDate = TimestampParser.isoDate(day: last)
            }
            $0.lines = Int64(record.state.lines.count)
            $0.netSpend = record.state.netSpend
        }
    }
}

extension LiveMoveRecord {
    func proto(
        model: String, identities: SegmentIdentities
    ) async throws -> Segmentation_V1_SegmentChange {
        var change = Segmentation_V1_SegmentChange()
        change.sequence = sequence
        change.customerID = move.customerID
        let from = try await identities.named(move.from, of: model, version: fromVersion)
        let to = try await identities.named(move.to, of: model, version: version)
        change.fromSegmentID = from.id
        change.fromSegmentName = from.name
        change.fromStableID = from.stableID
        change.fromModelVersion = Int32(fromVersion ?? 0)
        change.toSegmentID = to.id
        change.toSegmentName = to.name
        change.toStableID = to.stableID
        change.cause =
            switch move.cause {
            case .transaction: .transaction
            case .timePassing: .timePassing
            case .modelChange: .modelChange
            }
        change.date = TimestampParser.isoDate(day: move.day)
        change.modelVersion = Int32(version)
        change.recordedAt = at.formatted(.iso8601)
        return change
    }
}
