import Foundation

/// Density-based clustering (Ester et al. 1996), as scikit-learn's `DBSCAN(metric="euclidean")`:
/// a point is a core point when at least `minSamples` points (itself included) lie within `eps`
/// (distance <= eps); clusters are the core points connected through each other's neighbourhoods
/// plus the non-core points they reach; the rest is noise. Clusters are numbered in the order
/// scikit-learn finds them (by the lowest-index core point, depth first), so labels match its own.
public struct DBSCAN: Sendable {
    public var eps: Double
    public var minSamples: Int

    public init(eps: Double, minSamples: Int) {
        self.eps = eps
        self.minSamples = minSamples
    }

    /// What a fit finds: each row's cluster or noise, and which rows are core points.
    public struct Result: Sendable, Equatable {
        /// Cluster of each row, `0..<clusterCount`, or `noise` (-1).
        public var labels: [Int32]
        public var clusterCount: Int
        public var isCore: [Bool]
        /// Groups under the minimum size whose customers were made noise (DBSCANClustering).
        public var smallGroupsJoined = 0
        public static let noise: Int32 = -1

        public var noiseCount: Int { labels.count { $0 == Self.noise } }
    }

    public func fit(_ x: Matrix, cancellation: CancellationCheck = .never) throws -> Result {
        guard eps > 0, eps.isFinite else {
            throw ClusteringError.invalidParameter("eps must be a positive number, not \(eps)")
        }
        guard minSamples >= 1 else {
            throw ClusteringError.invalidParameter(
                "min_samples must be at least 1, not \(minSamples)")
        }
        try x.requireFinite()
        let neighbours = try RadiusNeighbours(x, radius: eps).all(cancellation: cancellation)
        let isCore = neighbours.map { $0.count >= minSamples }
        var labels = [Int32](repeating: Result.noise, count: x.rows)
        var clusters: Int32 = 0
        var stack: [Int] = []
        // scikit-learn's dbscan_inner: depth first from each unlabelled core point in index order.
        for start in 0..<x.rows where labels[start] == Result.noise && isCore[start] {
            var point = start
            while true {
                if labels[point] == Result.noise {
                    labels[point] = clusters
                    if isCore[point] {
                        for neighbour in neighbours[point] where labels[neighbour] == Result.noise {
                            stack.append(neighbour)
                        }
                    }
                }
                guard let next = stack.popLast() else { break }
                point = next
            }
            clusters += 1
        }
        return Result(labels: labels, clusterCount: Int(clusters), isCore: isCore)
    }
}

/// Every row's neighbours within a radius (distance <= radius, the row itself included), in
/// increasing row order. Low dimensions use a grid of cells one radius wide, so each row compares
/// against the rows of its 3^d surrounding cells; more than 6 dimensions compare all pairs.
struct RadiusNeighbours {
    let x: Matrix
    let radius: Double

    init(_ x: Matrix, radius: Double) {
        self.x = x
        self.radius = radius
    }

    func all(cancellation: CancellationCheck) throws -> [[Int]] {
        // Cell numbers must fit an Int with room for the neighbour offsets.
        let cellsFit = x.values.allSatisfy { abs($0 / radius) < 1e15 }
        return x.columns <= 6 && cellsFit ? try byGrid(cancellation) : try byPairs(cancellation)
    }

    private func byPairs(_ cancellation: CancellationCheck) throws -> [[Int]] {
        let limit = radius * radius
        var neighbours = [[Int]](repeating: [], count: x.rows)
        try x.values.withUnsafeBufferPointer { values in
            let base = values.baseAddress!
            for i in 0..<x.rows {
                if i % 1024 == 0 { try cancellation.throwIfCancelled() }
                for j in 0..<x.rows
                where squaredDistance(base + i * x.columns, base + j * x.columns, x.columns)
                    <= limit
                {
                    neighbours[i].append(j)
                }
            }
        }
        return neighbours
    }

    private func byGrid(_ cancellation: CancellationCheck) throws -> [[Int]] {
        let d = x.columns
        let limit = radius * radius
        var cells: [[Int]: [Int]] = [:]
        func cell(_ row: Int) -> [Int] { (0..<d).map { Int((x[row, $0] / radius).rounded(.down)) } }
        for row in 0..<x.rows { cells[cell(row), default: []].append(row) }
        // Every offset in {-1, 0, 1}^d.
        var offsets: [[Int]] = [[]]
        for _ in 0..<d { offsets = offsets.flatMap { prefix in [-1, 0, 1].map { prefix + [$0] } } }
        var neighbours = [[Int]](repeating: [], count: x.rows)
        try x.values.withUnsafeBufferPointer { values in
            let base = values.baseAddress!
            for (key, members) in cells {
                try cancellation.throwIfCancelled()
                var candidates: [Int] = []
                for offset in offsets {
                    if let rows = cells[zip(key, offset).map(+)] {
                        candidates.append(contentsOf: rows)
                    }
                }
                candidates.sort()
                for i in members {
                    for j in candidates
                    where squaredDistance(base + i * d, base + j * d, d) <= limit {
                        neighbours[i].append(j)
                    }
                }
            }
        }
        return neighbours
    }
}

extension DBSCAN {
    /// eps by the k-distance knee (Ester et al.'s heuristic): for up to `sampleSize` seeded rows,
    /// the distance to their `minSamples`-th nearest row (themselves counted, as DBSCAN counts them),
    /// sorted; eps is the distance where that rising curve bends most (normalised to [0, 1] on both
    /// axes, the point farthest below the straight line from its first to its last value). A row
    /// is then a core point when its own k-distance is at most eps.
    public static func kneeEps(
        _ x: Matrix, minSamples: Int, sampleSize: Int = 2_000, seed: UInt64 = 0,
        cancellation: CancellationCheck = .never
    ) throws -> Double {
        guard minSamples >= 2, minSamples <= x.rows else {
            throw ClusteringError.invalidParameter(
                "min_samples must be between 2 and the number of customers (\(x.rows)) to choose eps"
            )
        }
        try x.requireFinite()
        let rows = SeededGenerator.distinctRows(x.rows, min(sampleSize, x.rows), seed: seed)
        var distances: [Double] = []
        distances.reserveCapacity(rows.count)
        try x.values.withUnsafeBufferPointer { values in
            let base = values.baseAddress!
            var nearest = [Double](repeating: .infinity, count: minSamples)
            for row in rows {
                try cancellation.throwIfCancelled()
                // The minSamples smallest squared distances, kept sorted (minSamples is small).
                for i in nearest.indices { nearest[i] = .infinity }
                for other in 0..<x.rows {
                    let distance = squaredDistance(
                        base + row * x.columns, base + other * x.columns, x.columns)
                    guard distance < nearest[minSamples - 1] else { continue }
                    var slot = minSamples - 1
                    while slot > 0 && nearest[slot - 1] > distance {
                        nearest[slot] = nearest[slot - 1]; slot -= 1
                    }
                    nearest[slot] = distance
                }
                distances.append(nearest[minSamples - 1].squareRoot())
            }
        }
        distances.sort()
        guard let low = distances.first, let high = distances.last, high > low, distances.count >= 3
        else {
            throw ClusteringError.invalidParameter(
                "cannot choose eps: every sampled customer has the same k-distance; give eps")
        }
        let last = Double(distances.count - 1)
        var knee = 0
        var deepest = -Double.infinity
        for (index, distance) in distances.enumerated() {
            let depth = Double(index) / last - (distance - low) / (high - low)
            if depth > deepest { (knee, deepest) = (index, depth) }
        }
        return distances[knee]
    }
}
