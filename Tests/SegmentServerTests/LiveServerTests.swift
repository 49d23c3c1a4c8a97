import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// Live segmentation through the API: the store equals batch scoring, moves are told once with
/// their cause, the feed resumes without gaps, limits hold, and state survives a restart.
@Suite("Live segmentation", .serialized, .timeLimit(.minutes(10)))
struct LiveServerTests {
    /// The sample's rows grouped by day (header first in each), the days in a seeded shuffle.
    static func shuffledDays(_ csv: String, seed: UInt64) -> [String] {
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: true)
        let header = lines[0]
        var days: [Substring: [Substring]] = [:]
        let date = /\d{4}-\d{2}-\d{2}/
        for line in lines.dropFirst() {
            days[line.firstMatch(of: date)!.output, default: []].append(line)
        }
        var generator = SeededGenerator(seed: seed)
        return days.keys.sorted().shuffled(using: &generator).map {
            ([header] + days[$0]!).joined(separator: "\n") + "\n"
        }
    }

    static func ingest(
        _ services: Services, _ batches: [String], model: String, clock: Segmentation_V1_LiveClock
    ) async throws -> Segmentation_V1_IngestTransactionsResponse {
        try await services.live.ingestTransactions(options: largeResponses) { writer in
            for (i, batch) in batches.enumerated() {
                try await writer.write(
                    .with {
                        if i == 0 {
                            $0.model = .init(text: model)
                            $0.clock = clock
                        }
                        $0.csv = .with { $0.data = Data(batch.utf8) }
                        $0.batchID = String(i)
                    })
            }
        }
    }

    /// The moves after `after`: the first `count`, or those that came within `seconds`.
    static func allMoves(
        _ services: Services, _ model: String, after: Int64 = 0, count: Int = .max,
        seconds: Int64 = 20, summarizing: Bool = false
    ) async throws -> [Segmentation_V1_SegmentChange] {
        var options = CallOptions.defaults
        options.timeout = .seconds(seconds)
        let seen = Mutex<[Segmentation_V1_SegmentChange]>([])
        do {
            try await services.live.watchSegmentChanges(
                .with {
                    $0.model = .init(text: model)
                    $0.afterSequence = after
                    $0.summarizeModelChanges = summarizing
                }, options: options
            ) { response in
                for try await change in response.messages {
                    let total = seen.withLock {
                        $0.append(change)
                        return $0.count
                    }
                    if total == count { break }
                }
            }
        } catch let error as RPCError where error.code == .deadlineExceeded {
            // What came in time.
        }
        return seen.withLock { $0 }
    }

    /// Every segment's members under the store's ref: customer -> segment.
    static func members(
        _ services: Services, _ model: String, segments: Int
    ) async throws -> [String: Int32] {
        var found: [String: Int32] = [:]
        for segment in 0..<Int32(segments) {
            var token = ""
            repeat {
                let page = try await services.live.listSegmentMembers(
                    .with {
                        $0.model = .init(text: model)
                        $0.segmentID = segment
                        $0.pageSize = 100
                        $0.pageToken = token
                    })
                for member in page.members { found[member.customerID] = segment }
                token = page.nextPageToken
            } while !token.isEmpty
        }
        return found
    }

    static func batchScores(
        _ services: Services, _ csv: String, _ reference: String
    ) async throws -> [String: Segmentation_V1_CustomerScore] {
        let scored = try await services.scoring.score(
            .with {
                $0.model = .init(text: reference)
                $0.csv = .with { $0.data = Data(csv.utf8) }
            }, options: largeResponses)
        return Dictionary(uniqueKeysWithValues: scored.scores.scores.map { ($0.customerID, $0) })
    }

    /// A live customer's score equals batch scoring's: segment, distance, and customer value
    /// from the state's purchase summary.
    static func expectSame(
        _ live: Segmentation_V1_CustomerScore, _ batch: Segmentation_V1_CustomerScore,
        _ id: String
    ) {
        #expect(live.segmentID == batch.segmentID, "customer \(id)")
        #expect(abs(live.distance - batch.distance) < 1e-9, "customer \(id)")
        #expect(batch.hasValue && live.hasValue, "customer \(id)")
        let (a, b) = (live.value, batch.value)
        #expect(abs(a.pAlive - b.pAlive) < 1e-9, "customer \(id)")
        #expect(abs(a.expectedPurchases - b.expectedPurchases) < 1e-9, "customer \(id)")
        #expect(a.hasSpend == b.hasSpend, "customer \(id)")
        #expect(
            abs(a.spend.lifetimeValue - b.spend.lifetimeValue)
                <= 1e-9 * max(1, abs(b.spend.lifetimeValue)), "customer \(id)")
    }

    @Test(
        "Day batches shuffled, some sent twice, on the event clock: every customer's segment, distance, customer value and audience equal batch scoring; repeats change nothing; the feed resumes with no gap"
    )
    func equalsBatchScoring() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, output) = try harness.sampleFile(customers: 500, seed: 11)
        try await harness.withServer(configure: { $0.livePassInterval = .milliseconds(100) }) {
            services, _ in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 4...4).state == .succeeded)
            let days = Self.shuffledDays(output.csv, seed: 5)
            let first = try await Self.ingest(services, days, model: "shop", clock: .event)
            #expect(first.batches.count == days.count)
            #expect(first.batches.allSatisfy { $0.repeated == 0 && $0.refusedOverLimit == 0 })
            let again = try await Self.ingest(
                services, Array(days.prefix(20)), model: "shop", clock: .unspecified)
            #expect(again.batches.allSatisfy { $0.purchasesApplied == 0 && $0.repeated > 0 })
            #expect(again.batches.allSatisfy { $0.moves == 0 })
            #expect(again.lastSequence == first.lastSequence)

            let batch = try await Self.batchScores(services, output.csv, "shop")
            #expect(first.storeCustomers == Int64(batch.count))
            for (id, expected) in batch {
                let live = try await services.live.getCustomer(
                    .with {
                        $0.model = .init(text: "shop")
                        $0.customerID = id
                    })
                Self.expectSame(live.score, expected, id)
            }
            // The time pass brings every stored segment to the store's day: the audiences equal
            // batch scoring once it has run.
            let expected = batch.mapValues(\.segmentID)
            var audiences: [String: Int32] = [:]
            for _ in 0..<100 {
                audiences = try await Self.members(services, "shop", segments: 4)
                if audiences == expected { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(audiences == expected)

            // The feed: every move once, in order; resuming after any position misses nothing.
            let total = Int(first.lastSequence)
            let moves = try await Self.allMoves(services, "shop", count: total)
            #expect(moves.map(\.sequence) == Array(1...Int64(total)))
            // The pass runs beside the ingest: a customer's first move is their first purchase,
            // later ones are theirs or time's.
            var firsts: Set<String> = []
            for move in moves where !firsts.contains(move.customerID) {
                firsts.insert(move.customerID)
                #expect(move.fromSegmentID == -1 && move.cause == .transaction)
            }
            #expect(firsts.count == batch.count)
            #expect(moves.filter { $0.fromSegmentID == -1 }.count == batch.count)
            // The model's snapshot is after every sample day, so the store's day never moved:
            // nothing to re-place as time passed.
            #expect(
                try await Self.allMoves(services, "shop", after: Int64(total), seconds: 1).isEmpty)
            let resumed = try await Self.allMoves(
                services, "shop", after: Int64(total / 2), count: total - total / 2)
            #expect(resumed == Array(moves[(total / 2)...]))
            let empty = await statusCode { _ = try await services.live.ingestTransactions { _ in } }
            #expect(empty == .invalidArgument)
        }
    }
}

