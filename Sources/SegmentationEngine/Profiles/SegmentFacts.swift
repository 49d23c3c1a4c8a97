import Foundation

/// Business facts about one segment of a transactions model, on the raw scale a marketer reads,
/// each beside the same figure for all customers. Names, descriptions and actions are built from
/// these (`RFMWording`), never from z-scores of log-transformed features alone.
public struct SegmentFacts: Codable, Sendable, Equatable {
    /// A customer whose last purchase is more than this many days before the snapshot is lapsed.
    public var lapseDays: Int
    /// How `lapseDays` was found.
    public var lapseBasis: LapseRule.Basis
    public var lapsedShare: Double
    public var populationLapsedShare: Double
    /// Customers with exactly one purchase (invoice).
    public var oneTimeShare: Double
    public var populationOneTimeShare: Double
    /// Days since the last purchase.
    public var medianRecency: Double
    public var populationMedianRecency: Double
    /// Purchases (distinct invoices).
    public var medianFrequency: Double
    public var populationMedianFrequency: Double
    /// Total (net) spend per customer.
    public var medianSpend: Double
    public var populationMedianSpend: Double
    public var meanSpend: Double
    public var populationMeanSpend: Double
    /// Spend per purchase.
    public var medianBasket: Double
    public var populationMedianBasket: Double
    /// The segment's share of all customers' spend, and of the customers.
    public var revenueShare: Double
    public var customerShare: Double

    /// Revenue share per customer share: 2 means the segment brings twice its headcount's share.
    public var revenueIndex: Double { Self.ratio(revenueShare, customerShare) }
    public var medianSpendRatio: Double { Self.ratio(medianSpend, populationMedianSpend) }
    public var meanSpendRatio: Double { Self.ratio(meanSpend, populationMeanSpend) }
    public var medianBasketRatio: Double { Self.ratio(medianBasket, populationMedianBasket) }
    public var medianRecencyRatio: Double { Self.ratio(medianRecency, populationMedianRecency) }
    public var medianFrequencyRatio: Double { Self.ratio(medianFrequency, populationMedianFrequency) }

    /// a / b, with 0 / 0 = 1 (no difference) and x / 0 = infinity.
    static func ratio(_ a: Double, _ b: Double) -> Double {
        b > 0 ? a / b : (a > 0 ? .infinity : 1)
    }
}

/// When a customer counts as lapsed: no purchase for more than twice the typical gap between
/// purchases, read from the data. The gap is each repeat customer's mean interval (days from
/// first to last purchase over purchases - 1); the threshold is twice their median, rounded up
/// to whole days and kept within 30...365 days. With fewer than 50 repeat customers the gaps
/// say too little, and the threshold is 180 days.
public enum LapseRule {
    public enum Basis: String, Codable, Sendable {
        /// Twice the median gap between repeat customers' purchases.
        case purchaseGaps = "purchase_gaps"
        /// Too few repeat customers: the fixed 180 days.
        case fallback
    }

    public static let fallbackDays = 180
    public static let minimumRepeatCustomers = 50
    public static let bounds = 30...365

    /// The threshold from per-customer recency, frequency and tenure (days since the first purchase).
    public static func threshold(recency: [Double], frequency: [Double], tenure: [Double]) -> (days: Int, basis: Basis) {
        var gaps: [Double] = []
        for i in recency.indices where frequency[i] >= 2 {
            gaps.append(max(0, tenure[i] - recency[i]) / (frequency[i] - 1))
        }
        guard gaps.count >= minimumRepeatCustomers else { return (fallbackDays, .fallback) }
        let days = Int((2 * Statistics.median(gaps)).rounded(.up))
        return (min(max(days, bounds.lowerBound), bounds.upperBound), .purchaseGaps)
    }

    /// "twice the median gap between repeat purchases" / "the default: too few repeat customers".
    public static func text(_ basis: Basis) -> String {
        switch basis {
        case .purchaseGaps: "twice the median gap between a repeat customer's purchases"
        case .fallback: "the default 180 days: fewer than \(minimumRepeatCustomers) customers bought more than once"
        }
    }
}

extension SegmentFacts {
    /// Every segment's facts, for features built from transactions (nil for customer tables).
    static func perSegment(features: CustomerFeatures, members: [[Int]]) -> [SegmentFacts]? {
        guard let recency = features.column(named: TransactionFeature.recency.rawValue),
              let frequency = features.column(named: TransactionFeature.frequency.rawValue),
              let monetary = features.column(named: TransactionFeature.monetary.rawValue),
              let basket = features.column(named: TransactionFeature.averageOrderValue.rawValue),
              let tenure = features.column(named: TransactionFeature.tenure.rawValue) else { return nil }
        let (lapseDays, basis) = LapseRule.threshold(recency: recency, frequency: frequency, tenure: tenure)
        let n = Double(max(recency.count, 1))
        let lapsed = recency.map { $0 > Double(lapseDays) }
        let oneTime = frequency.map { $0 <= 1 }
        let totalSpend = monetary.reduce(0, +)
        let all = Array(recency.indices)
        func share(_ flags: [Bool], _ rows: [Int]) -> Double {
            rows.isEmpty ? 0 : Double(rows.count { flags[$0] }) / Double(rows.count)
        }
        func median(_ column: [Double], _ rows: [Int]) -> Double { Statistics.median(rows.map { column[$0] }) }
        let population = (lapsed: share(lapsed, all), oneTime: share(oneTime, all), recency: median(recency, all),
                          frequency: median(frequency, all), spend: median(monetary, all), basket: median(basket, all),
                          meanSpend: Statistics.mean(monetary))
        return members.map { rows in
            let spend = rows.reduce(0) { $0 + monetary[$1] }
            return SegmentFacts(
                lapseDays: lapseDays, lapseBasis: basis,
                lapsedShare: share(lapsed, rows), populationLapsedShare: population.lapsed,
                oneTimeShare: share(oneTime, rows), populationOneTimeShare: population.oneTime,
                medianRecency: median(recency, rows), populationMedianRecency: population.recency,
                medianFrequency: median(frequency, rows), populationMedianFrequency: population.frequency,
                medianSpend: median(monetary, rows), populationMedianSpend: population.spend,
                meanSpend: rows.isEmpty ? 0 : spend / Double(rows.count), populationMeanSpend: population.meanSpend,
                medianBasket: median(basket, rows), populationMedianBasket: population.basket,
                revenueShare: totalSpend > 0 ? spend / totalSpend : 0, customerShare: Double(rows.count) / n)
        }
    }
}
