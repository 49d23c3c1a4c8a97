import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Transactions: cleaning and features")
struct TransactionLoaderTests {
    static let header =
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"

    func load(
        _ body: String, columns: TransactionColumns = TransactionColumns()
    ) throws -> (TransactionTable, DataReport) {
        var loader = TransactionLoader(columns: columns)
        try loader.add(bytes: Array((Self.header + body).utf8), source: "t.csv")
        return try loader.finish()
    }

    @Test("Every removed row is counted under its reason, in order")
    func cleaningSteps() throws {
        let body = """
            1,A,"Mug, red",2,2011-01-01 10:00:00,1.5,17850.0,United Kingdom
            1,A,"Mug, red",2,2011-01-01 10:00:00,1.5,17850.0,United Kingdom
            2,B,Plate,1,2011-01-02 10:00:00,3,,United Kingdom
            C3,B,Plate,-1,2011-01-03 10:00:00,3,17850,United Kingdom
            4,B,Plate,0,2011-01-04 10:00:00,3,17851,France
            5,B,Plate,1,2011-01-05 10:00:00,0,17851,France
            6,B,Plate,two,2011-01-05 10:00:00,3,17851,France
            7,B,Plate,1,someday,3,17851,France
            8,B,Plate,1,2011-01-06 10:00:00,3
            9,C,Bowl,4,2011-01-07 10:00:00,2.5,17852,France

            """
        let (table, report) = try load(body)
        #expect(report.rowsIn == 10)
        #expect(report.removed(by: .missingCustomer) == 1)
        #expect(report.removed(by: .unparseable) == 3)
        #expect(report.removed(by: .cancellation) == 1)
        #expect(report.removed(by: .nonPositive) == 2)
        #expect(report.removed(by: .duplicate) == 1)
        // 17850 cancelled all they bought (3.00): left out, with their row, and counted.
        #expect(report.removed(by: .noNetSpend) == 1)
        #expect(report.customersWithoutNetSpend == 1 && report.cancelledAmount == 3)
        #expect(report.rowsOut == 1)
        #expect(report.steps.last?.remaining == 1)
        #expect(table.customerIDs == ["17852"])
        #expect(report.customersIn == 3)
        #expect(report.customersOut == 1)
        #expect(report.problems.map(\.line) == [8, 9, 10])
        #expect(report.problems[0].reason.contains("two"))
        #expect(report.problems[2].reason == "expected 8 fields, found 6")
    }

    @Test(
        "RFM features by hand: recency, frequency, monetary, order value, tenure, products, mode quantity"
    )
    func features() throws {
        let body = """
            1,A,Mug,2,2011-01-01 10:00:00,1.5,1,United Kingdom
            1,B,Plate,2,2011-01-01 10:00:00,4,1,United Kingdom
            2,A,Mug,5,2011-01-05 23:59:00,1.5,1,France
            3,A,Mug,1,2011-01-03 10:00:00,10,2,France

            """
        let (table, _) = try load(body)
        let (features, snapshot) = RFMFeatureBuilder.build(table)
        #expect(TimestampParser.isoDate(day: snapshot) == "2011-01-06")
        let one = try features.selecting(features: TransactionFeature.allCases.map(\.rawValue)).row(
            0)
        #expect(Array(one) == [1, 2, 18.5, 9.25, 5, 2, 2])
        let two = Array(
            try features.selecting(features: TransactionFeature.allCases.map(\.rawValue)).row(1))
        #expect(two == [3, 1, 10, 10, 3, 1, 1])
        #expect(features.homeCountry == ["United Kingdom", "France"])
    }

