import Foundation

/// A name, a description and marketing actions for a segment, derived from its profile.
public struct SegmentLabel: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var actions: [String]
}

/// Names segments from checked claims about their profiles.
///
/// Every word of a name and every clause of a description is a claim about the segment's
/// z-scores (segment mean against all customers, in standard deviations, after the log
/// transform) that holds by a clear margin:
/// - "high" words (recent, frequent, high-value, large baskets, High X) need z >= +0.5 (recency:
///   z <= -0.5, fewer days), "low" words the mirror image;
/// - "about average" and "Balanced" need |z| < 0.25 (Balanced: on every clustering feature);
/// - between 0.25 and 0.5 nothing is said either way;
/// - a "high" or "low" word also needs the segment's median on the same side of all customers'
///   median (its mean, for 0/1 columns): z is measured after the log transform, and a
///   description quotes medians, so the two must agree;
/// - "Champions" needs recent, frequent and high-value, first among all segments on all three,
///   and at most a quarter of the customers; "At Risk" needs lapsed and (high-value or frequent).
/// A segment's wording depends only on its own profile (and, for Champions, its rank), so the
/// same facts read the same at any k. Sensitive attributes are never named. Names are unique:
/// two segments with the same facts are told apart by the feature that differs most between
/// them ("(More Recent)"), else numbered.
public enum SegmentLabeler {
    /// |z| at or beyond this is "high" or "low".
    public static let clear = 0.5
    /// |z| below this is "about average".
    public static let nearAverage = 0.25
    /// Champions are a minority: at most this share of the customers.
    public static let championsMaximumShare = 0.25

    public static func labels(
        for profiles: [SegmentProfile], clusteringFeatures: [String]? = nil, excluded: Set<String> = []
    ) -> [SegmentLabel] {
        let clustering = (clusteringFeatures ?? profiles.first?.features.map(\.feature) ?? []).filter { !excluded.contains($0) }
        let base = profiles.indices.map { index in
            RFMFacts(profiles[index]).map { rfmLabel($0, index: index, profiles: profiles, clustering: clustering) }
                ?? genericLabel(profiles[index], clustering: clustering)
        }
        return disambiguated(base, profiles, clustering: clustering)
    }

    // MARK: - Claims

    /// Where a z-score stands, by a clear margin or not at all.
    enum Level: Equatable {
        case high, low, average, unclear

        init(_ z: Double) {
            self = z >= SegmentLabeler.clear ? .high : z <= -SegmentLabeler.clear ? .low
                : abs(z) < SegmentLabeler.nearAverage ? .average : .unclear
        }

        /// The z-score's level, "high" and "low" only when the typical value agrees.
        init(_ summary: FeatureSummary) {
            self.init(summary.zScore)
            let indicator = SegmentLabeler.isIndicator(summary.feature)
            guard let reference = indicator ? summary.populationMean : summary.populationMedian else { return }
            let typical = indicator ? summary.mean : summary.median
            if (self == .high && !(typical > reference)) || (self == .low && !(typical < reference)) { self = .unclear }
        }
    }

    /// The RFM facts of a segment, when its profile has recency, frequency and a spend measure.
    struct RFMFacts {
        var recency: FeatureSummary
        var frequency: FeatureSummary
        var value: FeatureSummary
        var basket: FeatureSummary?

        init?(_ profile: SegmentProfile) {
            guard let r = profile.summary(of: "recency"), let f = profile.summary(of: "frequency"),
                  let m = profile.summary(of: "monetary") ?? profile.summary(of: "avg_order_value") else { return nil }
            recency = r; frequency = f; value = m
            basket = m.feature == "monetary" ? profile.summary(of: "avg_order_value") : nil
        }

