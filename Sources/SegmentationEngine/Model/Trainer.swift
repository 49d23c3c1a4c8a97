import Foundation

/// Where training is in its work, for progress bars and logs.
public struct TrainingEvent: Sendable, Equatable {
    public enum Stage: String, Sendable, CaseIterable {
        case reading, features, clustering, metrics, profiling, done
    }
    public var stage: Stage
    /// Overall fraction done, 0...1.
    public var fraction: Double
    public var message: String
    /// The k just fitted, and its metrics once they are known.
    public var k: Int?
    public var candidate: KCandidate?
}

/// One input for training: a path (file or folder) or bytes with a name.
public enum TrainingSource: Sendable {
    case path(String)
    case bytes(name: String, data: Data)
}

/// The whole pipeline: read and clean, features, transform, cluster for every k, measure,
/// choose k, profile, label, and package everything as a model.
public struct SegmentationTrainer: Sendable {
    public var configuration: TrainingConfiguration

    public init(configuration: TrainingConfiguration) { self.configuration = configuration }

    public func train(
        _ sources: [TrainingSource], cancellation: CancellationCheck = .never,
        progress: (TrainingEvent) -> Void = { _ in }
    ) throws -> SegmentationModel {
        try trainKeepingData(sources, cancellation: cancellation, progress: progress).model
    }

    /// The model and the data it was trained on, prepared (for `SegmentationModel.continuing`
    /// once the version it continues is known).
    public func trainKeepingData(
        _ sources: [TrainingSource], cancellation: CancellationCheck = .never,
        progress: (TrainingEvent) -> Void = { _ in }
    ) throws -> (model: SegmentationModel, data: PreparedData) {
        try configuration.validate()
        let started = Date()
        progress(
            TrainingEvent(
                stage: .reading, fraction: 0, message: "reading \(sources.count) source(s)"))
        let prepared = try prepare(sources, cancellation: cancellation)
        try cancellation.throwIfCancelled()
        progress(
            TrainingEvent(
                stage: .features, fraction: 0.1,
                message:
                    "\(prepared.report.rowsOut) rows kept of \(prepared.report.rowsIn); \(prepared.features.count) customers"
            ))
        let model = try train(
            prepared, started: started, cancellation: cancellation, progress: progress)
        return (model, prepared)
    }

    /// Data read, cleaned and turned into raw features, ready to cluster.
    public struct PreparedData: Sendable {
        public var features: CustomerFeatures
        public var report: DataReport
        public var customerEncoder: CustomerEncoder?
        public var snapshotDay: Int?
        /// Transactions: each customer's purchase days, for the customer-value model.
        public var histories: PurchaseHistories?
        /// Transactions with a product column: who bought what, for what each segment buys.
        public var purchases: ProductPurchases?
    }

    public func prepare(
        _ sources: [TrainingSource], cancellation: CancellationCheck = .never
    ) throws -> PreparedData {
        guard !sources.isEmpty else { throw InputError.noUsableRows("no input given") }
        switch configuration.kind {
        case .transactions:
            var loader = TransactionLoader(
                columns: configuration.transactionColumns, filters: configuration.filters ?? [],
                cleaning: configuration.cleaning ?? TransactionCleaning())
            loader.cancellation = cancellation
            for source in sources {
                try cancellation.throwIfCancelled()
                switch source {
                case .path(let path): try loader.add(path: path)
                case .bytes(let name, let data): try loader.add(bytes: data, source: name)
                }
            }
            let (table, loaded) = try loader.finish()
            if table.customerIDs.count == table.count && table.count >= 20 {
                throw InputError.kindMismatch(
                    "each of the \(table.count) rows is a different customer: this looks like a customers table (one row per "
                        + "customer), not order lines; upload it as kind customers")
            }
            var report = loaded
            let snapshot = configuration.snapshotDate.flatMap(TimestampParser.day(ofDate:))
            let (features, day) = RFMFeatureBuilder.build(table, snapshotDay: snapshot)
            report.snapshotDate = TimestampParser.isoDate(day: day)
            return PreparedData(
                features: features, report: report, customerEncoder: nil, snapshotDay: day,
                histories: PurchaseHistories(table), purchases: ProductPurchases(table))
        case .customers:
            let tables = try sources.flatMap { source -> [CustomerTableLoader.Table] in
                switch source {
                case .path(let path): try CustomerTableLoader.read(path: path)
                case .bytes(let name, let data):
                    [try CustomerTableLoader.read(bytes: data, source: name)]
                }
            }
            let (features, encoder, report) = try CustomerTableLoader.load(
                tables, columns: configuration.customerColumns,
                filters: configuration.filters ?? [])
            return PreparedData(
                features: features, report: report, customerEncoder: encoder, snapshotDay: nil)
        }
    }

