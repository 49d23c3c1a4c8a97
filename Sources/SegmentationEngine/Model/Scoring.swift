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
    /// Why this segment and not the runner-up: per model feature (in `pipeline.features`
    /// order), its share of the gap between the squared distances to the runner-up's centre and
    /// to this segment's. Positive shares pull the customer into its segment; they sum to 1.
    public var contributions: [Double] = []
    /// Farther from its segment's centre than 99% of the segment's training customers.
    public var outlier = false
    /// Facts of this customer that contradict what its segment's name claims ("lapsed: last
    /// purchase 373 days ago (over 107 days) in a segment of recent buyers"); empty when none.
    public var atypical: [String] = []
    /// Gaussian mixture models: the probability of each segment (in segment id order), summing
    /// to 1; the segment is the most likely one and the runner-up the next. Empty otherwise.
    public var memberships: [Double] = []
    /// The customer-value model's figures for the customer (transactions models that have one,
    /// scored from transactions or from feature rows with the purchase-summary columns).
    public var value: CustomerValueFigures?
    /// Products of the customer's segment they have not bought, when asked for.
    public var recommendations: [ProductStat] = []
}

/// Many customers' scores as parallel arrays, in the order of the rows scored.
public struct BatchScores: Sendable, Equatable {
    public var segmentIDs: [Int32]
    /// Euclidean distances to the segment's centroid, in the scaled feature space.
    public var distances: [Double]
    public var runnerUpIDs: [Int32]
    public var runnerUpDistances: [Double]
    /// Farther from the segment's centre than 99% of its training customers.
    public var outliers: [Bool]
    /// Gaussian mixture models: every row's membership probabilities, row-major (count x k); empty otherwise.
    public var memberships: [Double] = []

    init(count: Int) {
        outliers = [Bool](repeating: false, count: count)
        segmentIDs = [Int32](repeating: 0, count: count)
        distances = [Double](repeating: 0, count: count)
        runnerUpIDs = [Int32](repeating: 0, count: count)
        runnerUpDistances = [Double](repeating: 0, count: count)
    }

    public var count: Int { segmentIDs.count }
}

extension SegmentationModel {
    /// Scores customers given as raw feature values under the named columns (any order; exactly
    /// the model's `expectedColumns`). `cancellation` is checked every 4,096 customers.
    public func score(
        customerIDs: [String], columns: [String], values: Matrix,
        options: ScoreOptions = .init(), cancellation: CancellationCheck = .never,
        drift: DriftTally? = nil
    ) throws -> [Assignment] {
        guard !customerIDs.isEmpty else { throw ScoringError.emptyBatch }
        precondition(values.rows == customerIDs.count, "one id per row")
        try options.validate()
        let (columns, values, summaries, money) = try PurchaseSummary.split(
            customerIDs: customerIDs, columns: columns, values: values)
        if options.recommend > 0 { throw ScoringError.recommendationsNeedPurchases }
        var assignments = try assign(
            customerIDs: customerIDs, columns: columns, values: values, cancellation: cancellation,
            drift: drift)
        if let summaries {
            addValue(&assignments, summaries: summaries, settings: options.value, money: money)
        }
        return assignments
    }

