import Foundation

/// How much to trust a segmentation: the chosen configuration refitted with other seeds and on
/// bootstrap samples of the customers, each refit's partition of all customers compared with
/// the model's. A refit on a bootstrap sample places every customer by its own rule (nearest
/// centre, most likely component, nearest core). Algorithms whose fit ignores the seed (DBSCAN,
/// Ward below its sample size) get bootstrap refits only: a seed refit would agree by construction.
public struct StabilityReport: Codable, Sendable, Equatable {
    public var seedRuns: Int
    public var bootstrapRuns: Int
    /// Refits that failed (not counted in the figures).
    public var failedRuns: Int
    /// Mean and lowest adjusted Rand index between the model's segments and a refit's.
    public var meanARI: Double
    public var minimumARI: Double
    /// Per segment (segment order): the mean over refits of the Jaccard index of the refit's
    /// best-matching cluster (1: the same customers every time).
    public var segmentJaccard: [Double]

    /// Below this, the segmentation (or a segment) is reported as unstable.
    public static let threshold = 0.8

    /// One warning for the whole, one per unstable segment (empty when all is stable).
    public func warnings(segmentNames: [String]) -> [String] {
        var warnings: [String] = []
        if meanARI < Self.threshold {
            warnings.append(
                String(
                    format:
                        "unstable segmentation: refitted with %d other seeds and on %d bootstrap samples, the segments agree "
                        + "with these by a mean adjusted Rand index of %.2f (below %.1f); read the segments as tendencies, not fixed groups",
                    seedRuns, bootstrapRuns, meanARI, Self.threshold))
        }
        for (index, jaccard) in segmentJaccard.enumerated() where jaccard < Self.threshold {
            let name = index < segmentNames.count ? segmentNames[index] : "segment \(index)"
            warnings.append(
                String(
                    format:
                        "segment %d (%@) is unstable: a refit finds its customers together with a mean Jaccard index of %.2f",
                    index, name, jaccard))
        }
        return warnings
    }
}

public enum StabilityCheck {
    /// Refits by default: 5 with other seeds, 5 on bootstrap samples.
    public static let defaultRuns = (seeds: 5, bootstraps: 5)

    /// nil when every refit failed.
    /// - Parameters:
    ///   - labels: the model's segment of every row of `scaled` (0..<k).
    ///   - fit: fits the chosen configuration with a given seed on the given rows.
    public static func measure(
        _ scaled: Matrix, labels: [Int32], k: Int, seed: UInt64, seedRuns: Int = defaultRuns.seeds,
        bootstrapRuns: Int = defaultRuns.bootstraps, cancellation: CancellationCheck = .never,
        observe: (_ labels: [Int32], _ clusters: Int) -> Void = { _, _ in },
        fit: (_ x: Matrix, _ seed: UInt64) throws -> Clustering
    ) throws -> StabilityReport? {
        var aris: [Double] = []
        var jaccardSums = [Double](repeating: 0, count: k)
        func compare(_ other: [Int32], clusters: Int) {
            observe(other, clusters)
            let table = Contingency(labels, k: k, other, clusters: clusters)
            aris.append(table.adjustedRandIndex)
            for c in 0..<k { jaccardSums[c] += table.bestJaccard(of: c) }
        }
        var failed = 0
        /// A refit that fails (a mixture collapsing on a sample) is counted, not fatal.
        func attempt(_ body: () throws -> Void) throws {
            do { try body() } catch
                where !(error is CancellationError) && !cancellation.isCancelled
            { failed += 1 }
        }
        for run in 0..<seedRuns {
            try cancellation.throwIfCancelled()
            try attempt {
                let refit = try fit(scaled, seed &+ 1 &+ UInt64(run))
                compare(refit.labels, clusters: refit.k)
            }
        }
        var rng = SeededGenerator(seed: seed ^ 0xB007_5724)
        for _ in 0..<bootstrapRuns {
            try cancellation.throwIfCancelled()
            let rows = (0..<scaled.rows).map { _ in Int(rng.next() % UInt64(scaled.rows)) }
            let runSeed = rng.next()
            try attempt {
                let refit = try fit(scaled.selecting(rows: rows), runSeed)
                compare(assign(scaled, by: refit), clusters: refit.k)
            }
        }
        let runs = Double(max(aris.count, 1))
        guard !aris.isEmpty else { return nil }
        return StabilityReport(
            seedRuns: seedRuns, bootstrapRuns: bootstrapRuns, failedRuns: failed,
            meanARI: aris.reduce(0, +) / runs,
            minimumARI: aris.min() ?? 1, segmentJaccard: jaccardSums.map { $0 / runs })
    }

