/// The clustering methods a model can be trained with, by the names models and job records store.
/// Every property below is an exhaustive switch: a new method makes the compiler list each
/// place that must learn it (its fit, what it needs and ignores, the API's enum, the CLI's spelling).
public enum ClusteringMethod: String, Codable, Sendable, CaseIterable {
    case kmeans
    case minibatchKMeans = "minibatch_kmeans"
    case ward
    case gmm
    case dbscan

    /// Whether the user's k sets the number of segments (DBSCAN finds its own).
    public var takesK: Bool {
        switch self {
        case .kmeans, .minibatchKMeans, .ward, .gmm: true
        case .dbscan: false
        }
    }

    /// Whether a fit has a likelihood (what BIC and AIC selection read).
    public var hasLikelihood: Bool {
        switch self {
        case .gmm: true
        case .kmeans, .minibatchKMeans, .ward, .dbscan: false
        }
    }

    /// Whether n_init, max_iter and tol apply (k-means' own options).
    public var takesLloydOptions: Bool {
        switch self {
        case .kmeans: true
        case .minibatchKMeans, .ward, .gmm, .dbscan: false
        }
    }

    /// Whether a fit on `rows` rows gives the same answer whatever the seed: DBSCAN, and Ward on
    /// all its rows (past its sample limit it fits a seeded sample).
    public func ignoresSeed(rows: Int) -> Bool {
        switch self {
        case .dbscan: true
        case .ward: rows <= WardClustering().maximumRows
        case .kmeans, .minibatchKMeans, .gmm: false
        }
    }
}
