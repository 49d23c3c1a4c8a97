import Foundation

/// A Gaussian mixture fitted by expectation-maximisation, as scikit-learn's `GaussianMixture`:
/// full, diagonal or spherical covariances, `regularization` added to every variance, the same
/// stopping rule (the mean log-likelihood per sample changes by less than `tolerance`), and
/// k-means initialisation (one k-means run's labels as the first responsibilities) unless a start
/// is given. Each customer belongs to every segment with a probability (`membership`).
public struct GaussianMixture: Sendable {
    public enum Covariance: String, Sendable, CaseIterable, Codable {
        case full
        case diagonal = "diag"
        case spherical
    }

    public var components: Int
    public var covariance: Covariance
    public var tolerance: Double
    public var regularization: Double
    public var maxIterations: Int
    public var seed: UInt64

    public init(
        components: Int, covariance: Covariance = .full, tolerance: Double = 1e-3,
        regularization: Double = 1e-6,
        maxIterations: Int = 100, seed: UInt64 = 0
    ) {
        self.components = components
        self.covariance = covariance
        self.tolerance = tolerance
        self.regularization = regularization
        self.maxIterations = maxIterations
        self.seed = seed
    }

    /// A fitted mixture. Each component's precision is kept as a d x d factor M (row-major) with
    /// M Mᵀ = Σ⁻¹, so its log density needs one product per customer.
    public struct Fitted: Sendable, Equatable, Codable {
        public var covariance: Covariance
        public var weights: [Double]
        public var means: Matrix
        /// d x d per component (row-major); diagonal and spherical ones hold zeros off the diagonal.
        public var covariances: [[Double]]
        var precisionFactors: [[Double]]
        public var iterations: Int
        public var converged: Bool

        public var components: Int { weights.count }
        public var dimensions: Int { means.columns }

        /// Free parameters: means, covariances and k - 1 weights (for BIC and AIC).
        public var parameterCount: Int {
            let (k, d) = (components, dimensions)
            let covarianceParameters =
                switch covariance {
                case .full: k * d * (d + 1) / 2
                case .diagonal: k * d
                case .spherical: k
                }
            return covarianceParameters + k * d + k - 1
        }

        /// log(weight_j) + log N(x_i | mean_j, Σ_j) for every row i and component j (n x k).
        func weightedLogDensities(_ x: Matrix) -> Matrix {
            let (n, k, d) = (x.rows, components, dimensions)
            var out = Matrix(rows: n, columns: k)
            let constant = Double(d) * log(2 * Double.pi)
            var centred = [Double](repeating: 0, count: d)
            for j in 0..<k {
                let factor = precisionFactors[j]
                var logDeterminant = 0.0
                for a in 0..<d { logDeterminant += log(factor[a * d + a]) }
                let base = log(weights[j]) + logDeterminant - 0.5 * constant
                for i in 0..<n {
                    for a in 0..<d { centred[a] = x[i, a] - means[j, a] }
                    var squares = 0.0
                    for b in 0..<d {
                        var y = 0.0
                        for a in 0..<d { y += centred[a] * factor[a * d + b] }
                        squares += y * y
                    }
                    out[i, j] = base - 0.5 * squares
                }
            }
            return out
        }

        /// The mean log-likelihood per row (scikit-learn's `score`).
        public func meanLogLikelihood(_ x: Matrix) -> Double {
            let densities = weightedLogDensities(x)
            return (0..<x.rows).reduce(0) { $0 + logSumExp(densities.row($1)) } / Double(x.rows)
        }

        /// Each row's probability of belonging to each component (n x k, rows sum to 1).
        public func membership(_ x: Matrix) -> Matrix {
            var densities = weightedLogDensities(x)
            for i in 0..<x.rows {
                let total = logSumExp(densities.row(i))
                for j in 0..<components { densities[i, j] = exp(densities[i, j] - total) }
            }
            return densities
        }

        /// The mean log-likelihood per row and both information criteria, from one pass over the data.
        public func criteria(_ x: Matrix) -> (meanLogLikelihood: Double, bic: Double, aic: Double) {
            let mean = meanLogLikelihood(x)
            let total = -2 * mean * Double(x.rows)
            return (
                mean, total + Double(parameterCount) * log(Double(x.rows)),
                total + 2 * Double(parameterCount)
            )
        }