    /// Each row's segment by the refit's own rule, as scoring would place it: a mixture's most
    /// likely component, DBSCAN's nearest core within eps (else its Outliers), else the nearest centre.
    static func assign(_ x: Matrix, by refit: Clustering) -> [Int32] {
        switch refit.placement {
        case .mostLikely(let mixture): return mixture.mostLikely(x)
        case .nearestCore(let density):
            return x.values.withUnsafeBufferPointer { rows in
                density.corePoints.values.withUnsafeBufferPointer { cores in
                    (0..<x.rows).map {
                        Int32(
                            density.segment(
                                of: rows.baseAddress! + $0 * x.columns, cores: cores.baseAddress!
                            ).segment)
                    }
                }
            }
        case .nearestCentre: return nearestCentre(x, refit.centroids)
        }
    }

    /// Each row's nearest centre.
    static func nearestCentre(_ x: Matrix, _ centres: Matrix) -> [Int32] {
        (0..<x.rows).map { i in
            var best = (index: 0, distance: Double.infinity)
            for c in 0..<centres.rows {
                var sum = 0.0
                for j in 0..<x.columns { let d = x[i, j] - centres[c, j]; sum += d * d }
                if sum < best.distance { best = (c, sum) }
            }
            return Int32(best.index)
        }
    }
}

/// Counts of rows in each pair of clusters of two partitions of the same rows.
struct Contingency {
    let k: Int, clusters: Int
    var counts: [Int]
    var rowSizes: [Int], columnSizes: [Int]
    let n: Int

    init(_ a: [Int32], k: Int, _ b: [Int32], clusters: Int) {
        self.k = k
        self.clusters = clusters
        n = a.count
        counts = [Int](repeating: 0, count: k * clusters)
        rowSizes = [Int](repeating: 0, count: k)
        columnSizes = [Int](repeating: 0, count: clusters)
        for (x, y) in zip(a, b) {
            counts[Int(x) * clusters + Int(y)] += 1
            rowSizes[Int(x)] += 1
            columnSizes[Int(y)] += 1
        }
    }

    /// Hubert and Arabie's adjusted Rand index (as `AdjustedRandIndex`, from the table).
    var adjustedRandIndex: Double {
        func pairs(_ count: Int) -> Double { Double(count) * Double(count - 1) / 2 }
        guard n > 1 else { return 1 }
        let index = counts.reduce(0) { $0 + pairs($1) }
        let rowSum = rowSizes.reduce(0) { $0 + pairs($1) },
            columnSum = columnSizes.reduce(0) { $0 + pairs($1) }
        let expected = rowSum * columnSum / pairs(n)
        let maximum = (rowSum + columnSum) / 2
        return maximum == expected ? 1 : (index - expected) / (maximum - expected)
    }

    /// The Jaccard index of cluster `c` of the first partition with its best match in the second.
    func bestJaccard(of c: Int) -> Double { jaccard(c, bestMatch(of: c)) }

    /// The cluster of the second partition that best matches cluster `c` of the first (by Jaccard).
    func bestMatch(of c: Int) -> Int {
        (0..<clusters).max { jaccard(c, $0) < jaccard(c, $1) } ?? 0
    }

    private func jaccard(_ c: Int, _ other: Int) -> Double {
        let both = counts[c * clusters + other]
        let either = rowSizes[c] + columnSizes[other] - both
        return either > 0 ? Double(both) / Double(either) : 0
    }
}
