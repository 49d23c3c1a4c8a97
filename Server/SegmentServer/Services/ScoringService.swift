import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine

/// Scores customers against cached, decoded models: no disk on the hot path.
struct ScoringService: Segmentation_V1_ScoringService.SimpleServiceProtocol {
    let catalog: ModelCatalog

    func score(request: Segmentation_V1_ScoreRequest, context: ServerContext) async throws -> Segmentation_V1_ScoreResponse {
        try await handling {
            guard !request.model.isEmpty else { throw RPCErrors.invalid("model is required (name, name@version or name@alias)") }
            let resolved = try await catalog.resolve(try ModelReference(parsing: request.model))
            return try Self.score(request, with: resolved)
        }
    }

    func scoreStream(
        request: RPCAsyncSequence<Segmentation_V1_ScoreRequest, any Error>,
        response: RPCWriter<Segmentation_V1_ScoreResponse>, context: ServerContext
    ) async throws {
        try await handling {
            var current: ModelCatalog.Resolved?
            for try await message in request {
                if !message.model.isEmpty {
                    current = try await catalog.resolve(try ModelReference(parsing: message.model))
                }
                guard let resolved = current else {
                    throw RPCErrors.invalid("the first message of a score stream must name the model")
                }
                try await response.write(try Self.score(message, with: resolved))
            }
        }
    }

    static func score(_ request: Segmentation_V1_ScoreRequest, with resolved: ModelCatalog.Resolved) throws -> Segmentation_V1_ScoreResponse {
        let assignments = try assign(request, resolved.model)
        return .with {
            $0.modelName = resolved.name
            $0.modelVersion = Int32(resolved.version)
            $0.scores = request.omitNames ? assignments.map(\.compactProto) : assignments.map(\.proto)
        }
    }

    private static func assign(_ request: Segmentation_V1_ScoreRequest, _ model: SegmentationModel) throws -> [Assignment] {
        switch request.input {
        case .features(let rows)?:
            return try scoreFeatureRows(rows, model)
        case .csv(let csv)?:
            switch model.kind {
            case .transactions:
                var loader = TransactionLoader(columns: model.transactionColumns ?? TransactionColumns())
                try loader.add(bytes: csv.data, source: "request")
                let (table, _) = try loader.finish()
                var snapshot: Int?
                if !request.snapshotDate.isEmpty {
                    guard let day = TimestampParser.day(ofDate: request.snapshotDate) else {
                        throw RPCErrors.invalid("snapshot_date '\(request.snapshotDate)' is not a date (YYYY-MM-DD)")
                    }
                    snapshot = day
                }
                return try model.score(transactions: table, snapshotDay: snapshot)
            case .customers:
                return try model.score(customerTable: try CustomerTableLoader.read(bytes: csv.data, source: "request"))
            }
        case nil:
            throw RPCErrors.invalid("the request has no customers: set features or csv")
        }
    }

    private static func scoreFeatureRows(_ rows: Segmentation_V1_FeatureRows, _ model: SegmentationModel) throws -> [Assignment] {
        guard !rows.rows.isEmpty else { throw ScoringError.emptyBatch }
        let width = rows.columns.count
        var values = [Double]()
        values.reserveCapacity(rows.rows.count * width)
        var ids = [String]()
        ids.reserveCapacity(rows.rows.count)
        for (index, row) in rows.rows.enumerated() {
            let id = row.customerID.isEmpty ? "row \(index + 1)" : row.customerID
            guard row.values.count == width else {
                throw ScoringError.wrongArity(customer: id, expected: width, found: row.values.count)
            }
            ids.append(id)
            values.append(contentsOf: row.values)
        }
        return try model.score(customerIDs: ids, columns: rows.columns,
                               values: Matrix(rows: ids.count, columns: width, values: values))
    }
}
