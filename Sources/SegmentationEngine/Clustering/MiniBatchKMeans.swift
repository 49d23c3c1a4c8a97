import Foundation

/// Mini-batch k-means (Sculley 2010) as scikit-learn's `MiniBatchKMeans`: k-means++ on a random
/// sample (the best of `nInit` by the sample's inertia), then steps on random batches, each centre
/// moving towards its batch points by its own learning rate (1 / points it has seen), centres that
/// starve reassigned to batch points, and an early stop once the smoothed batch inertia stops
/// improving. For millions of customers: besides the data and the labels it returns, it holds
/// only O(k x d) plus one batch and the seeding sample.
public struct MiniBatchKMeans: ClusteringAlgorithm {
    public var batchSize: Int
    /// Passes over the data, at most (scikit-learn's `max_iter`).
    public var maxEpochs: Int
    /// Steps without a better smoothed inertia before stopping; 0: no early stop.
    public var maxNoImprovement: Int
    /// A centre that has seen fewer than this share of the busiest centre's points is reassigned.
    public var reassignmentRatio: Double
    public var nInit: Int
    public var seed: UInt64

    public init(
        batchSize: Int = 1024, maxEpochs: Int = 100, maxNoImprovement: Int = 10,
        reassignmentRatio: Double = 0.01,
        nInit: Int = 3, seed: UInt64 = 0
    ) {
        self.batchSize = batchSize
        self.maxEpochs = maxEpochs
        self.maxNoImprovement = maxNoImprovement
        self.reassignmentRatio = reassignmentRatio
        self.nInit = nInit
        self.seed = seed
    }

    public var method: ClusteringMethod { .minibatchKMeans }

    public var parameters: [String: String] {
        [
            "batch_size": String(batchSize), "max_iter": String(maxEpochs),
            "max_no_improvement": String(maxNoImprovement),
            "reassignment_ratio": String(reassignmentRatio), "n_init": String(nInit),
            "seed": String(seed),
        ]
    }

    public func fit(
        _ x: Matrix, k: Int, cancellation: CancellationCheck = .never
    ) throws -> Clustering {
        guard k >= 2, k <= x.rows else { throw ClusteringError.invalidK(k: k, customers: x.rows) }
        guard batchSize >= 1, maxEpochs >= 1, nInit >= 1 else {
            throw ClusteringError.invalidParameter(
                "batch_size, max_iter and n_init must each be at least 1")
        }
        try x.requireFinite()
        var generator = SeededGenerator(seed: seed)
        var centres = seeding(x, k: k, generator: &generator)
        let d = x.columns
        let batch = min(batchSize, x.rows)
        var counts = [Double](repeating: 0, count: k)
        var rows = [Int](repeating: 0, count: batch)
        var sums = [Double](repeating: 0, count: k * d)
        var batchCounts = [Double](repeating: 0, count: k)
        let steps = max(1, maxEpochs * x.rows / batch)
        let smoothing = min(1, Double(batch) * 2 / Double(x.rows + 1))
        var smoothed: Double?
        var best = Double.infinity
        var sinceBest = 0
        var sinceReassignment = 0
        var step = 0
        while step < steps {
            if step % 16 == 0 { try cancellation.throwIfCancelled() }
            for i in 0..<batch { rows[i] = Int(generator.next() % UInt64(x.rows)) }
            var inertia = 0.0
            sums.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            batchCounts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            x.values.withUnsafeBufferPointer { values in
                centres.values.withUnsafeBufferPointer { centre in
                    for i in 0..<batch {
                        let row = values.baseAddress! + rows[i] * d
                        let (label, distance) = nearest(row, centre.baseAddress!, k, d)
                        inertia += distance
                        batchCounts[label] += 1
                        for j in 0..<d { sums[label * d + j] += row[j] }
                    }
                }
            }
            // Each centre: the mean of every point it has seen, as if they had all come at once.
            for c in 0..<k where batchCounts[c] > 0 {
                let seen = counts[c] + batchCounts[c]
                for j in 0..<d {
                    centres[c, j] = (centres[c, j] * counts[c] + sums[c * d + j]) / seen
                }
                counts[c] = seen
            }
            sinceReassignment += batch
            if reassignmentRatio > 0 && (counts.contains(0) || sinceReassignment >= 10 * k) {
                reassignStarved(x, &centres, &counts, batchRows: rows, generator: &generator)
                sinceReassignment = 0
            }
            step += 1
            // Early stop on the batch inertia per point, smoothed. The first step's inertia is the
            // seeding's, not the algorithm's: it is left out, as scikit-learn leaves it out.
            guard step > 1, maxNoImprovement > 0 else { continue }
            let perPoint = inertia / Double(batch)
            let current = smoothed.map { $0 * (1 - smoothing) + perPoint * smoothing } ?? perPoint
            smoothed = current
            if current < best {
                best = current
                sinceBest = 0
            } else {
                sinceBest += 1
                if sinceBest >= maxNoImprovement { break }
            }
        }
        let (all, inertia) = try assignAll(x, centres, cancellation: cancellation)
        guard Set(all).count < k else {
            return Clustering(centroids: centres, labels: all, inertia: inertia, iterations: step)
        }
        // A centre nobody is nearest to: one k-means step gives it the customer farthest from its
        // centre and makes every centre its members' mean (a model never has an empty segment).
        let settled = Lloyd(x: x, parallel: true).run(
            centers: centres, maxIterations: 1, tolerance: 0)
        return Clustering(
            centroids: settled.centroids, labels: settled.labels, inertia: settled.inertia,
            iterations: step + 1)
    }

