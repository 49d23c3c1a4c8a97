import Foundation
import Synchronization
import Testing

@testable import SegmentationEngine

@Suite("Pipeline, labels, model and scoring")
struct ModelTests {
    static func trainedModel(
        customers: Int = 800, ks: [Int] = Array(2...6), seed: UInt64 = 7
    ) throws -> (SegmentationModel, SampleDataGenerator.Output) {
        let output = SampleDataGenerator(customers: customers, seed: seed).generate()
        var configuration = TrainingConfiguration()
        configuration.ks = ks
        configuration.nInit = 4
        let model = try SegmentationTrainer(configuration: configuration)
            .train([.bytes(name: "sample.csv", data: Data(output.csv.utf8))])
        return (model, output)
    }

    @Test("log1p then standard scaling with the population standard deviation")
    func standardPipeline() throws {
        let raw = Matrix(rowArrays: [[0, 10], [1, 20], [3, 30]])
        let pipeline = try FittedPipeline.fit(
            raw, features: ["a", "b"], spec: PipelineSpec(log: .features(["a"]), scaling: .standard)
        )
        let logged = [0.0, log1p(1.0), log1p(3.0)]
        let mean = logged.reduce(0, +) / 3
        let sd = (logged.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3).squareRoot()
        let out = try pipeline.transform(raw)
        #expect(abs(out[2, 0] - (log1p(3.0) - mean) / sd) < 1e-12)
        #expect(abs(out[0, 1] - (10 - 20) / (200.0 / 3).squareRoot()) < 1e-12)
    }

    @Test("Robust and min-max scaling; constant columns stay finite")
    func otherScalers() throws {
        let raw = Matrix(rowArrays: [[1, 5], [2, 5], [3, 5], [4, 5], [100, 5]])
        let robust = try FittedPipeline.fit(
            raw, features: ["a", "b"], spec: PipelineSpec(log: .none, scaling: .robust))
        #expect(robust.center == [3, 5])
        #expect(robust.scale == [2, 1])
        let minMax = try FittedPipeline.fit(
            raw, features: ["a", "b"], spec: PipelineSpec(log: .none, scaling: .minMax))
        let out = try minMax.transform(raw)
        #expect(out[4, 0] == 1 && out[0, 0] == 0 && out[0, 1] == 0)
    }

    @Test("The RFM rules partition the 5 x 5 grid and every segment is reachable")
    func rfmGrid() {
        var reached = Set<RFMSegment>()
        for r in 1...5 { for f in 1...5 { reached.insert(RFMSegment.segment(r: r, f: f)) } }
        #expect(reached == Set(RFMSegment.allCases))
        #expect(RFMSegment.segment(r: 5, f: 5) == .champions)
        #expect(RFMSegment.segment(r: 1, f: 5) == .cantLoseThem)
        #expect(RFMSegment.segment(r: 5, f: 1) == .newCustomers)
        #expect(RFMSegment.segment(r: 1, f: 1) == .hibernating)
        let scorer = RFMScorer(
            recency: (1...100).map(Double.init), frequency: (1...100).map(Double.init))
        #expect(scorer.recencyScore(1) == 5 && scorer.recencyScore(100) == 1)
        #expect(scorer.frequencyScore(100) == 5 && scorer.frequencyScore(1) == 1)
    }

    @Test("The sample generator's groups are recovered (adjusted Rand index >= 0.9)")
    func recoversGeneratedGroups() throws {
        let output = SampleDataGenerator(
            customers: 1200, groups: SampleDataGenerator.clearGroups, seed: 3, noise: true
        ).generate()
        var configuration = TrainingConfiguration()
        configuration.ks = [4]
        configuration.nInit = 5
        let model = try SegmentationTrainer(configuration: configuration)
            .train([.bytes(name: "clear.csv", data: Data(output.csv.utf8))])
        var loader = TransactionLoader()
        try loader.add(bytes: Array(output.csv.utf8), source: "clear.csv")
        let (table, report) = try loader.finish()
        #expect(report.removed(by: .missingCustomer) == output.guestRows)
        #expect(report.removed(by: .cancellation) == output.cancellationRows)
        #expect(report.removed(by: .nonPositive) == output.zeroPriceRows)
        #expect(report.removed(by: .duplicate) == output.duplicateRows)
        let assignments = try model.score(transactions: table, snapshotDay: model.snapshotDay)
        let truth = assignments.map { output.groupOf[$0.customerID]! }
        let ari = AdjustedRandIndex.compute(truth, assignments.map(\.segmentID))
        #expect(ari >= 0.9, "ARI \(ari)")
    }

