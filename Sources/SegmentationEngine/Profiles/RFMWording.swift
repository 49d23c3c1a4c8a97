import Foundation

/// What a transactions segment's raw facts (`SegmentFacts`) let us claim, each by a clear margin
/// against all customers:
/// - Recent: median days since the last purchase at most half all customers', at most 10% lapsed,
///   and not Likely Lapsed.
/// - Lapsed: at least 90% lapsed, or a majority lapsed and 20 points more than all customers.
/// - One-Time: at least 90% bought once.
/// - Infrequent: a majority bought once and 20 points more than all customers, or a median number
///   of purchases at most half all customers' (when theirs is 2 or more).
/// - Frequent: a median number of purchases of 2 or more and at least 1.5x all customers', and at
///   most 10% bought once.
/// - High-Value: median spend at least 1.5x all customers' and a revenue share at least 1.25x the
///   customer share; Low-Value: median spend at most 1/1.5 of theirs and a revenue share at most
///   0.8x the customer share.
/// - Large-Basket / Small-Basket: median spend per purchase at least 1.5x / at most 1/1.5 of theirs.
/// - At Risk: lapsed and (high-value or frequent). Champions: recent, frequent and high-value, first
///   of all segments on the three medians, and at most a quarter of the customers.
/// With no claim, a segment is "Mid-Range Buyers" only when nothing differs from all customers by
/// those margins (lapsed or one-time share 20 points apart, a median or the revenue index 1.5x);
/// otherwise "Mixed-Profile Buyers", and its description names each difference.
/// - Likely Lapsed (with a customer-value model): most customers have a P(alive) under 0.5 by the
///   BG/NBD purchase model, though recency alone does not make them Lapsed; named whatever the
///   refits say (it rests on each customer's own history, not on where the segment's edges fall),
///   and it makes a high-value or frequent segment At Risk.
/// Dominant facts are never left out: 90% or more lapsed puts Lapsed (or At Risk) in the name,
/// 90% or more one-time puts One-Time in it, and every description says the segment's share of
/// customers and of revenue and its one-time and lapsed shares beside all customers', and, with
/// a customer-value model, its mean P(alive), expected purchases and value, and value at risk.
struct RFMClaims {
    let facts: SegmentFacts
    /// Champions' name claims recency, frequency and value only (for per-customer checks).
    var onlyChampionClaims = false
    /// Words left out because refits do not steadily meet them (dominant facts are never among them).
    let unsteady: Set<String>

    init(facts: SegmentFacts, steadyOnly: Bool = true) {
        self.facts = facts
        unsteady = steadyOnly ? Set((facts.unsteadyClaims ?? []).map(\.word)) : []
    }

    /// The rules alone, before steadiness (stability compares refits by these).
    static func rawWords(_ facts: SegmentFacts) -> Set<String> {
        let claims = RFMClaims(facts: facts, steadyOnly: false)
        return Set(Fact.allCases.filter(claims.holds).map(\.word))
    }

    static let dominantShare = 0.9
    static let clearRatio = 1.5
    static let clearPoints = 0.2

    private var lapsedRule: Bool {
        facts.lapsedShare >= Self.dominantShare
            || (facts.lapsedShare > 0.5
                && facts.lapsedShare - facts.populationLapsedShare >= Self.clearPoints)
    }
    private var recentRule: Bool {
        !lapsedRule && !likelyLapsed && facts.medianRecencyRatio <= 0.5 && facts.lapsedShare <= 0.1
    }
    private var oneTimeRule: Bool { facts.oneTimeShare >= Self.dominantShare }
    private var infrequentRule: Bool {
        !oneTimeRule
            && ((facts.oneTimeShare > 0.5
                && facts.oneTimeShare - facts.populationOneTimeShare >= Self.clearPoints)
                || (facts.populationMedianFrequency >= 2 && facts.medianFrequencyRatio <= 0.5))
    }
    private var frequentRule: Bool {
        facts.medianFrequency >= 2 && facts.medianFrequencyRatio >= Self.clearRatio
            && facts.oneTimeShare <= 0.1
    }
    private var highValueRule: Bool {
        facts.medianSpendRatio >= Self.clearRatio && facts.revenueIndex >= 1.25
    }
    private var lowValueRule: Bool {
        facts.medianSpendRatio <= 1 / Self.clearRatio && facts.revenueIndex <= 0.8
    }
    private var largeBasketsRule: Bool { facts.medianBasketRatio >= Self.clearRatio }
    private var smallBasketsRule: Bool { facts.medianBasketRatio <= 1 / Self.clearRatio }

