import Foundation
import Testing

@testable import SegmentationEngine

/// The live customer store against batch feature building: fed the same transactions in batches,
/// late, shuffled and some twice, every customer's features equal those one batch computation
/// gives for the same snapshot day.
@Suite("Live customer state equals batch features")
struct LiveCustomerStoreTests {
    /// One cleaned batch, as live ingest loads it.
    static func batch(_ csv: some Collection<UInt8>, source: String) throws -> TransactionTable {
        var loader = TransactionLoader()
        loader.keepsLineIdentities = true
        try loader.add(bytes: csv, source: source)
        return try loader.finish(requireRows: false).table
    }

    /// Every customer's batch features by id.
    static func batchFeatures(
        _ table: TransactionTable, snapshotDay: Int
    ) -> (names: [String], rows: [String: [Double]]) {
        let features = RFMFeatureBuilder.build(table, snapshotDay: snapshotDay).features
        var rows: [String: [Double]] = [:]
        for (i, id) in features.customerIDs.enumerated() {
            rows[id] = (0..<features.names.count).map { features.values[i, $0] }
        }
        return (features.names, rows)
    }

    /// Features equal up to the order sums were taken in (spend is a sum of many prices).
    static func expectEqual(
        _ live: LiveCustomerStore, _ batch: (names: [String], rows: [String: [Double]]),
        snapshotDay: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(live.featureNames == batch.names, sourceLocation: sourceLocation)
        let liveFeatures = live.features(snapshotDay: snapshotDay)
        #expect(
            Set(liveFeatures.customerIDs) == Set(batch.rows.keys),
            "customers: \(liveFeatures.count) live, \(batch.rows.count) batch",
            sourceLocation: sourceLocation)
        var differing: [String] = []
        for (i, id) in liveFeatures.customerIDs.enumerated() {
            guard let expected = batch.rows[id] else { continue }
            let row = (0..<liveFeatures.names.count).map { liveFeatures.values[i, $0] }
            let same = zip(row, expected).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) }
            if !same { differing.append("\(id): live \(row), batch \(expected)") }
        }
        #expect(
            differing.isEmpty, "\(differing.count) customers differ: \(differing.prefix(3))",
            sourceLocation: sourceLocation)
    }

    /// The sample's lines split by day (header repeated), as a shop would send them.
    static func days(of csv: String) -> [String] {
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: true)
        let header = String(lines[0])
        let dateColumn = header.split(separator: ",").firstIndex { $0 == "InvoiceDate" }!
        var byDay: [String: [Substring]] = [:]
        for line in lines.dropFirst() {
            // Each line alone is one record (the sample breaks no field across lines).
            let fields = try! CSVReader.rows(of: String(line))[0]
            byDay[String(fields[dateColumn].prefix(10)), default: []].append(line)
        }
        return byDay.keys.sorted().map { day in
            ([header] + byDay[day]!.map(String.init)).joined(separator: "\n") + "\n"
        }
    }

    @Test(
        "Generated sample (cancellations, duplicates, guests): day batches in order, shuffled, and some twice give the batch features; a repeated batch applies nothing"
    )
    func sampleInBatches() throws {
        let sample = SampleDataGenerator(customers: 400, seed: 9).generate()
        #expect(sample.cancellationRows > 0 && sample.duplicateRows > 0)
        let whole = try Self.batch(Array(sample.csv.utf8), source: "whole")
        let snapshot = TimestampParser.day(ofDate: "2011-12-10")!
        let expected = Self.batchFeatures(whole, snapshotDay: snapshot)
        let days = Self.days(of: sample.csv)
        #expect(days.count > 100)

        var inOrder = LiveCustomerStore()
        for (i, day) in days.enumerated() {
            try inOrder.apply(Self.batch(Array(day.utf8), source: "day \(i)"))
        }
        Self.expectEqual(inOrder, expected, snapshotDay: snapshot)

        var random = SeededGenerator(seed: 4)
        var shuffled = LiveCustomerStore()
        for day in days.shuffled(using: &random) {
            try shuffled.apply(Self.batch(Array(day.utf8), source: "day"))
        }
        let before = shuffled.customers
        for day in days.prefix(20) {
            let again = try shuffled.apply(Self.batch(Array(day.utf8), source: "again"))
            #expect(again.purchases == 0 && again.cancellations == 0 && again.customers.isEmpty)
            #expect(again.repeated > 0)
        }
        #expect(shuffled.customers == before)
        Self.expectEqual(shuffled, expected, snapshotDay: snapshot)
    }

    @Test(
        "Scored by a trained model, the store fed shuffled day batches gives every customer the segment batch scoring of the same lines gives, on the same event-clock day"
    )
    func liveScoringEqualsBatchScoring() throws {
        let csv = SampleDataGenerator(customers: 400, seed: 13).generate().csv
        var configuration = TrainingConfiguration()
        configuration.ks = [4]
        let model = try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "train.csv", data: Data(csv.utf8))
        ])
        var loader = model.liveBatchLoader()
        loader.keepsLineIdentities = false
        try loader.add(bytes: Array(csv.utf8), source: "whole")
        let whole = try loader.finish().table
        let day = try #require(model.defaultSnapshotDay(scoring: whole))
        let batch = try model.score(transactions: whole, snapshotDay: day)

        var random = SeededGenerator(seed: 2)
        var store = LiveCustomerStore()
        for batchCSV in Self.days(of: csv).shuffled(using: &random) {
            var dayLoader = model.liveBatchLoader()
            try dayLoader.add(bytes: Array(batchCSV.utf8), source: "day")
            try store.apply(dayLoader.finish(requireRows: false).table)
        }
        #expect(store.eventClockDay(for: model) == day)
        let live = try store.score(with: model, snapshotDay: day)
        #expect(live.count == batch.count && batch.count > 300)
        let batchSegments = Dictionary(
            uniqueKeysWithValues: batch.map { ($0.customerID, $0.segmentID) })
        let moved = live.filter { batchSegments[$0.customerID] != $0.segmentID }
        #expect(moved.isEmpty, "\(moved.count) customers in another segment live than in batch")
    }

    @Test("A batch without the first batch's columns is refused, naming both")
    func schemaChange() throws {
        var store = LiveCustomerStore()
        try store.apply(
            Self.batch(
                Array(
                    "CustomerID,InvoiceNo,InvoiceDate,StockCode,Quantity,UnitPrice\n1,5001,2011-01-02 10:00,A,2,3.5\n"
                        .utf8), source: "first"))
        #expect(throws: InputError.self) {
            try store.apply(
                Self.batch(
                    Array(
                        "CustomerID,InvoiceNo,InvoiceDate,Quantity,UnitPrice\n1,5002,2011-01-03 10:00,2,3.5\n"
                            .utf8), source: "second"))
        }
        #expect(store.customers["1"]?.purchases == 1)
    }

    @Test(
        "A cancellation that arrives before its purchase nets the same; a customer whose refunds outweigh what they bought has no features until more purchases come"
    )
    func cancellationsInAnyOrder() throws {
        let header = "CustomerID,InvoiceNo,InvoiceDate,StockCode,Quantity,UnitPrice\n"
        let purchase = header + "7,5001,2011-01-02 10:00,A,4,5.0\n"
        let refund = header + "7,C5002,2011-01-05 10:00,A,-4,5.0\n"
        let later = header + "7,5003,2011-02-01 10:00,B,1,8.0\n"
        let snapshot = TimestampParser.day(ofDate: "2011-03-01")!
        var store = LiveCustomerStore()
        try store.apply(Self.batch(Array(refund.utf8), source: "refund"))
        try store.apply(Self.batch(Array(purchase.utf8), source: "purchase"))
        #expect(store.features(of: "7", snapshotDay: snapshot) == nil)
        try store.apply(Self.batch(Array(later.utf8), source: "later"))
        let whole = try Self.batch(
            Array((purchase + refund.dropFirst(header.count) + later.dropFirst(header.count)).utf8),
            source: "whole")
        let expected = Self.batchFeatures(whole, snapshotDay: snapshot)
        Self.expectEqual(store, expected, snapshotDay: snapshot)
        #expect(store.features(of: "7", snapshotDay: snapshot)?[2] == 8.0)
    }

    @Test(
        "Online Retail's 305 days, one batch per day, shuffled, with 30 days sent twice: all 4,3xx customers' features equal the batch computation's"
    )
    func onlineRetailByDay() throws {
        guard Shared.hasOnlineRetail else {
            print("../shared/data/online-retail is absent: the Online Retail live test is skipped")
            return
        }
        let folder = Shared.path("data/online-retail/by-day")
        var loader = TransactionLoader()
        try loader.add(path: folder)
        let whole = try loader.finish().table
        let lastDay = whole.seconds.map(TimestampParser.day(of:)).max()!
        let snapshot = lastDay + 1
        let expected = Self.batchFeatures(whole, snapshotDay: snapshot)

        let files = try CSVReader.files(at: folder)
        #expect(files.count == 305)
        var random = SeededGenerator(seed: 11)
        var store = LiveCustomerStore()
        for file in files.shuffled(using: &random) + files.prefix(30) {
            var day = TransactionLoader()
            day.keepsLineIdentities = true
            try day.add(path: file)
            try store.apply(day.finish(requireRows: false).table)
        }
        Self.expectEqual(store, expected, snapshotDay: snapshot)
        #expect(expected.rows.count > 4_300)
    }
}