        var recent: Bool { Level(recency) == .low }
        var lapsed: Bool { Level(recency) == .high }
        var frequent: Bool { Level(frequency) == .high }
        var infrequent: Bool { Level(frequency) == .low }
        var highValue: Bool { Level(value) == .high }
        var lowValue: Bool { Level(value) == .low }
        var largeBaskets: Bool { basket.map { Level($0) == .high } ?? false }
        var smallBaskets: Bool { basket.map { Level($0) == .low } ?? false }
        var atRisk: Bool { lapsed && (highValue || frequent) }
        var rfmFeatures: Set<String> { Set([recency.feature, frequency.feature, value.feature] + [basket?.feature].compactMap { $0 }) }
    }

    /// Recent, frequent, high-value, first of all segments on all three, and a minority.
    static func isChampion(_ index: Int, _ profiles: [SegmentProfile]) -> Bool {
        guard let facts = RFMFacts(profiles[index]), facts.recent, facts.frequent, facts.highValue,
              profiles[index].customerShare <= championsMaximumShare else { return false }
        let all = profiles.compactMap(RFMFacts.init)
        return all.allSatisfy { other in
            facts.recency.zScore <= other.recency.zScore && facts.frequency.zScore >= other.frequency.zScore
                && facts.value.zScore >= other.value.zScore
        }
    }

    /// No clustering feature half a standard deviation or more from average.
    static func isMidRange(_ profile: SegmentProfile, clustering: [String]) -> Bool {
        clustering.compactMap { profile.summary(of: $0)?.zScore }.allSatisfy { abs($0) < clear }
    }

    /// Why nothing is named: every feature near average, or large z-scores whose medians disagree.
    private static func noStandoutText(_ profile: SegmentProfile, clustering: [String], noun: String) -> String {
        isMidRange(profile, clustering: clustering)
            ? "No \(noun) is half a standard deviation or more from the average customer."
            : "No \(noun) stands clearly above or below the average customer: where the mean differs most, the median does not follow."
    }

    static func isBalanced(_ profile: SegmentProfile, clustering: [String]) -> Bool {
        let zs = clustering.compactMap { profile.summary(of: $0)?.zScore }
        return !zs.isEmpty && zs.allSatisfy { Level($0) == .average }
    }

    // MARK: - RFM wording

    private static func rfmLabel(_ facts: RFMFacts, index: Int, profiles: [SegmentProfile], clustering: [String]) -> SegmentLabel {
        let profile = profiles[index]
        let others = clustering.filter { !facts.rfmFeatures.contains($0) }.compactMap { profile.summary(of: $0) }
        if isBalanced(profile, clustering: clustering) { return balanced }
        if isChampion(index, profiles) {
            return SegmentLabel(
                name: "Champions",
                description: "Bought most recently, buy most often and spend the most of all segments (medians "
                    + "\(days(facts.recency.median)) ago, \(count(facts.frequency.median, "purchase")) and "
                    + "\(amount(facts.value.median)) \(facts.value.feature == "monetary" ? "in total" : "per order")); "
                    + "\(percent(profile.customerShare)) of customers." + averageClause(profile, clustering),
                actions: ["VIP programme with early access and exclusive offers", "Ask for reviews and referrals",
                          "Reward with exclusivity rather than blanket discounts"])
        }
        var words: [String] = []
        if facts.atRisk { words.append("At Risk") } else if facts.recent { words.append("Recent") } else if facts.lapsed { words.append("Lapsed") }
        if facts.highValue { words.append("High-Value") } else if facts.lowValue { words.append("Low-Value") }
        if facts.frequent { words.append("Frequent") } else if facts.infrequent { words.append("Infrequent") }
        if facts.largeBaskets { words.append("Large-Basket") } else if facts.smallBaskets { words.append("Small-Basket") }
        let extra = standouts(others).prefix(2).map(namePart)
        let name: String
        if words.isEmpty && extra.isEmpty {
            name = isMidRange(profile, clustering: clustering) ? "Mid-Range Buyers" : "Mixed-Profile Buyers"
        } else {
            name = (words.isEmpty ? "" : words.joined(separator: ", ") + " Buyers")
                + (extra.isEmpty ? "" : (words.isEmpty ? "" : ", ") + extra.joined(separator: ", "))
        }
        var clauses: [String] = []
        let r = facts.recency, f = facts.frequency, m = facts.value
        if facts.recent { clauses.append("bought recently (median \(days(r.median)) ago\(against(r, days)))") }
        if facts.lapsed { clauses.append("have not bought for a long time (median \(days(r.median)) ago\(against(r, days)))") }
        let purchases = { (value: Double) in count(value, "purchase") }
        if facts.frequent { clauses.append("buy often (median \(purchases(f.median))\(against(f, purchases)))") }
        if facts.infrequent { clauses.append("buy rarely (median \(purchases(f.median))\(against(f, purchases)))") }
        let valueUnit = m.feature == "monetary" ? "in total" : "per order"
        if facts.highValue { clauses.append("spend a lot \(valueUnit) (median \(amount(m.median))\(against(m, amount)))") }
        if facts.lowValue { clauses.append("spend little \(valueUnit) (median \(amount(m.median))\(against(m, amount)))") }
        if let b = facts.basket, facts.largeBaskets { clauses.append("place large orders (median \(amount(b.median)) per order\(against(b, amount)))") }
        if let b = facts.basket, facts.smallBaskets { clauses.append("place small orders (median \(amount(b.median)) per order\(against(b, amount)))") }
        clauses += standouts(others).map(clause)
        let description = clauses.isEmpty
            ? noStandoutText(profile, clustering: clustering, noun: "measure") + averageClause(profile, clustering)
            : sentence(clauses) + averageClause(profile, clustering)
        return SegmentLabel(name: name, description: description, actions: rfmActions(facts) + others.flatMap(ActionCatalogue.actions(for:)).uniqued())
    }