        /// Bayesian information criterion: lower is better.
        public func bic(_ x: Matrix) -> Double {
            -2 * meanLogLikelihood(x) * Double(x.rows) + Double(parameterCount)
                * log(Double(x.rows))
        }

        /// Akaike information criterion: lower is better.
        public func aic(_ x: Matrix) -> Double {
            -2 * meanLogLikelihood(x) * Double(x.rows) + 2 * Double(parameterCount)
        }
    }

    /// Where EM starts: weights, means and each component's precision matrix (d x d, row-major).
    public struct Start: Sendable {
        public var weights: [Double]
        public var means: Matrix
        public var precisions: [[Double]]

        public init(weights: [Double], means: Matrix, precisions: [[Double]]) {
            self.weights = weights
            self.means = means
            self.precisions = precisions
        }
    }

    /// Fits from k-means labels (one run, seeded), as scikit-learn's `init_params="kmeans"`.
    public func fit(_ x: Matrix, cancellation: CancellationCheck = .never) throws -> Fitted {
        try validate(x)
        // One component needs no k-means: every row belongs to it.
        let labels =
            components == 1
            ? [Int32](repeating: 0, count: x.rows)
            : try KMeans(nInit: 1, seed: seed).fit(x, k: components, cancellation: cancellation)
                .labels
        var responsibilities = Matrix(rows: x.rows, columns: components)
        for (i, label) in labels.enumerated() { responsibilities[i, Int(label)] = 1 }
        let first = try maximisation(x, responsibilities, iterations: 0)
        return try run(x, from: first, cancellation: cancellation)
    }

    /// Fits from a given start (scikit-learn's `weights_init`, `means_init`, `precisions_init`;
    /// full d x d precisions, whatever the covariance type: only the first E step uses them).
    public func fit(
        _ x: Matrix, start: Start, cancellation: CancellationCheck = .never
    ) throws -> Fitted {
        try validate(x)
        guard start.weights.count == components, start.means.rows == components,
            start.means.columns == x.columns,
            start.precisions.count == components,
            start.precisions.allSatisfy({ $0.count == x.columns * x.columns })
        else {
            throw ClusteringError.invalidParameter(
                "the start needs \(components) weights, means and \(x.columns)x\(x.columns) precisions"
            )
        }
        guard start.weights.allSatisfy({ $0 > 0 && $0.isFinite }),
            abs(start.weights.reduce(0, +) - 1) < 1e-6
        else {
            throw ClusteringError.invalidParameter(
                "the starting weights must be positive and sum to 1")
        }
        var factors: [[Double]] = []
        for precision in start.precisions {
            guard let lower = cholesky(precision, x.columns) else {
                throw ClusteringError.invalidParameter(
                    "a starting precision matrix is not positive definite")
            }
            factors.append(lower)
        }
        let fitted = Fitted(
            covariance: covariance, weights: start.weights, means: start.means,
            covariances: start.precisions.map { _ in [] }, precisionFactors: factors, iterations: 0,
            converged: false)
        return try run(x, from: fitted, cancellation: cancellation)
    }

    private func validate(_ x: Matrix) throws {
        guard components >= 1, components <= x.rows else {
            throw ClusteringError.invalidK(k: components, customers: x.rows)
        }
        guard regularization >= 0, tolerance >= 0, maxIterations >= 1 else {
            throw ClusteringError.invalidParameter(
                "reg_covar and tol must be at least 0 and max_iter at least 1")
        }
        try x.requireFinite()
    }

    /// EM until the mean log-likelihood changes by less than the tolerance, or max_iter.
    private func run(
        _ x: Matrix, from start: Fitted, cancellation: CancellationCheck
    ) throws -> Fitted {
        var current = start
        var lowerBound = -Double.infinity
        for iteration in 1...maxIterations {
            try cancellation.throwIfCancelled()
            let previous = lowerBound
            var responsibilities = current.weightedLogDensities(x)
            var total = 0.0
            for i in 0..<x.rows {
                let norm = logSumExp(responsibilities.row(i))
                total += norm
                for j in 0..<components {
                    responsibilities[i, j] = exp(responsibilities[i, j] - norm)
                }
            }
            current = try maximisation(x, responsibilities, iterations: iteration)
            lowerBound = total / Double(x.rows)
            if abs(lowerBound - previous) < tolerance {
                current.converged = true
                break
            }
        }
        return current
    }

