import ArgumentParser
import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping

struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upload data and train a new version of a model.",
        discussion: """
            Examples:
              segment train data/by-day --model retail --wait
              segment train cards.csv --model cards --kind customers --features BALANCE,PURCHASES --k 4 --wait
            """)

    @Argument(help: "CSV files or folders of CSV files (one table).")
    var paths: [String]

    @Option(help: "Model name (letters, digits, '-', '_', '.').")
    var model: String

    @Option(
        help:
            "transactions (order lines, aggregated per customer) or customers (one row per customer)."
    )
    var kind: InputKind = .transactions

    @Option(
        help:
            "Transactions: role=column pairs, e.g. customer=CustomerID,time=InvoiceDate,amount=Total. Roles: customer, time, invoice, quantity, price, amount, country, product."
    )
    var columns: String?

    @Option(name: .customLong("id-column"), help: "Customers: the id column (default: detected).")
    var idColumn: String?

    @Option(help: "Comma-separated features (transactions) or columns (customers) to cluster on.")
    var features: String?

    @Option(help: "One k (4) or a range (2...10, 2-10). Default 2...10.")
    var k: String?

    @Option(
        help:
            "How k is chosen from a range: actionable (default: best silhouette among 3...8 segments of at least 2% each), silhouette, elbow, fixed, or for --algorithm gmm bic or aic (lowest criterion)."
    )
    var selection: KSelectionMethod?

    @Option(
        name: .customLong("n-init"),
        help: "k-means restarts per k (default 10; --algorithm kmeans only).")
    var nInit: Int?

    @Option(help: "Random seed (default 0).")
    var seed: UInt64 = 0

    @Option(
        help: ArgumentHelp(
            "kmeans (default), minibatch-kmeans (for millions of customers), ward (hierarchical; a 20,000-customer sample past that) "
                + "gmm (Gaussian mixture: membership probabilities in scores) or dbscan (dense groups and Outliers; finds its own k); "
                + "several, comma-separated, or auto (all but dbscan) to compare them and keep the best by silhouette at each one's chosen k.",
            valueName: "algorithm[,algorithm...]|auto"))
    var algorithm = AlgorithmSelection(.kmeans)

    @Option(
        help:
            "DBSCAN's radius in the scaled feature space (default: the k-distance knee; --algorithm dbscan only)."
    )
    var eps: Double?

    @Option(
        name: .customLong("min-samples"),
        help:
            "DBSCAN's customers within eps, itself included, that make a core customer (default: twice the features; --algorithm dbscan only)."
    )
    var minSamples: Int?

    @Option(
        help:
            "The Gaussian mixture's covariance: full (default), diag or spherical (--algorithm gmm only)."
    )
    var covariance: GaussianMixture.Covariance?

    @Option(help: "standard, robust, minmax or none.")
    var scaling: Scaling?

    @Option(help: "log1p: all, none, auto, or a comma-separated list of features.")
    var log: String?

    @Option(
        name: .customLong("snapshot-date"),
        help: "YYYY-MM-DD recency is measured to (default: the day after the last transaction).")
    var snapshotDate: String?

    @OptionGroup var filters: FilterOptions

    @Option(
        help:
            "Customers: more columns to treat as sensitive (comma-separated), beyond the built-in list (gender, sex, race, ethnicity, religion, marital status, nationality, ...)."
    )
    var sensitive: String?

    @Option(
        name: .customLong("allow-sensitive"),
        help:
            "Customers: sensitive columns you explicitly allow clustering on (comma-separated). They are still never used in names or actions."
    )
    var allowSensitive: String?

    @Flag(
        name: .customLong("keep-cancelled"),
        help:
            "Transactions: keep rows whose status column (named like 'Order Status') says cancelled, refunded, returned or failed (default: left out and counted)."
    )
    var keepCancelled = false

    @Flag(
        name: .customLong("gross-spend"),
        help:
            "Transactions: drop cancellation invoices (InvoiceNo starting with C) without netting them against the customer's purchases (default: netted; customers left with no net spend are left out and counted)."
    )
    var grossSpend = false

    @Flag(help: "Watch the job to the end and print the segments.")
    var wait = false

    @OptionGroup var server: ServerOptions

    func run() async throws {
        try await reportingErrors(server: server.address) {
            let spec = try buildSpec()
            let files = try Uploader.files(paths)
            let header = try datasetHeader()
            let format = server.output
            try await server.withServer { services in
                let dataset = try await Uploader.upload(files, header: header, services: services)
                    .dataset
                var submitted = spec
                submitted.datasetID = dataset.id
                let job = try await services.training.submitTrainingJob(
                    .with { $0.spec = submitted }
                ).job
                FileHandle.standardError.writeQuietly(
                    "submitted \(job.id) for model \(job.spec.modelName)\n")
                guard wait else {
                    try ModelPrinter.emit(job, format: format)
                    return
                }
                let finished = try await JobWatcher.watch(job.id, services: services)
                try await JobWatcher.printOutcome(finished, format: format, services: services)
            }
        }
    }

    private func datasetHeader() throws -> Segmentation_V1_DatasetHeader {
        // Checked here too, so a typo fails before the upload.
        let roles = try Score.roles(columns)
        return .with {
            $0.name = (paths.first.map { ($0 as NSString).lastPathComponent }) ?? "upload"
            $0.kind = kind.proto
            $0.columns = .with {
                $0.roles = roles; $0.idColumn = idColumn ?? ""
            }
        }
    }

    func buildSpec() throws -> Segmentation_V1_TrainingSpec {
        var spec = Segmentation_V1_TrainingSpec()
        spec.modelName = model
        if let features {
            spec.features = features.split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        }
        if let k {
            let range = try KRangeText.parse(k)
            if range.count == 1 {
                spec.k = Int32(range.lowerBound)
            } else {
                spec.kRange = .with {
                    $0.min = Int32(range.lowerBound); $0.max = Int32(range.upperBound)
                }
            }
        }
        spec.filters = try filters.protos()
        spec.sensitiveColumns = listItems(sensitive)
        spec.allowSensitive = listItems(allowSensitive)
        spec.keepCancelled = keepCancelled
        spec.grossSpend = grossSpend
        if let selection { spec.selection = selection.proto }
        // 0 means "unset" in the API, so a 0 here would be silently replaced by the default.
        if let nInit {
            guard nInit >= 1 else { throw CLIError.usage("--n-init must be at least 1") }
            spec.nInit = Int32(nInit)
        }
        spec.seed = seed
        if let covariance { spec.covarianceType = covariance.proto }
        if let eps {
            guard eps > 0, eps.isFinite else {
                throw CLIError.usage("--eps must be a positive number")
            }
            spec.eps = eps
        }
        if let minSamples {
            guard minSamples >= 2 else { throw CLIError.usage("--min-samples must be at least 2") }
            spec.minSamples = Int32(minSamples)
        }
        if algorithm.algorithms.count == 1 {
            spec.algorithm = Segmentation_V1_Algorithm(algorithm.algorithms[0])
        } else {
            spec.compareAlgorithms = algorithm.algorithms.map(Segmentation_V1_Algorithm.init)
        }
        if let scaling { spec.scaling = scaling.proto }
        switch log {
        case nil: break
        case "all"?: spec.logTransform = .all
        case "none"?: spec.logTransform = .none
        case "auto"?: spec.logTransform = .auto
        case let list?:
            spec.logTransform = .listed
            spec.logFeatures = list.split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        }
        if let snapshotDate { spec.snapshotDate = snapshotDate }
        try checkAsTheServerWill(spec)
        return spec
    }

    /// The server's rules for a spec (SegmentationMapping's, shared), checked before uploading;
    /// with the engine's bounds, since a server's own (--max-k...) may allow more than its defaults.
    private func checkAsTheServerWill(_ spec: Segmentation_V1_TrainingSpec) throws {
        let shape = DatasetShape(
            kind: kind, roles: try Score.roles(columns), idColumn: idColumn ?? "")
        do {
            _ = try TrainingSpecs.configuration(spec, dataset: shape, limits: .engine)
        } catch let error as InvalidField {
            throw CLIError.usage(TrainFlags.spelled(error.message))
        } catch let error as InputError {
            throw CLIError.usage(TrainFlags.spelled(error.description))
        }
    }
}

