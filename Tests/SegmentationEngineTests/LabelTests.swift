import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Segment names and descriptions tell the truth")
struct LabelTests {
    static let rfm = ["recency", "frequency", "monetary", "avg_order_value"]

    func check(
        _ profiles: [SegmentProfile], clustering: [String] = rfm, sensitive: Set<String> = []
    ) -> [SegmentLabel] {
        let labels = SegmentLabeler.labels(
            for: profiles, clusteringFeatures: clustering, excluded: sensitive)
        let checker = ClaimChecker(
            profiles: profiles, clustering: clustering.filter { !sensitive.contains($0) },
            sensitive: sensitive, labels: labels)
        for (index, label) in labels.enumerated() {
            let problems = checker.violations(label, index: index)
            #expect(problems.isEmpty, "\(problems)")
        }
        #expect(
            Set(labels.map(\.name)).count == labels.count, "names are unique: \(labels.map(\.name))"
        )
        return labels
    }

    @Test(
        "Property: random transactions segments at k = 2...10 get only true, unique words, and leave out no dominant fact"
    )
    func randomRFMProfiles() {
        var rng = SplitMix64(seed: 42)
        func uniform(_ range: ClosedRange<Double>) -> Double {
            range.lowerBound + Double(rng.next() % 10_000) / 10_000
                * (range.upperBound - range.lowerBound)
        }
        for _ in 0..<600 {
            let k = Int(rng.next() % 9) + 2
            let population = RFMPopulation(
                lapsed: uniform(0...0.95), oneTime: uniform(0...0.95),
                recency: uniform(5...300).rounded(),
                frequency: [1, 2, 3, 5][Int(rng.next() % 4)], spend: uniform(50...2000),
                basket: uniform(20...500))
            let shares = (0..<k).map { _ in uniform(1...100) }
            let weights = (0..<k).map { _ in uniform(0.05...5) }
            let total = shares.reduce(0, +), revenue = zip(shares, weights).map(*).reduce(0, +)
            let withValue = rng.next() % 2 == 0
            let profiles = (0..<k).map { c in
                // Some segments sit exactly at a dominant share, the rest anywhere.
                let pick = rng.next() % 4
                var profile = rfmProfile(
                    population, lapsed: pick == 0 ? 0.9 : uniform(0...1),
                    oneTime: pick == 1 ? 0.9 : uniform(0...1),
                    recency: uniform(1...500).rounded(), frequency: Double(Int(uniform(1...20))),
                    spend: uniform(5...8000),
                    basket: uniform(5...900), revenue: shares[c] * weights[c] / revenue,
                    share: shares[c] / total)
                // Half the models have a customer-value model; some segments sit at exactly half
                // likely lapsed (not a majority), the rest anywhere.
                if withValue {
                    let likelyLapsed = pick == 2 ? 0.5 : uniform(0...1)
                    profile.facts!.value = SegmentValue(
                        customers: 100, purchaseHorizonDays: 90, valueHorizonDays: 365,
                        meanProbabilityAlive: 1 - likelyLapsed * 0.8,
                        shareLikelyLapsed: likelyLapsed, expectedPurchases: uniform(0...500),
                        expectedRevenue: uniform(0...9000), lifetimeValue: uniform(0...30000),
                        valueAtRisk: uniform(0...1000), dropoutProbability: uniform(0...0.04))
                }
                return profile
            }
            _ = check(profiles)
        }
    }

    @Test("Property: random customer-table profiles never name a sensitive column")
    func randomGenericProfiles() {
        var rng = SplitMix64(seed: 7)
        let columns = [
            "BALANCE", "PURCHASES", "CASH_ADVANCE", "CREDIT_LIMIT", "gender=Male", "PAYMENTS",
            "Channel=Online",
        ]
        for _ in 0..<300 {
            let k = Int(rng.next() % 6) + 2
            let profiles = (0..<k).map { _ in
                profile(
                    Dictionary(
                        uniqueKeysWithValues: columns.map {
                            ($0, Double(Int(rng.next() % 400)) / 100 - 2)
                        }),
                    share: 1 / Double(k), features: columns)
            }
            let labels = check(profiles, clustering: columns, sensitive: ["gender=Male"])
            for label in labels {
                #expect(!label.name.contains("Gender") && !label.description.contains("Gender"))
                #expect(!label.actions.contains { $0.contains("Target offers that fit") })
            }
        }
    }

    @Test("Numbers too large for an Int are described, not trapped on (found by the fuzzer)")
    func hugeNumbers() throws {
        #expect(SegmentLabeler.amount(3.2444e70) == "3.24e+70")
        #expect(SegmentLabeler.amount(-.infinity) == "-inf")
        #expect(SegmentLabeler.amount(1234.4) == "1,234")
        #expect(SegmentLabeler.count(1e20, "day") == "1e+20 days")
        #expect(SegmentLabeler.count(1, "day") == "1 day")
        // The fuzzer's input, as a customers table: trains, and every description is finite text.
        let csv =
            "CUST_ID,BALANCE,PURCHASES,TENURE\nC1,40.9,95.4,12\nC2,"
            + String(repeating: "4", count: 70)
            + ",0,12\nC3,2495.1,773.17,8\nC4,817.7,16,6\nC5,1600,100,9\nC6,12,3,1\n"
        var configuration = TrainingConfiguration()
        configuration.kind = .customers
        configuration.ks = [2]
        configuration.nInit = 1
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "huge.csv", data: Data(csv.utf8))
        ])
        #expect(model.segments.allSatisfy { !$0.description.isEmpty })
    }

    @Test(
        "Names tell what dominates a segment, on the raw scale (the issue's music and electronics examples)"
    )
    func issueExamples() {
        let music = RFMPopulation(
            lapsed: 0.7, oneTime: 0.55, recency: 300, frequency: 1, spend: 60, basket: 40)
        // 98% lapsed (median 488 days), 63% bought once, big baskets: named lapsed, won back first, no bundles.
        let lapsed = check([
            rfmProfile(
                music, lapsed: 0.98, oneTime: 0.63, recency: 488, frequency: 1, spend: 120,
                basket: 110, revenue: 0.2, share: 0.18),
            rfmProfile(
                music, lapsed: 0.6, oneTime: 0.5, recency: 250, frequency: 1, spend: 50, basket: 35,
                revenue: 0.8, share: 0.82),
        ])
        #expect(
            lapsed[0].name.hasPrefix("Lapsed") || lapsed[0].name.hasPrefix("At Risk"),
            "\(lapsed[0].name)")
        #expect(!lapsed[0].actions.contains("Bundles around their big purchases"))
        #expect(
            lapsed[0].description.contains("98% not for over 120 days"), "\(lapsed[0].description)")
        // Spend 1.03x the average with 21% of revenue for 20% of customers is no "High-Value".
        let logScale = check([
            rfmProfile(
                music, lapsed: 0.05, oneTime: 0.1, recency: 30, frequency: 3, spend: 62, basket: 30,
                revenue: 0.21, share: 0.2),
            rfmProfile(music, revenue: 0.79, share: 0.8),
        ])
        #expect(!logScale[0].name.contains("High-Value"), "\(logScale[0].name)")
        // Every customer bought once: "One-Time", never "Mixed" or "Mid-Range".
        let electronics = RFMPopulation(
            lapsed: 0.2, oneTime: 0.6, recency: 90, frequency: 1, spend: 400, basket: 350)
        let oneTime = check([
            rfmProfile(
                electronics, lapsed: 0.15, oneTime: 1, recency: 95, frequency: 1, spend: 390,
                basket: 390, revenue: 0.55, share: 0.6),
            rfmProfile(
                electronics, lapsed: 0.3, oneTime: 0, recency: 80, frequency: 2, spend: 420,
                basket: 250, revenue: 0.45, share: 0.4),
        ])
        #expect(oneTime[0].name == "One-Time Buyers", "\(oneTime[0].name)")
        #expect(oneTime[0].description.contains("100% bought once"))
        // Champions: a minority leading on all three medians; At Risk: lapsed and high-value.
        let retail = RFMPopulation(
            lapsed: 0.3, oneTime: 0.35, recency: 50, frequency: 2, spend: 650, basket: 300)
        let three = check([
            rfmProfile(
                retail, lapsed: 0.01, oneTime: 0, recency: 8, frequency: 9, spend: 4000,
                basket: 420, revenue: 0.55, share: 0.12),
            rfmProfile(
                retail, lapsed: 0.85, oneTime: 0.2, recency: 200, frequency: 3, spend: 1500,
                basket: 450, revenue: 0.25, share: 0.2),
            rfmProfile(
                retail, lapsed: 0.2, oneTime: 0.5, recency: 40, frequency: 2, spend: 300,
                basket: 200, revenue: 0.2, share: 0.68),
        ])
        #expect(three[0].name == "Champions")
        #expect(three[1].name.hasPrefix("At Risk, High-Value"), "\(three[1].name)")
        #expect(three[1].actions.first == "Personalised win-back campaign")
        // The same facts at 39% of customers are no Champions.
        let big = check([
            rfmProfile(
                retail, lapsed: 0.01, oneTime: 0, recency: 8, frequency: 9, spend: 4000,
                basket: 420, revenue: 0.8, share: 0.39),
            rfmProfile(
                retail, lapsed: 0.5, oneTime: 0.6, recency: 120, frequency: 1, spend: 200,
                basket: 180, revenue: 0.2, share: 0.61),
        ])
        #expect(big[0].name == "Recent, High-Value, Frequent Buyers", "\(big[0].name)")
    }

    @Test(
        "Trained on generated orders, a segment of lapsed one-time buyers says so in its name, and is won back first"
    )
    func lapsedOneTimeBuyersEndToEnd() throws {
        var rows = ["InvoiceNo,InvoiceDate,CustomerID,Quantity,UnitPrice"]
        var invoice = 1
        func order(_ customer: String, daysBeforeEnd: Int, amount: Double) {
            let day = TimestampParser.isoDate(day: 15_000 - daysBeforeEnd)
            rows.append("\(invoice),\(day) 10:00,\(customer),1,\(amount)")
            invoice += 1
        }
        // 200 bought once, 300 to 500 days ago; 200 buy every 2 weeks; 200 now and then.
        for c in 0..<200 { order("L\(c)", daysBeforeEnd: 300 + c, amount: 40 + Double(c % 7)) }
        for c in 0..<200 {
            for n in 0..<(6 + c % 5) {
                order("F\(c)", daysBeforeEnd: 3 + 14 * n + c % 9, amount: 60 + Double(c % 11))
            }
        }
        for c in 0..<200 {
            for n in 0..<(2 + c % 2) {
                order("M\(c)", daysBeforeEnd: 20 + 90 * n + c % 40, amount: 50 + Double(c % 13))
            }
        }
        var configuration = TrainingConfiguration()
        configuration.ks = [3]
        configuration.nInit = 3
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "orders.csv", data: Data(rows.joined(separator: "\n").utf8))
        ])
        let checker = ClaimChecker(
            profiles: model.segments.map(\.profile), clustering: model.pipeline.features)
        for segment in model.segments {
            let label = SegmentLabel(
                name: segment.name, description: segment.description, actions: segment.actions)
            #expect(
                checker.violations(label, index: segment.id).isEmpty,
                "\(checker.violations(label, index: segment.id))")
        }
        let lapsed = try #require(
            model.segments.first { ($0.profile.facts?.oneTimeShare ?? 0) >= 0.99 })
        #expect(lapsed.profile.facts!.lapsedShare >= 0.99)
        #expect(
            lapsed.name.contains("One-Time") && lapsed.name.contains("Lapsed"), "\(lapsed.name)")
        #expect(
            lapsed.actions.first == "Low-cost automated reactivation emails", "\(lapsed.actions)")
        // A customer who contradicts its segment's name is flagged with the fact; the training
        // customers of the one-time segment all bought once, so none of them is.
        let recent = try #require(
            model.segments.first { $0.profile.facts.map { RFMClaims(facts: $0).recent } ?? false })
        let lapse = recent.profile.facts!.lapseDays
        let columns = model.pipeline.features
        var flagged: Assignment?
        for recency in stride(from: Double(lapse + 1), through: Double(lapse + 200), by: 10) {
            let row: [String: Double] = [
                "recency": recency, "frequency": 9, "monetary": 600, "avg_order_value": 66,
            ]
            let scored = try model.score(
                customerIDs: ["x"], columns: columns,
                values: Matrix(rowArrays: [columns.map { row[$0]! }]))[0]
            if scored.segmentID == recent.id { flagged = scored; break }
        }
        let atypical = try #require(flagged, "no lapsed customer lands in '\(recent.name)'")
        #expect(
            atypical.atypical.contains {
                $0.hasPrefix("lapsed: last purchase") && $0.contains("segment of recent buyers")
            }, "\(atypical.atypical)")
        var loader = TransactionLoader()
        try loader.add(bytes: Array(rows.joined(separator: "\n").utf8), source: "orders.csv")
        let training = try model.score(
            transactions: loader.finish().table, snapshotDay: model.snapshotDay)
        #expect(
            training.filter { $0.segmentID == lapsed.id }.allSatisfy {
                !$0.atypical.contains { $0.hasPrefix("repeat buyer") }
            })
    }

    @Test(
        "No claim but a clear difference is 'Mixed-Profile', saying the difference; shares never round across a rule's threshold"
    )
    func mixedProfileAndRounding() {
        let retail = RFMPopulation(
            lapsed: 0.3, oneTime: 0.35, recency: 50, frequency: 2, spend: 650, basket: 300)
        // A few big spenders inside: revenue 3x its headcount, median spend only 1.2x.
        let labels = check([
            rfmProfile(retail, spend: 780, revenue: 0.3, share: 0.1),
            rfmProfile(retail, revenue: 0.7, share: 0.9),
        ])
        #expect(labels[0].name == "Mixed-Profile Buyers", "\(labels[0].name)")
        #expect(
            labels[0].description.hasPrefix(
                "No claim's threshold is met, but they bring 30% of revenue from 10% of customers"),
            "\(labels[0].description)")
        #expect(labels[1].name == "Mid-Range Buyers")
        #expect(
            SegmentLabeler.factPercent(0.896) == "89.6%"
                && SegmentLabeler.factPercent(0.0997) == "9.9%")
        #expect(
            SegmentLabeler.factPercent(0.504) == "50.4%" && SegmentLabeler.factPercent(0.5) == "50%"
                && SegmentLabeler.factPercent(0.42) == "42%")
        // 89.6% one-time is not "One-Time", and is not printed as 90%.
        let almost = check([
            rfmProfile(retail, oneTime: 0.896, revenue: 0.2, share: 0.3),
            rfmProfile(retail, revenue: 0.8, share: 0.7),
        ])
        #expect(
            !almost[0].name.contains("One-Time")
                && almost[0].description.contains("89.6% bought once"), "\(almost[0])")
        #expect(SegmentLabeler.count(1.5, "day") == "1.5 days")
        #expect(
            SegmentLabeler.factPercent(0.002) == "<1%"
                && SegmentLabeler.factPercent(0.998) == ">99%"
                && SegmentLabeler.factPercent(0) == "0%")
    }

    @Test(
        "A claim the refits do not steadily meet is left out of the name and said in the description; a dominant one stays"
    )
    func unsteadyClaims() {
        let retail = RFMPopulation(
            lapsed: 0.3, oneTime: 0.35, recency: 50, frequency: 2, spend: 650, basket: 300)
        var frequent = rfmProfile(
            retail, lapsed: 0.05, oneTime: 0.05, recency: 45, frequency: 3, spend: 700, basket: 280,
            revenue: 0.25, share: 0.2)
        frequent.facts!.unsteadyClaims = [
            UnsteadyClaim(word: "Frequent", refitsHolding: 6, refits: 10)
        ]
        var oneTime = rfmProfile(
            retail, lapsed: 0.3, oneTime: 0.95, recency: 60, frequency: 1, spend: 300, basket: 300,
            revenue: 0.1, share: 0.3)
        oneTime.facts!.unsteadyClaims = []
        let labels = check([frequent, oneTime, rfmProfile(retail, revenue: 0.65, share: 0.5)])
        #expect(
            !labels[0].name.contains("Frequent") && labels[0].name == "Mixed-Profile Buyers",
            "\(labels[0].name)")
        #expect(
            labels[0].description.contains(
                "Near a rule's threshold, so not named: Frequent (met in 6 of 10 refits)"),
            "\(labels[0].description)")
        #expect(labels[1].name.contains("One-Time"))
        // Customer tables: an unsteady standout column is said, not named; the next steady one takes its place.
        let columns = ["BALANCE", "PURCHASES", "CASH_ADVANCE"]
        var first = profile(
            ["BALANCE": 1.4, "PURCHASES": -0.9, "CASH_ADVANCE": 1.2], features: columns)
        first.unsteadyColumns = [UnsteadyClaim(word: "High Balance", refitsHolding: 5, refits: 10)]
        let table = check(
            [first, profile(["BALANCE": -0.8], features: columns)], clustering: columns)
        #expect(table[0].name == "High Cash Advance, Low Purchases", "\(table[0].name)")
        #expect(
            table[0].description.contains(
                "Near a rule's threshold, so not named: High Balance (met in 5 of 10 refits)"))
    }

    @Test("The same facts read the same at any k")
    func sameFactsSameWords() {
        let retail = RFMPopulation(
            lapsed: 0.3, oneTime: 0.35, recency: 50, frequency: 2, spend: 650, basket: 300)
        let facts = rfmProfile(
            retail, lapsed: 0.8, oneTime: 0.7, recency: 220, frequency: 1, spend: 200, basket: 250,
            revenue: 0.1, share: 0.3)
        let atTwo = check([facts, rfmProfile(retail, revenue: 0.9, share: 0.7)])
        let atFour = check([
            rfmProfile(
                retail, lapsed: 0, oneTime: 0, recency: 10, frequency: 6, spend: 3000, basket: 500,
                revenue: 0.5, share: 0.2),
            facts, rfmProfile(retail, revenue: 0.3, share: 0.4),
            rfmProfile(retail, spend: 700, revenue: 0.1, share: 0.1),
        ])
        #expect(atTwo[0] == atFour[1])
        #expect(atTwo[0].name == "Lapsed, Low-Value, Infrequent Buyers", "\(atTwo[0].name)")
        #expect(atTwo[0].actions.first == "Low-cost automated reactivation emails")
    }

    @Test(
        "Customer-table names use readable columns and the credit-card family's actions, once each")
    func genericNames() {
        let columns = [
            "BALANCE", "PURCHASES", "INSTALLMENTS_PURCHASES", "CASH_ADVANCE", "ethnicity=B",
        ]
        let labels = check(
            [
                profile(
                    ["BALANCE": 1.4, "PURCHASES": -0.9, "CASH_ADVANCE": 1.2, "ethnicity=B": 2],
                    features: columns),
                profile(["INSTALLMENTS_PURCHASES": 1.1, "PURCHASES": 0.8], features: columns),
                profile(["BALANCE": -0.8, "PURCHASES": -0.7], features: columns),
            ],
            clustering: columns, sensitive: ["ethnicity=B"])
        #expect(labels[0].name == "High Balance, High Cash Advance")
        #expect(
            labels[0].actions.contains(
                "Offer a lower-cost alternative to cash advances (personal loan or balance transfer)"
            ))
        #expect(labels[1].name == "High Installments Purchases, High Purchases")
        #expect(labels[1].actions.first == "Promote instalment plans and partner-merchant offers")
        #expect(labels[2].name == "Low Balance, Low Purchases")
        // The same two standouts in the other order are told apart, not left as look-alikes.
        let twins = check(
            [
                profile(["BALANCE": 1.4, "PURCHASES": 1.0], features: columns),
                profile(["BALANCE": 0.9, "PURCHASES": 1.2], features: columns),
            ],
            clustering: columns)
        #expect(
            twins.map(\.name) == [
                "High Balance, High Purchases (Higher Balance)",
                "High Purchases, High Balance (Lower Balance)",
            ])
        #expect(labels.allSatisfy { !$0.description.lowercased().contains("ethnicity") })
    }

    @Test(
        "A person can rename a segment and set its description and actions; each change is recorded"
    )
    func editSegment() throws {
        let output = SampleDataGenerator(customers: 300, seed: 2).generate()
        var configuration = TrainingConfiguration()
        configuration.ks = [3]
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "s.csv", data: Data(output.csv.utf8))
        ])
        let edited = try model.editingSegment(
            1, name: "VIP", description: "Our best", actions: ["Call them", "Call them", " Gift "])
        #expect(edited.segments[1].name == "VIP" && edited.segments[1].description == "Our best")
        #expect(edited.segments[1].actions == ["Call them", "Gift"])
        #expect(edited.segments[1].generatedName == model.segments[1].generatedName)
        #expect(
            edited.annotations.map(\.kind) == ["rename-segment", "describe-segment", "set-actions"])
        #expect(throws: ModelError.self) {
            try model.editingSegment(1, name: String(repeating: "x", count: 101))
        }
        #expect(throws: ModelError.self) { try model.editingSegment(1) }
    }
}

