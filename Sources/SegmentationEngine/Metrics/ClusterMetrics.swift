import Foundation

public enum MetricsError: Error, Equatable, CustomStringConvertible {
    case needsTwoClusters(found: Int, samples: Int)
    case lengthMismatch(rows: Int, labels: Int)

    public var description: String {
        switch self {
        case .needsTwoClusters(let found, let samples):
            "the metric needs 2 to n-1 clusters; found \(found) clusters for \(samples) samples"
        case .lengthMismatch(let rows, let labels): "\(rows) rows but \(labels) labels"
        }
    }
}

/// Internal validity metrics as pure functions of (data, labels), matching scikit-learn's
/// definitions (Euclidean distances). Labels may be any integers; they are renumbered first.
public enum ClusterMetrics {
    /// Sum of squared distances of points to their cluster mean.
    public static func inertia(_ x: Matrix, labels: [Int32]) throws -> Double {
        let (codes, k) = try compact(labels, rows: x.rows)
        let centers = means(x, codes, k).centers
        var total = 0.0
        for i in 0..<x.rows {
            for j in 0..<x.columns {
                let delta = x[i, j] - centers[Int(codes[i]), j]
                total += delta * delta
            }
        }
        return total
    }

    /// Calinski-Harabasz: between-cluster over within-cluster dispersion, scaled by degrees of freedom.
    public static func calinskiHarabasz(_ x: Matrix, labels: [Int32]) throws -> Double {
        let (codes, k) = try compact(labels, rows: x.rows)
        try requireClusters(k, x.rows)
        let (centers, counts) = means(x, codes, k)
        let overall = (0..<x.columns).map { Statistics.mean(x.column($0)) }
        var between = 0.0, within = 0.0
        for c in 0..<k {
            var sq = 0.0
            for j in 0..<x.columns {
                sq += (centers[c, j] - overall[j]) * (centers[c, j] - overall[j])
            }
            between += Double(counts[c]) * sq
        }
        for i in 0..<x.rows {
            for j in 0..<x.columns {
                let delta = x[i, j] - centers[Int(codes[i]), j]
                within += delta * delta
            }
        }
        if within == 0 { return 1 }
        return between * Double(x.rows - k) / (within * Double(k - 1))
    }

    /// Davies-Bouldin: mean over clusters of the worst (S_i + S_j) / d(c_i, c_j). Lower is better.
    public static func daviesBouldin(_ x: Matrix, labels: [Int32]) throws -> Double {
        let (codes, k) = try compact(labels, rows: x.rows)
        try requireClusters(k, x.rows)
        let (centers, counts) = means(x, codes, k)
        var spread = [Double](repeating: 0, count: k)
        x.values.withUnsafeBufferPointer { xs in
            centers.values.withUnsafeBufferPointer { cs in
                for i in 0..<x.rows {
                    let c = Int(codes[i])
                    spread[c] += squaredDistance(
                        xs.baseAddress! + i * x.columns, cs.baseAddress! + c * x.columns, x.columns
                    ).squareRoot()
                }
            }
        }
        for c in 0..<k { spread[c] /= Double(counts[c]) }
        var separation = [Double](repeating: 0, count: k * k)
        centers.values.withUnsafeBufferPointer { cs in
            for a in 0..<k {
                for b in 0..<k {
                    separation[a * k + b] = squaredDistance(
                        cs.baseAddress! + a * x.columns, cs.baseAddress! + b * x.columns, x.columns
                    ).squareRoot()
                }
            }
        }
        // scikit-learn: 0 when all spreads or all centroid distances are (close to) zero.
        if spread.allSatisfy({ abs($0) <= 1e-8 }) || separation.allSatisfy({ abs($0) <= 1e-8 }) {
            return 0
        }
        var total = 0.0
        for a in 0..<k {
            var worst = -Double.infinity
            for b in 0..<k where b != a {
                let distance = separation[a * k + b] == 0 ? Double.infinity : separation[a * k + b]
                worst = max(worst, (spread[a] + spread[b]) / distance)
            }
            total += worst
        }
        return total / Double(k)
    }

    /// Exact silhouette of every sample: (b - a) / max(a, b), 0 for a sample alone in its cluster.
    public static func silhouetteSamples(_ x: Matrix, labels: [Int32]) throws -> [Double] {
        try SilhouetteSweep.samples(x, labelings: [labels])[0]
    }

    /// Mean silhouette over all samples (exact, O(n^2)).
    public static func silhouette(_ x: Matrix, labels: [Int32]) throws -> Double {
        Statistics.mean(try silhouetteSamples(x, labels: labels))
    }

    /// Silhouette on a seeded random sample of rows, as scikit-learn's `sample_size` does.
    public static func sampledSilhouette(
        _ x: Matrix, labels: [Int32], sampleSize: Int, seed: UInt64
    ) throws -> Double {
        guard sampleSize < x.rows else { return try silhouette(x, labels: labels) }
        let rows = sampleIndices(count: x.rows, size: sampleSize, seed: seed)
        return try silhouette(x.selecting(rows: rows), labels: rows.map { labels[$0] })
    }

    /// `size` distinct row indices chosen uniformly (partial Fisher-Yates), sorted.
    public static func sampleIndices(count: Int, size: Int, seed: UInt64) -> [Int] {
        var generator = SeededGenerator(seed: seed)
        var pool = Array(0..<count)
        for i in 0..<min(size, count) {
            let j = i + Int(generator.next() % UInt64(count - i))
            pool.swapAt(i, j)
        }
        return Array(pool.prefix(size)).sorted()
    }

