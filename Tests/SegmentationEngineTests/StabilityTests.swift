import Foundation
import Testing
@testable import SegmentationEngine

@Suite("Stability: how much to trust a segmentation")
struct StabilityTests {
    @Test("Clear groups refit alike (mean ARI >= 0.9, every segment's Jaccard >= 0.8, no warning); structureless data does not")
    func clearAndNoStructure() throws {
        let output = SampleDataGenerator(customers: 1200, groups: SampleDataGenerator.clearGroups, seed: 3, noise: true).generate()
        var configuration = TrainingConfiguration()
        configuration.ks = [4]
        configuration.nInit = 5
        let model = try SegmentationTrainer(configuration: configuration).train([.bytes(name: "clear.csv", data: Data(output.csv.utf8))])
        let clear = try #require(model.stability)
        #expect(clear.seedRuns == 5 && clear.bootstrapRuns == 5 && clear.failedRuns == 0)
        #expect(clear.meanARI >= 0.9, "\(clear)")
        #expect(clear.segmentJaccard.count == 4 && clear.segmentJaccard.allSatisfy { $0 >= 0.8 }, "\(clear)")
        #expect(clear.warnings(segmentNames: model.segments.map(\.name)).isEmpty)
        #expect(!(model.kSelection.warnings ?? []).contains { $0.contains("unstable") })

        // Uniform noise in four dimensions has no groups: k-means' partitions move with the seed and the sample.
        var rng = SplitMix64(seed: 9)
        let noise = Matrix(rows: 800, columns: 4, values: (0..<3200).map { _ in Double(rng.next() % 10_000) / 10_000 })
        let labels = try KMeans(nInit: 1, seed: 0).fit(noise, k: 6, cancellation: .never).labels
        let none = try #require(try StabilityCheck.measure(noise, labels: labels, k: 6, seed: 0) { x, seed in
            try KMeans(nInit: 1, seed: seed).fit(x, k: 6, cancellation: .never)
        })
        #expect(none.meanARI < clear.meanARI - 0.1, "\(none)")
        #expect(none.meanARI < StabilityReport.threshold, "\(none)")
        let warnings = none.warnings(segmentNames: (0..<6).map { "S\($0)" })
        #expect(warnings.first?.hasPrefix("unstable segmentation") == true, "\(warnings)")
    }

    @Test("The contingency table's ARI equals the pairwise one; Jaccard of identical partitions is 1")
    func contingency() {
        var rng = SplitMix64(seed: 4)
        let a = (0..<500).map { _ in Int32(rng.next() % 4) }, b = (0..<500).map { _ in Int32(rng.next() % 5) }
        #expect(abs(Contingency(a, k: 4, b, clusters: 5).adjustedRandIndex - AdjustedRandIndex.compute(a, b)) < 1e-12)
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
        let model = try SegmentationTrainer(configuration: configuration).train([.bytes(name: "s.csv", data: Data(output.csv.utf8))])
        #expect(model.stability == nil)
    }
}