    /// Whether a fact's rule holds (before steadiness).
    func holds(_ fact: Fact) -> Bool {
        switch fact {
        case .recent: recentRule
        case .lapsed: lapsedRule
        case .oneTime: oneTimeRule
        case .infrequent: infrequentRule
        case .frequent: frequentRule
        case .highValue: highValueRule
        case .lowValue: lowValueRule
        case .largeBaskets: largeBasketsRule
        case .smallBaskets: smallBasketsRule
        }
    }

    /// Claimed: the rule holds and the claim is steady.
    private func claimed(_ fact: Fact) -> Bool { holds(fact) && !unsteady.contains(fact.word) }

    var lapsed: Bool { claimed(.lapsed) }
    var recent: Bool { claimed(.recent) }
    var oneTime: Bool { claimed(.oneTime) }
    var infrequent: Bool { claimed(.infrequent) }
    var frequent: Bool { claimed(.frequent) }
    var highValue: Bool { claimed(.highValue) }
    var lowValue: Bool { claimed(.lowValue) }
    var largeBaskets: Bool { claimed(.largeBaskets) }
    var smallBaskets: Bool { claimed(.smallBaskets) }
    /// Most customers have probably stopped buying by the purchase model (P(alive) < 0.5).
    var likelyLapsed: Bool { (facts.value?.shareLikelyLapsed ?? 0) > 0.5 }
    var atRisk: Bool { (lapsed || likelyLapsed) && (highValue || frequent) }
    /// Most customers lapsed (by recency or by the purchase model), whether or not all customers
    /// are too: win-back comes first.
    var mostlyLapsed: Bool { facts.lapsedShare > 0.5 || likelyLapsed }
    /// Most customers bought once: second-purchase programmes fit (not merely fewer purchases).
    var buysOnce: Bool { oneTime || (infrequent && facts.oneTimeShare > 0.5) }

    /// Facts that differ from all customers' without clearing a claim's threshold: a segment with
    /// any of these is no "Mid-Range", and its description says them.
    var apart: [String] {
        let f = facts, pct = SegmentLabeler.factPercent
        var differences: [String] = []
        func ratio(_ value: Double) -> Bool {
            value >= Self.clearRatio || value <= 1 / Self.clearRatio
        }
        if abs(f.lapsedShare - f.populationLapsedShare) >= Self.clearPoints {
            differences.append(
                "\(pct(f.lapsedShare)) have not bought for over \(SegmentLabeler.days(Double(f.lapseDays))) against "
                    + "\(pct(f.populationLapsedShare)) of all customers")
        }
        if abs(f.oneTimeShare - f.populationOneTimeShare) >= Self.clearPoints {
            differences.append(
                "\(pct(f.oneTimeShare)) bought once against \(pct(f.populationOneTimeShare)) of all customers"
            )
        }
        if ratio(f.revenueIndex) {
            differences.append(
                "they bring \(pct(f.revenueShare)) of revenue from \(pct(f.customerShare)) of customers"
            )
        }
        if ratio(f.medianSpendRatio) {
            differences.append(
                "median spend \(SegmentLabeler.amount(f.medianSpend)) against \(SegmentLabeler.amount(f.populationMedianSpend)) for all customers"
            )
        }
        if ratio(f.medianFrequencyRatio) {
            differences.append(
                "median \(SegmentLabeler.count(f.medianFrequency, "purchase")) against \(SegmentLabeler.count(f.populationMedianFrequency, "purchase")) for all customers"
            )
        }
        if ratio(f.medianBasketRatio) {
            differences.append(
                "median spend per purchase \(SegmentLabeler.amount(f.medianBasket)) against \(SegmentLabeler.amount(f.populationMedianBasket)) for all customers"
            )
        }
        if ratio(f.medianRecencyRatio) {
            differences.append(
                "median \(SegmentLabeler.days(f.medianRecency)) since the last purchase against \(SegmentLabeler.days(f.populationMedianRecency)) for all customers"
            )
        }
        return differences
    }
    var anyClaim: Bool {
        lapsed || recent || oneTime || infrequent || frequent || highValue || lowValue
            || largeBaskets || smallBaskets
    }

