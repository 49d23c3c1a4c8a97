import Foundation
import Testing

@testable import SegmentationEngine

/// Customer value and products on Online Retail against the Python references, run here: lifetimes
/// 0.11.3 (bench/.venv-lifetimes) and pandas (bench/.venv); both made by `scripts/setup.sh`.
@Suite("Customer value and products on Online Retail against lifetimes and pandas")
struct CustomerValuePeerTests {
    static let lifetimes = TransactionLoaderTests.packagePath("bench/.venv-lifetimes/bin/python")
    static let pandas = TransactionLoaderTests.packagePath("bench/.venv/bin/python")

    static func retail() throws -> TransactionTable {
        var loader = TransactionLoader()
        try loader.add(path: Shared.path("data/online-retail/by-day"))
        return try loader.finish().table
    }

    /// Runs a Python script to its end (at most ten minutes), failing the test on a bad status.
    static func python(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        let deadline = Date().addingTimeInterval(600)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try #require(
            process.terminationStatus == 0,
            "\(arguments[0]) ended with \(process.terminationStatus)")
    }

    static func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "peer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test(
        "Per customer on Online Retail: P(alive) and expected purchases in 90 days within 1e-4 of lifetimes' on the same summaries",
        .enabled(
            if: Shared.hasOnlineRetail && FileManager.default.isExecutableFile(atPath: lifetimes),
            "../shared or bench/.venv-lifetimes is absent: skipped"))
    func perCustomerAgainstLifetimes() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let table = try Self.retail()
        let snapshot = RFMFeatureBuilder.build(table).snapshotDay
        let customers = PurchaseHistories(table).summaries(snapshotDay: snapshot)
        let summary = directory.appendingPathComponent("summary.csv").path,
            theirs = directory.appendingPathComponent("figures.csv").path
        let lines = customers.map { "\($0.frequency),\($0.recency),\($0.age),\($0.monetary)" }
        try (["frequency,recency,T,monetary_value"] + lines).joined(separator: "\n")
            .write(toFile: summary, atomically: true, encoding: .utf8)
        try Self.python(
            Self.lifetimes,
            [
                TransactionLoaderTests.packagePath("bench/peer_lifetimes.py"), summary, "1",
                "--per-customer", theirs,
            ])
        let model = try CustomerValueModel.fit(customers)
        let ours = model.figures(customers)
        let rows = try CSVReader.rows(of: String(contentsOfFile: theirs, encoding: .utf8))
            .dropFirst()
        try #require(rows.count == customers.count)
        var worst = (alive: 0.0, purchases: 0.0)
        for (figures, row) in zip(ours, rows) {
            let (alive, purchases) = (Double(row[0])!, Double(row[1])!)
            worst.alive = max(worst.alive, abs(figures.probabilityAlive - alive))
            worst.purchases = max(
                worst.purchases,
                abs(figures.expectedPurchases - purchases) / max(purchases, 1e-3))
        }
        #expect(worst.alive < 1e-4 && worst.purchases < 1e-4, "\(worst)")
    }

    @Test(
        "What each segment buys on Online Retail equals pandas': the same buyers, lift and order (Tests/Python/segment_products.py)",
        .enabled(
            if: Shared.hasOnlineRetail && FileManager.default.isExecutableFile(atPath: pandas),
            "../shared or bench/.venv is absent: skipped"))
    func productsAgainstPandas() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let table = try Self.retail()
        let purchases = try #require(ProductPurchases(table))
        // Four segments by purchases made (1, 2-3, 4-9, 10+ invoices): unlike product mixes.
        let (features, _) = RFMFeatureBuilder.build(table)
        let frequency = features.column(named: "frequency")!
        let labels = frequency.map { f -> Int32 in f <= 1 ? 0 : f <= 3 ? 1 : f <= 9 ? 2 : 3 }
        let segmentsPath = directory.appendingPathComponent("segments.csv").path,
            out = directory.appendingPathComponent("products.json").path
        try (["CustomerID,segment"] + zip(table.customerIDs, labels).map { "\($0),\($1)" })
            .joined(separator: "\n").write(toFile: segmentsPath, atomically: true, encoding: .utf8)
        try Self.python(
            Self.pandas,
            [
                TransactionLoaderTests.packagePath("Tests/Python/segment_products.py"),
                Shared.path("data/online-retail/by-day"), segmentsPath, out,
            ])
        let reference =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out)))
            as! [String: [String: Any]]
        let ours = SegmentProducts.perSegment(purchases, labels: labels, segments: 4)
        for (segment, lists) in ours.enumerated() {
            let theirs = try #require(reference[String(segment)])
            #expect(lists.minimumBuyers == theirs["minimum_buyers"] as? Int)
            for (name, list) in [("popular", lists.popular), ("distinctive", lists.distinctive)] {
                let expected = theirs[name] as! [[Any]]
                #expect(list.map(\.code) == expected.map { $0[0] as! String }, "\(segment) \(name)")
                #expect(list.map(\.buyers) == expected.map { $0[1] as! Int }, "\(segment) \(name)")
                for (stat, row) in zip(list, expected) {
                    #expect(abs(stat.lift - (row[2] as! Double)) < 1e-9 * stat.lift)
                }
            }
        }
    }
}
