import Foundation
import GRPCCore
import GRPCProtobuf
import SegmentationAPI
import SegmentationEngine
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

@Suite(
    "Wrong specs and names are refused at once; cancellation and shutdown bite", .serialized,
    .timeLimit(.minutes(10)))
struct LimitsTests {
    @Test(
        "CancelJob while training ends the job CANCELLED with no version; shutdown during a long job takes seconds"
    )
    func cancelAndShutdown() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 3000)
        // A deliberately long job: 99 ks, 100 restarts each, no tolerance.
        let long = { @Sendable (datasetID: String) in
            Segmentation_V1_SubmitTrainingJobRequest.with {
                $0.spec = .with {
                    $0.modelName = "slow"; $0.datasetID = datasetID
                    $0.kRange = .with {
                        $0.min = 2; $0.max = 100
                    }; $0.nInit = 100; $0.maxIter = 10_000; $0.tol = 1e-300
                }
            }
        }
        let started = try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let job = try await services.training.submitTrainingJob(long(dataset.id)).job
            try await Self.waitForClustering(services, job.id)
            _ = try await services.training.cancelJob(.with { $0.jobID = job.id })
            let finished = try await services.waitForJob(job.id)
            #expect(finished.state == .cancelled)
            #expect(finished.modelVersion == 0)
            #expect(
                await statusCode {
                    _ = try await services.models.listVersions(.with { $0.name = "slow" })
                } == .notFound)
            // Start another long job and leave it running: the server must still stop within seconds.
            let second = try await services.training.submitTrainingJob(long(dataset.id)).job
            try await Self.waitForClustering(services, second.id)
            return Date()
        }
        // In-process, with the other suites loading both cores, this also counts closing the
        // client: the 5 s bound on the process itself is held by CrashTests' SIGTERM test.
        let shutdownSeconds = Date().timeIntervalSince(started)
        #expect(shutdownSeconds < 15, "shutdown took \(shutdownSeconds) s")
    }

    /// Waits until the job has its features (clustering starts right after), then a moment more.
    static func waitForClustering(_ services: Services, _ id: String) async throws {
        for _ in 0..<600 {
            let job = try await services.training.getJob(.with { $0.jobID = id }).job
            if ["features", "clustering", "metrics"].contains(job.stage) {
                try await Task.sleep(for: .milliseconds(300))
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("job \(id) never started clustering")
    }

    @Test("A full job queue answers RESOURCE_EXHAUSTED")
    func queueFull() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 3000)
        try await harness.withServer(maximumQueuedJobs: 2) { services, _ in
            let dataset = try await services.upload(path)
            let slow = Segmentation_V1_SubmitTrainingJobRequest.with {
                $0.spec = .with {
                    $0.modelName = "q"; $0.datasetID = dataset.id
                    $0.kRange = .with {
                        $0.min = 2; $0.max = 100
                    }; $0.nInit = 100; $0.maxIter = 10_000; $0.tol = 1e-300
                }
            }
            // One runs, two wait: the fourth is refused.
            var ids: [String] = []
            for _ in 0..<3 {
                ids.append(try await services.training.submitTrainingJob(slow).job.id)
            }
            do {
                _ = try await services.training.submitTrainingJob(slow)
                Issue.record("a fourth job was queued")
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted)
                #expect(error.message.contains("as many as this server takes"))
            }
            for id in ids { _ = try? await services.training.cancelJob(.with { $0.jobID = id }) }
        }
    }

    @Test(
        "Datasets can be deleted (refused while versions need them unless forced); the total is under a quota"
    )
    func datasetLifecycle() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (first, _) = try harness.sampleFile(customers: 150, seed: 1)
        let (second, _) = try harness.sampleFile(customers: 150, seed: 2)
        let size = Int64(try Data(contentsOf: URL(fileURLWithPath: first)).count)
        try await harness.withServer(maximumDatasetBytes: size + size / 2) { services, _ in
            let dataset = try await services.upload(first)
            #expect(
                try await services.train(dataset.id, model: "d", ks: 3...3, nInit: 1).state
                    == .succeeded)
            // Over the quota: refused, nothing kept.
            #expect(
                await statusCode { _ = try await services.upload(second) } == .resourceExhausted)
            #expect(try await services.datasets.listDatasets(.init()).datasets.count == 1)
            // Needed by d@1: refused unless forced.
            #expect(
                await statusCode {
                    _ = try await services.datasets.deleteDataset(.with { $0.id = dataset.id })
                } == .failedPrecondition)
            let deleted = try await services.datasets.deleteDataset(
                .with {
                    $0.id = dataset.id; $0.force = true
                })
            #expect(
                deleted.trainedVersions.map(\.text) == ["d@1"]
                    && deleted.trainedVersions.first?.version == 1)
            #expect(
                await statusCode {
                    _ = try await services.datasets.getDataset(.with { $0.id = dataset.id })
                } == .notFound)
            #expect(
                await statusCode {
                    _ = try await services.datasets.deleteDataset(.with { $0.id = dataset.id })
                } == .notFound)
            let folder = (harness.dataDirectory as NSString).appendingPathComponent(
                "datasets/" + dataset.id.replacingOccurrences(of: "sha256:", with: ""))
            #expect(!FileManager.default.fileExists(atPath: folder))
            // The version keeps serving; its export needs the data and says so.
            #expect(
                try await services.models.getModel(.with { $0.model = .init(text: "d@1") }).model
                    .segments.count == 3)
            #expect(
                await statusCode {
                    _ = try await services.models.exportAssignments(
                        .with { $0.model = .init(text: "d@1") }
                    ) { response in
                        for try await _ in response.messages {}
                    }
                } == .notFound)
            // Room again: the second upload fits.
            _ = try await services.upload(second)
            // A header wider than --max-columns (default 1000) is refused, naming the file.
            let wide = try harness.sideFile("wide.csv")
            try
                ((0...1000).map { "c\($0)" }.joined(separator: ",") + "\n"
                + (0...1000).map { _ in "1" }.joined(separator: ",") + "\n")
                .write(toFile: wide, atomically: true, encoding: .utf8)
            do {
                _ = try await services.upload(wide, kind: .customers)
                Issue.record("a 1,001-column file was accepted")
            } catch let error as RPCError {
                #expect(
                    error.code == .invalidArgument && error.message.contains("1001 columns"),
                    "\(error.message)")
            }
        }
    }

    @Test(
        "An oversized request is RESOURCE_EXHAUSTED naming --max-message-mb, not a stream reset; the connection keeps serving"
    )
    func oversizedMessage() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 120)
        try await harness.withServer(configure: { $0.maximumMessageBytes = 1 << 20 }) {
            services, _ in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "m", ks: 3...3, nInit: 1)
            // About 2.4 MB: over the 1 MiB limit, under the transport's hard cut (4x).
            let rows = (0..<40_000).map { index in
                Segmentation_V1_FeatureRow.with {
                    $0.customerID = "c\(index)"; $0.values = [10, 3, 500, 120]
                }
            }
            let big = Segmentation_V1_ScoreRequest.with {
                $0.model = .init(text: "m")
                $0.features = .with {
                    $0.featureNames = ["recency", "frequency", "monetary", "avg_order_value"];
                    $0.rows = rows
                }
            }
            do {
                _ = try await services.scoring.score(big, options: largeResponses)
                Issue.record("a message over the limit was scored")
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted, "\(error.code): \(error.message)")
                #expect(error.message.contains("--max-message-mb"), "\(error.message)")
                let details =
                    (try? error.unpackGoogleRPCStatus())?.details.map { String(describing: $0) }
                    ?? []
                #expect(details.contains { $0.contains("MESSAGE_TOO_LARGE") }, "\(details)")
            }
            // The same connection still serves, and a batch under the limit scores.
            var small = big
            small.features.rows = Array(rows.prefix(1000))
            #expect(try await services.scoring.score(small).scores.scores.count == 1000)
        }
    }

    @Test(
        "Rows per dataset are bounded by --max-rows (RESOURCE_EXHAUSTED, nothing kept); concurrent uploads cannot pass the quota together"
    )
    func rowsAndConcurrentQuota() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (first, _) = try harness.sampleFile(customers: 150, seed: 1)
        let (second, _) = try harness.sampleFile(customers: 150, seed: 2)
        let rows =
            try String(contentsOfFile: first, encoding: .utf8).split(separator: "\n").count - 1
        try await harness.withServer(configure: { $0.limits.maximumRows = rows - 1 }) {
            services, _ in
            do {
                _ = try await services.upload(first)
                Issue.record("\(rows) rows were accepted under --max-rows \(rows - 1)")
            } catch let error as RPCError {
                #expect(
                    error.code == .resourceExhausted && error.message.contains("at most"),
                    "\(error.code): \(error.message)")
            }
            #expect(try await services.datasets.listDatasets(.init()).datasets.isEmpty)
        }
        // Two uploads that each fit the quota but not together, held after their first chunk until
        // both have one stored: without reservations both pass; with them exactly one is kept.
        let size = Int64(try Data(contentsOf: URL(fileURLWithPath: first)).count)
        let barrier = Barrier(parties: 2)
        let hooks = ServerHooks(afterUploadChunk: { await barrier.arrive(timeout: .seconds(3)) })
        let outcome = try await harness.withServer(
            maximumDatasetBytes: size + size / 2, hooks: hooks
        ) { services, _ in
            let results = await withTaskGroup(of: Bool.self) { group in
                for file in [first, second] {
                    group.addTask { (try? await services.upload(file)) != nil }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            return (
                results.filter { $0 }.count,
                try await services.datasets.listDatasets(.init()).datasets.count
            )
        }
        #expect(
            outcome.0 == 1 && outcome.1 == 1, "\(outcome.0) uploads accepted, \(outcome.1) stored")
        let staging = (harness.dataDirectory as NSString).appendingPathComponent(
            "datasets/.staging")
        #expect((try FileManager.default.contentsOfDirectory(atPath: staging)).isEmpty)
    }

    @Test("A Score call past its deadline stops its work part-way; the server keeps serving")
    func scoreDeadline() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 150)
        // The scoring thread is held until the client has seen its deadline pass and the server
        // has marked the call cancelled, so the work always starts late; it must then stop at its
        // first check instead of scoring 20,000 rows.
        let release = DispatchSemaphore(value: 0)
        let first = Mutex(true)
        let reached = Atomic<Bool>(false)
        let hooks = ServerHooks(beforeLargeScore: { cancellation in
            let isFirst = first.withLock { held -> Bool in
                defer { held = false }
                return held
            }
            guard isFirst else { return }
            reached.store(true, ordering: .relaxed)
            guard release.wait(timeout: .now() + 20) == .success else { return }
            for _ in 0..<1000 where !cancellation.isCancelled { usleep(10_000) }
        })
        try await harness.withServer(hooks: hooks) { services, server in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "m", ks: 3...3, nInit: 1)
            let rows = (0..<20_000).map { index in
                Segmentation_V1_FeatureRow.with {
                    $0.customerID = "c\(index)"; $0.values = [10, 3, 500, 120]
                }
            }
            let request = Segmentation_V1_ScoreRequest.with {
                $0.model = .init(text: "m")
                $0.features = .with {
                    $0.featureNames = ["recency", "frequency", "monetary", "avg_order_value"];
                    $0.rows = rows
                }
            }
            // Long enough for the 1 MB request to arrive on a loaded machine (a 300 ms deadline
            // once passed before it had, so the server never started the work this test is about).
            var options = largeResponses
            options.timeout = .seconds(5)
            #expect(
                await statusCode { _ = try await services.scoring.score(request, options: options) }
                    == .deadlineExceeded)
            let arrived = reached.load(ordering: .relaxed)
            try #require(arrived, "the request did not reach scoring within its 5 s deadline")
            // Well past the deadline on the server's side too, however long the 1 MB request took
            // to arrive (the server counts from its arrival).
            try await Task.sleep(for: .milliseconds(300))
            release.signal()
            for _ in 0..<200 where server.metrics.scoresStoppedEarly == 0 {
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(server.metrics.scoresStoppedEarly == 1)
            // Counted as the deadline it was, not as the cancellation it looks like to the server
            // (recorded as the call ends, just after its scoring stopped).
            func handled() -> [Substring] {
                String(decoding: server.metrics.registry.emitToBuffer(), as: UTF8.self)
                    .split(separator: "\n").filter {
                        $0.hasPrefix("grpc_server_handled_total")
                            && $0.contains(#"grpc_method="Score""#)
                    }
            }
            for _ in 0..<200 where handled().isEmpty {
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(
                handled().count == 1 && handled()[0].contains(#"grpc_code="DEADLINE_EXCEEDED""#),
                "\(handled())")
            // Without a deadline the same request scores in full.
            #expect(
                try await services.scoring.score(request, options: largeResponses).scores.scores
                    .count == 20_000)
        }
    }

    @Test(
        "Errors carry google.rpc.Status details: a stable reason, the customer and field of a bad row, the resource not found"
    )
    func richErrors() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 120)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "m", ks: 3...3, nInit: 1)
            func status(_ body: () async throws -> Void) async -> GoogleRPCStatus? {
                do { try await body(); return nil } catch let error as RPCError {
                    return try? error.unpackGoogleRPCStatus()
                } catch { return nil }
            }
            let bad = await status {
                _ = try await services.scoring.score(
                    .with {
                        $0.model = .init(text: "m")
                        $0.features = .with {
                            $0.featureNames = [
                                "recency", "frequency", "monetary", "avg_order_value",
                            ]
                            $0.rows = [
                                .with {
                                    $0.customerID = "c9"; $0.values = [1, 2, .nan, 4]
                                }
                            ]
                        }
                    })
            }
            let badStatus = try #require(bad)
            #expect(badStatus.code == .invalidArgument)
            let badDetails = badStatus.details.map { String(describing: $0) }
            #expect(
                badDetails.contains { $0.contains("BAD_ROW") && $0.contains("segmentation.v1") },
                "\(badDetails)")
            #expect(badDetails.contains { $0.contains("customers[c9].monetary") }, "\(badDetails)")
            // SetAlias's compare-and-swap: a stale expectation is ABORTED, reason ALIAS_MOVED.
            func setAlias(expecting: Int32) async -> GoogleRPCStatus? {
                await status {
                    _ = try await services.models.setAlias(
                        .with {
                            $0.model = .init(text: "m@1"); $0.alias = "prod"
                            $0.expectedVersion = expecting
                        })
                }
            }
            let moved = try #require(await setAlias(expecting: 3))
            #expect(moved.code == .aborted && moved.message.contains("does not exist"))
            #expect(moved.details.contains { String(describing: $0).contains("ALIAS_MOVED") })
            #expect(await setAlias(expecting: 0) == nil)
            let negative = try #require(await setAlias(expecting: -1))
            #expect(
                negative.code == .invalidArgument && negative.message.contains("expected_version"))
            let missing = await status {
                _ = try await services.models.getModel(.with { $0.model = .init(text: "ghost") })
            }
            let missingStatus = try #require(missing)
            #expect(missingStatus.code == .notFound)
            // The resource name, for programs: models/NAME[/versions/N | /aliases/A].
            func resource(_ status: GoogleRPCStatus?) -> (type: String, name: String)? {
                status?.details.compactMap(\.resourceInfo).first.map { ($0.type, $0.name) }
            }
            #expect(resource(missingStatus)! == ("model", "models/ghost"))
            let missingVersion = await status {
                _ = try await services.models.getModel(.with { $0.model = .init(text: "m@9") })
            }
            #expect(resource(missingVersion)! == ("model version", "models/m/versions/9"))
            let missingAlias = await status {
                _ = try await services.models.getModel(.with { $0.model = .init(text: "m@gold") })
            }
            #expect(resource(missingAlias)! == ("alias", "models/m/aliases/gold"))
            #expect(missingAlias?.message == "alias 'gold' of model 'm' not found")
            // A refused request field is named as a field violation too.
            let badPage = await status {
                _ = try await services.models.listModels(.with { $0.pageSize = -1 })
            }
            let badPageStatus = try #require(badPage)
            #expect(badPageStatus.code == .invalidArgument)
            let badPageDetails = badPageStatus.details.map { String(describing: $0) }
            #expect(
                badPageDetails.contains { $0.contains("FieldViolation(field: \"page_size\"") },
                "\(badPageDetails)")
            let long = await status {
                _ = try await services.models.getModel(
                    .with { $0.model = .init(text: String(repeating: "y", count: 100_000)) })
            }
            let longMessage = try #require(long).message
            #expect(longMessage.utf8.count < 600)
            // One character of 60,000 combining accents: bounded in bytes, not characters.
            let accents = "a" + String(repeating: "\u{301}", count: 60_000)
            let combining = await status {
                _ = try await services.models.getModel(.with { $0.model = .init(text: accents) })
            }
            #expect(try #require(combining).message.utf8.count < 600)
            #expect(
                await statusCode {
                    _ = try await services.models.renameSegment(
                        .with {
                            $0.model = .init(text: "m"); $0.segmentID = 0; $0.newName = accents
                        }, options: largeResponses)
                } == .invalidArgument)
            // Errors thrown outside a handler carry details too: health's own NOT_FOUND, the
            // interceptor's refusals.
            let unknownService = try #require(
                await status {
                    _ = try await services.health.check(.with { $0.service = "nope.Service" })
                })
            #expect(
                unknownService.details.map { String(describing: $0) }.contains {
                    $0.contains("NOT_FOUND") && $0.contains("segmentation.v1")
                })
        }
    }

    @Test("Refusals by role and token carry their reason in google.rpc.Status details")
    func refusalDetails() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let tokens = try SecurityTests.writeTokens(harness, [.viewer: "view-token"])
        defer { try? FileManager.default.removeItem(atPath: tokens) }
        try await harness.withServer(
            configure: { $0.tokensFile = tokens }, clientToken: "view-token"
        ) { services, _ in
            func status(_ body: () async throws -> Void) async -> GoogleRPCStatus? {
                do { try await body(); return nil } catch let error as RPCError {
                    return try? error.unpackGoogleRPCStatus()
                } catch { return nil }
            }
            let denied = try #require(
                await status {
                    _ = try await services.models.setAlias(
                        .with {
                            $0.model = .init(name: "m", version: Int(1)); $0.alias = "x"
                        })
                })
            #expect(denied.code == .permissionDenied)
            #expect(
                denied.details.map { String(describing: $0) }.contains {
                    $0.contains("PERMISSION_DENIED")
                })
            _ = try await services.models.listModels(.init())
        }
    }
}

/// Lets `parties` callers through together, or each after `timeout` if the others never come.
actor Barrier {
    private let parties: Int
    private var arrived = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) { self.parties = parties }

    func arrive(timeout: Duration) async {
        arrived += 1
        if arrived >= parties {
            for waiter in waiting { waiter.resume() }
            waiting.removeAll()
            return
        }
        let generation = arrived
        await withCheckedContinuation { continuation in
            waiting.append(continuation)
            Task {
                try? await Task.sleep(for: timeout); self.timeOut(generation)
            }
        }
    }

    private func timeOut(_ generation: Int) {
        guard arrived == generation, !waiting.isEmpty else { return }
        for waiter in waiting { waiter.resume() }
        waiting.removeAll()
    }
}
