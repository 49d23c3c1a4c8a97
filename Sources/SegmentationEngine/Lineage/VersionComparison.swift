import Foundation

public enum ComparisonError: Error, Equatable, CustomStringConvertible {
    /// The two versions cannot assign the same customers.
    case incomparable(String)

    public var description: String {
        switch self {
        case .incomparable(let message): message
        }
    }
}

/// Two versions (or two models with the same features) side by side on the same customers: the
/// later one's training data, which the earlier one assigns by scoring it.
public struct VersionComparison: Sendable {
    public var customerIDs: [String]
    /// Per customer: its segment id in the earlier and in the later version.
    public var fromIDs: [Int32]
    public var toIDs: [Int32]
    /// Per customer: lifetime value by the later version's model (nil without money figures).
    public var lifetimeValues: [Double]?
    public var movement: SegmentMovement
    /// The later version's segments matched one-to-one to the earlier one's.
    public var matches: [SegmentMatch]

    /// Customers of the later version's training data the earlier version assigned from its own
    /// training data (the rest it scored from the later data); 0 when it scored them all.
    public var assignedFromEarlierData = 0

    /// Compares `previous` with `current` on `data`, the customers of `current`'s training data
    /// prepared with its configuration. The segments are matched on `previous` scoring `data`
    /// (the same customers, the same facts: only the models differ). The movement is the same
    /// unless `earlier` gives `previous`'s own view of customers it was trained on (customer id ->
    /// segment id, from its training data): then those customers move as their behaviour did.
    public static func compare(
        _ previous: SegmentationModel, _ current: SegmentationModel,
        on data: SegmentationTrainer.PreparedData, earlier: [String: Int32]? = nil,
        cancellation: CancellationCheck = .never
    ) throws -> VersionComparison {
        guard previous.kind == current.kind else {
            throw ComparisonError.incomparable(
                "one version was trained on \(previous.kind.rawValue) and the other on \(current.kind.rawValue): they cannot assign the same customers"
            )
        }
        let missing = previous.pipeline.features.filter { !data.features.names.contains($0) }
        guard missing.isEmpty else {
            throw ComparisonError.incomparable(
                "the earlier version clusters on \(missing.joined(separator: ", ")), which the later version's training data does not have"
            )
        }
        guard data.features.count > 0 else {
            throw ComparisonError.incomparable("the later version's training data has no customers")
        }
        let ids = data.features.customerIDs
        let scored = try previous.segmentIDs(of: data.features, cancellation: cancellation)
        let to = try current.segmentIDs(of: data.features, cancellation: cancellation)
        try cancellation.throwIfCancelled()
        let values: [Double]? = data.histories.flatMap { histories in
            guard let snapshot = data.snapshotDay,
                let figures = current.customerValue?.figures(
                    histories.summaries(snapshotDay: snapshot), settings: nil),
                figures.count == ids.count, figures.allSatisfy({ $0.lifetimeValue != nil })
            else { return nil }
            return figures.map { $0.lifetimeValue! }
        }
        let sameData = SegmentMovement(
            previous: previous, current: current, from: scored, to: to, values: values)
        let scaled = try current.pipeline.transform(
            try data.features.selecting(features: current.pipeline.features), customerIDs: ids)
        let matches = SegmentMatcher(
            movement: sameData,
            distances: CentreDistances(scaled, from: scored, to: to, movement: sameData),
            outliers: (previous.density?.outlierSegment, current.density?.outlierSegment)
        ).matches()
        var from = scored
        var assignedFromEarlierData = 0
        if let earlier {
            for (i, id) in ids.enumerated() {
                if let segment = earlier[id] {
                    from[i] = segment
                    assignedFromEarlierData += 1
                }
            }
        }
        var comparison = VersionComparison(
            customerIDs: ids, fromIDs: from, toIDs: to, lifetimeValues: values,
            movement: earlier == nil
                ? sameData
                : SegmentMovement(
                    previous: previous, current: current, from: from, to: to, values: values),
            matches: matches)
        comparison.assignedFromEarlierData = assignedFromEarlierData
        return comparison
    }

