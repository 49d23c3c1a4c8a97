import Foundation

/// A value as either database stores it: the drivers translate their own types to and from
/// these, so the catalogue's statements and row decoders are written once.
public enum StoredValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

/// What a statement's `?` placeholders take: optionals bind NULL.
public protocol StatementArgument: Sendable {
    var storedValue: StoredValue { get }
}

extension String: StatementArgument { public var storedValue: StoredValue { .text(self) } }
extension Int: StatementArgument { public var storedValue: StoredValue { .integer(Int64(self)) } }
extension Int64: StatementArgument { public var storedValue: StoredValue { .integer(self) } }
extension Double: StatementArgument { public var storedValue: StoredValue { .real(self) } }
extension Data: StatementArgument { public var storedValue: StoredValue { .blob(self) } }
extension Bool: StatementArgument { public var storedValue: StoredValue { .integer(self ? 1 : 0) } }
extension Optional: StatementArgument where Wrapped: StatementArgument {
    public var storedValue: StoredValue { self?.storedValue ?? .null }
}

/// One row of a result, by column name. Reading a column that is missing, NULL where a value is
/// required, or of another type throws `corrupt` naming the column: one damaged row must never
/// take the server down (GRDB's and postgres-nio's subscripts would trap or mislead).
public struct StoredRow: Sendable {
    private var values: [String: StoredValue]

    public init(_ values: [String: StoredValue]) { self.values = values }

    public func text(_ column: String) throws -> String {
        guard case .text(let value) = try stored(column) else { throw mistyped(column, "text") }
        return value
    }

    public func int(_ column: String) throws -> Int {
        guard case .integer(let value) = try stored(column), let int = Int(exactly: value) else {
            throw mistyped(column, "an integer")
        }
        return int
    }

    public func int64(_ column: String) throws -> Int64 { Int64(try int(column)) }

    /// A real column; an integral value is read as one (SQLite keeps 5.0 as the integer 5 when it
    /// is stored through an INTEGER-affine expression).
    public func double(_ column: String) throws -> Double {
        switch try stored(column) {
        case .real(let value): return value
        case .integer(let value): return Double(value)
        default: throw mistyped(column, "a number")
        }
    }

    public func blob(_ column: String) throws -> Data {
        guard case .blob(let value) = try stored(column) else { throw mistyped(column, "bytes") }
        return value
    }

    public func bool(_ column: String) throws -> Bool { try int(column) != 0 }

    public func date(_ column: String) throws -> Date {
        Date(timeIntervalSince1970: try double(column))
    }

    // Nullable columns: NULL is nil, another type is still an error.
    public func optionalText(_ column: String) throws -> String? {
        try isNull(column) ? nil : text(column)
    }
    public func optionalInt(_ column: String) throws -> Int? {
        try isNull(column) ? nil : int(column)
    }
    public func optionalDate(_ column: String) throws -> Date? {
        try isNull(column) ? nil : date(column)
    }

    private func isNull(_ column: String) throws -> Bool { try stored(column) == .null }

    /// JSON text decoded into `T`.
    public func json<T: Decodable>(_ column: String) throws -> T {
        do { return try JSON.decode(try text(column)) } catch let error as RegistryError {
            throw error
        } catch {
            throw RegistryError.corrupt("column \(column) does not hold valid JSON")
        }
    }

    private func stored(_ column: String) throws -> StoredValue {
        guard let value = values[column] else {
            throw RegistryError.corrupt("column \(column) is missing")
        }
        return value
    }

    private func mistyped(_ column: String, _ expected: String) -> RegistryError {
        RegistryError.corrupt("column \(column) does not hold \(expected)")
    }
}

/// JSON columns for small nested values.
enum JSON {
    static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}

extension Listing {
    /// Rows turned into records; a row that does not decode is skipped and counted.
    init(_ rows: [StoredRow], _ decode: (StoredRow) throws -> Item) {
        var items: [Item] = []
        var unreadable = 0
        for row in rows {
            if let item = try? decode(row) { items.append(item) } else { unreadable += 1 }
        }
        self.init(items: items, unreadable: unreadable)
    }
}
