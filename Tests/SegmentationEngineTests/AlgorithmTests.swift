import Foundation
import Testing

@testable import SegmentationEngine

/// True when two labelings name the same groups (a one-to-one renaming), noise (-1) kept as noise.
func sameGroups(_ ours: [Int32], _ theirs: [Int32], noise: Int32? = nil) -> Bool {
    guard ours.count == theirs.count else { return false }
    var forward: [Int32: Int32] = [:], backward: [Int32: Int32] = [:]
    for (a, b) in zip(ours, theirs) {
        if let noise, (a == noise) != (b == noise) { return false }
        if let known = forward[a], known != b { return false }
        if let known = backward[b], known != a { return false }
        forward[a] = b
        backward[b] = a
    }
    return true
}

@Suite(
    "DBSCAN, Ward, Gaussian mixtures and mini-batch k-means against scikit-learn and full k-means")
struct AlgorithmTests {
    static let fixture = "fixtures/algorithms/blobs_noise_640x2"

    @Test(
        "DBSCAN: the same clusters and noise as scikit-learn for eps 0.5, min_samples 5",
        .enabled(if: Shared.hasFixtures, "../shared is absent: skipped"))
    func dbscanFixture() throws {
        let x = try Shared.matrix("\(Self.fixture)/X.csv")
        let expected = try Shared.labels("\(Self.fixture)/dbscan_eps0.5_min5.csv")
        let result = try DBSCAN(eps: 0.5, minSamples: 5).fit(x)
        #expect(sameGroups(result.labels, expected, noise: -1))
        #expect(result.clusterCount == 3)
        #expect(result.noiseCount == 52)
    }

    @Test("DBSCAN's grid search finds exactly the neighbours a comparison of all pairs finds")
    func radiusNeighboursAgree() throws {
        var generator = SeededGenerator(seed: 7)
        // Coordinates either side of 0 (cells must floor, not truncate), on a 0.1 grid so many
        // pairs lie exactly 0.9 apart; 7 dimensions take the all-pairs path.
        for d in [1, 2, 3, 5, 6, 7] {
            let x = Matrix(
                rows: 400, columns: d,
                values: (0..<(400 * d)).map { _ in Double(Int(generator.next() % 100) - 50) / 10 })
            let neighbours = RadiusNeighbours(x, radius: 0.9)
            let grid = try neighbours.all(cancellation: .never)
            var pairs = [[Int]](repeating: [], count: x.rows)
            for i in 0..<x.rows {
                for j in 0..<x.rows {
                    let distance = (0..<d).reduce(0.0) {
                        $0 + (x[i, $1] - x[j, $1]) * (x[i, $1] - x[j, $1])
                    }
                    if distance <= 0.9 * 0.9 { pairs[i].append(j) }
                }
            }
            #expect(grid == pairs, "d = \(d)")
        }
    }

    @Test(
        "Ward: the same four clusters as scikit-learn",
        .enabled(if: Shared.hasFixtures, "../shared is absent: skipped"))
    func wardFixture() throws {
        let x = try Shared.matrix("\(Self.fixture)/X.csv")
        let expected = try Shared.labels("\(Self.fixture)/ward_k4.csv")
        let merges = try Ward().tree(x)
        #expect(merges.count == x.rows - 1)
        #expect(merges.last?.size == x.rows)
        #expect(sameGroups(Ward.labels(merges, rows: x.rows, k: 4), expected))
    }

