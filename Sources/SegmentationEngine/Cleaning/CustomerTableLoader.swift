import Foundation

/// Which columns of a customers table to use.
public struct CustomerColumns: Codable, Sendable, Equatable {
    /// The id column; nil finds one named like `CustomerID`, `CUST_ID` or `id`, else rows are numbered.
    public var id: String?
    /// Columns to cluster on; nil takes every column but the id. Text columns are one-hot encoded.
    public var features: [String]?

    public init(id: String? = nil, features: [String]? = nil) {
        self.id = id
        self.features = features
    }
}

/// Turns raw customer columns into numbers: numeric columns with missing values imputed by the
/// training median, text columns one-hot encoded over the training categories. Part of the model.
public struct CustomerEncoder: Codable, Sendable, Equatable {
    public enum Column: Codable, Sendable, Equatable {
        case numeric(name: String, median: Double)
        case categorical(name: String, categories: [String])

        public var name: String {
            switch self {
            case .numeric(let name, _), .categorical(let name, _): name
            }
        }
    }

    public var idColumn: String?
    public var columns: [Column]
    /// Columns of the training table that were left out on purpose; accepted and ignored when scoring.
    public var ignoredColumns: [String] = []

    /// Names of the encoded features, e.g. `balance`, `gender=Female`.
    public var featureNames: [String] {
        columns.flatMap { column -> [String] in
            switch column {
            case .numeric(let name, _): [name]
            case .categorical(let name, let categories): categories.map { "\(name)=\($0)" }
            }
        }
    }

    static let missingTokens: Set<String> = ["", "na", "n/a", "nan", "null", "none", "-", "?"]

    static func isMissing(_ text: String) -> Bool {
        missingTokens.contains(text.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// Encodes rows given as text cells under `header`. Returns the matrix and per-column counts
    /// of imputed values.
    public func encode(header: [String], rows: [[String]], customerIDs: [String]) throws -> (Matrix, [Int]) {
        let positions = try columns.map { column -> Int in
            guard let index = header.firstIndex(of: column.name) else { throw ScoringError.missingColumn(column.name) }
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
                throw ScoringError.wrongArity(customer: customerIDs[r], expected: header.count, found: row.count)
            }
            for (c, column) in columns.enumerated() {
                let text = row[positions[c]]
                switch column {
                case .numeric(let name, let median):
                    if Self.isMissing(text) { values.append(median); imputed[c] += 1; continue }
                    guard let value = NumberParser.parse(text) else {
                        throw ScoringError.unreadable(customer: customerIDs[r], field: name, text: text)
                    }
                    values.append(value)
                case .categorical(_, let categories):
                    let value = text.trimmingCharacters(in: .whitespaces)
                    for category in categories { values.append(category == value ? 1 : 0) }
                }
            }
        }
        return (Matrix(rows: rows.count, columns: width, values: values), imputed)
    }
}

/// Reads a customers table, cleans it (malformed rows, missing ids, exact duplicates, all
/// counted) and learns the encoder.
public enum CustomerTableLoader {
    static let idCandidates = ["customerid", "customer_id", "cust_id", "id", "customer"]

    public struct Table {
        public var header: [String]
        public var rows: [[String]]
        public var source: String
    }

    /// Reads one file or a folder of files with the same header.
    public static func read(path: String) throws -> [Table] {
        try CSVReader.files(at: path).map { file in
            try read(bytes: try Data(contentsOf: URL(fileURLWithPath: file)), source: (file as NSString).lastPathComponent)
        }
    }

    public static func read(bytes: some Collection<UInt8>, source: String) throws -> Table {
        var header: [String]?
        var rows: [[String]] = []
        try CSVReader.forEachRecord(in: bytes, source: source) { record in
            let cells = (0..<record.count).map { record.string($0) }
            if header == nil { header = cells.map { $0.trimmingCharacters(in: .whitespaces) } } else { rows.append(cells) }
        }
        guard let header else { throw CSVError.emptyInput(source: source) }
        return Table(header: header, rows: rows, source: source)
    }

