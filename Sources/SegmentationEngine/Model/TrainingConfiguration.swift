import Foundation

/// Everything a user chooses about a training run. Stored in the model.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    public var kind: InputKind = .transactions
    public var transactionColumns = TransactionColumns()
    public var customerColumns = CustomerColumns()
    /// Features to cluster on; nil: recency, frequency, monetary, avg_order_value for
    /// transactions, every encoded column for customer tables.
    public var features: [String]?
    /// nil: log1p on every feature then standard scaling for transactions; log1p on skewed
    /// non-negative columns then standard scaling for customer tables.
    public var pipeline: PipelineSpec?
    public var algorithm = ClusteringMethod.kmeans
    /// The Gaussian mixture's covariance type; nil: full.
    public var covariance: GaussianMixture.Covariance?
    /// DBSCAN's radius in the scaled feature space; nil: the k-distance knee.
    public var eps: Double?
    /// DBSCAN's neighbours (itself included) that make a core customer; nil: twice the features.
    public var minSamples: Int?
    /// Compare mode: two or more methods, each swept on the same features; the model keeps the
    /// one `AlgorithmComparison`'s rule picks. nil: `algorithm` only.
    public var compareAlgorithms: [ClusteringMethod]?
    public var ks: [Int] = Array(2...10)
    /// nil: fixed when one k is given, actionable otherwise.
    public var selection: KSelectionMethod?
    public var nInit = 10
    public var maxIterations = 300
    public var tolerance = 1e-4
    public var seed: UInt64 = 0
    /// `YYYY-MM-DD`; nil: the day after the last transaction.
    public var snapshotDate: String?
    public var exactSilhouetteLimit = 30_000
    /// Customers kept in the model for reports.
    public var sampleSize = 2_000
    /// Refits measuring stability: this many with other seeds and as many on bootstrap samples;
    /// nil: 5 and 5 (`StabilityCheck.defaultRuns`); 0: not measured.
    public var stabilityRuns: Int?
    /// Row filters (--include/--exclude), applied before cleaning; nil: none.
    public var filters: [RowFilter]?
    /// Cancelled orders and cancellation invoices (transactions); nil: the defaults (left out
    /// and netted; older models were trained without either).
    public var cleaning: TransactionCleaning?

    public init() {}

    /// The most segments any model may have (servers set a lower bound of their own, --max-k).
    public static let maximumK = 1000
    /// The most k-means restarts per k any run may ask for (servers set their own, --max-n-init).
    public static let maximumNInit = 1000
    /// Snapshot dates accepted (days since 1970): 1970-01-01 to 2100-12-31.
    public static let snapshotDays = 0...47_846

    /// The methods a run fits: the compared ones, or the one.
    public var methods: [ClusteringMethod] { compareAlgorithms ?? [algorithm] }

    public var effectiveSelection: KSelectionMethod {
        selection ?? (ks.count == 1 ? .fixed : .actionable)
    }

    public var effectivePipeline: PipelineSpec {
        pipeline ?? PipelineSpec(log: kind == .transactions ? .all : .auto, scaling: .standard)
    }

    /// Checks the options that do not depend on the data.
    public func validate() throws {
        guard !ks.isEmpty else { throw InputError.invalidOption("give at least one k") }
        if let bad = ks.first(where: { $0 < 2 }) {
            throw InputError.invalidOption("k must be at least 2, got \(bad)")
        }
        if let bad = ks.first(where: { $0 > Self.maximumK }) {
            throw InputError.invalidOption(
                "k must be at most \(Self.maximumK), got \(bad): segments are for people to act on")
        }
        if let features {
            var seen = Set<String>()
            if let twice = features.first(where: { !seen.insert($0).inserted }) {
                throw InputError.invalidOption(
                    "features names \(twice.quotedForMessage) twice; name each feature once")
            }
        }
        if case .features(let names)? = pipeline?.log, names.isEmpty {
            throw InputError.invalidOption(
                "the listed log transform names no feature: list them (log_features) or choose all, auto or none"
            )
        }
        if let selection, selection != .fixed, ks.count == 1 {
            throw InputError.invalidOption(
                "selection \(selection.rawValue) chooses among several k, but one k (\(ks[0])) was given: give a range or selection fixed"
            )
        }
        guard nInit >= 1 && nInit <= Self.maximumNInit else {
            throw InputError.invalidOption(
                "n_init must be between 1 and \(Self.maximumNInit), got \(nInit)")
        }
        guard maxIterations >= 1 else {
            throw InputError.invalidOption("max_iter must be at least 1")
        }
        guard tolerance >= 0 && tolerance.isFinite else {
            throw InputError.invalidOption("tol must be a finite number >= 0")
        }
        if covariance != nil, !methods.contains(.gmm) {
            throw InputError.invalidOption(
                "covariance_type applies to the Gaussian mixture (gmm) only")
        }
        if eps != nil || minSamples != nil, !methods.contains(.dbscan) {
            throw InputError.invalidOption("eps and min_samples apply to DBSCAN (dbscan) only")
        }
        if let selection, selection.needsLikelihood,
            !algorithm.hasLikelihood || compareAlgorithms != nil
        {
            throw InputError.invalidOption(
                "selection \(selection.rawValue) reads a likelihood, which only the Gaussian mixture (gmm) has: "
                    + "train gmm alone, or choose k by silhouette, elbow or actionable")
        }
        if let eps, !(eps > 0 && eps.isFinite) {
            throw InputError.invalidOption("eps must be a positive number, not \(eps)")
        }
        if let minSamples, minSamples < 2 {
            throw InputError.invalidOption("min_samples must be at least 2, not \(minSamples)")
        }
        if let compareAlgorithms {
            guard compareAlgorithms.count >= 2,
                Set(compareAlgorithms).count == compareAlgorithms.count
            else {
                throw InputError.invalidOption(
                    "compare mode needs two or more different algorithms, got \(compareAlgorithms.map(\.rawValue).joined(separator: ", "))"
                )
            }
        }
        if let snapshotDate {
            guard let day = TimestampParser.day(ofDate: snapshotDate) else {
                throw InputError.invalidOption(
                    "snapshot date \(snapshotDate.quotedForMessage) is not a date (use YYYY-MM-DD)")
            }
            guard Self.snapshotDays.contains(day) else {
                throw InputError.invalidOption(
                    "snapshot date \(snapshotDate) is outside 1970-01-01...2100-12-31")
            }
        }
        if effectiveSelection == .fixed && ks.count != 1 {
            throw InputError.invalidOption("a fixed k needs exactly one k")
        }
        if let stabilityRuns, !(0...50).contains(stabilityRuns) {
            throw InputError.invalidOption(
                "stability runs must be between 0 and 50, got \(stabilityRuns)")
        }
        if let filters, filters.count > RowFilter.maximumCount {
            throw InputError.invalidOption(
                "\(filters.count) row filters given; at most \(RowFilter.maximumCount) are allowed")
        }
    }
}