    @Test(
        "Ward's chain gives the clusters of the textbook algorithm (merge the pair that adds least within-cluster variance) on random sets"
    )
    func wardAgainstTextbook() throws {
        var generator = SeededGenerator(seed: 11)
        for trial in 0..<5 {
            let n = 40 + trial * 10
            let x = Matrix(
                rows: n, columns: 3,
                values: (0..<(n * 3)).map { _ in Double(generator.next() % 100_000) / 1000 })
            let merges = try Ward().tree(x)
            for k in [2, 3, 5, 8] {
                #expect(
                    sameGroups(Ward.labels(merges, rows: n, k: k), textbookWard(x, k: k).labels),
                    "trial \(trial), k = \(k)")
            }
            // Ward's height is sqrt(2 x the rise in within-cluster sum of squares) at every merge.
            let rises = textbookWard(x, k: 1).rises
            for (merge, rise) in zip(merges, rises) {
                #expect(
                    abs(merge.height * merge.height / 2 - rise) <= 1e-9 * max(1, rise),
                    "trial \(trial)")
            }
        }
    }

    /// O(n^3): at every step, the pair whose merge raises the total within-cluster sum of squares
    /// least; the labels at k clusters and every rise, in merge order.
    func textbookWard(_ x: Matrix, k: Int) -> (labels: [Int32], rises: [Double]) {
        var clusters = (0..<x.rows).map { [$0] }
        var rises: [Double] = []
        func sse(_ rows: [Int]) -> Double {
            (0..<x.columns).reduce(0.0) { total, column in
                let mean = rows.reduce(0.0) { $0 + x[$1, column] } / Double(rows.count)
                return total
                    + rows.reduce(0.0) { $0 + (x[$1, column] - mean) * (x[$1, column] - mean) }
            }
        }
        while clusters.count > k {
            var best = (0, 1, Double.infinity)
            for a in 0..<clusters.count {
                for b in (a + 1)..<clusters.count {
                    let increase =
                        sse(clusters[a] + clusters[b]) - sse(clusters[a]) - sse(clusters[b])
                    if increase < best.2 { best = (a, b, increase) }
                }
            }
            clusters[best.0] += clusters[best.1]
            clusters.remove(at: best.1)
            rises.append(best.2)
        }
        var labels = [Int32](repeating: 0, count: x.rows)
        for (label, rows) in clusters.enumerated() {
            for row in rows { labels[row] = Int32(label) }
        }
        return (labels, rises)
    }

    @Test(
        "Gaussian mixture (full): log-likelihood, BIC, AIC and iterations as scikit-learn's from the same start",
        .enabled(if: Shared.hasFixtures, "../shared is absent: skipped"))
    func gaussianMixtureFixture() throws {
        let x = try Shared.matrix("\(Self.fixture)/X.csv")
        let means = try Shared.matrix("\(Self.fixture)/gmm_means_init.csv")
        let expected =
            try Shared.json("\(Self.fixture)/expected.json")["gmm_full"] as! [String: Any]
        let identity = [1.0, 0, 0, 1]
        let mixture = GaussianMixture(
            components: 4, covariance: .full, tolerance: 1e-6, regularization: 1e-6,
            maxIterations: 500)
        let fitted = try mixture.fit(
            x,
            start: .init(
                weights: [0.25, 0.25, 0.25, 0.25], means: means,
                precisions: Array(repeating: identity, count: 4)))
        #expect(
            relativeError(fitted.meanLogLikelihood(x), expected["mean_log_likelihood"] as! Double)
                <= 1e-6)
        #expect(relativeError(fitted.bic(x), expected["bic"] as! Double) <= 1e-6)
        #expect(relativeError(fitted.aic(x), expected["aic"] as! Double) <= 1e-6)
        #expect(fitted.iterations == expected["n_iter"] as! Int)
        #expect(fitted.converged)
        let membership = fitted.membership(x)
        #expect((0..<x.rows).allSatisfy { abs(membership.row($0).reduce(0, +) - 1) < 1e-9 })
    }

    @Test(
        "Gaussian mixture (diagonal, spherical): log-likelihood, BIC, AIC, iterations, weights and means as scikit-learn's from the same start",
        .enabled(if: Shared.hasFixtures, "../shared is absent: skipped"),
        arguments: [GaussianMixture.Covariance.diagonal, .spherical])
    func gaussianMixtureCovariances(kind: GaussianMixture.Covariance) throws {
        // The numbers come from scripts/make-mixture-fixtures.py (scikit-learn on the same X).
        let committed = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Fixtures/mixture_covariances.json")
        let all =
            try JSONSerialization.jsonObject(with: Data(contentsOf: committed)) as! [String: Any]
        let expected = all[kind == .diagonal ? "diag" : "spherical"] as! [String: Any]
        let x = try Shared.matrix("\(Self.fixture)/X.csv")
        let means = try Shared.matrix("\(Self.fixture)/gmm_means_init.csv")
        let mixture = GaussianMixture(
            components: 4, covariance: kind, tolerance: 1e-6, regularization: 1e-6,
            maxIterations: 500)
        let fitted = try mixture.fit(
            x,
            start: .init(
                weights: [0.25, 0.25, 0.25, 0.25], means: means,
                precisions: Array(repeating: [1.0, 0, 0, 1], count: 4)))
        #expect(
            relativeError(fitted.meanLogLikelihood(x), expected["mean_log_likelihood"] as! Double)
                <= 1e-6)
        #expect(relativeError(fitted.bic(x), expected["bic"] as! Double) <= 1e-6)
        #expect(relativeError(fitted.aic(x), expected["aic"] as! Double) <= 1e-6)
        #expect(fitted.iterations == expected["n_iter"] as! Int && fitted.converged)
        for (ours, theirs) in zip(fitted.weights, expected["weights"] as! [Double]) {
            #expect(abs(ours - theirs) < 1e-6)
        }
        for (c, row) in (expected["means"] as! [[Double]]).enumerated() {
            for (j, value) in row.enumerated() {
                #expect(abs(fitted.means[c, j] - value) < 1e-5, "component \(c)")
            }
        }
    }

    @Test(
        "Gaussian mixtures of every covariance type from k-means labels: EM never lowers the likelihood, and the simpler covariances count fewer parameters"
    )
    func gaussianMixtureKinds() throws {
        let x = try Shared.hasFixtures ? Shared.matrix("\(Self.fixture)/X.csv") : twoBlobs().0
        let k = Shared.hasFixtures ? 4 : 2
        var counts: [GaussianMixture.Covariance: Int] = [:]
        for kind in GaussianMixture.Covariance.allCases {
            var previous = -Double.infinity
            for iterations in 1...6 {
                let fitted = try GaussianMixture(
                    components: k, covariance: kind, tolerance: 0, maxIterations: iterations,
                    seed: 3
                ).fit(x)
                let likelihood = fitted.meanLogLikelihood(x)
                #expect(likelihood >= previous - 1e-9, "\(kind) iteration \(iterations)")
                previous = likelihood
                counts[kind] = fitted.parameterCount
            }
        }
        #expect(counts[.spherical]! < counts[.diagonal]! && counts[.diagonal]! <= counts[.full]!)
        // One component: the data's own mean and (regularised) covariance, as scikit-learn's k = 1.
        let single = try GaussianMixture(components: 1, covariance: .full).fit(x)
        #expect(single.weights == [1])
        for column in 0..<x.columns {
            let mean = x.column(column).reduce(0, +) / Double(x.rows)
            #expect(abs(single.means[0, column] - mean) < 1e-9)
        }
        #expect(throws: ClusteringError.self) {
            try GaussianMixture(components: 2).fit(
                Matrix(rowArrays: [[1, 2], [.nan, 1], [3, 4]]))
        }
    }

    @Test(
        "Mini-batch k-means: inertia within 2% of full k-means on blobs, the same result for the same seed, every cluster used"
    )
    func miniBatchAgainstFull() throws {
        var generator = SeededGenerator(seed: 5)
        let centres = (0..<6).map { _ in (0..<4).map { _ in generator.nextUnit() * 20 } }
        func gaussian() -> Double {
            (-2 * log(max(generator.nextUnit(), 1e-300))).squareRoot()
                * cos(2 * .pi * generator.nextUnit())
        }
        let n = 30_000
        var values: [Double] = []
        for i in 0..<n { for j in 0..<4 { values.append(centres[i % 6][j] + gaussian()) } }
        let x = Matrix(rows: n, columns: 4, values: values)
        let full = try KMeans(nInit: 3, seed: 1).fit(x, k: 6)
        let mini = try MiniBatchKMeans(seed: 1).fit(x, k: 6)
        #expect(
            mini.inertia <= full.inertia * 1.02,
            "mini-batch \(mini.inertia) vs full \(full.inertia)")
        #expect(try MiniBatchKMeans(seed: 1).fit(x, k: 6) == mini)
        #expect(Set(mini.labels).count == 6)
        #expect(throws: ClusteringError.self) { try MiniBatchKMeans().fit(x, k: n + 1) }
        // More centres than groups, duplicated rows, k = n: no segment is ever empty.
        let duplicated = Matrix(
            rows: 400, columns: 2, values: (0..<800).map { Double(($0 / 2) % 5) })
        #expect(
            Set(
                try MiniBatchKMeans(batchSize: 64, seed: 2).fit(
                    x.selecting(rows: Array(0..<2000)), k: 12
                ).labels
            ).count == 12)
        #expect(
            Set(try MiniBatchKMeans(batchSize: 64, seed: 2).fit(duplicated, k: 5).labels).count == 5
        )
        let tiny = Matrix(rowArrays: [[0, 0], [1, 0], [0, 1], [5, 5]])
        #expect(Set(try MiniBatchKMeans(seed: 1).fit(tiny, k: 4).labels).count == 4)
    }
}

