import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// Group commit: batches written together in one transaction answer each for itself, as they
/// would one at a time; the queue between a stream's reader and writer bounds what waits.
@Suite("Live ingest: group commit", .serialized, .timeLimit(.minutes(5)))
struct LiveIngestTests {
    @Test(
        "Three batches in one transaction: each tells its own lines applied, repeated and refused; a new customer past --live-max-customers is refused in every batch that names it; each move is counted at the last batch that changed its customer"
    )
    func batchesWrittenTogether() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 13)
        let day = TimestampParser.day(ofDate: "2012-01-01")!
        try await harness.withServer(configure: { $0.live.maximumCustomers = 3 }) {
            services, server in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            let stores = try #require(server.live)
            let shop = try ModelReference(parsing: "shop")
            let csv = [
                LiveServerTests.lines([("1", "A", day, 10), ("2", "B", day, 20)]),
                LiveServerTests.lines([
                    ("1", "A", day, 10), ("3", "C", day + 1, 30), ("4", "D", day, 40),
                ]),
                LiveServerTests.lines([("5", "D", day, 40), ("6", "A", day + 2, 50)]),
            ]
            var batches: [PreparedBatch] = []
            for (index, text) in csv.enumerated() {
                batches.append(
                    try await stores.prepare(Data(text.utf8), String(index), following: shop))
            }
            let outcomes = try await stores.commit(
                batches, into: "shop", following: shop, clock: .event)
            #expect(outcomes.map(\.batchID) == ["0", "1", "2"])
            #expect(outcomes.map(\.applied.purchases) == [2, 1, 1])
            #expect(outcomes.map(\.applied.repeated) == [0, 1, 0])
            #expect(outcomes.map(\.refusedCustomers) == [[], ["D"], ["D"]])
            #expect(outcomes.map(\.applied.overLimit) == [0, 1, 1])
            // B first placed by batch 0, C by 1, A last changed by 2.
            #expect(outcomes.map(\.moves) == [1, 1, 1])
            #expect(outcomes.allSatisfy { $0.customers == 3 && $0.lastSequence == 3 })
            // The store's day is the one after the latest purchase of the three batches (the
            // sample's snapshot is earlier).
            #expect(outcomes.allSatisfy { $0.day == day + 3 })
            let a = try await services.live.getCustomer(
                .with {
                    $0.model = .init(text: "shop"); $0.customerID = "A"
                })
            #expect(a.lines == 2)
            let moves = try await LiveServerTests.allMoves(services, "shop", count: 3)
            #expect(moves.map(\.customerID).sorted() == ["A", "B", "C"])
            #expect(moves.map(\.sequence) == [1, 2, 3])
        }
    }

    @Test(
        "The writer takes every batch waiting; a reader pushing past the waiting-row bound waits until the writer takes them; a batch with other columns is refused; a writer's failure reaches the reader"
    )
    func queue() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 13)
        try await harness.withServer { services, server in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            let stores = try #require(server.live)
            let shop = try ModelReference(parsing: "shop")
            let day = TimestampParser.day(ofDate: "2012-01-01")!
            func batch(_ id: String) async throws -> PreparedBatch {
                try await stores.prepare(
                    Data(
                        LiveServerTests.lines([(id, "A", day, 10), (id + "b", "B", day, 10)]).utf8),
                    id, following: shop)
            }
            let queue = IngestQueue(maximumWaitingRows: 4, schema: nil)
            try await queue.push(try await batch("1"))
            try await queue.push(try await batch("2"))
            // A third would make 6 rows waiting: the push waits for the writer.
            let third = try await batch("3")
            let pushed = Mutex(false)
            async let pushing: Void = {
                try await queue.push(third)
                pushed.withLock { $0 = true }
            }()
            try await Task.sleep(for: .milliseconds(200))
            #expect(pushed.withLock { !$0 })
            #expect(await queue.next()?.map(\.batchID) == ["1", "2"])
            try await pushing
            #expect(await queue.next()?.map(\.batchID) == ["3"])
            // Another file's columns (no StockCode: no products) are refused at the push.
            let other = try await stores.prepare(
                Data(
                    "InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID\n9,1,2012-01-01 10:00:00,5,E\n"
                        .utf8),
                "4", following: shop)
            await #expect(throws: InputError.self) { try await queue.push(other) }
            struct Broken: Error {}
            queue.fail(Broken())
            await #expect(throws: Broken.self) { try await queue.push(try await batch("5")) }
            queue.close()
            #expect(await queue.next() == nil)
        }
    }
}

