import Foundation

/// Turns raw customer columns into numbers: numeric columns with missing values imputed by the
/// training median, text columns one-hot encoded over the training categories. Part of the model.
public struct CustomerEncoder: Codable, Sendable, Equatable {
    public enum Column: Codable, Sendable, Equatable {
        case numeric(name: String, median: Double)
        /// One 0/1 column per category (k columns for k categories).
        case categorical(name: String, categories: [String])
        /// A two-level category as one 0/1 column, `name=level` (1 for `level`, 0 for the other).
        case indicator(name: String, level: String, other: String)

        public var name: String {
            switch self {
            case .numeric(let name, _), .categorical(let name, _), .indicator(let name, _, _): name
            }
        }
    }

    public var idColumn: String?
    public var columns: [Column]
    /// Columns of the training table that were left out on purpose; accepted and ignored when scoring.
    public var ignoredColumns: [String] = []
    /// Sensitive columns the user opted in to cluster on: never named in labels (nil: none).
    public var sensitiveColumns: [String]?

    /// Names of the encoded features, e.g. `balance`, `channel=Online`.
    public var featureNames: [String] {
        columns.flatMap { column -> [String] in
            switch column {
            case .numeric(let name, _): [name]
            case .categorical(let name, let categories): categories.map { "\(name)=\($0)" }
            case .indicator(let name, let level, _): ["\(name)=\(level)"]
            }
        }
    }

    /// Encoded feature names that come from sensitive columns.
    public var sensitiveFeatureNames: Set<String> {
        let sensitive = Set(sensitiveColumns ?? [])
        return Set(
            columns.filter { sensitive.contains($0.name) }.flatMap { column -> [String] in
                switch column {
                case .numeric(let name, _): [name]
                case .categorical(let name, let categories): categories.map { "\(name)=\($0)" }
                case .indicator(let name, let level, _): ["\(name)=\(level)"]
                }
            })
    }

    static let missingTokens: Set<String> = ["", "na", "n/a", "nan", "null", "none", "-", "?"]

    static func isMissing(_ text: String) -> Bool {
        missingTokens.contains(text.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// Encodes rows given as text cells under `header`. Returns the matrix and per-column counts
    /// of imputed values.
    public func encode(
        header: [String], rows: [[String]], customerIDs: [String]
    ) throws -> (Matrix, [Int]) {
        let positions = try columns.map { column -> Int in
            guard let index = header.firstIndex(of: column.name) else {
                throw ScoringError.missingColumn(column.name)
            }
            return index
        }
        let known = Set(columns.map(\.name) + [idColumn].compactMap { $0 } + ignoredColumns)
        if let unknown = header.first(where: { !known.contains($0) }) {
            throw ScoringError.unknownColumn(unknown, expected: columns.map(\.name))
        }
        let width = featureNames.count
        var values = [Double]()
        values.reserveCapacity(rows.count * width)
        var imputed = [Int](repeating: 0, count: columns.count)
        for (r, row) in rows.enumerated() {
            guard row.count == header.count else {
                throw ScoringError.wrongArity(
                    customer: customerIDs[r], expected: header.count, found: row.count)
            }
            for (c, column) in columns.enumerated() {
                let text = row[positions[c]]
                switch column {
                case .numeric(let name, let median):
                    if Self.isMissing(text) { values.append(median); imputed[c] += 1; continue }
                    guard let value = NumberParser.parse(text) else {
                        throw ScoringError.unreadable(
                            customer: customerIDs[r], field: name, text: text)
                    }
                    values.append(value)
                case .categorical(_, let categories):
                    let value = text.trimmingCharacters(in: .whitespaces)
                    for category in categories { values.append(category == value ? 1 : 0) }
                case .indicator(_, let level, _):
                    values.append(text.trimmingCharacters(in: .whitespaces) == level ? 1 : 0)
                }
            }
        }
        return (Matrix(rows: rows.count, columns: width, values: values), imputed)
    }
}
