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
        var response = Segmentation_V1_ScoreResponse.with {
            $0.modelName = resolved.name
            $0.modelVersion = Int32(resolved.version)
        }
        let model = resolved.model
        func present(_ assignments: [Assignment]) -> [Segmentation_V1_CustomerScore] {
            request.omitNames ? assignments.map(\.compactProto) : assignments.map(\.proto)
        }
        switch request.input {
        case .matrix(let matrix)?: response.columns = try scoreMatrix(matrix, model).proto
        case .features(let rows)?: response.scores = present(try scoreFeatureRows(rows, model))
        case .csv(let csv)?: response.scores = present(try scoreCSV(csv.data, snapshotDate: request.snapshotDate, model))
        case nil: throw RPCErrors.invalid("the request has no customers: set features, matrix or csv")
        }
        return response
    }

    /// The bulk form: packed values in, packed ids and distances out.
    private static func scoreMatrix(_ matrix: Segmentation_V1_FeatureMatrix, _ model: SegmentationModel) throws -> BatchScores {
        let width = matrix.columns.count
        guard width > 0 else { throw RPCErrors.invalid("matrix.columns is empty: name the model's columns (\(model.pipeline.features.joined(separator: ", ")))") }
        guard matrix.values.count % width == 0 else {
            throw RPCErrors.invalid("matrix.values has \(matrix.values.count) values, not a whole number of rows of \(width) columns")
        }
        let rows = matrix.values.count / width
        guard matrix.customerIds.isEmpty || matrix.customerIds.count == rows else {
            throw RPCErrors.invalid("matrix has \(matrix.customerIds.count) customer_ids but \(rows) rows of \(width) values")
        }
        return try model.scoreBatch(customerIDs: matrix.customerIds.isEmpty ? nil : matrix.customerIds,
                                    columns: matrix.columns, values: Matrix(rows: rows, columns: width, values: matrix.values))
    }

    private static func scoreCSV(_ data: Data, snapshotDate: String, _ model: SegmentationModel) throws -> [Assignment] {
        switch model.kind {
        case .transactions:
            var loader = TransactionLoader(columns: model.transactionColumns ?? TransactionColumns())
            try loader.add(bytes: data, source: "request")
            let (table, _) = try loader.finish()
            var snapshot: Int?
            if !snapshotDate.isEmpty {
                guard let day = TimestampParser.day(ofDate: snapshotDate) else {
                    throw RPCErrors.invalid("snapshot_date '\(snapshotDate)' is not a date (YYYY-MM-DD)")
                }
                snapshot = day
            }
            return try model.score(transactions: table, snapshotDay: snapshot)
        case .customers:
            return try model.score(customerTable: try CustomerTableLoader.read(bytes: data, source: "request"))
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
