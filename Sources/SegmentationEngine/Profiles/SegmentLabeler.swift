import Foundation

/// A name, a description and marketing actions for a segment, derived from its profile.
public struct SegmentLabel: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var actions: [String]
}

/// Names segments from how they stand against the population (profile z-scores).
///
/// With RFM features the rules speak marketing ("Champions", "At Risk, High-Value", "Frequent,
/// Low-Spending"...). With arbitrary customer columns the name lists the one or two most unusual
/// columns ("High Balance, Low Purchases"). Names are made unique within a model by adding the
/// feature that best tells the colliding segments apart; the result depends only on the
/// profiles, so it is deterministic for a given model.
public enum SegmentLabeler {
    /// A z-score at or beyond this counts as high or low.
    static let threshold = 0.5

    public static func labels(for profiles: [SegmentProfile]) -> [SegmentLabel] {
        let base = profiles.map { profile in
            isRFM(profile) ? rfmLabel(profile) : genericLabel(profile)
        }
        return disambiguated(oneChampion(base, profiles), profiles)
    }

    private static func isRFM(_ profile: SegmentProfile) -> Bool {
        profile.summary(of: "recency") != nil && profile.summary(of: "frequency") != nil
            && (profile.summary(of: "monetary") != nil || profile.summary(of: "avg_order_value") != nil)
    }

    private static func rfmLabel(_ profile: SegmentProfile) -> SegmentLabel {
        let r = profile.summary(of: "recency")!.zScore  // high = long since the last purchase
        let f = profile.summary(of: "frequency")!.zScore
        let m = (profile.summary(of: "monetary") ?? profile.summary(of: "avg_order_value"))!.zScore
        let t = threshold
        let recent = r <= -t, lapsed = r >= t
        let frequent = f >= t, infrequent = f <= -t
        let highValue = m >= t, lowValue = m <= -t
        switch true {
        case recent && frequent && highValue:
            return SegmentLabel(
                name: "Champions",
                description: "Bought recently, buy often and spend the most.",
                actions: ["VIP loyalty programme and early access", "Ask for reviews and referrals",
                          "Avoid blanket discounts; reward with exclusivity"])
        case lapsed && (highValue || frequent):
            return SegmentLabel(
                name: "At Risk, High-Value",
                description: "Spent well and bought often, but not for a long time.",
                actions: ["Personalised win-back campaign", "Reach out directly with a time-limited offer",
                          "Survey why they stopped buying"])
        case lapsed && (lowValue || infrequent):
            return SegmentLabel(
                name: "Low Activity, Low Value",
                description: "Bought little, rarely, and long ago.",
                actions: ["Low-cost automated reactivation emails", "Reduce paid marketing spend on this group"])
        case frequent && highValue:
            return loyalHighValue
        case highValue && !frequent:
            return SegmentLabel(
                name: "High-Value, Infrequent Buyers",
                description: "Large baskets but few orders.",
                actions: ["Exclusive offers to bring them back sooner", "Bundles around their big purchases",
                          "Replenishment reminders"])
        case frequent && !highValue:
            return SegmentLabel(
                name: "Frequent, Low-Spending",
                description: "Order often, but spend little per order.",
                actions: ["Cross-sell and upsell", "Bundles and volume discounts to grow basket size"])
        case recent:
            return SegmentLabel(
                name: "Recent Buyers",
                description: "Bought recently but not yet often.",
                actions: ["Onboarding and welcome series", "Second-purchase incentive"])
        case lapsed:
            return SegmentLabel(
                name: "Lapsing Customers",
                description: "Average spend, but their last purchase was a while ago.",
                actions: ["Reminder campaign with recommendations", "Time-limited discount"])
        case lowValue && infrequent:
            return SegmentLabel(
                name: "Low Activity, Low Value",
                description: "Few orders and low spend.",
                actions: ["Entry-level offers and bundles", "Keep marketing costs low"])
        default:
            return SegmentLabel(
                name: "Balanced",
                description: "Close to the average customer on every measure.",
                actions: ["Regular newsletter and seasonal promotions", "Nurture toward higher frequency"])
        }
    }

    private static let loyalHighValue = SegmentLabel(
        name: "Loyal, High-Value",
        description: "Buy often and spend a lot, though not the most recent or biggest buyers.",
        actions: ["Loyalty programme rewards", "Upsell premium products", "Keep in regular contact"])

    /// Only the strongest of several "Champions" keeps the name; the others are loyal,
    /// high-value customers one step below (clearer than two Champions with qualifiers).
    private static func oneChampion(_ labels: [SegmentLabel], _ profiles: [SegmentProfile]) -> [SegmentLabel] {
        let champions = labels.indices.filter { labels[$0].name == "Champions" }
        guard champions.count > 1 else { return labels }
        func strength(_ index: Int) -> Double {
            let z = { (feature: String) in profiles[index].summary(of: feature)?.zScore ?? 0 }
            return z("frequency") + (profiles[index].summary(of: "monetary") != nil ? z("monetary") : z("avg_order_value")) - z("recency")
        }
        let strongest = champions.max { strength($0) < strength($1) || (strength($0) == strength($1) && $0 > $1) }!
        var result = labels
        for index in champions where index != strongest { result[index] = loyalHighValue }
        return result
    }

