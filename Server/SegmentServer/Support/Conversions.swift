import Foundation
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping
import SwiftProtobuf

// Translation between the engine's and registry's types and the API's messages.

extension Google_Protobuf_Timestamp {
    init(_ date: Date) { self.init(timeIntervalSince1970: date.timeIntervalSince1970) }
}

extension InputKind {
    init(_ kind: Segmentation_V1_InputKind) throws {
        switch kind {
        case .transactions: self = .transactions
        case .customers: self = .customers
        default: throw RPCErrors.invalid("kind must be INPUT_KIND_TRANSACTIONS or INPUT_KIND_CUSTOMERS")
        }
    }

    var proto: Segmentation_V1_InputKind { self == .transactions ? .transactions : .customers }
}

extension DatasetColumns {
    init(_ spec: Segmentation_V1_ColumnSpec) {
        self.init(roles: spec.roles, idColumn: spec.idColumn)
    }

    var proto: Segmentation_V1_ColumnSpec {
        .with { $0.roles = roles; $0.idColumn = idColumn }
    }

    /// The engine's column options, or an error naming a bad role.
    func transactionColumns() throws -> TransactionColumns {
        var columns = TransactionColumns()
        for (role, column) in roles.sorted(by: { $0.key < $1.key }) { try columns.set(role: role, column: column) }
        return columns
    }
}

extension DatasetRecord {
    var proto: Segmentation_V1_Dataset {
        .with {
            $0.id = id
            $0.name = name
            $0.kind = kind.proto
            $0.columns = columns.proto
            $0.files = files.map { file in .with { $0.name = file.name; $0.sizeBytes = file.sizeBytes; $0.sha256 = file.sha256 ?? "" } }
            $0.sizeBytes = sizeBytes
            $0.rows = rows
            $0.createdAt = Google_Protobuf_Timestamp(createdAt)
        }
    }
}

extension KCandidate {
    var proto: Segmentation_V1_KMetrics {
        .with {
            $0.k = Int32(k)
            $0.inertia = inertia
            $0.silhouette = silhouette
            $0.daviesBouldin = daviesBouldin
            $0.calinskiHarabasz = calinskiHarabasz
            $0.iterations = Int32(iterations)
            $0.smallestShare = smallestShare ?? 0
            if let bic { $0.bic = bic }
            if let aic { $0.aic = aic }
            if let meanLogLikelihood { $0.meanLogLikelihood = meanLogLikelihood }
        }
    }
}

extension JobStatus {
    var proto: Segmentation_V1_JobState {
        switch self {
        case .queued: .queued
        case .running: .running
        case .succeeded: .succeeded
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }
}

extension Scaling {
    var proto: Segmentation_V1_Scaling {
        switch self {
        case .standard: .standard
        case .robust: .robust
        case .minMax: .minMax
        case .none: .none
        }
    }
}

extension KSelectionMethod {
    var proto: Segmentation_V1_KSelection {
        switch self {
        case .actionable: .actionable
        case .silhouette: .silhouette
        case .elbow: .elbow
        case .fixed: .fixed
        case .bic: .bic
        case .aic: .aic
        }
    }
}

extension RowFilter {
    init(_ filter: Segmentation_V1_RowFilter) throws {
        let mode: Mode = switch filter.mode {
        case .include: .include
        case .exclude: .exclude
        default: throw RPCErrors.invalid("filter on \(filter.column.quotedForMessage): mode must be FILTER_MODE_INCLUDE or FILTER_MODE_EXCLUDE")
        }
        guard !filter.column.isEmpty, filter.column.count <= 256, filter.value.count <= 1024 else {
            throw RPCErrors.invalid("a filter needs a column (at most 256 characters) and a value of at most 1024")
        }
        self.init(mode: mode, column: filter.column, value: filter.value)
    }

    var proto: Segmentation_V1_RowFilter {
        .with { $0.mode = mode == .include ? .include : .exclude; $0.column = column; $0.value = value }
    }

