import Foundation
@testable import SegmentationEngine

/// Reads a segment's name and description as a marketer would and checks every claim against
/// the profile's numbers. Written apart from the labeler: each word or phrase is mapped to what
/// it asserts, with the thresholds the README documents (high/low: |z| >= 0.5; about average and
/// Balanced: |z| < 0.25; Champions: recent, frequent and high-value, first on all three, <= 25%).
struct ClaimChecker {
    var profiles: [SegmentProfile]
    var clustering: [String]
    var sensitive: Set<String> = []

    func z(_ index: Int, _ feature: String) -> Double? { profiles[index].summary(of: feature)?.zScore }

    /// A high or low claim's typical value (median; mean for 0/1 columns) lies on the same side
    /// of all customers' as the claim says (true when the profile kept no population figure).
    func typicalAgrees(_ index: Int, _ feature: String?, high: Bool) -> Bool {
        guard let feature, let summary = profiles[index].summary(of: feature) else { return true }
        let indicator = feature.contains("=")
        guard let reference = indicator ? summary.populationMean : summary.populationMedian else { return true }
        let typical = indicator ? summary.mean : summary.median
        return high ? typical > reference : typical < reference
    }

    /// Every claim of the label that its numbers do not back, in words (empty: all true).
    func violations(_ label: SegmentLabel, index: Int) -> [String] {
        var problems: [String] = []
        func require(_ condition: Bool, _ claim: String) { if !condition { problems.append("'\(label.name)': \(claim)") } }
        let r = z(index, "recency"), f = z(index, "frequency")
        let m = z(index, "monetary") ?? z(index, "avg_order_value")
        let b = z(index, "monetary") != nil ? z(index, "avg_order_value") : nil
        let valueFeature = z(index, "monetary") != nil ? "monetary" : "avg_order_value"
        let medianChecks: [(String, String?, Bool)] = [
            ("Recent", "recency", false), ("Lapsed", "recency", true), ("High-Value", valueFeature, true), ("Low-Value", valueFeature, false),
            ("Frequent", "frequency", true), ("Infrequent", "frequency", false),
            ("Large-Basket", b != nil ? "avg_order_value" : nil, true), ("Small-Basket", b != nil ? "avg_order_value" : nil, false),
        ]
        let words = label.name.replacingOccurrences(of: "(", with: ", ").replacingOccurrences(of: ")", with: "")
            .components(separatedBy: ", ").map { $0.trimmingCharacters(in: .whitespaces) }
        let base = words.first ?? ""
        for word in words {
            for (claim, feature, high) in medianChecks where word == claim || word == claim + " Buyers" {
                require(typicalAgrees(index, feature, high: high), "\(word): the median must lie on the claimed side of all customers'")
            }
            switch word {
            case "Champions":
                guard let r, let f, let m else { problems.append("Champions without RFM"); continue }
                require(r <= -0.5 && f >= 0.5 && m >= 0.5, "Champions must be recent, frequent and high-value")
                require(profiles[index].customerShare <= 0.25, "Champions must be a minority (<= 25%)")
                for other in profiles.indices {
                    require(r <= z(other, "recency")! && f >= z(other, "frequency")! && m >= (z(other, "monetary") ?? z(other, "avg_order_value"))!,
                            "Champions must lead segment \(other) on recency, frequency and spend")
                }
            case "At Risk": require((r ?? 0) >= 0.5 && ((m ?? 0) >= 0.5 || (f ?? 0) >= 0.5), "At Risk needs lapsed and (high-value or frequent)")
            case "Recent", "Recent Buyers": require((r ?? 0) <= -0.5, "Recent needs recency z <= -0.5")
            case "Lapsed", "Lapsed Buyers": require((r ?? 0) >= 0.5, "Lapsed needs recency z >= 0.5")
            case "High-Value", "High-Value Buyers": require((m ?? 0) >= 0.5, "High-Value needs spend z >= 0.5")
            case "Low-Value", "Low-Value Buyers": require((m ?? 0) <= -0.5, "Low-Value needs spend z <= -0.5")
            case "Frequent", "Frequent Buyers": require((f ?? 0) >= 0.5, "Frequent needs frequency z >= 0.5")
            case "Infrequent", "Infrequent Buyers": require((f ?? 0) <= -0.5, "Infrequent needs frequency z <= -0.5")
            case "Large-Basket", "Large-Basket Buyers": require((b ?? 0) >= 0.5, "Large-Basket needs order value z >= 0.5")
            case "Small-Basket", "Small-Basket Buyers": require((b ?? 0) <= -0.5, "Small-Basket needs order value z <= -0.5")
            case "Balanced":
                require(clustering.allSatisfy { abs(z(index, $0) ?? 0) < 0.25 }, "Balanced needs every clustering |z| < 0.25")
            case "Mid-Range", "Mid-Range Buyers":
                require(clustering.allSatisfy { abs(z(index, $0) ?? 0) < 0.5 }, "Mid-Range needs every clustering |z| < 0.5")
            case "Mixed Profile", "Mixed-Profile Buyers":
                // No feature both far from average and with its typical value on the same side.
                require(clustering.allSatisfy { feature in
                    let value = z(index, feature) ?? 0
                    return abs(value) < 0.5 || !typicalAgrees(index, feature, high: value > 0)
                }, "Mixed Profile needs no clear standout")
            default:
                if let relative = relativeClaim(word) {
                    // "(More Recent)": this segment against another that shares its base name.
                    let twins = profiles.indices.filter { $0 != index }
                    let holds = twins.contains { other in
                        guard let mine = z(index, relative.feature), let theirs = z(other, relative.feature) else { return false }
                        return relative.higher ? mine - theirs >= 0.25 : theirs - mine >= 0.25
                    }
                    require(holds, "\(word) needs another segment with the same base name '\(base)' lower/higher by 0.25")
                } else if let generic = genericClaim(word) {
                    let value = z(index, generic.feature)
                    require(value.map { generic.high ? $0 >= 0.5 : $0 <= -0.5 } ?? false, "\(word) needs |z| >= 0.5 in that direction")
                    require(typicalAgrees(index, generic.feature, high: generic.high), "\(word): the typical value must agree")
                    require(!sensitive.contains(generic.feature), "\(word) names a sensitive attribute")
                } else if Int(word.split(separator: " ").last ?? "") == nil {
                    problems.append("'\(label.name)': unknown word '\(word)'")
                }
            }
        }
        problems += descriptionViolations(label, index: index, r: r, f: f, m: m, b: b)
        require(Set(label.actions).count == label.actions.count, "actions are unique")
        require(!label.actions.isEmpty, "has actions")
        for attribute in sensitive {
            let needle = SegmentLabeler.displayName(attribute).lowercased()
            require(!label.name.lowercased().contains(needle) && !label.actions.joined().lowercased().contains(needle),
                    "names or acts on the sensitive attribute \(attribute)")
        }
        return problems
    }

