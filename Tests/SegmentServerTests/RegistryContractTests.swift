import Foundation
import Logging
import PostgresNIO
import SegmentationAPI
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer
@testable import SegmentationEngine

/// The behaviour every `Registry` backend must share, run against the embedded SQLite registry
/// and the PostgreSQL one. PostgreSQL runs when the test command started a throwaway cluster
/// (scripts/test.sh exports SEGMENT_TEST_POSTGRES and its password); each test gets a database
/// of its own, dropped afterwards.
enum Backend: String, CaseIterable, CustomStringConvertible {
    case sqlite, postgres

    var description: String { rawValue }

    static var postgresURL: String? { ProcessInfo.processInfo.environment["SEGMENT_TEST_POSTGRES"] }
    static var postgresPassword: String? {
        ProcessInfo.processInfo.environment["SEGMENT_TEST_POSTGRES_PASSWORD"]
    }
    static var available: [Backend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// A fresh, empty registry of this backend; `cleanup` removes it.
    func make() async throws -> (registry: any Registry, cleanup: @Sendable () async -> Void) {
        switch self {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "registry-\(UUID().uuidString)"
            ).path
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true)
            return (
                try SQLiteRegistry(path: folder + "/registry.sqlite"),
                { try? FileManager.default.removeItem(atPath: folder) }
            )
        case .postgres:
            let (settings, cleanup) = try await Self.freshDatabase()
            var logger = Logger(label: "registry-test")
            logger.logLevel = .warning
            return (try await PostgresRegistry(settings: settings, logger: logger), cleanup)
        }
    }

    /// An empty database of its own on the test cluster, and how to drop it.
    static func freshDatabase() async throws -> (
        PostgresSettings, cleanup: @Sendable () async -> Void
    ) {
        let base = try PostgresSettings(url: postgresURL!, password: postgresPassword)
        let name = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await admin(base, "CREATE DATABASE \(name)")
        var settings = base
        settings.database = name
        // Beside the whole suite on two cores a call can take seconds; these tests are not
        // about the bound (RegistryOutageTests is).
        settings.callTimeout = .seconds(30)
        settings.startTimeout = .seconds(60)
        return (settings, { try? await admin(base, "DROP DATABASE \(name) WITH (FORCE)") })
    }

    static func admin(_ settings: PostgresSettings, _ sql: String) async throws {
        let client = PostgresClient(
            configuration: .init(
                host: settings.host, port: settings.port, username: settings.username,
                password: settings.password, database: settings.database, tls: .disable))
        try await running(client) { try await $0.query(PostgresQuery(unsafeSQL: sql)) }
    }

    /// `body` with `client` running; the client is stopped after it without waiting for its run
    /// to end (a task group would: a client's run that did not end after cancellation hung a
    /// CI run's PostgreSQL tests for their whole time limit).
    static func running<T>(
        _ client: PostgresClient, _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        let run = Task { await client.run() }
        defer { run.cancel() }
        return try await body(client)
    }
}