    /// k-means++ on a sample of max(3 x batch, 3k) distinct rows, the best of `nInit` tries by the sample's inertia.
    private func seeding(_ x: Matrix, k: Int, generator: inout SeededGenerator) -> Matrix {
        let size = min(x.rows, max(3 * batchSize, 3 * k))
        let sample = x.selecting(rows: generator.distinctRows(x.rows, size))
        var best: (centres: Matrix, inertia: Double)?
        for _ in 0..<nInit {
            let centres = Lloyd(x: sample, parallel: false).kMeansPlusPlus(
                k: k, generator: &generator)
            let inertia = sample.values.withUnsafeBufferPointer { values in
                centres.values.withUnsafeBufferPointer { centre in
                    (0..<sample.rows).reduce(0.0) {
                        $0
                            + nearest(
                                values.baseAddress! + $1 * x.columns, centre.baseAddress!, k,
                                x.columns
                            ).distance
                    }
                }
            }
            if inertia < best?.inertia ?? .infinity { best = (centres, inertia) }
        }
        return best!.centres
    }

    /// scikit-learn's `_random_reassign`: centres that have seen under `reassignmentRatio` of the
    /// busiest centre's count move to random points of the batch (at most half a batch of them),
    /// and start from the smallest count among the others so they can still move.
    private func reassignStarved(
        _ x: Matrix, _ centres: inout Matrix, _ counts: inout [Double], batchRows: [Int],
        generator: inout SeededGenerator
    ) {
        let threshold = reassignmentRatio * (counts.max() ?? 0)
        var starved = counts.indices.filter { counts[$0] < threshold }
        guard !starved.isEmpty else { return }
        if starved.count > batchRows.count / 2 {
            starved = Array(
                starved.sorted { counts[$0] < counts[$1] }.prefix(max(1, batchRows.count / 2)))
        }
        var isStarved = [Bool](repeating: false, count: counts.count)
        for c in starved { isStarved[c] = true }
        let floor = counts.indices.filter { !isStarved[$0] }.map { counts[$0] }.min() ?? 1
        // Distinct batch points (scikit-learn draws them without replacement).
        let picks = generator.distinctRows(batchRows.count, starved.count)
        for (c, pick) in zip(starved, picks) {
            for j in 0..<x.columns { centres[c, j] = x[batchRows[pick], j] }
            counts[c] = floor
        }
    }

    /// Every row's nearest centre and the total squared distance, on all cores.
    private func assignAll(
        _ x: Matrix, _ centres: Matrix, cancellation: CancellationCheck
    ) throws -> ([Int32], Double) {
        let (k, d) = (centres.rows, x.columns)
        var labels = [Int32](repeating: 0, count: x.rows)
        let chunks = Parallel.chunkCount(rows: x.rows)
        var partial = [Double](repeating: 0, count: chunks)
        x.values.withUnsafeBufferPointer { values in
            centres.values.withUnsafeBufferPointer { centre in
                labels.withUnsafeMutableBufferPointer { out in
                    partial.withUnsafeMutableBufferPointer { sums in
                        Parallel.forEach(chunks) { chunk in
                            guard !cancellation.isCancelled else { return }
                            var total = 0.0
                            for row in Parallel.chunkRange(chunk, rows: x.rows) {
                                let (label, distance) = nearest(
                                    values.baseAddress! + row * d, centre.baseAddress!, k, d)
                                out[row] = Int32(label)
                                total += distance
                            }
                            sums[chunk] = total
                        }
                    }
                }
            }
        }
        try cancellation.throwIfCancelled()
        return (labels, partial.reduce(0, +))
    }
}

/// The nearest of k centres (row-major) to a row, and its squared distance.
@inline(__always)
private func nearest(
    _ row: UnsafePointer<Double>, _ centres: UnsafePointer<Double>, _ k: Int, _ d: Int
) -> (label: Int, distance: Double) {
    var best = 0
    var bestDistance = Double.infinity
    for c in 0..<k {
        let distance = squaredDistance(row, centres + c * d, d)
        if distance < bestDistance { (best, bestDistance) = (c, distance) }
    }
    return (best, bestDistance)
}