    /// The M step: weights, means and covariances from responsibilities (n x k), as scikit-learn's
    /// `_estimate_gaussian_parameters` (each component's mass gets 10 machine epsilons, so none is zero).
    private func maximisation(
        _ x: Matrix, _ responsibilities: Matrix, iterations: Int
    ) throws -> Fitted {
        let (n, k, d) = (x.rows, components, x.columns)
        var mass = [Double](repeating: 10 * Double.ulpOfOne, count: k)
        var means = Matrix(rows: k, columns: d)
        for i in 0..<n {
            for j in 0..<k {
                let r = responsibilities[i, j]
                mass[j] += r
                for a in 0..<d { means[j, a] += r * x[i, a] }
            }
        }
        for j in 0..<k { for a in 0..<d { means[j, a] /= mass[j] } }
        var covariances: [[Double]] = []
        var factors: [[Double]] = []
        for j in 0..<k {
            var sigma = [Double](repeating: 0, count: d * d)
            for i in 0..<n {
                let r = responsibilities[i, j]
                for a in 0..<d {
                    let da = x[i, a] - means[j, a]
                    for b in 0..<d where covariance == .full || a == b {
                        sigma[a * d + b] += r * da * (x[i, b] - means[j, b])
                    }
                }
            }
            for index in sigma.indices { sigma[index] /= mass[j] }
            if covariance == .spherical {
                let average = (0..<d).reduce(0) { $0 + sigma[$1 * d + $1] } / Double(d)
                for a in 0..<d { sigma[a * d + a] = average }
            }
            for a in 0..<d { sigma[a * d + a] += regularization }
            guard let factor = precisionFactor(ofCovariance: sigma, d) else {
                throw ClusteringError.invalidParameter(
                    "component \(j + 1)'s covariance is not positive definite (too few distinct customers in it); raise reg_covar or lower k"
                )
            }
            covariances.append(sigma)
            factors.append(factor)
        }
        let totalMass = mass.reduce(0, +)
        return Fitted(
            covariance: covariance, weights: mass.map { $0 / totalMass }, means: means,
            covariances: covariances,
            precisionFactors: factors, iterations: iterations, converged: false)
    }
}

/// log(sum(exp(values))) without overflow.
func logSumExp(_ values: ArraySlice<Double>) -> Double {
    guard let largest = values.max(), largest.isFinite else { return values.max() ?? -.infinity }
    return largest + log(values.reduce(0) { $0 + exp($1 - largest) })
}

/// The lower Cholesky factor L (row-major d x d) of a symmetric positive definite matrix, or nil.
func cholesky(_ matrix: [Double], _ d: Int) -> [Double]? {
    var lower = [Double](repeating: 0, count: d * d)
    for i in 0..<d {
        for j in 0...i {
            var sum = matrix[i * d + j]
            for p in 0..<j { sum -= lower[i * d + p] * lower[j * d + p] }
            if i == j {
                guard sum > 0 else { return nil }
                lower[i * d + i] = sum.squareRoot()
            } else {
                lower[i * d + j] = sum / lower[j * d + j]
            }
        }
    }
    return lower
}

/// M with M Mᵀ = Σ⁻¹ for a covariance Σ: (L⁻¹)ᵀ where Σ = L Lᵀ (scikit-learn's precisions_cholesky_).
func precisionFactor(ofCovariance sigma: [Double], _ d: Int) -> [Double]? {
    guard let lower = cholesky(sigma, d) else { return nil }
    // Invert L by forward substitution, column by column, then transpose.
    var inverse = [Double](repeating: 0, count: d * d)
    for column in 0..<d {
        for i in column..<d {
            var sum = i == column ? 1.0 : 0.0
            for p in column..<i { sum -= lower[i * d + p] * inverse[p * d + column] }
            inverse[i * d + column] = sum / lower[i * d + i]
        }
    }
    var factor = [Double](repeating: 0, count: d * d)
    for i in 0..<d { for j in 0..<d { factor[i * d + j] = inverse[j * d + i] } }
    return factor
}
