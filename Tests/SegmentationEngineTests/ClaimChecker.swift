import Foundation

@testable import SegmentationEngine

/// Reads a segment's name and description as a marketer would and checks every claim against
/// the profile's numbers. Written apart from the labeler: each word or phrase is mapped to what
/// it asserts, with the thresholds docs/algorithms.md documents (high/low: |z| >= 0.5; about average and
/// Balanced: |z| < 0.25; Champions: recent, frequent and high-value, first on all three, <= 25%).
struct ClaimChecker {
    var profiles: [SegmentProfile]
    var clustering: [String]
    var sensitive: Set<String> = []
    /// Every segment's label, when known: "(More Recent)" must compare with a segment of the same base name.
    var labels: [SegmentLabel]? = nil

    func z(_ index: Int, _ feature: String) -> Double? {
        profiles[index].summary(of: feature)?.zScore
    }

    /// A high or low claim's typical value (median; mean for 0/1 columns) lies on the same side
    /// of all customers' as the claim says (true when the profile kept no population figure).
    func typicalAgrees(_ index: Int, _ feature: String?, high: Bool) -> Bool {
        guard let feature, let summary = profiles[index].summary(of: feature) else { return true }
        let indicator = feature.contains("=")
        guard let reference = indicator ? summary.populationMean : summary.populationMedian else {
            return true
        }
        let typical = indicator ? summary.mean : summary.median
        let (above, below) = high ? (typical, reference) : (reference, typical)
        // A clear raw margin: 1.25x (anything above 0), and 10 points for shares.
        return above > below && (below <= 0 || above / below >= 1.25)
            && (!indicator || above - below >= 0.1)
    }

    /// The raw-scale rule (docs/algorithms.md) for each transactions word, written apart from the labeler.
    func rfmWordHolds(_ word: String, _ f: SegmentFacts, index: Int) -> Bool {
        func ratio(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b : (a > 0 ? .infinity : 1) }
        let lapsed =
            f.lapsedShare >= 0.9
            || (f.lapsedShare > 0.5 && f.lapsedShare - f.populationLapsedShare >= 0.2)
        let recent =
            !lapsed && ratio(f.medianRecency, f.populationMedianRecency) <= 0.5
            && f.lapsedShare <= 0.1
        let frequent =
            f.medianFrequency >= 2 && ratio(f.medianFrequency, f.populationMedianFrequency) >= 1.5
            && f.oneTimeShare <= 0.1
        let highValue =
            ratio(f.medianSpend, f.populationMedianSpend) >= 1.5
            && ratio(f.revenueShare, f.customerShare) >= 1.25
        let oneTime = f.oneTimeShare >= 0.9
        // Most customers' P(alive) under 0.5 by the purchase model, recency alone not Lapsed.
        let likelyLapsed = !lapsed && (f.value?.shareLikelyLapsed ?? 0) > 0.5
        switch word {
        case "Recent": return recent && !likelyLapsed
        case "Lapsed": return lapsed
        case "Likely Lapsed": return likelyLapsed
        case "At Risk": return (lapsed || likelyLapsed) && (highValue || frequent)
        case "One-Time": return oneTime
        case "Infrequent":
            return !oneTime
                && ((f.oneTimeShare > 0.5 && f.oneTimeShare - f.populationOneTimeShare >= 0.2)
                    || (f.populationMedianFrequency >= 2
                        && ratio(f.medianFrequency, f.populationMedianFrequency) <= 0.5))
        case "Frequent": return frequent
        case "High-Value": return highValue
        case "Low-Value":
            return ratio(f.medianSpend, f.populationMedianSpend) <= 1 / 1.5
                && ratio(f.revenueShare, f.customerShare) <= 0.8
        case "Large-Basket": return ratio(f.medianBasket, f.populationMedianBasket) >= 1.5
        case "Small-Basket": return ratio(f.medianBasket, f.populationMedianBasket) <= 1 / 1.5
        case "Champions":
            return recent && !likelyLapsed && frequent && highValue && f.customerShare <= 0.25
                && profiles.compactMap(\.facts).allSatisfy {
                    f.medianRecency <= $0.medianRecency && f.medianFrequency >= $0.medianFrequency
                        && f.medianSpend >= $0.medianSpend
                }
        case "Mid-Range":
            return !anyRFMClaim(f, index: index) && !standsApart(f)
        case "Mixed-Profile":
            return !anyRFMClaim(f, index: index) && standsApart(f)
        default: return false
        }
    }