    static func list(_ filters: [Segmentation_V1_RowFilter]) throws -> [RowFilter]? {
        guard filters.count <= RowFilter.maximumCount else {
            throw RPCErrors.invalid("filters: \(filters.count) given, at most \(RowFilter.maximumCount) allowed")
        }
        return filters.isEmpty ? nil : try filters.map(RowFilter.init)
    }
}

/// A training spec as the engine's configuration, checked field by field.
enum TrainingSpecs {
    static func configuration(_ spec: Segmentation_V1_TrainingSpec, dataset: DatasetRecord,
                              limits: TrainingLimits = TrainingLimits()) throws -> TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.kind = dataset.kind
        switch dataset.kind {
        case .transactions: configuration.transactionColumns = try dataset.columns.transactionColumns()
        case .customers:
            configuration.customerColumns = CustomerColumns(
                id: dataset.columns.idColumn.isEmpty ? nil : dataset.columns.idColumn,
                sensitive: spec.sensitiveColumns.isEmpty ? nil : spec.sensitiveColumns,
                allowSensitive: spec.allowSensitive.isEmpty ? nil : spec.allowSensitive)
        }
        configuration.filters = try RowFilter.list(spec.filters)
        if dataset.kind == .transactions {
            configuration.cleaning = TransactionCleaning(keepCancelled: spec.keepCancelled, netCancellations: !spec.grossSpend)
        } else if spec.keepCancelled || spec.grossSpend {
            throw RPCErrors.invalid("spec.keep_cancelled and spec.gross_spend apply to transactions datasets only")
        }
        if !spec.features.isEmpty {
            configuration.features = spec.features
            if dataset.kind == .customers {
                // Customer tables name input columns; the model clusters their encoded forms.
                configuration.customerColumns.features = spec.features
                configuration.features = nil
            }
        }
        let log: LogTransform? = switch spec.logTransform {
        case .unspecified: nil
        case .UNRECOGNIZED(let value): throw RPCErrors.invalid("spec.log_transform: unknown value \(value)")
        case .none: LogTransform.none
        case .all: .all
        case .auto: .auto
        case .listed: .features(spec.logFeatures)
        }
        let scaling: Scaling? = switch spec.scaling {
        case .unspecified: nil
        case .UNRECOGNIZED(let value): throw RPCErrors.invalid("spec.scaling: unknown value \(value)")
        case .standard: .standard
        case .robust: .robust
        case .minMax: .minMax
        case .none: Scaling.none
        }
        if log != nil || scaling != nil {
            let base = configuration.effectivePipeline
            configuration.pipeline = PipelineSpec(log: log ?? base.log, scaling: scaling ?? base.scaling)
        }
        if spec.algorithm != .unspecified {  // unspecified: the configuration's default, k-means
            guard let method = spec.algorithm.method else { throw RPCErrors.invalid("spec.algorithm: unknown value \(spec.algorithm.rawValue)") }
            configuration.algorithm = method
        }
        switch spec.covarianceType {
        case .unspecified: break
        case .full: configuration.covariance = .full
        case .diagonal: configuration.covariance = .diagonal
        case .spherical: configuration.covariance = .spherical
        case .UNRECOGNIZED(let value): throw RPCErrors.invalid("spec.covariance_type: unknown value \(value)")
        }
        if !spec.compareAlgorithms.isEmpty {
            configuration.compareAlgorithms = try spec.compareAlgorithms.map { algorithm in
                guard let method = algorithm.method else {
                    throw RPCErrors.invalid("spec.compare_algorithms: \(algorithm) is not an algorithm to compare")
                }
                return method
            }
        }
        let methods = configuration.methods
        if spec.eps != 0 {
            guard spec.eps > 0, spec.eps.isFinite else { throw RPCErrors.invalid("spec.eps must be a positive number (0: the k-distance knee)") }
            configuration.eps = spec.eps
        }
        if spec.minSamples != 0 {
            guard spec.minSamples >= 2, spec.minSamples <= 100_000 else { throw RPCErrors.invalid("spec.min_samples must be between 2 and 100000 (0: twice the features)") }
            configuration.minSamples = Int(spec.minSamples)
        }
        if !methods.contains(where: \.takesK), spec.kChoice != nil {
            throw RPCErrors.invalid("spec.k: DBSCAN finds its own number of segments; leave k and k_range unset")
        }
        for (field, given) in [("n_init", spec.nInit != 0), ("max_iter", spec.maxIter != 0), ("tol", spec.tol != 0)]
        where given && !methods.contains(where: \.takesLloydOptions) {
            throw RPCErrors.invalid("spec.\(field) applies to k-means only, and \(methods.map(\.rawValue).joined(separator: ", ")) does not include it")
        }
        switch spec.kChoice {
        case .k(let k)?: configuration.ks = [Int(k)]
        case .kRange(let range)?:
            guard range.min >= 2, range.max >= range.min, range.max <= limits.maximumK else {
                throw RPCErrors.invalid("spec.k_range \(range.min)...\(range.max) is invalid: it needs 2 <= min <= max <= \(limits.maximumK) (the server's --max-k)")
            }
            configuration.ks = Array(Int(range.min)...Int(range.max))
        case nil: break
        }
        switch spec.selection {
        case .unspecified: configuration.selection = nil
        case .UNRECOGNIZED(let value): throw RPCErrors.invalid("spec.selection: unknown value \(value)")
        case .actionable: configuration.selection = .actionable
        case .silhouette: configuration.selection = .silhouette
        case .elbow: configuration.selection = .elbow
        case .fixed: configuration.selection = .fixed
        case .bic: configuration.selection = .bic
        case .aic: configuration.selection = .aic
        }
        if spec.nInit != 0 { configuration.nInit = Int(spec.nInit) }
        if spec.maxIter != 0 { configuration.maxIterations = Int(spec.maxIter) }
        if spec.tol != 0 { configuration.tolerance = spec.tol }
        configuration.seed = spec.seed
        if !spec.snapshotDate.isEmpty { configuration.snapshotDate = spec.snapshotDate }
        try configuration.validate()
        try check(configuration, limits)
        try checkAgainstDataset(configuration, dataset)
        return configuration
    }