    private func assign(
        customerIDs: [String], columns: [String], values: Matrix, cancellation: CancellationCheck,
        drift: DriftTally?
    ) throws -> [Assignment] {
        let (ordered, scaled, scores) = try scoreRows(
            customerIDs: customerIDs, columns: columns, values: values,
            cancellation: cancellation, drift: drift)
        let recency = pipeline.features.firstIndex(of: "recency")
        let frequency = pipeline.features.firstIndex(of: "frequency")
        let k = centroids.rows
        let checks = atypicalChecks()
        // Feature contributions explain a distance to a centre; memberships are a mixture's.
        let (explainsDistance, hasMemberships) =
            switch placement {
            case .nearestCentre: (true, false)
            case .mostLikely: (false, true)
            case .nearestCore: (false, false)
            }
        return try (0..<values.rows).map { i in
            if i & 4095 == 4095 { try cancellation.throwIfCancelled() }
            let best = segments[Int(scores.segmentIDs[i])],
                second = segments[Int(scores.runnerUpIDs[i])]
            var assignment = Assignment(
                customerID: customerIDs[i], segmentID: best.id, segmentName: best.name,
                distance: scores.distances[i], runnerUpID: second.id, runnerUpName: second.name,
                runnerUpDistance: scores.runnerUpDistances[i], rfmSegment: nil,
                contributions: explainsDistance
                    ? contributions(
                        scaled, row: i, best: Int(scores.segmentIDs[i]),
                        second: Int(scores.runnerUpIDs[i])) : [],
                outlier: scores.outliers[i],
                memberships: hasMemberships
                    ? Array(scores.memberships[(i * k)..<((i + 1) * k)]) : [])
            assignment.atypical = checks[Int(scores.segmentIDs[i])].compactMap { check in
                let value = ordered[i, check.feature]
                return check.contradicts(value) ? check.describe(value) : nil
            }
            if let rfmScorer, let recency, let frequency {
                assignment.rfmSegment = rfmScorer.segment(
                    recency: ordered[i, recency], frequency: ordered[i, frequency])
            }
            return assignment
        }
    }

    /// The bulk form: segment ids and distances as parallel arrays in row order, no string per
    /// customer (names are the model's `segments`). `customerIDs` only name customers in errors
    /// (rows are "row N" without them).
    public func scoreBatch(
        customerIDs: [String]?, columns: [String], values: Matrix,
        cancellation: CancellationCheck = .never, drift: DriftTally? = nil
    ) throws -> BatchScores {
        guard values.rows > 0 else { throw ScoringError.emptyBatch }
        precondition(customerIDs == nil || customerIDs!.count == values.rows, "one id per row")
        var scores = try scoreRows(
            customerIDs: customerIDs, columns: columns, values: values, cancellation: cancellation,
            drift: drift
        ).scores
        let ids = segments.map { Int32($0.id) }
        for i in 0..<scores.count {
            scores.segmentIDs[i] = ids[Int(scores.segmentIDs[i])]
            scores.runnerUpIDs[i] = ids[Int(scores.runnerUpIDs[i])]
        }
        return scores
    }

    /// The rows in the model's column order, and their scores (segments as centroid indices).
    private func scoreRows(
        customerIDs: [String]?, columns: [String], values: Matrix,
        cancellation: CancellationCheck, drift: DriftTally? = nil
    ) throws -> (ordered: Matrix, scaled: Matrix, scores: BatchScores) {
        if let unknown = columns.first(where: { !pipeline.features.contains($0) }) {
            throw ScoringError.unknownColumn(unknown, expected: pipeline.features)
        }
        let positions = try pipeline.features.map { name -> Int in
            guard let index = columns.firstIndex(of: name) else {
                throw ScoringError.missingColumn(name)
            }
            return index
        }
        guard values.columns == columns.count else {
            throw ScoringError.wrongArity(
                customer: customerIDs?[0] ?? "row 1", expected: columns.count, found: values.columns
            )
        }
        let ordered = positions == Array(0..<positions.count) ? values : reorder(values, positions)
        try cancellation.throwIfCancelled()
        let scaled = try pipeline.transform(ordered, customerIDs: customerIDs)
        try cancellation.throwIfCancelled()
        let scores = try nearestTwo(scaled, cancellation: cancellation)
        drift?.record(ordered, segmentPositions: scores.segmentIDs)
        return (ordered, scaled, scores)
    }

    /// Per-feature shares of the squared-distance gap between the runner-up's centre and the
    /// segment's: (x - b)^2 - (x - a)^2 per feature, over their sum.
    private func contributions(_ scaled: Matrix, row i: Int, best a: Int, second b: Int) -> [Double]
    {
        let d = scaled.columns
        guard centroids.rows > 1 else { return [Double](repeating: 0, count: d) }
        var parts = (0..<d).map { j -> Double in
            let x = scaled[i, j]
            return (x - centroids[b, j]) * (x - centroids[b, j]) - (x - centroids[a, j])
                * (x - centroids[a, j])
        }
        let total = parts.reduce(0, +)
        guard total > 0 else { return [Double](repeating: 0, count: d) }
        for j in 0..<d { parts[j] /= total }
        return parts
    }