extension LiveServerTests {
    /// A CSV of the sample's columns: (invoice, customer, day, amount) lines.
    static func lines(_ rows: [(String, String, Int, Double)]) -> String {
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
            + rows.map { invoice, customer, day, amount in
                "\(invoice),P1,THING,1,\(TimestampParser.isoDate(day: day)) 10:00:00,\(amount),\(customer),United Kingdom"
            }.joined(separator: "\n") + "\n"
    }

    @Test(
        "A recent customer slides into another segment by time alone, told once as time passing; an alias switch re-places everyone as the new version does, told as model changes only for customers whose segment's stable id changed (as models diff matches segments), the from-segment named by its own version; a watcher that asks gets the switch summed up in one event, a count per from/to pair"
    )
    func timeAndModelChange() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, output) = try harness.sampleFile(customers: 400, seed: 12)
        try await harness.withServer(configure: { $0.livePassInterval = .milliseconds(100) }) {
            services, _ in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 4...4).state == .succeeded)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 5...5).state == .succeeded)
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(text: "shop@1"); $0.alias = "prod"
                })
            let last = output.csv.matches(of: /\d{4}-\d{2}-\d{2}/).compactMap {
                TimestampParser.day(ofDate: String($0.output))
            }.max()!
            // A buys three times in the days after the sample ends: recent, frequent.
            let start = try await Self.ingest(
                services,
                [
                    Self.lines([
                        ("900001", "A", last + 1, 80), ("900002", "A", last + 2, 90),
                        ("900003", "A", last + 3, 85),
                    ])
                ], model: "shop@prod", clock: .event)
            #expect(start.batches[0].moves == 1)
            let recent = try await services.live.getCustomer(
                .with {
                    $0.model = .init(text: "shop"); $0.customerID = "A"
                })
            #expect(recent.features[0] == 1)  // recency: a day
            // B buys 400 days later: the store's day moves on, and A is re-placed by the pass.
            let later = try await Self.ingest(
                services, [Self.lines([("900004", "B", last + 400, 50)])], model: "shop",
                clock: .unspecified)
            #expect(later.storeDate == TimestampParser.isoDate(day: last + 401))
            let lapsed = try await services.live.getCustomer(
                .with {
                    $0.model = .init(text: "shop"); $0.customerID = "A"
                })
            #expect(lapsed.features[0] == 398)
            #expect(lapsed.score.segmentID != recent.score.segmentID)
            try await Task.sleep(for: .seconds(1))  // the pass has run several times by now
            let moves = try await Self.allMoves(services, "shop", seconds: 2)
            let ofA = moves.filter { $0.customerID == "A" }
            #expect(ofA.map(\.cause) == [.transaction, .timePassing])
            #expect(ofA.last?.fromSegmentID == recent.score.segmentID)
            #expect(ofA.last?.toSegmentID == lapsed.score.segmentID)
            #expect(ofA.last?.date == later.storeDate)

            // The whole sample in, then prod moves to version 2: every customer re-placed.
            _ = try await Self.ingest(
                services, Self.shuffledDays(output.csv, seed: 3), model: "shop", clock: .unspecified
            )
            try await Task.sleep(for: .seconds(1))
            let before = try await Self.allMoves(services, "shop", seconds: 1)
            let v1 = try await Self.members(services, "shop", segments: 4)
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(text: "shop@2"); $0.alias = "prod"
                })
            var v2: [String: Int32] = [:]
            for _ in 0..<100 {
                try await Task.sleep(for: .milliseconds(100))
                let page = try await services.live.listSegmentMembers(
                    .with {
                        $0.model = .init(text: "shop"); $0.segmentID = 0; $0.pageSize = 1
                    })
                guard page.modelVersion == 2 else { continue }
                v2 = try await Self.members(services, "shop", segments: 5)
                if v2.count == v1.count { break }
            }
            #expect(v2.count == v1.count)
            for (id, segment) in v2 {
                let placed = try await services.live.getCustomer(
                    .with {
                        $0.model = .init(text: "shop@2"); $0.customerID = id
                    })
                #expect(placed.score.segmentID == segment, "customer \(id)")
            }
            // A move is a change of segment as models diff matches them: by stable id, not by
            // index; its from-segment is named as version 1 names it.
            var stable: [Int: [Int32: Int32]] = [:]
            var names: [Int: [Int32: String]] = [:]
            for version in [1, 2] {
                let detail = try await services.models.getModel(
                    .with { $0.model = .init(text: "shop@\(version)") }
                ).model
                stable[version] = Dictionary(
                    uniqueKeysWithValues: detail.segments.map { ($0.id, $0.stableID) })
                names[version] = Dictionary(
                    uniqueKeysWithValues: detail.segments.map { ($0.id, $0.name) })
            }
            let moved = v2.filter { id, segment in
                stable[1]![v1[id]!] != stable[2]![segment]
            }
            #expect(v2.contains { stable[1]![v1[$0.key]!] == stable[2]![$0.value] })
            let changes = try await Self.allMoves(
                services, "shop", after: Int64(before.count), seconds: 2)
            #expect(!changes.isEmpty)
            #expect(changes.allSatisfy { $0.cause == .modelChange && $0.modelVersion == 2 })
            #expect(Set(changes.map(\.customerID)) == Set(moved.keys))
            #expect(changes.count == moved.count)
            for change in changes {
                #expect(change.fromModelVersion == 1)
                #expect(change.fromSegmentID == v1[change.customerID]!)
                #expect(change.fromSegmentName == names[1]![change.fromSegmentID]!)
                #expect(change.fromStableID == stable[1]![change.fromSegmentID]!)
                #expect(change.toSegmentName == names[2]![change.toSegmentID]!)
                #expect(change.toStableID == stable[2]![change.toSegmentID]!)
                #expect(change.fromStableID != change.toStableID)
            }
            // Summed up: one event for the whole switch, a count per from/to pair, its
            // position the run's last.
            let summaries = try await Self.allMoves(
                services, "shop", after: Int64(before.count), count: 1, summarizing: true)
            let summary = try #require(summaries.first)
            #expect(summary.hasSummary && summary.customerID.isEmpty)
            #expect(summary.sequence == changes.last?.sequence)
            #expect(summary.summary.firstSequence == changes.first?.sequence)
            #expect(summary.summary.customers == Int64(changes.count))
            var pairs: [String: Int64] = [:]
            for change in changes {
                pairs["\(change.fromSegmentID)>\(change.toSegmentID)", default: 0] += 1
            }
            #expect(
                Dictionary(
                    uniqueKeysWithValues: summary.summary.pairs.map {
                        ("\($0.fromSegmentID)>\($0.toSegmentID)", $0.customers)
                    }) == pairs)
            #expect(summary.summary.pairs.map(\.customers) == pairs.values.sorted(by: >))
            #expect(
                summary.summary.pairs.allSatisfy {
                    $0.fromModelVersion == 1 && $0.fromSegmentName == names[1]![$0.fromSegmentID]
                        && $0.toSegmentName == names[2]![$0.toSegmentID]
                })
        }
    }
}