    /// Compares two stored versions: `to` on its training data read again, `from` by its own
    /// training data for the customers it was trained on when `fromSources` is given (else it
    /// scores them all).
    public static func compare(
        _ from: SegmentationModel, trainedOn fromSources: [TrainingSource]?,
        _ to: SegmentationModel, trainedOn toSources: [TrainingSource],
        cancellation: CancellationCheck = .never
    ) throws -> VersionComparison {
        let data = try to.prepareTrainingData(toSources, cancellation: cancellation)
        var earlier: [String: Int32]?
        // Customers tables without an id column name rows by number: row 5 of one file is not
        // row 5 of another, so such customers are scored, never joined by id.
        let identified = from.kind == .transactions || from.customerEncoder?.idColumn != nil
        if let fromSources, from.kind == to.kind, identified {
            let own = try from.prepareTrainingData(fromSources, cancellation: cancellation)
            let ids = own.features.customerIDs
            if !ids.isEmpty, from.pipeline.features.allSatisfy(own.features.names.contains) {
                let segments = try from.segmentIDs(of: own.features, cancellation: cancellation)
                // A customers table may repeat an id: its first row speaks for it.
                earlier = Dictionary(zip(ids, segments), uniquingKeysWith: { first, _ in first })
            }
        }
        return try compare(from, to, on: data, earlier: earlier, cancellation: cancellation)
    }

    /// Customers whose segment does not continue: not in a matched pair.
    public var movedCustomers: [Int] {
        let continues = Dictionary(
            uniqueKeysWithValues: matches.compactMap { match in
                match.previousID.flatMap { p in match.currentID.map { (p, $0) } }
            })
        return customerIDs.indices.filter {
            continues[Int(fromIDs[$0])] != Int(toIDs[$0])
        }
    }
}

extension SegmentMovement {
    init(
        previous: SegmentationModel, current: SegmentationModel, from: [Int32], to: [Int32],
        values: [Double]?
    ) {
        self.from = previous.segments.map(SegmentReference.init)
        self.to = current.segments.map(SegmentReference.init)
        let (fromPosition, toPosition) = (
            Self.positions(ids: previous.segments.map(\.id)),
            Self.positions(ids: current.segments.map(\.id))
        )
        let width = self.to.count
        var counts = [Int](repeating: 0, count: self.from.count * width)
        var sums = values.map { _ in [Double](repeating: 0, count: counts.count) }
        for i in from.indices {
            let cell = fromPosition[Int(from[i])]! * width + toPosition[Int(to[i])]!
            counts[cell] += 1
            if let values { sums![cell] += values[i] }
        }
        self.counts = counts
        lifetimeValue = sums
    }

}

extension SegmentationModel {
    /// Each customer's segment id by this model, from the features it clusters on.
    func segmentIDs(
        of features: CustomerFeatures, cancellation: CancellationCheck
    ) throws -> [Int32] {
        try scoreBatch(
            customerIDs: features.customerIDs, columns: pipeline.features,
            values: try features.selecting(features: pipeline.features), cancellation: cancellation
        ).segmentIDs
    }
}

extension SegmentReference {
    init(_ segment: Segment) {
        self.init(id: segment.id, stableID: segment.stableIDOrDefault, name: segment.name)
    }
}

extension Segment {
    /// The stable id, or for models from before stable ids, the id plus one (what a first
    /// version gets).
    public var stableIDOrDefault: Int { stableID ?? id + 1 }
}

/// Distances between the earlier version's segment centres and the later one's, both taken as
/// the mean of their customers in the later version's scaled space, in units of that space's
/// spread (root mean square distance of a customer to its own later segment's centre).
struct CentreDistances {
    /// [from position][to position]; nil when a side has no customers.
    var values: [[Double?]]

    init(_ scaled: Matrix, from: [Int32], to: [Int32], movement: SegmentMovement) {
        let fromPosition = SegmentMovement.positions(ids: movement.from.map(\.id))
        let toPosition = SegmentMovement.positions(ids: movement.to.map(\.id))
        let fromCentres = Self.centres(
            scaled, labels: from.map { fromPosition[Int($0)]! },
            count: movement.from.count)
        let toPositions = to.map { toPosition[Int($0)]! }
        let toCentres = Self.centres(scaled, labels: toPositions, count: movement.to.count)
        var squares = 0.0
        for i in 0..<scaled.rows {
            guard let centre = toCentres[toPositions[i]] else { continue }
            squares += Self.squaredDistance(scaled, i, centre)
        }
        let spread = scaled.rows > 0 ? (squares / Double(scaled.rows)).squareRoot() : 0
        values = fromCentres.map { a in
            toCentres.map { b in
                guard let a, let b else { return nil }
                let d = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                return spread > 0 ? d / spread : (d == 0 ? 0 : .infinity)
            }
        }
    }