    /// Cleans the tables and learns the encoder; returns raw features for every kept customer.
    public static func load(_ tables: [Table], columns: CustomerColumns) throws -> (CustomerFeatures, CustomerEncoder, DataReport) {
        guard let first = tables.first else { throw InputError.noUsableRows("no customer table given") }
        var report = DataReport(kind: .customers)
        let header = first.header
        let idColumn = try resolveID(columns.id, header: header, source: first.source)
        let featureColumns = columns.features ?? header.filter { $0 != idColumn }
        for name in featureColumns where !header.contains(name) {
            throw InputError.missingColumn(role: "feature", column: name, source: first.source, header: header)
        }
        var kept: [[String]] = [], ids: [String] = []
        var removed: [CleaningStep.Name: Int] = [:]
        var seen = Set<[String]>()
        for table in tables {
            guard table.header == header else {
                throw InputError.headerMismatch(source: table.source, expected: header, found: table.header)
            }
            report.sources.append(table.source)
            for (index, row) in table.rows.enumerated() {
                report.rowsIn += 1
                guard row.count == header.count else {
                    removed[.unparseable, default: 0] += 1
                    if report.problems.count < DataReport.maximumProblemsKept {
                        report.problems.append(RowProblem(source: table.source, line: index + 2,
                            reason: "expected \(header.count) fields, found \(row.count)"))
                    }
                    continue
                }
                let id = idColumn.map { row[header.firstIndex(of: $0)!].trimmingCharacters(in: .whitespaces) }
                    ?? String(report.rowsIn)
                if idColumn != nil && CustomerEncoder.isMissing(id) { removed[.missingCustomer, default: 0] += 1; continue }
                guard seen.insert(row).inserted else { removed[.duplicate, default: 0] += 1; continue }
                kept.append(row); ids.append(id)
            }
        }
        var remaining = report.rowsIn
        for step in [CleaningStep.Name.missingCustomer, .unparseable, .duplicate] {
            remaining -= removed[step] ?? 0
            report.steps.append(CleaningStep(name: step, removed: removed[step] ?? 0, remaining: remaining))
        }
        report.customersIn = report.rowsIn
        report.rowsOut = kept.count
        report.customersOut = kept.count
        guard kept.count >= 2 else {
            throw InputError.noUsableRows("only \(kept.count) usable customer rows out of \(report.rowsIn)")
        }
        let encoder = try learnEncoder(header: header, rows: kept, idColumn: idColumn, features: featureColumns,
                                       explicitFeatures: columns.features != nil, report: &report)
        let (matrix, _) = try encoder.encode(header: header, rows: kept, customerIDs: ids)
        return (CustomerFeatures(customerIDs: ids, names: encoder.featureNames, values: matrix), encoder, report)
    }

    private static func resolveID(_ wanted: String?, header: [String], source: String) throws -> String? {
        if let wanted {
            guard header.contains(wanted) else {
                throw InputError.missingColumn(role: "id", column: wanted, source: source, header: header)
            }
            return wanted
        }
        return header.first { idCandidates.contains($0.lowercased()) }
    }

    /// Text columns with more distinct values than this are not one-hot encoded.
    public static let maximumCategories = 100

    private static func learnEncoder(
        header: [String], rows: [[String]], idColumn: String?, features: [String], explicitFeatures: Bool,
        report: inout DataReport
    ) throws -> CustomerEncoder {
        var encoded: [CustomerEncoder.Column] = []
        for name in features {
            let index = header.firstIndex(of: name)!
            let cells = rows.map { $0[index] }
            let present = cells.filter { !CustomerEncoder.isMissing($0) }
            guard !present.isEmpty else {
                throw InputError.noUsableRows("column '\(name)' has no values")
            }
            let numbers = present.compactMap { NumberParser.parse($0) }
            if numbers.count == present.count {
                let median = Statistics.median(numbers)
                let missing = cells.count - present.count
                if missing > 0 { report.imputed.append(ImputedColumn(column: name, count: missing, median: median)) }
                encoded.append(.numeric(name: name, median: median))
            } else {
                let categories = Set(present.map { $0.trimmingCharacters(in: .whitespaces) }).sorted()
                if categories.count > maximumCategories {
                    // Free text (names, notes) is no category: skipped when columns were not named, refused when they were.
                    guard explicitFeatures else {
                        report.ignoredColumns.append(name)
                        continue
                    }
                    throw InputError.invalidOption("column '\(name)' has \(categories.count) distinct text values (at most "
                        + "\(maximumCategories) are one-hot encoded); leave it out or make it numeric")
                }
                encoded.append(.categorical(name: name, categories: categories))
            }
        }
        let used = Set(encoded.map(\.name))
        let ignored = header.filter { $0 != idColumn && !used.contains($0) }
        return CustomerEncoder(idColumn: idColumn, columns: encoded, ignoredColumns: ignored)
    }
}
