import Foundation

/// How the number of segments is chosen.
public enum KSelectionMethod: String, Codable, Sendable, CaseIterable {
    /// The default for a range: the k with the highest silhouette among 3...8 segments whose
    /// every segment holds at least 2% of the customers (see `KChooser`).
    case actionable
    /// The k with the highest silhouette.
    case silhouette
    /// The elbow of the inertia curve (Kneedle); silhouette when no elbow exists.
    case elbow
    /// Exactly the one k asked for.
    case fixed
    /// Gaussian mixtures only: the k with the lowest Bayesian information criterion (Schwarz), which
    /// charges each component's parameters against the likelihood it adds.
    case bic
    /// Gaussian mixtures only: the k with the lowest Akaike information criterion (a lighter charge
    /// per parameter than BIC's, so it tends to a larger k).
    case aic

    /// Rules that read the mixture's likelihood and so need a Gaussian mixture.
    public var needsLikelihood: Bool { self == .bic || self == .aic }
}

/// Every metric for one candidate k.
public struct KCandidate: Codable, Sendable, Equatable {
    public var k: Int
    public var inertia: Double
    public var silhouette: Double
    public var daviesBouldin: Double
    public var calinskiHarabasz: Double
    public var iterations: Int
    /// The smallest segment's share of the customers (nil in models from before it was kept).
    public var smallestShare: Double?
    /// Gaussian mixtures: the Bayesian information criterion at this k; nil for other algorithms.
    public var bic: Double?
    /// Gaussian mixtures: the Akaike information criterion and the mean log-likelihood per customer.
    public var aic: Double?
    public var meanLogLikelihood: Double?
    /// Why this k is degenerate and passed over (a mixture segment that is one value of a
    /// discrete feature); nil when it is not.
    public var degenerate: String?
}

/// The table of candidates and the decision taken from it; kept in the model.
public struct KSelection: Codable, Sendable, Equatable {
    public var method: KSelectionMethod
    public var candidates: [KCandidate]
    /// The elbow of the inertia curve, when there is one.
    public var elbowK: Int?
    public var chosenK: Int
    /// Rows used for silhouettes when they were computed on a sample (nil: exact).
    public var silhouetteSampleSize: Int?
    /// Why `chosenK` was chosen, in words (nil in models from before it was kept).
    public var reason: String?
    /// The next best ks under the same rule, best first.
    public var runnerUps: [Int]?
    /// What a person should know about the choice: a k at the edge of the range, weak
    /// structure, a tiny segment.
    public var warnings: [String]?

    public var chosen: KCandidate { candidates.first { $0.k == chosenK }! }
}

/// The Kneedle method (Satopää et al. 2011) for a decreasing, convex curve such as inertia
/// against k: normalise both axes to [0, 1], and take the point farthest below the straight line
/// joining the ends. No point below the line means no elbow.
public enum Kneedle {
    public static func elbow(ks: [Int], values: [Double]) -> Int? {
        guard ks.count >= 3, ks.count == values.count else { return nil }
        let kLow = Double(ks.first!), kHigh = Double(ks.last!)
        guard let vLow = values.min(), let vHigh = values.max(), vHigh > vLow, kHigh > kLow else {
            return nil
        }
        var best: Int?
        var bestGap = 0.0
        for (k, value) in zip(ks, values) {
            let x = (Double(k) - kLow) / (kHigh - kLow)
            let y = (value - vLow) / (vHigh - vLow)
            let gap = (1 - x) - y  // the chord from (0, 1) to (1, 0), minus the curve
            if gap > bestGap + 1e-12 { bestGap = gap; best = k }
        }
        return best
    }
}

/// Runs the clustering for every candidate k, measures each, and picks one.
public struct KSweep: Sendable {
    public var ks: [Int]
    public var method: KSelectionMethod
    /// Silhouettes are exact up to this many rows; above it they use a seeded sample this large.
    public var exactSilhouetteLimit: Int
    public var seed: UInt64
    /// The columns' names, for the reasons a k is passed over.
    public var featureNames: [String]?