/// The API's training fields as this command's flags, so a refusal names what to change.
enum TrainFlags {
    static let byField: [(field: String, flag: String)] = [
        ("spec.sensitive_columns and spec.allow_sensitive", "--sensitive and --allow-sensitive"),
        ("spec.keep_cancelled and spec.gross_spend", "--keep-cancelled and --gross-spend"),
        ("spec.k_range", "--k"), ("spec.k", "--k"), ("spec.n_init", "--n-init"),
        ("spec.eps", "--eps"),
        ("spec.min_samples", "--min-samples"), ("spec.log_features", "--log"),
        ("spec.features", "--features"),
        ("spec.compare_algorithms", "--algorithm"), ("spec.algorithm", "--algorithm"),
        ("eps and min_samples", "--eps and --min-samples"), ("covariance_type", "--covariance"),
        ("n_init", "--n-init"), ("customers datasets", "customer tables (--kind customers)"),
        ("transactions datasets", "transactions (--kind transactions)"),
    ]

    static func spelled(_ message: String) -> String {
        byField.reduce(message) { $0.replacingOccurrences(of: $1.field, with: $1.flag) }
    }
}

/// `4`, `2...10` or `2-10`.
enum KRangeText {
    static func parse(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.replacingOccurrences(of: "...", with: "-").split(separator: "-").map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard (1...2).contains(parts.count), let low = parts.first!, let high = parts.last!,
            low <= high
        else {
            throw CLIError.usage("--k '\(text)' must be a number (4) or a range (2...10)")
        }
        guard low >= 2 else { throw CLIError.usage("--k: k must be at least 2, got \(low)") }
        guard high <= TrainingConfiguration.maximumK else {
            throw CLIError.usage(
                "--k: k must be at most \(TrainingConfiguration.maximumK), got \(high)")
        }
        return low...high
    }
}