    /// How far a ratio is from 1, in halvings or doublings (1.5x: 0.58, 4x: 2).
    private static func strength(ratio: Double) -> Double {
        ratio.isFinite && ratio > 0 ? abs(log2(ratio)) : 3
    }

    /// The claimed facts, strongest first: a dominant share counts beyond any ratio.
    var ranked: [Fact] {
        var facts: [(Fact, Double)] = []
        let f = self.facts
        if lapsed {
            facts.append(
                (
                    .lapsed,
                    f.lapsedShare - f.populationLapsedShare
                        + (f.lapsedShare >= Self.dominantShare ? 2 : 0)
                ))
        }
        if recent { facts.append((.recent, Self.strength(ratio: f.medianRecencyRatio))) }
        if oneTime { facts.append((.oneTime, 2 + f.oneTimeShare - f.populationOneTimeShare)) }
        if infrequent {
            facts.append(
                (
                    .infrequent,
                    max(
                        f.oneTimeShare - f.populationOneTimeShare,
                        Self.strength(ratio: f.medianFrequencyRatio))
                ))
        }
        if frequent { facts.append((.frequent, Self.strength(ratio: f.medianFrequencyRatio))) }
        if highValue || lowValue {
            facts.append(
                (
                    highValue ? .highValue : .lowValue,
                    max(
                        Self.strength(ratio: f.medianSpendRatio),
                        Self.strength(ratio: f.revenueIndex))
                ))
        }
        if largeBaskets || smallBaskets {
            facts.append(
                (
                    largeBaskets ? .largeBaskets : .smallBaskets,
                    Self.strength(ratio: f.medianBasketRatio)
                ))
        }
        return facts.sorted { $0.1 > $1.1 }.map(\.0)
    }

    enum Fact: CaseIterable {
        case recent, lapsed, oneTime, infrequent, frequent, highValue, lowValue, largeBaskets,
            smallBaskets

        /// The word a name uses for it.
        var word: String {
            switch self {
            case .recent: "Recent"
            case .lapsed: "Lapsed"
            case .oneTime: "One-Time"
            case .infrequent: "Infrequent"
            case .frequent: "Frequent"
            case .highValue: "High-Value"
            case .lowValue: "Low-Value"
            case .largeBaskets: "Large-Basket"
            case .smallBaskets: "Small-Basket"
            }
        }

        /// Dominant facts are named whatever the refits say.
        func isDominant(_ facts: SegmentFacts) -> Bool {
            (self == .lapsed && facts.lapsedShare >= RFMClaims.dominantShare) || self == .oneTime
        }
    }
}

/// Names, descriptions and actions of transactions segments, from their facts.
enum RFMWording {
    static func label(_ claims: RFMClaims, isChampion: Bool) -> SegmentLabel {
        let f = claims.facts
        if isChampion {
            return SegmentLabel(
                name: "Champions",
                description:
                    "Bought most recently, buy most often and spend the most of all segments (medians "
                    + "\(SegmentLabeler.days(f.medianRecency)) ago, \(SegmentLabeler.count(f.medianFrequency, "purchase")) and "
                    + "\(SegmentLabeler.amount(f.medianSpend)) in total). " + factsSentence(f)
                    + valueSentence(f),
                actions: [
                    "VIP programme with early access and exclusive offers",
                    "Ask for reviews and referrals",
                    "Reward with exclusivity rather than blanket discounts",
                ])
        }
        let ranked = claims.ranked
        let unsteady = (f.unsteadyClaims ?? []).filter { u in
            RFMClaims.Fact.allCases.contains { $0.word == u.word && claims.holds($0) }
        }
        let unsteadyText = SegmentLabeler.nearThresholdText(unsteady)
        let opening: String
        let likelyLapsed = claims.likelyLapsed && !claims.lapsed ? [likelyLapsedClause(f)] : []
        if !ranked.isEmpty || !likelyLapsed.isEmpty {
            opening = SegmentLabeler.sentence(likelyLapsed + ranked.map { clause($0, f) })
        } else if !unsteady.isEmpty {
            opening = "No claim holds steadily."
        } else if claims.apart.isEmpty {
            opening =
                "No measure stands clearly apart from all customers (every median within 1.5x of theirs, revenue within 1.5x "
                + "of the headcount's share, and no share 20 points from theirs)."
        } else {
            opening = "No claim's threshold is met, but " + SegmentLabeler.list(claims.apart) + "."
        }
        let description = opening + unsteadyText + " " + factsSentence(f) + valueSentence(f)
        return SegmentLabel(name: name(claims), description: description, actions: actions(claims))
    }

