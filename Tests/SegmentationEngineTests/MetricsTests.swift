import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Cluster metrics")
struct MetricsTests {
    static let cases = [
        "blobs_300x2_k3", "unequal_1000x4_k5", "noise_200x16_k6", "singleton_50x3_k4",
        "duplicates_60x2_k4", "online_retail_rfm_k4",
    ]

    @Test(
        "Agree with scikit-learn to 1e-9 relative",
        .enabled(if: Shared.hasFixtures, "../shared is absent: skipped"),
        arguments: cases)
    func scikitLearnFixtures(name: String) throws {
        let x = try Shared.matrix("fixtures/metrics/\(name)/X.csv")
        let labels = try Shared.labels("fixtures/metrics/\(name)/labels.csv")
        let expected = try Shared.json("fixtures/metrics/\(name)/expected.json")
        let samples = try ClusterMetrics.silhouetteSamples(x, labels: labels)
        let checks: [(String, Double, Double)] = [
            ("silhouette", Statistics.mean(samples), expected["silhouette"] as! Double),
            (
                "davies_bouldin", try ClusterMetrics.daviesBouldin(x, labels: labels),
                expected["davies_bouldin"] as! Double
            ),
            (
                "calinski_harabasz", try ClusterMetrics.calinskiHarabasz(x, labels: labels),
                expected["calinski_harabasz"] as! Double
            ),
            (
                "inertia", try ClusterMetrics.inertia(x, labels: labels),
                expected["inertia_about_label_means"] as! Double
            ),
        ]
        for (metric, ours, theirs) in checks {
            #expect(relativeError(ours, theirs) <= 1e-9, "\(name) \(metric): \(ours) vs \(theirs)")
        }
        let firstFive = expected["silhouette_samples_first5"] as! [Double]
        for (ours, theirs) in zip(samples.prefix(5), firstFive) {
            #expect(
                abs(ours - theirs) <= 1e-9 * max(1, abs(theirs)),
                "\(name) sample: \(ours) vs \(theirs)")
        }
    }

    @Test("Hand-checked two-blob case")
    func handChecked() throws {
        let (x, labels) = twoBlobs()
        // Point (0,0): a = mean(1, 1) = 1; b = mean(sqrt(200), sqrt(221), sqrt(221)).
        let b = (200.0.squareRoot() + 2 * 221.0.squareRoot()) / 3
        let samples = try ClusterMetrics.silhouetteSamples(x, labels: labels)
        #expect(abs(samples[0] - (b - 1) / b) < 1e-12)
        // Each blob's mean is a third of the way along both legs: squared distances 2/9, 5/9, 5/9 per blob.
        let inertia = try ClusterMetrics.inertia(x, labels: labels)
        #expect(abs(inertia - 2 * (2.0 / 9 + 5.0 / 9 + 5.0 / 9)) < 1e-12)
        #expect(try ClusterMetrics.daviesBouldin(x, labels: labels) < 0.1)
        #expect(try ClusterMetrics.calinskiHarabasz(x, labels: labels) > 100)
        // Renumbered labels give the same values.
        #expect(
            try ClusterMetrics.silhouette(x, labels: labels.map { $0 == 0 ? 7 : 3 })
                == Statistics.mean(samples))
    }

    @Test("One cluster, or one cluster per point, is refused with a clear error")
    func invalidLabelings() {
        let (x, _) = twoBlobs()
        #expect(throws: MetricsError.needsTwoClusters(found: 1, samples: 6)) {
            try ClusterMetrics.silhouette(x, labels: [0, 0, 0, 0, 0, 0])
        }
        #expect(throws: MetricsError.needsTwoClusters(found: 6, samples: 6)) {
            try ClusterMetrics.daviesBouldin(x, labels: [0, 1, 2, 3, 4, 5])
        }
        #expect(throws: MetricsError.lengthMismatch(rows: 6, labels: 2)) {
            try ClusterMetrics.calinskiHarabasz(x, labels: [0, 1])
        }
    }

    @Test("Sweeping several labelings at once equals one at a time")
    func sweepEqualsSingle() throws {
        var random = SeededGenerator(seed: 3)
        let x = Matrix(rows: 300, columns: 3, values: (0..<900).map { _ in random.nextGaussian() })
        let labelings: [[Int32]] = [2, 3, 5].map { k in (0..<300).map { Int32($0 % k) } }
        let together = try SilhouetteSweep.samples(x, labelings: labelings)
        for (t, labels) in labelings.enumerated() {
            #expect(together[t] == (try ClusterMetrics.silhouetteSamples(x, labels: labels)))
        }
    }

    @Test("Sampled silhouette is seeded and close to the exact one")
    func sampledSilhouette() throws {
        var random = SeededGenerator(seed: 5)
        let x = Matrix(
            rows: 2000, columns: 2,
            values: (0..<4000).map { i in random.nextGaussian() + (i / 2 < 1000 ? 0 : 6) })
        let labels = (0..<2000).map { Int32($0 < 1000 ? 0 : 1) }
        let exact = try ClusterMetrics.silhouette(x, labels: labels)
        let a = try ClusterMetrics.sampledSilhouette(x, labels: labels, sampleSize: 500, seed: 1)
        let b = try ClusterMetrics.sampledSilhouette(x, labels: labels, sampleSize: 500, seed: 1)
        #expect(a == b)
        #expect(abs(a - exact) < 0.03)
    }

    @Test("Adjusted Rand index: 1 up to renumbering, about 0 for unrelated partitions")
    func adjustedRand() {
        #expect(
            AdjustedRandIndex.compute([0, 0, 1, 1, 2, 2], ["b", "b", "a", "a", "c", "c"]) == 1)
        // scikit-learn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714285715
        #expect(
            abs(AdjustedRandIndex.compute([0, 0, 1, 1], [0, 0, 1, 2]) - 0.5714285714285715) < 1e-12)
        var random = SeededGenerator(seed: 9)
        let a = (0..<5000).map { _ in Int(random.next() % 4) }
        let b = (0..<5000).map { _ in Int(random.next() % 4) }
        #expect(abs(AdjustedRandIndex.compute(a, b)) < 0.01)
    }
}
