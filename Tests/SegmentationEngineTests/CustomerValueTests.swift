import Foundation
import Testing

@testable import SegmentationEngine

/// BG/NBD and Gamma-Gamma against `lifetimes` 0.11.3 on its CDNOW sample (2,357 customers, in
/// weeks), whose parameters are the papers': the numbers come from scripts/make-btyd-fixtures.py.
@Suite("Customer value (BG/NBD, Gamma-Gamma)")
struct CustomerValueTests {
    struct Reference: Sendable {
        var customers: [PurchaseSummary]
        var pAlive: [Double]
        var expectedPurchases: [Double]
        var expectedSpend: [Double]
        var bgnbd: [String: Double]
        var gammaGamma: [String: Double]
        var bgnbdMeanLogLikelihood: Double
    }

    static let reference: Reference = {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures")
        let text = try! String(
            contentsOf: folder.appendingPathComponent("btyd_cdnow.csv"), encoding: .utf8)
        let rows = try! CSVReader.rows(of: text).dropFirst().filter { $0.count == 7 }
        let numbers = rows.map { $0.map { Double($0)! } }
        let json =
            try! JSONSerialization.jsonObject(
                with: Data(contentsOf: folder.appendingPathComponent("btyd_cdnow.json")))
            as! [String: Any]
        return Reference(
            customers: numbers.map {
                PurchaseSummary(frequency: Int($0[0]), recency: $0[1], age: $0[2], monetary: $0[3])
            },
            pAlive: numbers.map { $0[4] }, expectedPurchases: numbers.map { $0[5] },
            expectedSpend: numbers.map { $0[6] }, bgnbd: json["bgnbd"] as! [String: Double],
            gammaGamma: json["gamma_gamma"] as! [String: Double],
            bgnbdMeanLogLikelihood: json["bgnbd_mean_log_likelihood"] as! Double)
    }()