/// A small seeded generator for property tests.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// All customers' figures for `rfmProfile`.
struct RFMPopulation {
    var lapsed = 0.3, oneTime = 0.4, recency = 50.0, frequency = 2.0, spend = 600.0, basket = 300.0
}

/// A transactions segment with the given raw facts (by default the population's own), lapsed
/// after 120 days; its z-scores follow the log ratios, as training's would.
func rfmProfile(
    _ p: RFMPopulation = RFMPopulation(), lapsed: Double? = nil, oneTime: Double? = nil,
    recency: Double? = nil,
    frequency: Double? = nil, spend: Double? = nil, basket: Double? = nil, revenue: Double,
    share: Double
) -> SegmentProfile {
    let facts = SegmentFacts(
        lapseDays: 120, lapseBasis: .purchaseGaps, lapsedShare: lapsed ?? p.lapsed,
        populationLapsedShare: p.lapsed,
        oneTimeShare: oneTime ?? p.oneTime, populationOneTimeShare: p.oneTime,
        medianRecency: recency ?? p.recency,
        populationMedianRecency: p.recency, medianFrequency: frequency ?? p.frequency,
        populationMedianFrequency: p.frequency,
        medianSpend: spend ?? p.spend, populationMedianSpend: p.spend,
        meanSpend: (spend ?? p.spend) * 1.3,
        populationMeanSpend: p.spend * 1.3, medianBasket: basket ?? p.basket,
        populationMedianBasket: p.basket,
        revenueShare: revenue, customerShare: share)
    func summary(_ feature: String, _ value: Double, _ population: Double) -> FeatureSummary {
        FeatureSummary(
            feature: feature, mean: value, median: value,
            zScore: log((value + 1) / (population + 1)),
            populationMean: population, populationMedian: population)
    }
    return SegmentProfile(
        size: Int(share * 1000), customerShare: share, revenueShare: revenue,
        features: [
            summary("recency", facts.medianRecency, p.recency),
            summary("frequency", facts.medianFrequency, p.frequency),
            summary("monetary", facts.medianSpend, p.spend),
            summary("avg_order_value", facts.medianBasket, p.basket),
        ],
        modeQuantity: nil, topCountries: [], rfmMix: [], facts: facts)
}