extension InputKind: ExpressibleByArgument {}
extension KSelectionMethod: ExpressibleByArgument {}
extension Scaling: ExpressibleByArgument {}

/// `--algorithm`'s spelling of a method: its stored name with dashes (minibatch-kmeans); the
/// underscore spelling is accepted too.
extension ClusteringMethod: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.replacingOccurrences(of: "-", with: "_"))
    }
    public var argumentName: String { rawValue.replacingOccurrences(of: "_", with: "-") }
    public var defaultValueDescription: String { argumentName }
    public static var allValueStrings: [String] { allCases.map(\.argumentName) }
}

/// `--algorithm`: one algorithm, or several to compare (a comma list, or auto for all of them).
struct AlgorithmSelection: ExpressibleByArgument {
    var algorithms: [ClusteringMethod]

    init(_ algorithm: ClusteringMethod) { algorithms = [algorithm] }

    /// Every algorithm with a k sweep (DBSCAN, which finds its own k, is listed by name).
    static let auto = ClusteringMethod.allCases.filter(\.takesK)

    init?(argument: String) {
        if argument == "auto" {
            algorithms = Self.auto
            return
        }
        var chosen: [ClusteringMethod] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let one = ClusteringMethod(argument: part.trimmingCharacters(in: .whitespaces)),
                !chosen.contains(one)
            else { return nil }
            chosen.append(one)
        }
        guard !chosen.isEmpty else { return nil }
        algorithms = chosen
    }

    static var allValueStrings: [String] { ClusteringMethod.allValueStrings + ["auto"] }

    var defaultValueDescription: String { algorithms.map(\.argumentName).joined(separator: ",") }
}

/// `--covariance`: the Gaussian mixture's covariance type.
extension GaussianMixture.Covariance: ExpressibleByArgument {}
