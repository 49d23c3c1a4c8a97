import Foundation
import SegmentationEngine

/// A CSV file's records in batches, read 1 MiB at a time, so a client can send each batch
/// before reading on: memory stays bounded whatever the file's size.
enum CSVRows {
    /// Calls `body` with the records (header first) completed by each 1 MiB read.
    static func forEachBatch(file: String, _ body: ([[String]]) async throws -> Void) async throws {
        guard let handle = FileHandle(forReadingAtPath: file) else {
            throw CLIError.invalidInput("cannot read \(file)")
        }
        defer { try? handle.close() }
        var parser = CSVParser(source: (file as NSString).lastPathComponent)
        var batch: [[String]] = []
        let collect = { (record: CSVRecord) in
            batch.append((0..<record.count).map { record.string($0) })
        }
        while true {
            let data = try handle.read(upToCount: CSVReader.chunkSize) ?? Data()
            if data.isEmpty { break }
            try data.withUnsafeBytes { raw in
                try parser.feed(raw.bindMemory(to: UInt8.self), collect)
            }
            if !batch.isEmpty { try await body(batch); batch.removeAll(keepingCapacity: true) }
        }
        try parser.finish(collect)
        if !batch.isEmpty { try await body(batch) }
    }
}
