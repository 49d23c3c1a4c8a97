import Foundation

/// Errors of the CSV reader, each naming where the problem is.
public enum CSVError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case unterminatedQuote(source: String, line: Int)
    case emptyInput(source: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot read \(path): \(reason)"
        case .unterminatedQuote(let source, let line):
            "\(source): the quoted field starting on line \(line) is never closed"
        case .emptyInput(let source): "\(source) has no header line"
        }
    }
}

/// One parsed record, lent to the caller's closure; valid only during that call.
///
/// Field bytes live in one buffer, each field followed by a NUL byte so numbers can be parsed in
/// place without building a `String`.
public struct CSVRecord {
    @usableFromInline let buffer: UnsafeBufferPointer<UInt8>
    @usableFromInline let bounds: UnsafeBufferPointer<Int>  // start, end pairs
    /// 1-based line of the input on which this record starts.
    public let line: Int

    init(buffer: UnsafeBufferPointer<UInt8>, bounds: UnsafeBufferPointer<Int>, line: Int) {
        self.buffer = buffer
        self.bounds = bounds
        self.line = line
    }

    public var count: Int { bounds.count / 2 }

    /// The raw bytes of field `index` (without the trailing NUL).
    @inlinable
    public func bytes(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        let start = bounds[2 * index], end = bounds[2 * index + 1]
        return UnsafeBufferPointer(rebasing: buffer[start..<end])
    }

    public func string(_ index: Int) -> String {
        String(decoding: bytes(index), as: UTF8.self)
    }

    /// Field `index` without leading and trailing spaces and tabs (cheaper than Foundation's trimming).
    public func trimmedString(_ index: Int) -> String {
        let field = bytes(index)
        var start = 0, end = field.count
        while start < end, field[start] == UInt8(ascii: " ") || field[start] == UInt8(ascii: "\t") {
            start += 1
        }
        while end > start,
            field[end - 1] == UInt8(ascii: " ") || field[end - 1] == UInt8(ascii: "\t")
        { end -= 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: field[start..<end]), as: UTF8.self)
    }

    /// Field `index` as a number, or nil when it is not one (empty, text, NaN or infinite).
    public func double(_ index: Int) -> Double? {
        NumberParser.parse(bytes(index))
    }
}

/// An incremental RFC 4180 parser: feed it bytes in chunks of any size, it calls back once per
/// complete record. Handles quoted fields with commas, newlines and doubled quotes, CRLF, LF or
/// lone CR line ends, a UTF-8 byte order mark, and a missing final newline. Blank lines are
/// skipped (as Python's csv module does). Outside the RFC it is lenient the way Python's csv is:
/// a quote inside an unquoted field is kept, text after a closing quote is appended.
public struct CSVParser {
    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted, afterCR }

    public let source: String
    private var state = State.fieldStart
    private var fieldBytes: [UInt8] = []
    private var bounds: [Int] = []
    private var fieldStart = 0
    private var line = 1
    private var recordLine = 1
    private var quoteLine = 1
    private var atStreamStart = true
    private var pendingBOM: [UInt8] = []
    private let delimiter: UInt8

    public init(source: String, delimiter: UInt8 = UInt8(ascii: ",")) {
        self.source = source
        self.delimiter = delimiter
        fieldBytes.reserveCapacity(4096)
        bounds.reserveCapacity(64)
    }

    /// Parses `chunk`, calling `body` for every record completed within it.
    public mutating func feed(
        _ chunk: UnsafeBufferPointer<UInt8>, _ body: (CSVRecord) throws -> Void
    ) rethrows {
        var chunk = chunk
        if atStreamStart {
            // Hold back up to three bytes until we know whether they are a BOM.
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            var taken = 0
            while pendingBOM.count < 3, taken < chunk.count {
                pendingBOM.append(chunk[taken]); taken += 1
            }
            if pendingBOM.count < 3 && Array(bom.prefix(pendingBOM.count)) == pendingBOM { return }
            atStreamStart = false
            chunk = UnsafeBufferPointer(rebasing: chunk[taken...])
            let held = pendingBOM == bom ? [] : pendingBOM
            pendingBOM = []
            try held.withUnsafeBufferPointer { try consume($0, body) }
        }
        try consume(chunk, body)
    }

    /// Ends the input: flushes a last record that had no final newline.
    public mutating func finish(_ body: (CSVRecord) throws -> Void) throws {
        if atStreamStart {
            atStreamStart = false
            let held = pendingBOM == [0xEF, 0xBB, 0xBF] ? [] : pendingBOM
            pendingBOM = []
            try held.withUnsafeBufferPointer { try consume($0, body) }
        }
        switch state {
        case .quoted: throw CSVError.unterminatedQuote(source: source, line: quoteLine)
        case .afterCR: state = .fieldStart
        case .fieldStart where bounds.isEmpty: break
        default: try endRecord(body)
        }
    }

    private mutating func consume(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (CSVRecord) throws -> Void
    ) rethrows {
        let quote = UInt8(ascii: "\""), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        let delimiter = self.delimiter
        var i = 0
        let n = bytes.count
        while i < n {
            let byte = bytes[i]
            switch state {
            case .afterCR:
                state = .fieldStart
                if byte == lf { i += 1; continue }
                continue
            case .fieldStart, .unquoted:
                if state == .fieldStart && byte == quote {
                    state = .quoted; quoteLine = line; i += 1; continue
                }
                // Copy the run of plain bytes in one go.
                var j = i
                while j < n {
                    let b = bytes[j]
                    if b == delimiter || b == lf || b == cr { break }
                    j += 1
                }
                if j > i {
                    fieldBytes.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[i..<j]))
                    state = .unquoted
                }
                i = j
                guard i < n else { continue }
                let b = bytes[i]
                i += 1
                if b == delimiter {
                    endField(); state = .fieldStart
                } else {
                    line += 1
                    try endRecordIfNotBlank(body)
                    state = b == cr ? .afterCR : .fieldStart
                }
            case .quoted:
                var j = i
                while j < n && bytes[j] != quote {
                    if bytes[j] == lf { line += 1 }  // a CRLF inside quotes counts once
                    j += 1
                }
                if j > i {
                    fieldBytes.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[i..<j]))
                }
                i = j
                if i < n { state = .quoteInQuoted; i += 1 }
            case .quoteInQuoted:
                i += 1
                if byte == quote {
                    fieldBytes.append(quote); state = .quoted
                } else if byte == delimiter {
                    endField(); state = .fieldStart
                } else if byte == lf || byte == cr {
                    line += 1
                    try endRecord(body)
                    state = byte == cr ? .afterCR : .fieldStart
                } else {
                    fieldBytes.append(byte); state = .unquoted
                }
            }
        }
    }

    private mutating func endField() {
        bounds.append(fieldStart)
        bounds.append(fieldBytes.count)
        fieldBytes.append(0)
        fieldStart = fieldBytes.count
    }

    /// A line with nothing on it is not a record.
    private mutating func endRecordIfNotBlank(_ body: (CSVRecord) throws -> Void) rethrows {
        if bounds.isEmpty && fieldBytes.isEmpty {
            recordLine = line
            return
        }
        try endRecord(body)
    }

    private mutating func endRecord(_ body: (CSVRecord) throws -> Void) rethrows {
        endField()
        let startLine = recordLine
        try fieldBytes.withUnsafeBufferPointer { buffer in
            try bounds.withUnsafeBufferPointer { bounds in
                try body(CSVRecord(buffer: buffer, bounds: bounds, line: startLine))
            }
        }
        fieldBytes.removeAll(keepingCapacity: true)
        bounds.removeAll(keepingCapacity: true)
        fieldStart = 0
        recordLine = line
    }
}

