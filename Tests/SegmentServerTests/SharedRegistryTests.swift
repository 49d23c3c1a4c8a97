import Foundation
import Logging
import PostgresNIO
import SegmentationAPI
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer
@testable import SegmentationEngine

@Suite("Two servers on one PostgreSQL registry", .serialized, .timeLimit(.minutes(10)))
struct SharedRegistryTests {
    /// Polls `check` every 20 ms for up to `seconds`; the seconds it took, or nil if it never held.
    /// Two servers on one fresh PostgreSQL database and one datasets folder, with a sample file.
    struct TwoServers: Sendable {
        var path: String
        var settings: PostgresSettings
        var a: Services
        var serverA: SegmentationServer
        var b: Services
        var serverB: SegmentationServer
    }

    /// Runs `body` with two servers (`TwoServers`), the sample of `sample` (customers, seed).
    static func withTwoServers(
        sample: (customers: Int, seed: UInt64),
        _ body: @escaping @Sendable (TwoServers) async throws -> Void
    ) async throws {
        let (settings, cleanup) = try await Backend.freshDatabase()
        defer { Task { await cleanup() } }
        let (first, second) = (try Harness(), try Harness())
        defer { first.remove(); second.remove() }
        let (path, _) = try first.sampleFile(customers: sample.customers, seed: sample.seed)
        let datasets = first.dataDirectory + "-shared-datasets"
        defer { try? FileManager.default.removeItem(atPath: datasets) }
        try await first.withServer(configure: {
            $0.postgres = settings; $0.datasetsDirectory = datasets
        }) { a, serverA in
            try await second.withServer(configure: {
                $0.postgres = settings; $0.datasetsDirectory = datasets
            }) { b, serverB in
                try await body(
                    TwoServers(
                        path: path, settings: settings, a: a, serverA: serverA, b: b,
                        serverB: serverB))
            }
        }
    }

    static func within(_ seconds: Double, _ check: () async -> Bool) async -> Double? {
        let start = ContinuousClock.now
        while (ContinuousClock.now - start) < .seconds(seconds) {
            if await check() { return (ContinuousClock.now - start) / .seconds(1) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test(
        "A slow database, not a down one: a SetAlias whose statements each wait under the bound but end past it answers UNAVAILABLE at the bound and is rolled back, never committed late",
        .enabled(
            if: Backend.postgresURL != nil, "no PostgreSQL (scripts/test.sh starts one): skipped"))
    func slowDatabaseNeverCommitsLate() async throws {
        let (fresh, cleanup) = try await Backend.freshDatabase()
        defer { Task { await cleanup() } }
        var settings = fresh
        settings.callTimeout = .seconds(2)
        // Set up and read back with the suite's roomy bound; only the SetAlias under test has 2 s.
        let reader = try await PostgresRegistry(settings: fresh, logger: Logger(label: "slow"))
        _ = try await reader.addVersion(try RegistryContractTests().version("m"), completing: nil)
        let registry = try await PostgresRegistry(settings: settings, logger: Logger(label: "slow"))
        let admin = PostgresClient(
            configuration: .init(
                host: settings.host, port: settings.port, username: settings.username,
                password: settings.password, database: settings.database, tls: .disable))
        let locked = LockCount()
        let adminRun = Task { await admin.run() }  // stopped without waiting, as in Backend.running
        defer { adminRun.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Two transactions hold the two tables SetAlias reads: versions for 1.5 s, aliases for
            // 3 s. Each of its waits (1.5 s) is under the 2 s lock timeout; together they pass the bound.
            for (table, seconds) in [("versions", 1.5), ("aliases", 3.0)] {
                group.addTask { @Sendable in
                    try await admin.withConnection { connection in
                        try await connection.query(
                            PostgresQuery(unsafeSQL: "BEGIN"), logger: Logger(label: "admin"))
                        try await connection.query(
                            PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN EXCLUSIVE MODE"),
                            logger: Logger(label: "admin"))
                        locked.count.withLock { $0 += 1 }
                        try await Task.sleep(for: .seconds(seconds))
                        try await connection.query(
                            PostgresQuery(unsafeSQL: "COMMIT"), logger: Logger(label: "admin"))
                    }
                }
            }
            #expect(await Self.within(10) { locked.count.withLock { $0 } == 2 } != nil)
            let start = ContinuousClock.now
            await #expect(throws: RegistryError.self) {
                _ = try await registry.setAlias("m", alias: "prod", version: 1)
            }
            let took = (ContinuousClock.now - start) / .seconds(1)
            // The bound, plus scheduling beside the whole suite on two cores (6.3 s seen in CI here).
            #expect(took < 12, "SetAlias answered after \(took) s (bound 2 s)")
            // both locks gone, the transaction long finished
            try await Task.sleep(for: .seconds(4))
            #expect(
                try await reader.aliases().isEmpty,
                "the SetAlias that failed was committed after all")
            // the database is fine again
            _ = try await reader.setAlias("m", alias: "prod", version: 1)
            #expect(try await reader.aliases().map(\.alias) == ["prod"])
            group.cancelAll()
        }
    }

    @Test(
        "A shutdown that lands while the shared queue is claiming ends at once (it once waited for ever for the slot the empty claim gave back)",
        .enabled(
            if: Backend.postgresURL != nil, "no PostgreSQL (scripts/test.sh starts one): skipped"))
    func shutdownDuringAClaim() async throws {
        let (settings, cleanup) = try await Backend.freshDatabase()
        defer { Task { await cleanup() } }
        let harness = try Harness()
        defer { harness.remove() }
        let registry = HeldClaimsRegistry(
            base: try await PostgresRegistry(settings: settings, logger: Logger(label: "held")))
        try await harness.withServer(registry: registry) { _, server in
            registry.hold.withLock { $0 = true }
            #expect(
                await Self.within(10) { registry.claimWaiting.withLock { $0 } } != nil,
                "no claim started within 10 s")
            let finished = Mutex(false)
            let shutdown = Task {
                await server.jobs.shutdown()
                finished.withLock { $0 = true }
            }
            try await Task.sleep(for: .milliseconds(200))
            // the claim goes on, finds no job, gives its slot back
            registry.hold.withLock { $0 = false }
            let took = await Self.within(10) { finished.withLock { $0 } }
            #expect(took != nil, "the shutdown still waited 10 s after the empty claim ended")
            if took == nil { shutdown.cancel() }
        }
    }

