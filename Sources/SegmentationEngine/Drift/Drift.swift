import Foundation
import Synchronization

/// What live scoring is compared with: the training customers' spread over each clustering
/// feature's decile bins, and over the segments.
public struct DriftReference: Codable, Sendable, Equatable {
    /// The clustering features (`pipeline.features` order).
    public var features: [String]
    /// Per feature: the inner bin edges, the deciles of its training values (repeated values
    /// merged, so a feature with few distinct values has fewer bins). A value v falls in bin i
    /// when edges[i - 1] <= v < edges[i].
    public var edges: [[Double]]
    /// Per feature: the training customers' share in each bin (edges.count + 1 bins).
    public var shares: [[Double]]
    /// The training customers' share in each segment (segment list order).
    public var segmentShares: [Double]

    static let quantiles = (1...9).map { Double($0) / 10 }

    /// From the training customers' raw clustering features and segment positions.
    static func make(raw: Matrix, features: [String], labels: [Int32], k: Int) -> DriftReference {
        var edges: [[Double]] = []
        var shares: [[Double]] = []
        for j in 0..<raw.columns {
            let sorted = (0..<raw.rows).map { raw[$0, j] }.sorted()
            let cuts = quantiles.map { Statistics.quantile(sorted: sorted, $0) }
            let inner = Array(Set(cuts)).sorted().filter { $0 > (sorted.first ?? 0) }
            var counts = [Int](repeating: 0, count: inner.count + 1)
            for value in sorted { counts[bin(value, inner)] += 1 }
            edges.append(inner)
            shares.append(counts.map { Double($0) / Double(max(1, raw.rows)) })
        }
        var segmentCounts = [Int](repeating: 0, count: k)
        for label in labels { segmentCounts[Int(label)] += 1 }
        return DriftReference(
            features: features, edges: edges, shares: shares,
            segmentShares: segmentCounts.map { Double($0) / Double(max(1, labels.count)) })
    }

    /// The bin of `value` (the number of edges at or below it).
    @inline(__always)
    static func bin(_ value: Double, _ edges: [Double]) -> Int {
        var (low, high) = (0, edges.count)
        while low < high {
            let mid = (low + high) / 2
            if edges[mid] <= value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    public func emptyCounts() -> DriftCounts {
        DriftCounts(
            customers: 0, bins: edges.map { [Int](repeating: 0, count: $0.count + 1) },
            segments: [Int](repeating: 0, count: segmentShares.count))
    }
}

/// What was scored: customers per bin of each feature and per segment (bounded: a few dozen
/// numbers per model version, however many customers).
public struct DriftCounts: Codable, Sendable, Equatable {
    public var customers: Int
    public var bins: [[Int]]
    public var segments: [Int]

    public init(customers: Int, bins: [[Int]], segments: [Int]) {
        self.customers = customers
        self.bins = bins
        self.segments = segments
    }

    /// Adds another window's counts (same shape; a different one is left out).
    public mutating func add(_ other: DriftCounts) {
        guard other.bins.map(\.count) == bins.map(\.count),
            other.segments.count == segments.count
        else { return }
        customers += other.customers
        for j in bins.indices { for b in bins[j].indices { bins[j][b] += other.bins[j][b] } }
        for s in segments.indices { segments[s] += other.segments[s] }
    }

    public func fits(_ reference: DriftReference) -> Bool {
        bins.map(\.count) == reference.edges.map { $0.count + 1 }
            && segments.count == reference.segmentShares.count
    }
}

/// Counts scored customers for a drift summary; one per request, added to from scoring threads
/// (the counts are merged under a lock once per batch).
public final class DriftTally: Sendable {
    public let reference: DriftReference
    private let counts: Mutex<DriftCounts>

    public init(reference: DriftReference) {
        self.reference = reference
        counts = Mutex(reference.emptyCounts())
    }

    public var snapshot: DriftCounts { counts.withLock { $0 } }

    /// Rows of raw features in the model's column order and their segment positions, counted
    /// in place (one request's tally: its batches come one after another).
    func record(_ ordered: Matrix, segmentPositions: [Int32]) {
        let edges = reference.edges
        guard ordered.columns == edges.count else { return }
        counts.withLock { counts in
            counts.customers += ordered.rows
            ordered.values.withUnsafeBufferPointer { values in
                for i in 0..<ordered.rows {
                    let row = i * ordered.columns
                    for j in 0..<ordered.columns {
                        let value = values[row + j]
                        guard value.isFinite else { continue }
                        counts.bins[j][DriftReference.bin(value, edges[j])] += 1
                    }
                    let segment = Int(segmentPositions[i])
                    if segment >= 0 && segment < counts.segments.count {
                        counts.segments[segment] += 1
                    }
                }
            }
        }
    }
}

/// How far what was scored lies from the training data: the population stability index,
/// sum over bins of (actual - expected) * ln(actual / expected), shares floored at 0.0001.
public struct DriftReport: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        /// A feature's name, or "segments" for the segment shares.
        public var name: String
        public var psi: Double
        /// The scored customers' shares and the training ones, bin by bin (segment by segment).
        public var actual: [Double]
        public var expected: [Double]
    }

    public var customers: Int
    public var features: [Item]
    public var segments: Item

    /// Below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 a shift (the usual reading).
    public static let moderate = 0.1
    public static let shift = 0.25

    public static func reading(_ psi: Double) -> String {
        psi < moderate ? "stable" : psi <= shift ? "moderate" : "shift"
    }

    public var largest: Double { (features.map(\.psi) + [segments.psi]).max() ?? 0 }

    public init?(counts: DriftCounts, reference: DriftReference) {
        guard counts.customers > 0, counts.fits(reference) else { return nil }
        customers = counts.customers
        features = reference.features.indices.map { j in
            Self.item(
                reference.features[j], counts: counts.bins[j], expected: reference.shares[j])
        }
        segments = Self.item("segments", counts: counts.segments, expected: reference.segmentShares)
    }

    private static func item(_ name: String, counts: [Int], expected: [Double]) -> Item {
        let total = Double(max(1, counts.reduce(0, +)))
        let actual = counts.map { Double($0) / total }
        return Item(
            name: name, psi: populationStabilityIndex(actual: actual, expected: expected),
            actual: actual, expected: expected)
    }

    public static func populationStabilityIndex(actual: [Double], expected: [Double]) -> Double {
        zip(actual, expected).reduce(0) { sum, pair in
            let (a, e) = (max(pair.0, 1e-4), max(pair.1, 1e-4))
            return sum + (a - e) * log(a / e)
        }
    }
}