    static func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-12) }

    @Test(
        "BG/NBD on CDNOW: the paper's parameters (r 0.2426, alpha 4.4135, a 0.7929, b 2.4258) and log-likelihood (-9582.4), lifetimes' to 1e-4"
    )
    func bgnbdParameters() {
        let reference = Self.reference
        let (model, fit) = BetaGeometricNBD.fit(reference.customers)
        #expect(fit.converged && fit.customers == 2357)
        let paper = [
            ("r", model.r, 0.2426), ("alpha", model.alpha, 4.4135), ("a", model.a, 0.7929),
            ("b", model.b, 2.4258),
        ]
        let lifetimes = reference.bgnbd
        for (name, ours, published) in paper {
            #expect(abs(ours - published) < 1e-3, "\(name): \(ours) vs the paper's \(published)")
            #expect(
                Self.relative(ours, lifetimes[name]!) < 1e-4,
                "\(name): \(ours) vs lifetimes' \(lifetimes[name]!)")
        }
        #expect(abs(fit.meanLogLikelihood * 2357 - -9582.4) < 0.1)
        let theirs = reference.bgnbdMeanLogLikelihood
        #expect(fit.meanLogLikelihood >= theirs - 1e-9, "at least as likely as lifetimes' optimum")
    }

    @Test(
        "Per customer on CDNOW: P(alive) and expected purchases in the next 39 weeks within 1e-4 of lifetimes'"
    )
    func bgnbdPerCustomer() {
        let reference = Self.reference
        let (model, _) = BetaGeometricNBD.fit(reference.customers)
        var worstAlive = 0.0, worstPurchases = 0.0
        for (i, customer) in reference.customers.enumerated() {
            worstAlive = max(
                worstAlive, abs(model.probabilityAlive(customer) - reference.pAlive[i]))
            worstPurchases = max(
                worstPurchases,
                Self.relative(
                    model.expectedPurchases(customer, horizon: 39), reference.expectedPurchases[i]))
        }
        #expect(worstAlive < 1e-4)
        #expect(worstPurchases < 1e-4)
    }

    @Test(
        "Gamma-Gamma on CDNOW's 946 repeat buyers: lifetimes' p, q, v and expected spend per customer to 1e-4"
    )
    func gammaGamma() throws {
        let reference = Self.reference
        let (model, fit) = try #require(GammaGamma.fit(reference.customers))
        #expect(fit.converged && fit.customers == 946)
        let lifetimes = reference.gammaGamma
        for (name, ours) in [("p", model.p), ("q", model.q), ("v", model.v)] {
            #expect(
                Self.relative(ours, lifetimes[name]!) < 1e-4,
                "\(name): \(ours) vs \(lifetimes[name]!)")
        }
        let worst = zip(reference.customers, reference.expectedSpend).map {
            Self.relative(model.expectedSpend($0), $1)
        }.max()!
        #expect(worst < 1e-4)
    }

    @Test(
        "P(alive) falls as the time since the last purchase grows, frequency and age fixed; expected purchases too"
    )
    func aliveFallsWithSilence() {
        let model = BetaGeometricNBD(r: 0.2426, alpha: 4.4135, a: 0.7929, b: 2.4258)
        for frequency in [1, 2, 5, 20] {
            let ages = stride(from: 38.0, through: 0.0, by: -2.0).map {
                PurchaseSummary(frequency: frequency, recency: $0, age: 38)
            }
            let alive = ages.map(model.probabilityAlive)
            let purchases = ages.map { model.expectedPurchases($0, horizon: 39) }
            #expect(zip(alive, alive.dropFirst()).allSatisfy { $0 > $1 }, "frequency \(frequency)")
            #expect(zip(purchases, purchases.dropFirst()).allSatisfy { $0 > $1 })
        }
        #expect(model.probabilityAlive(PurchaseSummary(frequency: 0, recency: 0, age: 30)) == 1)
    }

    @Test(
        "Edge cases: one-time buyers only, one customer, all on the snapshot day: no model, saying why; zero spend is left out of the spend model"
    )
    func unsupported() throws {
        let once = (0..<500).map {
            PurchaseSummary(frequency: 0, recency: 0, age: Double($0 % 300))
        }
        #expect(throws: CustomerValueModel.Unsupported.self) { try CustomerValueModel.fit(once) }
        #expect(throws: CustomerValueModel.Unsupported.self) {
            try CustomerValueModel.fit([
                PurchaseSummary(frequency: 3, recency: 10, age: 20, monetary: 5)
            ])
        }
        let today = (0..<100).map { _ in PurchaseSummary(frequency: 0, recency: 0, age: 0) }
        #expect(throws: CustomerValueModel.Unsupported.self) { try CustomerValueModel.fit(today) }
        // Zero spend: the purchase model fits, the spend model leaves those customers out.
        var customers = Self.reference.customers
        for i in customers.indices where i % 2 == 0 { customers[i].monetary = 0 }
        let model = try CustomerValueModel.fit(customers)
        #expect(model.spendFit?.customers == customers.filter(GammaGamma.fits).count)
        #expect(model.spendFit!.customers < 946)
    }

    @Test(
        "Lifetime value: undiscounted, the expected purchases over the horizon times the spend; a discount lowers it"
    )
    func lifetimeValue() throws {
        let model = try CustomerValueModel.fit(Self.reference.customers)
        let customer = PurchaseSummary(frequency: 4, recency: 30, age: 38, monetary: 30)
        let plain = model.figures(
            customer, settings: ValueSettings(purchaseHorizonDays: 39, valueHorizonDays: 52))
        let spend = try #require(plain.expectedSpend)
        let direct = model.purchases.expectedPurchases(customer, horizon: 52) * spend
        #expect(Self.relative(try #require(plain.lifetimeValue), direct) < 1e-9)
        let discounted = model.figures(
            customer, settings: ValueSettings(valueHorizonDays: 52, annualDiscountRate: 0.1))
        #expect(try #require(discounted.lifetimeValue) < plain.lifetimeValue!)
        #expect(model.warnings.isEmpty, "\(model.warnings)")
    }

    @Test("Special functions: digamma and the hypergeometric series against known values")
    func specialFunctions() {
        #expect(abs(Special.digamma(1) - -0.5772156649015329) < 1e-13)
        #expect(abs(Special.digamma(0.5) - -1.9635100260214235) < 1e-13)
        #expect(abs(Special.digamma(10) - 2.251752589066721) < 1e-13)
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z
        for z in [0.1, 0.5, 0.9, 0.99] {
            let exact = -log(1 - z) / z
            #expect(abs(Special.hypergeometric2F1(1, 1, 2, z) - exact) / exact < 1e-12)
        }
        // 2F1(a, b; b; z) = (1 - z)^-a
        #expect(abs(log(Special.hypergeometric2F1(30, 7, 7, 0.6)) - -30 * log(0.4)) < 1e-10)
    }

    @Test(
        "Purchase summaries from order lines: lifetimes' conventions at daily periods, cancelled spend netted"
    )
    func summaries() {
        var table = TransactionTable()
        table.customerIDs = ["a", "b", "c"]
        let day = Int64(86_400)
        // a: two lines on day 10, then days 15 and 20; b: one day; c: none left after cleaning.
        let rows: [(Int32, Int64, Double)] = [
            (0, 10 * day + 3600, 5), (1, 12 * day, 7), (0, 10 * day + 7200, 3), (0, 20 * day, 20),
            (0, 15 * day, 10),
        ]
        table.customer = rows.map(\.0)
        table.seconds = rows.map(\.1)
        table.amount = rows.map(\.2)
        table.quantity = rows.map { _ in 1 }
        let plain = PurchaseSummary.summaries(of: table, snapshotDay: 30)
        #expect(plain[0] == PurchaseSummary(frequency: 2, recency: 10, age: 20, monetary: 15))
        #expect(plain[1] == PurchaseSummary(frequency: 0, recency: 0, age: 18, monetary: 0))
        #expect(plain[2] == PurchaseSummary(frequency: 0, recency: 0, age: 0, monetary: 0))
        // 3.8 of a's 38 cancelled: every purchase day counts 90% of its spend.
        table.cancelled = [3.8, 0, 0]
        let netted = PurchaseSummary.summaries(of: table, snapshotDay: 30)
        #expect(abs(netted[0].monetary - 13.5) < 1e-12 && netted[0].frequency == 2)
    }

    @Test(
        "Per segment: mean P(alive), the likely-lapsed share, expected purchases and revenue, lifetime value and the value at risk (P(alive) < 0.5)"
    )
    func segmentValues() {
        let figures = [
            CustomerValueFigures(
                probabilityAlive: 0.9, expectedPurchases: 2, expectedSpend: 10, lifetimeValue: 50),
            CustomerValueFigures(
                probabilityAlive: 0.3, expectedPurchases: 0.5, expectedSpend: 20, lifetimeValue: 30),
            CustomerValueFigures(
                probabilityAlive: 0.1, expectedPurchases: 0.1, expectedSpend: 5, lifetimeValue: 2),
        ]
        let values = SegmentValue.bySegment(figures, labels: [0, 0, 1], segments: 3)
        #expect(values[0].customers == 2 && abs(values[0].meanProbabilityAlive - 0.6) < 1e-12)
        #expect(values[0].shareLikelyLapsed == 0.5 && values[0].expectedPurchases == 2.5)
        #expect(
            values[0].expectedRevenue == 30 && values[0].lifetimeValue == 80
                && values[0].valueAtRisk == 30)
        #expect(values[1].valueAtRisk == 2 && values[1].shareLikelyLapsed == 1)
        #expect(values[2].customers == 0 && values[2].lifetimeValue == nil)
        // Without a spend model: no money figure anywhere.
        let counts = figures.map {
            CustomerValueFigures(
                probabilityAlive: $0.probabilityAlive, expectedPurchases: $0.expectedPurchases)
        }
        #expect(
            SegmentValue.bySegment(counts, labels: [0, 0, 1], segments: 2).allSatisfy {
                $0.valueAtRisk == nil
            })
    }

    @Test(
        "Online Retail: the purchase summaries' fit equals lifetimes' on the same summaries (BG/NBD and Gamma-Gamma to 1e-4)",
        .enabled(if: Shared.hasOnlineRetail, "../shared is absent: skipped"))
    func onlineRetail() throws {
        var loader = TransactionLoader()
        try loader.add(path: Shared.path("data/online-retail/by-day"))
        let (table, _) = try loader.finish()
        let snapshot = RFMFeatureBuilder.build(table).snapshotDay
        let customers = PurchaseSummary.summaries(of: table, snapshotDay: snapshot)
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures")
        let reference =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: folder.appendingPathComponent("btyd_online_retail.json")))
            as! [String: Any]
        #expect(customers.count == reference["customers"] as! Int)
        let model = try CustomerValueModel.fit(customers)
        let bgnbd = reference["bgnbd"] as! [String: Double],
            spend = reference["gamma_gamma"] as! [String: Double]
        let ours = [
            ("r", model.purchases.r, bgnbd["r"]!),
            ("alpha", model.purchases.alpha, bgnbd["alpha"]!),
            ("a", model.purchases.a, bgnbd["a"]!), ("b", model.purchases.b, bgnbd["b"]!),
            ("p", model.spend!.p, spend["p"]!), ("q", model.spend!.q, spend["q"]!),
            ("v", model.spend!.v, spend["v"]!),
        ]
        for (name, value, theirs) in ours {
            #expect(
                Self.relative(value, theirs) < 1e-4, "\(name): \(value) vs lifetimes' \(theirs)")
        }
    }
}
