import Foundation

/// One named segment of a model.
public struct Segment: Codable, Sendable, Equatable {
    public var id: Int
    public var name: String
    /// The name the labeler gave; differs from `name` when a person renamed the segment.
    public var generatedName: String
    public var description: String
    public var actions: [String]
    public var profile: SegmentProfile
    /// How far the segment's training customers lie from its centre (nil in older models).
    public var distances: DistanceSpread?
    /// Its id across the model's versions: kept by the matching segment of the next version,
    /// never reused within a model (nil in models from before: read as `id + 1`).
    public var stableID: Int?
}

/// Distances of a segment's training customers to its centroid (scaled space). A scored
/// customer beyond `p99` is an outlier: farther out than 99% of the segment's own customers.
public struct DistanceSpread: Codable, Sendable, Equatable {
    public var median: Double
    public var p95: Double
    public var p99: Double
    public var max: Double

    static func perSegment(_ x: Matrix, centroids: Matrix, labels: [Int32]) -> [DistanceSpread] {
        var distances = [[Double]](repeating: [], count: centroids.rows)
        for i in 0..<x.rows {
            let c = Int(labels[i])
            var sum = 0.0
            for j in 0..<x.columns { let d = x[i, j] - centroids[c, j]; sum += d * d }
            distances[c].append(sum.squareRoot())
        }
        return distances.map { values in
            let sorted = values.sorted()
            return DistanceSpread(
                median: Statistics.quantile(sorted: sorted, 0.5),
                p95: Statistics.quantile(sorted: sorted, 0.95),
                p99: Statistics.quantile(sorted: sorted, 0.99), max: sorted.last ?? 0)
        }
    }
}

public struct AlgorithmInfo: Codable, Sendable, Equatable {
    public var method: ClusteringMethod
    public var parameters: [String: String]
    /// Compare mode only: every algorithm tried; nil otherwise (and in models trained before it).
    public var comparison: AlgorithmComparison?

    /// Stored models name the method `name`.
    enum CodingKeys: String, CodingKey {
        case method = "name"
        case parameters, comparison
    }
}

/// Compare mode: algorithms trained on the same features, each at the k its own sweep chose.
public struct AlgorithmComparison: Codable, Sendable, Equatable {
    public struct Candidate: Codable, Sendable, Equatable {
        public var method: ClusteringMethod
        public var chosenK: Int
        public var silhouette: Double
        public var daviesBouldin: Double
        public var calinskiHarabasz: Double
        /// The algorithm's sweep, in seconds of wall time.
        public var seconds: Double
        public var chosen: Bool
        /// Why it could not be kept (its sweep failed, or its chosen k left a segment empty); nil when it could.
        public var note: String?
        /// Gaussian mixtures: the BIC at its chosen k (lower is better); nil for other algorithms.
        public var bic: Double?

        /// Stored models name the method `name`.
        enum CodingKeys: String, CodingKey {
            case method = "name"
            case chosenK, silhouette, daviesBouldin, calinskiHarabasz, seconds, chosen, note, bic
        }
    }

    public var rule: String
    public var candidates: [Candidate]

    /// A silhouette this close to the best is no real difference: the earlier listed one stays.
    static let tieMargin = 0.005
    static let ruleText =
        "the highest silhouette at each algorithm's own chosen k; within 0.005 of the highest, the one listed first"

    /// The candidate the rule picks, by index.
    static func pick(silhouettes: [Double]) -> Int {
        let best = silhouettes.max() ?? 0
        return silhouettes.firstIndex { $0 >= best - tieMargin } ?? 0
    }
}

/// How and when the model was trained.
public struct TrainingInfo: Codable, Sendable, Equatable {
    public var configuration: TrainingConfiguration
    public var durationSeconds: Double
    public var trainedAt: Date
    public var engineVersion: String
}

/// Up to a few thousand training customers kept for reports (PCA map, silhouette plot).
public struct ModelSample: Codable, Sendable, Equatable {
    public var customerIDs: [String]
    /// Scaled features, as clustered.
    public var points: Matrix
    public var labels: [Int32]
    /// Per-customer silhouette for the chosen k, measured within this sample.
    public var silhouettes: [Double]
    /// The same customers' raw values of the clustering features (format 2 on; nil before).
    public var raw: Matrix?
}

/// A change a person made to a generated model, recorded rather than applied silently.
public struct Annotation: Codable, Sendable, Equatable {
    public var kind: String
    public var segmentID: Int?
    public var oldValue: String
    public var newValue: String
    public var author: String?
    public var at: Date
}