    public func train(
        _ data: PreparedData, started: Date = Date(), cancellation: CancellationCheck = .never,
        progress: (TrainingEvent) -> Void = { _ in }
    ) throws -> SegmentationModel {
        try configuration.validate()
        var config = configuration
        // The model records the cleaning it was trained with, so scoring cleans alike.
        if config.kind == .transactions && config.cleaning == nil {
            config.cleaning = TransactionCleaning()
        }
        let featureNames =
            config.features
            ?? (config.kind == .transactions
                ? TransactionFeature.defaultSelection.map(\.rawValue) : data.features.names)
        guard !featureNames.isEmpty else {
            throw InputError.invalidOption("no features to cluster on")
        }
        let raw = try data.features.selecting(features: featureNames)
        for k in config.ks where k > data.features.count {
            throw ClusteringError.invalidK(k: k, customers: data.features.count)
        }
        let pipeline = try FittedPipeline.fit(
            raw, features: featureNames, spec: config.effectivePipeline)
        let scaled = try pipeline.transform(raw, customerIDs: data.features.customerIDs)

        let (configured, outcome, comparison) = try cluster(
            scaled, featureNames: featureNames, cancellation: cancellation, progress: progress)
        let emptySegments = outcome.chosen.k - Set(outcome.chosen.labels).count
        guard emptySegments == 0 else {
            throw InputError.invalidOption(
                "\(configured.method.rawValue) at k = \(outcome.selection.chosenK) leaves \(emptySegments) segment(s) with no customer "
                    + "(a mixture component no customer is most likely to belong to): choose another k"
            )
        }
        for candidate in outcome.selection.candidates {
            progress(
                TrainingEvent(
                    stage: .metrics, fraction: 0.85,
                    message: String(
                        format:
                            "k=%d inertia=%.4g silhouette=%.4f davies-bouldin=%.4f calinski-harabasz=%.4g",
                        candidate.k, candidate.inertia, candidate.silhouette,
                        candidate.daviesBouldin,
                        candidate.calinskiHarabasz),
                    k: candidate.k, candidate: candidate))
        }
        progress(
            TrainingEvent(
                stage: .metrics, fraction: 0.88,
                message: "chose k=\(outcome.selection.chosenK): \(outcome.selection.reason ?? "")"))
        for warning in outcome.selection.warnings ?? [] {
            progress(TrainingEvent(stage: .metrics, fraction: 0.88, message: "warning: \(warning)"))
        }
        try cancellation.throwIfCancelled()
        let ordered = orderedBySize(outcome.chosen)
        var refits: [(labels: [Int32], clusters: Int)] = []
        let stability = try measureStability(
            scaled, ordered, method: configured.method, cancellation: cancellation
        ) { refits.append(($0, $1)) }
        if let stability {
            progress(
                TrainingEvent(
                    stage: .metrics, fraction: 0.89,
                    message: String(
                        format:
                            "stability: %d refits, mean adjusted Rand index %.3f (lowest %.3f), segments' Jaccard %@",
                        stability.seedRuns + stability.bootstrapRuns, stability.meanARI,
                        stability.minimumARI,
                        stability.segmentJaccard.map { String(format: "%.2f", $0) }.joined(
                            separator: ", "))))
        }
        progress(
            TrainingEvent(
                stage: .profiling, fraction: 0.9,
                message: "profiling \(outcome.selection.chosenK) segments"))

        let rfmScorer = makeRFMScorer(data.features)
        let rfmSegments = rfmScorer.map { scorer in
            let recency = data.features.column(named: "recency")!,
                frequency = data.features.column(named: "frequency")!
            return zip(recency, frequency).map { scorer.segment(recency: $0, frequency: $1) }
        }
        var profiles = SegmentProfiler.profiles(
            features: data.features, labels: ordered.labels, k: ordered.k,
            pipeline: pipeline, rfm: rfmSegments)
        let customerValue = valueStep(data, labels: ordered.labels, profiles: &profiles)
        if let note = customerValue?.unavailable {
            progress(
                TrainingEvent(
                    stage: .profiling, fraction: 0.9, message: "no customer value: \(note)"))
        }
        for warning in customerValue?.model?.warnings ?? [] {
            progress(
                TrainingEvent(stage: .profiling, fraction: 0.9, message: "warning: \(warning)"))
        }
        try cancellation.throwIfCancelled()
        UnsteadyClaims.mark(
            &profiles, features: data.features, labels: ordered.labels, refits: refits)
        let sensitive = data.customerEncoder?.sensitiveFeatureNames ?? []
        UnsteadyClaims.markColumns(
            &profiles, features: data.features, labels: ordered.labels, pipeline: pipeline,
            clustering: featureNames.filter { !sensitive.contains($0) }, refits: refits)
        var labels = SegmentLabeler.labels(
            for: profiles, clusteringFeatures: featureNames,
            excluded: data.customerEncoder?.sensitiveFeatureNames ?? [])
        if let density = ordered.density, let outliers = density.outlierSegment {
            labels[outliers] = SegmentLabeler.outliers(
                count: profiles[outliers].size, share: profiles[outliers].customerShare,
                eps: density.eps, minSamples: density.minSamples,
                smallGroups: density.smallGroupsJoined ?? 0, facts: profiles[outliers].facts)
        }
        let spread = DistanceSpread.perSegment(
            scaled, centroids: ordered.centroids, labels: ordered.labels)
        try cancellation.throwIfCancelled()
        let segments = profiles.indices.map { c in
            Segment(
                id: c, name: labels[c].name, generatedName: labels[c].name,
                description: labels[c].description,
                actions: labels[c].actions, profile: profiles[c], distances: spread[c],
                stableID: c + 1)
        }
        let sample = try makeSample(
            scaled, raw: raw, ids: data.features.customerIDs, labels: ordered.labels,
            cancellation: cancellation)
        var charts = try ModelCharts.make(
            raw: raw, features: featureNames, labels: ordered.labels, k: ordered.k,
            scaledForPCA: sample?.points ?? scaled,
            rfm: rfmScorer.flatMap { scorer in
                data.features.column(named: "recency").flatMap { r in
                    data.features.column(named: "frequency").map { (scorer, r, $0) }
                }
            },
            homeCountry: data.features.homeCountry, cancellation: cancellation)
        charts.dendrogram = ordered.dendrogram
        var selection = outcome.selection
        if case .gmm = configured {
            let discrete = DiscreteFeatures.describe(scaled, names: featureNames)
            if !discrete.isEmpty {
                selection.warnings =
                    (selection.warnings ?? []) + [
                        "a Gaussian mixture on features with few distinct values: "
                            + discrete.joined(separator: ", ")
                            + "; its covariance was regularised to their spacing (reg_covar in the parameters) "
                            + "and a k where a segment is exactly one value of such a feature is passed over unless k is fixed or no other k is usable; "
                            + "k-means suits counts better"
                    ]
            }
        }
        if let stability {
            let warnings = stability.warnings(segmentNames: labels.map(\.name))
            if !warnings.isEmpty { selection.warnings = (selection.warnings ?? []) + warnings }
            for warning in warnings {
                progress(
                    TrainingEvent(stage: .profiling, fraction: 0.95, message: "warning: \(warning)")
                )
            }
        }
        var model = SegmentationModel(
            kind: config.kind,
            transactionColumns: config.kind == .transactions ? config.transactionColumns : nil,
            customerEncoder: data.customerEncoder, snapshotDay: data.snapshotDay,
            pipeline: pipeline,
            mixture: ordered.mixture, density: ordered.density,
            algorithm: AlgorithmInfo(
                method: configured.method,
                parameters: parameters(of: configured, ordered, rows: scaled.rows, scaled: scaled),
                comparison: comparison),
            centroids: ordered.centroids, segments: segments, rfmScorer: rfmScorer,
            dataReport: data.report,
            kSelection: selection,
            training: TrainingInfo(
                configuration: config, durationSeconds: Date().timeIntervalSince(started),
                trainedAt: Date.wholeSeconds(), engineVersion: SegmentationModel.engineVersion),
            sample: sample, charts: charts)
        model.stability = stability
        model.customerValue = customerValue
        model.driftReference = DriftReference.make(
            raw: raw, features: featureNames, labels: ordered.labels, k: ordered.k)
        try cancellation.throwIfCancelled()
        progress(TrainingEvent(stage: .done, fraction: 1, message: "trained \(model.k) segments"))
        return model
    }

