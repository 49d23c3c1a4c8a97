import Foundation
import GRDB
import GRPCCore
import SegmentationAPI
import Testing
@testable import SegmentCLI
@testable import SegmentServer

@Suite("Stored bytes prove themselves", .serialized)
struct IntegrityTests {
    @Test("A flipped byte in a model blob: DATA_LOSS naming the version, ListVersions shows it, the other version serves; a bad jobs row is skipped and counted")
    func damagedModelAndRow() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            for _ in 0..<2 { #expect(try await services.train(dataset.id, model: "m", ks: 3...3, nInit: 1).state == .succeeded) }
        }
        // Damage version 1's bytes and one job's row behind the server's back.
        let database = try DatabaseQueue(path: (harness.dataDirectory as NSString).appendingPathComponent("registry.sqlite"))
        try await database.write { db in
            var blob = try Data.fetchOne(db, sql: "SELECT model_blob FROM versions WHERE model = 'm' AND version = 1")!
            blob[blob.count / 2] ^= 0x01
            try db.execute(sql: "UPDATE versions SET model_blob = ? WHERE model = 'm' AND version = 1", arguments: [blob])
            try db.execute(sql: "UPDATE jobs SET configuration_json = '{not json' WHERE rowid = (SELECT MIN(rowid) FROM jobs)")
        }
        try await database.close()
        try await harness.withServer { services, server in
            #expect(server.models.problems().map { "\($0.name)@\($0.version)" } == ["m@1"])
            do {
                _ = try await services.models.getModel(.with { $0.reference = "m@1" })
                Issue.record("a damaged version was served")
            } catch let error as RPCError {
                #expect(error.code == .dataLoss)
                #expect(error.message.contains("m@1") && error.message.contains("checksum"))
            }
            #expect(try await services.models.getModel(.with { $0.reference = "m@2" }).model.segments.count == 3)
            let versions = try await services.models.listVersions(.with { $0.name = "m" }).versions
            #expect(versions.map(\.problem.isEmpty) == [false, true])
            let jobs = try await services.training.listJobs(.init())
            #expect(jobs.jobs.count == 1 && jobs.unreadable == 1)
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
                "datasets/\(dataset.id.replacingOccurrences(of: "sha256:", with: ""))/\(dataset.files[0].name)")
            var bytes = try Data(contentsOf: URL(fileURLWithPath: stored))
            bytes[bytes.count - 3] = UInt8(ascii: "9")
            try bytes.write(to: URL(fileURLWithPath: stored))
            let job = try await services.train(dataset.id, model: "edited", ks: 3...3, nInit: 1)
            #expect(job.state == .failed)
            #expect(job.error.contains("damaged"), "\(job.error)")
            #expect(!job.error.contains(harness.dataDirectory))
        }
    }
}
