import Foundation

/// What a score request asks for beyond the segment: customer-value figures at other horizons,
/// and product recommendations.
public struct ScoreOptions: Sendable, Equatable {
    /// Horizons of the customer-value figures; nil: the model's (90 and 365 days, undiscounted).
    public var value: ValueSettings?
    /// Products to recommend per customer (0: none); needs transactions input.
    public var recommend: Int

    /// The most products a request may ask for per customer (a segment lists at most 20).
    public static let maximumRecommendations = 20

    public init(value: ValueSettings? = nil, recommend: Int = 0) {
        (self.value, self.recommend) = (value, recommend)
    }

    public func validate() throws {
        try value?.validate()
        guard (0...Self.maximumRecommendations).contains(recommend) else {
            throw ScoringError.badOption(
                field: "recommend",
                reason:
                    "is \(recommend); ask for 0 to \(Self.maximumRecommendations) products per customer"
            )
        }
    }
}

extension PurchaseSummary {
    /// Feature-row columns that carry a customer's purchase summary for the customer-value
    /// model (days, `lifetimes`' conventions): the first three are needed for P(alive) and
    /// expected purchases, `btyd_monetary` for spend and lifetime value.
    public static let columnNames = ["btyd_frequency", "btyd_recency", "btyd_t", "btyd_monetary"]

    /// The summary columns taken out of feature rows: the rest, and each row's summary (nil
    /// when the rows carry no summary column).
    static func split(
        customerIDs: [String]?, columns: [String], values: Matrix
    ) throws -> (columns: [String], values: Matrix, summaries: [PurchaseSummary]?, money: Bool) {
        let at = columnNames.map { columns.firstIndex(of: $0) }
        guard at.contains(where: { $0 != nil }) else { return (columns, values, nil, false) }
        for (name, index) in zip(columnNames.prefix(3), at) where index == nil {
            throw ScoringError.missingColumn(name)
        }
        let kept = columns.indices.filter { !columnNames.contains(columns[$0]) }
        var summaries: [PurchaseSummary] = []
        summaries.reserveCapacity(values.rows)
        for i in 0..<values.rows {
            let customer = customerIDs?[i] ?? "row \(i + 1)"
            func read(_ k: Int) throws -> Double {
                guard let j = at[k] else { return 0 }
                let value = values[i, j]
                guard value.isFinite else {
                    throw ScoringError.nonFinite(
                        customer: customer, field: columnNames[k], value: value)
                }
                guard value >= 0 else {
                    throw ScoringError.outOfDomain(
                        customer: customer, field: columnNames[k], value: value,
                        reason: "is negative; purchase summaries count days and money from 0")
                }
                return value
            }
            let (frequency, recency, age, monetary) = (
                try read(0), try read(1), try read(2), try read(3)
            )
            guard frequency == frequency.rounded(), frequency < 1e9 else {
                throw ScoringError.outOfDomain(
                    customer: customer, field: columnNames[0], value: frequency,
                    reason: "is not a whole number of repeat purchase days")
            }
            guard recency <= age else {
                throw ScoringError.outOfDomain(
                    customer: customer, field: columnNames[1], value: recency,
                    reason: "is after btyd_t (\(age)): the last purchase cannot follow the snapshot"
                )
            }
            summaries.append(
                PurchaseSummary(
                    frequency: Int(frequency), recency: recency, age: age, monetary: monetary))
        }
        return (kept.map { columns[$0] }, values.selecting(columns: kept), summaries, at[3] != nil)
    }
}

extension SegmentationModel {
    /// Puts each customer's customer-value figures into their assignments (when the model has a
    /// customer-value model).
    /// Without their spend (`money` false: no btyd_monetary column), no money figure.
    func addValue(
        _ assignments: inout [Assignment], summaries: [PurchaseSummary], settings: ValueSettings?,
        money: Bool = true
    ) {
        guard let figures = customerValue?.figures(summaries, settings: settings) else { return }
        for i in assignments.indices {
            assignments[i].value = figures[i]
            if !money {
                (assignments[i].value!.expectedSpend, assignments[i].value!.lifetimeValue) = (
                    nil, nil
                )
            }
        }
    }

    /// Puts up to `count` products into each assignment: its segment's, not yet bought.
    func addRecommendations(
        _ assignments: inout [Assignment], purchases: ProductPurchases?, count: Int
    ) throws {
        guard count > 0 else { return }
        let lists = segments.map(\.profile.products)
        guard let purchases else { throw ScoringError.recommendationsNeedPurchases }
        guard lists.contains(where: { $0 != nil }) else {
            throw ScoringError.badOption(
                field: "recommend",
                reason:
                    "needs a model that keeps what each segment buys (trained on data with a product column)"
            )
        }
        let index = Dictionary(uniqueKeysWithValues: segments.enumerated().map { ($1.id, $0) })
        for i in assignments.indices {
            let bought = Set(purchases.bought(by: i).map { purchases.codes[Int($0)] })
            assignments[i].recommendations =
                lists[index[assignments[i].segmentID]!]?.recommendations(
                    count: count, excluding: bought) ?? []
        }
    }
}

extension ScoringError {
    public static let recommendationsNeedPurchases = ScoringError.badOption(
        field: "recommend",
        reason: "needs transactions with a product column, to know what each customer bought")
}