    /// The k sweep of the configured algorithm, or in compare mode of each listed one (on the same
    /// scaled features, the same ks and rule), keeping the one the comparison's rule picks among
    /// those that could be kept: an algorithm whose sweep fails, or whose chosen k leaves a segment
    /// empty, stays in the table with the reason and is passed over.
    private func cluster(
        _ scaled: Matrix, featureNames: [String], cancellation: CancellationCheck,
        progress: (TrainingEvent) -> Void
    ) throws
        -> (ConfiguredClustering, KSweep.Outcome, AlgorithmComparison?)
    {
        let config = configuration
        let methods = config.methods
        var sweep = KSweep(
            ks: config.ks, method: config.effectiveSelection,
            exactSilhouetteLimit: config.exactSilhouetteLimit, seed: config.seed)
        sweep.featureNames = featureNames
        var kept: [(index: Int, configured: ConfiguredClustering, outcome: KSweep.Outcome)] = []
        var candidates: [AlgorithmComparison.Candidate] = []
        for (index, method) in methods.enumerated() {
            var one = config
            one.algorithm = method
            let configured = one.configuredClustering()
            let prefix = methods.count > 1 ? "\(method.rawValue): " : ""
            let started = Date()
            let outcome: KSweep.Outcome
            do {
                switch configured {
                case .dbscan(let density):
                    outcome = try once(density, scaled, sweep: sweep, cancellation: cancellation)
                    progress(
                        TrainingEvent(
                            stage: .clustering,
                            fraction: 0.1 + 0.6 * Double(index + 1) / Double(methods.count),
                            message: "\(prefix)fitted k=\(outcome.selection.chosenK) (1 of 1)",
                            k: outcome.selection.chosenK))
                case .kmeans, .minibatchKMeans, .ward, .gmm:
                    outcome = try sweep.run(
                        scaled, algorithm: configured.algorithm, cancellation: cancellation
                    ) { done, total, k in
                        let fraction =
                            (Double(index) + Double(done) / Double(total)) / Double(methods.count)
                        progress(
                            TrainingEvent(
                                stage: .clustering, fraction: 0.1 + 0.6 * fraction,
                                message: "\(prefix)fitted k=\(k) (\(done) of \(total))", k: k))
                    }
                }
            } catch
                where methods.count > 1 && !(error is CancellationError)
                && !cancellation.isCancelled
            {
                candidates.append(
                    .init(
                        method: method, chosenK: 0, silhouette: .nan, daviesBouldin: .nan,
                        calinskiHarabasz: .nan,
                        seconds: Date().timeIntervalSince(started), chosen: false,
                        note: "failed: \(error)"))
                progress(
                    TrainingEvent(
                        stage: .clustering,
                        fraction: 0.1 + 0.6 * Double(index + 1) / Double(methods.count),
                        message: "\(prefix)failed: \(error)"))
                continue
            }
            let metrics = outcome.selection.chosen
            let empty = outcome.chosen.k - Set(outcome.chosen.labels).count
            let note =
                empty > 0
                ? "ruled out: k=\(metrics.k) left \(empty) segment(s) with no customer" : nil
            candidates.append(
                .init(
                    method: method, chosenK: metrics.k, silhouette: metrics.silhouette,
                    daviesBouldin: metrics.daviesBouldin,
                    calinskiHarabasz: metrics.calinskiHarabasz,
                    seconds: Date().timeIntervalSince(started),
                    chosen: false, note: note, bic: metrics.bic))
            if note == nil { kept.append((candidates.count - 1, configured, outcome)) }
            if methods.count > 1 {
                progress(
                    TrainingEvent(
                        stage: .clustering,
                        fraction: 0.1 + 0.6 * Double(index + 1) / Double(methods.count),
                        message: String(
                            format: "%@chose k=%d, silhouette %.4f", prefix, metrics.k,
                            metrics.silhouette)
                            + (note.map { " (\($0))" } ?? "")))
            }
            if methods.count == 1 { return (configured, outcome, nil) }
        }
        guard !kept.isEmpty else {
            throw InputError.invalidOption(
                "no algorithm of the comparison gave a model to keep: "
                    + candidates.map { "\($0.method.rawValue) \($0.note ?? "")" }.joined(
                        separator: "; "))
        }
        let winner = kept[
            AlgorithmComparison.pick(
                silhouettes: kept.map { $0.outcome.selection.chosen.silhouette })]
        candidates[winner.index].chosen = true
        progress(
            TrainingEvent(
                stage: .clustering, fraction: 0.7,
                message:
                    "compared \(methods.map(\.rawValue).joined(separator: ", ")): kept \(winner.configured.method.rawValue) (\(AlgorithmComparison.ruleText))"
            ))
        return (
            winner.configured, winner.outcome,
            AlgorithmComparison(rule: AlgorithmComparison.ruleText, candidates: candidates)
        )
    }
}