    /// The segment and runner-up (by index) of every row of scaled data: the nearest two centres,
    /// or for a mixture the two most likely components. `cancellation` is checked every 4,096 rows.
    func nearestTwo(
        _ scaled: Matrix, cancellation: CancellationCheck = .never
    ) throws -> BatchScores {
        switch placement {
        case .mostLikely(let mixture):
            return try mostLikelyTwo(scaled, mixture, cancellation: cancellation)
        case .nearestCore(let density):
            return try densityTwo(scaled, density, cancellation: cancellation)
        case .nearestCentre: return try nearestCentres(scaled, cancellation: cancellation)
        }
    }

    /// A mixture's two most likely components per row, their memberships, and the Euclidean
    /// distances to their means (for the outlier flag, as other models).
    private func mostLikelyTwo(
        _ scaled: Matrix, _ mixture: GaussianMixture.Fitted, cancellation: CancellationCheck
    ) throws -> BatchScores {
        var scores = BatchScores(count: scaled.rows)
        let k = centroids.rows, d = centroids.columns
        let outlierLimits = segments.map { $0.distances?.p99 ?? .infinity }
        var memberships = [Double](repeating: 0, count: scaled.rows * k)
        for start in stride(from: 0, to: scaled.rows, by: 4096) {
            try cancellation.throwIfCancelled()
            let block = scaled.selecting(rows: Array(start..<min(start + 4096, scaled.rows)))
            let densities = mixture.weightedLogDensities(block)
            for r in 0..<block.rows {
                let i = start + r
                // The most likely and the next, by log density, exactly as training labels customers.
                var best = 0, second = -1
                for c in 1..<k {
                    if densities[r, c] > densities[r, best] {
                        (second, best) = (best, c)
                    } else if second < 0 || densities[r, c] > densities[r, second] {
                        second = c
                    }
                }
                if second < 0 { second = best }
                guard densities[r, best].isFinite else {
                    throw ScoringError.outOfDomain(
                        customer: "row \(i + 1)", field: "features", value: scaled[i, 0],
                        reason:
                            "puts the customer so far from every segment that no membership can be computed"
                    )
                }
                let total = logSumExp(densities.row(r))
                for c in 0..<k { memberships[i * k + c] = exp(densities[r, c] - total) }
                func distance(_ c: Int) -> Double {
                    (0..<d).reduce(0.0) {
                        $0 + (scaled[i, $1] - centroids[c, $1]) * (scaled[i, $1] - centroids[c, $1])
                    }.squareRoot()
                }
                scores.segmentIDs[i] = Int32(best)
                scores.distances[i] = distance(best)
                scores.runnerUpIDs[i] = Int32(second)
                scores.runnerUpDistances[i] = distance(second)
                scores.outliers[i] = scores.distances[i] > outlierLimits[best]
            }
        }
        scores.memberships = memberships
        return scores
    }

    /// DBSCAN: the segment of the nearest core customer within eps, else Outliers (an outlier
    /// either way when beyond eps); the runner-up is the nearest other segment's centre.
    private func densityTwo(
        _ scaled: Matrix, _ density: DensityModel, cancellation: CancellationCheck
    ) throws -> BatchScores {
        var scores = BatchScores(count: scaled.rows)
        let k = centroids.rows, d = centroids.columns
        let outlierLimits = segments.map { $0.distances?.p99 ?? .infinity }
        try scaled.values.withUnsafeBufferPointer { xs in
            try density.corePoints.values.withUnsafeBufferPointer { cores in
                try centroids.values.withUnsafeBufferPointer { cs in
                    for i in 0..<scaled.rows {
                        if i & 4095 == 4095 { try cancellation.throwIfCancelled() }
                        let row = xs.baseAddress! + i * d
                        let (segment, dense) = density.segment(of: row, cores: cores.baseAddress!)
                        var second = (index: segment, distance: Double.infinity)
                        for c in 0..<k where c != segment {
                            let distance = squaredDistance(row, cs.baseAddress! + c * d, d)
                            if distance < second.distance { second = (c, distance) }
                        }
                        scores.segmentIDs[i] = Int32(segment)
                        scores.distances[i] = squaredDistance(row, cs.baseAddress! + segment * d, d)
                            .squareRoot()
                        scores.runnerUpIDs[i] = Int32(second.index)
                        scores.runnerUpDistances[i] = second.distance.squareRoot()
                        scores.outliers[i] =
                            !dense || segment == density.outlierSegment
                            || scores.distances[i] > outlierLimits[segment]
                    }
                }
            }
        }
        return scores
    }