    @Test(
        "Training produces named segments, the k table and a report; the model round-trips byte for byte"
    )
    func trainAndRoundTrip() throws {
        let (model, _) = try Self.trainedModel()
        #expect(model.kSelection.candidates.map(\.k) == Array(2...6))
        #expect(model.k == model.kSelection.chosenK)
        #expect(Set(model.segments.map(\.name)).count == model.k)
        #expect(model.segments.map(\.profile.size).reduce(0, +) == model.dataReport.customersOut)
        #expect(
            model.segments.map(\.profile.size) == model.segments.map(\.profile.size).sorted(by: >))
        #expect(abs(model.segments.compactMap(\.profile.revenueShare).reduce(0, +) - 1) < 1e-9)
        #expect(model.dataReport.snapshotDate == "2011-12-10")
        #expect(model.sample?.points.rows == min(2000, model.dataReport.customersOut))
        let bytes = try model.serialized()
        let loaded = try SegmentationModel(serialized: bytes)
        #expect(try loaded.serialized() == bytes)
        let equal = loaded == model  // not inside #expect: a failure would print both models whole
        #expect(equal, "the decoded model differs from the trained one")
    }

    @Test("Models from a newer format or other bytes are refused")
    func formatVersion() throws {
        let (model, _) = try Self.trainedModel(customers: 200, ks: [3])
        var bytes = try model.serialized()
        bytes[11] = 99
        #expect(
            throws: ModelError.newerFormat(
                found: 99, supported: SegmentationModel.currentFormatVersion)
        ) {
            try SegmentationModel(serialized: bytes)
        }
        #expect(throws: ModelError.notAModel) {
            try SegmentationModel(serialized: Data("hello world!!".utf8))
        }
    }

    @Test("A format 1 model (before charts and the sample's raw values) still loads and scores")
    func formatOneLoads() throws {
        let (model, output) = try Self.trainedModel(customers: 200, ks: [3])
        #expect(model.charts != nil && model.sample?.raw != nil)
        let bytes = try model.serialized()
        var body = try JSONSerialization.jsonObject(with: bytes[12...]) as! [String: Any]
        body["charts"] = nil
        body["formatVersion"] = 1
        var sample = body["sample"] as! [String: Any]
        sample["raw"] = nil
        body["sample"] = sample
        var old = Data("SEGMODEL".utf8) + Data([0, 0, 0, 1])
        old.append(try JSONSerialization.data(withJSONObject: body))
        let loaded = try SegmentationModel(serialized: old)
        #expect(loaded.formatVersion == 1 && loaded.charts == nil && loaded.sample?.raw == nil)
        var loader = TransactionLoader()
        try loader.add(bytes: Array(output.csv.utf8), source: "s.csv")
        let (table, _) = try loader.finish()
        #expect(
            try loaded.score(transactions: table).map(\.segmentID)
                == model.score(transactions: table).map(\.segmentID))
    }

    @Test(
        "Chart data: principal components of a line, Tukey boxes, the RFM grid and country counts add up"
    )
    func chartData() throws {
        // Points along (2, 1) with a little noise: the first component is that direction.
        var random = SeededGenerator(seed: 3)
        let points = (0..<500).flatMap { _ -> [Double] in
            let t = Double.random(in: -3...3, using: &random)
            return [2 * t + Double.random(in: -0.01...0.01, using: &random), t]
        }
        let pca = PrincipalComponents.fit(Matrix(rows: 500, columns: 2, values: points))
        #expect(
            abs(pca.components[0, 0] - 2 / 5.0.squareRoot()) < 1e-3
                && abs(pca.components[0, 1] - 1 / 5.0.squareRoot()) < 1e-3)
        #expect(
            pca.explainedVarianceRatio[0] > 0.999
                && abs(pca.explainedVarianceRatio.reduce(0, +) - 1) < 1e-9)
        let box = FeatureBox(feature: "x", values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 100])
        #expect(
            box.q1 == 3.25 && box.median == 5.5 && box.q3 == 7.75 && box.upperWhisker == 9
                && box.outliers == 1 && box.maximum == 100)
        let (model, _) = try Self.trainedModel(customers: 400, ks: [4])
        let charts = try #require(model.charts)
        #expect(
            charts.rfmGrid.map { $0.counts.joined().reduce(0, +) } == model.dataReport.customersOut)
        #expect(
            charts.countries.map { $0.counts.joined().reduce(0, +) }
                == model.dataReport.customersOut)
        #expect(
            charts.boxes.count == 4
                && charts.boxes.allSatisfy { $0.count == model.pipeline.features.count })
        for (segment, boxes) in zip(model.segments, charts.boxes) {
            #expect(
                boxes.map(\.median)
                    == model.pipeline.features.map { segment.profile.summary(of: $0)!.median })
        }
    }

    @Test(
        "Scoring: feature rows in any column order, batch equals one by one, training customers land in their segment"
    )
    func scoring() throws {
        let (model, output) = try Self.trainedModel(customers: 400, ks: [4])
        var loader = TransactionLoader()
        try loader.add(bytes: Array(output.csv.utf8), source: "s.csv")
        let (table, _) = try loader.finish()
        let (features, _) = RFMFeatureBuilder.build(table, snapshotDay: model.snapshotDay)
        let columns = ["monetary", "recency", "avg_order_value", "frequency"]
        let values = try features.selecting(features: columns)
        let batch = try model.score(
            customerIDs: features.customerIDs, columns: columns, values: values)
        #expect(batch.count == features.count)
        let sampleLabels = Dictionary(
            uniqueKeysWithValues: zip(model.sample!.customerIDs, model.sample!.labels))
        for assignment in batch {
            if let label = sampleLabels[assignment.customerID] {
                #expect(Int32(assignment.segmentID) == label)
            }
            #expect(assignment.distance <= assignment.runnerUpDistance)
            #expect(assignment.rfmSegment != nil)
        }
        let single = try model.score(
            customerID: features.customerIDs[5],
            features: Dictionary(uniqueKeysWithValues: zip(columns, values.row(5))))
        #expect(single == batch[5])
        // The bulk form: the same ids and distances as parallel arrays; rows without ids are "row N".
        let packed = try model.scoreBatch(customerIDs: nil, columns: columns, values: values)
        #expect(packed.segmentIDs == batch.map { Int32($0.segmentID) })
        #expect(packed.distances == batch.map(\.distance))
        #expect(packed.runnerUpIDs == batch.map { Int32($0.runnerUpID) })
        #expect(packed.runnerUpDistances == batch.map(\.runnerUpDistance))
        var broken = values
        broken[1, 2] = .infinity
        #expect(
            throws: ScoringError.nonFinite(
                customer: "row 2", field: "avg_order_value", value: .infinity)
        ) {
            try model.scoreBatch(customerIDs: nil, columns: columns, values: broken)
        }
    }

    @Test(
        "Every scoring path stops when its cancellation check fires, part-way through a large batch"
    )
    func scoringCancellation() throws {
        let (model, output) = try Self.trainedModel(customers: 400, ks: [4])
        var loader = TransactionLoader()
        try loader.add(bytes: Array(output.csv.utf8), source: "s.csv")
        let (table, _) = try loader.finish()
        let now = CancellationCheck { true }
        #expect(throws: CancellationError.self) {
            try model.score(transactions: table, cancellation: now)
        }
        let (features, _) = RFMFeatureBuilder.build(table, snapshotDay: model.snapshotDay)
        let columns = model.pipeline.features
        let values = try features.selecting(features: columns)
        #expect(throws: CancellationError.self) {
            try model.scoreBatch(
                customerIDs: nil, columns: columns, values: values, cancellation: now)
        }
        // 10,000 rows: checks before and after scaling, then every 4,096 rows of the nearest-centre
        // search; one that fires from the third call on stops the search part-way (row 4,096).
        let many = Matrix(
            rows: 10_000, columns: columns.count,
            values: (0..<10_000).flatMap { values.row($0 % values.rows) })
        for batch in [false, true] {
            let calls = Mutex(0)
            let later = CancellationCheck {
                calls.withLock {
                    $0 += 1; return $0 > 2
                }
            }
            #expect(throws: CancellationError.self) {
                if batch {
                    _ = try model.scoreBatch(
                        customerIDs: nil, columns: columns, values: many, cancellation: later)
                } else {
                    _ = try model.score(
                        customerIDs: (0..<10_000).map { "c\($0)" }, columns: columns, values: many,
                        cancellation: later)
                }
            }
            #expect(calls.withLock { $0 } == 3, "batch \(batch)")
        }
    }

    @Test("Scoring errors name the customer and field")
    func scoringErrors() throws {
        let (model, _) = try Self.trainedModel(customers: 200, ks: [3])
        let columns = model.expectedColumns
        func row(_ values: [Double]) -> Matrix {
            Matrix(rows: 1, columns: values.count, values: values)
        }
        #expect(throws: ScoringError.nonFinite(customer: "c1", field: "monetary", value: .infinity))
        {
            try model.score(
                customerIDs: ["c1"], columns: columns, values: row([10, 2, .infinity, 5]))
        }
        #expect(throws: ScoringError.self) {
            try model.score(customerIDs: ["c1"], columns: columns, values: row([.nan, 2, 3, 5]))
        }
        #expect(throws: ScoringError.unknownColumn("colour", expected: columns)) {
            try model.score(
                customerIDs: ["c1"], columns: columns + ["colour"], values: row([1, 2, 3, 4, 5]))
        }
        #expect(throws: ScoringError.missingColumn("avg_order_value")) {
            try model.score(
                customerIDs: ["c1"], columns: Array(columns.prefix(3)), values: row([1, 2, 3]))
        }
        #expect(
            throws: ScoringError.outOfDomain(
                customer: "c2", field: "recency", value: -5,
                reason: "is <= -1, outside the log1p transform's domain")
        ) {
            try model.score(customerIDs: ["c2"], columns: columns, values: row([-5, 2, 3, 4]))
        }
    }

    @Test("Renaming a segment is recorded, and refused for unknown ids or clashing names")
    func rename() throws {
        let (model, _) = try Self.trainedModel(customers: 300, ks: [3])
        let renamed = try model.editingSegment(1, name: "  VIP  ", author: "ana")
        #expect(renamed.segments[1].name == "VIP")
        #expect(renamed.segments[1].generatedName == model.segments[1].name)
        #expect(
            renamed.annotations.count == 1
                && renamed.annotations[0].oldValue == model.segments[1].name)
        #expect(throws: ModelError.self) { try model.editingSegment(9, name: "x") }
        #expect(throws: ModelError.self) { try renamed.editingSegment(0, name: "VIP") }
    }

    @Test(
        "Customer tables: a two-level text column is one 0/1 column, missing numbers imputed by the median and counted"
    )
    func customerTables() throws {
        var csv = "CUST_ID,balance,purchases,channel\n"
        var random = SeededGenerator(seed: 2)
        for i in 0..<120 {
            let rich = i % 2 == 0
            let balance = rich ? 5000 + random.nextUnit() * 1000 : 100 + random.nextUnit() * 50
            let purchases =
                i == 7
                ? "" : String(rich ? 3000 + random.nextUnit() * 500 : 20 + random.nextUnit() * 10)
            csv += "C\(i),\(balance),\(purchases),\(rich ? "store" : "web")\n"
        }
        csv += "C0,1,2\n"  // malformed
        var configuration = TrainingConfiguration()
        configuration.kind = .customers
        configuration.ks = [2]
        let model = try SegmentationTrainer(configuration: configuration)
            .train([.bytes(name: "cards.csv", data: Data(csv.utf8))])
        #expect(model.pipeline.features == ["balance", "purchases", "channel=web"])
        #expect(model.dataReport.imputed.map(\.column) == ["purchases"])
        #expect(model.dataReport.imputed.first?.count == 1)
        #expect(model.dataReport.removed(by: .unparseable) == 1)
        #expect(model.segments.map(\.profile.size) == [60, 60])
        #expect(Set(model.segments.map(\.name)).count == 2)
        let table = try CustomerTableLoader.read(
            bytes: Array(
                "CUST_ID,balance,purchases,channel\nX1,5500,3100,store\nX2,120,,web\n".utf8),
            source: "new.csv")
        let scores = try model.score(customerTable: table)
        #expect(scores[0].segmentID != scores[1].segmentID)
        let bad = try CustomerTableLoader.read(
            bytes: Array("CUST_ID,balance,purchases,channel\nX3,lots,1,store\n".utf8),
            source: "bad.csv")
        #expect(throws: ScoringError.unreadable(customer: "X3", field: "balance", text: "lots")) {
            try model.score(customerTable: bad)
        }
    }

    @Test("Invalid training options are refused before any work")
    func invalidOptions() {
        var configuration = TrainingConfiguration()
        configuration.ks = [1, 3]
        #expect(throws: InputError.invalidOption("k must be at least 2, got 1")) {
            try configuration.validate()
        }
        configuration.ks = [3, 1001]
        #expect(throws: InputError.self) { try configuration.validate() }
        configuration.ks = [3]
        configuration.selection = .elbow
        #expect(throws: InputError.self) { try configuration.validate() }
        configuration.selection = nil
        configuration.pipeline = PipelineSpec(log: .features([]), scaling: .standard)
        #expect(throws: InputError.self) { try configuration.validate() }
        configuration.pipeline = nil
        for date in ["0001-01-01", "9999-12-31"] {
            configuration.snapshotDate = date
            #expect(throws: InputError.self) { try configuration.validate() }
        }
        configuration.snapshotDate = nil
        configuration.ks = [3]
        // An unknown method cannot be configured (the type has no such case), and a stored one does not decode.
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ClusteringMethod.self, from: Data(#""magic""#.utf8))
        }
        configuration.algorithm = .kmeans
        configuration.features = ["recency", "shoe_size"]
        let output = SampleDataGenerator(customers: 50, seed: 1).generate()
        #expect(
            throws: InputError.unknownFeature(
                "shoe_size", available: TransactionFeature.allCases.map(\.rawValue))
        ) {
            try SegmentationTrainer(configuration: configuration).train([
                .bytes(name: "s", data: Data(output.csv.utf8))
            ])
        }
        configuration.features = nil
        configuration.ks = [60]  // more segments than the 50 customers
        #expect(throws: ClusteringError.self) {
            try SegmentationTrainer(configuration: configuration).train([
                .bytes(name: "s", data: Data(output.csv.utf8))
            ])
        }
    }

    @Test(
        "Online Retail: the default picks 3 to 6 segments, every name is true, and scoring the data reproduces training",
        .enabled(if: Shared.hasOnlineRetail, "../shared is absent: skipped"))
    func onlineRetailPipeline() throws {
        let folder = Shared.path("data/online-retail/by-day")
        let trainer = SegmentationTrainer(configuration: TrainingConfiguration())
        let prepared = try trainer.prepare([.path(folder)])
        let model = try trainer.train(prepared)
        #expect((3...6).contains(model.k), "\(model.kSelection.reason ?? "")")
        #expect(model.kSelection.method == .actionable)
        #expect(model.dataReport.customersOut == 4319)  // 19 returned all they bought
        #expect(model.dataReport.unusedColumns == [])  // Description names the products
        let checker = ClaimChecker(
            profiles: model.segments.map(\.profile), clustering: model.pipeline.features)
        for segment in model.segments {
            let label = SegmentLabel(
                name: segment.name, description: segment.description, actions: segment.actions)
            #expect(
                checker.violations(label, index: segment.id).isEmpty,
                "\(checker.violations(label, index: segment.id))")
        }
        #expect(Set(model.segments.map(\.name)).count == model.k)

        // Score the whole history as order lines: every customer, the same segments.
        var loader = TransactionLoader(columns: model.transactionColumns!)
        try loader.add(path: folder)
        let scored = try model.score(
            transactions: loader.finish().table, snapshotDay: model.snapshotDay)
        #expect(scored.count == 4319)
        let fromFeatures = try model.score(
            customerIDs: prepared.features.customerIDs, columns: model.pipeline.features,
            values: prepared.features.selecting(features: model.pipeline.features))
        let bySegment = Dictionary(
            uniqueKeysWithValues: fromFeatures.map { ($0.customerID, $0.segmentID) })
        #expect(scored.allSatisfy { bySegment[$0.customerID] == $0.segmentID })
        let sample = try #require(model.sample)
        let trainingLabel = Dictionary(uniqueKeysWithValues: zip(sample.customerIDs, sample.labels))
        #expect(
            scored.allSatisfy {
                trainingLabel[$0.customerID].map { Int($0) } ?? $0.segmentID == $0.segmentID
            })
    }
}