extension LiveCustomerStoreTests {
    @Test(
        "A customer's state survives its bytes unchanged; damaged bytes are refused, never trusted; a per-customer line limit refuses new lines but not repeats"
    )
    func stateBytesAndLimit() throws {
        let sample = SampleDataGenerator(customers: 200, seed: 2).generate()
        var store = LiveCustomerStore()
        try store.apply(Self.batch(Array(sample.csv.utf8), source: "sample"))
        for state in store.customers.values {
            #expect(try CustomerState(decoding: state.encoded()) == state)
        }
        let some = store.customers.values.max { $0.lines.count < $1.lines.count }!
        let bytes = some.encoded()
        #expect(throws: CustomerStateDecodingError.self) {
            try CustomerState(decoding: bytes.dropLast(3))
        }
        var wrongFormat = bytes
        wrongFormat[wrongFormat.startIndex] = 99
        #expect(throws: CustomerStateDecodingError.self) {
            try CustomerState(decoding: wrongFormat)
        }
        var huge = bytes
        // The invoices' count made absurd: refused, not allocated.
        huge.replaceSubrange(
            (huge.startIndex + 33)..<(huge.startIndex + 41),
            with: [UInt8](repeating: 0x7f, count: 8))
        #expect(throws: CustomerStateDecodingError.self) { try CustomerState(decoding: huge) }

        // Format 1 (stored before the spend of each day was kept) still reads: its days with
        // their spend unknown, so no purchase summary (no customer value) rather than a wrong one.
        var old = Data([1])
        func put(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { old += $0 } }
        put(UInt64(bitPattern: 15_000))  // first day
        put(UInt64(bitPattern: 15_010))  // last day
        put(42.5.bitPattern)  // spend
        put(0.0.bitPattern)  // refunded
        put(0)  // invoices
        put(2)
        put(15_000)
        put(15_010)  // two purchase days
        put(0)  // products
        put(1)
        put(1.0.bitPattern)
        put(2)  // quantity 1, twice
        put(0)  // lines
        let decoded = try CustomerState(decoding: old)
        #expect(decoded.daySpend.keys.sorted() == [15_000, 15_010])
        #expect(decoded.features(snapshotDay: 15_020, countsInvoices: false)?[1] == 2)
        #expect(decoded.purchaseSummary(snapshotDay: 15_020) == nil)

        let csv = Array(sample.csv.utf8)
        var limited = LiveCustomerStore()
        let first = try limited.apply(Self.batch(csv, source: "limited"), maximumLines: 2)
        #expect(first.overLimit > 0)
        #expect(limited.customers.values.allSatisfy { $0.lines.count <= 2 })
        let again = try limited.apply(Self.batch(csv, source: "again"), maximumLines: 2)
        #expect(again.purchases == 0 && again.cancellations == 0)
        #expect(
            again.repeated + again.overLimit == first.purchases + first.cancellations
                + first.overLimit)
    }
}