    /// Nearest and runner-up centroid (by index) of every row of scaled data.
    private func nearestCentres(
        _ scaled: Matrix, cancellation: CancellationCheck
    ) throws -> BatchScores {
        var scores = BatchScores(count: scaled.rows)
        let k = centroids.rows, d = centroids.columns
        let outlierLimits = segments.map { $0.distances?.p99 ?? .infinity }
        try scaled.values.withUnsafeBufferPointer { xs in
            try centroids.values.withUnsafeBufferPointer { cs in
                for i in 0..<scaled.rows {
                    if i & 4095 == 4095 { try cancellation.throwIfCancelled() }
                    var best = (index: 0, distance: Double.infinity)
                    var second = (index: 0, distance: Double.infinity)
                    for c in 0..<k {
                        let sum = squaredDistance(
                            xs.baseAddress! + i * d, cs.baseAddress! + c * d, d)
                        if sum < best.distance {
                            second = best
                            best = (c, sum)
                        } else if sum < second.distance {
                            second = (c, sum)
                        }
                    }
                    scores.segmentIDs[i] = Int32(best.index)
                    scores.distances[i] = best.distance.squareRoot()
                    scores.runnerUpIDs[i] = Int32(second.index)
                    scores.runnerUpDistances[i] = second.distance.squareRoot()
                    scores.outliers[i] = scores.distances[i] > outlierLimits[best.index]
                }
            }
        }
        return scores
    }

    /// Scores one customer given as named values.
    public func score(customerID: String, features: [String: Double]) throws -> Assignment {
        let columns = features.keys.sorted()
        let row = Matrix(rows: 1, columns: columns.count, values: columns.map { features[$0]! })
        return try score(customerIDs: [customerID], columns: columns, values: row)[0]
    }

    /// The day recency is measured to when a caller names none: the later of the training
    /// snapshot and the day after the last transaction `table` keeps (nil for an empty table).
    public func defaultSnapshotDay(scoring table: TransactionTable) -> Int? {
        table.seconds.lazy.map(TimestampParser.day(of:)).max().map { max(snapshotDay ?? 0, $0 + 1) }
    }

    /// Scores customers from their transactions, aggregated exactly as at training time.
    /// Recency is measured to `snapshotDay`, by default the later of the training snapshot and
    /// the day after the last scored transaction.
    public func score(
        transactions table: TransactionTable, snapshotDay: Int? = nil,
        options: ScoreOptions = .init(), cancellation: CancellationCheck = .never,
        drift: DriftTally? = nil
    ) throws -> [Assignment] {
        try options.validate()
        guard kind == .transactions else {
            throw ModelError.wrongKind(expected: kind, found: .transactions)
        }
        guard table.count > 0 else { throw ScoringError.emptyBatch }
        let day = snapshotDay ?? defaultSnapshotDay(scoring: table)!
        let (features, _) = RFMFeatureBuilder.build(table, snapshotDay: day)
        let values = try features.selecting(features: pipeline.features)
        try cancellation.throwIfCancelled()
        var assignments = try assign(
            customerIDs: features.customerIDs, columns: pipeline.features, values: values,
            cancellation: cancellation, drift: drift)
        try addRecommendations(
            &assignments, purchases: ProductPurchases(table), count: options.recommend)
        if customerValue?.model != nil {
            addValue(
                &assignments, summaries: PurchaseHistories(table).summaries(snapshotDay: day),
                settings: options.value)
        }
        return assignments
    }

