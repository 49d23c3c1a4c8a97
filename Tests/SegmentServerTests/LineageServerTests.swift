import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// Segments over time through the API: a retrained version continues its predecessor's segments,
/// and DiffModels says where customers moved.
@Suite("Segments over time through the API", .serialized, .timeLimit(.minutes(10)))
struct LineageServerTests {
    /// Clear groups without noise, so every customer's group is found again.
    static func period(
        _ harness: Harness, seed: UInt64
    ) throws -> (path: String, truth: [String: String]) {
        let output = SampleDataGenerator(
            customers: 500, groups: SampleDataGenerator.clearGroups, seed: seed, noise: false
        ).generate()
        let path = try harness.sideFile("period-\(seed).csv")
        try output.csv.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, output.groupOf)
    }

    @Test(
        "Retrained on the next period: segments keep their stable ids and a person's name, and the diff finds exactly who moved"
    )
    func continuityAndDiff() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (first, truth1) = try Self.period(harness, seed: 11)
        let (second, truth2) = try Self.period(harness, seed: 12)
        try await harness.withServer { services, _ in
            let d1 = try await services.upload(first)
            #expect(try await services.train(d1.id, model: "shop", ks: 4...4).state == .succeeded)
            let v1 = try await services.models.getModel(.with { $0.model = .init(text: "shop") })
                .model
            #expect(!v1.hasLineage)
            #expect(v1.segments.map(\.stableID) == [1, 2, 3, 4])
            let whales = try #require(
                v1.segments.max { $0.facts.medianSpend < $1.facts.medianSpend })
            _ = try await services.models.renameSegment(
                .with {
                    $0.model = .init(text: "shop"); $0.segmentID = whales.id
                    $0.newName = "Whales"; $0.author = "ana"
                })
            let d2 = try await services.upload(second)
            #expect(try await services.train(d2.id, model: "shop", ks: 4...4).state == .succeeded)
            let v3 = try await services.models.getModel(.with { $0.model = .init(text: "shop@3") })
                .model
            #expect(v3.lineage.previousVersion == 2)
            #expect(v3.lineage.unavailable.isEmpty)
            #expect(v3.lineage.matches.count == 4)
            #expect(v3.lineage.matches.allSatisfy { $0.kind == .matched })
            #expect(Set(v3.segments.map(\.stableID)) == [1, 2, 3, 4])
            let kept = try #require(v3.segments.first { $0.stableID == whales.stableID })
            #expect(kept.name == "Whales")
            #expect(v3.lineage.carried.count == 1 && v3.lineage.carried[0].carried)

            // Sizes over time: the trained versions only (the rename's copy is left out).
            let sizes = try await services.models.listSegmentSizes(.with { $0.name = "shop" })
            #expect(sizes.versions.map(\.version) == [1, 3])
            #expect(sizes.versions.allSatisfy { Set($0.segments.map(\.stableID)) == [1, 2, 3, 4] })
            #expect(
                sizes.versions[1].segments.map(\.customers).reduce(0, +) == Int64(truth2.count))
            let table = Models.Sizes.table(sizes)
            #expect(table.contains("@1") && table.contains("@3") && table.contains("Whales"))

            let diff = try await services.models.diffModels(
                .with {
                    $0.from = .init(text: "shop@2"); $0.to = .init(text: "shop@3")
                    $0.customerLimit = 1000
                })
            #expect(diff.fromVersion == 2 && diff.toVersion == 3)
            #expect(diff.customers == Int64(truth2.count))
            #expect(diff.assignedFromEarlierData == Int64(truth2.count))
            let moved = Set(truth2.keys.filter { truth1[$0] != truth2[$0] })
            #expect(diff.moved == Int64(moved.count))
            #expect(Set(diff.movedCustomers.map(\.customerID)) == moved)
            #expect(!diff.customersTruncated)
            #expect(diff.movement.counts.reduce(0, +) == diff.customers)
            #expect(diff.hasMovedValue && diff.movedValue > 0 && diff.movedValue < diff.totalValue)
            // The CSV rows add up to the customers, one row per pair with customers.
            let (header, rows) = DiffPrinter.pairRows(diff)
            #expect(
                Array(header.prefix(5)) == [
                    "from_segment_id", "from_segment", "to_segment_id", "to_segment", "customers",
                ])
            #expect(rows.map { Int($0[4])! }.reduce(0, +) == truth2.count)
            #expect(rows.contains { $0[1] == "Whales" && $0[3] == "Whales" })

            // Scoring everyone with @2 instead: same data, same segments, nobody moves.
            let rescored = try await services.models.diffModels(
                .with {
                    $0.from = .init(text: "shop@2"); $0.to = .init(text: "shop@3");
                    $0.rescore = true
                })
            #expect(rescored.assignedFromEarlierData == 0)
            #expect(rescored.moved == 0 && rescored.movedCustomers.isEmpty)
            #expect(
                AliasPreview.text(alias: "production", rescored).hasPrefix(
                    "production: 2 -> 3 would move 0 of the 500 customers"))
            // The same preview with the first period's segments scored on the second's data:
            // the customers of segments that do not continue are named, largest moves first.
            let behaviour = try await services.models.diffModels(
                .with {
                    $0.from = .init(text: "shop@2"); $0.to = .init(text: "shop@3")
                })
            let lines = AliasPreview.text(alias: "production", behaviour).split(separator: "\n")
            #expect(lines[0].contains("would move \(moved.count) of the 500 customers"))
            #expect(lines.count > 1)
        }
    }

    @Test(
        "The alias history says who moved which alias from what to what, newest first, in pages, and outlives a forced delete"
    )
    func aliasHistory() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200, seed: 2)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            for _ in 1...2 { _ = try await services.train(dataset.id, model: "h", ks: 3...3) }
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(text: "h@1"); $0.alias = "production"; $0.author = "ana"
                })
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(text: "h@2"); $0.alias = "production"; $0.author = "bob"
                })
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(text: "h@production"); $0.alias = "staging"
                })
            _ = try await services.models.deleteAlias(
                .with {
                    $0.name = "h"; $0.alias = "staging"; $0.author = "carol"
                })
            _ = try await services.models.deleteVersion(
                .with {
                    $0.model = .init(text: "h@2"); $0.force = true
                })
            let first = try await services.models.listAliasHistory(
                .with {
                    $0.name = "h"; $0.pageSize = 3
                })
            #expect(first.events.map(\.sequence) == [5, 4, 3])
            #expect(first.events[0].action == .removedWithVersion)
            #expect(first.events[0].previousVersion == 2 && first.events[0].alias == "production")
            #expect(first.events[1].action == .deleted && first.events[1].author == "carol")
            let rest = try await services.models.listAliasHistory(
                .with {
                    $0.name = "h"; $0.pageSize = 3; $0.pageToken = first.nextPageToken
                })
            #expect(rest.events.map(\.sequence) == [2, 1] && rest.nextPageToken.isEmpty)
            #expect(rest.events[0].previousVersion == 1 && rest.events[0].version == 2)
            #expect(rest.events[0].author == "bob" && rest.events[1].author == "ana")
            #expect(rest.events.allSatisfy { $0.peer.contains("127.0.0.1") && !$0.role.isEmpty })
            #expect(
                Models.History.change(rest.events[0]) == "1 -> 2"
                    && Models.History.change(first.events[0]) == "removed with version 2")
            let unknown = await statusCode {
                _ = try await services.models.listAliasHistory(.with { $0.name = "nosuch" })
            }
            #expect(unknown == .notFound)
            let long = await statusCode {
                _ = try await services.models.setAlias(
                    .with {
                        $0.model = .init(text: "h@1"); $0.alias = "x"
                        $0.author = String(repeating: "a", count: 201)
                    })
            }
            #expect(long == .invalidArgument)
        }
    }

    @Test(
        "A version continues the one that is latest when it is stored: a rename made while it trained is carried, and its stable ids follow"
    )
    func continuesTheLatestAtRegistration() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try Self.period(harness, seed: 21)
        let gate = StageGate()
        try await harness.withServer(hooks: ServerHooks(training: gate.observer)) { services, _ in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "race", ks: 4...4).state == .succeeded)
            gate.arm(.profiling)
            let submitted = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "race"; $0.datasetID = dataset.id
                        $0.kRange = .with {
                            $0.min = 4; $0.max = 4
                        }; $0.nInit = 3
                    }
                }
            ).job
            #expect(await gate.waitUntilHeld())
            // Renamed while the second training is held: @2 is a copy with the person's name.
            _ = try await services.models.renameSegment(
                .with {
                    $0.model = .init(text: "race@1"); $0.segmentID = 1; $0.newName = "Kept By Hand"
                })
            gate.letGo()
            #expect(try await services.waitForJob(submitted.id).state == .succeeded)
            let third = try await services.models.getModel(
                .with { $0.model = .init(text: "race@3") }
            ).model
            #expect(third.lineage.previousVersion == 2)
            #expect(third.segments.contains { $0.name == "Kept By Hand" })
            #expect(Set(third.segments.map(\.stableID)) == [1, 2, 3, 4])
        }
    }

    @Test("DiffModels refuses a bad customer limit and names an unknown version")
    func diffRefusals() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200, seed: 2)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "one", ks: 3...3)
            let tooMany = await statusCode {
                _ = try await services.models.diffModels(
                    .with {
                        $0.from = .init(text: "one@1"); $0.to = .init(text: "one")
                        $0.customerLimit = 50_001
                    })
            }
            #expect(tooMany == .invalidArgument)
            let unknown = await statusCode {
                _ = try await services.models.diffModels(
                    .with {
                        $0.from = .init(text: "one@9"); $0.to = .init(text: "one")
                    })
            }
            #expect(unknown == .notFound)
            let missing = await statusCode {
                _ = try await services.models.diffModels(.with { $0.to = .init(text: "one") })
            }
            #expect(missing == .invalidArgument)
        }
    }
}
