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
    /// Words whose rule this segment meets but not steadily: the segment's best match in fewer
    /// than 80% of the stability refits meets it too, so the name leaves them out and the
    /// description says so ("Frequent: 6 of 10 refits"). nil when stability was not measured.
    public var unsteadyClaims: [UnsteadyClaim]?
    /// What the customer-value model says of the segment (nil when it could not be fitted, and
    /// in models from before it was).
    public var value: SegmentValue?

    /// Revenue share per customer share: 2 means the segment brings twice its headcount's share.
    public var revenueIndex: Double { Self.ratio(revenueShare, customerShare) }
    public var medianSpendRatio: Double { Self.ratio(medianSpend, populationMedianSpend) }
    public var meanSpendRatio: Double { Self.ratio(meanSpend, populationMeanSpend) }
    public var medianBasketRatio: Double { Self.ratio(medianBasket, populationMedianBasket) }
    public var medianRecencyRatio: Double { Self.ratio(medianRecency, populationMedianRecency) }
    public var medianFrequencyRatio: Double {
        Self.ratio(medianFrequency, populationMedianFrequency)
    }

    /// a / b, with 0 / 0 = 1 (no difference) and x / 0 = infinity.
    static func ratio(_ a: Double, _ b: Double) -> Double {
        b > 0 ? a / b : (a > 0 ? .infinity : 1)
    }
}

/// A claim near its threshold: how many refits' matching segments also meet it.
public struct UnsteadyClaim: Codable, Sendable, Equatable {
    public var word: String
    public var refitsHolding: Int
    public var refits: Int
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
    public static func threshold(
        recency: [Double], frequency: [Double], tenure: [Double]
    ) -> (days: Int, basis: Basis) {
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
        case .fallback:
            "the default 180 days: fewer than \(minimumRepeatCustomers) customers bought more than once"
        }
    }
}

extension SegmentFacts {
    /// Every segment's facts, for features built from transactions (nil for customer tables).
    static func perSegment(features: CustomerFeatures, members: [[Int]]) -> [SegmentFacts]? {
        Population(features).map { perSegment($0, members: members) }
    }

    /// All customers' columns and figures, computed once for any number of groupings.
    struct Population {
        let recency, frequency, monetary, basket: [Double]
        let lapseDays: Int, basis: LapseRule.Basis
        let lapsed, oneTime: [Bool]
        let totalSpend: Double
        let lapsedShare, oneTimeShare, medianRecency, medianFrequency, medianSpend, medianBasket,
            meanSpend: Double

        init?(_ features: CustomerFeatures) {
            guard let recency = features.column(named: TransactionFeature.recency.rawValue),
                let frequency = features.column(named: TransactionFeature.frequency.rawValue),
                let monetary = features.column(named: TransactionFeature.monetary.rawValue),
                let basket = features.column(named: TransactionFeature.averageOrderValue.rawValue),
                let tenure = features.column(named: TransactionFeature.tenure.rawValue)
            else { return nil }
            (self.recency, self.frequency, self.monetary, self.basket) = (
                recency, frequency, monetary, basket
            )
            (lapseDays, basis) = LapseRule.threshold(
                recency: recency, frequency: frequency, tenure: tenure)
            lapsed = recency.map { [lapseDays] in $0 > Double(lapseDays) }
            oneTime = frequency.map { $0 <= 1 }
            totalSpend = monetary.reduce(0, +)
            let n = Double(max(recency.count, 1))
            lapsedShare = Double(lapsed.count { $0 }) / n
            oneTimeShare = Double(oneTime.count { $0 }) / n
            (medianRecency, medianFrequency) = (
                Statistics.median(recency), Statistics.median(frequency)
            )
            (medianSpend, medianBasket, meanSpend) = (
                Statistics.median(monetary), Statistics.median(basket), Statistics.mean(monetary)
            )
        }
    }

