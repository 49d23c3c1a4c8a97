import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI

/// What the server acknowledged before it was killed: only these must survive.
actor CrashLedger {
    private(set) var versions: Set<Int32> = []
    private(set) var datasets: [String] = []
    /// Datasets a delete was sent for: acknowledged or not, they may be gone.
    private(set) var deleting: Set<String> = []
    private(set) var deleted: Set<String> = []

    func acknowledge(version: Int32) { versions.insert(version) }
    func acknowledge(dataset: String) {
        if !datasets.contains(dataset) { datasets.append(dataset) }
    }
    func deleteStarted(_ id: String) { deleting.insert(id) }
    func acknowledgeDeleted(_ id: String) { deleted.insert(id) }
}

@Suite(
    "Crash safety: the real server killed at random moments", .serialized, .timeLimit(.minutes(10)))
struct CrashTests {
    static let features = ["recency", "frequency", "monetary", "avg_order_value"]

    @Test(
        "24 SIGKILLs during uploads, training, registration, alias switches and dataset deletes: every acknowledged version intact and scorable, aliases valid, nothing half-written, staging cleaned",
        .enabled(
            if: ProcessTests.built,
            "build the executables first (swift build); scripts/test.sh does"))
    func killsAtRandomMoments() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-crash-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let data = (work as NSString).appendingPathComponent("data")
        let rounds = 25
        // A different small dataset per round, so every upload stores new content.
        let files = try (0...rounds).map { round -> String in
            let path = (work as NSString).appendingPathComponent("round-\(round).csv")
            try SampleDataGenerator(customers: 120, seed: UInt64(round + 1)).generate().csv
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let seed = UInt64(Date().timeIntervalSince1970)
        var random = SeededGenerator(seed: seed)
        let ledger = CrashLedger()
        var kills = 0

        for round in 0...rounds {
            let server = try await ServerProcess.start(dataDirectory: data)
            let port = server.port
            let delay = Int.random(in: 10...600, using: &random)
            let final = round == rounds
            try await withGRPCClient(
                transport: .http2NIOPosix(
                    target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
            ) { client in
                let services = Services(client: client)
                try await Self.checkInvariants(
                    services, ledger, dataDirectory: data, context: "round \(round), seed \(seed)")
                if final { return }
                if round == 0 {
                    // The dataset every round trains on, acknowledged before any kill.
                    await ledger.acknowledge(dataset: try await services.upload(files[0]).id)
                    return
                }
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await Self.upload(files[round], services, ledger) }
                    group.addTask { await Self.trainRepeatedly(services, ledger) }
                    group.addTask {
                        await Self.switchAliases(services, ledger, seed: seed &+ UInt64(round))
                    }
                    if round % 2 == 0 {
                        group.addTask { await Self.deleteADataset(services, ledger) }
                    }
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(delay))
                        kill(server.processIdentifier, SIGKILL)
                    }
                }
            }
            if final {
                await server.stop()
                #expect(
                    server.terminationStatus == 0,
                    "the last server did not exit cleanly after SIGTERM")
            } else {
                if round > 0 { kills += 1 }
                try await server.kill()  // round 0 ends here too
            }
        }
        print(
            "crash test (seed \(seed)): \(kills) kills; acknowledged \(await ledger.versions.count) versions, "
                + "\(await ledger.datasets.count) datasets, \(await ledger.deleted.count) of \(await ledger.deleting.count) deletes"
        )
        #expect(kills == rounds - 1)
        #expect(
            await ledger.versions.count >= 3,
            "too few versions were acknowledged to prove anything (seed \(seed))")
    }

    @Test(
        "SIGTERM to the real server during a deliberately long job: exit 0 within 5 s; after a restart the job reads failed with the reason",
        .enabled(
            if: ProcessTests.built,
            "build the executables first (swift build); scripts/test.sh does"))
    func sigtermDuringALongJob() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-term-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let data = (work as NSString).appendingPathComponent("data")
        let sample = (work as NSString).appendingPathComponent("sample.csv")
        try SampleDataGenerator(customers: 3000, seed: 5).generate().csv.write(
            toFile: sample, atomically: true, encoding: .utf8)
        let server = try await ServerProcess.start(dataDirectory: data)
        let port = server.port
        let jobID = try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        ) { client in
            let services = Services(client: client)
            let dataset = try await services.upload(sample)
            let job = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "long"; $0.datasetID = dataset.id
                        $0.kRange = .with {
                            $0.min = 2; $0.max = 100
                        }; $0.nInit = 100; $0.maxIter = 10_000; $0.tol = 1e-300
                    }
                }
            ).job
            try await LimitsTests.waitForClustering(services, job.id)
            return job.id
        }
        let signalled = Date()
        await server.stop()
        let seconds = Date().timeIntervalSince(signalled)
        #expect(server.terminationStatus == 0)
        #expect(seconds < 5, "SIGTERM took \(seconds) s")
        let again = try await ServerProcess.start(dataDirectory: data)
        let againPort = again.port
        defer { again.stopWithoutWaiting() }
        let job = try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: againPort), transportSecurity: .plaintext)
        ) { client in
            try await Services(client: client).training.getJob(.with { $0.jobID = jobID }).job
        }
        #expect(
            job.state == .failed && job.error.contains("shut down"), "\(job.state): \(job.error)")
        #expect(job.modelVersion == 0)
    }

    // MARK: What runs while the kill approaches

    static func upload(_ file: String, _ services: Services, _ ledger: CrashLedger) async {
        if let dataset = try? await services.upload(file) {
            await ledger.acknowledge(dataset: dataset.id)
        }
    }

    /// Trains again and again until the server dies, so kills land in every stage and in registration.
    static func trainRepeatedly(_ services: Services, _ ledger: CrashLedger) async {
        while let dataset = await ledger.datasets.first,
            let job = try? await services.train(dataset, model: "crash", ks: 2...4, nInit: 2),
            job.state == .succeeded
        {
            await ledger.acknowledge(version: job.modelVersion)
        }
    }

    static func switchAliases(_ services: Services, _ ledger: CrashLedger, seed: UInt64) async {
        var random = SeededGenerator(seed: seed)
        for _ in 0..<200 {
            guard let version = await ledger.versions.randomElement(using: &random) else {
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            let alias = ["prod", "staging"].randomElement(using: &random)!
            guard
                (try? await services.models.setAlias(
                    .with {
                        $0.model = .init(name: "crash", version: Int(version)); $0.alias = alias
                    })) != nil
            else { return }
        }
    }

    static func deleteADataset(_ services: Services, _ ledger: CrashLedger) async {
        // Never the first: every round trains on it.
        let deleted = await ledger.deleting
        guard let id = await ledger.datasets.dropFirst().first(where: { !deleted.contains($0) })
        else { return }
        await ledger.deleteStarted(id)
        if (try? await services.datasets.deleteDataset(
            .with {
                $0.id = id; $0.force = true
            })) != nil
        {
            await ledger.acknowledgeDeleted(id)
        }
    }

    // MARK: After every restart

    static func checkInvariants(
        _ services: Services, _ ledger: CrashLedger, dataDirectory: String, context: String
    ) async throws {
        let acknowledged = await ledger.versions
        if !acknowledged.isEmpty {
            let versions = try await services.models.listVersions(
                .with {
                    $0.name = "crash"; $0.pageSize = 1000
                }
            ).versions
            let stored = Set(versions.map(\.version))
            #expect(
                acknowledged.isSubset(of: stored),
                "\(context): acknowledged \(acknowledged.sorted()), stored \(stored.sorted())")
            for version in versions {
                #expect(
                    version.problem.isEmpty,
                    "\(context): crash@\(version.version): \(version.problem)")
                #expect(
                    try await Self.scores(services, "crash@\(version.version)"),
                    "\(context): crash@\(version.version) does not score")
            }
            let aliases =
                try await services.models.listModels(.init()).models.first { $0.name == "crash" }?
                .aliases ?? [:]
            for (alias, version) in aliases {
                #expect(
                    stored.contains(version),
                    "\(context): alias \(alias) -> missing version \(version)")
                #expect(
                    try await Self.scores(services, "crash@\(alias)"),
                    "\(context): crash@\(alias) does not score")
            }
        }
        let listing = try await services.datasets.listDatasets(.init())
        #expect(listing.unreadable == 0, "\(context): \(listing.unreadable) unreadable datasets")
        let listed = Set(listing.datasets.map(\.id))
        let (kept, deleting, deleted) = (
            await ledger.datasets, await ledger.deleting, await ledger.deleted
        )
        for id in kept where !deleting.contains(id) {
            #expect(
                listed.contains(id), "\(context): acknowledged dataset \(id.prefix(19)) is gone")
        }
        for id in deleted {
            #expect(!listed.contains(id), "\(context): deleted dataset \(id.prefix(19)) is back")
        }
        // On disk: exactly the listed datasets, each with its files at their recorded sizes; no staging left.
        let root = (dataDirectory as NSString).appendingPathComponent("datasets")
        let staging =
            (try? FileManager.default.contentsOfDirectory(
                atPath: (root as NSString).appendingPathComponent(".staging"))) ?? []
        #expect(staging.isEmpty, "\(context): staging holds \(staging)")
        let folders = Set(
            ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
                !$0.hasPrefix(".")
            })
        #expect(
            folders == Set(listed.map { $0.replacingOccurrences(of: "sha256:", with: "") }),
            "\(context): folders and records differ")
        for dataset in listing.datasets {
            let folder = (root as NSString).appendingPathComponent(
                dataset.id.replacingOccurrences(of: "sha256:", with: ""))
            for file in dataset.files {
                let size =
                    (try? FileManager.default.attributesOfItem(
                        atPath: (folder as NSString).appendingPathComponent(file.name)))?[.size]
                    as? Int64
                #expect(
                    size == file.sizeBytes,
                    "\(context): \(file.name) of \(dataset.id.prefix(19)) is \(size ?? -1) bytes, recorded \(file.sizeBytes)"
                )
            }
        }
        // No job is left queued or running by a dead server.
        let jobs = try await services.training.listJobs(.with { $0.pageSize = 1000 })
        #expect(jobs.unreadable == 0)
        #expect(
            !jobs.jobs.contains { $0.state == .queued || $0.state == .running },
            "\(context): a job survived as unfinished")
    }

    static func scores(_ services: Services, _ reference: String) async throws -> Bool {
        let response = try await services.scoring.score(
            .with {
                $0.model = .init(text: reference)
                $0.features = .with {
                    $0.featureNames = features
                    $0.rows = [
                        .with {
                            $0.customerID = "probe"; $0.values = [30, 4, 800, 200]
                        }
                    ]
                }
            })
        return response.scores.scores.count == 1
    }
}