/// Reads CSV files in fixed-size chunks, so memory stays flat whatever the file size.
public enum CSVReader {
    public static let chunkSize = 1 << 20

    /// Calls `body` for every record of the file at `path`, header included.
    public static func forEachRecord(
        inFile path: String, _ body: (CSVRecord) throws -> Void
    ) throws {
        guard let file = fopen(path, "rb") else {
            throw CSVError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        var parser = CSVParser(source: path)
        let chunk = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: chunkSize)
        defer { chunk.deallocate() }
        while true {
            let read = fread(chunk.baseAddress, 1, chunkSize, file)
            if read > 0 { try parser.feed(UnsafeBufferPointer(rebasing: chunk[0..<read]), body) }
            if read < chunkSize {
                if ferror(file) != 0 { throw CSVError.cannotOpen(path: path, reason: "read error") }
                break
            }
        }
        try parser.finish(body)
    }

    /// Calls `body` for every record of in-memory CSV bytes.
    public static func forEachRecord(
        in bytes: some Collection<UInt8>, source: String = "input",
        _ body: (CSVRecord) throws -> Void
    ) throws {
        var parser = CSVParser(source: source)
        let array = Array(bytes)
        try array.withUnsafeBufferPointer { try parser.feed($0, body) }
        try parser.finish(body)
    }

    /// The first record of a file (its header), trimmed; nil for an empty file. Reads no further.
    public static func header(ofFile path: String) throws -> [String]? {
        struct Stop: Error {}
        var header: [String]?
        do {
            try forEachRecord(inFile: path) { record in
                header = (0..<record.count).map {
                    record.string($0).trimmingCharacters(in: .whitespaces)
                }
                throw Stop()
            }
        } catch is Stop {}
        return header
    }

    /// Parses CSV text into rows of strings (for small inputs and tests).
    public static func rows(of text: String) throws -> [[String]] {
        var rows: [[String]] = []
        try forEachRecord(in: Array(text.utf8)) { record in
            rows.append((0..<record.count).map { record.string($0) })
        }
        return rows
    }

    /// The CSV files of a folder (sorted by name), or the path itself if it is a file.
    public static func files(at path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CSVError.cannotOpen(path: path, reason: "no such file or folder")
        }
        guard isDirectory.boolValue else { return [path] }
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { $0.lowercased().hasSuffix(".csv") }
            .sorted()
        guard !names.isEmpty else {
            throw CSVError.cannotOpen(path: path, reason: "the folder holds no .csv files")
        }
        return names.map { (path as NSString).appendingPathComponent($0) }
    }
}
