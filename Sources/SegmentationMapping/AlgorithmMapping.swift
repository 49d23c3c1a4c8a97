import SegmentationEngine
import SegmentationMessages

/// The API's algorithm enum and the engine's methods, mapped once for the server and the CLI.
extension Segmentation_V1_Algorithm {
    /// The API's value for a method.
    public init(_ method: ClusteringMethod) {
        self =
            switch method {
            case .kmeans: .kmeans
            case .minibatchKMeans: .minibatchKmeans
            case .ward: .ward
            case .gmm: .gaussianMixture
            case .dbscan: .dbscan
            }
    }

    /// The engine's method; nil for none or an unknown value.
    public var method: ClusteringMethod? {
        switch self {
        case .kmeans: .kmeans
        case .minibatchKmeans: .minibatchKMeans
        case .ward: .ward
        case .gaussianMixture: .gmm
        case .dbscan: .dbscan
        case .unspecified, .UNRECOGNIZED: nil
        }
    }
}
