import Foundation

/// DBSCAN as a model: the core customers (scaled) and their segments. A customer belongs to the
/// segment of its nearest core customer when that one is within eps, else to the Outliers segment.
public struct DensityModel: Codable, Sendable, Equatable {
    public let eps: Double
    public let minSamples: Int
    public let corePoints: Matrix
    public var coreLabels: [Int32]
    /// The segment of customers in no dense group; nil when training had none (a customer beyond
    /// eps of every core customer then joins the nearest core's segment, flagged as an outlier).
    public var outlierSegment: Int?
    /// Training only (not stored; the parameters record it): small dense groups joined to the Outliers.
    public var smallGroupsJoined: Int?
    /// The cores by cell, built with the model (never stored): nil for few cores or many dimensions.
    private var grid: CoreGrid?

    public init(
        eps: Double, minSamples: Int, corePoints: Matrix, coreLabels: [Int32], outlierSegment: Int?
    ) {
        self.eps = eps
        self.minSamples = minSamples
        self.corePoints = corePoints
        self.coreLabels = coreLabels
        self.outlierSegment = outlierSegment
        grid = CoreGrid(corePoints, eps: eps)
    }

    private enum CodingKeys: String, CodingKey {
        case eps, minSamples, corePoints, coreLabels, outlierSegment
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            eps: try container.decode(Double.self, forKey: .eps),
            minSamples: try container.decode(Int.self, forKey: .minSamples),
            corePoints: try container.decode(Matrix.self, forKey: .corePoints),
            coreLabels: try container.decode([Int32].self, forKey: .coreLabels),
            outlierSegment: try container.decodeIfPresent(Int.self, forKey: .outlierSegment))
    }

    public static func == (a: DensityModel, b: DensityModel) -> Bool {
        a.eps == b.eps && a.minSamples == b.minSamples && a.corePoints == b.corePoints
            && a.coreLabels == b.coreLabels
            && a.outlierSegment == b.outlierSegment
    }

    /// The segment of a scaled row, and whether it lies within eps of a core customer.
    func segment(
        of row: UnsafePointer<Double>, cores: UnsafePointer<Double>
    ) -> (segment: Int, dense: Bool) {
        if let segment = denseSegment(of: row, cores: cores) { return (segment, true) }
        return (outlierSegment ?? Int(coreLabels[nearestCore(row, cores).core]), false)
    }

    /// The segment of the nearest core customer within eps (ties to the lower core), or nil.
    func denseSegment(of row: UnsafePointer<Double>, cores: UnsafePointer<Double>) -> Int? {
        if let grid {
            return grid.nearestWithin(row, cores: cores).map { Int(coreLabels[$0.core]) }
        }
        let nearest = nearestCore(row, cores)
        return nearest.squaredDistance <= eps * eps ? Int(coreLabels[nearest.core]) : nil
    }

    private func nearestCore(
        _ row: UnsafePointer<Double>, _ cores: UnsafePointer<Double>
    ) -> (core: Int, squaredDistance: Double) {
        let d = corePoints.columns
        var nearest = (core: 0, squaredDistance: Double.infinity)
        for core in 0..<corePoints.rows {
            let distance = squaredDistance(row, cores + core * d, d)
            if distance < nearest.squaredDistance { nearest = (core, distance) }
        }
        return nearest
    }

    /// Whether scoring looks cores up by cell (false: compares with every core).
    var isIndexed: Bool { grid != nil }

    /// The same model without its grid (tests compare the two).
    func unindexed() -> DensityModel {
        var copy = self
        copy.grid = nil
        return copy
    }

    /// The same model with segments renumbered (`newID[old]`).
    func renumbered(_ newID: [Int32]) -> DensityModel {
        var copy = self
        copy.coreLabels = coreLabels.map { newID[Int($0)] }
        copy.outlierSegment = outlierSegment.map { Int(newID[$0]) }
        return copy
    }
}

/// DBSCAN as a model's algorithm: it finds its own number of segments, so it runs once instead of
/// a k sweep. eps defaults to the k-distance knee and min_samples to twice the dimensions.
/// Border customers join the cluster of their nearest core customer (scikit-learn gives a border
/// customer to whichever cluster reaches it first), so scoring a training customer returns its
/// segment; customers in no dense group form one more segment, Outliers. A dense group of fewer
/// than 1% of the customers (`minimumGroupShare`) is no audience: its customers join the Outliers
/// (counted in the parameters as `small_groups_joined`), so a model never has a dozen tiny
/// segments named "... 2" to "... 7".
public struct DBSCANClustering: ClusteringAlgorithm {
    public static let minimumGroupShare = 0.01
    public var eps: Double?
    public var minSamples: Int?
    public var seed: UInt64

    public init(eps: Double? = nil, minSamples: Int? = nil, seed: UInt64 = 0) {
        self.eps = eps
        self.minSamples = minSamples
        self.seed = seed
    }