    /// A word whose rule holds and that stability did not mark unsteady.
    func anyRFMClaim(_ f: SegmentFacts, index: Int) -> Bool {
        let unsteady = Set((f.unsteadyClaims ?? []).map(\.word))
        return [
            "Recent", "Lapsed", "Likely Lapsed", "One-Time", "Infrequent", "Frequent", "High-Value",
            "Low-Value", "Large-Basket", "Small-Basket",
        ]
        .contains { !unsteady.contains($0) && rfmWordHolds($0, f, index: index) }
    }

    /// Anything 20 points or 1.5x from all customers' figure (docs/algorithms.md's rule for Mid-Range).
    func standsApart(_ f: SegmentFacts) -> Bool {
        func far(_ a: Double, _ b: Double) -> Bool {
            b > 0 ? (a / b >= 1.5 || a / b <= 1 / 1.5) : a > 0
        }
        return abs(f.lapsedShare - f.populationLapsedShare) >= 0.2
            || abs(f.oneTimeShare - f.populationOneTimeShare) >= 0.2
            || far(f.revenueShare, f.customerShare) || far(f.medianSpend, f.populationMedianSpend)
            || far(f.medianFrequency, f.populationMedianFrequency)
            || far(f.medianRecency, f.populationMedianRecency)
            || far(f.medianBasket, f.populationMedianBasket)
    }

