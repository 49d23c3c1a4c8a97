import Foundation
import SegmentationMessages

/// How a model's algorithm is named in the report and in the CLI, from what GetModel returns.
public enum AlgorithmText {
    public static func name(_ algorithm: Segmentation_V1_Algorithm) -> String {
        switch algorithm {
        case .minibatchKmeans: "mini-batch k-means"
        case .ward: "Ward"
        case .gaussianMixture: "Gaussian mixture"
        case .dbscan: "DBSCAN"
        default: "k-means"
        }
    }

    /// The algorithm in a line; for Ward, whether its tree saw every customer or a sample.
    public static func describe(_ model: Segmentation_V1_ModelDetail) -> String {
        if model.algorithm == .dbscan {
            let parameters = model.algorithmParameters
            return
                "DBSCAN (eps \(parameters["eps"] ?? "?") from \(parameters["eps_source"] ?? "?"), min_samples \(parameters["min_samples"] ?? "?")): "
                + "dense groups, and customers in none as Outliers"
        }
        if model.algorithm == .gaussianMixture {
            let covariance =
                model.algorithmParameters["covariance_type"].map { " (\($0) covariance)" } ?? ""
            return "Gaussian mixture\(covariance): each customer in its most likely component"
        }
        guard model.algorithm == .ward else { return name(model.algorithm) }
        let sampled = model.algorithmParameters["sampled_rows"] ?? "none"
        return sampled == "none"
            ? "Ward (hierarchical, every customer in the tree)"
            : "Ward (hierarchical) on a sample of \(sampled) customers; the rest joined their nearest segment centre"
    }

    /// The comparison table's rows (algorithm, k, silhouette, Davies-Bouldin, Calinski-Harabasz,
    /// the mixture's BIC when one was compared, seconds, note), empty outside compare mode.
    public static func comparisonRows(_ model: Segmentation_V1_ModelDetail) -> [[String]] {
        let withBIC = model.algorithmComparison.candidates.contains(where: \.hasBic)
        return model.algorithmComparison.candidates.map { candidate in
            let measured = candidate.chosenK > 0
            return [
                name(candidate.algorithm), measured ? String(candidate.chosenK) : "",
                measured ? String(format: "%.4f", candidate.silhouette) : "",
                measured ? String(format: "%.4f", candidate.daviesBouldin) : "",
                measured ? String(format: "%.1f", candidate.calinskiHarabasz) : "",
            ]
                + (withBIC ? [candidate.hasBic ? String(format: "%.1f", candidate.bic) : ""] : [])
                + [
                    String(format: "%.2f", candidate.seconds),
                    candidate.chosen ? "chosen" : candidate.note,
                ]
        }
    }

    /// The header of `comparisonRows`.
    public static func comparisonHeader(_ model: Segmentation_V1_ModelDetail) -> [String] {
        ["algorithm", "k", "silhouette", "davies_bouldin", "calinski_harabasz"]
            + (model.algorithmComparison.candidates.contains(where: \.hasBic) ? ["bic"] : []) + [
                "seconds", "note",
            ]
    }
}
