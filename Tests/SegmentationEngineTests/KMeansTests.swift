import Foundation
import Testing

@testable import SegmentationEngine

@Suite("K-means")
struct KMeansTests {
    @Test(
        "Lloyd from scikit-learn's initial centres gives its labels, centres and inertia",
        .enabled(if: Shared.hasFixtures, "../shared is absent: skipped"),
        arguments: ["blobs_2000x4_k5", "overlap_5000x6_k8"])
    func matchesScikitLearn(name: String) throws {
        let base = "fixtures/kmeans/\(name)"
        let x = try Shared.matrix("\(base)/X.csv")
        let initial = try Shared.matrix("\(base)/init.csv")
        let expected = try Shared.json("\(base)/expected.json")
        let result = try KMeans(
            nInit: 1, maxIterations: expected["max_iter"] as! Int,
            tolerance: expected["tol"] as! Double
        )
        .fit(x, initialCentroids: initial)
        #expect(result.labels == (try Shared.labels("\(base)/labels.csv")))
        let centers = try Shared.matrix("\(base)/centers.csv")
        for (ours, theirs) in zip(result.centroids.values, centers.values) {
            #expect(
                relativeError(ours, theirs) <= 1e-9 || abs(ours - theirs) <= 1e-12,
                "\(ours) vs \(theirs)")
        }
        #expect(relativeError(result.inertia, expected["inertia"] as! Double) <= 1e-9)
        #expect(result.iterations == expected["n_iter"] as! Int)
    }

    @Test("Same seed, same result; restarts keep the lowest inertia")
    func deterministic() throws {
        var random = SeededGenerator(seed: 11)
        let x = Matrix(
            rows: 600, columns: 3,
            values: (0..<1800).map { i in random.nextGaussian() + Double(i / 3 % 3) * 4 })
        let a = try KMeans(nInit: 5, seed: 42).fit(x, k: 3)
        let b = try KMeans(nInit: 5, seed: 42).fit(x, k: 3)
        #expect(a == b)
        let single = try (0..<5).map { _ in try KMeans(nInit: 1, seed: 42).fit(x, k: 3).inertia }
        #expect(a.inertia <= single.min()! + 1e-9)
        #expect(abs(a.inertia - (try ClusterMetrics.inertia(x, labels: a.labels))) < 1e-6)
    }

    @Test("Restarts on a shared pool and restarts with parallel kernels give the same clusterings")
    func parallelPaths() throws {
        var random = SeededGenerator(seed: 12)
        let rows = 20_000
        let x = Matrix(
            rows: rows, columns: 4,
            values: (0..<(rows * 4)).map { i in random.nextGaussian() + Double(i / 4 % 4) * 3 })
        let pooled = KMeans(nInit: 2, seed: 1)
        var kernels = pooled
        kernels.pooledWorkLimit = 0
        var reported: [Int] = []
        let a = try pooled.fit(x, ks: [4, 2, 3]) { reported.append($0) }
        let b = try kernels.fit(x, ks: [2, 3, 4])
        #expect(reported == [2, 3, 4])
        #expect(a == b)
        #expect(a[4] == (try pooled.fit(x, k: 4)))
        #expect(Set(a[4]!.labels).count == 4)
        #expect(
            abs(a[4]!.inertia - (try ClusterMetrics.inertia(x, labels: a[4]!.labels)))
                / a[4]!.inertia < 1e-9)
    }

    @Test(
        "Every feature count (specialised or not) and ragged row counts give plain Lloyd's answer",
        arguments: [1, 2, 3, 4, 5, 6, 7, 8, 9, 12])
    func blockKernelMatchesPlainLloyd(columns: Int) throws {
        var random = SeededGenerator(seed: UInt64(columns))
        for rows in [5, 1_003, 4_201] {
            let x = Matrix(
                rows: rows, columns: columns,
                values: (0..<(rows * columns)).map { i in
                    random.nextGaussian() + Double(i / columns % 3) * 2
                })
            let k = min(rows, 5)
            let initial = x.selecting(rows: (0..<k).map { $0 * (rows / k) })
            let ours = try KMeans(nInit: 1, maxIterations: 15, tolerance: 0).fit(
                x, initialCentroids: initial)
            let plain = plainLloyd(x, initial, iterations: ours.iterations)
            #expect(ours.labels == plain.labels, "d=\(columns) n=\(rows)")
            for (a, b) in zip(ours.centroids.values, plain.centres.values) {
                #expect(abs(a - b) <= 1e-12 * max(1, abs(b)))
            }
            #expect(abs(ours.inertia - plain.inertia) <= 1e-12 * plain.inertia)
        }
    }

    /// The textbook loop, one row and one centre at a time (no empty clusters in these inputs).
    private func plainLloyd(
        _ x: Matrix, _ initial: Matrix, iterations: Int
    ) -> (labels: [Int32], centres: Matrix, inertia: Double) {
        var centres = initial
        var labels = [Int32](repeating: 0, count: x.rows)
        func nearest(_ i: Int) -> (Int32, Double) {
            var best = (Int32(0), Double.infinity)
            for c in 0..<centres.rows {
                let distance = (0..<x.columns).reduce(0.0) {
                    $0 + (x[i, $1] - centres[c, $1]) * (x[i, $1] - centres[c, $1])
                }
                if distance < best.1 { best = (Int32(c), distance) }
            }
            return best
        }
        for _ in 0..<iterations {
            var sums = Matrix(rows: centres.rows, columns: x.columns)
            var counts = [Int](repeating: 0, count: centres.rows)
            for i in 0..<x.rows {
                labels[i] = nearest(i).0
                counts[Int(labels[i])] += 1
                for j in 0..<x.columns { sums[Int(labels[i]), j] += x[i, j] }
            }
            for c in 0..<centres.rows where counts[c] > 0 {
                for j in 0..<x.columns { centres[c, j] = sums[c, j] / Double(counts[c]) }
            }
        }
        var inertia = 0.0
        for i in 0..<x.rows {
            let (label, distance) = nearest(i); labels[i] = label; inertia += distance
        }
        return (labels, centres, inertia)
    }

    @Test("An empty cluster is re-seeded with the farthest point")
    func emptyClusterReseeded() throws {
        let (x, _) = twoBlobs()
        // The third centre is far from every point, so it starts empty.
        let initial = Matrix(rowArrays: [[0, 0], [10, 10], [100, 100]])
        let result = try KMeans(nInit: 1).fit(x, initialCentroids: initial)
        #expect(Set(result.labels).count == 3)
        #expect(result.inertia < 8.0 / 3)
    }

    @Test("Seeding picks distinct, spread-out centres")
    func kMeansPlusPlus() {
        let (x, _) = twoBlobs()
        var generator = SeededGenerator(seed: 0)
        let centers = Lloyd(x: x, parallel: false).kMeansPlusPlus(k: 2, generator: &generator)
        let blobs = Set((0..<2).map { centers[$0, 0] > 5 })
        #expect(blobs.count == 2)
        #expect(Lloyd.searchCumulative([1, 0, 2, 1], [0.5, 1.0, 1.5, 3.5, 9]) == [0, 0, 2, 3, 3])
    }

    @Test("Invalid k is refused with a clear error")
    func invalidK() {
        let (x, _) = twoBlobs()
        #expect(throws: ClusteringError.invalidK(k: 1, customers: 6)) { try KMeans().fit(x, k: 1) }
        #expect(throws: ClusteringError.invalidK(k: 7, customers: 6)) { try KMeans().fit(x, k: 7) }
    }

    @Test("Kneedle finds the elbow of a convex decreasing curve, and none on a straight line")
    func kneedle() {
        #expect(Kneedle.elbow(ks: Array(2...8), values: [1000, 400, 150, 120, 100, 90, 85]) == 4)
        #expect(Kneedle.elbow(ks: Array(2...6), values: [5, 4, 3, 2, 1]) == nil)
    }

    @Test("The sweep measures every k and chooses by silhouette, elbow or a fixed k")
    func sweep() throws {
        var random = SeededGenerator(seed: 4)
        let centres: [[Double]] = [[0, 0], [8, 0], [0, 8], [8, 8]]
        let x = Matrix(
            rowArrays: (0..<400).map { i in centres[i % 4].map { $0 + random.nextGaussian() } })
        let outcome = try KSweep(ks: Array(2...6)).run(x, algorithm: KMeans(nInit: 4))
        #expect(outcome.selection.candidates.map(\.k) == Array(2...6))
        #expect(outcome.selection.chosenK == 4)
        #expect(outcome.selection.elbowK == 4)
        let chosen = outcome.selection.chosen
        #expect(
            abs(
                chosen.silhouette
                    - (try ClusterMetrics.silhouette(x, labels: outcome.chosen.labels))) < 1e-12)
        let fixed = try KSweep(ks: [3], method: .fixed).run(x, algorithm: KMeans(nInit: 2))
        #expect(fixed.selection.chosenK == 3)
        let sampled = try KSweep(ks: [3, 4], exactSilhouetteLimit: 100).run(
            x, algorithm: KMeans(nInit: 2))
        #expect(sampled.selection.silhouetteSampleSize == 100)
    }
}
