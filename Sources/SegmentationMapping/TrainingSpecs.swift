import SegmentationEngine
import SegmentationMessages

/// Bounds on what clients may ask of training, each a server flag with a documented default.
public struct TrainingLimits: Sendable {
    /// Most segments (--max-k).
    public var maximumK = 100
    /// Most k-means restarts per k (--max-n-init).
    public var maximumNInit = 100
    /// Most Lloyd iterations per restart (--max-iter).
    public var maximumIterations = 10_000
    /// Most columns in an uploaded file (--max-columns); also bounds the features a spec names.
    public var maximumColumns = 1_000
    /// Most data rows in one dataset, all its files together (--max-rows).
    public var maximumRows = 50_000_000

    public init() {}

    /// The engine's own bounds only: what a client checks before it knows the server's flags.
    public static let engine: TrainingLimits = {
        var limits = TrainingLimits()
        limits.maximumK = TrainingConfiguration.maximumK
        limits.maximumNInit = TrainingConfiguration.maximumNInit
        limits.maximumIterations = .max
        limits.maximumColumns = .max
        limits.maximumRows = .max
        return limits
    }()
}

/// What a spec is checked against about its dataset. `features` and `customers` are nil before
/// the data is read (the CLI checks a spec before uploading).
public struct DatasetShape: Sendable {
    public var kind: InputKind
    /// Transactions: role -> column.
    public var roles: [String: String]
    /// Customers: the id column (empty: detected).
    public var idColumn: String
    public var features: [String]?
    public var customers: Int64?

    public init(
        kind: InputKind, roles: [String: String] = [:], idColumn: String = "",
        features: [String]? = nil, customers: Int64? = nil
    ) {
        (self.kind, self.roles, self.idColumn, self.features, self.customers) = (
            kind, roles, idColumn, features, customers
        )
    }
}

/// A training spec as the engine's configuration, checked field by field: the one place the
/// API's training options are read, for the server (at submit) and the CLI (before uploading).
/// Unset fields (0, empty, UNSPECIFIED) leave the engine's defaults.
public enum TrainingSpecs {
    public static func configuration(
        _ spec: Segmentation_V1_TrainingSpec, dataset: DatasetShape,
        limits: TrainingLimits = TrainingLimits()
    ) throws -> TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.kind = dataset.kind
        try readColumns(spec, dataset, into: &configuration)
        configuration.filters = try RowFilter.list(spec.filters)
        try readPipeline(spec, into: &configuration)
        try readAlgorithms(spec, into: &configuration)
        try readK(spec, limits, into: &configuration)
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

    /// Columns, features and cleaning, which depend on the dataset's kind.
    private static func readColumns(
        _ spec: Segmentation_V1_TrainingSpec, _ dataset: DatasetShape,
        into configuration: inout TrainingConfiguration
    ) throws {
        switch dataset.kind {
        case .transactions:
            configuration.transactionColumns = try TransactionColumns(roles: dataset.roles)
            configuration.cleaning = TransactionCleaning(
                keepCancelled: spec.keepCancelled, netCancellations: !spec.grossSpend)
            if !spec.sensitiveColumns.isEmpty || !spec.allowSensitive.isEmpty {
                throw InvalidField(
                    spec.sensitiveColumns.isEmpty
                        ? "spec.allow_sensitive" : "spec.sensitive_columns",
                    "spec.sensitive_columns and spec.allow_sensitive apply to customers datasets only"
                )
            }
        case .customers:
            configuration.customerColumns = CustomerColumns(
                id: dataset.idColumn.isEmpty ? nil : dataset.idColumn,
                sensitive: spec.sensitiveColumns.isEmpty ? nil : spec.sensitiveColumns,
                allowSensitive: spec.allowSensitive.isEmpty ? nil : spec.allowSensitive)
            if spec.keepCancelled || spec.grossSpend {
                throw InvalidField(
                    spec.keepCancelled ? "spec.keep_cancelled" : "spec.gross_spend",
                    "spec.keep_cancelled and spec.gross_spend apply to transactions datasets only")
            }
        }
        guard !spec.features.isEmpty else { return }
        if dataset.kind == .customers {
            // Customer tables name input columns; the model clusters their encoded forms.
            configuration.customerColumns.features = spec.features
        } else {
            configuration.features = spec.features
        }
    }

