import Foundation
import Logging
import PostgresNIO
import SegmentationAPI
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer
@testable import SegmentationEngine

@Suite("The PostgreSQL registry", .serialized, .timeLimit(.minutes(10)))
struct PostgresRegistryTests {
    @Test(
        "Replicas starting together migrate the schema once, under the advisory lock; the password never shows in the settings' text",
        .enabled(
            if: Backend.postgresURL != nil, "no PostgreSQL (scripts/test.sh starts one): skipped"))
    func concurrentMigrations() async throws {
        let base = try PostgresSettings(
            url: Backend.postgresURL!, password: Backend.postgresPassword)
        #expect(
            !"\(base)".contains(Backend.postgresPassword ?? "no password")
                && "\(base)".hasPrefix("postgres://segment@127.0.0.1:"))
        let (first, cleanup) = try await Backend.postgres.make()
        defer { Task { await cleanup() } }
        // The same database again, from four "replicas" at once: each finds the schema current.
        guard let registry = first as? PostgresRegistry else {
            Issue.record("not a PostgresRegistry"); return
        }
        var same = base
        same.database = registry.location.split(separator: "/").last.map(String.init) ?? ""
        var quiet = Logger(label: "registry-test")
        quiet.logLevel = .warning
        let (settings, logger) = (same, quiet)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { _ = try await PostgresRegistry(settings: settings, logger: logger) }
            }
            try await group.waitForAll()
        }
        let client = PostgresClient(
            configuration: .init(
                host: settings.host, port: settings.port, username: settings.username,
                password: settings.password, database: settings.database, tls: .disable))
        let applied = try await Backend.running(client) { client in
            var versions: [Int] = []
            for try await version in try await client.query(
                "SELECT version FROM schema_migrations ORDER BY version"
            ).decode(Int.self) {
                versions.append(version)
            }
            return versions
        }
        #expect(applied == CatalogSchema.migrations.map(\.version))
        var nowhere = try PostgresSettings(
            url: "postgres://segment@127.0.0.1:1/none", password: "x")
        nowhere.startTimeout = .seconds(2)
        let unreachable = nowhere
        await #expect(throws: RegistryError.self) {
            _ = try await PostgresRegistry(settings: unreachable, logger: logger)
        }
        #expect(throws: RegistryError.self) { try PostgresSettings(url: "mysql://a@b/c") }
        #expect(throws: RegistryError.self) { try PostgresSettings(url: "postgres://127.0.0.1/c") }
        #expect(
            try PostgresSettings(url: "postgres://u:secret@h:6000/d?sslmode=require").requireTLS)

        // A restarting server fails only its own unfinished jobs: the others run elsewhere.
        for (id, owner) in [("j1", "replica-a"), ("j2", "replica-b"), ("j3", "replica-b")] {
            var job = RegistryContractTests().job(id)
            job.owner = owner
            try await registry.insertJob(job)
        }
        #expect(
            try await registry.failUnfinishedJobs(
                reason: "restarted", at: Date(), owner: "replica-b") == 2)
        let untouched = try await registry.job(id: "j1")
        #expect(untouched?.status == .queued && untouched?.owner == "replica-a")
    }

    @Test(
        "The shared queue: claims take the oldest queued job once each, heartbeats report cancels, stalled jobs are queued again once and then failed",
        .enabled(
            if: Backend.postgresURL != nil, "no PostgreSQL (scripts/test.sh starts one): skipped"))
    func sharedQueue() async throws {
        let (made, cleanup) = try await Backend.postgres.make()
        defer { Task { await cleanup() } }
        let registry = try #require(made as? PostgresRegistry)
        let jobs = RegistryContractTests()
        for (id, seconds) in [("old", 1_000.0), ("new", 2_000.0), ("newest", 3_000.0)] {
            try await registry.insertJob(jobs.job(id, at: seconds))
        }
        let now = Date()
        #expect(try await registry.claimJob(owner: "r1")?.id == "old")
        let second = try #require(try await registry.claimJob(owner: "r2"))
        #expect(second.id == "new" && second.status == .running && second.owner == "r2")
        // A queued job cancelled elsewhere is cancelled at once and never claimed.
        #expect(try await registry.requestCancel(jobID: "newest", at: now).status == .cancelled)
        #expect(try await registry.claimJob(owner: "r3") == nil)
        // A running one is asked to stop; its server hears it on the next heartbeat.
        #expect(try await registry.requestCancel(jobID: "new", at: now).status == .running)
        let beat = try await registry.heartbeat(owner: "r2", jobs: ["new"])
        #expect(beat.stop == ["new"] && beat.lost.isEmpty)
        // Only the holder may write a claimed job.
        var stale = second
        stale.owner = "r9"
        stale.stage = "profiling"
        await #expect(throws: RegistryError.self) { try await registry.updateJob(stale) }
        // Stalled (a negative allowance makes every heartbeat stale by the database's clock):
        // "old" is queued again (first attempt), "new" had a cancel asked: cancelled.
        let first = try await registry.requeueStalled(stalledAfter: -60, maximumAttempts: 2)
        #expect(first.requeued == ["old"] && first.failed == ["new"])
        #expect(try await registry.job(id: "new")?.status == .cancelled)
        // r1 comes back: it lost "old" and must stop it; r3 claims it.
        #expect(try await registry.heartbeat(owner: "r1", jobs: ["old"]).lost == ["old"])
        #expect(try await registry.claimJob(owner: "r3")?.id == "old")
        // A graceful shutdown gives it back without using an attempt; the next claim is attempt 2.
        try await registry.releaseJob(id: "old", owner: "r3")
        let released = try await registry.job(id: "old")
        let waiting = try await registry.queuedJobCount()
        #expect(released?.status == .queued && waiting == 1)
        #expect(try await registry.claimJob(owner: "r4")?.id == "old")
        let again = try await registry.requeueStalled(stalledAfter: -60, maximumAttempts: 2)
        #expect(again.requeued.isEmpty && again.failed == ["old"])
        let failed = try await registry.job(id: "old")
        #expect(
            failed?.status == .failed && failed?.error?.contains("on each of 2 attempts") == true)
    }

    @Test(
        "The whole server on PostgreSQL: upload, train, score, alias, and a restart that finds everything",
        .enabled(
            if: Backend.postgresURL != nil, "no PostgreSQL (scripts/test.sh starts one): skipped"))
    func serverOnPostgres() async throws {
        let (settings, cleanup) = try await Backend.freshDatabase()
        defer { Task { await cleanup() } }
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 400, seed: 12)
        try await harness.withServer(configure: { $0.postgres = settings }) { services, server in
            #expect(server.registry is PostgresRegistry)
            let dataset = try await services.upload(path)
            let job = try await services.train(dataset.id, model: "pg", ks: 3...4)
            #expect(job.state == .succeeded, "\(job.error)")
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(name: "pg", version: 1); $0.alias = "prod"
                })
            let scored = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "pg@prod")
                    $0.csv = .with { $0.data = try! Data(contentsOf: URL(fileURLWithPath: path)) }
                })
            #expect(scored.scores.scores.count == 400 && scored.modelVersion == 1)
        }
        try await harness.withServer(configure: { $0.postgres = settings }) { services, _ in
            let detail = try await services.models.getModel(
                .with { $0.model = .init(text: "pg@prod") }
            ).model
            #expect(detail.version.version == 1 && detail.segments.count == Int(detail.chosenK))
        }
    }
}