extension LiveServerTests {
    @Test(
        "Limits and bad input: batches over --live-max-batch-rows, customers past --live-max-customers and lines past --live-max-lines-per-customer are refused and counted; a stream without a model, another ref, an unknown store or customer, an oversized page, a position past the newest, an over-long customer id are refused; the store survives a restart"
    )
    func limitsAndRestart() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 13)
        let limits: (inout ServerConfiguration) -> Void = {
            $0.live.maximumBatchRows = 5
            $0.live.maximumCustomers = 2
            $0.live.maximumLinesPerCustomer = 3
        }
        let day = TimestampParser.day(ofDate: "2012-01-01")!
        try await harness.withServer(configure: limits) { services, _ in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            let big = Self.lines((1...6).map { ("1\($0)", "C\($0)", day, 10) })
            var refused = await statusCode {
                _ = try await Self.ingest(services, [big], model: "shop", clock: .event)
            }
            #expect(refused == .resourceExhausted)
            let answer = try await Self.ingest(
                services,
                [
                    Self.lines([
                        ("1", "A", day, 10), ("2", "A", day + 1, 10), ("3", "A", day + 2, 10),
                        ("4", "A", day + 3, 10), ("5", "B", day, 10),
                    ]),
                    Self.lines([("6", "C", day, 10), ("7", "D", day, 10)]),
                ], model: "shop", clock: .event)
            #expect(answer.batches[0].purchasesApplied == 4)
            #expect(answer.batches[0].refusedOverLimit == 1)  // A's fourth line
            #expect(answer.batches[1].refusedOverLimit == 2)
            #expect(answer.batches[1].refusedCustomers == ["C", "D"])
            // Each refused line told by its line in the batch, with the limit it hit.
            #expect(answer.batches[0].refusedRows.map(\.line) == [5])
            #expect(
                answer.batches[0].refusedRows.map(\.reason) == [
                    "over --live-max-lines-per-customer"
                ])
            #expect(answer.batches[1].refusedRows.map(\.line) == [2, 3])
            #expect(
                answer.batches[1].refusedRows.allSatisfy {
                    $0.reason == "a new customer over --live-max-customers"
                })
            #expect(answer.storeCustomers == 2)
            refused = await statusCode {
                _ = try await services.live.ingestTransactions { writer in
                    try await writer.write(.with { $0.csv = .with { $0.data = Data(big.utf8) } })
                }
            }
            #expect(refused == .invalidArgument)
            refused = await statusCode {
                _ = try await Self.ingest(services, [big], model: "shop@1", clock: .unspecified)
            }
            #expect(refused == .failedPrecondition)
            refused = await statusCode {
                _ = try await services.live.getCustomer(
                    .with {
                        $0.model = .init(text: "shop"); $0.customerID = "nobody"
                    })
            }
            #expect(refused == .notFound)
            refused = await statusCode {
                _ = try await services.live.listSegmentMembers(
                    .with {
                        $0.model = .init(text: "other"); $0.segmentID = 0
                    })
            }
            #expect(refused == .notFound)
            refused = await statusCode {
                _ = try await services.live.listSegmentMembers(
                    .with {
                        $0.model = .init(text: "shop"); $0.pageSize = 20_000
                    })
            }
            #expect(refused == .invalidArgument)
            // Positions past the newest move (Int64.max too) and over-long ids are refused.
            refused = await statusCode {
                _ = try await Self.allMoves(services, "shop", after: Int64.max, count: 1)
            }
            #expect(refused == .outOfRange)
            refused = await statusCode {
                _ = try await Self.ingest(
                    services, [Self.lines([("9", String(repeating: "x", count: 300), day, 10)])],
                    model: "shop", clock: .unspecified)
            }
            #expect(refused == .invalidArgument)
        }
        // After a restart: the same state; sending it all again changes nothing.
        try await harness.withServer(configure: limits) { services, _ in
            let a = try await services.live.getCustomer(
                .with {
                    $0.model = .init(text: "shop"); $0.customerID = "A"
                })
            #expect(a.lines == 3 && a.lastPurchaseDate == "2012-01-03")
            let again = try await Self.ingest(
                services, [Self.lines([("1", "A", day, 10), ("5", "B", day, 10)])], model: "shop",
                clock: .unspecified)
            #expect(again.batches[0].repeated == 2 && again.batches[0].purchasesApplied == 0)
        }
    }
}