    private static func readPipeline(
        _ spec: Segmentation_V1_TrainingSpec, into configuration: inout TrainingConfiguration
    ) throws {
        let log: LogTransform? =
            switch spec.logTransform {
            case .unspecified: nil
            case .UNRECOGNIZED(let value):
                throw InvalidField(
                    "spec.log_transform", "spec.log_transform: unknown value \(value)")
            case .none: LogTransform.none
            case .all: .all
            case .auto: .auto
            case .listed: .features(spec.logFeatures)
            }
        let scaling = try Scaling(spec.scaling, field: "spec.scaling")
        if log != nil || scaling != nil {
            let base = configuration.effectivePipeline
            configuration.pipeline = PipelineSpec(
                log: log ?? base.log, scaling: scaling ?? base.scaling)
        }
    }

    private static func readAlgorithms(
        _ spec: Segmentation_V1_TrainingSpec, into configuration: inout TrainingConfiguration
    ) throws {
        if spec.algorithm != .unspecified {  // unspecified: the configuration's default, k-means
            guard let method = spec.algorithm.method else {
                throw InvalidField(
                    "spec.algorithm", "spec.algorithm: unknown value \(spec.algorithm.rawValue)")
            }
            configuration.algorithm = method
        }
        configuration.covariance = try GaussianMixture.Covariance(
            spec.covarianceType, field: "spec.covariance_type")
        if !spec.compareAlgorithms.isEmpty {
            configuration.compareAlgorithms = try spec.compareAlgorithms.map { algorithm in
                guard let method = algorithm.method else {
                    throw InvalidField(
                        "spec.compare_algorithms",
                        "spec.compare_algorithms: \(algorithm) is not an algorithm to compare")
                }
                return method
            }
        }
        if spec.eps != 0 {
            guard spec.eps > 0, spec.eps.isFinite else {
                throw InvalidField(
                    "spec.eps", "spec.eps must be a positive number (0: the k-distance knee)")
            }
            configuration.eps = spec.eps
        }
        if spec.minSamples != 0 {
            guard spec.minSamples >= 2, spec.minSamples <= 100_000 else {
                throw InvalidField(
                    "spec.min_samples",
                    "spec.min_samples must be between 2 and 100000 (0: twice the features)")
            }
            configuration.minSamples = Int(spec.minSamples)
        }
    }

    /// k, its selection, and the options of the k sweep's Lloyd runs.
    private static func readK(
        _ spec: Segmentation_V1_TrainingSpec, _ limits: TrainingLimits,
        into configuration: inout TrainingConfiguration
    ) throws {
        let methods = configuration.methods
        if !methods.contains(where: \.takesK), spec.kChoice != nil {
            throw InvalidField(
                "spec.k",
                "spec.k: DBSCAN finds its own number of segments; leave k and k_range unset")
        }
        for (field, given) in [
            ("n_init", spec.nInit != 0), ("max_iter", spec.maxIter != 0), ("tol", spec.tol != 0),
        ]
        where given && !methods.contains(where: \.takesLloydOptions) {
            throw InvalidField(
                "spec.\(field)",
                "spec.\(field) applies to k-means only, and \(methods.map(\.rawValue).joined(separator: ", ")) does not include it"
            )
        }
        switch spec.kChoice {
        case .k(let k)?: configuration.ks = [Int(k)]
        case .kRange(let range)?:
            guard range.min >= 2, range.max >= range.min, range.max <= limits.maximumK else {
                throw InvalidField(
                    "spec.k_range",
                    "spec.k_range \(range.min)...\(range.max) is invalid: it needs 2 <= min <= max <= \(limits.maximumK) (this server's largest)"
                )
            }
            configuration.ks = Array(Int(range.min)...Int(range.max))
        case nil: break
        }
        configuration.selection = try KSelectionMethod(spec.selection, field: "spec.selection")
    }

