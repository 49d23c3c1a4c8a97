import Foundation

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
            try read(
                bytes: try Data(contentsOf: URL(fileURLWithPath: file)),
                source: (file as NSString).lastPathComponent)
        }
    }

    public static func read(bytes: some Collection<UInt8>, source: String) throws -> Table {
        var header: [String]?
        var rows: [[String]] = []
        try CSVReader.forEachRecord(in: bytes, source: source) { record in
            let cells = (0..<record.count).map { record.string($0) }
            if header == nil {
                header = cells.map { $0.trimmingCharacters(in: .whitespaces) }
            } else {
                rows.append(cells)
            }
        }
        guard let header else { throw CSVError.emptyInput(source: source) }
        return Table(header: header, rows: rows, source: source)
    }

    /// Cleans the tables and learns the encoder; returns raw features for every kept customer.
    ///
    /// Columns that identify rows (the id, and others unique per row or named like `rownames`,
    /// `index`, `Unnamed: 0`, `..._id`) and sensitive attributes are not features unless named
    /// (sensitive ones also need `allowSensitive`). A table whose id repeats is refused: it
    /// holds order lines, not customers.
    public static func load(
        _ tables: [Table], columns: CustomerColumns, filters: [RowFilter] = []
    ) throws
        -> (CustomerFeatures, CustomerEncoder, DataReport)
    {
        guard let first = tables.first else {
            throw InputError.noUsableRows("no customer table given")
        }
        var report = DataReport(kind: .customers)
        let header = first.header
        let (kept, ids, idColumn) = try cleanRows(
            tables, header: header, columns: columns, filters: filters, report: &report)
        let roles = try ColumnChoice(
            header: header, rows: kept, idColumn: idColumn, columns: columns, source: first.source)
        report.identifierColumns = roles.identifiers
        report.sensitiveColumns = roles.sensitive
        var encoder = try learnEncoder(
            header: header, rows: kept, idColumn: idColumn, features: roles.features,
            explicitFeatures: columns.features != nil, report: &report)
        encoder.sensitiveColumns = roles.allowedSensitive.isEmpty ? nil : roles.allowedSensitive
        // Columns left out for a stated reason are listed under that reason, not again here.
        let accounted = Set(
            encoder.columns.map(\.name) + [idColumn].compactMap { $0 } + roles.identifiers
                + roles.sensitive
                + report.ignoredColumns)
        report.unusedColumns = header.filter { !accounted.contains($0) }
        let (matrix, _) = try encoder.encode(header: header, rows: kept, customerIDs: ids)
        var features = CustomerFeatures(
            customerIDs: ids, names: encoder.featureNames, values: matrix)
        for name in roles.sensitive {
            let index = header.firstIndex(of: name)!
            features.sensitiveAttributes[name] = kept.map { row in
                CustomerEncoder.isMissing(row[index])
                    ? "(missing)" : row[index].trimmingCharacters(in: .whitespaces)
            }
        }
        return (features, encoder, report)
    }

    /// Rows that read, pass the filters, have an id and are no exact duplicate, each removal counted.
    private static func cleanRows(
        _ tables: [Table], header: [String], columns: CustomerColumns, filters: [RowFilter],
        report: inout DataReport
    ) throws -> (rows: [[String]], ids: [String], idColumn: String?) {
        let source = tables[0].source
        let idColumn = try resolveID(
            columns.id, header: header, source: source, rows: tables[0].rows)
        let filterSet = try RowFilterSet(filters, header: header, source: source)
        var tally = FilterTally()
        let idIndex = idColumn.flatMap { header.firstIndex(of: $0) }
        var kept: [[String]] = [], ids: [String] = []
        var removed: [CleaningStep.Name: Int] = [:]
        var filtered: [String: Int] = [:]
        var seen = Set<[String]>()
        var firstRow: [String: Int] = [:]
        for table in tables {
            guard table.header == header else {
                throw InputError.headerMismatch(
                    source: table.source, expected: header, found: table.header)
            }
            report.sources.append(table.source)
            for (index, row) in table.rows.enumerated() {
                report.rowsIn += 1
                guard row.count == header.count else {
                    removed[.unparseable, default: 0] += 1
                    if report.problems.count < DataReport.maximumProblemsKept {
                        report.problems.append(
                            RowProblem(
                                source: table.source, line: index + 2,
                                reason: "expected \(header.count) fields, found \(row.count)"))
                    }
                    continue
                }
                tally.observe(filterSet) { row[$0] }
                if let rule = filterSet.rejecting({ row[$0] }) {
                    filtered[rule, default: 0] += 1; continue
                }
                let id =
                    idIndex.map { row[$0].trimmingCharacters(in: .whitespaces) }
                    ?? String(report.rowsIn)
                if idIndex != nil && CustomerEncoder.isMissing(id) {
                    removed[.missingCustomer, default: 0] += 1; continue
                }
                guard seen.insert(row).inserted else {
                    removed[.duplicate, default: 0] += 1; continue
                }
                if let idColumn, let earlier = firstRow[id] {
                    throw InputError.kindMismatch(
                        "\(table.source): column \(idColumn.quotedForMessage) repeats: \(id.quotedForMessage) is on rows \(earlier) and \(report.rowsIn). "
                            + "A customers table has one row per customer; for order lines upload it as kind transactions "
                            + "(or give the right column the id role)")
                }
                firstRow[id] = report.rowsIn
                kept.append(row); ids.append(id)
            }
        }
        var remaining = report.rowsIn
        try tally.check(filters)
        report.steps += RowFilterSet.steps(filters, removed: filtered, remaining: &remaining)
        for step in [CleaningStep.Name.missingCustomer, .unparseable, .duplicate] {
            remaining -= removed[step] ?? 0
            report.steps.append(
                CleaningStep(name: step, removed: removed[step] ?? 0, remaining: remaining))
        }
        report.customersIn = report.rowsIn
        report.rowsOut = kept.count
        report.customersOut = kept.count
        guard kept.count >= 2 else {
            throw InputError.noUsableRows(
                "only \(kept.count) usable customer rows out of \(report.rowsIn)")
        }
        return (kept, ids, idColumn)
    }

    /// Which columns are features, identifiers and sensitive attributes.
    struct ColumnChoice {
        static func check(
            header: [String], idColumn: String?, columns: CustomerColumns, source: String
        ) throws -> [String] {
            let extra = columns.sensitive ?? []
            let allowed = columns.allowSensitive ?? []
            for name in (columns.features ?? []) + allowed + extra where !header.contains(name) {
                throw InputError.missingColumn(
                    role: "feature", column: name, source: source, header: header)
            }
            let sensitive = header.filter {
                $0 != idColumn && SensitiveAttributes.isSensitive($0, extra: extra)
            }
            if let bad = allowed.first(where: { !sensitive.contains($0) }) {
                throw InputError.invalidOption(
                    "allow_sensitive names \(bad.quotedForMessage), which is not a sensitive column; sensitive columns here: "
                        + (sensitive.isEmpty ? "none" : sensitive.joined(separator: ", ")))
            }
            if let bad = columns.features?.first(where: {
                sensitive.contains($0) && !allowed.contains($0)
            }) {
                throw InputError.invalidOption(
                    "\(bad.quotedForMessage) is a sensitive attribute: segments are not built on it unless you opt in "
                        + "with allow_sensitive \(bad) (it never appears in names or actions either way)"
                )
            }
            return sensitive
        }

        var features: [String]
        var identifiers: [String]
        var sensitive: [String]
        var allowedSensitive: [String]

        init(
            header: [String], rows: [[String]], idColumn: String?, columns: CustomerColumns,
            source: String
        ) throws {
            let sensitive = try Self.check(
                header: header, idColumn: idColumn, columns: columns, source: source)
            let allowed = columns.allowSensitive ?? []
            let identifiers = header.indices.filter {
                header[$0] != idColumn && !sensitive.contains(header[$0])
                    && CustomerTableLoader.looksLikeIdentifier(header[$0], at: $0, rows: rows)
            }
            .map { header[$0] }
            if let named = columns.features {
                features = named
            } else {
                features = header.filter {
                    $0 != idColumn && !identifiers.contains($0)
                        && (!sensitive.contains($0) || allowed.contains($0))
                }
            }
            self.sensitive = sensitive
            self.identifiers = identifiers
            allowedSensitive = sensitive.filter { allowed.contains($0) }
        }
    }

    /// Checks the column options against a header (before any row is read): named columns
    /// exist, sensitive columns are named as features only with an opt-in, and only sensitive
    /// columns are opted in. Returns the sensitive columns.
    @discardableResult
    public static func checkColumns(
        header: [String], columns: CustomerColumns, source: String
    ) throws -> [String] {
        try ColumnChoice.check(
            header: header,
            idColumn: columns.id ?? header.first { idCandidates.contains($0.lowercased()) },
            columns: columns, source: source)
    }

    /// Names that mean "row number" or "identifier" in exported tables.
    static let identifierNames: Set<String> = [
        "", "id", "rownames", "row.names", "index", "row", "rowid", "row_id", "row_number", "#",
        "no", "number",
    ]

    /// A column that identifies rows rather than describing customers: named like one, or
    /// unique per row (text), or a run of consecutive integers (a row number).
    static func looksLikeIdentifier(_ name: String, at index: Int, rows: [[String]]) -> Bool {
        if isNamedLikeIdentifier(name) { return true }
        let cells = rows.map { $0[index].trimmingCharacters(in: .whitespaces) }
        // An identifier has a distinct value on every row, none missing.
        guard cells.count >= 10, !cells.contains(where: CustomerEncoder.isMissing),
            Set(cells).count == cells.count
        else { return false }
        let numbers = cells.compactMap { NumberParser.parse($0) }
        // unique text per row: a name, an email, a key
        if numbers.count < cells.count { return true }
        guard numbers.allSatisfy({ $0 == $0.rounded() }), let low = numbers.min(),
            let high = numbers.max()
        else { return false }
        return high - low + 1 == Double(numbers.count)  // 1, 2, 3, ...: a row number
    }

    static func isNamedLikeIdentifier(_ name: String) -> Bool {
        let lower = name.trimmingCharacters(in: .whitespaces).lowercased()
        // "CustomerID" is an id; "AMOUNT_PAID" is not (the letter before "ID" must be lowercase).
        let camelID = name.hasSuffix("ID") && name.dropLast(2).last?.isLowercase == true
        return identifierNames.contains(lower) || lower.hasPrefix("unnamed:")
            || lower.hasSuffix("_id") || lower.hasSuffix(" id")
            || lower.hasSuffix("-id") || camelID || idCandidates.contains(lower)
    }

    private static func resolveID(
        _ wanted: String?, header: [String], source: String, rows: [[String]]
    ) throws -> String? {
        if let wanted {
            guard header.contains(wanted) else {
                throw InputError.missingColumn(
                    role: "id", column: wanted, source: source, header: header)
            }
            return wanted
        }
        if let named = header.first(where: { idCandidates.contains($0.lowercased()) }) {
            return named
        }
        // An exported row-name column ("rownames", "Unnamed: 0") with unique values names the rows.
        return header.indices.first { index in
            isNamedLikeIdentifier(header[index])
                && Set(rows.map { index < $0.count ? $0[index] : "" }).count == rows.count
        }.map { header[$0] }
    }

    /// Text columns with more distinct values than this are not one-hot encoded.
    public static let maximumCategories = 100

    /// Values read as the "1" of a two-level column.
    static let positiveLevels: Set<String> = ["yes", "y", "true", "t", "1", "on", "positive"]

    private static func learnEncoder(
        header: [String], rows: [[String]], idColumn: String?, features: [String],
        explicitFeatures: Bool,
        report: inout DataReport
    ) throws -> CustomerEncoder {
        var encoded: [CustomerEncoder.Column] = []
        for name in features {
            let index = header.firstIndex(of: name)!
            let cells = rows.map { $0[index] }
            let present = cells.filter { !CustomerEncoder.isMissing($0) }
            guard !present.isEmpty else {
                throw InputError.noUsableRows("column \(name.quotedForMessage) has no values")
            }
            let numbers = present.compactMap { NumberParser.parse($0) }
            if numbers.count == present.count {
                let median = Statistics.median(numbers)
                let missing = cells.count - present.count
                if missing > 0 {
                    report.imputed.append(
                        ImputedColumn(column: name, count: missing, median: median))
                }
                encoded.append(.numeric(name: name, median: median))
            } else {
                let categories = Set(present.map { $0.trimmingCharacters(in: .whitespaces) })
                    .sorted()
                if categories.count > maximumCategories {
                    // Free text (names, notes) is no category: skipped when columns were not named, refused when they were.
                    guard explicitFeatures else {
                        report.ignoredColumns.append(name)
                        continue
                    }
                    throw InputError.invalidOption(
                        "column \(name.quotedForMessage) has \(categories.count) distinct text values (at most "
                            + "\(maximumCategories) are one-hot encoded); leave it out or make it numeric"
                    )
                }
                if categories.count == 2 {
                    // One 0/1 column: the "yes"-like level, else the alphabetically second, is 1.
                    let level =
                        categories.first { positiveLevels.contains($0.lowercased()) }
                        ?? categories[1]
                    encoded.append(
                        .indicator(
                            name: name, level: level, other: categories.first { $0 != level }!))
                } else {
                    encoded.append(.categorical(name: name, categories: categories))
                }
            }
        }
        let used = Set(encoded.map(\.name))
        let ignored = header.filter { $0 != idColumn && !used.contains($0) }
        return CustomerEncoder(idColumn: idColumn, columns: encoded, ignoredColumns: ignored)
    }
}
