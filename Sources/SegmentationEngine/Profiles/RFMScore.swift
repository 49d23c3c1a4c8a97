/// The classic RFM score segments, from recency (R) and frequency (F) quintile scores 1-5.
public enum RFMSegment: String, Codable, Sendable, CaseIterable {
    case champions = "Champions"
    case loyalCustomers = "Loyal Customers"
    case potentialLoyalists = "Potential Loyalists"
    case newCustomers = "New Customers"
    case promising = "Promising"
    case needAttention = "Need Attention"
    case aboutToSleep = "About to Sleep"
    case atRisk = "At Risk"
    case cantLoseThem = "Can't Lose Them"
    case hibernating = "Hibernating"

    /// The usual R x F map; every one of the 25 cells falls in exactly one segment.
    public static func segment(r: Int, f: Int) -> RFMSegment {
        precondition((1...5).contains(r) && (1...5).contains(f), "RFM scores are 1 to 5")
        switch (r, f) {
        case (1...2, 1...2): return .hibernating
        case (1...2, 3...4): return .atRisk
        case (1...2, 5): return .cantLoseThem
        case (3, 1...2): return .aboutToSleep
        case (3, 3): return .needAttention
        case (3...4, 4...5): return .loyalCustomers
        case (4, 1): return .promising
        case (4...5, 2...3): return .potentialLoyalists
        case (5, 1): return .newCustomers
        default: return .champions  // (5, 4...5)
        }
    }

    public var action: String {
        switch self {
        case .champions: "Reward them: early access, loyalty perks, ask for reviews and referrals."
        case .loyalCustomers: "Upsell higher-value products; enrol in the loyalty programme."
        case .potentialLoyalists:
            "Offer membership or loyalty benefits; recommend related products."
        case .newCustomers: "Onboard well: welcome series and a second-purchase incentive."
        case .promising: "Build awareness: free trials, targeted offers."
        case .needAttention: "Limited-time offers based on past purchases."
        case .aboutToSleep: "Reconnect with relevant recommendations and a discount."
        case .atRisk: "Personalised win-back emails and renewal offers."
        case .cantLoseThem: "Win them back with personal contact; do not lose them to a competitor."
        case .hibernating: "Low-cost reactivation offers, or reduce marketing spend."
        }
    }
}

/// Scores recency and frequency into quintiles with cut points learned at training time, so a
/// new customer is scored against the training population.
public struct RFMScorer: Codable, Sendable, Equatable {
    /// The 20/40/60/80% quantiles of training recency and frequency.
    public var recencyCuts: [Double]
    public var frequencyCuts: [Double]

    public init(recency: [Double], frequency: [Double]) {
        func cuts(_ values: [Double]) -> [Double] {
            let sorted = values.sorted()
            return [0.2, 0.4, 0.6, 0.8].map { Statistics.quantile(sorted: sorted, $0) }
        }
        recencyCuts = cuts(recency)
        frequencyCuts = cuts(frequency)
    }

    /// 5 for the most recent fifth, 1 for the least recent.
    public func recencyScore(_ days: Double) -> Int { 5 - Self.countBelow(days, recencyCuts) }

    /// 5 for the most frequent fifth, 1 for the least.
    public func frequencyScore(_ count: Double) -> Int { 1 + Self.countBelow(count, frequencyCuts) }

    /// How many cut points lie below `value` (no allocation: this runs once per scored customer).
    private static func countBelow(_ value: Double, _ cuts: [Double]) -> Int {
        var count = 0
        for cut in cuts where value > cut { count += 1 }
        return count
    }

    public func segment(recency: Double, frequency: Double) -> RFMSegment {
        RFMSegment.segment(r: recencyScore(recency), f: frequencyScore(frequency))
    }
}
