import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import SegmentBuild
import SegmentationAPI
import SwiftProtobuf
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One Prometheus sample: its name and labels, parsed from the text exposition.
struct Sample: Hashable {
    var name: String
    var labels: [String: String]
}

/// Fetches a URL; returns the status and the body.
func httpGet(_ url: String, method: String = "GET") async throws -> (status: Int, body: String) {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
}

/// `name{a="1",b="2"} value` lines into samples (comments skipped).
func parseExposition(_ text: String) -> [Sample: Double] {
    var samples: [Sample: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "),
            let value = Double(line[line.index(after: space)...])
        else { continue }
        let series = line[..<space]
        var labels: [String: String] = [:]
        var name = String(series)
        if let open = series.firstIndex(of: "{"), series.hasSuffix("}") {
            name = String(series[..<open])
            for pair in series[series.index(after: open)..<series.index(before: series.endIndex)]
                .split(separator: ",")
            {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 {
                    labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
                }
            }
        }
        samples[Sample(name: name, labels: labels)] = value
    }
    return samples
}

@Suite("Metrics, health, reflection and logs", .serialized, .timeLimit(.minutes(10)))
struct OperationsTests {
    @Test(
        "The metrics endpoint counts real calls by method and code, their latency, jobs, models, scored customers, upload bytes and memory"
    )
    func metricsAfterRealCalls() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300)
        let uploadBytes = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let tokens = try SecurityTests.writeTokens(harness, [.admin: "admin-metrics-1"])
        try await harness.withServer(
            configure: {
                $0.metricsPort = 0; $0.tokensFile = tokens
            }, clientToken: "admin-metrics-1"
        ) { services, server in
            let port = try #require(server.metricsPort)
            let dataset = try await services.upload(path)
            let job = try await services.train(dataset.id, model: "shop", ks: 3...3, nInit: 1)
            #expect(job.state == .succeeded)
            var scored = 0
            for size in [1, 10, 100] {
                let response = try await services.scoring.score(
                    .with {
                        $0.model = .init(text: "shop")
                        $0.matrix = .with {
                            $0.featureNames = [
                                "recency", "frequency", "monetary", "avg_order_value",
                            ]
                            $0.values = Array(repeating: 1.5, count: 4 * size)
                        }
                    })
                scored += response.packed.segmentIds.count
            }
            #expect(scored == 111)
            let missing = await statusCode {
                _ = try await services.scoring.score(
                    .with {
                        $0.model = .init(text: "nope");
                        $0.matrix = .with {
                            $0.featureNames = ["x"]; $0.values = [1]
                        }
                    })
            }
            #expect(missing == .notFound)
            // Refused before any handler runs: still counted.
            let anonymous = try await SecurityTests.asCaller(nil, server) { anonymous in
                await statusCode { _ = try await anonymous.models.listModels(.init()) }
            }
            #expect(anonymous == .unauthenticated)
            // A bidirectional stream of two messages is one call.
            let streamed = try await services.scoring.scoreStream { writer in
                for _ in 0..<2 {
                    try await writer.write(
                        .with {
                            $0.model = .init(text: "shop");
                            $0.matrix = .with {
                                $0.featureNames = [
                                    "recency", "frequency", "monetary", "avg_order_value",
                                ]; $0.values = [1, 2, 3, 4]
                            }
                        })
                }
            } onResponse: { response in
                var count = 0
                for try await part in response.messages { count += part.packed.segmentIds.count }
                return count
            }
            #expect(streamed == 2)

            let (status, body) = try await httpGet("http://127.0.0.1:\(port)/metrics")
            #expect(status == 200)
            let samples = parseExposition(body)
            func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
                samples[Sample(name: name, labels: labels)]
            }
            // go-grpc-prometheus's labels and code names, so existing gRPC dashboards read them.
            let score = [
                "grpc_type": "unary", "grpc_service": "segmentation.v1.ScoringService",
                "grpc_method": "Score",
            ]
            #expect(
                value("grpc_server_handled_total", score.merging(["grpc_code": "OK"]) { $1 }) == 3)
            #expect(
                value("grpc_server_handled_total", score.merging(["grpc_code": "NOT_FOUND"]) { $1 })
                    == 1)
            #expect(
                value(
                    "grpc_server_handled_total",
                    [
                        "grpc_type": "bidi_stream",
                        "grpc_service": "segmentation.v1.ScoringService",
                        "grpc_method": "ScoreStream", "grpc_code": "OK",
                    ]) == 1)
            #expect(
                value(
                    "grpc_server_handled_total",
                    [
                        "grpc_type": "client_stream",
                        "grpc_service": "segmentation.v1.DatasetService",
                        "grpc_method": "UploadDataset", "grpc_code": "OK",
                    ]) == 1)
            #expect(
                value(
                    "grpc_server_handled_total",
                    [
                        "grpc_type": "unary", "grpc_service": "segmentation.v1.TrainingService",
                        "grpc_method": "SubmitTrainingJob", "grpc_code": "OK",
                    ]) == 1)
            #expect(
                value(
                    "grpc_server_handled_total",
                    [
                        "grpc_type": "server_stream",
                        "grpc_service": "segmentation.v1.TrainingService",
                        "grpc_method": "WatchJob", "grpc_code": "OK",
                    ]) == 1)
            #expect(
                value(
                    "grpc_server_handled_total",
                    [
                        "grpc_type": "unary", "grpc_service": "segmentation.v1.ModelRegistry",
                        "grpc_method": "ListModels", "grpc_code": "UNAUTHENTICATED",
                    ]) == 1)
            // The latency histogram saw every Score call, and its buckets are cumulative.
            #expect(value("grpc_server_handling_seconds_count", score) == 4)
            #expect(
                value("grpc_server_handling_seconds_bucket", score.merging(["le": "+Inf"]) { $1 })
                    == 4)
            #expect((value("grpc_server_handling_seconds_sum", score) ?? 0) > 0)
            // go-grpc-prometheus' other counters: started, messages in and out (a failed unary call
            // sends none; the stream of two requests received and sent two).
            #expect(value("grpc_server_started_total", score) == 4)
            #expect(value("grpc_server_msg_received_total", score) == 4)
            #expect(value("grpc_server_msg_sent_total", score) == 3)
            let stream = [
                "grpc_type": "bidi_stream", "grpc_service": "segmentation.v1.ScoringService",
                "grpc_method": "ScoreStream",
            ]
            #expect(value("grpc_server_started_total", stream) == 1)
            #expect(value("grpc_server_msg_received_total", stream) == 2)
            #expect(value("grpc_server_msg_sent_total", stream) == 2)
            // Scoring by model and version.
            #expect(
                value("segment_scored_customers_total", ["model": "shop", "version": "1"]) == 113)
            #expect(value("segment_score_seconds_count", ["model": "shop", "version": "1"]) == 5)
            #expect((value("process_cpu_seconds_total") ?? 0) > 0)
            #expect((value("process_max_fds") ?? 0) >= (value("process_open_fds") ?? 0))
            let build = BuildInfo.current
            #expect(
                value(
                    "segment_build_info",
                    ["version": build.version, "commit": build.commit, "built": build.date]) == 1)
            // Every metric has its # TYPE and its # HELP.
            let lines = body.split(separator: "\n")
            let typed = Set(
                lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
            let helped = Set(
                lines.filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
            #expect(typed.count >= 25 && typed == helped, "\(typed.symmetricDifference(helped))")
            #expect(value("segment_upload_bytes_total") == Double(uploadBytes))
            #expect(value("segment_jobs_finished_total", ["state": "succeeded"]) == 1)
            #expect(value("segment_jobs_finished_total", ["state": "failed"]) == 0)
            #expect(value("segment_training_duration_seconds_count") == 1)
            #expect(value("segment_jobs", ["state": "queued"]) == 0)
            #expect(value("segment_jobs", ["state": "running"]) == 0)
            #expect(value("segment_models") == 1)
            #expect(value("segment_model_versions") == 1)
            #expect(value("segment_models_decoded") == 1)
            #expect((value("process_resident_memory_bytes") ?? 0) > 1_000_000)
            #expect((value("process_open_fds") ?? 0) > 0)
            // Nothing about customers: no ids, no file names.
            #expect(!body.contains("sample.csv"))

            #expect(try await httpGet("http://127.0.0.1:\(port)/other").status == 404)
            #expect(
                try await httpGet("http://127.0.0.1:\(port)/metrics", method: "POST").status == 405)
        }
    }

    @Test(
        "Health per service: while starting only liveness is SERVING (other calls UNAVAILABLE); while the registry fails its probes scoring and liveness stay SERVING, the rest NOT_SERVING; all SERVING again after; one failed probe alone changes nothing"
    )
    func healthFollowsStartupAndRegistry() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let registry = InMemoryRegistry()
        await registry.holdStartup()
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.dataDirectory = harness.dataDirectory
        configuration.registryProbeInterval = .milliseconds(50)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = try await SegmentationServer(
            configuration: configuration, logger: logger, registry: registry)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let port = try await server.listeningPort
            try await withGRPCClient(
                transport: .http2NIOPosix(
                    target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
            ) { client in
                let services = Services(client: client)
                typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus
                let names = [
                    "", "liveness", "segmentation.v1.ScoringService",
                    "segmentation.v1.ModelRegistry", "segmentation.v1.DatasetService",
                    "segmentation.v1.TrainingService",
                ]
                func statuses() async throws -> [Status] {
                    var all: [Status] = []
                    for name in names {
                        all.append(
                            try await services.health.check(.with { $0.service = name }).status)
                    }
                    return all
                }
                let (on, off) = (Status.serving, Status.notServing)
                #expect(try await statuses() == [off, on, off, off, off, off])
                // A watcher sees the change as it happens.
                async let watched: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = services
                    .health.watch(.init()) { response in
                        var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                        for try await update in response.messages {
                            seen.append(update.status)
                            if update.status == .serving { break }
                        }
                        return seen
                    }
                #expect(
                    await statusCode { _ = try await services.models.listModels(.init()) }
                        == .unavailable)
                try await Task.sleep(for: .milliseconds(100))
                await registry.releaseStartup()
                #expect(try await watched == [.notServing, .serving])
                #expect(await server.health.untilServing())
                #expect(try await statuses() == [on, on, on, on, on, on])
                _ = try await services.models.listModels(.init())

                // One failed probe is not an outage: a watcher sees no change.
                let (watching, watchStarted) = AsyncStream<Void>.makeStream()
                let flip = Task {
                    let first = try? await services.health.watch(.init()) { response -> Status? in
                        for try await update in response.messages {
                            if update.status != .serving { return update.status }
                            watchStarted.yield()
                        }
                        return nil
                    }
                    return first ?? nil
                }
                for await _ in watching { break }
                let probes = await registry.probesAnswered
                await registry.failProbes(1)
                try await Self.eventually { await registry.probesAnswered >= probes + 4 }
                flip.cancel()
                #expect(await flip.value == nil)
                #expect(try await statuses() == [on, on, on, on, on, on])

                // A readiness probe on scoring keeps a pod whose models still score.
                await registry.setUnreachable(true)
                try await Self.eventually {
                    try await services.health.check(.init()).status == .notServing
                }
                #expect(try await statuses() == [off, on, on, off, off, off])
                // Calls still run: what is in memory keeps serving.
                _ = try await services.models.listModels(.init())
                await registry.setUnreachable(false)
                try await Self.eventually {
                    try await services.health.check(.init()).status == .serving
                }
                #expect(try await statuses() == [on, on, on, on, on, on])
            }
            await server.shutDown()
            try await group.waitForAll()
        }
    }

    /// A server on `registry` in a data directory of its own, run until `body` returns or `run()` ends.
    static func withRunningServer(
        _ registry: any Registry, configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: @Sendable (SegmentationServer, Task<Void, any Error>) async throws -> Void
    ) async throws {
        let harness = try Harness()
        defer { harness.remove() }
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.dataDirectory = harness.dataDirectory
        configure(&configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = try await SegmentationServer(
            configuration: configuration, logger: logger, registry: registry)
        let running = Task { try await server.run() }
        try await body(server, running)
        await server.shutDown()
        _ = await running.result
    }

    /// The seconds `task` takes to end from now, at most `limit` (then it is reported and cancelled).
    static func secondsToEnd(_ task: Task<Void, any Error>, limit: Double = 5) async -> Double {
        let start = ContinuousClock.now
        let watchdog = Task {
            try await Task.sleep(for: .seconds(limit))
            task.cancel()
        }
        _ = await task.result
        watchdog.cancel()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    @Test(
        "A shutdown during the startup checks ends run() at once; a failing startup check ends run() with its error and nobody waits for SERVING forever"
    )
    func shutdownAndFailureWhileStarting() async throws {
        let held = InMemoryRegistry()
        await held.holdStartup()
        try await Self.withRunningServer(held) { server, running in
            _ = try await server.listeningPort
            try await Task.sleep(for: .milliseconds(100))
            #expect(server.health.phase == .starting)
            async let serving = server.health.untilServing()
            await server.shutDown()
            // Ended by the graceful shutdown, not by the watchdog's cancellation: beside the whole
            // suite on two cores (trainings on every core) a CI run once took just over 4 s.
            #expect(await Self.secondsToEnd(running, limit: 10) < 8)
            #expect(await serving == false)
            #expect(!server.health.hasStarted)
            await held.releaseStartup()
        }
        let failing = InMemoryRegistry()
        await failing.failStartup()
        try await Self.withRunningServer(failing) { server, running in
            #expect(await server.health.untilServing() == false)
            #expect(await Self.secondsToEnd(running) < 4)
            await #expect(throws: RegistryError.self) { try await running.value }
        }
    }

    @Test(
        "A reflection stream left open (as grpcui keeps one) ends at shutdown instead of holding it open"
    )
    func reflectionStreamEndsAtShutdown() async throws {
        try await Self.withRunningServer(InMemoryRegistry()) { server, running in
            #expect(await server.health.untilServing())
            let port = try await server.listeningPort
            let answered = try await withGRPCClient(
                transport: .http2NIOPosix(
                    target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
            ) { client in
                try await Grpc_Reflection_V1_ServerReflection.Client(wrapping: client)
                    .serverReflectionInfo { writer in
                        try await writer.write(.with { $0.listServices = "" })
                        // The tool keeps the stream open; the server shuts down meanwhile.
                        Task {
                            try await Task.sleep(for: .milliseconds(200)); await server.shutDown()
                        }
                        try? await Task.sleep(for: .seconds(30))
                    } onResponse: { response in
                        var answers = 0
                        do { for try await _ in response.messages { answers += 1 } } catch {}
                        return answers
                    }
            }
            #expect(answered == 1)
            // Held open, the stream would keep the server up until the 20 s escalation; ended, it
            // stops in well under a second alone and a few seconds on a loaded CI machine.
            #expect(await Self.secondsToEnd(running) < 10)
        }
    }
}
