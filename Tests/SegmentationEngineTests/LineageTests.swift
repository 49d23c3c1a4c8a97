import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Segments over time: matching versions and movement")
struct LineageTests {
    static func configuration(k: Int, seed: UInt64 = 0) -> TrainingConfiguration {
        var configuration = TrainingConfiguration()
        configuration.ks = [k]
        configuration.nInit = 4
        configuration.seed = seed
        configuration.stabilityRuns = 0
        return configuration
    }

    static func train(
        _ csv: String, k: Int, seed: UInt64 = 0
    ) throws -> (SegmentationModel, SegmentationTrainer.PreparedData) {
        let trainer = SegmentationTrainer(configuration: configuration(k: k, seed: seed))
        let data = try trainer.prepare([.bytes(name: "sample.csv", data: Data(csv.utf8))])
        return (try trainer.train(data), data)
    }

    static func clearData(seed: UInt64, customers: Int = 600) -> SampleDataGenerator.Output {
        SampleDataGenerator(
            customers: customers, groups: SampleDataGenerator.clearGroups, seed: seed, noise: false
        ).generate()
    }

    @Test("The optimal assignment finds the cheapest one-to-one pairing, rectangular too")
    func optimalAssignment() {
        #expect(OptimalAssignment.solve([[4, 1, 3], [2, 0, 5], [3, 2, 2]]) == [1, 0, 2])
        #expect(OptimalAssignment.solve([[1, 9], [9, 1], [0.5, 0.4]]) == [0, nil, 1])
        #expect(OptimalAssignment.solve([[5, 1, 9]]) == [1])
    }

    @Test("Identical data and seed: every segment matches itself, ids and a person's wording kept")
    func identity() throws {
        let csv = Self.clearData(seed: 4).csv
        let (first, _) = try Self.train(csv, k: 4)
        #expect(first.segments.map(\.stableID) == [1, 2, 3, 4])
        let renamed = try first.editingSegment(
            2, name: "Our Whales", description: "Kept by hand.", actions: ["Call them"],
            author: "ana")
        let (second, data) = try Self.train(csv, k: 4)
        let next = try second.continuing(from: renamed, previousVersion: 2, on: data)
        let lineage = try #require(next.lineage)
        #expect(lineage.unavailable == nil)
        #expect(lineage.matches.count == 4)
        #expect(lineage.matches.allSatisfy { $0.kind == .matched && $0.overlap == 1 })
        #expect(lineage.matches.allSatisfy { $0.previousID == $0.currentID })
        #expect(next.segments.map(\.stableID) == [1, 2, 3, 4])
        #expect(lineage.stayedShare == 1)
        #expect(lineage.nextStableID == 5)
        #expect(next.segments[2].name == "Our Whales")
        #expect(next.segments[2].generatedName == first.segments[2].generatedName)
        #expect(next.segments[2].description == "Kept by hand.")
        #expect(next.segments[2].actions == ["Call them"])
        #expect(lineage.carried.count == 1 && lineage.carried[0].carried)
        // Recorded again on this version, so the training after it carries them too.
        #expect(next.annotations.filter { $0.segmentID == 2 }.count == 3)
        let (third, _) = try Self.train(csv, k: 4)
        let after = try third.continuing(from: next, previousVersion: 3, on: data)
        #expect(after.segments[2].name == "Our Whales")
    }

    @Test("k from 4 to 5: four segments continue and one is new with a fresh stable id")
    func oneNewSegment() throws {
        let csv = Self.clearData(seed: 5).csv
        let (four, _) = try Self.train(csv, k: 4)
        let (five, data) = try Self.train(csv, k: 5)
        let next = try five.continuing(from: four, previousVersion: 1, on: data)
        let lineage = try #require(next.lineage)
        #expect(lineage.matches.filter { $0.kind == .matched }.count == 4)
        let new = lineage.matches.filter { $0.kind == .new }
        #expect(new.count == 1)
        #expect(lineage.matches.filter { $0.kind == .retired }.isEmpty)
        let newSegment = try #require(next.segments.first { $0.id == new[0].currentID })
        #expect(newSegment.stableID == 5)
        #expect(Set(next.segments.compactMap(\.stableID)) == [1, 2, 3, 4, 5])
        // Back to 4: one retired, and a stable id is never reused.
        let again = try four.continuing(from: next, previousVersion: 2, on: data)
        let back = try #require(again.lineage)
        #expect(back.matches.filter { $0.kind == .retired }.count == 1)
        #expect(back.nextStableID == 6)
    }