extension LiveServerTests {
    @Test(
        "Two servers on one PostgreSQL registry ingest the same store at once: nothing lost, nothing twice, every customer equal to batch scoring, one gapless feed",
        .enabled(
            if: Backend.postgresURL != nil, "no PostgreSQL (scripts/test.sh starts one): skipped"))
    func replicas() async throws {
        try await SharedRegistryTests.withTwoServers(sample: (300, 14)) { servers in
            let (a, b) = (servers.a, servers.b)
            let csv = try String(contentsOfFile: servers.path, encoding: .utf8)
            let dataset = try await a.upload(servers.path)
            #expect(try await a.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            let seen = await SharedRegistryTests.within(10) {
                (try? await b.models.getModel(.with { $0.model = .init(text: "shop@1") })) != nil
            }
            #expect(seen != nil)
            // Each sends every day, in its own order, at the same time: each line applied once.
            let days = Self.shuffledDays(csv, seed: 9)
            async let fromA = Self.ingest(a, days, model: "shop", clock: .event)
            async let fromB = Self.ingest(
                b, Self.shuffledDays(csv, seed: 10), model: "shop", clock: .event)
            let (answerA, answerB) = try await (fromA, fromB)
            let applied = (answerA.batches + answerB.batches).reduce(0) {
                $0 + $1.purchasesApplied + $1.cancellationsApplied
            }
            let repeated = (answerA.batches + answerB.batches).reduce(0) { $0 + $1.repeated }
            let once = try await Self.ingest(a, days, model: "shop", clock: .unspecified)
            let lines = once.batches.reduce(0) { $0 + $1.repeated }
            #expect(once.batches.allSatisfy { $0.purchasesApplied == 0 })
            #expect(applied == lines && repeated == lines)
            let batch = try await Self.batchScores(a, csv, "shop")
            for (id, expected) in batch {
                let live = try await b.live.getCustomer(
                    .with {
                        $0.model = .init(text: "shop"); $0.customerID = id
                    })
                Self.expectSame(live.score, expected, id)
            }
            let last = max(answerA.lastSequence, answerB.lastSequence)
            let moves = try await Self.allMoves(b, "shop", count: Int(last))
            #expect(moves.map(\.sequence) == Array(1...last))
        }
    }
}
