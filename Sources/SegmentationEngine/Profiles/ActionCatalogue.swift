import Foundation

/// Marketing actions for a column that stands clearly above or below average, by the column
/// family its name belongs to: credit-card usage (balance, purchases, instalments, cash advance,
/// credit limit, payments, tenure), retail profiles (income, spending score), generic
/// activity and spend. Only non-sensitive columns ever reach it, and no rule acts on a
/// sensitive attribute (age among them) even when a user opted in to cluster on one.
enum ActionCatalogue {
    struct Rule {
        /// Lowercased fragments of which the column name must contain one.
        var matches: [String]
        var high: String
        var low: String
    }

    /// First match wins, so specific families come before generic words ("installments_purchases"
    /// is an instalment column before it is a purchase column).
    static let rules: [Rule] = [
        Rule(
            matches: ["installment", "instalment"],
            high: "Promote instalment plans and partner-merchant offers",
            low: "Introduce instalment options for larger purchases"),
        Rule(
            matches: ["cash_advance", "cashadvance", "cash advance"],
            high:
                "Offer a lower-cost alternative to cash advances (personal loan or balance transfer)",
            low: "Focus on purchase rewards rather than cash advances"),
        Rule(
            matches: ["credit_limit", "creditlimit", "credit limit", "limit"],
            high: "Premium card upgrade and concierge perks",
            low: "Offer a credit-limit review"),
        Rule(
            matches: ["prc_full_payment", "full_payment"],
            high: "Reward full payers: fee waivers and loyalty points",
            low: "Payment reminders and autopay enrolment"),
        Rule(
            matches: ["minimum_payment"],
            high: "Check affordability and offer balance-management tools",
            low: "Encourage paying more than the minimum with interest-saving tips"),
        Rule(
            matches: ["payment"], high: "Reward on-time payers with loyalty points",
            low: "Payment reminders and autopay enrolment"),
        Rule(
            matches: ["balance"], high: "Balance-management tools and payment reminders",
            low: "Encourage card usage with targeted offers"),
        Rule(
            matches: ["spending_score", "spending score", "spendingscore"],
            high: "Loyalty perks and early access to new collections",
            low: "Targeted incentives to raise spending"),
        Rule(
            matches: ["income", "salary"], high: "Premium product lines",
            low: "Value lines and bundles"),
        Rule(
            matches: [
                "oneoff", "one_off", "purchase", "spend", "amount", "monetary", "value", "revenue",
            ],
            high: "Spend-based rewards and a premium tier",
            low: "Activation offers: bonus rewards on the next purchases"),
        Rule(
            matches: ["frequency", "count", "visit", "trx", "orders", "transactions", "sessions"],
            high: "Reward engagement with loyalty perks",
            low: "Re-engagement campaign to raise activity"),
        Rule(
            matches: ["tenure", "months", "years_with", "since"],
            high: "Recognise long-standing customers",
            low: "Onboarding and early-life engagement"),
    ]

    /// The action for one standout column; nil for a column of no family we know (we would
    /// rather say nothing than invent a programme).
    static func actions(for summary: FeatureSummary) -> [String] {
        guard SegmentLabeler.Level(summary) == .high || SegmentLabeler.Level(summary) == .low else {
            return []
        }
        let name = summary.feature.lowercased()
        let tokens = Set(name.split { !$0.isLetter && !$0.isNumber }.map(String.init))
        // Short fragments ("age", "trx") must be whole words: "usage" is no age.
        let matches = { (fragment: String) in
            fragment.count >= 5 ? name.contains(fragment) : tokens.contains(fragment)
        }
        guard let rule = rules.first(where: { $0.matches.contains(where: matches) }) else {
            return []
        }
        return [summary.zScore > 0 ? rule.high : rule.low]
    }
}
