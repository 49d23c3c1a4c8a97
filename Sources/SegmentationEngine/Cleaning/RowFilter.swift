import Foundation

/// A row filter from the command line: `--include 'Country=France'`, `--exclude 'Order Status=Cancelled'`.
/// Values match after trimming, ignoring case. A row is kept when, for every column named by
/// include filters, it matches one of them, and it matches no exclude filter. Every row a filter
/// removes is counted in the data report under that filter.
public struct RowFilter: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Mode: String, Codable, Sendable { case include, exclude }
    public var mode: Mode
    public var column: String
    public var value: String

    public init(mode: Mode, column: String, value: String) {
        self.mode = mode
        self.column = column
        self.value = value
    }

    /// Parses `COLUMN=VALUE` (the first '=' splits; the value may be empty).
    public init(parsing text: String, mode: Mode) throws {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw InputError.invalidOption(
                "--\(mode.rawValue) \(text.quotedForMessage) must be COLUMN=VALUE")
        }
        self.init(
            mode: mode, column: String(text[..<equals]).trimmingCharacters(in: .whitespaces),
            value: String(text[text.index(after: equals)...]).trimmingCharacters(in: .whitespaces))
    }

    public var description: String { "\(mode.rawValue) \(column)=\(value)" }

    /// At most this many filters per request or job.
    public static let maximumCount = 64
}

/// Filters resolved against one header: which rule, if any, removes a row.
struct RowFilterSet {
    struct Rule {
        var column: String
        var position: Int
        var values: Set<String>
        /// The step name counted in the report: "exclude Order Status=Cancelled", "include Country=France|Germany".
        var label: String
    }
    var includes: [Rule]
    var excludes: [Rule]

    /// The report's step labels, in the order rules are checked (includes, then excludes).
    static func labels(_ filters: [RowFilter]) -> [String] {
        let groups = grouped(filters)
        return groups.includes.map(\.label) + groups.excludes.map(\.label)
    }

    /// One cleaning step per filter rule with the rows it removed, `remaining` counted down.
    static func steps(
        _ filters: [RowFilter], removed: [String: Int], remaining: inout Int
    ) -> [CleaningStep] {
        labels(filters).map { rule in
            remaining -= removed[rule] ?? 0
            return CleaningStep(
                name: .filtered, removed: removed[rule] ?? 0, remaining: remaining, rule: rule)
        }
    }

    private static func grouped(
        _ filters: [RowFilter]
    ) -> (
        includes: [(column: String, values: [String], label: String)],
        excludes: [(column: String, values: [String], label: String)]
    ) {
        var includeColumns: [String] = []
        var includeValues: [String: [String]] = [:]
        for filter in filters where filter.mode == .include {
            if includeValues[filter.column] == nil { includeColumns.append(filter.column) }
            includeValues[filter.column, default: []].append(filter.value)
        }
        let includes = includeColumns.map { column in
            (
                column, includeValues[column]!,
                "include \(column)=\(includeValues[column]!.joined(separator: "|"))"
            )
        }
        let excludes = filters.filter { $0.mode == .exclude }.map {
            ($0.column, [$0.value], $0.description)
        }
        return (includes, excludes)
    }

    init(_ filters: [RowFilter], header: [String], source: String) throws {
        guard filters.count <= RowFilter.maximumCount else {
            throw InputError.invalidOption(
                "\(filters.count) row filters given; at most \(RowFilter.maximumCount) are allowed")
        }
        func position(_ column: String) throws -> Int {
            if let index = header.firstIndex(of: column)
                ?? header.firstIndex(where: { $0.caseInsensitiveCompare(column) == .orderedSame })
            {
                return index
            }
            throw InputError.missingColumn(
                role: "filter", column: column, source: source, header: header)
        }
        let groups = Self.grouped(filters)
        includes = try groups.includes.map {
            Rule(
                column: $0.column, position: try position($0.column),
                values: Set($0.values.map { $0.lowercased() }), label: $0.label)
        }
        excludes = try groups.excludes.map {
            Rule(
                column: $0.column, position: try position($0.column),
                values: Set($0.values.map { $0.lowercased() }), label: $0.label)
        }
    }

    /// The label of the first rule that removes the row, or nil to keep it.
    func rejecting(_ field: (Int) -> String) -> String? {
        for rule in includes
        where !rule.values.contains(
            field(rule.position).trimmingCharacters(in: .whitespaces).lowercased())
        {
            return rule.label
        }
        for rule in excludes
        where rule.values.contains(
            field(rule.position).trimmingCharacters(in: .whitespaces).lowercased())
        {
            return rule.label
        }
        return nil
    }
}

/// Which filter values met a row, and each filtered column's most common values, across all the
/// files of an input: a filter value that matches no row (`Order Status=Canceled` where the data
/// says `Cancelled`) is an error listing what the column does hold, never a silent no-op.
struct FilterTally {
    private var matched = Set<String>()
    private var values: [String: [String: Int]] = [:]
    /// Distinct values counted per column; rarer values past it are not listed.
    static let distinctLimit = 1000

    private static func key(_ column: String, _ value: String) -> String {
        column.lowercased() + "\u{1}" + value.lowercased()
    }

    mutating func observe(_ set: RowFilterSet, _ field: (Int) -> String) {
        for rule in set.includes + set.excludes {
            let value = field(rule.position).trimmingCharacters(in: .whitespaces)
            if rule.values.contains(value.lowercased()) {
                matched.insert(Self.key(rule.column, value))
            }
            let column = rule.column.lowercased()
            if values[column]?[value] != nil || (values[column]?.count ?? 0) < Self.distinctLimit {
                values[column, default: [:]][value, default: 0] += 1
            }
        }
    }

    /// Throws for the first filter whose value met no row.
    func check(_ filters: [RowFilter]) throws {
        guard
            let unmatched = filters.first(where: {
                !matched.contains(Self.key($0.column, $0.value))
            })
        else { return }
        let common = (values[unmatched.column.lowercased()] ?? [:]).sorted {
            $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key)
        }
        .prefix(8).map { "\($0.key.isEmpty ? "(empty)" : String($0.key.prefix(40))) (\($0.value))" }
        throw InputError.invalidOption(
            "filter \(unmatched.mode.rawValue) \(unmatched.column.prefix(64))=\(unmatched.value.prefix(64)) matches no row; "
                + (common.isEmpty
                    ? "the column has no values"
                    : "its most common values: \(common.joined(separator: ", "))"))
    }
}
