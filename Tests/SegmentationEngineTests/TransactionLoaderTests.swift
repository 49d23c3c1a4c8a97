import Foundation
import Testing
@testable import SegmentationEngine

@Suite("Transactions: cleaning and features")
struct TransactionLoaderTests {
    static let header = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"

    func load(_ body: String, columns: TransactionColumns = TransactionColumns()) throws -> (TransactionTable, DataReport) {
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
        #expect(report.rowsOut == 2)
        #expect(report.steps.last?.remaining == 2)
        #expect(table.customerIDs == ["17850", "17852"])
        #expect(report.customersIn == 3)
        #expect(report.customersOut == 2)
        #expect(report.problems.map(\.line) == [8, 9, 10])
        #expect(report.problems[0].reason.contains("two"))
        #expect(report.problems[2].reason == "expected 8 fields, found 6")
    }

    @Test("RFM features by hand: recency, frequency, monetary, order value, tenure, products, mode quantity")
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
        let one = try features.selecting(features: TransactionFeature.allCases.map(\.rawValue)).row(0)
        #expect(Array(one) == [1, 2, 18.5, 9.25, 5, 2, 2])
        let two = Array(try features.selecting(features: TransactionFeature.allCases.map(\.rawValue)).row(1))
        #expect(two == [3, 1, 10, 10, 3, 1, 1])
        #expect(features.homeCountry == ["United Kingdom", "France"])
    }

    @Test("Without an invoice column, frequency counts distinct purchase days")
    func frequencyWithoutInvoices() throws {
        var columns = try TransactionColumns(parsing: "customer=cust,time=when,amount=total")
        columns.invoice = nil
        var loader = TransactionLoader(columns: columns)
        try loader.add(bytes: Array("cust,when,total\na,20110101,5\na,20110101,6\na,20110103,1\n".utf8), source: "x")
        let (table, _) = try loader.finish()
        let (features, _) = RFMFeatureBuilder.build(table)
        #expect(features.column(named: "frequency") == [2])
        #expect(features.column(named: "monetary") == [12])
    }

    @Test("A later file without the first file's optional columns is refused, naming both headers")
    func headerMismatch() throws {
        var loader = TransactionLoader()
        try loader.add(bytes: Array((Self.header + "1,A,Mug,2,2011-01-01 10:00:00,1.5,1,UK\n").utf8), source: "a.csv")
        let other = "StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\nA,2,2011-01-02 10:00:00,1.5,1\n"
        do {
            try loader.add(bytes: Array(other.utf8), source: "b.csv")
            Issue.record("a file without InvoiceNo and Country was accepted")
        } catch let error as InputError {
            guard case .headerMismatch(let source, let expected, let found) = error else { throw error }
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

    @Test("The real Online Retail data matches pandas step by step and customer by customer",
          .enabled(if: Shared.hasOnlineRetail && Shared.hasFixtures, "../shared is absent: skipped"))
    func onlineRetailMatchesPandas() throws {
        var loader = TransactionLoader()
        try loader.add(path: Shared.path("data/online-retail/by-day"))
        let (table, report) = try loader.finish()
        let expected = try Shared.json("fixtures/rfm/online_retail_cleaning.json")
        #expect(report.rowsIn == expected["rows_in"] as? Int)
        #expect(report.customersIn == expected["customers_in"] as? Int)
        #expect(report.steps[0].remaining == expected["after_missing_customer"] as? Int)
        #expect(report.removed(by: .unparseable) == 0)
        #expect(report.steps[2].remaining == expected["after_cancellations"] as? Int)
        #expect(report.steps[3].remaining == expected["after_non_positive"] as? Int)
        #expect(report.steps[4].remaining == expected["after_duplicates"] as? Int)
        #expect(report.rowsOut == 392_692)
        #expect(report.sources.count == 305)

        let (features, snapshot) = RFMFeatureBuilder.build(table)
        #expect(TimestampParser.isoDate(day: snapshot) == expected["snapshot_date"] as? String)
        #expect(features.count == expected["customers_out"] as? Int)
        let reference = try CSVReader.rows(of: String(contentsOfFile: Shared.path("fixtures/rfm/online_retail_rfm.csv"), encoding: .utf8))
        let index = Dictionary(uniqueKeysWithValues: features.customerIDs.enumerated().map { ($1, $0) })
        let columns = ["recency", "frequency", "monetary", "avg_order_value"].map { features.names.firstIndex(of: $0)! }
        var mismatches: [String] = []
        for row in reference.dropFirst() {
            guard let i = index[row[0]] else { mismatches.append("missing \(row[0])"); continue }
            for (c, column) in columns.enumerated() {
                let ours = features.values[i, column], theirs = Double(row[c + 1])!
                // The fixture prints 10 significant digits.
                if relativeError(ours, theirs) > 1e-9 && abs(ours - theirs) > 5e-7 * max(1, abs(theirs)) {
                    mismatches.append("\(row[0]) \(features.names[column]): \(ours) vs \(theirs)")
                }
            }
        }
        #expect(reference.count - 1 == features.count)
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }
}