@Suite("Ward as a model's algorithm")
struct WardClusteringTests {
    @Test(
        "One tree cut at every k; customers join their nearest segment mean; past max_rows a seeded sample builds the tree and the parameters say so"
    )
    func sweepAndSample() throws {
        // Four groups in 3 dimensions: Ward finds them, and the k-means step keeps them.
        var generator = SeededGenerator(seed: 3)
        let x = Matrix(
            rows: 300, columns: 3,
            values: (0..<900).map { i in Double((i / 3) % 4 * 4) + generator.nextGaussian() })
        let full = try WardClustering().fit(x, ks: [2, 3, 4])
        #expect(full.keys.sorted() == [2, 3, 4])
        let merges = try Ward().tree(x)
        for (k, clustering) in full {
            #expect(
                clustering.k == k && clustering.labels.count == 300
                    && Set(clustering.labels).count == k)
            // Training labels are what scoring gives: each customer's nearest centre.
            let nearest = (0..<300).map { row in
                Int32(
                    (0..<k).min { a, b in
                        (0..<3).reduce(0.0) {
                            $0 + pow(x[row, $1] - clustering.centroids[a, $1], 2)
                        }
                            < (0..<3).reduce(0.0) {
                                $0 + pow(x[row, $1] - clustering.centroids[b, $1], 2)
                            }
                    }!)
            }
            #expect(nearest == clustering.labels)
            // On grouped data the k-means step moves few customers off Ward's own clusters.
            #expect(
                AdjustedRandIndex.compute(clustering.labels, Ward.labels(merges, rows: 300, k: k))
                    > 0.9)
        }
        #expect(WardClustering().parameters(rows: 300)["sampled_rows"] == "none")
        let sampled = WardClustering(maximumRows: 100, seed: 9)
        let fit = try sampled.fit(x, k: 3)
        #expect(fit.labels.count == 300 && Set(fit.labels).count == 3)
        #expect(sampled.parameters(rows: 300)["sampled_rows"] == "100 of 300")
        let rows = SeededGenerator.distinctRows(300, 100, seed: 9)
        #expect(
            rows.count == 100 && Set(rows).count == 100 && rows == rows.sorted()
                && rows.allSatisfy { (0..<300).contains($0) })
        #expect(throws: ClusteringError.self) { try sampled.fit(x, k: 101) }
        // The tree's top for the report: 12 leaves covering every row, 11 merges up to the root.
        let tree = try #require(full[3]?.dendrogram)
        #expect(tree.leafSizes.count == 12 && tree.leafSizes.reduce(0, +) == 300)
        #expect(tree.merges.count == 11 && tree.merges.last?.size == 300)
        #expect(zip(tree.merges, tree.merges.dropFirst()).allSatisfy { $0.height <= $1.height })
        #expect(
            tree.merges.enumerated().allSatisfy { index, merge in
                merge.left < 12 + index && merge.right < 12 + index && merge.left != merge.right
            })
        // Cutting the top at 3 clusters gives Ward's own 3 clusters' sizes.
        let wardSizes = Dictionary(grouping: Ward.labels(merges, rows: 300, k: 3), by: { $0 })
            .values.map(\.count).sorted()
        let topNodes: Set<Int> = [12 + 9, 12 + 10]
        var topSizes: [Int] = []
        for merge in tree.merges.suffix(2) {
            for node in [merge.left, merge.right] where !topNodes.contains(node) {
                topSizes.append(node < 12 ? tree.leafSizes[node] : tree.merges[node - 12].size)
            }
        }
        topSizes.sort()
        #expect(topSizes == wardSizes)
    }
}

