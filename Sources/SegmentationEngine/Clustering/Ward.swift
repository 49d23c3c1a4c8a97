import Foundation

/// Agglomerative clustering with Ward's linkage, as scikit-learn's `AgglomerativeClustering(linkage="ward")`:
/// every step merges the two clusters whose union increases the total within-cluster sum of
/// squares least. Built with the nearest-neighbour chain, on cluster centroids and sizes (Ward's
/// distance between A and B is sqrt(2 nA nB / (nA + nB)) times the distance of their centroids),
/// so memory stays O(n x d); time is O(n^2 x d), which is why models cluster a sample past a size.
public struct Ward: Sendable {
    public init() {}

    /// One merge of the dendrogram: two clusters, each named by one of its rows, joined at `height`
    /// (Ward's distance, as scipy and scikit-learn report it) into a cluster of `size` rows.
    public struct Merge: Sendable, Equatable, Codable {
        public var left: Int
        public var right: Int
        public var height: Double
        public var size: Int
    }

    /// The n - 1 merges, lowest first.
    public func tree(_ x: Matrix, cancellation: CancellationCheck = .never) throws -> [Merge] {
        let n = x.rows, d = x.columns
        guard n >= 2 else { return [] }
        try x.requireFinite()
        var centroids = x.values
        var sizes = [Int](repeating: 1, count: n)
        // Active clusters by slot; each slot keeps a row of its cluster as its name.
        var active = Array(0..<n)
        var position = Array(0..<n)
        var merges: [Merge] = []
        merges.reserveCapacity(n - 1)
        var chain: [Int] = []

        func cost(_ a: Int, _ b: Int, _ base: UnsafePointer<Double>) -> Double {
            let (na, nb) = (Double(sizes[a]), Double(sizes[b]))
            return 2 * na * nb / (na + nb) * squaredDistance(base + a * d, base + b * d, d)
        }

        while active.count > 1 {
            if merges.count % 256 == 0 { try cancellation.throwIfCancelled() }
            if chain.isEmpty { chain.append(active[0]) }
            let a = chain[chain.count - 1]
            let previous = chain.count >= 2 ? chain[chain.count - 2] : nil
            let (nearest, distance) = centroids.withUnsafeBufferPointer { buffer -> (Int, Double) in
                let base = buffer.baseAddress!
                // The previous link wins ties, which is what guarantees the chain ends in a reciprocal pair.
                var best = previous ?? active.first { $0 != a }!
                var bestCost = cost(a, best, base)
                let na = Double(sizes[a])
                for b in active where b != a {
                    let nb = Double(sizes[b])
                    let c = 2 * na * nb / (na + nb) * squaredDistance(base + a * d, base + b * d, d)
                    if c < bestCost { (best, bestCost) = (b, c) }
                }
                return (best, bestCost)
            }
            guard nearest == previous else {
                chain.append(nearest)
                continue
            }
            // a and its predecessor are each other's nearest: merge them into a's slot.
            chain.removeLast(2)
            let b = nearest
            let (na, nb) = (Double(sizes[a]), Double(sizes[b]))
            for j in 0..<d {
                centroids[a * d + j] =
                    (na * centroids[a * d + j] + nb * centroids[b * d + j]) / (na + nb)
            }
            merges.append(
                Merge(
                    left: min(a, b), right: max(a, b), height: distance.squareRoot(),
                    size: sizes[a] + sizes[b]))
            sizes[a] += sizes[b]
            let removed = position[b]
            active[removed] = active[active.count - 1]
            position[active[removed]] = removed
            active.removeLast()
        }
        // Ward's merge heights never decrease along the tree, so sorting keeps children before parents.
        return merges.enumerated().sorted {
            ($0.element.height, $0.offset) < ($1.element.height, $1.offset)
        }.map(\.element)
    }

    /// The clusters left after all but the top k - 1 merges, numbered in order of their first row.
    public static func labels(_ merges: [Merge], rows: Int, k: Int) -> [Int32] {
        var parent = Array(0..<rows)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        for merge in merges.prefix(max(0, rows - k)) {
            parent[root(merge.right)] = root(merge.left)
        }
        var number: [Int: Int32] = [:]
        return (0..<rows).map { row in
            let r = root(row)
            if let known = number[r] { return known }
            number[r] = Int32(number.count)
            return number[r]!
        }
    }
}

/// The top of a Ward tree, for the report: the tree cut into `leafSizes.count` clusters (numbered
/// by their first row) and the merges that join them, lowest first. Node ids follow scipy's
/// linkage: leaves 0..<L, then L + i for merge i.
public struct Dendrogram: Codable, Sendable, Equatable {
    public struct Merge: Codable, Sendable, Equatable {
        public var left: Int
        public var right: Int
        public var height: Double
        /// Rows under the merged node.
        public var size: Int
    }

    public var leafSizes: [Int]
    public var merges: [Merge]

    /// The top `leaves - 1` merges of a tree over `rows` rows (merges lowest first, as `Ward.tree` gives).
    public static func top(_ merges: [Ward.Merge], rows: Int, leaves requested: Int) -> Dendrogram {
        let leaves = max(1, min(requested, rows))
        var parent = Array(0..<rows)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        let cut = max(0, rows - leaves)
        for merge in merges.prefix(cut) { parent[root(merge.right)] = root(merge.left) }
        var node: [Int: Int] = [:]
        var sizes: [Int] = []
        for row in 0..<rows {
            let r = root(row)
            if let leaf = node[r] {
                sizes[leaf] += 1
            } else {
                node[r] = sizes.count; sizes.append(1)
            }
        }
        var top: [Merge] = []
        for merge in merges.dropFirst(cut) {
            let (a, b) = (root(merge.left), root(merge.right))
            guard let left = node[a], let right = node[b], a != b else { continue }
            parent[b] = a
            node[a] = sizes.count + top.count
            top.append(Merge(left: left, right: right, height: merge.height, size: merge.size))
        }
        return Dendrogram(leafSizes: sizes, merges: top)
    }
}