extension LiveIngestTests {
    @Test(
        "RecordTransactions: one call records a purchase and answers with the customer's segment now (as GetCustomer places them), moved on a first purchase; the same line again changes nothing; rows cleaning leaves out are told by line and reason (at most 10,000 an answer); a call without csv or model is refused"
    )
    func recordTransactions() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 13)
        let day = TimestampParser.day(ofDate: "2012-01-01")!
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            func record(
                _ rows: [(String, String, Int, Double)]
            ) async throws
                -> Segmentation_V1_RecordTransactionsResponse
            {
                try await services.live.recordTransactions(
                    .with {
                        $0.model = .init(text: "shop")
                        $0.clock = .event
                        $0.csv = .with { $0.data = Data(LiveServerTests.lines(rows).utf8) }
                        $0.batchID = "one"
                    })
            }
            let first = try await record([("1", "A", day, 80), ("2", "B", day, 5)])
            #expect(first.result.batchID == "one" && first.result.purchasesApplied == 2)
            #expect(first.customers.map(\.customerID) == ["A", "B"])
            #expect(first.customers.allSatisfy { $0.moved && $0.segmentID >= 0 })
            #expect(first.storeDate == TimestampParser.isoDate(day: day + 1))
            for placed in first.customers {
                let live = try await services.live.getCustomer(
                    .with {
                        $0.model = .init(text: "shop"); $0.customerID = placed.customerID
                    })
                #expect(live.score.segmentID == placed.segmentID)
                #expect(live.score.segmentName == placed.segmentName && !placed.segmentName.isEmpty)
            }
            let again = try await record([("1", "A", day, 80)])
            #expect(again.result.repeated == 1 && again.result.purchasesApplied == 0)
            #expect(again.customers.isEmpty && again.lastSequence == first.lastSequence)
            let later = try await record([("3", "A", day + 1, 90)])
            #expect(later.customers.map(\.customerID) == ["A"])
            #expect(later.customers[0].moved == (later.result.moves == 1))
            // Rows cleaning leaves out are told one by one, by line, with the reason.
            let mixed = try await record([
                ("4", "D", day, 10), ("5", "", day, 10), ("6", "D", day, 0), ("4", "D", day, 10),
            ])
            #expect(mixed.result.purchasesApplied == 1)
            #expect(mixed.result.refusedRows.map(\.line) == [3, 4, 5])
            #expect(
                mixed.result.refusedRows.map(\.reason) == [
                    "missing customer id", "non-positive quantity or price", "exact duplicate row",
                ])
            #expect(!mixed.result.refusedRowsCutShort)
            // An answer lists at most 10,000 of them; the counts stay whole.
            let guests = LiveServerTests.lines((0..<6_000).map { ("g\($0)", "", day, 10) })
            let many = try await LiveServerTests.ingest(
                services, [guests, guests], model: "shop", clock: .unspecified)
            #expect(many.batches.map(\.refusedRows.count) == [6_000, 4_000])
            #expect(many.batches.map(\.refusedRowsCutShort) == [false, true])
            #expect(many.batches[1].dataReport.rowsIn == 6_000)
            let noCSV = await statusCode {
                _ = try await services.live.recordTransactions(
                    .with { $0.model = .init(text: "shop") })
            }
            #expect(noCSV == .invalidArgument)
            let noModel = await statusCode {
                _ = try await services.live.recordTransactions(
                    .with { $0.csv = .with { $0.data = Data("a,b\n".utf8) } })
            }
            #expect(noModel == .invalidArgument)
        }
    }
}

extension LiveIngestTests {
    @Test(
        "A server whose view of an alias is behind the database (it moved on another replica) reads the view again before writing a store: the store follows the version the database names, never the stale one"
    )
    func staleAliasView() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 13)
        let registry = try SQLiteRegistry(
            path: (harness.dataDirectory as NSString).appendingPathComponent("registry.sqlite"))
        let day = TimestampParser.day(ofDate: "2012-01-01")!
        try await harness.withServer(registry: registry) { services, _ in
            let dataset = try await services.upload(path)
            for k in [3, 4] {
                #expect(
                    try await services.train(dataset.id, model: "shop", ks: k...k).state
                        == .succeeded)
            }
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(text: "shop@1"); $0.alias = "prod"
                })
            let first = try await LiveServerTests.ingest(
                services, [LiveServerTests.lines([("1", "A", day, 10)])], model: "shop@prod",
                clock: .event)
            #expect(first.modelVersion == 1)
            // The alias moves in the database only, as another replica would move it.
            try await registry.setAlias("shop", alias: "prod", version: 2)
            let next = try await LiveServerTests.ingest(
                services, [LiveServerTests.lines([("2", "B", day, 10)])], model: "shop",
                clock: .unspecified)
            #expect(next.modelVersion == 2)
            let a = try await services.live.getCustomer(
                .with {
                    $0.model = .init(text: "shop"); $0.customerID = "A"
                })
            #expect(a.modelVersion == 2)
        }
    }
}

