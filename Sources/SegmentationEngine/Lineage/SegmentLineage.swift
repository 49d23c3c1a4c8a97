import Foundation

/// A segment as a comparison of two versions names it.
public struct SegmentReference: Codable, Sendable, Equatable {
    /// The segment's index in its own version (`Segment.id`).
    public var id: Int
    /// Its id across the model's versions (`Segment.stableID`).
    public var stableID: Int
    public var name: String

    public init(id: Int, stableID: Int, name: String) {
        self.id = id
        self.stableID = stableID
        self.name = name
    }
}

/// Where the same customers fall in two versions: counts per (earlier segment, later segment).
public struct SegmentMovement: Codable, Sendable, Equatable {
    public var from: [SegmentReference]
    public var to: [SegmentReference]
    /// counts[f * to.count + t]: customers in `from[f]` then in `to[t]` (positions, not ids).
    public var counts: [Int]
    /// The same customers' lifetime value by the later version's customer-value model (its
    /// value horizon, undiscounted), same layout; nil when it has no money figures.
    public var lifetimeValue: [Double]?

    public init(
        from: [SegmentReference], to: [SegmentReference], counts: [Int], lifetimeValue: [Double]?
    ) {
        precondition(counts.count == from.count * to.count, "one count per pair")
        self.from = from
        self.to = to
        self.counts = counts
        self.lifetimeValue = lifetimeValue
    }

    public var customers: Int { counts.reduce(0, +) }

    public func count(from f: Int, to t: Int) -> Int { counts[f * to.count + t] }
    public func value(from f: Int, to t: Int) -> Double? { lifetimeValue?[f * to.count + t] }
}

/// How one segment of a version continues in the next.
public struct SegmentMatch: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// The same segment: it keeps its stable id (and what a person set on it, see
        /// `CarriedWording`).
        case matched
        /// A segment of the later version that matches none of the earlier one's.
        case new
        /// A segment of the earlier version that matches none of the later one's.
        case retired
    }

    public var kind: Kind
    /// Segment ids (`Segment.id`) in the earlier and the later version.
    public var previousID: Int?
    public var currentID: Int?
    /// Jaccard index of the two segments' customers (on the customers both versions assign):
    /// shared / (in either); for a new or retired segment, its best overlap with any.
    public var overlap: Double
    /// Distance between the two segments' centres in the later version's scaled space, over the
    /// root mean square distance of its customers to their own centre; nil when a side has no
    /// customers.
    public var centreDistance: Double?
    /// Customers in both.
    public var sharedCustomers: Int
}

/// What a person set on a segment (name, description, actions) and whether it was carried to
/// the matched segment of the next version.
public struct CarriedWording: Codable, Sendable, Equatable {
    public var previousID: Int
    public var currentID: Int?
    /// "name", "description", "actions".
    public var fields: [String]
    public var personName: String?
    public var carried: Bool
    /// Why not, when not carried.
    public var reason: String?
}

/// A version's segments matched to its predecessor's: trained on new data, the segments that
/// continue keep their stable ids and what a person set on them.
public struct SegmentLineage: Codable, Sendable, Equatable {
    public var previousVersion: Int
    /// Why the segments could not be matched (different kinds of input, features the new data
    /// lacks); then every segment is new. Nil when matched.
    public var unavailable: String?
    /// The customers of this version's training data as both versions assign them.
    public var movement: SegmentMovement?
    public var matches: [SegmentMatch]
    public var carried: [CarriedWording]
    /// The next stable id to give a new segment (never reused within a model).
    public var nextStableID: Int

    /// Share of the compared customers whose segment continues (matched pairs).
    public var stayedShare: Double? {
        guard let movement, movement.customers > 0 else { return nil }
        let stayed = matches.filter { $0.kind == .matched }.reduce(0) { $0 + $1.sharedCustomers }
        return Double(stayed) / Double(movement.customers)
    }
}

/// The rules a match must meet (docs/algorithms.md, "Segments over time").
public enum SegmentMatching {
    /// Matched when the customers overlap at least this much (Jaccard) ...
    public static let minimumOverlap = 0.3
    /// ... or the centres lie within this many spreads of each other.
    public static let closeCentres = 0.5
}