@Suite("Compare mode")
struct CompareModeTests {
    @Test(
        "Every listed algorithm is swept on the same features; the model keeps the rule's pick and the whole table; bad lists are refused"
    )
    func compareThree() throws {
        let csv = SampleDataGenerator(customers: 900, seed: 21).generate().csv
        var configuration = TrainingConfiguration()
        configuration.ks = Array(3...5)
        configuration.nInit = 2
        configuration.compareAlgorithms = [.kmeans, .minibatchKMeans, .ward]
        var events: [String] = []
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "s.csv", data: Data(csv.utf8))
        ]) {
            events.append($0.message)
        }
        let comparison = try #require(model.algorithm.comparison)
        #expect(
            comparison.candidates.map(\.method.rawValue) == ["kmeans", "minibatch_kmeans", "ward"])
        #expect(comparison.candidates.filter(\.chosen).count == 1)
        let best = comparison.candidates.map(\.silhouette).max()!
        let expected = comparison.candidates.first { $0.silhouette >= best - 0.005 }!
        let chosen = comparison.candidates.first(where: \.chosen)!
        #expect(chosen == expected)
        #expect(model.algorithm.method == chosen.method && model.k == chosen.chosenK)
        #expect(abs(model.kSelection.chosen.silhouette - chosen.silhouette) < 1e-12)
        #expect(
            comparison.candidates.allSatisfy { (3...5).contains($0.chosenK) && $0.seconds >= 0 })
        #expect(
            events.contains {
                $0.hasPrefix(
                    "compared kmeans, minibatch_kmeans, ward: kept \(chosen.method.rawValue)")
            })

        for bad: [ClusteringMethod] in [[.kmeans], [.kmeans, .kmeans]] {
            configuration.compareAlgorithms = bad
            #expect(throws: InputError.self) { try configuration.validate() }
        }
        // An unknown method ("optics") is not a ClusteringMethod: the type refuses it, and the API's
        // and the CLI's parsers refuse it by name (AlgorithmServerTests).
        #expect(AlgorithmComparison.pick(silhouettes: [0.40, 0.404, 0.39]) == 0)
        #expect(AlgorithmComparison.pick(silhouettes: [0.40, 0.41, 0.39]) == 1)
    }
}