    /// Actions keyed on the claims, the most valuable programme first.
    private static func rfmActions(_ facts: RFMFacts) -> [String] {
        var actions: [String] = []
        if facts.atRisk {
            actions += ["Personalised win-back campaign", "Reach out directly with a time-limited offer", "Survey why they stopped buying"]
        } else if facts.lapsed && (facts.lowValue || facts.infrequent) {
            actions += ["Low-cost automated reactivation emails", "Cut paid marketing spend on this group"]
        } else if facts.lapsed {
            actions += ["Reminder campaign with recommendations from past purchases", "Time-limited comeback discount"]
        }
        if facts.frequent && facts.highValue && !facts.atRisk { actions += ["Loyalty programme rewards", "Upsell premium products"] }
        if facts.highValue && facts.infrequent && !facts.lapsed { actions += ["Exclusive offers to bring them back sooner", "Replenishment reminders"] }
        if facts.frequent && (facts.lowValue || facts.smallBaskets) { actions += ["Cross-sell and upsell", "Bundles and volume discounts to grow basket size"] }
        if facts.recent && facts.infrequent { actions += ["Onboarding and welcome series", "Second-purchase incentive"] }
        if facts.recent && !facts.infrequent && !facts.atRisk { actions.append("Recommendations based on the latest purchase") }
        if facts.largeBaskets && !(facts.lapsed && (facts.lowValue || facts.infrequent)) { actions.append("Bundles around their big purchases") }
        if facts.lowValue && !facts.lapsed && !facts.frequent { actions.append("Entry-level offers and bundles") }
        if !facts.recent && !facts.lapsed && !facts.frequent && !facts.atRisk { actions.append("Nurture toward more frequent purchases") }
        if actions.isEmpty { actions = ["Regular newsletter and seasonal promotions", "Nurture toward more frequent purchases"] }
        return actions.uniqued()
    }

    // MARK: - Generic wording (customer tables)