    /// With a customer-value model, the description states the segment's mean P(alive), its share
    /// likely lapsed and its figures, as the facts have them.
    func valueViolations(_ label: SegmentLabel, _ f: SegmentFacts) -> [String] {
        guard let value = f.value else {
            return label.description.contains("P(alive)")
                ? ["'\(label.name)': quotes P(alive) without a purchase model"] : []
        }
        let text = label.description
        let pattern =
            #"mean probability of still buying is ([0-9.]+) and ([<>]?[0-9.]+)% are likely lapsed"#
        guard let match = text.range(of: pattern, options: .regularExpression) else {
            return ["'\(label.name)': the description does not state the segment's P(alive)"]
        }
        let numbers = text[match].matches(of: #/[0-9]+(\.[0-9]+)?/#).map { Double($0.output.0)! }
        var problems: [String] = []
        if abs(numbers[0] - value.meanProbabilityAlive) > 0.006 {
            problems.append(
                "'\(label.name)': prints mean P(alive) \(numbers[0]) for \(value.meanProbabilityAlive)"
            )
        }
        let bounded = text[match].contains("<1%") || text[match].contains(">99%")
        if !bounded && abs(numbers[1] - value.shareLikelyLapsed * 100) > 0.51 {
            problems.append(
                "'\(label.name)': prints \(numbers[1])% likely lapsed for \(value.shareLikelyLapsed)"
            )
        }
        if f.oneTimeShare >= 0.5 && !text.contains("one-time buyers count as alive") {
            problems.append(
                "'\(label.name)': mostly one-time buyers, without saying the model counts them alive"
            )
        }
        if let dropout = value.dropoutProbability, dropout < 0.01,
            !text.contains("finds almost no dropout")
        {
            problems.append(
                "'\(label.name)': quotes P(alive) without saying the model sees almost no dropout")
        }
        if value.lifetimeValue != nil && !text.contains("-day value is") {
            problems.append("'\(label.name)': leaves out the segment's lifetime value")
        }
        return problems
    }

    /// What a transactions segment's wording must not leave out, and the figures it quotes.
    func factViolations(_ label: SegmentLabel, _ f: SegmentFacts, index: Int) -> [String] {
        var problems: [String] = []
        func require(_ condition: Bool, _ what: String) {
            if !condition { problems.append("'\(label.name)': \(what)") }
        }
        let pct = { (share: Double) in String(format: "%.0f%%", share * 100) }
        if label.name != "Champions" {
            if f.lapsedShare >= 0.9 {
                require(
                    label.name.contains("Lapsed") || label.name.contains("At Risk"),
                    "leaves out that \(pct(f.lapsedShare)) are lapsed")
            }
            if f.oneTimeShare >= 0.9 {
                require(
                    label.name.contains("One-Time"),
                    "leaves out that \(pct(f.oneTimeShare)) bought once")
            }
            if let value = f.value, value.shareLikelyLapsed > 0.5 {
                require(
                    label.name.contains("Lapsed") || label.name.contains("At Risk"),
                    "leaves out that \(pct(value.shareLikelyLapsed)) have P(alive) under 0.5")
            }
        }
        problems += valueViolations(label, f)
        // The figures every description states, read back from the text and compared with the facts:
        // within rounding, and never printed on the other side of a rule's threshold.
        let pattern =
            #"([<>]?[0-9.]+)% of customers bring ([<>]?[0-9.]+)% of revenue; ([<>]?[0-9.]+)% bought once and ([<>]?[0-9.]+)% have not bought for over ([0-9]+) days? \(all customers: ([<>]?[0-9.]+)% and ([<>]?[0-9.]+)%\)"#
        if let match = label.description.range(of: pattern, options: .regularExpression) {
            let numbers = label.description[match].matches(of: #/[<>]?[0-9]+(\.[0-9]+)?/#).map {
                String($0.output.0)
            }
            let expected = [
                f.customerShare, f.revenueShare, f.oneTimeShare, f.lapsedShare,
                Double(f.lapseDays) / 100,
                f.populationOneTimeShare, f.populationLapsedShare,
            ].map { $0 * 100 }
            for (text, value) in zip(numbers, expected) {
                if text == "<1" {
                    require(value > 0 && value < 1, "prints <1% for \(value)%"); continue
                }
                if text == ">99" {
                    require(value > 99 && value < 100, "prints >99% for \(value)%"); continue
                }
                let printed = Double(text) ?? .nan
                require(abs(printed - value) <= 0.51, "prints \(printed) for \(value)")
                require(
                    (printed == 0) == (value == 0) && (printed == 100) == (value == 100),
                    "prints \(printed)% for \(value)%")
                for threshold in [10.0, 50, 90] {
                    require(
                        (printed < threshold) == (value < threshold),
                        "prints \(printed)% for \(value)%, across \(threshold)%")
                }
            }
        } else {
            problems.append(
                "'\(label.name)': the description does not state its customer, revenue, one-time and lapsed shares"
            )
        }
        let text = label.description
        for unsteady in f.unsteadyClaims ?? [] where rfmWordHolds(unsteady.word, f, index: index) {
            require(
                text.contains(
                    "\(unsteady.word) (met in \(unsteady.refitsHolding) of \(unsteady.refits) refits)"
                ),
                "leaves out unnamed near-threshold \(unsteady.word) without saying so")
            require(
                unsteady.word != "One-Time" && !(unsteady.word == "Lapsed" && f.lapsedShare >= 0.9),
                "a dominant fact marked unsteady")
        }
        if text.contains("No measure stands clearly apart") {
            require(!standsApart(f) && !anyRFMClaim(f, index: index), "says nothing stands apart")
        }
        if text.contains("No claim's threshold is met") {
            require(
                standsApart(f) && !anyRFMClaim(f, index: index),
                "says no claim holds but something differs")
        }
        for onboarding in ["Second-purchase incentive", "Onboarding and welcome series"]
        where label.actions.contains(onboarding) {
            require(
                f.oneTimeShare > 0.5,
                "\(onboarding) for a segment where only \(pct(f.oneTimeShare)) bought once")
        }
        if f.lapsedShare > 0.5 || (f.value?.shareLikelyLapsed ?? 0) > 0.5 {
            let winBack: Set<String> = [
                "Personalised win-back campaign", "Low-cost automated reactivation emails",
                "Reminder campaign with recommendations from past purchases",
            ]
            require(
                label.actions.first.map(winBack.contains) ?? false,
                "a mostly lapsed segment must be won back first: \(label.actions)")
            require(
                !label.actions.contains("Bundles around their big purchases")
                    && !label.actions.contains("Nurture toward more frequent purchases"),
                "a mostly lapsed segment gets no bundles or nurture: \(label.actions)")
        }
        return problems
    }

    /// Every claim of the label that its numbers do not back, in words (empty: all true).
    func violations(_ label: SegmentLabel, index: Int) -> [String] {
        var problems: [String] = []
        func require(_ condition: Bool, _ claim: String) {
            if !condition { problems.append("'\(label.name)': \(claim)") }
        }
        let r = z(index, "recency"), f = z(index, "frequency")
        let m = z(index, "monetary") ?? z(index, "avg_order_value")
        let b = z(index, "monetary") != nil ? z(index, "avg_order_value") : nil
        let facts = profiles[index].facts
        let words = label.name.replacingOccurrences(of: "(", with: ", ").replacingOccurrences(
            of: ")", with: ""
        )
        .components(separatedBy: ", ").map { $0.trimmingCharacters(in: .whitespaces) }
        let base = words.first ?? ""
        let rfmWords: Set<String> = [
            "Champions", "At Risk", "Recent", "Lapsed", "Likely Lapsed", "High-Value", "Low-Value",
            "One-Time", "Frequent",
            "Infrequent", "Large-Basket", "Small-Basket", "Mid-Range", "Mixed-Profile",
        ]
        for numbered in words {
            // "High-Value Buyers 2": the number tells twins apart; the words before it are still claims.
            let parts = numbered.split(separator: " ")
            let word =
                parts.count > 1 && Int(parts.last!) != nil
                ? parts.dropLast().joined(separator: " ") : numbered
            let bare = word.hasSuffix(" Buyers") ? String(word.dropLast(" Buyers".count)) : word
            if bare == "Outliers" {
                require(
                    label.description.contains("in no dense group"),
                    "Outliers must say they are in no dense group")
                continue
            }
            if rfmWords.contains(bare) && (facts != nil || bare != "Mid-Range") {
                guard let facts else {
                    problems.append("'\(label.name)': \(bare) without the segment's facts");
                    continue
                }
                require(
                    rfmWordHolds(bare, facts, index: index),
                    "\(bare) is not backed by the raw facts")
                require(
                    !(facts.unsteadyClaims ?? []).contains { $0.word == bare },
                    "\(bare) is named though refits do not steadily meet it")
                continue
            }
            switch word {
            case "Balanced":
                require(
                    clustering.allSatisfy { abs(z(index, $0) ?? 0) < 0.25 },
                    "Balanced needs every clustering |z| < 0.25")
            case "Mid-Range", "Mid-Range Buyers":
                require(
                    clustering.allSatisfy { abs(z(index, $0) ?? 0) < 0.5 },
                    "Mid-Range needs every clustering |z| < 0.5")
            case "Mixed Profile", "Mixed-Profile Buyers":
                // No feature both far from average and with its typical value on the same side.
                // (A standout the refits do not steadily find counts as none: it is said, not named.)
                let unsteady = Set((profiles[index].unsteadyColumns ?? []).map(\.word))
                require(
                    clustering.allSatisfy { feature in
                        let value = z(index, feature) ?? 0
                        let shown = SegmentLabeler.displayName(feature)
                        let word =
                            (feature.contains("=")
                                ? (value > 0 ? "More " : "Less ") : (value > 0 ? "High " : "Low "))
                            + shown
                        return abs(value) < 0.5 || !typicalAgrees(index, feature, high: value > 0)
                            || unsteady.contains(word)
                    }, "Mixed Profile needs no clear, steady standout")
            default:
                if let relative = relativeClaim(word) {
                    // "(More Recent)": this segment against another that shares its base name.
                    let baseName = { (name: String) in
                        name.components(separatedBy: " (").first ?? name
                    }
                    let twins = profiles.indices.filter { other in
                        other != index
                            && (labels.map {
                                baseName($0[other].name).split(separator: ",").map {
                                    $0.trimmingCharacters(in: .whitespaces)
                                }.sorted()
                                    == baseName(label.name).split(separator: ",").map {
                                        $0.trimmingCharacters(in: .whitespaces)
                                    }.sorted()
                            } ?? true)
                    }
                    let holds = twins.contains { other in
                        guard let mine = z(index, relative.feature),
                            let theirs = z(other, relative.feature)
                        else { return false }
                        return relative.higher ? mine - theirs >= 0.25 : theirs - mine >= 0.25
                    }
                    require(
                        holds,
                        "\(word) needs another segment with the same base name '\(base)' lower/higher by 0.25"
                    )
                } else if let generic = genericClaim(word) {
                    let value = z(index, generic.feature)
                    require(
                        value.map { generic.high ? $0 >= 0.5 : $0 <= -0.5 } ?? false,
                        "\(word) needs |z| >= 0.5 in that direction")
                    require(
                        typicalAgrees(index, generic.feature, high: generic.high),
                        "\(word): the typical value must agree")
                    require(
                        !sensitive.contains(generic.feature), "\(word) names a sensitive attribute")
                    require(
                        !(profiles[index].unsteadyColumns ?? []).contains { $0.word == word },
                        "\(word) is named though refits do not steadily find it")
                } else {
                    problems.append("'\(label.name)': unknown word '\(word)'")
                }
            }
        }
        if let facts { problems += factViolations(label, facts, index: index) }
        for claim in profiles[index].unsteadyColumns ?? []
        where genericClaim(claim.word).map({ generic in
            (z(index, generic.feature).map { generic.high ? $0 >= 0.5 : $0 <= -0.5 } ?? false)
                && typicalAgrees(index, generic.feature, high: generic.high)
        }) ?? false {
            require(
                label.description.contains(
                    "\(claim.word) (met in \(claim.refitsHolding) of \(claim.refits) refits)"),
                "leaves out near-threshold \(claim.word) without saying so")
        }
        problems += descriptionViolations(label, index: index, r: r, f: f, m: m, b: b)
        require(Set(label.actions).count == label.actions.count, "actions are unique")
        require(!label.actions.isEmpty, "has actions")
        for attribute in sensitive {
            let needle = SegmentLabeler.displayName(attribute).lowercased()
            require(
                !label.name.lowercased().contains(needle)
                    && !label.actions.joined().lowercased().contains(needle),
                "names or acts on the sensitive attribute \(attribute)")
        }
        return problems
    }

    private func descriptionViolations(
        _ label: SegmentLabel, index: Int, r: Double?, f: Double?, m: Double?, b: Double?
    ) -> [String] {
        var problems: [String] = []
        let text = label.description.lowercased()
        // Clauses start after a comma, "and", a full stop or a semicolon.
        let clauses = text.replacingOccurrences(of: "as a group they ", with: "")
            .replacingOccurrences(of: " and ", with: ", ").replacingOccurrences(
                of: ". ", with: ", "
            )
            .replacingOccurrences(of: "; ", with: ", ").components(separatedBy: ", ").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        func claim(_ phrase: String, _ condition: Bool) {
            if clauses.contains(where: { $0.hasPrefix(phrase) }) && !condition {
                problems.append("'\(label.name)' description: '\(phrase)' is false")
            }
        }
        let facts = profiles[index].facts
        for (phrase, word) in [
            ("bought recently", "Recent"), ("have not bought for a long time", "Lapsed"),
            ("have most likely stopped buying", "Likely Lapsed"),
            ("bought only once", "One-Time"),
            ("buy often", "Frequent"), ("buy rarely", "Infrequent"), ("spend a lot", "High-Value"),
            ("spend little", "Low-Value"), ("place large orders", "Large-Basket"),
            ("place small orders", "Small-Basket"),
        ] {
            claim(phrase, facts.map { rfmWordHolds(word, $0, index: index) } ?? false)
        }
        if text.contains("most of all segments") && label.name != "Champions" {
            problems.append("'most of all segments' outside Champions")
        }
        for summary in profiles[index].features {
            let shown = SegmentLabeler.displayName(summary.feature).lowercased()
            for verb in ["is", "are"] {
                claim(
                    "\(shown) \(verb) high",
                    summary.zScore >= 0.5 && typicalAgrees(index, summary.feature, high: true))
                claim(
                    "\(shown) \(verb) low",
                    summary.zScore <= -0.5 && typicalAgrees(index, summary.feature, high: false))
            }
            claim("\(shown) is more common", summary.zScore >= 0.5)
            claim("\(shown) is less common", summary.zScore <= -0.5)
        }
        if let range = text.range(of: "about average on ") {
            let list = text[range.upperBound...].prefix { $0 != "." }
            let names = list.replacingOccurrences(of: " and ", with: ", ").components(
                separatedBy: ", ")
            for name in names {
                let feature = clustering.first {
                    SegmentLabeler.displayName($0).lowercased() == name
                }
                if let feature {
                    claim("about average on", abs(z(index, feature) ?? 9) < 0.25)
                } else {
                    problems.append(
                        "'\(label.name)' description: about average on unknown '\(name)'")
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
            "Larger Orders": ("avg_order_value", true),
            "Smaller Orders": ("avg_order_value", false),
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
            for (prefix, high) in [
                ("High ", true), ("Low ", false), ("More ", true), ("Less ", false),
            ]
            where word == prefix + shown || word == prefix + shown + " Buyers" {
                return (feature, high)
            }
        }
        return nil
    }
}

/// A profile with the given z-scores (others 0).
func profile(
    _ z: [String: Double], share: Double = 0.2,
    features: [String] = ["recency", "frequency", "monetary", "avg_order_value"]
) -> SegmentProfile {
    SegmentProfile(
        size: Int(share * 1000), customerShare: share, revenueShare: nil,
        features: features.map {
            FeatureSummary(feature: $0, mean: 10, median: 8, zScore: z[$0] ?? 0, populationMean: 9)
        },
        modeQuantity: nil, topCountries: [], rfmMix: [])
}
