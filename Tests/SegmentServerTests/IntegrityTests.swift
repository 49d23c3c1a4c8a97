import Foundation
import GRDB
import GRPCCore
import SegmentationAPI
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

@Suite("Stored bytes prove themselves", .serialized, .timeLimit(.minutes(10)))
struct IntegrityTests {
    /// Model "m" trained twice (versions 1 and 2) on this data directory; the server stopped.
    static func trainTwice(_ harness: Harness) async throws {
        let (path, _) = try harness.sampleFile(customers: 200)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            for _ in 0..<2 {
                #expect(
                    try await services.train(dataset.id, model: "m", ks: 3...3, nInit: 1).state
                        == .succeeded)
            }
        }
    }

    /// Changes the stopped server's SQLite registry behind its back.
    static func editRegistry(
        _ harness: Harness, _ edit: @escaping @Sendable (Database) throws -> Void
    ) async throws {
        // With a busy wait: the stopped server's last connection may still be closing (its
        // checkpoint holds the lock for a moment), which a loaded CI machine once caught.
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let database = try DatabaseQueue(
            path: (harness.dataDirectory as NSString).appendingPathComponent("registry.sqlite"),
            configuration: configuration)
        try await database.write(edit)
        try database.close()
    }

    @Test(
        "A server with its own registry pointed at another registry's --datasets-dir deletes nothing there (it says whose folder it is); the owner still trains on its dataset"
    )
    func foreignDatasetsFolder() async throws {
        let (owner, stranger) = (try Harness(), try Harness())
        defer { owner.remove(); stranger.remove() }
        let shared = owner.dataDirectory + "-datasets"
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let (path, _) = try owner.sampleFile(customers: 200, seed: 31)
        let dataset = try await owner.withServer(configure: { $0.datasetsDirectory = shared }) {
            services, _ in
            try await services.upload(path)
        }
        // Old enough to count as an orphan for a server whose registry does not know it.
        let folder = (shared as NSString).appendingPathComponent(
            dataset.id.replacingOccurrences(of: "sha256:", with: ""))
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: folder)
        let log = CapturedLog()
        try await stranger.withServer(
            configure: { $0.datasetsDirectory = shared }, logger: log.logger
        ) { services, _ in
            let listed = try await services.datasets.listDatasets(.init()).datasets
            #expect(listed.isEmpty)
        }
        #expect(
            FileManager.default.fileExists(atPath: folder),
            "the stranger deleted the owner's dataset")
        #expect(log.lines.withLock { $0 }.contains { $0.contains("belongs to another registry") })
        try await owner.withServer(configure: { $0.datasetsDirectory = shared }) { services, _ in
            let job = try await services.train(dataset.id, model: "m", ks: 3...3)
            #expect(job.state == .succeeded, "\(job.error)")
        }
    }

    @Test(
        "A version the database lost after acknowledging it (its rows gone as a truncated WAL leaves them): named in the log at start, DATA_LOSS saying so, not NOT_FOUND; the other version serves; training again takes the number back"
    )
    func lostVersion() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            for _ in 0..<3 {
                #expect(
                    try await services.train(dataset.id, model: "m", ks: 3...3, nInit: 1).state
                        == .succeeded)
            }
            _ = try await services.models.deleteVersion(
                .with { $0.model = .init(name: "m", version: 3) })
            // A refused delete (version 2 is aliased) must not take version 2 out of the check.
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(name: "m", version: Int(2)); $0.alias = "prod"
                })
            #expect(
                await statusCode {
                    _ = try await services.models.deleteVersion(
                        .with { $0.model = .init(name: "m", version: 2) })
                } == .failedPrecondition)
        }
        // The database as it is after losing its last committed transaction: version 2 never written.
        try await Self.editRegistry(harness) { db in
            try db.execute(sql: "DELETE FROM aliases WHERE model = 'm' AND version = 2")
            try db.execute(sql: "DELETE FROM versions WHERE model = 'm' AND version = 2")
            try db.execute(sql: "UPDATE models SET next_version = 2 WHERE name = 'm'")
            try db.execute(sql: "UPDATE jobs SET model_version = NULL WHERE model_version = 2")
        }
        let log = CapturedLog()
        try await harness.withServer(logger: log.logger) { services, server in
            #expect(
                server.models.problems().map { "\($0.name)@\($0.version)" } == ["m@2"],
                "version 3 was deleted, not lost")
            #expect(
                log.lines.withLock { $0 }.contains {
                    $0.contains("m@2") && $0.contains("no longer holds it")
                })
            do {
                _ = try await services.models.getModel(.with { $0.model = .init(text: "m@2") })
                Issue.record("a lost version was answered")
            } catch let error as RPCError {
                #expect(
                    error.code == .dataLoss && error.message.contains("lost committed writes"),
                    "\(error)")
            }
            #expect(
                try await services.models.getModel(.with { $0.model = .init(text: "m@1") }).model
                    .segments.count == 3)
            let dataset = try await services.datasets.listDatasets(.init()).datasets[0]
            let again = try await services.train(dataset.id, model: "m", ks: 3...3, nInit: 1)
            #expect(again.modelVersion == 2)
            #expect(
                try await services.models.getModel(.with { $0.model = .init(text: "m@2") }).model
                    .segments.count == 3)
        }
        try await harness.withServer { services, server in
            let retrained = try await services.models.getModel(
                .with { $0.model = .init(text: "m@2") }
            ).model
            #expect(retrained.segments.count == 3)
            #expect(
                server.models.problems().isEmpty, "the retrained version 2 is still reported lost")
        }
    }

    @Test(
        "A version row with a wrongly typed column: the server starts, names it at start and answers DATA_LOSS for it; the other version serves and is listed"
    )
    func badVersionRow() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        try await Self.trainTwice(harness)
        try await Self.editRegistry(harness) { db in
            try db.execute(sql: "UPDATE versions SET k = 'three' WHERE model = 'm' AND version = 1")
        }
        try await harness.withServer { services, server in
            #expect(
                server.models.problems().map { "\($0.name)@\($0.version): \($0.reason)" }.contains {
                    $0.hasPrefix("m@1") && $0.contains("column k")
                })
            #expect(
                await statusCode {
                    _ = try await services.models.getModel(.with { $0.model = .init(text: "m@1") })
                } == .dataLoss)
            let listed = try await services.models.listVersions(.with { $0.name = "m" }).versions
                .map(\.version)
            #expect(listed == [2])
            let latest = try await services.models.getModel(.with { $0.model = .init(text: "m") })
                .model.version.version
            #expect(latest == 2)
        }
    }

    @Test(
        "A flipped byte in a model blob: DATA_LOSS naming the version, ListVersions shows it, the other version serves; a bad jobs row is skipped and counted"
    )
    func damagedModelAndRow() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        try await Self.trainTwice(harness)
        // Damage version 1's bytes and one job's row behind the server's back.
        try await Self.editRegistry(harness) { db in
            var blob = try Data.fetchOne(
                db, sql: "SELECT model_blob FROM versions WHERE model = 'm' AND version = 1")!
            blob[blob.count / 2] ^= 0x01
            try db.execute(
                sql: "UPDATE versions SET model_blob = ? WHERE model = 'm' AND version = 1",
                arguments: [blob])
            try db.execute(
                sql:
                    "UPDATE jobs SET configuration_json = '{not json' WHERE rowid = (SELECT MIN(rowid) FROM jobs)"
            )
            try db.execute(
                sql:
                    "INSERT INTO jobs (id, model_name, dataset_id, configuration_json, status, stage, fraction, created_at, "
                    + "started_at, finished_at, error, model_version, k_metrics_json) SELECT 'job-typo', model_name, dataset_id, configuration_json, status, stage, fraction, "
                    + "'not a time', started_at, finished_at, error, model_version, k_metrics_json FROM jobs WHERE rowid = (SELECT MAX(rowid) FROM jobs)"
            )
            try db.execute(sql: "UPDATE datasets SET files_json = '[{bad'")
        }
        try await harness.withServer { services, server in
            #expect(server.models.problems().map { "\($0.name)@\($0.version)" } == ["m@1"])
            do {
                _ = try await services.models.getModel(.with { $0.model = .init(text: "m@1") })
                Issue.record("a damaged version was served")
            } catch let error as RPCError {
                #expect(error.code == .dataLoss)
                #expect(error.message.contains("m@1") && error.message.contains("checksum"))
            }
            #expect(
                try await services.models.getModel(.with { $0.model = .init(text: "m@2") }).model
                    .segments.count == 3)
            let versions = try await services.models.listVersions(.with { $0.name = "m" }).versions
            #expect(versions.map(\.problem.isEmpty) == [false, true])
            // A row with bad JSON and a row with a wrongly typed column: skipped and counted, the server alive.
            let jobs = try await services.training.listJobs(.init())
            #expect(jobs.jobs.count == 1 && jobs.unreadable == 2)
            // An unreadable dataset row keeps its files (startup removes only folders no row names).
            let datasets = try await services.datasets.listDatasets(.init())
            #expect(datasets.datasets.isEmpty && datasets.unreadable == 1)
            let folders = try FileManager.default.contentsOfDirectory(
                atPath: (harness.dataDirectory as NSString).appendingPathComponent("datasets"))
            #expect(folders.filter { !$0.hasPrefix(".") }.count == 1)
            // name@latest is the newest version.
            #expect(
                try await services.models.getModel(.with { $0.model = .init(text: "m@latest") })
                    .model.version.version == 2)
        }
    }

    @Test("A stored dataset edited on disk is not trained on: the job fails naming the damage")
    func editedDataset() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 150)
        try await harness.withServer { services, server in
            let dataset = try await services.upload(path)
            let stored = (harness.dataDirectory as NSString).appendingPathComponent(
                "datasets/\(dataset.id.replacingOccurrences(of: "sha256:", with: ""))/\(dataset.files[0].name)"
            )
            var bytes = try Data(contentsOf: URL(fileURLWithPath: stored))
            bytes[bytes.count - 3] = UInt8(ascii: "9")
            try bytes.write(to: URL(fileURLWithPath: stored))
            let job = try await services.train(dataset.id, model: "edited", ks: 3...3, nInit: 1)
            #expect(job.state == .failed)
            // For programs: DATA_LOSS, a reason, not worth resubmitting as it is.
            #expect(job.failure.code == 15 && job.failure.reason == "DAMAGED_DATA", "\(job.status)")
            #expect(job.status.message == job.error)
            #expect(
                job.error.contains("damaged") && job.error.contains(dataset.files[0].name),
                "\(job.error)")
            #expect(
                dataset.files[0].sha256.hasPrefix("sha256:") && dataset.files[0].sha256.count == 71)
            #expect(!job.error.contains(harness.dataDirectory))
            // Uploading the same data again repairs the stored copy.
            #expect(try await services.upload(path).id == dataset.id)
            #expect(
                try await services.train(dataset.id, model: "edited", ks: 3...3, nInit: 1).state
                    == .succeeded)
        }
    }

    @Test(
        "A registry locked by another writer past the busy wait answers UNAVAILABLE (REGISTRY_BUSY: retry), not INTERNAL"
    )
    func busyRegistry() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let path = (harness.dataDirectory as NSString).appendingPathComponent("busy.sqlite")
        let registry = try SQLiteRegistry(path: path)
        // Another connection holds the write lock (inside a write that waits) past the 5 s busy wait.
        let other = try DatabaseQueue(path: path)
        // (No semaphore wait on this task: blocking a cooperative thread can starve the pool.)
        let locked = Mutex(false)
        let release = DispatchSemaphore(value: 0)
        let holder = Task.detached {
            try await other.write { db in
                try db.execute(sql: "CREATE TABLE held (x)")
                locked.withLock { $0 = true }
                _ = release.wait(timeout: .now() + 30)
            }
        }
        for _ in 0..<600 where !locked.withLock({ $0 }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(locked.withLock { $0 }, "the other connection never took the lock")
        do {
            _ = try await registry.failUnfinishedJobs(reason: "test", at: Date(), owner: nil)
            Issue.record("a write passed an exclusive lock")
        } catch let error as RegistryError {
            guard case .busy = error else { Issue.record("\(error)"); return }
            #expect(RPCErrors.map(error).code == .unavailable)
        }
        release.signal()
        try await holder.value
        #expect(try await registry.failUnfinishedJobs(reason: "test", at: Date(), owner: nil) == 0)
    }
}
