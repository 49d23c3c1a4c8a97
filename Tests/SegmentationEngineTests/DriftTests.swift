import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Drift: scored customers against the training data")
struct DriftTests {
    static let lapsedGroups = [
        SampleDataGenerator.Group(
            name: "gone", weight: 1, recencyDays: 250...370, orders: 1...1, orderValue: 20...60)
    ]

    static func model() throws -> (SegmentationModel, SampleDataGenerator.Output) {
        let output = SampleDataGenerator(customers: 1500, seed: 3).generate()
        var configuration = TrainingConfiguration()
        configuration.ks = [4]
        configuration.nInit = 2
        configuration.stabilityRuns = 0
        let model = try SegmentationTrainer(configuration: configuration)
            .train([.bytes(name: "s.csv", data: Data(output.csv.utf8))])
        return (model, output)
    }

    static func table(_ csv: String) throws -> TransactionTable {
        var loader = TransactionLoader()
        try loader.add(bytes: Array(csv.utf8), source: "s.csv")
        return try loader.finish().0
    }

    @Test("The PSI formula: equal shares give 0, a known shift its value")
    func formula() {
        #expect(
            DriftReport.populationStabilityIndex(actual: [0.5, 0.5], expected: [0.5, 0.5]) == 0)
        let psi = DriftReport.populationStabilityIndex(actual: [0.2, 0.8], expected: [0.5, 0.5])
        #expect(abs(psi - (-0.3 * log(0.4) + 0.3 * log(1.6))) < 1e-12)
        #expect(DriftReport.reading(0.05) == "stable" && DriftReport.reading(0.2) == "moderate")
        #expect(DriftReport.reading(0.3) == "shift")
    }

    @Test("The training data's deciles: each bin holds about a tenth of the training customers")
    func reference() throws {
        let (model, _) = try Self.model()
        let reference = try #require(model.driftReference)
        #expect(reference.features == model.pipeline.features)
        for (edges, shares) in zip(reference.edges, reference.shares) {
            #expect(shares.count == edges.count + 1)
            #expect(abs(shares.reduce(0, +) - 1) < 1e-9)
            #expect(edges == edges.sorted())
        }
        #expect(abs(reference.segmentShares.reduce(0, +) - 1) < 1e-9)
        // A continuous feature gets its ten deciles.
        let monetary = try #require(reference.features.firstIndex(of: "monetary"))
        #expect(reference.edges[monetary].count == 9)
        #expect(reference.shares[monetary].allSatisfy { abs($0 - 0.1) < 0.01 })
    }

    @Test("Traffic like the training data stays under 0.1; lapsed one-time buyers pass 0.25")
    func stableAndShifted() throws {
        let (model, output) = try Self.model()
        let reference = try #require(model.driftReference)
        let same = DriftTally(reference: reference)
        _ = try model.score(
            transactions: try Self.table(output.csv), snapshotDay: model.snapshotDay, drift: same)
        let stable = try #require(DriftReport(counts: same.snapshot, reference: reference))
        #expect(stable.customers == model.dataReport.customersOut)
        #expect(stable.largest < 0.01)  // the training customers themselves
        // New customers from the same mix: still stable.
        let fresh = SampleDataGenerator(customers: 1500, seed: 99).generate()
        let similar = DriftTally(reference: reference)
        _ = try model.score(transactions: try Self.table(fresh.csv), drift: similar)
        #expect(
            try #require(DriftReport(counts: similar.snapshot, reference: reference)).largest < 0.1)
        let lapsed = SampleDataGenerator(customers: 800, groups: Self.lapsedGroups, seed: 5)
            .generate()
        let shifted = DriftTally(reference: reference)
        _ = try model.score(transactions: try Self.table(lapsed.csv), drift: shifted)
        let report = try #require(DriftReport(counts: shifted.snapshot, reference: reference))
        #expect(report.largest > 0.25)
        let recency = try #require(report.features.first { $0.name == "recency" })
        #expect(recency.psi > 0.25)
        #expect(report.segments.psi > 0.25)
    }

    @Test("Counts add up, and counts of another shape are not mixed in")
    func counts() throws {
        var a = DriftCounts(customers: 2, bins: [[1, 1]], segments: [2, 0])
        a.add(DriftCounts(customers: 3, bins: [[0, 3]], segments: [1, 2]))
        #expect(a == DriftCounts(customers: 5, bins: [[1, 4]], segments: [3, 2]))
        a.add(DriftCounts(customers: 3, bins: [[0, 3, 0]], segments: [1, 2]))
        #expect(a.customers == 5)
    }
}