    /// Words in a fixed order (recency, value, frequency, basket) so names read alike across models.
    static func name(_ claims: RFMClaims) -> String {
        var words: [String] = []
        if claims.atRisk {
            words.append("At Risk")
        } else if claims.lapsed {
            words.append("Lapsed")
        } else if claims.likelyLapsed {
            words.append("Likely Lapsed")
        } else if claims.recent {
            words.append("Recent")
        }
        if claims.highValue {
            words.append("High-Value")
        } else if claims.lowValue {
            words.append("Low-Value")
        }
        if claims.oneTime {
            words.append("One-Time")
        } else if claims.frequent {
            words.append("Frequent")
        } else if claims.infrequent {
            words.append("Infrequent")
        }
        if claims.largeBaskets {
            words.append("Large-Basket")
        } else if claims.smallBaskets {
            words.append("Small-Basket")
        }
        if words.isEmpty {
            return claims.apart.isEmpty ? "Mid-Range Buyers" : "Mixed-Profile Buyers"
        }
        return words.joined(separator: ", ") + " Buyers"
    }

    static func clause(_ fact: RFMClaims.Fact, _ f: SegmentFacts) -> String {
        let all = "for all customers"
        let days = SegmentLabeler.days, amount = SegmentLabeler.amount,
            percent = SegmentLabeler.factPercent
        let purchases = { (value: Double) in SegmentLabeler.count(value, "purchase") }
        switch fact {
        case .recent:
            return
                "bought recently (median \(days(f.medianRecency)) ago against \(days(f.populationMedianRecency)) \(all))"
        case .lapsed:
            return
                "have not bought for a long time (\(percent(f.lapsedShare)) not for over \(days(Double(f.lapseDays))), "
                + "against \(percent(f.populationLapsedShare)) of all customers; median \(days(f.medianRecency)) since the last purchase)"
        case .oneTime:
            return
                "bought only once (\(percent(f.oneTimeShare)) of them, against \(percent(f.populationOneTimeShare)) of all customers)"
        case .infrequent:
            return
                "buy rarely (median \(purchases(f.medianFrequency)) against \(purchases(f.populationMedianFrequency)) \(all); "
                + "\(percent(f.oneTimeShare)) bought once)"
        case .frequent:
            return
                "buy often (median \(purchases(f.medianFrequency)) against \(purchases(f.populationMedianFrequency)) \(all))"
        case .highValue:
            return
                "spend a lot in total (median \(amount(f.medianSpend)) against \(amount(f.populationMedianSpend)) \(all))"
        case .lowValue:
            return
                "spend little in total (median \(amount(f.medianSpend)) against \(amount(f.populationMedianSpend)) \(all))"
        case .largeBaskets:
            return
                "place large orders (median \(amount(f.medianBasket)) per purchase against \(amount(f.populationMedianBasket)) \(all))"
        case .smallBaskets:
            return
                "place small orders (median \(amount(f.medianBasket)) per purchase against \(amount(f.populationMedianBasket)) \(all))"
        }
    }

    /// The facts every description states, claimed or not, so none that dominates is left out.
    static func factsSentence(_ f: SegmentFacts) -> String {
        let percent = SegmentLabeler.factPercent
        return
            "\(percent(f.customerShare)) of customers bring \(percent(f.revenueShare)) of revenue; "
            + "\(percent(f.oneTimeShare)) bought once and \(percent(f.lapsedShare)) have not bought for over "
            + "\(SegmentLabeler.days(Double(f.lapseDays))) (all customers: \(percent(f.populationOneTimeShare)) and "
            + "\(percent(f.populationLapsedShare)))."
    }

