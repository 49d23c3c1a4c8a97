// libFuzzer target over the CSV reader and dataset ingestion. Not a SwiftPM target: it is
// compiled together with the engine's sources by scripts/fuzz.sh (swiftc -sanitize=fuzzer,address),
// so it reaches the reader's internals. The first input byte picks what is exercised; the rest is
// the CSV. Errors thrown for bad input are the expected outcome; a crash, a sanitizer report or a
// broken property (below) is a bug, and its input becomes a regression file in Tests/Fuzz/regressions.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func ingestionFuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let selector = data[0]
    let csv = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch selector % 4 {
    case 0: checkChunking(csv, split: Int(selector / 4))
    case 1: ingest(csv, kind: .transactions)
    case 2: ingest(csv, kind: .customers)
    default: ingestAndTrain(csv)
    }
    return 0
}

/// Every field of every record, read as text and as a number.
private func records(
    _ feed: (inout CSVParser, (CSVRecord) throws -> Void) throws -> Void
) -> Result<[[String]], any Error> {
    var out: [[String]] = []
    var parser = CSVParser(source: "fuzz")
    return Result {
        try feed(&parser) { record in
            out.append((0..<record.count).map { record.string($0) })
            for index in 0..<record.count {
                _ = record.double(index); _ = record.trimmedString(index)
            }
        }
        try parser.finish { record in out.append((0..<record.count).map { record.string($0) }) }
        return out
    }
}

/// The same bytes fed whole and fed in pieces must give the same records (uploads and files
/// arrive in chunks whose boundaries fall anywhere, even inside a quoted field or a BOM).
private func checkChunking(_ csv: [UInt8], split: Int) {
    let whole = records { parser, body in
        try csv.withUnsafeBufferPointer { try parser.feed($0, body) }
    }
    let step = max(1, split % 7 + 1)
    let pieces = records { parser, body in
        try csv.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let end = min(buffer.count, start + step)
                try parser.feed(UnsafeBufferPointer(rebasing: buffer[start..<end]), body)
                start = end
            }
        }
    }
    switch (whole, pieces) {
    case (.success(let a), .success(let b)):
        precondition(a == b, "chunked parsing differs from whole parsing")
    case (.failure, .failure): break
    default:
        preconditionFailure(
            "chunked parsing and whole parsing disagree on whether the input is valid")
    }
}

private func ingest(_ csv: [UInt8], kind: InputKind) {
    var configuration = TrainingConfiguration()
    configuration.kind = kind
    _ = try? SegmentationTrainer(configuration: configuration).prepare([
        .bytes(name: "fuzz.csv", data: Data(csv))
    ])
}

/// Ingestion through to a fitted, profiled, labelled model and scoring it, on whatever survives cleaning.
private func ingestAndTrain(_ csv: [UInt8]) {
    for kind in [InputKind.transactions, .customers] {
        var configuration = TrainingConfiguration()
        configuration.kind = kind
        configuration.ks = [2]
        configuration.nInit = 1
        configuration.maxIterations = 20
        let trainer = SegmentationTrainer(configuration: configuration)
        guard let prepared = try? trainer.prepare([.bytes(name: "fuzz.csv", data: Data(csv))]),
            (2...300).contains(prepared.features.count),
            let model = try? trainer.train(prepared)
        else { continue }
        let bytes = try! model.serialized()
        precondition(
            (try? SegmentationModel(serialized: bytes)) != nil, "a trained model does not read back"
        )
        _ = try? model.assignTrainingData([.bytes(name: "fuzz.csv", data: Data(csv))])
    }
}
