import Foundation

/// A name, a description and marketing actions for a segment, derived from its profile.
public struct SegmentLabel: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    public var actions: [String]
}

/// Names segments from checked claims about their profiles.
///
/// Transactions segments are worded from their raw facts (`SegmentFacts`, `RFMClaims` lists the
/// rules): shares of lapsed and one-time buyers, medians of recency, purchases, spend and basket
/// against all customers', revenue share against customer share.
///
/// Customer-table columns are claimed from z-scores (segment mean against all customers, in
/// standard deviations, after the log transform) backed by the raw values:
/// - "High X" / "More X" need z >= +0.5, "Low X" / "Less X" z <= -0.5;
/// - and the segment's median (its share, for 0/1 columns) on the same side of all customers' by
///   a clear margin: at least 1.25x or at most 0.8x of it (0/1 columns: also 10 points apart);
/// - "Balanced" needs |z| < 0.25 on every clustering feature; "about average" |z| < 0.25.
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
        for profiles: [SegmentProfile], clusteringFeatures: [String]? = nil,
        excluded: Set<String> = []
    ) -> [SegmentLabel] {
        let clustering = (clusteringFeatures ?? profiles.first?.features.map(\.feature) ?? [])
            .filter { !excluded.contains($0) }
        let base = profiles.indices.map { index in
            profiles[index].facts.map {
                RFMWording.label(RFMClaims(facts: $0), isChampion: isChampion(index, profiles))
            }
                ?? genericLabel(profiles[index], clustering: clustering)
        }
        return disambiguated(base, profiles, clustering: clustering)
    }

    // MARK: - Claims

    /// Where a z-score stands, by a clear margin or not at all.
    enum Level: Equatable {
        case high, low, average, unclear

        init(_ z: Double) {
            self =
                z >= SegmentLabeler.clear
                ? .high
                : z <= -SegmentLabeler.clear
                    ? .low
                    : abs(z) < SegmentLabeler.nearAverage ? .average : .unclear
        }

        /// The z-score's level, "high" and "low" only when the typical value agrees.
        init(_ summary: FeatureSummary) {
            self.init(summary.zScore)
            let indicator = SegmentLabeler.isIndicator(summary.feature)
            guard let reference = indicator ? summary.populationMean : summary.populationMedian
            else { return }
            let typical = indicator ? summary.mean : summary.median
            if (self == .high
                && !SegmentLabeler.clearlyAbove(typical, reference, indicator: indicator))
                || (self == .low
                    && !SegmentLabeler.clearlyAbove(reference, typical, indicator: indicator))
            {
                self = .unclear
            }
        }
    }

    /// `a` above `b` by a clear raw margin: 1.25x (from 0: any amount); shares also 10 points.
    static func clearlyAbove(_ a: Double, _ b: Double, indicator: Bool) -> Bool {
        let ratio = SegmentFacts.ratio(a, b)
        return a > b && ratio >= 1.25 && (!indicator || a - b >= 0.1)
    }

    /// Recent, frequent, high-value, first of all segments on the three medians, and a minority.
    static func isChampion(_ index: Int, _ profiles: [SegmentProfile]) -> Bool {
        guard let facts = profiles[index].facts, facts.customerShare <= championsMaximumShare else {
            return false
        }
        let claims = RFMClaims(facts: facts)
        guard claims.recent, claims.frequent, claims.highValue, !claims.likelyLapsed else {
            return false
        }
        return profiles.compactMap(\.facts).allSatisfy { other in
            facts.medianRecency <= other.medianRecency
                && facts.medianFrequency >= other.medianFrequency
                && facts.medianSpend >= other.medianSpend
        }
    }

    /// No clustering feature half a standard deviation or more from average.
    static func isMidRange(_ profile: SegmentProfile, clustering: [String]) -> Bool {
        clustering.compactMap { profile.summary(of: $0)?.zScore }.allSatisfy { abs($0) < clear }
    }

    /// Why nothing is named: every feature near average, or large z-scores whose medians disagree.
    private static func noStandoutText(
        _ profile: SegmentProfile, clustering: [String], noun: String
    ) -> String {
        isMidRange(profile, clustering: clustering)
            ? "No \(noun) is half a standard deviation or more from the average customer."
            : "No \(noun) stands clearly above or below the average customer: where the mean differs most, the median (or share) is not clearly apart from all customers'."
    }

    static func isBalanced(_ profile: SegmentProfile, clustering: [String]) -> Bool {
        let zs = clustering.compactMap { profile.summary(of: $0)?.zScore }
        return !zs.isEmpty && zs.allSatisfy { Level($0) == .average }
    }

    // MARK: - Generic wording (customer tables)

    private static func genericLabel(
        _ profile: SegmentProfile, clustering: [String]
    ) -> SegmentLabel {
        if isBalanced(profile, clustering: clustering) { return balanced }
        // A standout the stability refits do not steadily find is said, not named.
        let unsteady = profile.unsteadyColumns ?? []
        let all = standouts(clustering.compactMap { profile.summary(of: $0) })
        let named = all.filter { summary in !unsteady.contains { $0.word == namePart(summary) } }
        let near = unsteady.filter { claim in all.contains { namePart($0) == claim.word } }
        let nearText = nearThresholdText(near)
        guard !named.isEmpty else {
            let opening =
                near.isEmpty
                ? noStandoutText(profile, clustering: clustering, noun: "column")
                : "No column stands steadily apart."
            return SegmentLabel(
                name: isMidRange(profile, clustering: clustering) ? "Mid-Range" : "Mixed Profile",
                description: opening + nearText + averageClause(profile, clustering),
                actions: ["Regular newsletter and seasonal promotions"])
        }
        let actions = named.flatMap(ActionCatalogue.actions(for:)).uniqued()
        return SegmentLabel(
            name: named.prefix(2).map(namePart).joined(separator: ", "),
            description: sentence(named.prefix(4).map(clause)) + nearText
                + averageClause(profile, clustering),
            actions: actions.isEmpty
                ? ["Regular newsletter and seasonal promotions"] : Array(actions.prefix(4)))
    }

    private static let balanced = SegmentLabel(
        name: "Balanced",
        description:
            "Close to the average customer on every clustering measure (all within 0.25 standard deviations).",
        actions: [
            "Regular newsletter and seasonal promotions", "Nurture toward more frequent purchases",
        ])

    /// Features standing clearly above or below average: measured columns before 0/1 category
    /// columns (a balance says more about a customer than a region), then most unusual first.
    static func standouts(_ summaries: [FeatureSummary]) -> [FeatureSummary] {
        summaries.filter { Level($0) == .high || Level($0) == .low }
            .sorted { a, b in
                if isIndicator(a.feature) != isIndicator(b.feature) {
                    return !isIndicator(a.feature)
                }
                return abs(a.zScore) != abs(b.zScore)
                    ? abs(a.zScore) > abs(b.zScore) : a.feature < b.feature
            }
    }

    /// "High Balance", or for a 0/1 column "More Channel: Online".
    static func namePart(_ summary: FeatureSummary) -> String {
        let high = summary.zScore > 0
        if isIndicator(summary.feature) {
            return (high ? "More " : "Less ") + displayName(summary.feature)
        }
        return (high ? "High " : "Low ") + displayName(summary.feature)
    }

    private static func clause(_ summary: FeatureSummary) -> String {
        let high = summary.zScore > 0
        let name = displayName(summary.feature)
        if isIndicator(summary.feature) {
            let against = summary.populationMean.map { " against \(percent($0)) overall" } ?? ""
            return
                "\(name) is \(high ? "more" : "less") common than average (\(percent(summary.mean))\(against))"
        }
        // "Purchases are high", "Balance is high".
        let verb = name.hasSuffix("s") && !name.hasSuffix("ss") ? "are" : "is"
        return
            "\(name.lowercased()) \(verb) \(high ? "high" : "low") (median \(amount(summary.median))\(against(summary, amount)))"
    }

    /// ", against 51 days overall": all customers' median, when the model kept it.
    private static func against(_ summary: FeatureSummary, _ format: (Double) -> String) -> String {
        summary.populationMedian.map { " against \(format($0)) overall" } ?? ""
    }

    /// " About average on recency and order value." for clustering features with |z| < 0.25.
    private static func averageClause(_ profile: SegmentProfile, _ clustering: [String]) -> String {
        let average = clustering.compactMap { profile.summary(of: $0) }.filter {
            Level($0.zScore) == .average
        }
        guard !average.isEmpty, average.count < clustering.count else { return "" }
        return " About average on " + list(average.map { displayName($0.feature).lowercased() })
            + "."
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
                return displayName(String(feature[..<equals])) + ": "
                    + feature[feature.index(after: equals)...]
            }
            return feature.replacingOccurrences(of: "_", with: " ").replacingOccurrences(
                of: "-", with: " "
            )
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

    private static func disambiguated(
        _ labels: [SegmentLabel], _ profiles: [SegmentProfile], clustering: [String]
    ) -> [SegmentLabel] {
        var result = labels
        // "Low A, Low B" and "Low B, Low A" say the same: they are told apart like equal names.
        let canonical = { (name: String) in
            name.components(separatedBy: ", ").sorted().joined(separator: ", ")
        }
        let groups = Dictionary(grouping: labels.indices, by: { canonical(labels[$0].name) })
        for (_, members) in groups where members.count == 2 {
            let (a, b) = (members[0], members[1])
            // The clustering feature on which the two differ most, if by a clear margin.
            let gaps = clustering.compactMap { feature -> (String, Double)? in
                guard let za = profiles[a].summary(of: feature)?.zScore,
                    let zb = profiles[b].summary(of: feature)?.zScore
                else { return nil }
                return (feature, za - zb)
            }
            guard
                let (feature, gap) = gaps.max(by: {
                    abs($0.1) < abs($1.1) || (abs($0.1) == abs($1.1) && $0.0 > $1.0)
                }),
                abs(gap) >= nearAverage
            else { continue }
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

    /// " Near a rule's threshold, so not named: Frequent (met in 6 of 10 refits)." (empty for none).
    static func nearThresholdText(_ claims: [UnsteadyClaim]) -> String {
        claims.isEmpty
            ? ""
            : " Near a rule's threshold, so not named: "
                + claims.map { "\($0.word) (met in \($0.refitsHolding) of \($0.refits) refits)" }
                .joined(separator: ", ") + "."
    }

    static func sentence(_ clauses: [String]) -> String {
        let text = list(clauses)
        return text.prefix(1).uppercased() + text.dropFirst() + "."
    }

    static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        default: return items.dropLast().joined(separator: ", ") + " and " + items.last!
        }
    }

    static func days(_ value: Double) -> String { count(value, "day") }

    static func count(_ value: Double, _ unit: String) -> String {
        guard let rounded = wholeNumber(value) else { return "\(amount(value)) \(unit)s" }
        // A median of an even count can fall between two whole numbers: 1.5 days, not "2 days".
        if abs(value - Double(rounded)) > 1e-9 { return String(format: "%.1f %@s", value, unit) }
        return "\(rounded) \(unit)\(rounded == 1 ? "" : "s")"
    }

    /// The nearest whole number, when an Int holds it exactly (found by fuzzing: a customers
    /// table with a 70-digit balance trapped converting it).
    static func wholeNumber(_ value: Double) -> Int? {
        value.isFinite && abs(value) < 1e15 ? Int(value.rounded()) : nil
    }

    static func percent(_ share: Double) -> String { String(format: "%.0f%%", share * 100) }

    /// A share as a whole percent, with one decimal where rounding would cross or touch a rule's
    /// threshold (10%, 50%, 90%): 89.6% is not printed "90%" beside a rule that needs 90%.
    static func factPercent(_ share: Double) -> String {
        let value = share * 100, thresholds = [10.0, 50, 90]
        // A few customers are not none, and nearly all are not all.
        if value > 0 && value <= 0.5 { return "<1%" }
        if value < 100 && value >= 99.5 { return ">99%" }
        let crosses = { (shown: Double) in
            thresholds.contains { t in (value < t) != (shown < t) || (shown == t && value != t) }
        }
        guard crosses(value.rounded()) else { return String(format: "%.0f%%", value) }
        // One decimal, rounded away from the threshold's other side: 9.97% reads 9.9%, not 10.0%.
        var tenths = (value * 10).rounded() / 10
        if crosses(tenths) {
            tenths =
                thresholds.contains { value < $0 && tenths >= $0 }
                ? (value * 10).rounded(.down) / 10 : (value * 10).rounded(.up) / 10
        }
        return String(format: "%.1f%%", tenths)
    }

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
    /// DBSCAN's noise: customers in no dense group. Named for what they are; described by
    /// their facts like any other segment (they may hold the biggest spenders), and given no
    /// group campaign.
    public static func outliers(
        count: Int, share: Double, eps: Double, minSamples: Int, smallGroups: Int = 0,
        facts: SegmentFacts? = nil
    ) -> SegmentLabel {
        var description =
            String(
                format: "%@ (%.1f%%) in no dense group of at least 1%% of customers: ",
                Self.count(Double(count), "customer"), share * 100)
            + String(
                format:
                    "each has fewer than %d customers within %.3g (scaled features) and no group's core customer that near",
                minSamples, eps)
            + (smallGroups > 0
                ? ", or belonged to one of \(smallGroups) dense group\(smallGroups == 1 ? "" : "s") under 1% of customers"
                : "") + "."
        if let facts {
            let ranked = RFMClaims(facts: facts).ranked
            if !ranked.isEmpty {
                description +=
                    " As a group they " + list(ranked.map { RFMWording.clause($0, facts) }) + "."
            }
            description += " " + RFMWording.factsSentence(facts)
        } else {
            description += " They share no profile."
        }
        return SegmentLabel(
            name: "Outliers", description: description,
            actions: [
                "Review these customers one by one before including them in any campaign",
                "Check their records for data errors, one-off bulk orders or test accounts",
            ])
    }
}