    private static func genericLabel(_ profile: SegmentProfile, clustering: [String]) -> SegmentLabel {
        if isBalanced(profile, clustering: clustering) { return balanced }
        let named = standouts(clustering.compactMap { profile.summary(of: $0) })
        guard !named.isEmpty else {
            return SegmentLabel(name: isMidRange(profile, clustering: clustering) ? "Mid-Range" : "Mixed Profile",
                                description: noStandoutText(profile, clustering: clustering, noun: "column") + averageClause(profile, clustering),
                                actions: ["Regular newsletter and seasonal promotions"])
        }
        let actions = named.flatMap(ActionCatalogue.actions(for:)).uniqued()
        return SegmentLabel(name: named.prefix(2).map(namePart).joined(separator: ", "),
                            description: sentence(named.prefix(4).map(clause)) + averageClause(profile, clustering),
                            actions: actions.isEmpty ? ["Regular newsletter and seasonal promotions"] : Array(actions.prefix(4)))
    }

    private static let balanced = SegmentLabel(
        name: "Balanced",
        description: "Close to the average customer on every clustering measure (all within 0.25 standard deviations).",
        actions: ["Regular newsletter and seasonal promotions", "Nurture toward more frequent purchases"])

    /// Features standing clearly above or below average: measured columns before 0/1 category
    /// columns (a balance says more about a customer than a region), then most unusual first.
    static func standouts(_ summaries: [FeatureSummary]) -> [FeatureSummary] {
        summaries.filter { Level($0) == .high || Level($0) == .low }
            .sorted { a, b in
                if isIndicator(a.feature) != isIndicator(b.feature) { return !isIndicator(a.feature) }
                return abs(a.zScore) != abs(b.zScore) ? abs(a.zScore) > abs(b.zScore) : a.feature < b.feature
            }
    }

    /// "High Balance", or for a 0/1 column "More Channel: Online".
    static func namePart(_ summary: FeatureSummary) -> String {
        let high = summary.zScore > 0
        if isIndicator(summary.feature) { return (high ? "More " : "Less ") + displayName(summary.feature) }
        return (high ? "High " : "Low ") + displayName(summary.feature)
    }

    private static func clause(_ summary: FeatureSummary) -> String {
        let high = summary.zScore > 0
        let name = displayName(summary.feature)
        if isIndicator(summary.feature) {
            let against = summary.populationMean.map { " against \(percent($0)) overall" } ?? ""
            return "\(name) is \(high ? "more" : "less") common than average (\(percent(summary.mean))\(against))"
        }
        // "Purchases are high", "Balance is high".
        let verb = name.hasSuffix("s") && !name.hasSuffix("ss") ? "are" : "is"
        return "\(name.lowercased()) \(verb) \(high ? "high" : "low") (median \(amount(summary.median))\(against(summary, amount)))"
    }

    /// ", against 51 days overall": all customers' median, when the model kept it.
    private static func against(_ summary: FeatureSummary, _ format: (Double) -> String) -> String {
        summary.populationMedian.map { " against \(format($0)) overall" } ?? ""
    }

    /// " About average on recency and order value." for clustering features with |z| < 0.25.
    private static func averageClause(_ profile: SegmentProfile, _ clustering: [String]) -> String {
        let average = clustering.compactMap { profile.summary(of: $0) }.filter { Level($0.zScore) == .average }
        guard !average.isEmpty, average.count < clustering.count else { return "" }
        return " About average on " + list(average.map { displayName($0.feature).lowercased() }) + "."
    }

    /// A 0/1 column from a category (`Channel=Online`).
    static func isIndicator(_ feature: String) -> Bool { feature.contains("=") }