    public init(
        ks: [Int], method: KSelectionMethod = .actionable, exactSilhouetteLimit: Int = 30_000,
        seed: UInt64 = 0
    ) {
        self.ks = ks
        self.method = method
        self.exactSilhouetteLimit = exactSilhouetteLimit
        self.seed = seed
    }

    public struct Outcome: Sendable {
        public var selection: KSelection
        public var clusterings: [Int: Clustering]
        public var chosen: Clustering { clusterings[selection.chosenK]! }
    }

    public func run(
        _ x: Matrix, algorithm: some ClusteringAlgorithm,
        cancellation: CancellationCheck = .never,
        progress: (_ done: Int, _ total: Int, _ k: Int) -> Void = { _, _, _ in }
    ) throws -> Outcome {
        let ks = Array(Set(ks)).sorted()
        guard !ks.isEmpty else { throw ClusteringError.invalidParameter("no k to try") }
        if method == .fixed && ks.count != 1 {
            throw ClusteringError.invalidParameter("a fixed k needs exactly one k, got \(ks.count)")
        }
        for k in ks where k < 2 || k > x.rows {
            throw ClusteringError.invalidK(k: k, customers: x.rows)
        }
        var done = 0
        let clusterings = try algorithm.fit(x, ks: ks, cancellation: cancellation) { k in
            done += 1
            progress(done, ks.count, k)
        }
        return try measure(x, clusterings, ks: ks, cancellation: cancellation)
    }

    /// Every clustering's metrics (silhouette sampled past `exactSilhouetteLimit`) and the rule's choice.
    func measure(
        _ x: Matrix, _ clusterings: [Int: Clustering], ks: [Int], cancellation: CancellationCheck
    ) throws -> Outcome {
        let sampled = x.rows > exactSilhouetteLimit
        let rows =
            sampled
            ? ClusterMetrics.sampleIndices(count: x.rows, size: exactSilhouetteLimit, seed: seed)
            : Array(0..<x.rows)
        let silhouetteData = sampled ? x.selecting(rows: rows) : x
        let measurable = ks.filter { $0 <= silhouetteData.rows - 1 }
        let silhouettes = try SilhouetteSweep.samples(
            silhouetteData,
            labelings: measurable.map { k in
                sampled ? rows.map { clusterings[k]!.labels[$0] } : clusterings[k]!.labels
            },
            cancellation: cancellation)
        var candidates: [KCandidate] = []
        for k in ks {
            let clustering = clusterings[k]!
            let criteria = clustering.mixture?.criteria(x)
            let silhouette =
                measurable.firstIndex(of: k).map { Statistics.mean(silhouettes[$0]) } ?? 0
            let measurableK = k <= x.rows - 1
            candidates.append(
                KCandidate(
                    k: k, inertia: clustering.inertia, silhouette: silhouette,
                    daviesBouldin: measurableK
                        ? try ClusterMetrics.daviesBouldin(x, labels: clustering.labels) : 0,
                    calinskiHarabasz: measurableK
                        ? try ClusterMetrics.calinskiHarabasz(x, labels: clustering.labels) : 0,
                    iterations: clustering.iterations,
                    smallestShare: Self.smallestShare(clustering), bic: criteria?.bic,
                    aic: criteria?.aic,
                    meanLogLikelihood: criteria?.meanLogLikelihood,
                    degenerate: clustering.mixture == nil
                        ? nil
                        : DiscreteFeatures.collapse(
                            x, labels: clustering.labels, k: k, names: featureNames)))
        }
        var selection = KChooser(method: method).choose(candidates)
        selection.silhouetteSampleSize = sampled ? rows.count : nil
        return Outcome(selection: selection, clusterings: clusterings)
    }

    static func smallestShare(_ clustering: Clustering) -> Double {
        var sizes = [Int](repeating: 0, count: clustering.k)
        for label in clustering.labels { sizes[Int(label)] += 1 }
        return Double(sizes.min() ?? 0) / Double(max(clustering.labels.count, 1))
    }
}
