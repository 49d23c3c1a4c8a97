import Foundation

/// The segment a customer falls in, and how clearly.
public struct Assignment: Codable, Sendable, Equatable {
    public var customerID: String
    public var segmentID: Int
    public var segmentName: String
    /// Euclidean distance to the segment's centroid, in the scaled feature space.
    public var distance: Double
    public var runnerUpID: Int
    public var runnerUpName: String
    public var runnerUpDistance: Double
    /// The RFM score segment, for models with recency and frequency.
    public var rfmSegment: RFMSegment?
}

extension SegmentationModel {
    /// Scores customers given as raw feature values under the named columns (any order; exactly
    /// the model's `expectedColumns`).
    public func score(customerIDs: [String], columns: [String], values: Matrix) throws -> [Assignment] {
        guard !customerIDs.isEmpty else { throw ScoringError.emptyBatch }
        precondition(values.rows == customerIDs.count, "one id per row")
        if let unknown = columns.first(where: { !pipeline.features.contains($0) }) {
            throw ScoringError.unknownColumn(unknown, expected: pipeline.features)
        }
        let positions = try pipeline.features.map { name -> Int in
            guard let index = columns.firstIndex(of: name) else { throw ScoringError.missingColumn(name) }
            return index
        }
        guard values.columns == columns.count else {
            throw ScoringError.wrongArity(customer: customerIDs[0], expected: columns.count, found: values.columns)
        }
        let ordered = positions == Array(0..<positions.count) ? values : reorder(values, positions)
        let scaled = try pipeline.transform(ordered, customerIDs: customerIDs)
        let recency = pipeline.features.firstIndex(of: "recency")
        let frequency = pipeline.features.firstIndex(of: "frequency")
        return (0..<scaled.rows).map { i in
            var assignment = nearest(scaled, row: i, customerID: customerIDs[i])
            if let rfmScorer, let recency, let frequency {
                assignment.rfmSegment = rfmScorer.segment(recency: ordered[i, recency], frequency: ordered[i, frequency])
            }
            return assignment
        }
    }

    /// Scores one customer given as named values.
    public func score(customerID: String, features: [String: Double]) throws -> Assignment {
        let columns = features.keys.sorted()
        let row = Matrix(rows: 1, columns: columns.count, values: columns.map { features[$0]! })
        return try score(customerIDs: [customerID], columns: columns, values: row)[0]
    }

    /// Scores customers from their transactions, aggregated exactly as at training time.
    /// Recency is measured to `snapshotDay`, by default the later of the training snapshot and
    /// the day after the last scored transaction.
    public func score(transactions table: TransactionTable, snapshotDay: Int? = nil) throws -> [Assignment] {
        guard kind == .transactions else { throw ModelError.wrongKind(expected: kind, found: .transactions) }
        guard table.count > 0 else { throw ScoringError.emptyBatch }
        let lastDay = table.seconds.map(TimestampParser.day(of:)).max()!
        let day = snapshotDay ?? max(self.snapshotDay ?? 0, lastDay + 1)
        let (features, _) = RFMFeatureBuilder.build(table, snapshotDay: day)
        let values = try features.selecting(features: pipeline.features)
        return try score(customerIDs: features.customerIDs, columns: pipeline.features, values: values)
    }

    /// Scores rows of a customers table (text cells under `header`).
    public func score(customerTable table: CustomerTableLoader.Table) throws -> [Assignment] {
        guard kind == .customers, let customerEncoder else {
            throw ModelError.wrongKind(expected: kind, found: .customers)
        }
        guard !table.rows.isEmpty else { throw ScoringError.emptyBatch }
        let idIndex = customerEncoder.idColumn.flatMap { table.header.firstIndex(of: $0) }
        let ids = table.rows.enumerated().map { index, row in
            idIndex.flatMap { $0 < row.count ? row[$0] : nil } ?? "row \(index + 1)"
        }
        let (values, _) = try customerEncoder.encode(header: table.header, rows: table.rows, customerIDs: ids)
        return try score(customerIDs: ids, columns: pipeline.features, values: values)
    }

    /// Nearest and runner-up centroid of row `i` of scaled data.
    func nearest(_ scaled: Matrix, row i: Int, customerID: String) -> Assignment {
        var best = (index: 0, distance: Double.infinity)
        var second = (index: 0, distance: Double.infinity)
        for c in 0..<centroids.rows {
            var sum = 0.0
            for j in 0..<centroids.columns {
                let delta = scaled[i, j] - centroids[c, j]
                sum += delta * delta
            }
            if sum < best.distance {
                second = best
                best = (c, sum)
            } else if sum < second.distance {
                second = (c, sum)
            }
        }
        return Assignment(
            customerID: customerID, segmentID: segments[best.index].id, segmentName: segments[best.index].name,
            distance: best.distance.squareRoot(), runnerUpID: segments[second.index].id,
            runnerUpName: segments[second.index].name, runnerUpDistance: second.distance.squareRoot(),
            rfmSegment: nil)
    }

    private func reorder(_ values: Matrix, _ positions: [Int]) -> Matrix {
        var out = Matrix(rows: values.rows, columns: positions.count)
        for i in 0..<values.rows {
            for (j, p) in positions.enumerated() { out[i, j] = values[i, p] }
        }
        return out
    }
}