    /// The server's own bounds (flags), tighter than the engine's.
    private static func check(_ configuration: TrainingConfiguration, _ limits: TrainingLimits) throws {
        if let k = configuration.ks.first(where: { $0 > limits.maximumK }) {
            throw RPCErrors.invalid("spec.k: k must be at most \(limits.maximumK) (the server's --max-k), got \(k)")
        }
        guard configuration.nInit <= limits.maximumNInit else {
            throw RPCErrors.invalid("spec.n_init: at most \(limits.maximumNInit) restarts (the server's --max-n-init), got \(configuration.nInit)")
        }
        guard configuration.maxIterations <= limits.maximumIterations else {
            throw RPCErrors.invalid("spec.max_iter: at most \(limits.maximumIterations) (the server's --max-iter), got \(configuration.maxIterations)")
        }
        let named = (configuration.features ?? configuration.customerColumns.features ?? []).count
        guard named <= limits.maximumColumns else {
            throw RPCErrors.invalid("spec.features: at most \(limits.maximumColumns) (the server's --max-columns), got \(named)")
        }
    }

    /// What can be checked before reading the data again: features exist, k fits the customers.
    private static func checkAgainstDataset(_ configuration: TrainingConfiguration, _ dataset: DatasetRecord) throws {
        let wanted = configuration.features ?? configuration.customerColumns.features ?? []
        for feature in wanted where !dataset.features.contains(feature) {
            throw InputError.unknownFeature(feature, available: dataset.features)
        }
        if configuration.kind == .transactions, case .features(let logged)? = configuration.pipeline?.log {
            let clustered = configuration.features ?? TransactionFeature.defaultSelection.map(\.rawValue)
            if let unknown = logged.first(where: { !clustered.contains($0) }) {
                throw RPCErrors.invalid("spec.log_features: \(unknown.quotedForMessage) is not a clustering feature (\(clustered.joined(separator: ", ")))")
            }
        }
        if let k = configuration.ks.first(where: { $0 > dataset.customers }) {
            throw ClusteringError.invalidK(k: k, customers: Int(dataset.customers))
        }
    }