    public static func displayName(_ feature: String) -> String {
        switch feature {
        case "avg_order_value": return "Order Value"
        case "monetary": return "Spend"
        case "distinct_products": return "Distinct Products"
        case "mode_quantity": return "Usual Quantity"
        default:
            if let equals = feature.firstIndex(of: "=") {
                return displayName(String(feature[..<equals])) + ": " + feature[feature.index(after: equals)...]
            }
            return feature.replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: "-", with: " ")
                .split(separator: " ").map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }
                .joined(separator: " ")
        }
    }

    // MARK: - Uniqueness

    /// Relative qualifiers for feature comparisons between two segments sharing a name.
    static func qualifier(_ feature: String, higher: Bool) -> String {
        switch feature {
        case "recency": return higher ? "Less Recent" : "More Recent"
        case "frequency": return higher ? "More Frequent" : "Less Frequent"
        case "monetary": return higher ? "Higher Spend" : "Lower Spend"
        case "avg_order_value": return higher ? "Larger Orders" : "Smaller Orders"
        default: return (higher ? "Higher " : "Lower ") + displayName(feature)
        }
    }

    private static func disambiguated(_ labels: [SegmentLabel], _ profiles: [SegmentProfile], clustering: [String]) -> [SegmentLabel] {
        var result = labels
        // "Low A, Low B" and "Low B, Low A" say the same: they are told apart like equal names.
        let canonical = { (name: String) in name.components(separatedBy: ", ").sorted().joined(separator: ", ") }
        let groups = Dictionary(grouping: labels.indices, by: { canonical(labels[$0].name) })
        for (_, members) in groups where members.count == 2 {
            let (a, b) = (members[0], members[1])
            // The clustering feature on which the two differ most, if by a clear margin.
            let gaps = clustering.compactMap { feature -> (String, Double)? in
                guard let za = profiles[a].summary(of: feature)?.zScore, let zb = profiles[b].summary(of: feature)?.zScore else { return nil }
                return (feature, za - zb)
            }
            guard let (feature, gap) = gaps.max(by: { abs($0.1) < abs($1.1) || (abs($0.1) == abs($1.1) && $0.0 > $1.0) }),
                  abs(gap) >= nearAverage else { continue }
            result[a].name += " (\(qualifier(feature, higher: gap > 0)))"
            result[b].name += " (\(qualifier(feature, higher: gap < 0)))"
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

    // MARK: - Formatting

    private static func sentence(_ clauses: [String]) -> String {
        let text = list(clauses)
        return text.prefix(1).uppercased() + text.dropFirst() + "."
    }

    private static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        default: return items.dropLast().joined(separator: ", ") + " and " + items.last!
        }
    }

    static func days(_ value: Double) -> String { count(value, "day") }

    static func count(_ value: Double, _ unit: String) -> String {
        guard let rounded = wholeNumber(value) else { return "\(amount(value)) \(unit)s" }
        return "\(rounded) \(unit)\(rounded == 1 ? "" : "s")"
    }

    /// The nearest whole number, when an Int holds it exactly (found by fuzzing: a customers
    /// table with a 70-digit balance trapped converting it).
    static func wholeNumber(_ value: Double) -> Int? {
        value.isFinite && abs(value) < 1e15 ? Int(value.rounded()) : nil
    }

    static func percent(_ share: Double) -> String { String(format: "%.0f%%", share * 100) }

    /// 1,234 / 56.7 / 0.85: people's numbers, no currency (the data does not say which).
    static func amount(_ value: Double) -> String {
        let magnitude = abs(value)
        guard let whole = wholeNumber(value) else { return String(format: "%.3g", value) }
        if magnitude >= 1000 {
            let digits = String(abs(whole))
            var grouped = ""
            for (i, ch) in digits.enumerated() {
                if i > 0 && (digits.count - i) % 3 == 0 { grouped.append(",") }
                grouped.append(ch)
            }
            return (whole < 0 ? "-" : "") + grouped
        }
        return String(format: magnitude >= 100 ? "%.0f" : magnitude >= 10 ? "%.1f" : "%.2f", value)
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

extension SegmentLabeler {
    /// DBSCAN's noise: customers in no dense group. Named for what they are, not for a profile
    /// they do not share; no group campaign is recommended for them.
    public static func outliers(count: Int, share: Double, eps: Double, minSamples: Int) -> SegmentLabel {
        SegmentLabel(
            name: "Outliers",
            description: String(format: "%d customers (%.1f%%) in no dense group: fewer than %d customers lie within %.3g of each of them "
                                + "(scaled features), and no group's core customer is that near. They share no profile.",
                                count, share * 100, minSamples, eps),
            actions: ["Review these customers one by one before including them in any campaign",
                      "Check their records for data errors, one-off bulk orders or test accounts"])
    }
}
