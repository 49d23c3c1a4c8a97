/// The result every clustering algorithm returns: the shape a model stores and scores with.
public struct Clustering: Sendable, Equatable {
    /// One row per cluster, in the scaled feature space.
    public var centroids: Matrix
    /// Cluster of each training row, `0..<k`.
    public var labels: [Int32]
    /// Sum of squared distances of rows to their centroid.
    public var inertia: Double
    public var iterations: Int
    /// Hierarchical algorithms: the top of the tree the clusters came from (for the report).
    public var dendrogram: Dendrogram?
    /// Gaussian mixtures: the fitted mixture, whose components are the clusters (same order).
    public var mixture: GaussianMixture.Fitted?
    /// DBSCAN: the core customers and the Outliers segment, which scoring needs.
    public var density: DensityModel?

    public init(
        centroids: Matrix, labels: [Int32], inertia: Double, iterations: Int,
        dendrogram: Dendrogram? = nil,
        mixture: GaussianMixture.Fitted? = nil
    ) {
        self.centroids = centroids
        self.labels = labels
        self.inertia = inertia
        self.iterations = iterations
        self.dendrogram = dendrogram
        self.mixture = mixture
    }

    public var k: Int { centroids.rows }
}

/// What all clustering algorithms share, so mini-batch k-means, Gaussian mixtures, Ward and
/// DBSCAN can stand behind the same model shape later.
public protocol ClusteringAlgorithm: Sendable {
    /// Which method this is (its stored name is the method's).
    var method: ClusteringMethod { get }
    var parameters: [String: String] { get }
    func fit(_ x: Matrix, k: Int, cancellation: CancellationCheck) throws -> Clustering
    /// Fits every k of a sweep. An algorithm may run the ks together to keep every core busy;
    /// `progress(k)` is called once per k, in increasing k, when that k is done.
    func fit(
        _ x: Matrix, ks: [Int], cancellation: CancellationCheck, progress: (_ k: Int) -> Void
    ) throws -> [Int: Clustering]
}

extension ClusteringAlgorithm {
    /// One k after the other.
    public func fit(
        _ x: Matrix, ks: [Int], cancellation: CancellationCheck, progress: (_ k: Int) -> Void
    ) throws -> [Int: Clustering] {
        var clusterings: [Int: Clustering] = [:]
        for k in ks.sorted() {
            try cancellation.throwIfCancelled()
            clusterings[k] = try fit(x, k: k, cancellation: cancellation)
            progress(k)
        }
        return clusterings
    }
}

public enum ClusteringError: Error, Equatable, CustomStringConvertible {
    case invalidK(k: Int, customers: Int)
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .invalidK(let k, let customers):
            "k = \(k) is not possible with \(customers) customers: k must be at least 2 and at most the number of distinct customers"
        case .invalidParameter(let message): message
        }
    }
}

/// How a fit places a customer in a segment: the nearest centre (k-means, mini-batch k-means,
/// Ward), the most likely component (a Gaussian mixture), or the nearest core customer within eps
/// (DBSCAN, else its Outliers). Scoring, refits and the model's format switch on it exhaustively.
public enum Placement: Sendable {
    case nearestCentre
    case mostLikely(GaussianMixture.Fitted)
    case nearestCore(DensityModel)

    /// From the parts a fit or a stored model keeps (a mixture and DBSCAN's cores are never both set).
    init(mixture: GaussianMixture.Fitted?, density: DensityModel?) {
        if let mixture {
            self = .mostLikely(mixture)
        } else if let density {
            self = .nearestCore(density)
        } else {
            self = .nearestCentre
        }
    }
}

extension Clustering {
    public var placement: Placement { Placement(mixture: mixture, density: density) }
}
