import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// Drift of live scoring through the API and the metrics, on SQLite and on two servers sharing
/// PostgreSQL.
@Suite("Drift of live scoring", .serialized, .timeLimit(.minutes(10)))
struct DriftServerTests {
    static let lapsed = [
        SampleDataGenerator.Group(
            name: "gone", weight: 1, recencyDays: 250...370, orders: 1...1, orderValue: 20...60)
    ]

    /// Scores a CSV of generated transactions with `reference`.
    static func score(
        _ services: Services, _ reference: String, customers: Int, seed: UInt64,
        groups: [SampleDataGenerator.Group] = SampleDataGenerator.realisticGroups
    ) async throws {
        let csv = SampleDataGenerator(customers: customers, groups: groups, seed: seed).generate()
            .csv
        _ = try await services.scoring.score(
            .with {
                $0.model = .init(text: reference)
                $0.csv = .with { $0.data = Data(csv.utf8) }
            }, options: largeResponses)
    }

    static func gauge(_ server: SegmentationServer, version: Int, feature: String) -> Double? {
        let text = String(decoding: server.metrics.registry.emitToBuffer(), as: UTF8.self)
        return parseExposition(text)[
            Sample(
                name: "segment_drift_psi",
                labels: ["model": "live", "version": String(version), "feature": feature])]
    }

    @Test(
        "Traffic from the training mix stays under 0.1; lapsed one-time buyers pass 0.25, raise the gauge and warn in models show"
    )
    func stableAndShifted() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 1500, seed: 3)
        try await harness.withServer { services, server in
            let dataset = try await services.upload(path)
            for _ in 1...2 { _ = try await services.train(dataset.id, model: "live", ks: 4...4) }
            let none = try await services.models.getDrift(
                .with { $0.model = .init(text: "live@1") })
            #expect(none.unavailable.contains("no scoring of this version was counted"))
            try await Self.score(services, "live@1", customers: 1200, seed: 41)
            try await Self.score(services, "live@2", customers: 800, seed: 5, groups: Self.lapsed)
            let stable = try await services.models.getDrift(
                .with { $0.model = .init(text: "live@1") })
            #expect(stable.unavailable.isEmpty && stable.customers == 1200)
            #expect(stable.largestPsi < 0.1 && stable.reading == "stable")
            #expect(stable.hours.count == 1 && stable.hours[0].customers == 1200)
            let shifted = try await services.models.getDrift(
                .with {
                    $0.model = .init(text: "live@2"); $0.sinceHours = 168
                })
            #expect(shifted.customers == 800 && shifted.sinceHours == 168)
            #expect(shifted.largestPsi > 0.25 && shifted.reading == "shift")
            #expect(shifted.features.first { $0.name == "recency" }!.psi > 0.25)
            #expect((Self.gauge(server, version: 2, feature: "recency") ?? 0) > 0.25)
            #expect((Self.gauge(server, version: 1, feature: "recency") ?? 1) < 0.1)
            #expect(DriftPrinter.warning(shifted)?.contains("has shifted") == true)
            #expect(DriftPrinter.warning(stable) == nil)
            let bad = await statusCode {
                _ = try await services.models.getDrift(
                    .with {
                        $0.model = .init(text: "live"); $0.sinceHours = 5000
                    })
            }
            #expect(bad == .invalidArgument)
        }
        // Stored: a restarted server still reads the windows.
        try await harness.withServer { services, _ in
            let again = try await services.models.getDrift(
                .with { $0.model = .init(text: "live@2") })
            #expect(again.customers == 800)
        }
    }

    @Test(
        "Two servers on one PostgreSQL registry: their scoring adds up in the same windows",
        .enabled(
            if: Backend.postgresURL != nil, "no PostgreSQL (scripts/test.sh starts one): skipped"))
    func replicasAddUp() async throws {
        try await SharedRegistryTests.withTwoServers(sample: (800, 3)) { servers in
            let (path, a, b, serverB) = (servers.path, servers.a, servers.b, servers.serverB)
            do {
                let dataset = try await a.upload(path)
                #expect(try await a.train(dataset.id, model: "live", ks: 3...3).state == .succeeded)
                let seen = await SharedRegistryTests.within(10) {
                    (try? await b.models.getModel(.with { $0.model = .init(text: "live@1") }))
                        != nil
                }
                #expect(seen != nil)
                try await Self.score(a, "live@1", customers: 300, seed: 7, groups: Self.lapsed)
                try await Self.score(b, "live@1", customers: 200, seed: 8, groups: Self.lapsed)
                try await Self.score(b, "live@1", customers: 100, seed: 9, groups: Self.lapsed)
                // A flushes its own counts when asked; B's reach the registry on its own flush.
                await serverB.drift.flush()
                let drift = try await a.models.getDrift(.with { $0.model = .init(text: "live@1") })
                #expect(drift.customers == 600)
                #expect(drift.largestPsi > 0.25)
            }
        }
    }
}