    /// The spec a stored configuration came from (for showing jobs).
    static func spec(_ configuration: TrainingConfiguration, modelName: String, datasetID: String) -> Segmentation_V1_TrainingSpec {
        .with {
            $0.modelName = modelName
            $0.datasetID = datasetID
            $0.features = configuration.features ?? configuration.customerColumns.features ?? []
            if let pipeline = configuration.pipeline {
                $0.scaling = pipeline.scaling.proto
                switch pipeline.log {
                case .none: $0.logTransform = .none
                case .all: $0.logTransform = .all
                case .auto: $0.logTransform = .auto
                case .features(let names): $0.logTransform = .listed; $0.logFeatures = names
                }
            }
            $0.algorithm = Segmentation_V1_Algorithm(configuration.algorithm)
            $0.compareAlgorithms = (configuration.compareAlgorithms ?? []).map(Segmentation_V1_Algorithm.init)
            $0.eps = configuration.eps ?? 0
            $0.minSamples = Int32(configuration.minSamples ?? 0)
            switch configuration.covariance {
            case .full?: $0.covarianceType = .full
            case .diagonal?: $0.covarianceType = .diagonal
            case .spherical?: $0.covarianceType = .spherical
            case nil: break
            }
            if configuration.ks.count == 1 {
                $0.k = Int32(configuration.ks[0])
            } else if let low = configuration.ks.min(), let high = configuration.ks.max() {
                $0.kRange = .with { $0.min = Int32(low); $0.max = Int32(high) }
            }
            $0.selection = configuration.selection?.proto ?? .unspecified
            $0.nInit = Int32(configuration.nInit)
            $0.maxIter = Int32(configuration.maxIterations)
            $0.tol = configuration.tolerance
            $0.seed = configuration.seed
            $0.snapshotDate = configuration.snapshotDate ?? ""
            $0.filters = (configuration.filters ?? []).map(\.proto)
            $0.sensitiveColumns = configuration.customerColumns.sensitive ?? []
            $0.allowSensitive = configuration.customerColumns.allowSensitive ?? []
            $0.keepCancelled = configuration.cleaning?.keepCancelled ?? false
            $0.grossSpend = !(configuration.cleaning?.netCancellations ?? true)
        }
    }
}

extension JobRecord {
    var proto: Segmentation_V1_Job {
        .with {
            $0.id = id
            $0.spec = TrainingSpecs.spec(configuration, modelName: modelName, datasetID: datasetID)
            $0.state = status.proto
            $0.stage = stage
            $0.fraction = fraction
            $0.createdAt = Google_Protobuf_Timestamp(createdAt)
            if let startedAt { $0.startedAt = Google_Protobuf_Timestamp(startedAt) }
            if let finishedAt { $0.finishedAt = Google_Protobuf_Timestamp(finishedAt) }
            $0.error = error ?? ""
            $0.modelVersion = Int32(modelVersion ?? 0)
            $0.kMetrics = kMetrics.map(\.proto)
            $0.server = owner ?? ""
        }
    }
}

extension VersionRecord {
    func proto(aliases: [String: Int]) -> Segmentation_V1_VersionSummary {
        .with {
            $0.name = name
            $0.version = Int32(version)
            $0.aliases = aliases.filter { $0.value == version }.keys.sorted()
            $0.createdAt = Google_Protobuf_Timestamp(createdAt)
            $0.k = Int32(k)
            $0.silhouette = silhouette
            $0.customers = Int64(customers)
            $0.datasetID = datasetID
            $0.jobID = jobID ?? ""
            $0.parentVersion = Int32(parentVersion ?? 0)
            $0.kind = kind.proto
        }
    }
}

