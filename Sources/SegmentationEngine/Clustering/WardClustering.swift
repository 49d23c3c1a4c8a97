import Foundation

/// Ward's hierarchical clustering as a model's algorithm: the tree is built once and cut at every
/// k of a sweep. Then one k-means step: every customer joins the nearest of the tree clusters'
/// means, each segment's centre becomes the mean of its members (a segment left empty takes the
/// customer farthest from its centre), and the labels are the nearest centres, as scoring will
/// give. Past `maximumRows` customers (Ward takes O(n^2) time) the tree is built on a seeded
/// sample of that many; the model's parameters say so (`sampled_rows`).
public struct WardClustering: ClusteringAlgorithm {
    public var maximumRows: Int
    public var seed: UInt64

    public init(maximumRows: Int = 20_000, seed: UInt64 = 0) {
        self.maximumRows = maximumRows
        self.seed = seed
    }

    public var method: ClusteringMethod { .ward }

    public var parameters: [String: String] {
        ["max_rows": String(maximumRows), "seed": String(seed)]
    }

    /// The parameters a fit on `rows` customers records: whether the tree saw all of them.
    public func parameters(rows: Int) -> [String: String] {
        parameters.merging([
            "sampled_rows": rows > maximumRows ? "\(maximumRows) of \(rows)" : "none"
        ]) { $1 }
    }

    public func fit(
        _ x: Matrix, k: Int, cancellation: CancellationCheck = .never
    ) throws -> Clustering {
        try fit(x, ks: [k], cancellation: cancellation) { _ in }[k]!
    }

    public func fit(
        _ x: Matrix, ks: [Int], cancellation: CancellationCheck = .never,
        progress: (_ k: Int) -> Void = { _ in }
    ) throws -> [Int: Clustering] {
        guard maximumRows >= 2 else {
            throw ClusteringError.invalidParameter("Ward's max_rows must be at least 2")
        }
        for k in ks where k < 2 || k > min(x.rows, maximumRows) {
            throw ClusteringError.invalidK(k: k, customers: min(x.rows, maximumRows))
        }
        try x.requireFinite()
        let sample =
            x.rows > maximumRows
            ? SeededGenerator.distinctRows(x.rows, maximumRows, seed: seed) : nil
        let treeData = sample.map { x.selecting(rows: $0) } ?? x
        let merges = try Ward().tree(treeData, cancellation: cancellation)
        // The tree's top, from a dozen clusters (more when the sweep goes higher) up to one.
        let top = Dendrogram.top(merges, rows: treeData.rows, leaves: max(12, (ks.max() ?? 0) + 2))
        var clusterings: [Int: Clustering] = [:]
        for k in Set(ks).sorted() {
            try cancellation.throwIfCancelled()
            let treeLabels = Ward.labels(merges, rows: treeData.rows, k: k)
            let means = ClusterMetrics.means(treeData, treeLabels, k).centers
            var clustering = Lloyd(x: x, parallel: true).run(
                centers: means, maxIterations: 1, tolerance: 0)
            clustering.dendrogram = top
            clusterings[k] = clustering
            progress(k)
        }
        return clusterings
    }
}