    /// Labels renumbered to `0..<k` in order of first appearance, and k.
    static func compact(_ labels: [Int32], rows: Int) throws -> ([Int32], Int) {
        guard labels.count == rows else {
            throw MetricsError.lengthMismatch(rows: rows, labels: labels.count)
        }
        var map: [Int32: Int32] = [:]
        let codes = labels.map { label -> Int32 in
            if let code = map[label] { return code }
            let code = Int32(map.count)
            map[label] = code
            return code
        }
        return (codes, map.count)
    }

    static func requireClusters(_ k: Int, _ n: Int) throws {
        guard k >= 2, k <= n - 1 else { throw MetricsError.needsTwoClusters(found: k, samples: n) }
    }

    static func means(_ x: Matrix, _ codes: [Int32], _ k: Int) -> (centers: Matrix, counts: [Int]) {
        var centers = Matrix(rows: k, columns: x.columns)
        var counts = [Int](repeating: 0, count: k)
        for i in 0..<x.rows {
            let c = Int(codes[i])
            counts[c] += 1
            for j in 0..<x.columns { centers[c, j] += x[i, j] }
        }
        for c in 0..<k where counts[c] > 0 {
            for j in 0..<x.columns { centers[c, j] /= Double(counts[c]) }
        }
        return (centers, counts)
    }
}

/// Exact silhouettes for several labelings of the same points at once.
///
/// The O(n^2) pairwise distances dominate a silhouette; choosing k needs one silhouette per
/// candidate k, so each distance is computed once and added to the per-cluster sums of every
/// labeling. Rows are processed in blocks of eight (one SIMD lane each), on all cores.
public enum SilhouetteSweep {
    public static func samples(
        _ x: Matrix, labelings: [[Int32]], cancellation: CancellationCheck = .never
    ) throws -> [[Double]] {
        let n = x.rows, d = x.columns, s = labelings.count
        var compacted: [[Int32]] = []
        var ks: [Int] = []
        for labels in labelings {
            let (codes, k) = try ClusterMetrics.compact(labels, rows: n)
            try ClusterMetrics.requireClusters(k, n)
            compacted.append(codes); ks.append(k)
        }
        // slot[j * s + t] = where row j's distance goes in labeling t's block of cluster sums.
        let offsets = ks.reduce(into: [0]) { $0.append($0.last! + $1) }
        let totalClusters = offsets.last!
        var slot = [Int32](repeating: 0, count: n * s)
        for t in 0..<s { for j in 0..<n { slot[j * s + t] = Int32(offsets[t]) + compacted[t][j] } }
        var sizes = [Int](repeating: 0, count: totalClusters)
        for j in 0..<n { for t in 0..<s { sizes[Int(slot[j * s + t])] += 1 } }

        var result = [Double](repeating: 0, count: s * n)
        // Eight rows at a time: one SIMD lane per row, so each distance row costs one pass over the
        // data and each (point, labeling) pair one vector add for eight rows.
        let lanes = 8
        let blocks = (n + lanes - 1) / lanes
        let blocksPerTask = 4
        let tasks = (blocks + blocksPerTask - 1) / blocksPerTask
        let cancelled = SharedFlag()
        x.values.withUnsafeBufferPointer { xs in
            slot.withUnsafeBufferPointer { slots in
                result.withUnsafeMutableBufferPointer { out in
                    Parallel.forEach(tasks) { task in
                        if cancelled.value { return }
                        if task % 16 == 0 && cancellation.isCancelled { cancelled.set(); return }
                        var sums = [SIMD8<Double>](repeating: .zero, count: totalClusters)
                        var coordinates = [SIMD8<Double>](repeating: .zero, count: d)
                        for block
                            in (task * blocksPerTask)..<min(blocks, (task + 1) * blocksPerTask)
                        {
                            // Rows past the end repeat the last row; their results are dropped.
                            let rows = (0..<lanes).map { min(block * lanes + $0, n - 1) }
                            for dim in 0..<d {
                                coordinates[dim] = SIMD8((0..<lanes).map { xs[rows[$0] * d + dim] })
                            }
                            sums.withUnsafeMutableBufferPointer { acc in
                                for c in 0..<totalClusters { acc[c] = .zero }
                                coordinates.withUnsafeBufferPointer { coords in
                                    for j in 0..<n {
                                        let point = xs.baseAddress! + j * d
                                        var squared = SIMD8<Double>.zero
                                        for dim in 0..<d {
                                            let diff = coords[dim] - SIMD8(repeating: point[dim])
                                            squared += diff * diff
                                        }
                                        let distance = squared.squareRoot()
                                        let base = slots.baseAddress! + j * s
                                        for t in 0..<s { acc[Int(base[t])] += distance }
                                    }
                                }
                            }
                            for lane in 0..<lanes where block * lanes + lane < n {
                                let i = block * lanes + lane
                                for t in 0..<s {
                                    let own = Int(slots[i * s + t])
                                    let ownSize = sizes[own]
                                    guard ownSize > 1 else { out[t * n + i] = 0; continue }
                                    let a = sums[own][lane] / Double(ownSize - 1)
                                    var b = Double.infinity
                                    for c in offsets[t]..<offsets[t + 1] where c != own {
                                        b = min(b, sums[c][lane] / Double(sizes[c]))
                                    }
                                    let denominator = max(a, b)
                                    out[t * n + i] = denominator > 0 ? (b - a) / denominator : 0
                                }
                            }
                        }
                    }
                }
            }
        }
        if cancelled.value { throw CancellationError() }
        return (0..<s).map { t in Array(result[(t * n)..<((t + 1) * n)]) }
    }
}
