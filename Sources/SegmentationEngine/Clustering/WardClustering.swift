import Foundation

/// Ward's hierarchical clustering as a model's algorithm: the tree is built once and cut at every
/// k of a sweep; each segment is then its members' mean, and every customer is assigned to the
/// nearest mean, as scoring will do, so training and scoring agree. Past `maximumRows` customers
/// (Ward takes O(n^2) time) the tree is built on a seeded sample of that many and the rest join
/// their nearest mean; the model's parameters say so (`sampled_rows`).
public struct WardClustering: ClusteringAlgorithm {
    public var maximumRows: Int
    public var seed: UInt64

    public init(maximumRows: Int = 20_000, seed: UInt64 = 0) {
        self.maximumRows = maximumRows
        self.seed = seed
    }

    public var name: String { "ward" }

    public var parameters: [String: String] { ["max_rows": String(maximumRows), "seed": String(seed)] }

    /// The parameters a fit on `rows` customers records: whether the tree saw all of them.
    public func parameters(rows: Int) -> [String: String] {
        parameters.merging(["sampled_rows": rows > maximumRows ? "\(maximumRows) of \(rows)" : "none"]) { $1 }
    }

    public func fit(_ x: Matrix, k: Int, cancellation: CancellationCheck = .never) throws -> Clustering {
        try fit(x, ks: [k], cancellation: cancellation) { _ in }[k]!
    }

    public func fit(_ x: Matrix, ks: [Int], cancellation: CancellationCheck = .never,
                    progress: (_ k: Int) -> Void = { _ in }) throws -> [Int: Clustering] {
        guard maximumRows >= 2 else { throw ClusteringError.invalidParameter("Ward's max_rows must be at least 2") }
        for k in ks where k < 2 || k > min(x.rows, maximumRows) {
            throw ClusteringError.invalidK(k: k, customers: min(x.rows, maximumRows))
        }
        let sample = x.rows > maximumRows ? Self.sampleRows(x.rows, maximumRows, seed: seed) : nil
        let treeData = sample.map { x.selecting(rows: $0) } ?? x
        let merges = try Ward().tree(treeData, cancellation: cancellation)
        var clusterings: [Int: Clustering] = [:]
        for k in Set(ks).sorted() {
            try cancellation.throwIfCancelled()
            let treeLabels = Ward.labels(merges, rows: treeData.rows, k: k)
            let means = Self.means(treeData, labels: treeLabels, k: k)
            let (labels, inertia) = Self.nearest(x, means)
            clusterings[k] = Clustering(centroids: means, labels: labels, inertia: inertia, iterations: 0)
            progress(k)
        }
        return clusterings
    }

    /// `count` distinct rows of `rows`, seeded, in increasing order (Floyd's algorithm: O(count) memory).
    static func sampleRows(_ rows: Int, _ count: Int, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: seed)
        var chosen = Set<Int>()
        for j in (rows - count)..<rows {
            let t = Int(generator.next() % UInt64(j + 1))
            chosen.insert(chosen.contains(t) ? j : t)
        }
        return chosen.sorted()
    }

    static func means(_ x: Matrix, labels: [Int32], k: Int) -> Matrix {
        var sums = Matrix(rows: k, columns: x.columns)
        var counts = [Double](repeating: 0, count: k)
        for (row, label) in labels.enumerated() {
            counts[Int(label)] += 1
            for j in 0..<x.columns { sums[Int(label), j] += x[row, j] }
        }
        for c in 0..<k { for j in 0..<x.columns { sums[c, j] /= max(counts[c], 1) } }
        return sums
    }

    /// Each row's nearest mean, and the total squared distance.
    static func nearest(_ x: Matrix, _ means: Matrix) -> ([Int32], Double) {
        var labels = [Int32](repeating: 0, count: x.rows)
        var inertia = 0.0
        x.values.withUnsafeBufferPointer { values in
            means.values.withUnsafeBufferPointer { centres in
                for row in 0..<x.rows {
                    var (best, bestDistance) = (0, Double.infinity)
                    for c in 0..<means.rows {
                        let distance = squaredDistance(values.baseAddress! + row * x.columns, centres.baseAddress! + c * x.columns, x.columns)
                        if distance < bestDistance { (best, bestDistance) = (c, distance) }
                    }
                    labels[row] = Int32(best)
                    inertia += bestDistance
                }
            }
        }
        return (labels, inertia)
    }
}