@Suite("One registry contract, every backend", .serialized, .timeLimit(.minutes(10)))
struct RegistryContractTests {
    static let model: SegmentationModel = {
        let csv = Data(SampleDataGenerator(customers: 200, seed: 2).generate().csv.utf8)
        var configuration = TrainingConfiguration()
        configuration.ks = [3]
        configuration.nInit = 1
        return try! SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "s.csv", data: csv)
        ])
    }()

    func dataset(_ id: String, at seconds: Double = 1_000) -> DatasetRecord {
        DatasetRecord(
            id: id, name: "d", kind: .transactions, columns: DatasetColumns(),
            files: [DatasetFileRecord(name: "a.csv", sizeBytes: 10)],
            rows: 10, customers: 3, features: ["recency"],
            createdAt: Date(timeIntervalSince1970: seconds))
    }

    func job(
        _ id: String, model: String = "m", dataset: String = "d1", at seconds: Double = 1_000
    ) -> JobRecord {
        JobRecord(
            id: id, modelName: model, datasetID: dataset, configuration: TrainingConfiguration(),
            status: .queued, stage: "queued",
            fraction: 0, createdAt: Date(timeIntervalSince1970: seconds), startedAt: nil,
            finishedAt: nil, error: nil,
            modelVersion: nil, kMetrics: [])
    }

    func version(_ name: String, dataset: String = "d1", job: String? = nil) throws -> NewVersion {
        NewVersion(
            name: name, model: Self.model, modelBytes: try Self.model.serialized(),
            datasetID: dataset, jobID: job, parentVersion: nil)
    }

    @Test(
        "Datasets: stored once by id, listed newest first, deletes refused while in use unless forced",
        arguments: Backend.available)
    func datasets(backend: Backend) async throws {
        let (registry, cleanup) = try await backend.make()
        defer { Task { await cleanup() } }
        #expect(try await registry.insertDataset(dataset("d1", at: 1_000)))
        #expect(try await !registry.insertDataset(dataset("d1", at: 1_000)))
        #expect(try await registry.insertDataset(dataset("d2", at: 2_000)))
        #expect(try await registry.dataset(id: "d1") == dataset("d1", at: 1_000))
        #expect(try await registry.dataset(id: "nope") == nil)
        #expect(try await registry.datasets().items.map(\.id) == ["d2", "d1"])
        #expect(try await registry.datasetIDs() == ["d1", "d2"])
        _ = try await registry.addVersion(try version("m", dataset: "d1"), completing: nil)
        await #expect(throws: RegistryError.self) {
            try await registry.deleteDataset(id: "d1", force: false)
        }
        #expect(try await registry.deleteDataset(id: "d1", force: true) == ["m@1"])
        try await registry.insertJob(job("j1", dataset: "d2"))
        await #expect(throws: RegistryError.self) {
            try await registry.deleteDataset(id: "d2", force: true)
        }
        await #expect(throws: RegistryError.notFound(.dataset("nope"))) {
            try await registry.deleteDataset(id: "nope", force: false)
        }
    }

    @Test(
        "Jobs: insert, update, newest-first pages after a cursor, unfinished ones failed on restart",
        arguments: Backend.available)
    func jobs(backend: Backend) async throws {
        let (registry, cleanup) = try await backend.make()
        defer { Task { await cleanup() } }
        for (i, id) in ["a", "b", "c", "d"].enumerated() {
            try await registry.insertJob(job(id, model: i % 2 == 0 ? "m" : "n", at: 1_000))
        }
        var running = job("a", model: "m")
        running.status = .running
        running.startedAt = Date(timeIntervalSince1970: 1_001)
        running.kMetrics = [
            KCandidate(
                k: 3, inertia: 1, silhouette: 0.5, daviesBouldin: 1, calinskiHarabasz: 2,
                iterations: 3)
        ]
        try await registry.updateJob(running)
        #expect(try await registry.job(id: "a") == running)
        await #expect(throws: RegistryError.self) { try await registry.updateJob(job("zz")) }
        // Same created_at: the id orders them, descending.
        let first = try await registry.jobs(limit: 2, modelName: nil, after: nil).items.map(\.id)
        #expect(first == ["d", "c"])
        let rest = try await registry.jobs(limit: 10, modelName: nil, after: JobCursor(job("c")))
            .items.map(\.id)
        #expect(rest == ["b", "a"])
        #expect(
            try await registry.jobs(limit: 10, modelName: "n", after: nil).items.map(\.id) == [
                "d", "b",
            ])
        #expect(
            try await registry.failUnfinishedJobs(
                reason: "restarted", at: Date(timeIntervalSince1970: 2_000), owner: nil) == 4)
        let failed = try await registry.job(id: "a")
        #expect(failed?.status == .failed && failed?.error == "restarted")
        #expect(failed?.failure == .interrupted)
        // A failure's code and reason are kept with it.
        var bad = try #require(try await registry.job(id: "b"))
        bad.failure = JobFailure(code: 3, reason: "BAD_ROW")
        try await registry.updateJob(bad)
        #expect(try await registry.job(id: "b")?.failure == JobFailure(code: 3, reason: "BAD_ROW"))
    }

    @Test(
        "Versions: numbered per model from 1, the completing job updated with them, bytes checked, aliases and deletes by the rules",
        arguments: Backend.available)
    func versions(backend: Backend) async throws {
        let (registry, cleanup) = try await backend.make()
        defer { Task { await cleanup() } }
        try await registry.insertJob(job("j1"))
        var completing = job("j1")
        completing.status = .succeeded
        let first = try await registry.addVersion(
            try version("m", job: "j1"), completing: completing)
        #expect(first.version == 1 && first.k == 3 && first.jobID == "j1")
        let completed = try await registry.job(id: "j1")
        #expect(completed?.modelVersion == 1 && completed?.status == .succeeded)
        #expect(try await registry.addVersion(try version("m"), completing: nil).version == 2)
        #expect(try await registry.addVersion(try version("other"), completing: nil).version == 1)
        #expect(try await registry.versions(of: "m").map(\.version) == [1, 2])
        await #expect(throws: RegistryError.notFound(.model("ghost"))) {
            try await registry.versions(of: "ghost")
        }
        #expect(try await registry.version("m", 2)?.silhouette == Self.model.metrics.silhouette)
        #expect(try await registry.version("m", 9) == nil)
        #expect(try await SegmentationModel(serialized: registry.modelBytes("m", 1)) == Self.model)
        await #expect(throws: RegistryError.self) { try await registry.modelBytes("m", 9) }
        #expect(try await registry.corruptVersions().isEmpty)

        #expect(try await registry.setAlias("m", alias: "prod", version: 1) == nil)
        #expect(try await registry.setAlias("m", alias: "prod", version: 2) == 1)
        await #expect(throws: RegistryError.self) {
            try await registry.setAlias("m", alias: "prod", version: 7)
        }
        await #expect(throws: RegistryError.self) {
            try await registry.setAlias("m", alias: "latest", version: 1)
        }
        #expect(
            try await registry.aliases().map { "\($0.model)@\($0.alias)=\($0.version)" } == [
                "m@prod=2"
            ])
        let summaries = try await registry.models()
        #expect(
            summaries.map(\.name) == ["m", "other"] && summaries[0].latestVersion == 2
                && summaries[0].versionCount == 2)
        #expect(summaries[0].aliases == ["prod": 2])
        await #expect(
            throws: RegistryError.aliasedVersion(name: "m", version: 2, aliases: ["prod"])
        ) {
            try await registry.deleteVersion("m", 2, force: false)
        }
        #expect(try await registry.deleteVersion("m", 2, force: true) == ["prod"])
        #expect(try await registry.aliases().isEmpty)
        try await registry.setAlias("m", alias: "prod", version: 1)
        try await registry.deleteAlias("m", alias: "prod")
        await #expect(throws: RegistryError.self) {
            try await registry.deleteAlias("m", alias: "prod")
        }
        // Numbers are never reused after a delete.
        #expect(try await registry.addVersion(try version("m"), completing: nil).version == 3)
        try await registry.probe()
    }

    @Test(
        "Compare-and-swap alias switches: moved only when the alias is where the caller expects; of writers expecting the same version exactly one wins",
        arguments: Backend.available)
    func aliasCompareAndSwap(backend: Backend) async throws {
        let (registry, cleanup) = try await backend.make()
        defer { Task { await cleanup() } }
        _ = try await registry.insertDataset(dataset("d1"))
        for _ in 1...3 { _ = try await registry.addVersion(try version("c"), completing: nil) }
        func set(_ version: Int, expecting: AliasExpectation) async throws -> Int? {
            try await registry.setAlias(
                "c", alias: "prod", version: version, expecting: expecting, by: .unknown)
        }
        // A new alias: only when none exists.
        await #expect(throws: RegistryError.self) { try await set(1, expecting: .version(1)) }
        #expect(try await set(1, expecting: .absent) == nil)
        do {
            _ = try await set(2, expecting: .absent)
            Issue.record("an existing alias was taken as absent")
        } catch let error as RegistryError {
            guard case .aliasMoved(let message) = error else { throw error }
            #expect(message.contains("points at version 1, not no version"), "\(message)")
        }
        #expect(try await set(2, expecting: .version(1)) == 1)
        // Stale: it points at 2 now. Nothing changed, no history line.
        await #expect(throws: RegistryError.self) { try await set(3, expecting: .version(1)) }
        #expect(try await registry.aliases().first { $0.alias == "prod" }?.version == 2)
        #expect(try await registry.aliasHistory(of: "c").count == 2)
        // Eight writers all expecting 2: one moves it, seven are refused.
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                group.addTask {
                    do {
                        _ = try await set(1 + 2 * (i % 2), expecting: .version(2))
                        return true
                    } catch RegistryError.aliasMoved {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await registry.aliasHistory(of: "c").count == 3)
    }

    @Test(
        "The alias history keeps every set, move, delete and forced removal with who did it, also concurrent ones",
        arguments: Backend.available)
    func aliasHistory(backend: Backend) async throws {
        let (registry, cleanup) = try await backend.make()
        defer { Task { await cleanup() } }
        _ = try await registry.insertDataset(dataset("d1"))
        for _ in 1...3 { _ = try await registry.addVersion(try version("h"), completing: nil) }
        let ana = AliasActor(author: "ana", role: "admin", peer: "ipv4:127.0.0.1:5000")
        #expect(try await registry.setAlias("h", alias: "prod", version: 1, by: ana) == nil)
        #expect(try await registry.setAlias("h", alias: "prod", version: 2, by: ana) == 1)
        _ = try await registry.setAlias("h", alias: "staging", version: 3, by: .unknown)
        try await registry.deleteAlias("h", alias: "staging", by: ana)
        #expect(try await registry.deleteVersion("h", 2, force: true, by: ana) == ["prod"])
        // A refused change leaves no line.
        await #expect(throws: RegistryError.self) {
            try await registry.setAlias("h", alias: "prod", version: 2, by: ana)
        }
        let events = try await registry.aliasHistory(of: "h")
        #expect(events.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(
            events.map(\.action) == [.set, .set, .set, .deleted, .removedWithVersion])
        #expect(events.map(\.previousVersion) == [nil, 1, nil, 3, 2])
        #expect(events.map(\.version) == [1, 2, 3, nil, nil])
        #expect(events[1].actor == ana && events[2].actor == .unknown)
        #expect(try await registry.aliasHistory(of: "other").isEmpty)
        // Writers at once: every change recorded once, numbered without gaps.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    _ = try await registry.setAlias(
                        "h", alias: "a\(i)", version: 1 + 2 * (i % 2), by: .unknown)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await registry.aliasHistory(of: "h").map(\.sequence) == Array(1...13))
    }

    @Test(
        "Concurrent registrations of one model get distinct, gapless numbers",
        arguments: Backend.available)
    func concurrentVersions(backend: Backend) async throws {
        let (registry, cleanup) = try await backend.make()
        defer { Task { await cleanup() } }
        let new = try version("busy")
        let numbers = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { try await registry.addVersion(new, completing: nil).version }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(numbers.sorted() == Array(1...8))
    }

    @Test(
        "Client request ids: a retry gets the first result, another request with the id is refused, a forgotten id is free again",
        arguments: Backend.available)
    func requestIDs(backend: Backend) async throws {
        let (registry, cleanup) = try await backend.make()
        defer { Task { await cleanup() } }
        let now = Date.wholeSeconds()
        let request = ClientRequest(
            method: "SubmitTrainingJob", id: "r1", fingerprint: "f1", resultID: "j1", createdAt: now
        )
        #expect(try await registry.insertJob(job("j1"), request: request) == "j1")
        var retry = request
        retry.resultID = "j2"
        #expect(try await registry.insertJob(job("j2"), request: retry) == "j1")
        #expect(try await registry.job(id: "j2") == nil)
        var reuse = retry
        reuse.fingerprint = "f2"
        await #expect(throws: RegistryError.self) {
            try await registry.insertJob(job("j3"), request: reuse)
        }
        #expect(
            try await registry.clientRequest(method: "SubmitTrainingJob", id: "r1")?.resultID
                == "j1")
        #expect(try await registry.clientRequest(method: "UploadDataset", id: "r1") == nil)
        try await registry.forgetClientRequest(method: "SubmitTrainingJob", id: "r1")
        #expect(try await registry.insertJob(job("j3"), request: reuse) == "j3")
        let upload = ClientRequest(
            method: "UploadDataset", id: "u1", fingerprint: "d1", resultID: "d1", createdAt: now)
        #expect(try await registry.insertDataset(dataset("d1"), request: upload))
        #expect(try await !registry.insertDataset(dataset("d1"), request: upload))
        var otherUpload = upload
        otherUpload.fingerprint = "d2"
        await #expect(throws: RegistryError.self) {
            try await registry.insertDataset(dataset("d2"), request: otherUpload)
        }
        #expect(try await registry.dataset(id: "d2") == nil, "a refused request inserts nothing")
    }
}
