import Foundation

/// A Gaussian mixture as a model's algorithm: EM from k-means labels (scikit-learn's defaults:
/// reg_covar 1e-6, raised on discrete features by `DiscreteFeatures.regularization`, tol 1e-3,
/// at most 100 iterations). Each customer's segment is its most likely
/// component, which is what scoring gives; the mixture is kept so scoring can return every
/// segment's membership probability. A component that is no customer's most likely one leaves
/// an empty segment at that k, which the k rules rule out (smallest segment 0%).
public struct GaussianMixtureClustering: ClusteringAlgorithm {
    public var covariance: GaussianMixture.Covariance
    public var seed: UInt64

    public init(covariance: GaussianMixture.Covariance = .full, seed: UInt64 = 0) {
        self.covariance = covariance
        self.seed = seed
    }

    public var method: ClusteringMethod { .gmm }

    /// The parameters a fit on `x` uses (reg_covar follows the data's discrete features).
    public func parameters(for x: Matrix) -> [String: String] {
        var all = parameters
        all["reg_covar"] = String(format: "%.6g", DiscreteFeatures.regularization(x))
        return all
    }

    public var parameters: [String: String] {
        let defaults = GaussianMixture(components: 2, covariance: covariance)
        return [
            "covariance_type": covariance.rawValue, "reg_covar": String(defaults.regularization),
            "tol": String(defaults.tolerance),
            "max_iter": String(defaults.maxIterations), "init": "kmeans", "seed": String(seed),
        ]
    }

    public func fit(
        _ x: Matrix, k: Int, cancellation: CancellationCheck = .never
    ) throws -> Clustering {
        guard k >= 2, k <= x.rows else { throw ClusteringError.invalidK(k: k, customers: x.rows) }
        // Discrete features (counts) would let a component sit on one value: regularise to their spacing.
        let fitted = try GaussianMixture(
            components: k, covariance: covariance,
            regularization: DiscreteFeatures.regularization(x), seed: seed
        )
        .fit(x, cancellation: cancellation)
        let labels = fitted.mostLikely(x)
        var inertia = 0.0
        for (row, label) in labels.enumerated() {
            for j in 0..<x.columns {
                inertia +=
                    (x[row, j] - fitted.means[Int(label), j])
                    * (x[row, j] - fitted.means[Int(label), j])
            }
        }
        return Clustering(
            centroids: fitted.means, labels: labels, inertia: inertia,
            iterations: fitted.iterations, mixture: fitted)
    }
}

extension GaussianMixture.Fitted {
    /// Each row's most likely component.
    public func mostLikely(_ x: Matrix) -> [Int32] {
        let densities = weightedLogDensities(x)
        return (0..<x.rows).map { row in
            var best = 0
            for j in 1..<components where densities[row, j] > densities[row, best] { best = j }
            return Int32(best)
        }
    }

    /// The same mixture with its components in `order` (component i becomes order[i]'s).
    public func reordered(_ order: [Int]) -> Self {
        var copy = self
        copy.weights = order.map { weights[$0] }
        copy.means = means.selecting(rows: order)
        copy.covariances = order.map { covariances[$0] }
        copy.precisionFactors = order.map { precisionFactors[$0] }
        return copy
    }
}