extension DataReport {
    var proto: Segmentation_V1_DataReport {
        .with {
            $0.kind = kind.proto
            $0.sources = sources
            $0.rowsIn = Int64(rowsIn)
            $0.customersIn = Int64(customersIn)
            $0.steps = steps.map { step in
                .with {
                    $0.name = step.name.rawValue; $0.removed = Int64(step.removed); $0.remaining = Int64(step.remaining)
                    $0.rule = step.rule ?? ""
                }
            }
            $0.rowsOut = Int64(rowsOut)
            $0.customersOut = Int64(customersOut)
            $0.problems = problems.map { problem in
                .with { $0.source = problem.source; $0.line = Int64(problem.line); $0.reason = problem.reason }
            }
            $0.firstDate = firstDate ?? ""
            $0.lastDate = lastDate ?? ""
            $0.snapshotDate = snapshotDate ?? ""
            $0.imputed = imputed.map { column in
                .with { $0.column = column.column; $0.count = Int64(column.count); $0.median = column.median }
            }
            $0.ignoredColumns = ignoredColumns
            $0.unusedColumns = unusedColumns ?? []
            $0.identifierColumns = identifierColumns ?? []
            $0.sensitiveColumns = sensitiveColumns ?? []
            if let cancelledAmount { $0.cancelledAmount = cancelledAmount; $0.cancellationsNetted = true }
            if let customersWithoutNetSpend { $0.customersWithoutNetSpend = Int64(customersWithoutNetSpend) }
        }
    }
}

extension SegmentationModel {
    func detail(version: VersionRecord, aliases: [String: Int], includeSample: Bool) -> Segmentation_V1_ModelDetail {
        .with { detail in
            detail.version = version.proto(aliases: aliases)
            detail.kind = kind.proto
            detail.features = pipeline.features
            detail.log1P = pipeline.log1p
            detail.scaling = pipeline.scaling.proto
            detail.algorithm = Segmentation_V1_Algorithm(algorithm.method)
            detail.algorithmParameters = algorithm.parameters
            if let comparison = algorithm.comparison {
                detail.algorithmComparison = .with {
                    $0.rule = comparison.rule
                    $0.candidates = comparison.candidates.map { candidate in
                        .with {
                            $0.algorithm = Segmentation_V1_Algorithm(candidate.method)
                            $0.chosenK = Int32(candidate.chosenK)
                            $0.silhouette = candidate.silhouette
                            $0.daviesBouldin = candidate.daviesBouldin
                            $0.calinskiHarabasz = candidate.calinskiHarabasz
                            $0.seconds = candidate.seconds
                            $0.chosen = candidate.chosen
                            $0.note = candidate.note ?? ""
                            if let bic = candidate.bic { $0.bic = bic }
                        }
                    }
                }
            }
            detail.selection = kSelection.method.proto
            detail.chosenK = Int32(kSelection.chosenK)
            detail.elbowK = Int32(kSelection.elbowK ?? 0)
            detail.kTable = kSelection.candidates.map(\.proto)
            detail.metrics = metrics.proto
            detail.silhouetteSampleSize = Int32(kSelection.silhouetteSampleSize ?? 0)
            detail.selectionReason = kSelection.reason ?? ""
            detail.runnerUpKs = (kSelection.runnerUps ?? []).map(Int32.init)
            detail.selectionWarnings = kSelection.warnings ?? []
            if let stability {
                detail.stability = .with {
                    $0.seedRuns = Int32(stability.seedRuns); $0.bootstrapRuns = Int32(stability.bootstrapRuns)
                    $0.failedRuns = Int32(stability.failedRuns)
                    $0.meanAri = stability.meanARI; $0.minimumAri = stability.minimumARI
                    $0.segmentJaccard = stability.segmentJaccard
                }
            }
            detail.dataReport = dataReport.proto
            detail.segments = segments.map { segment in segment.proto(centroid: Array(centroids.row(segment.id))) }
            detail.annotations = annotations.map { note in
                .with {
                    $0.kind = note.kind
                    $0.segmentID = Int32(note.segmentID ?? -1)
                    $0.oldValue = note.oldValue
                    $0.newValue = note.newValue
                    $0.author = note.author ?? ""
                    $0.at = Google_Protobuf_Timestamp(note.at)
                }
            }
            detail.spec = TrainingSpecs.spec(training.configuration, modelName: version.name, datasetID: version.datasetID)
            detail.trainingSeconds = training.durationSeconds
            detail.formatVersion = Int32(formatVersion)
            detail.engineVersion = training.engineVersion
            detail.expectedColumns = expectedColumns
            detail.inputColumns = .with { columns in
                if let roles = transactionColumns {
                    columns.roles = ["customer": roles.customer, "time": roles.time]
                    for (role, column) in [("invoice", roles.invoice), ("quantity", roles.quantity), ("price", roles.unitPrice),
                                           ("amount", roles.amount), ("country", roles.country), ("product", roles.product)] {
                        if let column { columns.roles[role] = column }
                    }
                }
                columns.idColumn = customerEncoder?.idColumn ?? ""
            }
            if includeSample, let sample {
                detail.sample = .with {
                    $0.customerIds = sample.customerIDs
                    $0.dimensions = Int32(sample.points.columns)
                    $0.points = sample.points.values
                    $0.labels = sample.labels
                    $0.silhouettes = sample.silhouettes
                    if let charts { $0.pcaXy = charts.pca.project(sample.points).values }
                    $0.raw = sample.raw?.values ?? []
                }
            }
            if let charts { detail.charts = charts.proto(segmentIDs: segments.map(\.id)) }
        }
    }
}