extension LiveIngestTests {
    @Test(
        "Moves older than --live-move-retention-days are dropped, oldest first: a watcher resuming from a dropped position is told OUT_OF_RANGE, one at the newest or at 0 is served"
    )
    func feedRetention() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 13)
        let day = TimestampParser.day(ofDate: "2012-01-01")!
        try await harness.withServer(configure: {
            $0.live.moveRetentionDays = 0  // every move recorded is old at the next trim
            $0.livePassInterval = .milliseconds(100)
            $0.liveTrimInterval = .milliseconds(300)
        }) { services, _ in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            let answer = try await LiveServerTests.ingest(
                services,
                [
                    LiveServerTests.lines([("1", "A", day, 10), ("2", "B", day, 20)]),
                    LiveServerTests.lines([("3", "C", day, 30)]),
                ], model: "shop", clock: .event)
            #expect(answer.lastSequence == 3)
            var expired: RPCError.Code?
            for _ in 0..<50 where expired == nil {
                try await Task.sleep(for: .milliseconds(100))
                expired = await statusCode {
                    _ = try await LiveServerTests.allMoves(services, "shop", after: 1, seconds: 1)
                }
            }
            #expect(expired == .outOfRange)
            #expect(
                try await LiveServerTests.allMoves(services, "shop", after: 0, seconds: 1).isEmpty)
            #expect(
                try await LiveServerTests.allMoves(services, "shop", after: 3, seconds: 1).isEmpty)
        }
    }
}

extension LiveIngestTests {
    @Test(
        "Across versions a customer moved only when their segment's stable id changed (the same segment under a new index is no move, another segment under the same index is one); a version that cannot be read tells every customer as moving"
    )
    func stableIdentity() {
        // Version 1's segments 0 and 1 continue as version 2's 1 and 0; 2 is new.
        let versions: SegmentIdentities.Versions = [1: [0: 1, 1: 2], 2: [0: 2, 1: 1, 2: 3]]
        #expect(!versions.moved(from: 0, fromVersion: 1, to: 1, toVersion: 2))
        #expect(versions.moved(from: 0, fromVersion: 1, to: 0, toVersion: 2))
        #expect(versions.moved(from: 1, fromVersion: 1, to: 2, toVersion: 2))
        #expect(versions.moved(from: 0, fromVersion: 3, to: 0, toVersion: 2))
        #expect(!versions.moved(from: nil, fromVersion: 1, to: nil, toVersion: 2))
        #expect(versions.moved(from: nil, fromVersion: 1, to: 0, toVersion: 2))
        #expect(!versions.moved(from: 1, fromVersion: 2, to: 1, toVersion: 2))
        #expect(versions.moved(from: 1, fromVersion: 2, to: 0, toVersion: 2))
        let move = versions.move(
            "A", from: 0, fromVersion: 1, to: 0, version: 2, cause: .modelChange, day: 10)
        #expect(move?.fromVersion == 1 && move?.move.from == 0 && move?.move.to == 0)
        #expect(
            versions.move(
                "A", from: 0, fromVersion: 1, to: 1, version: 2, cause: .modelChange, day: 10)
                == nil)
    }
}

extension LiveIngestTests {
    @Test(
        "An audience under another version than the store follows: every customer with features, each once, in the segment that version places them in (as GetCustomer under it says), page by page"
    )
    func membersUnderAnotherRef() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, output) = try harness.sampleFile(customers: 300, seed: 13)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            for k in [3, 4] {
                #expect(
                    try await services.train(dataset.id, model: "shop", ks: k...k).state
                        == .succeeded)
            }
            _ = try await LiveServerTests.ingest(
                services, [output.csv], model: "shop@1", clock: .event)
            var placed: [String: Int32] = [:]
            var pages = 0
            for segment in Int32(0)..<4 {
                var token = ""
                repeat {
                    let page = try await services.live.listSegmentMembers(
                        .with {
                            $0.model = .init(text: "shop@2")
                            $0.segmentID = segment
                            $0.pageSize = 7
                            $0.pageToken = token
                        })
                    #expect(page.modelVersion == 2)
                    #expect(page.members.count <= 7)
                    for member in page.members {
                        #expect(placed[member.customerID] == nil, "\(member.customerID) twice")
                        placed[member.customerID] = segment
                    }
                    token = page.nextPageToken
                    pages += 1
                } while !token.isEmpty
            }
            #expect(pages > 4)
            let own = try await LiveServerTests.members(services, "shop", segments: 3)
            #expect(Set(placed.keys) == Set(own.keys) && !own.isEmpty)
            for (id, segment) in placed {
                let live = try await services.live.getCustomer(
                    .with {
                        $0.model = .init(text: "shop@2"); $0.customerID = id
                    })
                #expect(live.score.segmentID == segment, "customer \(id)")
            }
        }
    }
}
