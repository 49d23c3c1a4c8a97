import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SegmentationAPI
import SegmentationEngine
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// SIGTERM during a rolling restart: calls and streams already in flight finish, new ones go
/// elsewhere, and only what is still open after --drain-seconds is cancelled.
@Suite("Graceful drain on SIGTERM", .serialized, .timeLimit(.minutes(10)))
struct DrainTests {
    static let features = ["recency", "frequency", "monetary", "avg_order_value"]

    static func request(_ id: String, rows: Int) -> Segmentation_V1_ScoreRequest {
        .with {
            $0.requestID = id
            $0.model = .init(text: "shop")
            $0.features = .with {
                $0.featureNames = features
                $0.rows = (0..<rows).map { index in
                    .with {
                        $0.customerID = "c\(index)"; $0.values = [10, 3, 500, 120]
                    }
                }
            }
        }
    }

    @Test(
        "SIGTERM with a ScoreStream open: the stream's next requests are still answered, and the server exits 0 once it closes",
        .enabled(
            if: ProcessTests.built,
            "build the executables first (swift build); scripts/test.sh does"))
    func streamsFinish() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 23)
        // A drain long enough for the three answers beside the whole suite on two cores.
        let server = try await ServerProcess.start(
            dataDirectory: harness.dataDirectory, extra: ["--drain-seconds", "60"])
        defer { server.stopWithoutWaiting() }
        let signalled = Mutex<ContinuousClock.Instant?>(nil)
        try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: server.port),
                transportSecurity: .plaintext)
        ) { client in
            let services = Services(client: client)
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            let (answered, answeredContinuation) = AsyncStream.makeStream(of: String.self)
            let answers = try await services.scoring.scoreStream { writer in
                try await writer.write(Self.request("before", rows: 2_000))
                for await id in answered where id == "before" { break }
                kill(server.processIdentifier, SIGTERM)
                signalled.withLock { $0 = .now }
                // Draining: this stream is still served, for several more requests.
                for index in 0..<3 {
                    try await Task.sleep(for: .milliseconds(300))
                    try await writer.write(Self.request("after-\(index)", rows: 2_000))
                }
            } onResponse: { response in
                var ids: [String] = []
                for try await answer in response.messages {
                    #expect(!answer.hasError, "\(answer.requestID): \(answer.error.message)")
                    #expect(answer.scores.scores.count == 2_000)
                    ids.append(answer.requestID)
                    answeredContinuation.yield(answer.requestID)
                }
                return ids
            }
            #expect(answers == ["before", "after-0", "after-1", "after-2"])
        }
        try await server.wait(seconds: 10, what: "segment-server draining")
        #expect(server.terminationStatus == 0)
        #expect(signalled.withLock { $0 } != nil)
        #expect(await server.log.whole().contains("draining"), "the log does not say it drains")
    }

    @Test(
        "A stream kept open past --drain-seconds is ended then with UNAVAILABLE (retryable, not CANCELLED), and the server exits 0",
        .enabled(
            if: ProcessTests.built,
            "build the executables first (swift build); scripts/test.sh does"))
    func drainIsBounded() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 24)
        let server = try await ServerProcess.start(
            dataDirectory: harness.dataDirectory, extra: ["--drain-seconds", "2"])
        defer { server.stopWithoutWaiting() }
        let start = Mutex<ContinuousClock.Instant?>(nil)
        let outcome: (code: RPCError.Code, message: String)? = try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: server.port),
                transportSecurity: .plaintext)
        ) { client in
            let services = Services(client: client)
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            do {
                try await services.scoring.scoreStream { writer in
                    try await writer.write(Self.request("only", rows: 10))
                    try await Task.sleep(for: .milliseconds(300))
                    kill(server.processIdentifier, SIGTERM)
                    start.withLock { $0 = .now }
                    try await Task.sleep(for: .seconds(30))  // never closes on its own
                } onResponse: { response in
                    for try await _ in response.messages {}
                }
                return nil
            } catch let error as RPCError {
                return (error.code, error.message)
            } catch {
                return (.unknown, "\(error)")
            }
        }
        try await server.wait(seconds: 15, what: "segment-server past its drain")
        let took = start.withLock { $0 }.map { (ContinuousClock.now - $0) / .seconds(1) } ?? -1
        #expect(
            outcome?.code == .unavailable
                && outcome?.message.contains("shut down before this call finished") == true,
            "the open stream ended with \(String(describing: outcome))")
        #expect(server.terminationStatus == 0)
        #expect(
            took >= 1.5 && took < 8,
            "the server took \(took) s to exit with --drain-seconds 2 (it must wait for the drain, then end it)"
        )
    }

    @Test(
        "Shutdown with large Score calls in flight: each finishes OK with every customer scored, then the server stops"
    )
    func largeScoresFinish() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 25)
        // Each large Score is held on its scoring thread until the shutdown has begun.
        let shuttingDown = Atomic<Bool>(false)
        let held = Atomic<Int>(0)
        let hooks = ServerHooks(beforeLargeScore: { _ in
            held.add(1, ordering: .relaxed)
            for _ in 0..<2000 where !shuttingDown.load(ordering: .relaxed) { usleep(5_000) }
            usleep(300_000)  // and a little after it, so the drain is under way while it scores
        })
        try await harness.withServer(hooks: hooks) { services, server in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            let request = Self.request("large", rows: 20_000)
            let calls = (0..<2).map { _ in
                Task {
                    try await services.scoring.score(request, options: largeResponses).scores.scores
                        .count
                }
            }
            for _ in 0..<400 where held.load(ordering: .relaxed) < 2 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(held.load(ordering: .relaxed) == 2, "the large calls did not reach scoring")
            let shutdown = Task { await server.shutDown() }
            for _ in 0..<400 where server.health.phase != .stopping {
                try await Task.sleep(for: .milliseconds(5))
            }
            shuttingDown.store(true, ordering: .relaxed)
            for call in calls {
                #expect(try await call.value == 20_000)
            }
            await shutdown.value
        }
    }
}