/// Everything needed to score a customer (input spec, pipeline, centroids, labels) and to
/// explain the model (data report, k table, metrics, profiles, parameters). Serializes to bytes
/// with a format version; fields added later must be optional so old models keep loading.
public struct SegmentationModel: Codable, Sendable, Equatable {
    /// 2: `charts` and the sample's raw values (format 1 models still load, without them).
    /// 3: a Gaussian mixture or DBSCAN's core customers that scoring must use (written only by
    /// those models, so an engine that would score them by nearest centre refuses them instead).
    /// 4: k chosen by BIC or AIC (a k rule older engines cannot decode).
    public static let currentFormatVersion = 4
    public static let engineVersion = "1.0.0"

    public var formatVersion: Int
    public var kind: InputKind
    public var transactionColumns: TransactionColumns?
    public var customerEncoder: CustomerEncoder?
    /// Day (since 1970) recency was measured to at training time.
    public var snapshotDay: Int?
    public var pipeline: FittedPipeline
    public var algorithm: AlgorithmInfo
    /// Gaussian mixture models: the mixture (components in segment order). Its customers' segment
    /// is their most likely component, not the nearest centre; scores carry every membership.
    public var mixture: GaussianMixture.Fitted?
    /// DBSCAN models: the core customers; a customer's segment is its nearest core customer's
    /// within eps, else Outliers.
    public var density: DensityModel?
    public var centroids: Matrix
    public var segments: [Segment]
    public var rfmScorer: RFMScorer?
    public var dataReport: DataReport
    public var kSelection: KSelection
    public var training: TrainingInfo
    public var sample: ModelSample?
    /// What the report draws beyond profiles and the k table; nil for format 1 models.
    public var charts: ModelCharts?
    public var annotations: [Annotation]
    /// How much the segments hold up when refitted with other seeds and on bootstrap samples
    /// (nil in models from before it was measured, or when turned off).
    public var stability: StabilityReport?
    /// Transactions models: customer value (BG/NBD and Gamma-Gamma), or why it could not be
    /// fitted; nil for customer tables and in models from before it was fitted.
    public var customerValue: ModelCustomerValue?
    /// The segments matched to the previous version's (nil for a model's first version and in
    /// models from before).
    public var lineage: SegmentLineage?
    /// The training customers' spread over each clustering feature's deciles and the segments,
    /// that live scoring is compared with (nil in models from before it was kept).
    public var driftReference: DriftReference?

    /// The metrics of the chosen k.
    public var metrics: KCandidate { kSelection.chosen }
    /// How scoring places a customer.
    public var placement: Placement { Placement(mixture: mixture, density: density) }
    public var k: Int { centroids.rows }
    /// Columns a numeric scoring request must carry, in any order.
    public var expectedColumns: [String] { pipeline.features }

    // MARK: Serialization

    private static let magic: [UInt8] = Array("SEGMODEL".utf8)