/// Tables locked so far, shared with the tasks that lock them.
final class LockCount: Sendable {
    let count = Mutex(0)
}

@Suite("A PostgreSQL registry call's time bound", .timeLimit(.minutes(1)))
struct RegistryBoundTests {
    /// A COMMIT that does not answer until the test says so, whatever cancellation says: the caller's
    /// answer cannot depend on how fast a loaded machine runs the two sides.
    final class Unanswered: Sendable {
        private let released = Mutex(false)
        func release() { released.withLock { $0 = true } }
        func wait() async {
            while !released.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    @Test(
        "A COMMIT that never answers (seen when the database stopped mid-commit) is waited for a few more bounds, then the caller hears UNAVAILABLE saying the outcome is not known, never nothing; one answered within that is its answer"
    )
    func unansweredCommit() async throws {
        let bound = Duration.milliseconds(300)
        let start = ContinuousClock.now
        let never = Unanswered()
        await #expect {
            _ = try await PostgresRegistry.bounded(bound, location: "test") {
                (gate: FirstOutcome<Int>) in
                #expect(await gate.claimCommit())
                await never.wait()
                return 1
            }
        } throws: { error in
            guard case RegistryError.unavailable(let message) = error else { return false }
            return message.contains("may or may not have been applied")
        }
        never.release()
        #expect(ContinuousClock.now - start >= bound * (1 + PostgresRegistry.commitBounds))
        // Claimed and answered after the first bound but well within the extra ones: the commit's answer counts.
        let roomy = Duration.seconds(3)
        let answered = try await PostgresRegistry.bounded(roomy, location: "test") {
            (gate: FirstOutcome<Int>) in
            #expect(await gate.claimCommit())
            try? await Task.sleep(for: roomy + .milliseconds(500))
            return 7
        }
        #expect(answered == 7)
        // Not claimed: the first bound answers, "nothing was changed".
        let stuck = Unanswered()
        await #expect {
            _ = try await PostgresRegistry.bounded(bound, location: "test") {
                (_: FirstOutcome<Int>) in
                await stuck.wait()
                return 1
            }
        } throws: { error in
            guard case RegistryError.unavailable(let message) = error else { return false }
            return message.contains("nothing was changed")
        }
        stuck.release()
    }
}

@Suite("The PostgreSQL tests run where they must")
struct PostgresRequiredTests {
    @Test(
        "Under scripts/test.sh (and so CI), a missing test database or missing PostgreSQL binaries fail the run; elsewhere the PostgreSQL tests skip, saying why"
    )
    func required() {
        guard ProcessInfo.processInfo.environment["SEGMENT_REQUIRE_POSTGRES"] == "1" else { return }
        #expect(
            Backend.postgresURL != nil,
            "SEGMENT_REQUIRE_POSTGRES=1 but SEGMENT_TEST_POSTGRES is not set: every PostgreSQL test would be skipped"
        )
        #expect(
            RegistryOutageTests.postgresInstalled,
            "SEGMENT_REQUIRE_POSTGRES=1 but PostgreSQL is not installed (scripts/setup.sh installs it)"
        )
    }
}
