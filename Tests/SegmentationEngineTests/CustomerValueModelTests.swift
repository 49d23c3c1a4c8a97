import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Customer value in trained models, scores and names")
struct CustomerValueModelTests {
    static let trained: (SegmentationModel, SampleDataGenerator.Output) = {
        try! ModelTests.trainedModel(customers: 900, ks: [3, 4, 5], seed: 11)
    }()

    @Test(
        "Training fits the customer-value model, and each segment's figures are its customers' figures summed"
    )
    func trainingFits() throws {
        let (model, output) = Self.trained
        let value = try #require(model.customerValue)
        let fitted = try #require(value.model, "\(value.unavailable ?? "")")
        #expect(fitted.purchasesFit.converged && fitted.spend != nil)
        #expect(value.settings == ValueSettings())
        // The same figures again from the data, by customer, summed per segment.
        var loader = TransactionLoader()
        try loader.add(bytes: Data(output.csv.utf8), source: "sample.csv")
        let (table, _) = try loader.finish()
        let summaries = PurchaseHistories(table).summaries(snapshotDay: model.snapshotDay!)
        let assignments = try model.score(
            transactions: table, snapshotDay: model.snapshotDay!)
        var expected = [Double](repeating: 0, count: model.k)
        var customers = [Int](repeating: 0, count: model.k)
        for (assignment, figures) in zip(assignments, fitted.figures(summaries)) {
            #expect(assignment.value == figures)
            expected[assignment.segmentID] += figures.lifetimeValue!
            customers[assignment.segmentID] += 1
        }
        for segment in model.segments {
            let segmentValue = try #require(segment.profile.facts?.value)
            #expect(segmentValue.customers == customers[segment.id])
            #expect(
                abs(segmentValue.lifetimeValue! - expected[segment.id]) < 1e-6
                    * expected[segment.id])
        }
    }

    @Test("Every name and description is checked against the value facts too")
    func namesTellTheValueTruth() {
        let (model, _) = Self.trained
        let checker = ClaimChecker(
            profiles: model.segments.map(\.profile), clustering: model.pipeline.features)
        for segment in model.segments {
            let label = SegmentLabel(
                name: segment.name, description: segment.description, actions: segment.actions)
            let problems = checker.violations(label, index: segment.id)
            #expect(problems.isEmpty, "\(problems)")
            #expect(segment.description.contains("mean probability of still buying"))
        }
    }

    @Test(
        "A segment most of whose customers are likely no longer buying is named so, backed by P(alive), and won back first"
    )
    func likelyLapsedIsNamed() {
        let population = RFMPopulation(
            lapsed: 0.3, oneTime: 0.3, recency: 60, frequency: 3, spend: 500, basket: 100)
        var profile = rfmProfile(
            population, lapsed: 0.35, oneTime: 0.1, recency: 70, frequency: 4, spend: 520,
            basket: 110, revenue: 0.5, share: 0.5)
        profile.facts!.value = SegmentValue(
            customers: 100, purchaseHorizonDays: 90, valueHorizonDays: 365,
            meanProbabilityAlive: 0.38, shareLikelyLapsed: 0.64, expectedPurchases: 12,
            expectedRevenue: 1200, lifetimeValue: 4000, valueAtRisk: 1500)
        let other = rfmProfile(population, revenue: 0.5, share: 0.5)
        let labels = SegmentLabeler.labels(
            for: [profile, other], clusteringFeatures: LabelTests.rfm, excluded: [])
        #expect(labels[0].name.contains("Likely Lapsed"), "\(labels[0].name)")
        #expect(labels[0].description.contains("ave most likely stopped buying (64% with"))
        #expect(labels[0].description.contains("1,500 of it from customers likely lapsed"))
        #expect(
            [
                "Low-cost automated reactivation emails",
                "Reminder campaign with recommendations from past purchases",
            ]
            .contains(labels[0].actions.first ?? ""), "\(labels[0].actions)")
        #expect(!labels[1].name.contains("Lapsed"))
        // The same segment without a purchase model claims nothing of it.
        profile.facts!.value = nil
        let plain = SegmentLabeler.labels(
            for: [profile, other], clusteringFeatures: LabelTests.rfm, excluded: [])
        #expect(!plain[0].name.contains("Lapsed") && !plain[0].description.contains("P(alive)"))
    }

    @Test("A customer table has no purchase history: no customer-value model")
    func customerTablesHaveNone() throws {
        var rows = ["id,balance,purchases"]
        for i in 0..<60 { rows.append("c\(i),\(i * 37 % 500),\(i % 7)") }
        var configuration = TrainingConfiguration()
        configuration.kind = .customers
        configuration.ks = [2]
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "customers.csv", data: Data(rows.joined(separator: "\n").utf8))
        ])
        #expect(model.customerValue == nil)
        #expect(model.segments.allSatisfy { $0.profile.products == nil })
    }

    @Test(
        "Feature rows with the purchase-summary columns get figures; bad summaries are refused naming the column"
    )
    func featureRowsWithSummaries() throws {
        let (model, _) = Self.trained
        let fitted = try #require(model.customerValue?.model)
        let columns = model.pipeline.features + PurchaseSummary.columnNames
        let base = model.pipeline.features.map { name -> Double in
            model.segments[0].profile.features.first { $0.feature == name }!.median
        }
        let row = Matrix(rows: 1, columns: columns.count, values: base + [3, 100, 200, 45])
        let settings = ValueSettings(
            purchaseHorizonDays: 30, valueHorizonDays: 730, annualDiscountRate: 0.1)
        let scored = try model.score(
            customerIDs: ["x"], columns: columns, values: row,
            options: ScoreOptions(value: settings))
        let summary = PurchaseSummary(frequency: 3, recency: 100, age: 200, monetary: 45)
        #expect(scored[0].value == fitted.figures([summary], settings: settings)[0])
        // The segment is the one the clustering columns alone give.
        let plain = try model.score(
            customerIDs: ["x"], columns: model.pipeline.features,
            values: Matrix(rows: 1, columns: base.count, values: base))
        #expect(plain[0].segmentID == scored[0].segmentID && plain[0].value == nil)
        // Without btyd_monetary: P(alive) and purchases, no money figure.
        let countsOnly = try model.score(
            customerIDs: ["x"], columns: Array(columns.dropLast()),
            values: Matrix(rows: 1, columns: columns.count - 1, values: base + [3, 100, 200]))
        let figures = try #require(countsOnly[0].value)
        #expect(figures.probabilityAlive == scored[0].value!.probabilityAlive)
        #expect(figures.expectedSpend == nil && figures.lifetimeValue == nil)

        func refusal(_ values: [Double], columns: [String] = columns) -> String {
            do {
                _ = try model.score(
                    customerIDs: ["x"], columns: columns,
                    values: Matrix(rows: 1, columns: values.count, values: values))
                return "accepted"
            } catch { return String(describing: error) }
        }
        #expect(refusal(base + [3, 300, 200, 45]).contains("btyd_recency"))
        #expect(refusal(base + [2.5, 100, 200, 45]).contains("btyd_frequency"))
        #expect(refusal(base + [3, 100, 200, -1]).contains("btyd_monetary"))
        #expect(
            refusal(
                base + [3, 100],
                columns: model.pipeline.features + ["btyd_frequency", "btyd_recency"])
                == "missing column 'btyd_t'")
        do {
            _ = try model.score(
                customerIDs: ["x"], columns: columns, values: row,
                options: ScoreOptions(recommend: 3))
            Issue.record("recommendations without purchases were accepted")
        } catch let error as ScoringError {
            #expect(error.description.hasPrefix("recommend needs transactions"))
        }
        #expect(throws: InputError.self) {
            try ScoreOptions(value: ValueSettings(purchaseHorizonDays: 0)).validate()
        }
    }

    @Test(
        "What each segment buys: buyers and lift counted by hand; recommendations leave out what the customer has"
    )
    func segmentProducts() throws {
        var table = TransactionTable()
        table.customerIDs = (0..<40).map { "c\($0)" }
        table.products = ["A", "B", "C"]
        table.productNames = ["Apple", "Bread", ""]
        // Customers 0..<20 (segment 0) all buy A, 0..<12 also B; 20..<40 buy C, 20..<25 also A.
        var lines: [(Int32, Int32)] = []
        for c in 0..<20 { lines.append((Int32(c), 0)) }
        for c in 0..<12 { lines += [(Int32(c), 1), (Int32(c), 1)] }
        for c in 20..<40 { lines.append((Int32(c), 2)) }
        for c in 20..<25 { lines.append((Int32(c), 0)) }
        table.customer = lines.map(\.0)
        table.product = lines.map(\.1)
        let purchases = try #require(ProductPurchases(table))
        let labels = (0..<40).map { Int32($0 < 20 ? 0 : 1) }
        let lists = SegmentProducts.perSegment(purchases, labels: labels, segments: 2)
        #expect(lists[0].popular.map(\.code) == ["A", "B"])
        #expect(lists[0].popular[0].buyers == 20 && lists[0].popular[0].share == 1)
        // A: bought by 25 of 40; in segment 0 by all 20: lift 1 / (25 / 40) = 1.6.
        #expect(abs(lists[0].popular[0].lift - 1.6) < 1e-12)
        // B is bought by segment 0 only: lift 2, so it leads the distinctive list.
        #expect(lists[0].distinctive.map(\.code) == ["B", "A"])
        #expect(lists[0].popular[1].name == "Bread")
        // Segment 1: C by all 20; A by only 5, under the minimum of 10 buyers.
        #expect(lists[1].popular.map(\.code) == ["C"] && lists[1].minimumBuyers == 10)
        #expect(
            lists[0].recommendations(count: 5, excluding: ["A"]).map(\.code) == ["B"])
        #expect(lists[0].recommendations(count: 1, excluding: []).map(\.code) == ["B"])
    }

    @Test("The holdout check: predicted repeat purchases in the last third beside those made")
    func calibration() throws {
        let (model, _) = Self.trained
        let value = try #require(model.customerValue)
        guard let check = value.calibration else {
            #expect(
                value.calibrationNote?.contains("span") == true, "\(value.calibrationNote ?? "")")
            return
        }
        #expect(check.groups.reduce(0) { $0 + $1.customers } > 0)
        #expect(check.totalActual > 0 && check.totalPredicted > 0)
        #expect(check.holdoutDays >= CalibrationCheck.minimumSpanDays / 3)
    }

    @Test("A model with its customer value survives serialization")
    func roundTrip() throws {
        let (model, _) = Self.trained
        let again = try SegmentationModel(serialized: model.serialized())
        #expect(again.customerValue == model.customerValue)
        #expect(again.segments.map(\.profile.products) == model.segments.map(\.profile.products))
    }

    @Test(
        "On the demo's generated orders (spend per purchase in the hundreds) both fits converge to lifetimes' parameters"
    )
    func generatedSpendScale() throws {
        let csv = SampleDataGenerator(customers: 3000, seed: 7).generate().csv
        var loader = TransactionLoader()
        try loader.add(bytes: Data(csv.utf8), source: "sample.csv")
        let (table, _) = try loader.finish()
        let snapshot = RFMFeatureBuilder.build(table).snapshotDay
        let model = try CustomerValueModel.fit(
            PurchaseHistories(table).summaries(snapshotDay: snapshot))
        let spend = try #require(model.spend, "\(model.warnings)")
        #expect(model.spendFit!.converged && model.spendFit!.iterations < 100)
        // lifetimes 0.11.3 (BetaGeoFitter, GammaGammaFitter) on the same summaries.
        let theirs: [(String, Double, Double)] = [
            ("r", model.purchases.r, 0.8345939425929008),
            ("alpha", model.purchases.alpha, 36.981207130629976),
            ("a", model.purchases.a, 0.24682813592042255),
            ("b", model.purchases.b, 1.4286681579018938),
            ("p", spend.p, 1.466789943015667), ("q", spend.q, 4.297001967947725),
            ("v", spend.v, 923.1857324070406),
        ]
        for (name, ours, reference) in theirs {
            #expect(abs(ours - reference) / reference < 1e-5, "\(name): \(ours) vs \(reference)")
        }
    }

    @Test(
        "The arranged likelihoods (identical customers once, gamma functions once per frequency) equal the customer-by-customer sums, value and gradient"
    )
    func arrangedLikelihoods() throws {
        let cdnow = CustomerValueTests.reference.customers
        let model = try CustomerValueModel.fit(cdnow)
        let near = BetaGeometricNBD(r: 0.3, alpha: 5, a: 0.7, b: 2.1)
        for bgnbd in [model.purchases, near] {
            let direct = bgnbd.meanLogLikelihoodAndGradient(cdnow)
            let arranged = bgnbd.meanLogLikelihoodAndGradient(PurchaseLikelihoodData(cdnow))
            #expect(CustomerValueTests.relative(arranged.value, direct.value) < 1e-12)
            for (a, d) in zip(arranged.gradient, direct.gradient) { #expect(abs(a - d) < 1e-10) }
        }
        let spend = GammaGamma(p: 5, q: 3, v: 20)
        let direct = spend.meanLogLikelihoodAndGradient(cdnow.filter(GammaGamma.fits))
        let arranged = spend.meanLogLikelihoodAndGradient(SpendLikelihoodData(cdnow))
        #expect(CustomerValueTests.relative(arranged.value, direct.value) < 1e-12)
        for (a, d) in zip(arranged.gradient, direct.gradient) { #expect(abs(a - d) < 1e-10) }
    }

    @Test(
        "Figures in bulk equal the one-by-one figures: ages in whole days (a table) and in fractions (CDNOW's weeks)"
    )
    func bulkFigures() throws {
        let (trained, _) = Self.trained
        let model = try #require(trained.customerValue?.model)
        let days = [
            PurchaseSummary(frequency: 0, recency: 0, age: 30),
            PurchaseSummary(frequency: 3, recency: 100, age: 200, monetary: 45),
            PurchaseSummary(frequency: 3, recency: 20, age: 200, monetary: 80),
            PurchaseSummary(frequency: 12, recency: 360, age: 365, monetary: 300),
        ]
        let weeks = CustomerValueTests.reference.customers
        let settings = ValueSettings(
            purchaseHorizonDays: 60, valueHorizonDays: 400, annualDiscountRate: 0.08)
        for (customers, fitted) in [(days, model), (weeks, try CustomerValueModel.fit(weeks))] {
            let bulk = fitted.figures(customers, settings: settings)
            let (alive, purchases) = fitted.purchases.probabilityAliveAndExpectedPurchases(
                customers, horizon: 60)
            for (i, customer) in customers.enumerated() {
                let one = fitted.figures(customer, settings: settings)
                #expect(
                    CustomerValueTests.relative(bulk[i].probabilityAlive, one.probabilityAlive)
                        < 1e-12)
                #expect(CustomerValueTests.relative(alive[i], one.probabilityAlive) < 1e-12)
                #expect(
                    CustomerValueTests.relative(bulk[i].expectedPurchases, one.expectedPurchases)
                        < 1e-12)
                #expect(CustomerValueTests.relative(purchases[i], one.expectedPurchases) < 1e-12)
                #expect(bulk[i].expectedSpend == one.expectedSpend)
                #expect(
                    CustomerValueTests.relative(bulk[i].lifetimeValue!, one.lifetimeValue!) < 1e-12)
            }
        }
    }

    @Test(
        "Euler's form of the expected purchases equals the direct series, also where c = a + b - 1 is negative (a + b < 1, a model a small dataset gave)"
    )
    func eulerForm() {
        for (r, alpha, a, b) in [(0.24, 4.4, 0.79, 2.4), (0.8, 40, 0.3, 0.5), (1.5, 10, 0.05, 0.6)]
        {
            let model = BetaGeometricNBD(r: r, alpha: alpha, a: a, b: b)
            for x in [0, 1, 5, 40] {
                for (age, horizon) in [(30.0, 90.0), (300, 90), (10, 365)] {
                    let xd = Double(x)
                    let z = horizon / (alpha + age + horizon)
                    let direct =
                        (a + b + xd - 1) / (a - 1)
                        * (1 - pow(1 - z, r + xd)
                            * Special.hypergeometric2F1(r + xd, b + xd, a + b + xd - 1, z))
                    let euler = model.alivePurchases(frequency: x, age: age, horizon: horizon)
                    #expect(
                        abs(euler - direct) <= 1e-9 * max(1, abs(direct)),
                        "r \(r) a \(a) b \(b) x \(x) T \(age): \(euler) vs \(direct)")
                    #expect(euler.isFinite && euler >= 0)
                }
            }
        }
    }
}
