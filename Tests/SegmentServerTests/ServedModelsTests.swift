import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

@Suite(
    "One write path: what is stored and what is served agree", .serialized, .timeLimit(.minutes(10))
)
struct ServedModelsTests {
    /// The stored aliases and versions equal the served ones, and Score on every alias serves
    /// the stored version.
    static func expectAgreement(
        _ services: Services, _ server: SegmentationServer, model: String
    ) async throws {
        let stored = try await server.registry.aliases().filter { $0.model == model }
        let storedAliases = Dictionary(uniqueKeysWithValues: stored.map { ($0.alias, $0.version) })
        #expect(server.models.aliases(of: model) == storedAliases)
        let storedVersions = Set(try await server.registry.versions(of: model).map(\.version))
        #expect(server.models.versions(of: model) == storedVersions)
        let listed = try await services.models.listModels(.init()).models.first { $0.name == model }
        #expect(listed?.aliases.mapValues(Int.init) == storedAliases)
        for (alias, version) in storedAliases {
            #expect(
                storedVersions.contains(version),
                "alias \(alias) points at a deleted version \(version)")
            let scored = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "\(model)@\(alias)")
                    $0.features = .with {
                        $0.featureNames = ["recency", "frequency", "monetary", "avg_order_value"];
                        $0.rows = [.with { $0.values = [10, 2, 100, 50] }]
                    }
                })
            #expect(Int(scored.modelVersion) == version)
        }
    }

    @Test(
        "Concurrent alias switches, forced deletes, renames and trainings leave one consistent registry, before and after a restart"
    )
    func concurrentWrites() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300)
        // The injected registry delays every write's return by a random few milliseconds.
        try await harness.withServer(maximumJobs: 2, jittery: true) { services, server in
            let dataset = try await services.upload(path)
            for _ in 0..<3 {
                #expect(
                    try await services.train(dataset.id, model: "shop", ks: 3...3, nInit: 1).state
                        == .succeeded)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<24 {
                    group.addTask {
                        _ = try await services.models.setAlias(
                            .with {
                                $0.model = .init(name: "shop", version: Int(Int32(1 + i % 2)));
                                $0.alias = "prod"
                            })
                    }
                    group.addTask {
                        _ = try? await services.models.setAlias(
                            .with {
                                $0.model = .init(name: "shop", version: Int(3)); $0.alias = "canary"
                            })
                    }
                }
                group.addTask {
                    _ = try? await services.models.deleteVersion(
                        .with {
                            $0.model = .init(name: "shop", version: 3); $0.force = true
                        })
                }
                for i in 0..<4 {
                    group.addTask {
                        _ = try await services.models.renameSegment(
                            .with {
                                $0.model = .init(text: "shop@1"); $0.segmentID = 0;
                                $0.newName = "Renamed \(i)"
                            })
                    }
                }
                group.addTask {
                    _ = try await services.train(dataset.id, model: "shop", ks: 3...3, nInit: 1)
                }
                try await group.waitForAll()
            }
            try await Self.expectAgreement(services, server, model: "shop")
        }
        try await harness.withServer { services, server in
            try await Self.expectAgreement(services, server, model: "shop")
        }
    }

    @Test(
        "The server runs unchanged on an in-memory registry; changes another replica makes reach scoring through refresh(model:)"
    )
    func inMemoryRegistryAndRefresh() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200)
        let registry = InMemoryRegistry()
        try await harness.withServer(registry: registry) { services, server in
            let dataset = try await services.upload(path)
            for _ in 0..<2 {
                #expect(
                    try await services.train(dataset.id, model: "mem", ks: 3...3, nInit: 1).state
                        == .succeeded)
            }
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(name: "mem", version: Int(1)); $0.alias = "prod"
                })
            _ = try await services.models.renameSegment(
                .with {
                    $0.model = .init(text: "mem@1"); $0.segmentID = 0; $0.newName = "Our Best"
                })
            #expect(
                try await services.models.listVersions(.with { $0.name = "mem" }).versions.map(
                    \.version) == [1, 2, 3])
            #expect(
                await statusCode {
                    _ = try await services.models.deleteVersion(
                        .with { $0.model = .init(name: "mem", version: 1) })
                } == .failedPrecondition)
            try await Self.expectAgreement(services, server, model: "mem")

            // Another replica moves the alias and registers a version behind this server's back.
            _ = try await registry.setAlias("mem", alias: "prod", version: 2)
            let model = try SegmentationModel(serialized: try await registry.modelBytes("mem", 2))
            let added = try await registry.addVersion(
                NewVersion(
                    name: "mem", model: model, modelBytes: try model.serialized(),
                    datasetID: dataset.id, jobID: nil, parentVersion: 2),
                completing: nil)
            // Not yet seen: the view still serves what it loaded.
            #expect(server.models.aliases(of: "mem")["prod"] == 1)
            try await server.models.refresh(model: "mem")
            #expect(server.models.versions(of: "mem") == [1, 2, 3, added.version])
            try await Self.expectAgreement(services, server, model: "mem")
            let latest = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "mem")
                    $0.features = .with {
                        $0.featureNames = ["recency", "frequency", "monetary", "avg_order_value"];
                        $0.rows = [.with { $0.values = [10, 2, 100, 50] }]
                    }
                })
            #expect(Int(latest.modelVersion) == added.version)
            // A version deleted elsewhere stops being served once refreshed.
            _ = try await registry.deleteVersion("mem", added.version, force: true)
            try await server.models.refresh(model: "mem")
            #expect(
                await statusCode {
                    _ = try await services.models.getModel(
                        .with { $0.model = .init(text: "mem@\(added.version)") })
                } == .notFound)
        }
    }

    @Test(
        "A model cache smaller than one model still serves every version (decoded again when evicted)"
    )
    func boundedCache() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200)
        try await harness.withServer(modelCacheBytes: 1) { services, server in
            let dataset = try await services.upload(path)
            for _ in 0..<2 {
                _ = try await services.train(dataset.id, model: "small", ks: 3...3, nInit: 1)
            }
            for reference in ["small@1", "small@2", "small@1", "small"] {
                #expect(
                    try await services.models.getModel(.with { $0.model = .init(text: reference) })
                        .model.segments.count == 3)
            }
        }
    }
}