extension TrainingConfiguration {
    /// Checks the options against the data's header before any row is read, so a filter on a
    /// missing column or a sensitive column named without an opt-in fails at once.
    public func check(header: [String], source: String) throws {
        _ = try RowFilterSet(filters ?? [], header: header, source: source)
        if kind == .customers {
            try CustomerTableLoader.checkColumns(
                header: header, columns: customerColumns, source: source)
        }
    }
}

/// A method with its options: one case per method, so each use that depends on the method is
/// an exhaustive switch (no downcasts).
enum ConfiguredClustering: Sendable {
    case kmeans(KMeans)
    case minibatchKMeans(MiniBatchKMeans)
    case ward(WardClustering)
    case gmm(GaussianMixtureClustering)
    case dbscan(DBSCANClustering)

    var algorithm: any ClusteringAlgorithm {
        switch self {
        case .kmeans(let algorithm): algorithm
        case .minibatchKMeans(let algorithm): algorithm
        case .ward(let algorithm): algorithm
        case .gmm(let algorithm): algorithm
        case .dbscan(let algorithm): algorithm
        }
    }

    var method: ClusteringMethod { algorithm.method }
}

extension TrainingConfiguration {
    /// The configured method. n_init, max_iter and tol are k-means'; mini-batch k-means runs
    /// with scikit-learn's defaults (3 k-means++ tries on its sample, at most 100 passes, early
    /// stop) and the seed; Ward takes the seed of its sample.
    func configuredClustering() -> ConfiguredClustering {
        switch algorithm {
        case .kmeans:
            .kmeans(
                KMeans(nInit: nInit, maxIterations: maxIterations, tolerance: tolerance, seed: seed)
            )
        case .minibatchKMeans: .minibatchKMeans(MiniBatchKMeans(seed: seed))
        case .ward: .ward(WardClustering(seed: seed))
        case .gmm: .gmm(GaussianMixtureClustering(covariance: covariance ?? .full, seed: seed))
        case .dbscan: .dbscan(DBSCANClustering(eps: eps, minSamples: minSamples, seed: seed))
        }
    }
}