extension ModelCharts {
    func proto(segmentIDs: [Int]) -> Segmentation_V1_ModelCharts {
        .with { charts in
            charts.pcaComponents = pca.components.values
            charts.pcaExplainedVariance = pca.explainedVarianceRatio
            charts.pcaMean = pca.mean
            charts.boxes = zip(segmentIDs, boxes).map { id, features in
                .with { segment in
                    segment.segmentID = Int32(id)
                    segment.features = features.map { box in
                        .with {
                            $0.feature = box.feature
                            ($0.minimum, $0.lowerWhisker, $0.q1, $0.median) = (box.minimum, box.lowerWhisker, box.q1, box.median)
                            ($0.q3, $0.upperWhisker, $0.maximum, $0.outliers) = (box.q3, box.upperWhisker, box.maximum, Int64(box.outliers))
                        }
                    }
                }
            }
            if let grid = rfmGrid {
                charts.rfmGrid = .with {
                    $0.counts = grid.counts.flatMap { $0.map(Int64.init) }
                    $0.cellSegments = (1...5).flatMap { r in (1...5).map { f in RFMSegment.segment(r: r, f: f).rawValue } }
                }
            }
            if let mix = countries {
                charts.countryMix = .with {
                    $0.countries = mix.countries
                    $0.counts = mix.counts.flatMap { $0.map(Int64.init) }
                }
            }
            if let tree = dendrogram {
                charts.dendrogram = .with {
                    $0.leafSizes = tree.leafSizes.map(Int32.init)
                    $0.merges = tree.merges.map { merge in
                        .with { ($0.left, $0.right, $0.height, $0.size) = (Int32(merge.left), Int32(merge.right), merge.height, Int32(merge.size)) }
                    }
                }
            }
        }
    }
}

extension Segment {
    func proto(centroid: [Double]) -> Segmentation_V1_Segment {
        .with {
            $0.id = Int32(id)
            $0.name = name
            $0.generatedName = generatedName
            $0.description_p = description
            $0.actions = actions
            $0.size = Int64(profile.size)
            $0.customerShare = profile.customerShare
            if let share = profile.revenueShare { $0.revenueShare = share }
            $0.features = profile.features.map { summary in
                .with {
                    $0.feature = summary.feature; $0.mean = summary.mean; $0.median = summary.median; $0.zScore = summary.zScore
                    if let mean = summary.populationMean { $0.populationMean = mean }
                    if let median = summary.populationMedian { $0.populationMedian = median }
                }
            }
            if let mode = profile.modeQuantity { $0.modeQuantity = mode }
            if let facts = profile.facts { $0.facts = facts.proto }
            $0.unsteadyColumns = (profile.unsteadyColumns ?? []).map { claim in
                .with { $0.word = claim.word; $0.refitsHolding = Int32(claim.refitsHolding); $0.refits = Int32(claim.refits) }
            }
            $0.topCountries = profile.topCountries.map { country in .with { $0.value = country.country; $0.share = country.share } }
            $0.rfmMix = profile.rfmMix.map { mix in .with { $0.value = mix.segment.rawValue; $0.share = mix.share } }
            $0.centroid = centroid
            if let spread = distances {
                $0.distances = .with { $0.median = spread.median; $0.p95 = spread.p95; $0.p99 = spread.p99; $0.max = spread.max }
            }
            $0.composition = (profile.composition ?? []).map { attribute in
                .with {
                    $0.attribute = attribute.attribute
                    $0.shares = attribute.shares.map { share in .with { $0.value = share.value; $0.share = share.share } }
                    $0.populationShares = attribute.populationShares.map { share in .with { $0.value = share.value; $0.share = share.share } }
                }
            }
        }
    }
}