    private static func genericLabel(_ profile: SegmentProfile) -> SegmentLabel {
        let standouts = profile.features
            .filter { abs($0.zScore) >= threshold }
            .sorted { abs($0.zScore) > abs($1.zScore) || (abs($0.zScore) == abs($1.zScore) && $0.feature < $1.feature) }
            .prefix(2)
        guard !standouts.isEmpty else {
            return SegmentLabel(name: "Balanced", description: "Close to the average customer on every column.",
                                actions: ["Regular newsletter and seasonal promotions"])
        }
        let parts = standouts.map { ($0.zScore > 0 ? "High " : "Low ") + displayName($0.feature) }
        let description = standouts.map { summary in
            String(format: "%@ is %.1f standard deviations %@ average", displayName(summary.feature),
                   abs(summary.zScore), summary.zScore > 0 ? "above" : "below")
        }.joined(separator: "; ") + "."
        return SegmentLabel(name: parts.joined(separator: ", "), description: description,
                            actions: standouts.map(action(for:)))
    }

    /// Actions for a standout column, by what its name suggests it measures.
    private static func action(for summary: FeatureSummary) -> String {
        let name = summary.feature.lowercased()
        let high = summary.zScore > 0
        let spend = ["purchase", "spend", "spending", "amount", "payment", "monetary", "income", "value"]
        let credit = ["balance", "credit", "limit", "loan", "debt"]
        let activity = ["frequency", "count", "visit", "trx", "orders", "transactions"]
        if spend.contains(where: name.contains) {
            return high ? "Exclusive offers and a premium tier for high \(displayName(summary.feature).lowercased())"
                        : "Entry-level offers and bundles to raise \(displayName(summary.feature).lowercased())"
        }
        if credit.contains(where: name.contains) {
            return high ? "Review risk and offer balance-management products"
                        : "Offer credit-building or limit-increase products"
        }
        if activity.contains(where: name.contains) {
            return high ? "Reward engagement with loyalty perks" : "Re-engagement campaign to raise activity"
        }
        return high ? "Target offers that fit high \(displayName(summary.feature).lowercased())"
                    : "Target offers that fit low \(displayName(summary.feature).lowercased())"
    }

    static func displayName(_ feature: String) -> String {
        switch feature {
        case "avg_order_value": return "Order Value"
        case "monetary": return "Spend"
        default:
            return feature.replacingOccurrences(of: "_", with: " ")
                .split(separator: " ").map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }
                .joined(separator: " ")
        }
    }

    /// Qualifier for "more/less of" a feature, in marketing words where we know them.
    private static func qualifier(_ feature: String, higher: Bool) -> String {
        switch feature {
        case "recency": return higher ? "Less Recent" : "More Recent"
        case "frequency": return higher ? "More Frequent" : "Less Frequent"
        case "monetary": return higher ? "Higher Spend" : "Lower Spend"
        case "avg_order_value": return higher ? "Larger Orders" : "Smaller Orders"
        default: return (higher ? "Higher " : "Lower ") + displayName(feature)
        }
    }

    private static func disambiguated(_ labels: [SegmentLabel], _ profiles: [SegmentProfile]) -> [SegmentLabel] {
        var result = labels
        let groups = Dictionary(grouping: labels.indices, by: { labels[$0].name })
        for (_, members) in groups where members.count > 1 {
            for index in members {
                let others = members.filter { $0 != index }
                // The feature on which this segment differs most from the others sharing its name.
                let best = profiles[index].features.enumerated().max { a, b in
                    gap(a.offset, index, others, profiles) < gap(b.offset, index, others, profiles)
                }
                if let best {
                    let higher = gap(best.offset, index, others, profiles, signed: true) > 0
                    result[index].name += " (\(qualifier(best.element.feature, higher: higher)))"
                }
            }
        }
        // Any name still shared gets a number, in segment order.
        var seen: [String: Int] = [:]
        for index in result.indices {
            let count = (seen[result[index].name] ?? 0) + 1
            seen[result[index].name] = count
            if count > 1 { result[index].name += " \(count)" }
        }
        return result
    }

    private static func gap(_ feature: Int, _ index: Int, _ others: [Int], _ profiles: [SegmentProfile], signed: Bool = false) -> Double {
        let own = profiles[index].features[feature].zScore
        let rest = others.map { profiles[$0].features[feature].zScore }.reduce(0, +) / Double(others.count)
        return signed ? own - rest : abs(own - rest)
    }
}