    @Test("Without an invoice column, frequency counts distinct purchase days")
    func frequencyWithoutInvoices() throws {
        var columns = try TransactionColumns(parsing: "customer=cust,time=when,amount=total")
        columns.invoice = nil
        var loader = TransactionLoader(columns: columns)
        try loader.add(
            bytes: Array("cust,when,total\na,20110101,5\na,20110101,6\na,20110103,1\n".utf8),
            source: "x")
        let (table, _) = try loader.finish()
        let (features, _) = RFMFeatureBuilder.build(table)
        #expect(features.column(named: "frequency") == [2])
        #expect(features.column(named: "monetary") == [12])
        // No product or quantity column: those features are not made up (they would read 0 and 1).
        #expect(
            features.names == ["recency", "frequency", "monetary", "avg_order_value", "tenure"])
        #expect(throws: InputError.unknownFeature("distinct_products", available: features.names)) {
            try features.selecting(features: ["distinct_products"])
        }
    }

    @Test("A later file without the first file's optional columns is refused, naming both headers")
    func headerMismatch() throws {
        var loader = TransactionLoader()
        try loader.add(
            bytes: Array((Self.header + "1,A,Mug,2,2011-01-01 10:00:00,1.5,1,UK\n").utf8),
            source: "a.csv")
        let other =
            "StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\nA,2,2011-01-02 10:00:00,1.5,1\n"
        do {
            try loader.add(bytes: Array(other.utf8), source: "b.csv")
            Issue.record("a file without InvoiceNo and Country was accepted")
        } catch let error as InputError {
            guard case .headerMismatch(let source, let expected, let found) = error else {
                throw error
            }
            #expect(source == "b.csv")
            #expect(expected.first == "InvoiceNo" && found.first == "StockCode")
        }
    }

    @Test("A missing column names itself and the header")
    func missingColumn() {
        var loader = TransactionLoader(columns: try! TransactionColumns(parsing: "customer=client"))
        #expect(throws: InputError.self) {
            try loader.add(bytes: Array(Self.header.utf8), source: "t.csv")
        }
        #expect(throws: InputError.self) { try TransactionColumns(parsing: "colour=red") }
    }

    @Test(
        "Cancellation invoices are netted against the customer's purchases; customers left with nothing are counted"
    )
    func netting() throws {
        let body = """
            1,A,Mug,10,2011-01-01 10:00:00,2,100,United Kingdom
            2,B,Plate,1,2011-01-02 10:00:00,5,100,United Kingdom
            C3,A,Mug,-1,2011-01-03 10:00:00,2,100,United Kingdom
            C3,A,Mug,-1,2011-01-03 10:00:00,2,100,United Kingdom
            4,B,Plate,5,2011-01-04 10:00:00,1,200,France
            C5,B,Plate,-5,2011-01-05 10:00:00,1,200,France
            C6,B,Plate,-2,2011-01-05 10:00:00,1,300,France

            """
        let (table, report) = try load(body)
        let (features, _) = RFMFeatureBuilder.build(table)
        // 100 bought 25 and gave back one mug once (the repeated line is one line): 23 net over 2 purchases.
        #expect(features.customerIDs == ["100"])
        #expect(features.column(named: "monetary") == [23])
        #expect(features.column(named: "frequency") == [2])
        #expect(features.column(named: "avg_order_value") == [11.5])
        // to the day after the last purchase kept, not the cancellation
        #expect(features.column(named: "recency") == [1])
        #expect(report.removed(by: .cancellation) == 4)
        #expect(report.removed(by: .noNetSpend) == 1 && report.customersWithoutNetSpend == 1)
        #expect(report.cancelledAmount == 7)  // 2 from 100, 5 from 200; 300 bought nothing to net
        // The older rule, for the pandas fixture: cancellations change nothing.
        var legacy = TransactionLoader(cleaning: .legacy)
        try legacy.add(bytes: Array((Self.header + body).utf8), source: "t.csv")
        let old = try legacy.finish()
        #expect(RFMFeatureBuilder.build(old.table).features.column(named: "monetary") == [25, 5])
        #expect(old.report.cancelledAmount == nil)
    }

    @Test(
        "A status column's cancelled, refunded, returned and failed orders are left out, counted and named; --keep-cancelled keeps them"
    )
    func cancelledStatus() throws {
        var csv = ["InvoiceNo,InvoiceDate,CustomerID,Quantity,UnitPrice,Order Status"]
        let statuses = [
            "Complete", "Cancelled", "REFUNDED", "Partially refunded", "Payment failed", "Returned",
            "Shipped",
        ]
        for i in 0..<70 {
            csv.append("\(i),2011-02-\(10 + i % 15) 09:00,\(100 + i % 10),1,2.5,\(statuses[i % 7])")
        }
        let bytes = Array(csv.joined(separator: "\n").utf8)
        var loader = TransactionLoader()
        try loader.add(bytes: bytes, source: "shop.csv")
        let (_, report) = try loader.finish()
        let step = try #require(report.steps.first { $0.name == .cancelledStatus })
        #expect(step.removed == 40)
        #expect(
            step.rule
                == "cancelled status in Order Status: Cancelled, REFUNDED, Payment failed, Returned"
        )
        #expect(report.rowsOut == 30)
        #expect(report.unusedColumns == [])
        var keeping = TransactionLoader(cleaning: TransactionCleaning(keepCancelled: true))
        try keeping.add(bytes: bytes, source: "shop.csv")
        let kept = try keeping.finish()
        #expect(kept.report.rowsOut == 70 && kept.report.removed(by: .cancelledStatus) == 0)
        #expect(kept.report.unusedColumns == ["Order Status"])
        for value in [
            "Cancelled", "canceled", "REFUNDED", "Payment failed", "Returned to sender",
            "Charged back", "Voided", "Declined",
        ] {
            #expect(TransactionCleaning.saysCancelled(value), "\(value)")
        }
        for value in [
            "Complete", "Partially refunded", "Not returned", "No refund", "Return requested",
            "Refund declined", "Refund pending", "",
        ] {
            #expect(!TransactionCleaning.saysCancelled(value), "\(value)")
        }
    }

    @Test("A filter value that matches no row is an error listing the column's most common values")
    func unmatchedFilter() throws {
        var csv = ["InvoiceNo,InvoiceDate,CustomerID,Quantity,UnitPrice,Order Status"]
        for i in 0..<30 {
            csv.append(
                "\(i),2011-02-10 09:00,\(100 + i % 10),1,2.5,\(i % 3 == 0 ? "Cancelled" : "Completed")"
            )
        }
        var loader = TransactionLoader(
            filters: [RowFilter(mode: .exclude, column: "Order Status", value: "Canceled")],
            cleaning: TransactionCleaning(keepCancelled: true))
        try loader.add(bytes: Array(csv.joined(separator: "\n").utf8), source: "shop.csv")
        #expect(
            throws: InputError.invalidOption(
                "filter exclude Order Status=Canceled matches no row; its most common values: Completed (20), Cancelled (10)"
            )
        ) {
            try loader.finish()
        }
        // Scoring a batch may meet no row of a filter; that is no error.
        #expect(try loader.finish(requireRows: false).report.rowsOut == 30)
    }

    @Test(
        "Netting on Online Retail equals pandas customer by customer (Tests/Python/netted_rfm.py)",
        .enabled(
            if: Shared.hasOnlineRetail && FileManager.default.isExecutableFile(atPath: Self.python),
            "../shared or bench/.venv is absent: skipped"))
    func onlineRetailNettingMatchesPandas() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "netting-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("rfm.csv").path,
            json = directory.appendingPathComponent("summary.json").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [
            Self.packagePath("Tests/Python/netted_rfm.py"),
            Shared.path("data/online-retail/by-day"), csv, json,
        ]
        try process.run()
        // Bounded, and reaped here too (Foundation was seen leaving an exited child a zombie);
        // suspended, not blocked, so the minute pandas takes leaves the cooperative thread to
        // the tests beside this one.
        let deadline = Date().addingTimeInterval(600)
        var status: Int32 = 0, reaped: Int32 = 0
        while process.isRunning, reaped == 0, Date() < deadline {
            reaped = waitpid(process.processIdentifier, &status, WNOHANG)
            if reaped == 0 { try? await Task.sleep(for: .milliseconds(50)) }
        }
        let exitCode =
            reaped == process.processIdentifier
            ? status : (process.isRunning ? -1 : process.terminationStatus)
        if exitCode == -1 { kill(process.processIdentifier, SIGKILL) }
        try #require(
            exitCode == 0, "pandas ended with status \(exitCode) (-1: still running after 600 s)")

        var loader = TransactionLoader()
        try loader.add(path: Shared.path("data/online-retail/by-day"))
        let (table, report) = try loader.finish()
        let (features, _) = RFMFeatureBuilder.build(table)
        let expected =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))
            as! [String: Any]
        #expect(features.count == expected["customers"] as? Int)
        #expect(report.customersWithoutNetSpend == expected["customers_without_net_spend"] as? Int)
        #expect(report.rowsOut == expected["rows_out"] as? Int)
        #expect(
            relativeError(report.cancelledAmount ?? 0, expected["cancelled_amount"] as! Double)
                < 1e-9)
        #expect(
            !features.customerIDs.contains("12346"), "12346 returned their whole 77,183.60 order")
        let index = Dictionary(
            uniqueKeysWithValues: features.customerIDs.enumerated().map { ($1, $0) })
        var mismatches: [String] = []
        for row in try CSVReader.rows(of: String(contentsOfFile: csv, encoding: .utf8)).dropFirst()
        {
            guard let i = index[row[0]] else { mismatches.append("missing \(row[0])"); continue }
            for (c, name) in ["recency", "frequency", "monetary", "avg_order_value"].enumerated() {
                let ours = features.values[i, features.names.firstIndex(of: name)!],
                    theirs = Double(row[c + 1])!
                if relativeError(ours, theirs) > 1e-9 && abs(ours - theirs) > 1e-6 {
                    mismatches.append("\(row[0]) \(name): \(ours) vs \(theirs)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
        #expect(features.column(named: "monetary")!.allSatisfy { $0 > 0 })
    }

    static func packagePath(_ relative: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent(relative).path
    }
    static let python = packagePath("bench/.venv/bin/python")

    @Test(
        "The real Online Retail data matches pandas step by step and customer by customer",
        .enabled(if: Shared.hasOnlineRetail && Shared.hasFixtures, "../shared is absent: skipped"))
    func onlineRetailMatchesPandas() throws {
        // The fixture's rules are the older ones: cancellations dropped, not netted.
        var loader = TransactionLoader(cleaning: .legacy)
        try loader.add(path: Shared.path("data/online-retail/by-day"))
        let (table, report) = try loader.finish()
        let expected = try Shared.json("fixtures/rfm/online_retail_cleaning.json")
        #expect(report.rowsIn == expected["rows_in"] as? Int)
        #expect(report.customersIn == expected["customers_in"] as? Int)
        #expect(report.steps[0].remaining == expected["after_missing_customer"] as? Int)
        #expect(report.removed(by: .unparseable) == 0)
        let remaining = { (name: CleaningStep.Name) in
            report.steps.first { $0.name == name }?.remaining
        }
        #expect(remaining(.cancellation) == expected["after_cancellations"] as? Int)
        #expect(remaining(.nonPositive) == expected["after_non_positive"] as? Int)
        #expect(remaining(.duplicate) == expected["after_duplicates"] as? Int)
        #expect(report.rowsOut == 392_692)
        #expect(report.sources.count == 305)

        let (features, snapshot) = RFMFeatureBuilder.build(table)
        #expect(TimestampParser.isoDate(day: snapshot) == expected["snapshot_date"] as? String)
        #expect(features.count == expected["customers_out"] as? Int)
        let reference = try CSVReader.rows(
            of: String(
                contentsOfFile: Shared.path("fixtures/rfm/online_retail_rfm.csv"), encoding: .utf8))
        let index = Dictionary(
            uniqueKeysWithValues: features.customerIDs.enumerated().map { ($1, $0) })
        let columns = ["recency", "frequency", "monetary", "avg_order_value"].map {
            features.names.firstIndex(of: $0)!
        }
        var mismatches: [String] = []
        for row in reference.dropFirst() {
            guard let i = index[row[0]] else { mismatches.append("missing \(row[0])"); continue }
            for (c, column) in columns.enumerated() {
                let ours = features.values[i, column], theirs = Double(row[c + 1])!
                // The fixture prints 10 significant digits.
                if relativeError(ours, theirs) > 1e-9
                    && abs(ours - theirs) > 5e-7 * max(1, abs(theirs))
                {
                    mismatches.append("\(row[0]) \(features.names[column]): \(ours) vs \(theirs)")
                }
            }
        }
        #expect(reference.count - 1 == features.count)
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }
}