    static func perSegment(_ p: Population, members: [[Int]]) -> [SegmentFacts] {
        let (recency, frequency, monetary, basket) = (p.recency, p.frequency, p.monetary, p.basket)
        let (lapseDays, basis, lapsed, oneTime, totalSpend) = (
            p.lapseDays, p.basis, p.lapsed, p.oneTime, p.totalSpend
        )
        let n = Double(max(recency.count, 1))
        func share(_ flags: [Bool], _ rows: [Int]) -> Double {
            rows.isEmpty ? 0 : Double(rows.count { flags[$0] }) / Double(rows.count)
        }
        func median(_ column: [Double], _ rows: [Int]) -> Double {
            Statistics.median(rows.map { column[$0] })
        }
        let population = (
            lapsed: p.lapsedShare, oneTime: p.oneTimeShare, recency: p.medianRecency,
            frequency: p.medianFrequency, spend: p.medianSpend, basket: p.medianBasket,
            meanSpend: p.meanSpend
        )
        return members.map { rows in
            let spend = rows.reduce(0) { $0 + monetary[$1] }
            return SegmentFacts(
                lapseDays: lapseDays, lapseBasis: basis,
                lapsedShare: share(lapsed, rows), populationLapsedShare: population.lapsed,
                oneTimeShare: share(oneTime, rows), populationOneTimeShare: population.oneTime,
                medianRecency: median(recency, rows), populationMedianRecency: population.recency,
                medianFrequency: median(frequency, rows),
                populationMedianFrequency: population.frequency,
                medianSpend: median(monetary, rows), populationMedianSpend: population.spend,
                meanSpend: rows.isEmpty ? 0 : spend / Double(rows.count),
                populationMeanSpend: population.meanSpend,
                medianBasket: median(basket, rows), populationMedianBasket: population.basket,
                revenueShare: totalSpend > 0 ? spend / totalSpend : 0,
                customerShare: Double(rows.count) / n)
        }
    }
}

/// Which claims of each transactions segment hold steadily: a word its facts meet is kept only
/// when the segment's best match (by Jaccard) in at least 80% of the stability refits meets it
/// too; dominant facts (90% lapsed, one-time) are named whatever the refits say.
enum UnsteadyClaims {
    static let steadyShare = StabilityReport.threshold

    static func mark(
        _ profiles: inout [SegmentProfile], features: CustomerFeatures, labels: [Int32],
        refits: [(labels: [Int32], clusters: Int)]
    ) {
        guard !refits.isEmpty, profiles.contains(where: { $0.facts != nil }),
            let population = SegmentFacts.Population(features)
        else { return }
        let k = profiles.count
        var holding = [[String: Int]](repeating: [:], count: k)
        for refit in refits {
            let table = Contingency(labels, k: k, refit.labels, clusters: refit.clusters)
            var rows = [[Int]](repeating: [], count: refit.clusters)
            for (row, label) in refit.labels.enumerated() { rows[Int(label)].append(row) }
            let matched = SegmentFacts.perSegment(
                population, members: (0..<k).map { rows[table.bestMatch(of: $0)] })
            for c in 0..<k {
                for word in RFMClaims.rawWords(matched[c]) { holding[c][word, default: 0] += 1 }
            }
        }
        for c in profiles.indices {
            guard let facts = profiles[c].facts else { continue }
            let dominant = Set(RFMClaims.Fact.allCases.filter { $0.isDominant(facts) }.map(\.word))
            profiles[c].facts!.unsteadyClaims = RFMClaims.rawWords(facts).subtracting(dominant)
                .sorted()
                .filter { Double(holding[c][$0] ?? 0) < steadyShare * Double(refits.count) }
                .map {
                    UnsteadyClaim(
                        word: $0, refitsHolding: holding[c][$0] ?? 0, refits: refits.count)
                }
        }
    }
}

extension UnsteadyClaims {
    /// Customer tables: a standout column word ("High Balance") a segment's profile earns stays in
    /// its name only when its best match in at least 80% of the refits earns the same word.
    static func markColumns(
        _ profiles: inout [SegmentProfile], features: CustomerFeatures, labels: [Int32],
        pipeline: FittedPipeline,
        clustering: [String], refits: [(labels: [Int32], clusters: Int)]
    ) {
        guard !refits.isEmpty, profiles.allSatisfy({ $0.facts == nil }) else { return }
        let k = profiles.count
        func words(_ profile: SegmentProfile) -> Set<String> {
            Set(
                SegmentLabeler.standouts(clustering.compactMap { profile.summary(of: $0) }).map(
                    SegmentLabeler.namePart))
        }
        var holding = [[String: Int]](repeating: [:], count: k)
        for refit in refits {
            let table = Contingency(labels, k: k, refit.labels, clusters: refit.clusters)
            let refitProfiles = SegmentProfiler.profiles(
                features: features, labels: refit.labels, k: refit.clusters, pipeline: pipeline,
                rfm: nil)
            for c in 0..<k {
                for word in words(refitProfiles[table.bestMatch(of: c)]) {
                    holding[c][word, default: 0] += 1
                }
            }
        }
        for c in profiles.indices {
            profiles[c].unsteadyColumns = words(profiles[c]).sorted()
                .filter { Double(holding[c][$0] ?? 0) < steadyShare * Double(refits.count) }
                .map {
                    UnsteadyClaim(
                        word: $0, refitsHolding: holding[c][$0] ?? 0, refits: refits.count)
                }
        }
    }
}
