import Foundation
import SegmentationEngine

/// Order-line files cut into ScoreStream messages that keep every customer's rows together,
/// however the input is split across files, in bounded memory: one pass spreads rows over
/// temporary bucket files by a hash of the customer id (and finds the last transaction day for
/// the snapshot); then each bucket, small enough to hold, is grouped by customer and cut into
/// messages of about `chunkBytes`. Rows without a customer id are counted and left out.
final class TransactionBatches: Sendable {
    let header: [String]
    let rows: Int
    let skippedWithoutID: Int
    /// The day (since 1970) of the latest readable timestamp, if any.
    let lastDay: Int?
    private let folder: URL
    private let buckets: [URL]

    /// Buckets aim at this many bytes each (a bucket is grouped in memory).
    static let bucketBytes = 8 << 20
    static let maximumBuckets = 256

    /// - Parameters:
    ///   - invoiceColumn: rows whose invoice starts with "C" (cancellations) do not move the last day.
    ///   - statusCancelled: rows a status column marks cancelled do not either (as training drops them).
    init(
        files: [String], customerColumn: String, timeColumn: String, invoiceColumn: String? = nil,
        statusCancelled: Bool = false
    ) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-score-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // deinit does not run for an initializer that throws: the partial buckets go here.
        var complete = false
        defer { if !complete { try? FileManager.default.removeItem(at: folder) } }
        self.folder = folder
        let total = files.reduce(0) {
            $0
                + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? NSNumber)?
                    .intValue ?? 0)
        }
        let count = min(Self.maximumBuckets, max(1, total / Self.bucketBytes + 1))
        var pending = [Data](repeating: Data(), count: count)
        let buckets = (0..<count).map { folder.appendingPathComponent("bucket-\($0).csv") }
        self.buckets = buckets
        var rows = 0, skipped = 0
        var lastDay: Int?
        for bucket in buckets { FileManager.default.createFile(atPath: bucket.path, contents: nil) }
        let handles = try buckets.map { try FileHandle(forWritingTo: $0) }
        defer { for handle in handles { try? handle.close() } }
        var firstHeader: [String]?
        for file in files {
            var positions: (customer: Int, time: Int)?
            var ignored: (invoice: Int?, status: [Int]) = (nil, [])
            try CSVReader.forEachRecord(inFile: file) { record in
                let cells = (0..<record.count).map { record.string($0) }
                guard let at = positions else {
                    let names = cells.map { $0.trimmingCharacters(in: .whitespaces) }
                    if let firstHeader, firstHeader != names {
                        throw CLIError.invalidInput(
                            "\((file as NSString).lastPathComponent): header differs from the first file's"
                        )
                    }
                    firstHeader = names
                    positions = (
                        try TransactionBatches.position(
                            of: customerColumn, role: "customer", in: names, file: file),
                        try TransactionBatches.position(
                            of: timeColumn, role: "time", in: names, file: file)
                    )
                    ignored.invoice = invoiceColumn.flatMap { column in
                        names.firstIndex { $0.caseInsensitiveCompare(column) == .orderedSame }
                    }
                    if statusCancelled {
                        ignored.status = names.indices.filter {
                            ![positions!.customer, positions!.time, ignored.invoice].contains($0)
                                && TransactionCleaning.isStatusColumn(names[$0])
                        }
                    }
                    return
                }
                rows += 1
                let id =
                    at.customer < cells.count
                    ? TransactionLoader.normalizedCustomerID(cells[at.customer]) : ""
                guard !id.isEmpty else { skipped += 1; return }
                let cancelled =
                    ignored.invoice.map {
                        $0 < cells.count
                            && cells[$0].trimmingCharacters(in: .whitespaces).uppercased()
                                .hasPrefix("C")
                    } ?? false
                    || ignored.status.contains {
                        $0 < cells.count && TransactionCleaning.saysCancelled(cells[$0])
                    }
                if !cancelled, at.time < cells.count,
                    let seconds = TimestampParser.parse(cells[at.time])
                {
                    let day = TimestampParser.day(of: seconds)
                    lastDay = max(lastDay ?? day, day)
                }
                let bucket = Int(TransactionBatches.hash(id) % UInt64(count))
                pending[bucket].append(contentsOf: (CSVText.line(cells) + "\n").utf8)
                if pending[bucket].count >= 256 << 10 {
                    try handles[bucket].write(contentsOf: pending[bucket])
                    pending[bucket].removeAll(keepingCapacity: true)
                }
            }
        }
        for (bucket, data) in pending.enumerated() where !data.isEmpty {
            try handles[bucket].write(contentsOf: data)
        }
        guard let firstHeader else { throw CLIError.invalidInput("no input rows") }
        header = firstHeader
        self.rows = rows
        skippedWithoutID = skipped
        self.lastDay = lastDay
        complete = true
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    /// CSV messages (header first), each customer's rows in one message.
    func forEachMessage(
        chunkBytes: Int, customerColumn: String, _ body: (Data) async throws -> Void
    ) async throws {
        let headerLine = Data((CSVText.line(header) + "\n").utf8)
        let customer = try Self.position(
            of: customerColumn, role: "customer", in: header, file: "input")
        for bucket in buckets {
            var groups: [String: [String]] = [:]
            var order: [String] = []
            // bucket files hold no header
            try CSVReader.forEachRecord(inFile: bucket.path) { record in
                let cells = (0..<record.count).map { record.string($0) }
                let id = TransactionLoader.normalizedCustomerID(cells[customer])
                if groups[id] == nil { order.append(id) }
                groups[id, default: []].append(CSVText.line(cells) + "\n")
            }
            var message = headerLine
            for id in order {
                let text = Data(groups[id]!.joined().utf8)
                if message.count + text.count > chunkBytes && message.count > headerLine.count {
                    try await body(message)
                    message = headerLine
                }
                message.append(text)
            }
            if message.count > headerLine.count { try await body(message) }
        }
    }

    static func position(
        of column: String, role: String, in header: [String], file: String
    ) throws -> Int {
        if let index = header.firstIndex(of: column)
            ?? header.firstIndex(where: { $0.caseInsensitiveCompare(column) == .orderedSame })
        {
            return index
        }
        throw CLIError.invalidInput(
            "\((file as NSString).lastPathComponent): no column '\(column)' for the \(role) role "
                + "(columns: \(header.prefix(20).joined(separator: ", "))); name it with --columns \(role)=COLUMN"
        )
    }

    /// FNV-1a: stable across runs, unlike Swift's seeded Hasher.
    static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
