import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping
import Synchronization

/// Scores customers against cached, decoded models: no disk on the hot path. Large requests are
/// scored off the cooperative pool; all scoring stops within a few thousand customers once the
/// call is cancelled or passes its deadline.
struct ScoringService: Segmentation_V1_ScoringService.SimpleServiceProtocol {
    let models: ServedModels
    let metrics: ServerMetrics
    /// Whether the server is draining (see `score(_:with:context:)`).
    let health: HealthStatus
    /// Ends large scores still running when the shutdown's drain ends (they then answer UNAVAILABLE).
    var drain = DrainDeadline()
    /// Counts what is scored, per version and hour, for drift (nil: not counted).
    var drift: DriftRecorder?
    /// Threads for large requests, one per core (more would only queue on the CPU).
    let largeRequests = WorkSlots(
        slots: ProcessInfo.processInfo.activeProcessorCount, maximumWaiting: 64,
        whenFull: "64 large Score requests are already waiting; retry, or send smaller batches")
    var beforeLargeScore: (@Sendable (CancellationCheck) -> Void)?

    func score(
        request: Segmentation_V1_ScoreRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ScoreResponse {
        let resolved = try await models.resolve(try ModelReference(request.model))
        return try await score(request, with: resolved, context: context)
    }

    /// Inline when small (a thread hop would cost more than the work), on a thread of its own when large.
    private func score(
        _ request: Segmentation_V1_ScoreRequest, with resolved: ServedModels.Resolved,
        context: ServerContext
    ) async throws -> Segmentation_V1_ScoreResponse {
        // A drain (SIGTERM) also fires `context.cancellation`: grpc-swift cancels every call's
        // handle when the connection quiesces. Calls in flight must run to their end then, so
        // while the server stops only the drain's own end (this task cancelled after
        // --drain-seconds) stops scoring; before that, the client's cancel or deadline does.
        let call = context.cancellation, health = self.health
        let drainEnded = DrainEnd()
        let drain = self.drain
        let cancellation = CancellationCheck {
            drainEnded.isSet || drain.hasEnded || (call.isCancelled && health.phase != .stopping)
        }
        return try await withTaskCancellationHandler {
            try await score(request, with: resolved, cancellation: cancellation)
        } onCancel: {
            drainEnded.set()
        }
    }

    private func score(
        _ request: Segmentation_V1_ScoreRequest, with resolved: ServedModels.Resolved,
        cancellation: CancellationCheck
    ) async throws -> Segmentation_V1_ScoreResponse {
        do {
            let started = ContinuousClock.now
            let response: Segmentation_V1_ScoreResponse
            let tally = drift?.tally(for: resolved)
            if Self.isLarge(request) {
                response = try await largeRequests.run { [beforeLargeScore] in
                    // A call that gave up while it waited for its turn does no work at all.
                    try cancellation.throwIfCancelled()
                    return try await OffPool.run(name: "score") {
                        beforeLargeScore?(cancellation)
                        return try Self.score(
                            request, with: resolved, cancellation: cancellation, drift: tally)
                    }
                }
            } else {
                response = try Self.score(
                    request, with: resolved, cancellation: cancellation, drift: tally)
            }
            if let tally { drift?.add(tally, name: resolved.name, version: resolved.version) }
            metrics.customersScored(
                response.scores.scores.count + response.packed.segmentIds.count,
                model: resolved.name, version: resolved.version,
                duration: ContinuousClock.now - started)
            return response
        } catch is CancellationError {
            metrics.scoreStoppedEarly()
            throw ScoringStopped()
        }
    }

    /// More than about 10,000 customers' worth of input.
    private static func isLarge(_ request: Segmentation_V1_ScoreRequest) -> Bool {
        switch request.input {
        case .matrix(let matrix)?: matrix.values.count > 100_000
        // Customer-value figures cost about as much as ten segment placements each.
        case .features(let rows)?:
            rows.rows.count
                > (rows.featureNames.contains(where: PurchaseSummary.columnNames.contains)
                    ? 1_000 : 10_000)
        case .csv(let csv)?: csv.data.count > 512 << 10
        case nil: false
        }
    }

    func scoreStream(
        request: RPCAsyncSequence<Segmentation_V1_ScoreRequest, any Error>,
        response: RPCWriter<Segmentation_V1_ScoreResponse>, context: ServerContext
    ) async throws {
        var current: ServedModels.Resolved?
        for try await message in request {
            var answer: Segmentation_V1_ScoreResponse
            do {
                if message.hasModel {
                    // a model that cannot be resolved is not silently replaced by the previous one
                    current = nil
                    current = try await models.resolve(try ModelReference(message.model))
                }
                guard let resolved = current else {
                    throw InvalidField(
                        "model",
                        "model is required: the first request of a score stream, and any after one whose model failed, must name it"
                    )
                }
                answer = try await score(message, with: resolved, context: context)
            } catch let error where !Self.endsStream(error) {
                // This request failed; the stream goes on with the next (counted: the call's own
                // status stays OK).
                answer = .with { $0.error = RPCErrors.scoreError(error) }
                metrics.scoreStreamRequestFailed(code: RPCErrors.map(error).code)
            }
            answer.requestID = message.requestID
            try await response.write(answer)
        }
    }

    /// Failures of the call itself (it was cancelled, passed its deadline, or the server is
    /// stopping) end a stream; a bad request only fails its own response.
    private static func endsStream(_ error: any Error) -> Bool {
        if error is CancellationError || error is ScoringStopped { return true }
        if let error = error as? RPCError {
            return [.cancelled, .deadlineExceeded, .unavailable].contains(error.code)
        }
        return false
    }

    static func score(
        _ request: Segmentation_V1_ScoreRequest, with resolved: ServedModels.Resolved,
        cancellation: CancellationCheck = .never, drift: DriftTally? = nil
    ) throws -> Segmentation_V1_ScoreResponse {
        var response = Segmentation_V1_ScoreResponse.with {
            $0.modelName = resolved.name
            $0.modelVersion = Int32(resolved.version)
        }
        let model = resolved.model
        let options = try request.scoreOptions()
        func present(_ assignments: [Assignment]) -> [Segmentation_V1_CustomerScore] {
            request.omitNames
                ? assignments.map(\.compactProto) : assignments.map { $0.proto(options.value) }
        }
        switch request.input {
        case .matrix(let matrix)?:
            guard options == ScoreOptions() else {
                throw InvalidField(
                    options.recommend > 0 ? "recommend" : "value_options",
                    "matrix input carries segments only: send features or csv for customer value or recommendations"
                )
            }
            response.packed = try scoreMatrix(matrix, model, cancellation, drift).proto
        case .features(let rows)?:
            let scored = present(try scoreFeatureRows(rows, model, options, cancellation, drift))
            response.scores = .with { $0.scores = scored }
        case .csv(let csv)?:
            let (assignments, report) = try scoreCSV(
                csv.data, request, model, options, cancellation, drift)
            response.scores = .with { $0.scores = present(assignments) }
            response.dataReport = report.proto
        case nil:
            throw InvalidField("input", "the request has no customers: set features, matrix or csv")
        }
        return response
    }

    /// The bulk form: packed values in, packed ids and distances out.
    private static func scoreMatrix(
        _ matrix: Segmentation_V1_FeatureMatrix, _ model: SegmentationModel,
        _ cancellation: CancellationCheck, _ drift: DriftTally?
    ) throws -> BatchScores {
        let width = matrix.featureNames.count
        guard width > 0 else {
            throw InvalidField(
                "matrix.feature_names",
                "matrix.feature_names is empty: name the model's columns (\(model.pipeline.features.joined(separator: ", ")))"
            )
        }
        guard matrix.values.count % width == 0 else {
            throw InvalidField(
                "matrix.values",
                "matrix.values has \(matrix.values.count) values, not a whole number of rows of \(width) columns"
            )
        }
        let rows = matrix.values.count / width
        guard matrix.customerIds.isEmpty || matrix.customerIds.count == rows else {
            throw InvalidField(
                "matrix.customer_ids",
                "matrix has \(matrix.customerIds.count) customer_ids but \(rows) rows of \(width) values"
            )
        }
        return try model.scoreBatch(
            customerIDs: matrix.customerIds.isEmpty ? nil : matrix.customerIds,
            columns: matrix.featureNames,
            values: Matrix(rows: rows, columns: width, values: matrix.values),
            cancellation: cancellation, drift: drift)
    }

    /// CSV rows as the model was trained on. Rows that cleaning or the filters remove (no
    /// customer id, cancellations...) are counted in the report, never fatal.
    private static func scoreCSV(
        _ data: Data, _ request: Segmentation_V1_ScoreRequest, _ model: SegmentationModel,
        _ options: ScoreOptions, _ cancellation: CancellationCheck, _ drift: DriftTally?
    ) throws -> ([Assignment], DataReport) {
        let filters = try RowFilter.list(request.filters) ?? []
        switch model.kind {
        case .transactions:
            var columns = model.transactionColumns ?? TransactionColumns()
            for (role, column) in request.inputColumns.roles.sorted(by: { $0.key < $1.key }) {
                try columns.set(role: role, column: column)
            }
            // Cleaned as at training: older models (no cleaning stored) neither netted nor left out cancelled orders.
            var loader = TransactionLoader(
                columns: columns, filters: filters,
                cleaning: model.training.configuration.cleaning ?? .legacy)
            loader.cancellation = cancellation
            try loader.add(bytes: data, source: "request")
            var (table, report) = try loader.finish(requireRows: false)
            guard table.count > 0 else { return ([], report) }
            var snapshot = model.defaultSnapshotDay(scoring: table)
            if !request.snapshotDate.isEmpty {
                guard let day = TimestampParser.day(ofDate: request.snapshotDate) else {
                    throw InvalidField(
                        "snapshot_date",
                        "snapshot_date \(request.snapshotDate.quotedForMessage) is not a date (YYYY-MM-DD)"
                    )
                }
                snapshot = day
            }
            // Told back, so a client that splits its input can put every part on one day.
            report.snapshotDate = snapshot.map(TimestampParser.isoDate(day:))
            return (
                try model.score(
                    transactions: table, snapshotDay: snapshot, options: options,
                    cancellation: cancellation, drift: drift), report
            )
        case .customers:
            if options.recommend > 0 { throw ScoringError.recommendationsNeedPurchases }
            let table = try CustomerTableLoader.read(bytes: data, source: "request")
            return try model.score(
                customerTable: table, filters: filters, cancellation: cancellation, drift: drift)
        }
    }

    private static func scoreFeatureRows(
        _ rows: Segmentation_V1_FeatureRows, _ model: SegmentationModel, _ options: ScoreOptions,
        _ cancellation: CancellationCheck, _ drift: DriftTally?
    ) throws -> [Assignment] {
        guard !rows.rows.isEmpty else { throw ScoringError.emptyBatch }
        let width = rows.featureNames.count
        var values = [Double]()
        values.reserveCapacity(rows.rows.count * width)
        var ids = [String]()
        ids.reserveCapacity(rows.rows.count)
        for (index, row) in rows.rows.enumerated() {
            let id = row.customerID.isEmpty ? "row \(index + 1)" : row.customerID
            guard row.values.count == width else {
                throw ScoringError.wrongArity(
                    customer: id, expected: width, found: row.values.count)
            }
            ids.append(id)
            values.append(contentsOf: row.values)
        }
        return try model.score(
            customerIDs: ids, columns: rows.featureNames,
            values: Matrix(rows: ids.count, columns: width, values: values), options: options,
            cancellation: cancellation, drift: drift)
    }
}

/// A Score call that stopped part-way because it was cancelled or passed its deadline.
struct ScoringStopped: Error, CustomStringConvertible {
    var description: String { "the call was cancelled or passed its deadline; scoring stopped" }
}

/// Set once the drain has ended (the call's task cancelled); read from scoring threads.
final class DrainEnd: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}