    @Test(
        "Uploaded to A, trained on B (a shared datasets folder), aliased on B, deleted on A: each change served by the other (well before the 30 s re-read); both score alike",
        .enabled(
            if: Backend.postgresURL != nil, "no PostgreSQL (scripts/test.sh starts one): skipped"))
    func changesReachTheOtherServer() async throws {
        try await Self.withTwoServers(sample: (300, 13)) { servers in
            let (path, settings, a, b) = (servers.path, servers.settings, servers.a, servers.b)
            do {
                func version(_ services: Services, _ text: String) async -> Int32? {
                    try? await services.models.getModel(.with { $0.model = .init(text: text) })
                        .model.version.version
                }
                let dataset = try await a.upload(path)
                #expect(
                    try await b.train(dataset.id, model: "shared", ks: 3...3).state == .succeeded)
                // The 1 s promise is measured where nothing else runs, on the local cluster
                // (scripts/test-cluster.sh: about 0.05 s); here, beside the whole suite on two
                // cores, the test asks that each change arrives, within a bound no feed-less
                // server would meet (its 30 s catalog re-read).
                let seen = await Self.within(10) { await version(a, "shared") == 1 }
                #expect(seen != nil, "A did not serve shared@1 within 10 s")

                _ = try await b.models.setAlias(
                    .with {
                        $0.model = .init(name: "shared", version: 1); $0.alias = "prod"
                    })
                #expect(
                    await Self.within(10) { await version(a, "shared@prod") == 1 } != nil,
                    "A did not see the alias within 10 s")

                let row = Segmentation_V1_FeatureRows.with {
                    $0.featureNames = ["recency", "frequency", "monetary", "avg_order_value"]
                    $0.rows = [
                        .with {
                            $0.customerID = "x"; $0.values = [10, 3, 300, 100]
                        }
                    ]
                }
                let onA = try await a.scoring.score(
                    .with {
                        $0.model = .init(text: "shared@prod"); $0.features = row
                    })
                let onB = try await b.scoring.score(
                    .with {
                        $0.model = .init(text: "shared@prod"); $0.features = row
                    })
                #expect(onA.scores == onB.scores && onB.modelVersion == 1)

                // The feeds' connections cut (a failover, a restart of PostgreSQL's backends): a
                // change made meanwhile still arrives, by the re-read after reconnecting.
                // (A CI run once hung here: the feed shared the calls' pool and calls had no bound.
                // The feed now has a connection of its own and every registry call a timeout.)
                do {
                    try await Backend.admin(
                        settings,
                        """
                        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'
                        """)
                    _ = try await a.models.setAlias(
                        .with {
                            $0.model = .init(name: "shared", version: 1); $0.alias = "canary"
                        })
                    #expect(
                        await Self.within(10) { await version(b, "shared@canary") == 1 } != nil,
                        "B missed a change made while its feed was down (10 s)")
                }

                _ = try await a.models.deleteVersion(
                    .with {
                        $0.model = .init(name: "shared", version: 1); $0.force = true
                    })
                #expect(
                    await Self.within(10) { await version(b, "shared") == nil } != nil,
                    "B still served the deleted version after 10 s")
            }
        }
    }
}
