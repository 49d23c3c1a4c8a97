import Foundation
import SwiftProtobuf
import Synchronization

extension FileHandle {
    /// Writes text, ignoring a closed reader (`segment ... | head` must not crash).
    func writeQuietly(_ text: String) {
        try? write(contentsOf: Data(text.utf8))
    }
}

/// Writes results as aligned tables, CSV or JSON.
enum Output {
    static func print(_ text: String) {
        FileHandle.standardOutput.writeQuietly((text + "\n"))
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let widths = header.indices.map { column in
            ([header[column]] + rows.map { column < $0.count ? $0[column] : "" }).map(\.count).max()
                ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1
                    ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return
            ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line))
            .joined(separator: "\n")
    }

    /// "name   value" lines, the values aligned (a record, for people).
    static func pairs(_ rows: [[String]]) -> String {
        let width = rows.map { $0[0].count }.max() ?? 0
        return rows.map { $0[0].padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0[1] }
            .joined(separator: "\n")
    }

    static func csv(_ header: [String], _ rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(CSVText.escape).joined(separator: ",") }.joined(
            separator: "\n")
    }

    /// The proto3 JSON mapping of a message, keys as in the .proto's JSON names, with the
    /// zero-valued fields proto3 JSON leaves out put back (see `JSONDefaults`).
    static func json(_ message: some SwiftProtobuf.Message) throws -> String {
        try JSONDefaults.json(message)
    }

    static func emit(
        _ format: OutputFormat, header: [String], rows: [[String]], json: () throws -> String
    ) throws {
        switch format {
        case .table: print(table(header, rows))
        case .csv: print(csv(header, rows))
        case .json: print(try json())
        }
    }

    static func number(_ value: Double, digits: Int = 3) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// A number as a number for CSV: full precision, no grouping, no unit.
    static func raw(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }

    static func percent(_ value: Double) -> String {
        String(format: "%.1f%%", value * 100)
    }

    static func timestamp(_ time: Google_Protobuf_Timestamp) -> String {
        guard time.seconds != 0 else { return "" }
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: time.date)
    }
}

enum CSVText {
    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else {
            return field
        }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func line(_ fields: [String]) -> String {
        fields.map(escape).joined(separator: ",")
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal (scripts get a clean log).
final class ProgressBar: Sendable {
    private let label: String
    private let interactive = isatty(STDERR_FILENO) != 0
    private let drawn = Mutex(false)

    init(_ label: String) { self.label = label }

    func update(_ fraction: Double, _ detail: String = "") {
        guard interactive else { return }
        let percent = Int((min(max(fraction, 0), 1) * 100).rounded(.down))
        let filled = percent * 30 / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
        let text = "\r\(label) [\(bar)] \(percent)% \(detail)"
        FileHandle.standardError.writeQuietly(
            text.padding(toLength: max(text.count, 100), withPad: " ", startingAt: 0))
        drawn.withLock { $0 = true }
    }

    /// Ends the bar's line (and prints a message in its place).
    func finish(_ message: String) {
        if interactive && drawn.withLock({ $0 }) {
            FileHandle.standardError.writeQuietly("\r\u{1B}[K")
        }
        FileHandle.standardError.writeQuietly("\(message)\n")
    }

    func log(_ message: String) {
        if interactive && drawn.withLock({ $0 }) {
            FileHandle.standardError.writeQuietly("\r\u{1B}[K")
        }
        FileHandle.standardError.writeQuietly("\(message)\n")
    }
}