@Suite("Live segments: moves by transactions, by time passing and by a model change")
struct LiveSegmentsTests {
    static func model(_ csv: String, k: Int) throws -> SegmentationModel {
        var configuration = TrainingConfiguration()
        configuration.ks = [k]
        return try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "train.csv", data: Data(csv.utf8))
        ])
    }

    @Test(
        "Replayed day by day, then left to age: every move follows the last (from = the previous to), time moves a customer at most once a day, and the segments end as batch scoring puts them; an alias switch moves exactly the customers the new version places elsewhere"
    )
    func movesFollowTheData() throws {
        let csv = SampleDataGenerator(customers: 300, seed: 17).generate().csv
        let model = try Self.model(csv, k: 4)
        var store = LiveCustomerStore()
        var segments = LiveSegments(model: model)
        var moves: [SegmentMove] = []
        for day in LiveCustomerStoreTests.days(of: csv) {
            var loader = model.liveBatchLoader()
            try loader.add(bytes: Array(day.utf8), source: "day")
            let table = try loader.finish(requireRows: false).table
            guard let last = table.seconds.map(TimestampParser.day(of:)).max() else { continue }
            let applied = try store.apply(table)
            moves += try segments.advance(in: store, to: last + 1)
            moves += try segments.update(applied.customers, in: store, day: last + 1)
        }
        let now = try #require(store.eventClockDay(for: model))
        moves += try segments.advance(in: store, to: now)
        // 200 more days without a purchase: only time moves anyone.
        var aging: [SegmentMove] = []
        for day in (now + 1)...(now + 200) {
            aging += try segments.advance(in: store, to: day)
            #expect(try segments.advance(in: store, to: day).isEmpty)
        }
        #expect(aging.allSatisfy { $0.cause == .timePassing })
        #expect(!aging.isEmpty, "200 days without a purchase moved nobody")
        moves += aging

        var last: [String: Int] = [:]
        for move in moves {
            #expect(move.from == last[move.customerID], "\(move)")
            last[move.customerID] = move.to
        }
        #expect(last.compactMapValues { $0 } == segments.segmentOf)
        let batch = try store.score(with: model, snapshotDay: now + 200)
        #expect(
            Dictionary(uniqueKeysWithValues: batch.map { ($0.customerID, $0.segmentID) })
                == segments.segmentOf)

        let other = try Self.model(csv, k: 3)
        let expected = try store.score(with: other, snapshotDay: now + 200)
        let switched = try segments.switchModel(to: other, in: store, day: now + 200)
        #expect(switched.allSatisfy { $0.cause == .modelChange })
        let before = last
        #expect(
            Set(switched.map(\.customerID))
                == Set(expected.filter { before[$0.customerID] != $0.segmentID }.map(\.customerID)))
        #expect(
            Dictionary(uniqueKeysWithValues: expected.map { ($0.customerID, $0.segmentID) })
                == segments.segmentOf)
    }
}
