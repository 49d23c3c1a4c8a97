import Foundation
import Testing

@testable import SegmentCLI

/// `segment live` as a user runs it, against a separate `segment-server` process: what it
/// prints, what it writes, and how it refuses.
@Suite("segment live, as a user runs it", .serialized, .timeLimit(.minutes(10)))
struct LiveCLITests {
    @Test(
        "live ingest, show, members and watch print what the store holds (the customer's value too); members --file writes every member; bad input exits with its own code and one line",
        .enabled(if: ProcessTests.built, "build the executables first (swift build)"))
    func commands() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-live-cli-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        func at(_ name: String) -> String { (work as NSString).appendingPathComponent(name) }
        let sample = at("sample.csv")
        let client = ProcessTests.client
        #expect(
            try await ProcessTests.run(
                client, ["generate-sample", "--customers", "300", "--seed", "8", "--file", sample]
            ).status == 0)
        let server = try await ServerProcess.start(dataDirectory: at("data"))
        defer { server.stopWithoutWaiting() }
        let env = ["SEGMENT_SERVER": "127.0.0.1:\(server.port)"]
        func segment(_ arguments: String...) async throws -> ProcessTests.Result {
            try await ProcessTests.run(client, arguments, environment: env)
        }
        let trained = try await segment("train", sample, "--model", "shop", "--k", "3", "--wait")
        #expect(trained.status == 0, "\(trained.stderr)")

        let ingested = try await segment(
            "live", "ingest", sample, "--model", "shop", "--clock", "event")
        #expect(ingested.status == 0, "\(ingested.stderr)")
        let summary = Dictionary(
            ingested.stdout.split(separator: "\n").compactMap { line in
                line.firstMatch(of: /^(.+?)\s{2,}(\S+)$/).map { (String($0.1), String($0.2)) }
            }, uniquingKeysWith: { first, _ in first })
        let customers = try #require(summary["store customers"].flatMap { Int($0) })
        #expect(customers > 250)
        #expect(summary["lines refused over a limit"] == "0")

        // Every member of every segment, written to files: together, every customer with
        // features, once.
        var members: [String] = []
        for id in 0..<3 {
            let file = at("segment-\(id).csv")
            let listed = try await segment(
                "live", "members", "--model", "shop", "--segment", String(id), "--file", file)
            #expect(listed.status == 0, "\(listed.stderr)")
            let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
            #expect(lines.first?.hasPrefix("customer_id,recency,frequency,monetary") == true)
            #expect(listed.stdout.hasPrefix("\(lines.count - 1) customers of segment \(id)"))
            members += lines.dropFirst().map { String($0.split(separator: ",")[0]) }
        }
        #expect(Set(members).count == members.count)
        #expect(members.count <= customers && members.count > customers - 20)

        let shown = try await segment("live", "show", members[0], "--model", "shop")
        #expect(shown.status == 0, "\(shown.stderr)")
        for item in ["customer ", "segment ", "recency ", "P(alive) ", "purchases in 90d "] {
            #expect(shown.stdout.contains(item), "\(item) in \(shown.stdout)")
        }

        // The feed as CSV: a header, then one line per move, the first ones first purchases.
        let watched = try await segment(
            "live", "watch", "--model", "shop", "--limit", "5", "-o", "csv")
        #expect(watched.status == 0, "\(watched.stderr)")
        let moves = watched.stdout.split(separator: "\n")
        #expect(moves.count == 6)
        #expect(moves[0].hasPrefix("sequence,customer_id,from_segment_id"))
        #expect(moves[1].hasPrefix("1,") && moves[1].contains(",-1,,"))

        // Refusals: one line each, with their own exit codes.
        let unknown = try await segment("live", "show", "nobody", "--model", "shop")
        #expect(unknown.status == 3, "\(unknown.status) \(unknown.stderr)")
        #expect(unknown.stderr.contains("customer 'nobody' has no purchase"))
        let noStore = try await segment("live", "members", "--model", "other", "--segment", "0")
        #expect(noStore.status == 3, "\(noStore.status) \(noStore.stderr)")
        let badPosition = try await segment("live", "watch", "--model", "shop", "--after", "-1")
        #expect(badPosition.status == 64, "\(badPosition.status) \(badPosition.stderr)")
        let otherRef = try await segment("live", "ingest", sample, "--model", "shop@1")
        #expect(otherRef.status != 0 && otherRef.stderr.contains("follows"), "\(otherRef.stderr)")
        for result in [unknown, noStore, otherRef] {
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
    }
}