    /// The server's own bounds (flags), tighter than the engine's.
    private static func check(
        _ configuration: TrainingConfiguration, _ limits: TrainingLimits
    ) throws {
        if let k = configuration.ks.first(where: { $0 > limits.maximumK }) {
            throw InvalidField(
                "spec.k",
                "spec.k: k must be at most \(limits.maximumK) (this server's largest), got \(k)")
        }
        guard configuration.nInit <= limits.maximumNInit else {
            throw InvalidField(
                "spec.n_init",
                "spec.n_init: at most \(limits.maximumNInit) restarts (this server's most), got \(configuration.nInit)"
            )
        }
        guard configuration.maxIterations <= limits.maximumIterations else {
            throw InvalidField(
                "spec.max_iter",
                "spec.max_iter: at most \(limits.maximumIterations) (this server's most), got \(configuration.maxIterations)"
            )
        }
        let named = (configuration.features ?? configuration.customerColumns.features ?? []).count
        guard named <= limits.maximumColumns else {
            throw InvalidField(
                "spec.features",
                "spec.features: at most \(limits.maximumColumns) (this server's most), got \(named)"
            )
        }
    }

    /// What can be checked before reading the data again: features exist, k fits the customers.
    private static func checkAgainstDataset(
        _ configuration: TrainingConfiguration, _ dataset: DatasetShape
    ) throws {
        let wanted = configuration.features ?? configuration.customerColumns.features ?? []
        if let available = dataset.features,
            let unknown = wanted.first(where: { !available.contains($0) })
        {
            throw InputError.unknownFeature(unknown, available: available)
        }
        if configuration.kind == .transactions,
            case .features(let logged)? = configuration.pipeline?.log
        {
            let clustered =
                configuration.features ?? TransactionFeature.defaultSelection.map(\.rawValue)
            if let unknown = logged.first(where: { !clustered.contains($0) }) {
                throw InvalidField(
                    "spec.log_features",
                    "spec.log_features: \(unknown.quotedForMessage) is not a clustering feature (\(clustered.joined(separator: ", ")))"
                )
            }
        }
        if let customers = dataset.customers,
            let k = configuration.ks.first(where: { $0 > customers })
        {
            throw ClusteringError.invalidK(k: k, customers: Int(customers))
        }
    }

    /// The spec a stored configuration came from (for showing jobs and models).
    public static func spec(
        _ configuration: TrainingConfiguration, modelName: String, datasetID: String
    ) -> Segmentation_V1_TrainingSpec {
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
            $0.compareAlgorithms = (configuration.compareAlgorithms ?? []).map(
                Segmentation_V1_Algorithm.init)
            $0.eps = configuration.eps ?? 0
            $0.minSamples = Int32(configuration.minSamples ?? 0)
            if let covariance = configuration.covariance { $0.covarianceType = covariance.proto }
            // Only what the methods take, so the spec shown can be submitted again as it is.
            let methods = configuration.methods
            if methods.contains(where: \.takesK) {
                if configuration.ks.count == 1 {
                    $0.k = Int32(configuration.ks[0])
                } else if let low = configuration.ks.min(), let high = configuration.ks.max() {
                    $0.kRange = .with {
                        $0.min = Int32(low); $0.max = Int32(high)
                    }
                }
            }
            $0.selection = configuration.selection?.proto ?? .unspecified
            if methods.contains(where: \.takesLloydOptions) {
                $0.nInit = Int32(configuration.nInit)
                $0.maxIter = Int32(configuration.maxIterations)
                $0.tol = configuration.tolerance
            }
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
