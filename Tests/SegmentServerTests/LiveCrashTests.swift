import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// The real server killed (SIGKILL) while a live store is being fed.
@Suite("Live segmentation: SIGKILL during ingest", .serialized, .timeLimit(.minutes(10)))
struct LiveCrashTests {
    static func withServices<T: Sendable>(
        _ port: Int, _ body: @Sendable (Services) async throws -> T
    ) async throws -> T {
        try await withGRPCClient(
            transport: .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        ) { client in try await body(Services(client: client)) }
    }

    @Test(
        "Killed twice part-way through a replay: after the restart, sending everything again applies each line once, every customer equals batch scoring, and the feed has no gap",
        .enabled(
            if: ProcessTests.built,
            "build the executables first (swift build); scripts/test.sh does"))
    func killedDuringIngest() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-live-kill-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let data = (work as NSString).appendingPathComponent("data")
        let sample = (work as NSString).appendingPathComponent("sample.csv")
        let csv = SampleDataGenerator(customers: 400, seed: 21).generate().csv
        try csv.write(toFile: sample, atomically: true, encoding: .utf8)
        let days = LiveServerTests.shuffledDays(csv, seed: 8)

        var server = try await ServerProcess.start(dataDirectory: data)
        try await Self.withServices(server.port) { services in
            let dataset = try await services.upload(sample)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
        }
        var cut = 0
        for wait in [300, 700] {
            let port = server.port
            let feeding = Task {
                try await Self.withServices(port) { services in
                    _ = try await LiveServerTests.ingest(
                        services, days, model: "shop", clock: .event)
                }
            }
            try await Task.sleep(for: .milliseconds(wait))
            try await server.kill()
            // Cut short by the kill (a fast machine may finish first: then nothing was at risk).
            if case .failure = await feeding.result { cut += 1 }
            server = try await ServerProcess.start(dataDirectory: data)
        }
        #expect(cut > 0, "every replay ended before its kill: the test killed nothing in flight")
        defer { server.stopWithoutWaiting() }
        try await Self.withServices(server.port) { services in
            _ = try await LiveServerTests.ingest(services, days, model: "shop", clock: .event)
            let check = try await LiveServerTests.ingest(
                services, days, model: "shop", clock: .unspecified)
            #expect(check.batches.allSatisfy { $0.purchasesApplied == 0 && $0.moves == 0 })
            // Every line once: what a fresh store applies of the same days.
            let lines = check.batches.reduce(0) { $0 + $1.repeated }
            var reference = LiveCustomerStore()
            for day in days {
                var loader = TransactionLoader()
                loader.keepsLineIdentities = true
                try loader.add(bytes: Data(day.utf8), source: "day")
                try reference.apply(loader.finish(requireRows: false).0)
            }
            #expect(lines == reference.customers.values.reduce(0) { $0 + $1.lines.count })
            let batch = try await LiveServerTests.batchScores(services, csv, "shop")
            #expect(check.storeCustomers == Int64(reference.count))
            for (id, expected) in batch {
                let live = try await services.live.getCustomer(
                    .with {
                        $0.model = .init(text: "shop"); $0.customerID = id
                    })
                #expect(live.score.segmentID == expected.segmentID, "customer \(id)")
                #expect(abs(live.score.distance - expected.distance) < 1e-9, "customer \(id)")
                #expect(live.lines == Int64(reference.customers[id]!.lines.count), "customer \(id)")
            }
            let last = check.lastSequence
            let moves = try await LiveServerTests.allMoves(services, "shop", count: Int(last))
            #expect(moves.map(\.sequence) == Array(1...last))
        }
    }
}