    public var method: ClusteringMethod { .dbscan }

    public var parameters: [String: String] {
        [
            "eps": eps.map { String($0) } ?? "k-distance knee",
            "min_samples": minSamples.map(String.init) ?? "2 x dimensions",
        ]
    }

    /// Groups under `minimum` customers become noise (their cores no longer cores), the rest
    /// renumbered in order; the largest group stays whatever its size.
    static func dropSmallGroups(_ result: inout DBSCAN.Result, rows: Int, minimum: Int) {
        guard result.clusterCount > 0 else { return }
        var sizes = [Int](repeating: 0, count: result.clusterCount)
        for label in result.labels where label >= 0 { sizes[Int(label)] += 1 }
        let largest = sizes.indices.max { sizes[$0] < sizes[$1] }!
        var newID = [Int32](repeating: -1, count: result.clusterCount)
        var next: Int32 = 0
        for c in sizes.indices where sizes[c] >= minimum || c == largest {
            newID[c] = next; next += 1
        }
        guard Int(next) < result.clusterCount else { return }
        for row in 0..<rows where result.labels[row] >= 0 {
            let id = newID[Int(result.labels[row])]
            result.labels[row] = id < 0 ? DBSCAN.Result.noise : id
            if id < 0 { result.isCore[row] = false }
        }
        result.smallGroupsJoined = result.clusterCount - Int(next)
        result.clusterCount = Int(next)
    }

    /// The parameters a fit actually used.
    public func parameters(of model: DensityModel, noise: Int) -> [String: String] {
        [
            "eps": String(format: "%.6g", model.eps),
            "eps_source": eps == nil ? "k-distance knee" : "given",
            "min_samples": String(model.minSamples),
            "core_customers": String(model.corePoints.rows), "outliers": String(noise),
            "small_groups_joined": String(model.smallGroupsJoined ?? 0),
        ]
    }

    /// k is DBSCAN's own: the `k` asked for is ignored.
    public func fit(
        _ x: Matrix, k: Int, cancellation: CancellationCheck = .never
    ) throws -> Clustering {
        let samples = minSamples ?? max(2, 2 * x.columns)
        guard samples >= 2, samples <= x.rows else {
            throw ClusteringError.invalidParameter(
                "min_samples must be between 2 and the number of customers (\(x.rows))")
        }
        let radius =
            try eps
            ?? DBSCAN.kneeEps(x, minSamples: samples, seed: seed, cancellation: cancellation)
        var result = try DBSCAN(eps: radius, minSamples: samples).fit(x, cancellation: cancellation)
        Self.dropSmallGroups(
            &result, rows: x.rows,
            minimum: max(samples, Int((Double(x.rows) * Self.minimumGroupShare).rounded(.up))))
        let noiseName = String(format: "eps %.4g, min_samples %d", radius, samples)
        guard result.clusterCount >= 1 else {
            throw ClusteringError.invalidParameter(
                "DBSCAN found no dense group (\(noiseName)): raise eps or lower min_samples")
        }
        let cores = (0..<x.rows).filter { result.isCore[$0] }
        let corePoints = x.selecting(rows: cores)
        var model = DensityModel(
            eps: radius, minSamples: samples, corePoints: corePoints,
            coreLabels: cores.map { result.labels[$0] }, outlierSegment: nil)
        model.smallGroupsJoined = result.smallGroupsJoined
        // Every customer as scoring will place it: core customers in their own cluster, the rest
        // with their nearest core customer within eps, or among the outliers.
        var labels = [Int32](repeating: 0, count: x.rows)
        var noise = 0
        x.values.withUnsafeBufferPointer { values in
            corePoints.values.withUnsafeBufferPointer { corePointer in
                for row in 0..<x.rows {
                    if row & 4095 == 0, cancellation.isCancelled { return }
                    if result.isCore[row] { labels[row] = result.labels[row]; continue }
                    let segment = model.denseSegment(
                        of: values.baseAddress! + row * x.columns, cores: corePointer.baseAddress!)
                    labels[row] = segment.map(Int32.init) ?? -1
                    if segment == nil { noise += 1 }
                }
            }
        }
        try cancellation.throwIfCancelled()
        if noise > 0 {
            model.outlierSegment = result.clusterCount
            for row in 0..<x.rows where labels[row] == -1 {
                labels[row] = Int32(result.clusterCount)
            }
        }
        let k = result.clusterCount + (noise > 0 ? 1 : 0)
        guard k >= 2 else {
            throw ClusteringError.invalidParameter(
                "DBSCAN found one dense group and no outliers (\(noiseName)): nothing to segment; lower eps"
            )
        }
        let centroids = ClusterMetrics.means(x, labels, k).centers
        let inertia = try ClusterMetrics.inertia(x, labels: labels)
        var clustering = Clustering(
            centroids: centroids, labels: labels, inertia: inertia, iterations: 1)
        clustering.density = model
        return clustering
    }
}