extension Assignment {
    var proto: Segmentation_V1_CustomerScore {
        .with {
            $0.customerID = customerID
            $0.segmentID = Int32(segmentID)
            $0.segmentName = segmentName
            $0.distance = distance
            $0.runnerUpID = Int32(runnerUpID)
            $0.runnerUpName = runnerUpName
            $0.runnerUpDistance = runnerUpDistance
            $0.rfmSegment = rfmSegment?.rawValue ?? ""
            $0.contributions = contributions
            $0.outlier = outlier
            $0.memberships = memberships
            $0.atypical = atypical
        }
    }

    /// Ids and distances only (`ScoreRequest.omit_names`).
    var compactProto: Segmentation_V1_CustomerScore {
        .with {
            $0.customerID = customerID
            $0.segmentID = Int32(segmentID)
            $0.distance = distance
            $0.runnerUpID = Int32(runnerUpID)
            $0.runnerUpDistance = runnerUpDistance
            $0.outlier = outlier
        }
    }
}

extension ModelReference {
    /// A request's ModelRef, checked: `field` names it in errors ("model").
    init(_ ref: Segmentation_V1_ModelRef, field: String = "model") throws {
        guard !ref.name.isEmpty else {
            throw RPCErrors.invalid("\(field).name is required (a model name; version or alias optional, neither: the latest)")
        }
        do {
            try Names.validateModelName(ref.name)
        } catch RegistryError.invalid(let why) {
            throw RPCErrors.invalid("\(field).name: \(why)")
        }
        switch ref.selector {
        case nil:
            self.init(name: ref.name, selector: .latest)
        case .version(let number)?:
            guard number >= 1 else { throw RPCErrors.invalid("\(field).version: version numbers start at 1, got \(number)") }
            self.init(name: ref.name, selector: .version(Int(number)))
        case .alias(let alias)?:
            if alias.lowercased() == "latest" {
                self.init(name: ref.name, selector: .latest)
                return
            }
            do {
                try Names.validateAlias(alias)
            } catch RegistryError.invalid(let why) {
                throw RPCErrors.invalid("\(field).alias: \(why)")
            }
            self.init(name: ref.name, selector: .alias(alias))
        }
    }
}

extension BatchScores {
    var proto: Segmentation_V1_PackedScores {
        .with {
            $0.segmentIds = segmentIDs
            $0.distances = distances
            $0.runnerUpIds = runnerUpIDs
            $0.runnerUpDistances = runnerUpDistances
            $0.outliers = outliers
            $0.memberships = memberships
        }
    }
}

extension SegmentFacts {
    var proto: Segmentation_V1_SegmentFacts {
        .with {
            $0.lapseDays = Int32(lapseDays); $0.lapseBasis = lapseBasis.rawValue
            ($0.lapsedShare, $0.populationLapsedShare) = (lapsedShare, populationLapsedShare)
            ($0.oneTimeShare, $0.populationOneTimeShare) = (oneTimeShare, populationOneTimeShare)
            ($0.medianRecency, $0.populationMedianRecency) = (medianRecency, populationMedianRecency)
            ($0.medianFrequency, $0.populationMedianFrequency) = (medianFrequency, populationMedianFrequency)
            ($0.medianSpend, $0.populationMedianSpend) = (medianSpend, populationMedianSpend)
            ($0.meanSpend, $0.populationMeanSpend) = (meanSpend, populationMeanSpend)
            ($0.medianBasket, $0.populationMedianBasket) = (medianBasket, populationMedianBasket)
            $0.revenueShare = revenueShare
            $0.unsteadyClaims = (unsteadyClaims ?? []).map { claim in
                .with { $0.word = claim.word; $0.refitsHolding = Int32(claim.refitsHolding); $0.refits = Int32(claim.refits) }
            }
        }
    }
}