    @Test("A person's name whose facts no longer hold is not carried, and the lineage says why")
    func contradictedNameNotCarried() throws {
        let csv = Self.clearData(seed: 6).csv
        let (first, data) = try Self.train(csv, k: 4)
        let renamed = try first.editingSegment(0, name: "Best Friends", author: "ana")
        var changed = first
        let before = changed.segments[0].generatedName
        let other = changed.segments.first {
            !SegmentationModel.sameClaims($0.generatedName, before)
        }
        changed.segments[0].generatedName = try #require(other).generatedName
        changed.segments[0].name = changed.segments[0].generatedName + " 2"
        let next = try changed.continuing(from: renamed, previousVersion: 2, on: data)
        let lineage = try #require(next.lineage)
        #expect(next.segments[0].name != "Best Friends")
        let note = try #require(lineage.carried.first)
        #expect(!note.carried && note.personName == "Best Friends")
        #expect(note.reason?.contains(before) == true)
        #expect(!next.annotations.contains { $0.newValue == "Best Friends" })
    }

    @Test("Generated names read as the same claims despite the words that only tell apart")
    func sameClaims() {
        #expect(SegmentationModel.sameClaims("Lapsed, Low-Value", "Low-Value, Lapsed 2"))
        #expect(SegmentationModel.sameClaims("Frequent Buyers (More Recent)", "Frequent Buyers"))
        #expect(!SegmentationModel.sameClaims("Frequent Buyers", "Lapsed Frequent Buyers"))
    }

    @Test("Customers moved between groups between two periods: the diff finds exactly them")
    func knownMovement() throws {
        let p1 = Self.clearData(seed: 11), p2 = Self.clearData(seed: 12)
        let (a, dataA) = try Self.train(p1.csv, k: 4)
        let (b, dataB) = try Self.train(p2.csv, k: 4)
        // The earlier version's own view of the customers it was trained on.
        let own = try a.scoreBatch(
            customerIDs: dataA.features.customerIDs, columns: a.pipeline.features,
            values: try dataA.features.selecting(features: a.pipeline.features))
        let earlier = Dictionary(
            uniqueKeysWithValues: zip(dataA.features.customerIDs, own.segmentIDs))
        let comparison = try VersionComparison.compare(a, b, on: dataB, earlier: earlier)
        #expect(comparison.assignedFromEarlierData == dataB.features.count)
        // Each segment is one generated group: name the segments by their group.
        func groups(_ ids: [Int32], _ truth: [String: String]) -> [Int32: String] {
            var votes: [Int32: [String: Int]] = [:]
            for (i, id) in comparison.customerIDs.enumerated() {
                votes[ids[i], default: [:]][truth[id]!, default: 0] += 1
            }
            return votes.mapValues { $0.max { $0.value < $1.value }!.key }
        }
        let groupA = groups(comparison.fromIDs, p1.groupOf)
        let groupB = groups(comparison.toIDs, p2.groupOf)
        #expect(Set(groupA.values).count == 4 && Set(groupB.values).count == 4)
        var expected: [String: Int] = [:], found: [String: Int] = [:]
        for (i, id) in comparison.customerIDs.enumerated() {
            expected["\(p1.groupOf[id]!)>\(p2.groupOf[id]!)", default: 0] += 1
            found[
                "\(groupA[comparison.fromIDs[i]]!)>\(groupB[comparison.toIDs[i]]!)", default: 0] +=
                1
        }
        #expect(found == expected)
        // The matching pairs the segments of the same group, so the moved customers are exactly
        // those whose group changed.
        for match in comparison.matches {
            #expect(match.kind == .matched)
            #expect(groupA[Int32(match.previousID!)] == groupB[Int32(match.currentID!)])
        }
        let moved = Set(comparison.movedCustomers.map { comparison.customerIDs[$0] })
        let truth = Set(comparison.customerIDs.filter { p1.groupOf[$0] != p2.groupOf[$0] })
        #expect(moved == truth)
        #expect(comparison.movement.customers == dataB.features.count)
    }

    @Test("Versions of different kinds cannot be matched: every segment is new, and why is said")
    func incomparable() throws {
        let (a, _) = try Self.train(Self.clearData(seed: 4).csv, k: 3)
        var b = a
        b.kind = .customers
        let (_, data) = try Self.train(Self.clearData(seed: 4).csv, k: 3)
        let next = try b.continuing(from: a, previousVersion: 1, on: data)
        #expect(next.lineage?.unavailable?.contains("cannot assign the same customers") == true)
        #expect(next.segments.map(\.stableID) == [4, 5, 6])
    }
}