    private static func centres(_ x: Matrix, labels: [Int], count: Int) -> [[Double]?] {
        var sums = [[Double]](repeating: [Double](repeating: 0, count: x.columns), count: count)
        var sizes = [Int](repeating: 0, count: count)
        for i in 0..<x.rows {
            sizes[labels[i]] += 1
            for j in 0..<x.columns { sums[labels[i]][j] += x[i, j] }
        }
        return (0..<count).map { c in
            sizes[c] == 0 ? nil : sums[c].map { $0 / Double(sizes[c]) }
        }
    }

    private static func squaredDistance(_ x: Matrix, _ i: Int, _ centre: [Double]) -> Double {
        var sum = 0.0
        for j in 0..<x.columns { let d = x[i, j] - centre[j]; sum += d * d }
        return sum
    }
}

extension SegmentMovement {
    /// Segment id -> position in the list of segment ids.
    static func positions(ids: [Int]) -> [Int: Int] {
        Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
    }
}

/// One-to-one: the pairing with the most overlap in total (ties: the closer centres), keeping
/// the pairs that meet `SegmentMatching`'s rules; the rest are new or retired.
struct SegmentMatcher {
    let movement: SegmentMovement
    let distances: CentreDistances
    /// DBSCAN's Outliers segment on each side (ids), matched only to each other: its centre, the
    /// mean of scattered customers, can lie near a dense group's.
    var outliers: (from: Int?, to: Int?) = (nil, nil)

    func matches() -> [SegmentMatch] {
        let (m, n) = (movement.from.count, movement.to.count)
        let fromSizes = (0..<m).map { f in
            (0..<n).reduce(0) { $0 + movement.count(from: f, to: $1) }
        }
        let toSizes = (0..<n).map { t in (0..<m).reduce(0) { $0 + movement.count(from: $1, to: t) }
        }
        func overlap(_ f: Int, _ t: Int) -> Double {
            let shared = movement.count(from: f, to: t)
            let union = fromSizes[f] + toSizes[t] - shared
            return union > 0 ? Double(shared) / Double(union) : 0
        }
        func bothOrNeitherOutliers(_ f: Int, _ t: Int) -> Bool {
            (movement.from[f].id == outliers.from) == (movement.to[t].id == outliers.to)
        }
        func accepted(_ f: Int, _ t: Int) -> Bool {
            guard bothOrNeitherOutliers(f, t) else { return false }
            return overlap(f, t) >= SegmentMatching.minimumOverlap
                || (distances.values[f][t].map { $0 <= SegmentMatching.closeCentres } ?? false)
        }
        let cost = (0..<m).map { f in
            (0..<n).map { t in
                bothOrNeitherOutliers(f, t)
                    ? 1 - overlap(f, t) + 0.001 * min(distances.values[f][t] ?? 10, 10) : 3
            }
        }
        let pairs = OptimalAssignment.solve(cost)
        var result: [SegmentMatch] = []
        var matchedTo = Set<Int>()
        for f in 0..<m {
            if let t = pairs[f], accepted(f, t) {
                matchedTo.insert(t)
                result.append(
                    SegmentMatch(
                        kind: .matched, previousID: movement.from[f].id,
                        currentID: movement.to[t].id, overlap: overlap(f, t),
                        centreDistance: distances.values[f][t],
                        sharedCustomers: movement.count(from: f, to: t)))
            }
        }
        let matchedFrom = Set(result.compactMap(\.previousID))
        for t in 0..<n where !matchedTo.contains(t) {
            let best = (0..<m).max { overlap($0, t) < overlap($1, t) }
            result.append(
                SegmentMatch(
                    kind: .new, previousID: nil, currentID: movement.to[t].id,
                    overlap: best.map { overlap($0, t) } ?? 0,
                    centreDistance: best.flatMap { distances.values[$0][t] },
                    sharedCustomers: best.map { movement.count(from: $0, to: t) } ?? 0))
        }
        for f in 0..<m where !matchedFrom.contains(movement.from[f].id) {
            let best = (0..<n).max { overlap(f, $0) < overlap(f, $1) }
            result.append(
                SegmentMatch(
                    kind: .retired, previousID: movement.from[f].id, currentID: nil,
                    overlap: best.map { overlap(f, $0) } ?? 0,
                    centreDistance: best.flatMap { distances.values[f][$0] },
                    sharedCustomers: best.map { movement.count(from: f, to: $0) } ?? 0))
        }
        return result
    }
}
