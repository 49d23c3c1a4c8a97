import Foundation

/// A fact a segment's generated name claims (`RFMClaims`, or a customer-table standout) that one
/// customer can contradict on its own raw value: a lapsed customer in a "Recent" segment, a
/// one-time buyer among "Frequent" ones, a small spender among "High-Value" ones. Scoring flags
/// such a customer `atypical` with the fact, beside the distance-based outlier flag.
struct AtypicalCheck: Sendable {
    /// Position of the raw value in the model's features.
    var feature: Int
    var contradicts: @Sendable (Double) -> Bool
    var describe: @Sendable (Double) -> String
}

extension SegmentationModel {
    /// Per segment (in segment order), the checks its claims allow with the model's features.
    /// Only what the generated name claims: Champions claim recent, frequent and high-value; the
    /// Outliers claim nothing; a customer table's name, its first two standout clustering columns
    /// (never a sensitive one).
    func atypicalChecks() -> [[AtypicalCheck]] {
        let features = pipeline.features
        let sensitive = customerEncoder?.sensitiveFeatureNames ?? []
        return segments.enumerated().map { index, segment in
            if index == density?.outlierSegment { return [] }
            if let facts = segment.profile.facts {
                return Self.rfmChecks(
                    facts, features: features, championsOnly: segment.generatedName == "Champions")
            }
            return Self.columnChecks(segment.profile, features: features, excluded: sensitive)
        }
    }

    private static func rfmChecks(
        _ f: SegmentFacts, features: [String], championsOnly: Bool
    ) -> [AtypicalCheck] {
        var claims = RFMClaims(facts: f)
        if championsOnly { claims.onlyChampionClaims = true }
        var checks: [AtypicalCheck] = []
        func add(
            _ feature: String, _ contradicts: @escaping @Sendable (Double) -> Bool,
            _ describe: @escaping @Sendable (Double) -> String
        ) {
            if let index = features.firstIndex(of: feature) {
                checks.append(
                    AtypicalCheck(feature: index, contradicts: contradicts, describe: describe))
            }
        }
        let lapse = Double(f.lapseDays)
        let days = SegmentLabeler.days, amount = SegmentLabeler.amount
        if claims.recent {
            add(
                "recency", { $0 > lapse },
                {
                    "lapsed: last purchase \(days($0)) ago (over \(days(lapse))) in a segment of recent buyers"
                })
        }
        if claims.lapsed && !claims.onlyChampionClaims {
            add(
                "recency", { $0 <= lapse },
                { "active: last purchase \(days($0)) ago in a segment of lapsed buyers" })
        }
        if claims.oneTime && !claims.onlyChampionClaims {
            add(
                "frequency", { $0 >= 2 },
                {
                    "repeat buyer: \(SegmentLabeler.count($0, "purchase")) in a segment of one-time buyers"
                })
        }
        if claims.frequent {
            add("frequency", { $0 <= 1 }, { _ in "one-time buyer in a segment of frequent buyers" })
        }
        if claims.infrequent && !claims.onlyChampionClaims {
            let many = max(3, 2 * f.populationMedianFrequency)
            add(
                "frequency", { $0 >= many },
                {
                    "frequent buyer: \(SegmentLabeler.count($0, "purchase")) in a segment of infrequent buyers"
                })
        }
        let spend = f.populationMedianSpend, basket = f.populationMedianBasket
        if claims.highValue {
            add(
                "monetary", { $0 < spend },
                {
                    "low spend: \(amount($0)), below all customers' median \(amount(spend)), in a high-value segment"
                })
        }
        if claims.lowValue && !claims.onlyChampionClaims {
            add(
                "monetary", { $0 > spend },
                {
                    "high spend: \(amount($0)), above all customers' median \(amount(spend)), in a low-value segment"
                })
        }
        if claims.largeBaskets && !claims.onlyChampionClaims {
            add(
                "avg_order_value", { $0 < basket },
                {
                    "small orders: \(amount($0)) per purchase, below all customers' median \(amount(basket)), in a large-basket segment"
                })
        }
        if claims.smallBaskets && !claims.onlyChampionClaims {
            add(
                "avg_order_value", { $0 > basket },
                {
                    "large orders: \(amount($0)) per purchase, above all customers' median \(amount(basket)), in a small-basket segment"
                })
        }
        return checks
    }

    /// Customer tables: each standout column the name states ("High Balance"), contradicted by a
    /// value on the other side of all customers' median.
    private static func columnChecks(
        _ profile: SegmentProfile, features: [String], excluded: Set<String>
    ) -> [AtypicalCheck] {
        let clustering = profile.features.filter {
            features.contains($0.feature) && !excluded.contains($0.feature)
        }
        let unsteady = Set((profile.unsteadyColumns ?? []).map(\.word))
        return SegmentLabeler.standouts(clustering).filter {
            !unsteady.contains(SegmentLabeler.namePart($0))
        }.prefix(2).compactMap { summary in
            guard !SegmentLabeler.isIndicator(summary.feature),
                let median = summary.populationMedian,
                let index = features.firstIndex(of: summary.feature)
            else { return nil }
            let high = summary.zScore > 0
            let name = SegmentLabeler.displayName(summary.feature)
            return AtypicalCheck(
                feature: index, contradicts: { high ? $0 < median : $0 > median },
                describe: {
                    "\(name) \(SegmentLabeler.amount($0)) is \(high ? "below" : "above") all customers' median "
                        + "\(SegmentLabeler.amount(median)) in a \(high ? "High" : "Low") \(name) segment"
                })
        }
    }
}
