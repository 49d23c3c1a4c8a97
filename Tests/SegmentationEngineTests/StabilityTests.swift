import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Stability: how much to trust a segmentation")
struct StabilityTests {
    @Test(
        "Clear groups refit alike (mean ARI >= 0.9, every segment's Jaccard >= 0.8, no warning); structureless data does not"
    )
    func clearAndNoStructure() throws {
        let output = SampleDataGenerator(
            customers: 1200, groups: SampleDataGenerator.clearGroups, seed: 3, noise: true
        ).generate()
        var configuration = TrainingConfiguration()
        configuration.ks = [4]
        configuration.nInit = 5
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "clear.csv", data: Data(output.csv.utf8))
        ])
        let clear = try #require(model.stability)
        #expect(clear.seedRuns == 5 && clear.bootstrapRuns == 5 && clear.failedRuns == 0)
        #expect(clear.meanARI >= 0.9, "\(clear)")
        #expect(
            clear.segmentJaccard.count == 4 && clear.segmentJaccard.allSatisfy { $0 >= 0.8 },
            "\(clear)")
        #expect(clear.warnings(segmentNames: model.segments.map(\.name)).isEmpty)
        #expect(!(model.kSelection.warnings ?? []).contains { $0.contains("unstable") })

        // Uniform noise in four dimensions has no groups: k-means' partitions move with the seed and the sample.
        var rng = SplitMix64(seed: 9)
        let noise = Matrix(
            rows: 800, columns: 4,
            values: (0..<3200).map { _ in Double(rng.next() % 10_000) / 10_000 })
        let labels = try KMeans(nInit: 1, seed: 0).fit(noise, k: 6, cancellation: .never).labels
        let none = try #require(
            try StabilityCheck.measure(noise, labels: labels, k: 6, seed: 0) { x, seed in
                try KMeans(nInit: 1, seed: seed).fit(x, k: 6, cancellation: .never)
            })
        #expect(none.meanARI < clear.meanARI - 0.1, "\(none)")
        #expect(none.meanARI < StabilityReport.threshold, "\(none)")
        let warnings = none.warnings(segmentNames: (0..<6).map { "S\($0)" })
        #expect(warnings.first?.hasPrefix("unstable segmentation") == true, "\(warnings)")
    }

    @Test(
        "The contingency table's ARI equals the pairwise one; Jaccard of identical partitions is 1")
    func contingency() {
        var rng = SplitMix64(seed: 4)
        let a = (0..<500).map { _ in Int32(rng.next() % 4) },
            b = (0..<500).map { _ in Int32(rng.next() % 5) }
        #expect(
            abs(
                Contingency(a, k: 4, b, clusters: 5).adjustedRandIndex
                    - AdjustedRandIndex.compute(a, b)) < 1e-12)
        let same = Contingency(a, k: 4, a.map { 3 - $0 }, clusters: 4)
        #expect(abs(same.adjustedRandIndex - 1) < 1e-12)
        #expect((0..<4).allSatisfy { same.bestJaccard(of: $0) == 1 })
    }

    @Test("Stability can be turned off, and is bounded")
    func options() throws {
        var configuration = TrainingConfiguration()
        configuration.stabilityRuns = 51
        #expect(throws: InputError.self) { try configuration.validate() }
        configuration.stabilityRuns = 0
        configuration.ks = [3]
        let output = SampleDataGenerator(customers: 200, seed: 2).generate()
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "s.csv", data: Data(output.csv.utf8))
        ])
        #expect(model.stability == nil)
    }
}

@Suite("Algorithms that fit the data")
struct FitTheDataTests {
    @Test(
        "A discrete feature raises the mixture's regularisation; a segment that is one interior value is degenerate and passed over"
    )
    func discreteFeatures() {
        // Column 0: purchase-like counts 1...5 (discrete); column 1: continuous.
        var rng = SplitMix64(seed: 5)
        let rows = (0..<400).map { i -> [Double] in
            [Double(1 + i % 5), Double(rng.next() % 100_000) / 1000]
        }
        let x = Matrix(rowArrays: rows)
        #expect(DiscreteFeatures.regularization(x) == 0.25)  // (gap 1 / 2)^2
        #expect(DiscreteFeatures.regularization(Matrix(rowArrays: rows.map { [$0[1]] })) == 1e-6)
        #expect(
            DiscreteFeatures.describe(x, names: ["frequency", "spend"]) == [
                "frequency (5 values hold 100% of customers)"
            ])
        // Segment 1 is exactly the customers with 3: degenerate; all customers with 1 (the minimum) are a natural group.
        let onThree = rows.map { Int32($0[0] == 3 ? 1 : 0) }
        #expect(
            DiscreteFeatures.collapse(x, labels: onThree, k: 2, names: ["frequency", "spend"])
                == "segment 2 of 2 is exactly the customers at one value of frequency, not a group")
        #expect(
            DiscreteFeatures.collapse(x, labels: rows.map { Int32($0[0] == 1 ? 1 : 0) }, k: 2)
                == nil)
        func candidate(
            _ k: Int, _ silhouette: Double, _ bic: Double, degenerate: String? = nil
        ) -> KCandidate {
            KCandidate(
                k: k, inertia: 1, silhouette: silhouette, daviesBouldin: 1, calinskiHarabasz: 1,
                iterations: 1,
                smallestShare: 0.1, bic: bic, aic: bic, meanLogLikelihood: 0, degenerate: degenerate
            )
        }
        let selection = KChooser(method: .bic).choose([
            candidate(3, 0.3, 900),
            candidate(4, 0.2, 500, degenerate: "segment 2 of 4 is exactly ..."),
            candidate(5, 0.25, 800),
        ])
        #expect(selection.chosenK == 5)
        #expect(
            selection.warnings?.contains("k=4 was ruled out: segment 2 of 4 is exactly ...")
                == true, "\(selection.warnings ?? [])")
    }

    @Test("DBSCAN: a dense group under 1% of customers joins the Outliers, counted")
    func smallGroupsJoinOutliers() throws {
        var rng = SplitMix64(seed: 8)
        func jitter() -> Double { Double(rng.next() % 1000) / 1000 - 0.5 }
        var rows: [[Double]] = []
        for centre in [[0.0, 0.0], [10, 0], [0, 10]] {
            for _ in 0..<600 { rows.append([centre[0] + jitter(), centre[1] + jitter()]) }
        }
        // 8 of 1,808: 0.4%
        for _ in 0..<8 { rows.append([30 + jitter() / 10, 30 + jitter() / 10]) }
        let clustering = try DBSCANClustering(eps: 0.5, minSamples: 5).fit(
            Matrix(rowArrays: rows), k: 0, cancellation: .never)
        let model = try #require(clustering.density)
        #expect(clustering.k == 4)  // three groups and the Outliers
        #expect(model.smallGroupsJoined == 1)
        let outliers = try #require(model.outlierSegment)
        #expect(clustering.labels.suffix(8).allSatisfy { $0 == Int32(outliers) })
        #expect(
            DBSCANClustering(eps: 0.5, minSamples: 5).parameters(of: model, noise: 8)[
                "small_groups_joined"] == "1")
    }
}
