import Foundation
import Logging
import Synchronization

/// One JSON object per line (`--log-format json`), for log shippers: `time` (UTC, ISO 8601 with
/// milliseconds), `level`, `logger`, `message`, then the metadata's keys at the top level, nested
/// metadata as JSON objects and arrays; numbers and booleans logged as values (not interpolated
/// into strings) stay JSON numbers and booleans. A metadata key that repeats one of the four is left out.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (String) -> Void

    /// - Parameter write: receives each line, newline included (standard error by default).
    public init(
        label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError
    ) {
        self.label = label
        self.write = write
    }

    /// Whole lines to standard error, one writer at a time (so long lines never interleave); a
    /// failed write (a full disk, a closed pipe) loses the line, never the process.
    public static let standardError: @Sendable (String) -> Void = { line in
        standardErrorLock.withLock { _ in
            try? FileHandle.standardError.write(contentsOf: Data(line.utf8))
        }
    }
    private static let standardErrorLock = Mutex(())

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// A line per event; an error logged with it (`logger.warning(..., error:)`, as swift-otel's
    /// exporters do) is `error.message` and `error.type`, as swift-log's own handlers write it.
    public func log(event: LogEvent) {
        var explicit = event.metadata ?? [:]
        if let error = event.error {
            explicit["error.message"] = explicit["error.message"] ?? "\(error)"
            explicit["error.type"] =
                explicit["error.type"] ?? "\(String(reflecting: type(of: error)))"
        }
        write(line(level: event.level, message: event.message, explicit: explicit))
    }

    private func line(
        level: Logger.Level, message: Logger.Message, explicit: Logger.Metadata
    ) -> String {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        merged.merge(explicit) { _, new in new }
        var text =
            "{\"time\":" + Self.quoted(Self.timestamp(Date())) + ",\"level\":"
            + Self.quoted(level.rawValue)
            + ",\"logger\":" + Self.quoted(label) + ",\"message\":"
            + Self.quoted(message.description)
        for key in merged.keys.sorted() where !["time", "level", "logger", "message"].contains(key)
        {
            text += "," + Self.quoted(key) + ":" + Self.json(merged[key]!)
        }
        return text + "}\n"
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): quoted(string)
        case .stringConvertible(let number as any BinaryInteger): "\(number)"
        case .stringConvertible(let number as Double) where number.isFinite: "\(number)"
        case .stringConvertible(let flag as Bool): "\(flag)"
        case .stringConvertible(let convertible): quoted(convertible.description)
        case .array(let values): "[" + values.map(json).joined(separator: ",") + "]"
        case .dictionary(let entries):
            "{"
                + entries.keys.sorted().map { quoted($0) + ":" + json(entries[$0]!) }.joined(
                    separator: ",") + "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