    /// Scores the rows of a customers table that pass the filters; the report counts what the
    /// filters removed.
    public func score(
        customerTable table: CustomerTableLoader.Table, filters: [RowFilter],
        cancellation: CancellationCheck = .never, drift: DriftTally? = nil
    ) throws -> ([Assignment], DataReport) {
        var report = DataReport(kind: .customers)
        report.sources = [table.source]
        report.rowsIn = table.rows.count
        var kept = table
        var remaining = table.rows.count
        if !filters.isEmpty {
            let set = try RowFilterSet(filters, header: table.header, source: table.source)
            var removed: [String: Int] = [:]
            kept.rows = table.rows.filter { row in
                guard row.count == table.header.count, let rule = set.rejecting({ row[$0] }) else {
                    return true
                }
                removed[rule, default: 0] += 1
                return false
            }
            report.steps += RowFilterSet.steps(filters, removed: removed, remaining: &remaining)
        }
        report.rowsOut = kept.rows.count
        report.customersIn = table.rows.count
        report.customersOut = kept.rows.count
        try cancellation.throwIfCancelled()
        return (
            kept.rows.isEmpty
                ? [] : try score(customerTable: kept, cancellation: cancellation, drift: drift),
            report
        )
    }

    /// Scores rows of a customers table (text cells under `header`).
    public func score(
        customerTable table: CustomerTableLoader.Table, cancellation: CancellationCheck = .never,
        drift: DriftTally? = nil
    ) throws -> [Assignment] {
        guard kind == .customers, let customerEncoder else {
            throw ModelError.wrongKind(expected: kind, found: .customers)
        }
        guard !table.rows.isEmpty else { throw ScoringError.emptyBatch }
        let idIndex = customerEncoder.idColumn.flatMap { table.header.firstIndex(of: $0) }
        let ids = table.rows.enumerated().map { index, row in
            idIndex.flatMap { $0 < row.count ? row[$0] : nil } ?? "row \(index + 1)"
        }
        let (values, _) = try customerEncoder.encode(
            header: table.header, rows: table.rows, customerIDs: ids)
        try cancellation.throwIfCancelled()
        return try score(
            customerIDs: ids, columns: pipeline.features, values: values,
            cancellation: cancellation,
            drift: drift)
    }

    private func reorder(_ values: Matrix, _ positions: [Int]) -> Matrix {
        var out = Matrix(rows: values.rows, columns: positions.count)
        for i in 0..<values.rows {
            for (j, p) in positions.enumerated() { out[i, j] = values[i, p] }
        }
        return out
    }
}

/// Every training customer of a model with its assignment and raw features: what
/// `models export` writes. Recomputed from the stored training data with the model's own
/// configuration (filters, columns, snapshot), so it matches what the model was trained on.
public struct TrainingAssignments: Sendable {
    public var features: CustomerFeatures
    /// Each with its customer-value figures at the model's horizons, when the model has them.
    public var assignments: [Assignment]
}

extension SegmentationModel {
    /// The model's training data read again with its own configuration (filters, columns,
    /// cleaning, snapshot).
    public func prepareTrainingData(
        _ sources: [TrainingSource], cancellation: CancellationCheck = .never
    ) throws -> SegmentationTrainer.PreparedData {
        var configuration = training.configuration
        if configuration.snapshotDate == nil, let snapshotDay {
            configuration.snapshotDate = TimestampParser.isoDate(day: snapshotDay)
        }
        if configuration.cleaning == nil { configuration.cleaning = .legacy }
        return try SegmentationTrainer(configuration: configuration).prepare(
            sources, cancellation: cancellation)
    }

    public func assignTrainingData(
        _ sources: [TrainingSource], cancellation: CancellationCheck = .never
    ) throws -> TrainingAssignments {
        let prepared = try prepareTrainingData(sources, cancellation: cancellation)
        try cancellation.throwIfCancelled()
        let values = try prepared.features.selecting(features: pipeline.features)
        var assignments = try score(
            customerIDs: prepared.features.customerIDs, columns: pipeline.features, values: values)
        if let histories = prepared.histories, let snapshotDay = prepared.snapshotDay {
            try cancellation.throwIfCancelled()
            addValue(
                &assignments, summaries: histories.summaries(snapshotDay: snapshotDay),
                settings: nil)
        }
        return TrainingAssignments(features: prepared.features, assignments: assignments)
    }
}