    /// Bytes: an 8-byte magic, a 4-byte big-endian format version, then the JSON body.
    public func serialized() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970  // exact round trip, unlike ISO 8601
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var data = Data(Self.magic)
        withUnsafeBytes(of: UInt32(formatVersion).bigEndian) { data.append(contentsOf: $0) }
        data.append(try encoder.encode(self))
        return data
    }

    public init(serialized data: Data) throws {
        let bytes = [UInt8](data)
        guard bytes.count > 12, Array(bytes[0..<8]) == Self.magic else {
            throw ModelError.notAModel
        }
        let version = bytes[8..<12].reduce(0) { Int($0) << 8 | Int($1) }
        guard version <= Self.currentFormatVersion else {
            throw ModelError.newerFormat(found: version, supported: Self.currentFormatVersion)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            self = try decoder.decode(SegmentationModel.self, from: Data(bytes[12...]))
        } catch {
            throw ModelError.corrupt(String(describing: error))
        }
    }

    init(
        kind: InputKind, transactionColumns: TransactionColumns?, customerEncoder: CustomerEncoder?,
        snapshotDay: Int?, pipeline: FittedPipeline, mixture: GaussianMixture.Fitted? = nil,
        density: DensityModel? = nil,
        algorithm: AlgorithmInfo, centroids: Matrix,
        segments: [Segment], rfmScorer: RFMScorer?, dataReport: DataReport, kSelection: KSelection,
        training: TrainingInfo, sample: ModelSample?, charts: ModelCharts?
    ) {
        // The oldest format that holds everything this model uses, so older engines read what they
        // can and refuse (newerFormat) what they cannot: 3 added mixtures and DBSCAN's cores, 4 the
        // BIC and AIC k rules.
        self.mixture = mixture
        self.density = density
        formatVersion =
            switch (
                kSelection.method.needsLikelihood, Placement(mixture: mixture, density: density)
            ) {
            case (true, _): 4
            case (false, .mostLikely), (false, .nearestCore): 3
            case (false, .nearestCentre): 2
            }
        self.kind = kind
        self.transactionColumns = transactionColumns
        self.customerEncoder = customerEncoder
        self.snapshotDay = snapshotDay
        self.pipeline = pipeline
        self.algorithm = algorithm
        self.centroids = centroids
        self.segments = segments
        self.rfmScorer = rfmScorer
        self.dataReport = dataReport
        self.kSelection = kSelection
        self.training = training
        self.sample = sample
        self.charts = charts
        annotations = []
    }

    /// Limits on what a person may write into a segment.
    public static let maximumNameLength = 100
    public static let maximumDescriptionLength = 1_000
    public static let maximumActions = 10
    public static let maximumActionLength = 200

    /// A copy with a person's name, description and/or actions for one segment (nil: unchanged),
    /// each change recorded as an annotation beside the generated wording.
    public func editingSegment(
        _ id: Int, name: String? = nil, description: String? = nil, actions: [String]? = nil,
        author: String? = nil, at date: Date = Date()
    ) throws -> SegmentationModel {
        guard let index = segments.firstIndex(where: { $0.id == id }) else {
            throw ModelError.unknownSegment(id, available: segments.map(\.id))
        }
        guard name != nil || description != nil || actions != nil else {
            throw ModelError.invalidName("give a new name, description or actions")
        }
        var copy = self
        let at = Date.wholeSeconds(date)
        func note(_ kind: String, _ old: String, _ new: String) {
            copy.annotations.append(
                Annotation(
                    kind: kind, segmentID: id, oldValue: old, newValue: new, author: author, at: at)
            )
        }
        if let name {
            let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else {
                throw ModelError.invalidName("a segment name cannot be empty")
            }
            guard trimmed.count <= Self.maximumNameLength,
                trimmed.utf8.count <= 4 * Self.maximumNameLength
            else {
                throw ModelError.invalidName(
                    "a segment name has at most \(Self.maximumNameLength) characters (\(4 * Self.maximumNameLength) bytes), got \(trimmed.utf8.count) bytes"
                )
            }
            if let clash = segments.first(where: { $0.id != id && $0.name == trimmed }) {
                throw ModelError.invalidName(
                    "segment \(clash.id) is already named \(trimmed.quotedForMessage)")
            }
            note("rename-segment", segments[index].name, trimmed)
            copy.segments[index].name = trimmed
        }
        if let description {
            let trimmed = description.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else {
                throw ModelError.invalidName("a segment description cannot be empty")
            }
            guard trimmed.count <= Self.maximumDescriptionLength,
                trimmed.utf8.count <= 4 * Self.maximumDescriptionLength
            else {
                throw ModelError.invalidName(
                    "a description has at most \(Self.maximumDescriptionLength) characters (\(4 * Self.maximumDescriptionLength) bytes), got \(trimmed.utf8.count) bytes"
                )
            }
            note("describe-segment", segments[index].description, trimmed)
            copy.segments[index].description = trimmed
        }
        if let actions {
            let cleaned = actions.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter
            { !$0.isEmpty }.uniqued()
            guard !cleaned.isEmpty else {
                throw ModelError.invalidName("give at least one non-empty action")
            }
            guard cleaned.count <= Self.maximumActions,
                cleaned.allSatisfy({
                    $0.count <= Self.maximumActionLength
                        && $0.utf8.count <= 4 * Self.maximumActionLength
                })
            else {
                throw ModelError.invalidName(
                    "at most \(Self.maximumActions) actions of at most \(Self.maximumActionLength) characters each"
                )
            }
            note(
                "set-actions", segments[index].actions.joined(separator: "; "),
                cleaned.joined(separator: "; "))
            copy.segments[index].actions = cleaned
        }
        return copy
    }
}

extension Date {
    /// Now, to the whole second: stored dates then survive encoding exactly.
    public static func wholeSeconds(_ date: Date = Date()) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}

public enum ModelError: Error, Equatable, CustomStringConvertible {
    case notAModel
    case newerFormat(found: Int, supported: Int)
    case corrupt(String)
    case unknownSegment(Int, available: [Int])
    case invalidName(String)
    case wrongKind(expected: InputKind, found: InputKind)

    public var description: String {
        switch self {
        case .notAModel: "the bytes are not a segmentation model"
        case .newerFormat(let found, let supported):
            "the model has format version \(found); this engine reads up to \(supported)"
        case .corrupt(let detail): "the model cannot be decoded: \(detail)"
        case .unknownSegment(let id, let available):
            "no segment \(id); segments are \(available.map(String.init).joined(separator: ", "))"
        case .invalidName(let message): message
        case .wrongKind(let expected, let found):
            "the model was trained on \(expected) data; \(found) data cannot be scored with it"
        }
    }
}