    /// "have most likely stopped buying (63% with P(alive) under 0.5 ...)".
    static func likelyLapsedClause(_ f: SegmentFacts) -> String {
        let value = f.value!
        return
            "have most likely stopped buying (\(SegmentLabeler.factPercent(value.shareLikelyLapsed)) with a probability "
            + "of still buying, P(alive), under 0.5 by the purchase model, though \(SegmentLabeler.factPercent(f.lapsedShare)) "
            + "have not bought for over \(SegmentLabeler.days(Double(f.lapseDays))))"
    }

    /// What the customer-value model says of the segment, "" without one: mean P(alive), the
    /// share likely lapsed, expected purchases and revenue, lifetime value and value at risk.
    static func valueSentence(_ f: SegmentFacts) -> String {
        guard let v = f.value else { return "" }
        let amount = SegmentLabeler.amount, percent = SegmentLabeler.factPercent
        var text =
            " By the purchase model (BG/NBD), their mean probability of still buying is "
            + String(format: "%.2f", v.meanProbabilityAlive)
            + " and \(percent(v.shareLikelyLapsed)) are likely lapsed (P(alive) under 0.5)"
        if let dropout = v.dropoutProbability, dropout < CustomerValueModel.negligibleDropout {
            text +=
                ", but the model finds almost no dropout in this data (a customer stops after a purchase with probability "
                + String(format: "%.2g", dropout)
                + "), so its P(alive) cannot single out lapsed customers"
        }
        if f.oneTimeShare >= 0.5 {
            text +=
                "; one-time buyers count as alive, as the model sees no dropout before a repeat purchase"
        }
        text +=
            "; they are expected to make \(amount(v.expectedPurchases)) purchases in the next \(SegmentLabeler.days(Double(v.purchaseHorizonDays)))"
        if let revenue = v.expectedRevenue, let lifetime = v.lifetimeValue,
            let risk = v.valueAtRisk
        {
            text +=
                " worth \(amount(revenue)); their \(v.valueHorizonDays)-day value is \(amount(lifetime)), "
                + (risk > 0 ? "\(amount(risk))" : "none") + " of it from customers likely lapsed"
        }
        return text + "."
    }

    /// Actions for the claims, what the strongest fact calls for first: a mostly lapsed segment
    /// is won back before anything else is tried.
    static func actions(_ c: RFMClaims) -> [String] {
        var actions: [String] = []
        if c.atRisk {
            actions += [
                "Personalised win-back campaign", "Reach out directly with a time-limited offer",
                "Survey why they stopped buying",
            ]
        } else if c.mostlyLapsed && !c.highValue {
            actions += [
                "Low-cost automated reactivation emails", "Cut paid marketing spend on this group",
            ]
        } else if c.mostlyLapsed {
            actions += [
                "Reminder campaign with recommendations from past purchases",
                "Time-limited comeback discount",
            ]
        }
        if !c.mostlyLapsed {
            if c.frequent && c.highValue {
                actions += ["Loyalty programme rewards", "Upsell premium products"]
            }
            if c.highValue && c.buysOnce {
                actions += [
                    "Exclusive offers to bring them back sooner", "Replenishment reminders",
                ]
            }
            if c.frequent && (c.lowValue || c.smallBaskets) {
                actions += [
                    "Cross-sell and upsell", "Bundles and volume discounts to grow basket size",
                ]
            }
            if c.frequent && !c.highValue && !c.lowValue && !c.smallBaskets {
                actions += [
                    "Reward their engagement with loyalty perks",
                    "Cross-sell into categories they have not bought",
                ]
            }
            if c.recent && c.buysOnce {
                actions += ["Onboarding and welcome series", "Second-purchase incentive"]
            }
            if !c.recent && c.buysOnce { actions.append("Second-purchase incentive") }
            if c.recent && !c.buysOnce {
                actions.append("Recommendations based on the latest purchase")
            }
            if c.largeBaskets { actions.append("Bundles around their big purchases") }
            if c.lowValue && !c.frequent { actions.append("Entry-level offers and bundles") }
            if !c.recent && !c.frequent && !c.buysOnce {
                actions.append("Nurture toward more frequent purchases")
            }
        }
        if actions.isEmpty {
            actions = [
                "Regular newsletter and seasonal promotions",
                "Nurture toward more frequent purchases",
            ]
        }
        return actions.uniqued()
    }
}