    private func descriptionViolations(_ label: SegmentLabel, index: Int, r: Double?, f: Double?, m: Double?, b: Double?) -> [String] {
        var problems: [String] = []
        let text = label.description.lowercased()
        // Clauses start after a comma, "and", a full stop or a semicolon.
        let clauses = text.replacingOccurrences(of: " and ", with: ", ").replacingOccurrences(of: ". ", with: ", ")
            .replacingOccurrences(of: "; ", with: ", ").components(separatedBy: ", ").map { $0.trimmingCharacters(in: .whitespaces) }
        func claim(_ phrase: String, _ condition: Bool) {
            if clauses.contains(where: { $0.hasPrefix(phrase) }) && !condition {
                problems.append("'\(label.name)' description: '\(phrase)' is false")
            }
        }
        claim("bought recently", (r ?? 0) <= -0.5 && typicalAgrees(index, "recency", high: false))
        claim("have not bought for a long time", (r ?? 0) >= 0.5 && typicalAgrees(index, "recency", high: true))
        claim("buy often", (f ?? 0) >= 0.5 && typicalAgrees(index, "frequency", high: true))
        claim("buy rarely", (f ?? 0) <= -0.5 && typicalAgrees(index, "frequency", high: false))
        claim("spend a lot", (m ?? 0) >= 0.5)
        claim("spend little", (m ?? 0) <= -0.5)
        claim("place large orders", (b ?? 0) >= 0.5)
        claim("place small orders", (b ?? 0) <= -0.5)
        if text.contains("most of all segments") && label.name != "Champions" { problems.append("'most of all segments' outside Champions") }
        for summary in profiles[index].features {
            let shown = SegmentLabeler.displayName(summary.feature).lowercased()
            for verb in ["is", "are"] {
                claim("\(shown) \(verb) high", summary.zScore >= 0.5 && typicalAgrees(index, summary.feature, high: true))
                claim("\(shown) \(verb) low", summary.zScore <= -0.5 && typicalAgrees(index, summary.feature, high: false))
            }
            claim("\(shown) is more common", summary.zScore >= 0.5)
            claim("\(shown) is less common", summary.zScore <= -0.5)
        }
        if let range = text.range(of: "about average on ") {
            let list = text[range.upperBound...].prefix { $0 != "." }
            let names = list.replacingOccurrences(of: " and ", with: ", ").components(separatedBy: ", ")
            for name in names {
                let feature = clustering.first { SegmentLabeler.displayName($0).lowercased() == name }
                if let feature { claim("about average on", abs(z(index, feature) ?? 9) < 0.25) } else {
                    problems.append("'\(label.name)' description: about average on unknown '\(name)'")
                }
            }
        }
        return problems
    }

    private func relativeClaim(_ word: String) -> (feature: String, higher: Bool)? {
        let table: [String: (String, Bool)] = [
            "More Recent": ("recency", false), "Less Recent": ("recency", true),
            "More Frequent": ("frequency", true), "Less Frequent": ("frequency", false),
            "Higher Spend": ("monetary", true), "Lower Spend": ("monetary", false),
            "Larger Orders": ("avg_order_value", true), "Smaller Orders": ("avg_order_value", false),
        ]
        if let hit = table[word] { return (hit.0, hit.1) }
        for feature in clustering {
            if word == "Higher " + SegmentLabeler.displayName(feature) { return (feature, true) }
            if word == "Lower " + SegmentLabeler.displayName(feature) { return (feature, false) }
        }
        return nil
    }

    private func genericClaim(_ word: String) -> (feature: String, high: Bool)? {
        let features = profiles.first?.features.map(\.feature) ?? []
        for feature in features {
            let shown = SegmentLabeler.displayName(feature)
            for (prefix, high) in [("High ", true), ("Low ", false), ("More ", true), ("Less ", false)]
            where word == prefix + shown || word == prefix + shown + " Buyers" {
                return (feature, high)
            }
        }
        return nil
    }
}

/// A profile with the given z-scores (others 0).
func profile(_ z: [String: Double], share: Double = 0.2,
             features: [String] = ["recency", "frequency", "monetary", "avg_order_value"]) -> SegmentProfile {
    SegmentProfile(size: Int(share * 1000), customerShare: share, revenueShare: nil,
                   features: features.map { FeatureSummary(feature: $0, mean: 10, median: 8, zScore: z[$0] ?? 0, populationMean: 9) },
                   modeQuantity: nil, topCountries: [], rfmMix: [])
}
