import SegmentationEngine
import SegmentationMapping
import SegmentationMessages
import Testing

@Suite("Training specs: read once, for the server and the CLI")
struct TrainingSpecsTests {
    static let transactions = DatasetShape(
        kind: .transactions,
        features: ["recency", "frequency", "monetary", "avg_order_value", "tenure"],
        customers: 500)
    static let customers = DatasetShape(
        kind: .customers, idColumn: "id", features: ["BALANCE", "PURCHASES", "Gender"],
        customers: 500)

    /// A spec a client could send: only some fields set, the rest left to the defaults.
    static func randomSpec(
        _ random: inout SeededGenerator, kind: InputKind
    ) -> Segmentation_V1_TrainingSpec {
        var spec = Segmentation_V1_TrainingSpec()
        spec.modelName = "m"
        let methods = ClusteringMethod.allCases
        if Bool.random(using: &random) {
            let count = Int.random(in: 2...methods.count, using: &random)
            spec.compareAlgorithms = Array(
                methods.filter(\.takesK).shuffled(using: &random).prefix(count)
            ).map(Segmentation_V1_Algorithm.init)
            if spec.compareAlgorithms.count < 2 { spec.compareAlgorithms = [] }
        } else if Bool.random(using: &random) {
            spec.algorithm = Segmentation_V1_Algorithm(methods.randomElement(using: &random)!)
        }
        let chosen =
            spec.compareAlgorithms.isEmpty
            ? [spec.algorithm.method ?? .kmeans] : spec.compareAlgorithms.compactMap(\.method)
        if chosen.allSatisfy(\.takesK), Bool.random(using: &random) {
            let low = Int32.random(in: 2...6, using: &random)
            if Bool.random(using: &random) {
                spec.k = low
            } else {
                spec.kRange = .with {
                    $0.min = low; $0.max = low + Int32.random(in: 1...6, using: &random)
                }
            }
        }
        if chosen.contains(where: \.takesLloydOptions), chosen.allSatisfy(\.takesLloydOptions),
            Bool.random(using: &random)
        {
            spec.nInit = Int32.random(in: 1...20, using: &random)
            spec.maxIter = Int32.random(in: 10...500, using: &random)
        }
        if chosen == [.gmm], Bool.random(using: &random) {
            spec.covarianceType = [.full, .diagonal, .spherical].randomElement(using: &random)!
        }
        if chosen == [.dbscan], Bool.random(using: &random) {
            spec.eps = Double.random(in: 0.1...2, using: &random); spec.minSamples = 5
        }
        if Bool.random(using: &random) {
            spec.scaling = [.standard, .robust, .minMax, .none].randomElement(using: &random)!
        }
        if Bool.random(using: &random) {
            spec.logTransform = [.all, .none, .auto].randomElement(using: &random)!
        }
        spec.seed = UInt64.random(in: 0...1000, using: &random)
        if Bool.random(using: &random) {
            spec.filters = [
                .with {
                    $0.mode = .exclude; $0.column = "Country"; $0.value = "Unspecified"
                }
            ]
        }
        switch kind {
        case .transactions:
            if Bool.random(using: &random) { spec.features = ["recency", "monetary", "tenure"] }
            spec.keepCancelled = Bool.random(using: &random)
            spec.grossSpend = Bool.random(using: &random)
        case .customers:
            if Bool.random(using: &random) { spec.features = ["BALANCE", "PURCHASES"] }
            if Bool.random(using: &random) { spec.sensitiveColumns = ["Tier"] }
        }
        return spec
    }

    @Test(
        "A stored configuration's spec reads back as the same configuration (GetJob's spec can be submitted again), for 400 random specs"
    )
    func specRoundTrip() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SeededGenerator(seed: seed)
        var tried = 0
        for index in 0..<400 {
            let kind: InputKind = index.isMultiple(of: 2) ? .transactions : .customers
            let shape = kind == .transactions ? Self.transactions : Self.customers
            let sent = Self.randomSpec(&random, kind: kind)
            guard let configuration = try? TrainingSpecs.configuration(sent, dataset: shape) else {
                continue
            }
            tried += 1
            let shown = TrainingSpecs.spec(configuration, modelName: "m", datasetID: "d")
            let again = try #require(
                try TrainingSpecs.configuration(shown, dataset: shape),
                "seed \(seed), spec \(index): \(sent)")
            #expect(
                again == configuration,
                "seed \(seed), spec \(index): \(sent) read back differently from \(shown)")
        }
        #expect(tried > 300, "seed \(seed): only \(tried) of 400 random specs were valid")
    }

    @Test("Refusals name their field, for the server's field violation and the CLI's flag")
    func refusalsNameTheirField() {
        func field(
            _ kind: InputKind = .transactions, _ edit: (inout Segmentation_V1_TrainingSpec) -> Void
        ) -> String? {
            var spec = Segmentation_V1_TrainingSpec()
            edit(&spec)
            do {
                _ = try TrainingSpecs.configuration(
                    spec, dataset: kind == .transactions ? Self.transactions : Self.customers)
                return nil
            } catch let error as InvalidField {
                return error.field
            } catch {
                return "not a field: \(error)"
            }
        }
        #expect(
            field {
                $0.kRange = .with {
                    $0.min = 5; $0.max = 3
                }
            } == "spec.k_range")
        #expect(field { $0.k = 101 } == "spec.k")
        #expect(
            field {
                $0.algorithm = .dbscan; $0.k = 4
            } == "spec.k")
        #expect(
            field {
                $0.algorithm = .ward; $0.nInit = 4
            } == "spec.n_init")
        #expect(
            field {
                $0.algorithm = .dbscan; $0.eps = -1
            } == "spec.eps")
        #expect(field { $0.scaling = .UNRECOGNIZED(9) } == "spec.scaling")
        #expect(
            field {
                $0.filters = [
                    .with {
                        $0.column = "Country"; $0.value = "x"
                    }
                ]
            } == "filters")
        #expect(field(.customers) { $0.keepCancelled = true } == "spec.keep_cancelled")
        // Sensitive columns are a customer table's; on transactions they were once silently ignored.
        #expect(field { $0.sensitiveColumns = ["Gender"] } == "spec.sensitive_columns")
        #expect(field { $0.allowSensitive = ["Gender"] } == "spec.allow_sensitive")
        #expect(
            field {
                $0.logTransform = .listed; $0.logFeatures = ["tenure"]
            } == "spec.log_features")
        #expect(field { $0.k = 4 } == nil)
    }

    @Test(
        "Checked against the dataset only where its facts are known (the CLI checks before uploading)"
    )
    func datasetFactsOnlyWhenKnown() throws {
        let spec = Segmentation_V1_TrainingSpec.with {
            $0.features = ["no_such_feature"]; $0.k = 600
        }
        #expect(throws: InputError.self) {
            try TrainingSpecs.configuration(spec, dataset: Self.transactions, limits: .engine)
        }
        var unread = Self.transactions
        (unread.features, unread.customers) = (nil, nil)
        let configuration = try TrainingSpecs.configuration(spec, dataset: unread, limits: .engine)
        #expect(configuration.ks == [600] && configuration.features == ["no_such_feature"])
        // The server's --max-k (100 by default) is its own; the engine allows up to 1000.
        #expect(throws: InvalidField.self) {
            try TrainingSpecs.configuration(spec, dataset: unread)
        }
    }
}
