import Foundation

/// Cleaned order lines in columns, one entry per kept row.
public struct TransactionTable: Sendable {
    /// Distinct customer ids, indexed by `customer`.
    public var customerIDs: [String] = []
    public var customer: [Int32] = []
    /// Seconds since 1970 (wall clock).
    public var seconds: [Int64] = []
    /// Interned invoice ids; nil when the input has no invoice column.
    public var invoice: [Int32]?
    /// The invoice ids, indexed by `invoice`.
    public var invoices: [String] = []
    public var quantity: [Double] = []
    /// Quantity x unit price, or the amount column.
    public var amount: [Double] = []
    public var country: [Int32]?
    public var countries: [String] = []
    public var product: [Int32]?
    /// Product codes, indexed by `product`.
    public var products: [String] = []
    /// A readable name per product (indexed like `products`; "" when none was given).
    public var productNames: [String] = []
    /// Whether the input had a quantity column (without one every line counts 1).
    public var hasQuantity = true
    /// Per customer (indexed like `customerIDs`): spend cancelled by cancellation invoices, to
    /// net against purchases; nil when cancellations are not netted.
    public var cancelled: [Double]?
    /// With `TransactionLoader.keepsLineIdentities` (live ingest): each kept row's fingerprint,
    /// and every distinct cancellation line that gives money back, with its customer.
    public var lineIDs: [RowFingerprint]?
    /// With `keepsLineIdentities`: each kept row's line in the input (to tell a refusal by line).
    public var rowLines: [Int]?
    public var cancellationLines: [CancellationLine] = []
    /// With `keepsLineIdentities`: every row cleaning left out, by its line and why (at most the
    /// batch's rows; a cancellation netted is applied, not left out).
    public var droppedRows: [DroppedRow] = []

    public var count: Int { customer.count }
}

/// A row cleaning left out: its line in the input (1-based, the header is line 1) and why.
public struct DroppedRow: Sendable, Equatable {
    public var line: Int
    public var reason: String

    public init(line: Int, reason: String) { (self.line, self.reason) = (line, reason) }
}

/// A cancellation invoice's line, as netting counts it: the spend it gives back (positive).
public struct CancellationLine: Sendable, Equatable {
    public var customerID: String
    public var refund: Double
    public var lineID: RowFingerprint
    /// Its line in the input.
    public var line = 0
}

/// Reads transaction CSVs (one or many files with the same columns) and cleans them as it goes,
/// counting every removed row by reason. Steps, in order: missing customer id, unparseable row,
/// cancelled status, cancellation (invoice starting with "C"; netted, see `TransactionCleaning`),
/// non-positive quantity or price, exact duplicate row, no net spend.
public struct TransactionLoader {
    public let columns: TransactionColumns
    public let filters: [RowFilter]
    public let cleaning: TransactionCleaning
    /// Read every 65,536 rows, so a cancel or shutdown stops reading a large input within moments.
    public var cancellation = CancellationCheck.never
    /// Live ingest: keep each row's fingerprint and the cancellation lines in the table, and keep
    /// customers whose cancellations outweigh their purchases in this input (a later batch may
    /// bring more): the customer store nets and judges them over everything it has seen.
    public var keepsLineIdentities = false
    private var filterSet: RowFilterSet?
    private var filterTally = FilterTally()
    private var filtered: [String: Int] = [:]
    /// The line of the row being read (for `DroppedRow`).
    private var currentLine = 0
    private var table = TransactionTable()
    private var report = DataReport(kind: .transactions)
    private var removed: [CleaningStep.Name: Int] = [:]
    private var customerIndex: [String: Int32] = [:]
    private var allCustomerIDs: [String] = []
    private var invoiceIndex: [String: Int32] = [:]
    private var countryIndex: [String: Int32] = [:]
    private var productIndex: [String: Int32] = [:]
    private var seenRows = Set<RowFingerprint>()
    /// Cancelled spend per customer (indexed like `allCustomerIDs`).
    private var cancelledSpend: [Int32: Double] = [:]
    /// Status columns of the current file, and the cancelled values met (at most 10 kept).
    private var statusColumns: [Int] = []
    private var statusColumnNames: [String] = []
    private var cancelledValues: [String] = []
    private var hasInvoices = false, hasCountries = false, hasProducts = false
    /// The first file's header: later files must offer the same optional columns.
    private var firstHeader: [String]?

    public init(
        columns: TransactionColumns = TransactionColumns(), filters: [RowFilter] = [],
        cleaning: TransactionCleaning = TransactionCleaning()
    ) {
        self.columns = columns
        self.filters = filters
        self.cleaning = cleaning
    }

    /// Loads one file or every .csv file of a folder.
    public mutating func add(path: String) throws {
        for file in try CSVReader.files(at: path) {
            var resolved: ResolvedTransactionColumns?
            let name = (file as NSString).lastPathComponent
            try CSVReader.forEachRecord(inFile: file) { record in
                try self.consume(record, source: name, resolved: &resolved)
            }
            try finishSource(name, resolved: resolved)
        }
    }

    /// Loads CSV bytes already in memory (an upload).
    public mutating func add(bytes: some Collection<UInt8>, source: String) throws {
        var resolved: ResolvedTransactionColumns?
        try CSVReader.forEachRecord(in: bytes, source: source) { record in
            try self.consume(record, source: source, resolved: &resolved)
        }
        try finishSource(source, resolved: resolved)
    }

    private mutating func finishSource(
        _ source: String, resolved: ResolvedTransactionColumns?
    ) throws {
        guard resolved != nil else { throw CSVError.emptyInput(source: source) }
        report.sources.append(source)
    }

    private mutating func consume(
        _ record: CSVRecord, source: String, resolved: inout ResolvedTransactionColumns?
    ) throws {
        guard let columnsAt = resolved else {
            let header = (0..<record.count).map {
                record.string($0).trimmingCharacters(in: .whitespaces)
            }
            let found = try columns.resolve(header: header, source: source)
            if let firstHeader {
                if hasInvoices != (found.invoice != nil) || hasCountries != (found.country != nil)
                    || hasProducts != (found.product != nil)
                {
                    throw InputError.headerMismatch(
                        source: source, expected: firstHeader, found: header)
                }
            } else {
                hasInvoices = found.invoice != nil
                hasCountries = found.country != nil
                hasProducts = found.product != nil
                table.hasQuantity = found.quantity != nil
                firstHeader = header
                let used = Set(found.positions).union(Self.statusColumns(header, found, cleaning))
                    .union(
                        filters.compactMap { f in
                            header.firstIndex {
                                $0.caseInsensitiveCompare(f.column) == .orderedSame
                            }
                        })
                report.unusedColumns = header.indices.filter { !used.contains($0) }.map {
                    header[$0]
                }
            }
            filterSet =
                filters.isEmpty ? nil : try RowFilterSet(filters, header: header, source: source)
            statusColumns = Self.statusColumns(header, found, cleaning)
            for position in statusColumns where !statusColumnNames.contains(header[position]) {
                statusColumnNames.append(header[position])
            }
            resolved = found
            return
        }
        report.rowsIn += 1
        currentLine = record.line
        if report.rowsIn & 0xFFFF == 0 { try cancellation.throwIfCancelled() }
        if let problem = check(record, columnsAt) {
            drop(.unparseable)
            note(RowProblem(source: source, line: record.line, reason: problem))
            return
        }
        if let filterSet {
            filterTally.observe(filterSet) { record.string($0) }
            if let rule = filterSet.rejecting({ record.string($0) }) {
                filtered[rule, default: 0] += 1
                leftOut("\(CleaningStep.Name.filtered.rawValue): \(rule)")
                return
            }
        }
        let customerID = Self.normalizedCustomerID(record.bytes(columnsAt.customer))
        guard !customerID.isEmpty else { drop(.missingCustomer); return }
        let customerRef = intern(customerID)
        // A cancellation invoice is netted whatever its status says; other rows are judged by their status.
        let isCancellationInvoice =
            columnsAt.invoice.map { Self.isCancellation(record.bytes($0)) } ?? false
        if !isCancellationInvoice,
            let cancelled = statusColumns.lazy.map({ record.trimmedString($0) }).first(
                where: TransactionCleaning.saysCancelled)
        {
            if cancelledValues.count < 10 && !cancelledValues.contains(cancelled) {
                cancelledValues.append(cancelled)
            }
            drop(.cancelledStatus)
            return
        }
        guard let seconds = TimestampParser.parse(record.bytes(columnsAt.time)) else {
            drop(.unparseable)
            note(
                RowProblem(
                    source: source, line: record.line,
                    reason: "unreadable timestamp \(record.string(columnsAt.time).quotedForMessage)"
                ))
            return
        }
        let quantity: Double, amount: Double
        if let amountAt = columnsAt.amount {
            guard let value = record.double(amountAt) else {
                return reject(
                    record, source,
                    "amount \(record.string(amountAt).quotedForMessage) is not a number")
            }
            quantity = columnsAt.quantity.flatMap { record.double($0) } ?? 1
            amount = value
        } else {
            guard let q = record.double(columnsAt.quantity!) else {
                return reject(
                    record, source,
                    "quantity \(record.string(columnsAt.quantity!).quotedForMessage) is not a number"
                )
            }
            guard let price = record.double(columnsAt.unitPrice!) else {
                return reject(
                    record, source,
                    "unit price \(record.string(columnsAt.unitPrice!).quotedForMessage) is not a number"
                )
            }
            quantity = q
            amount = q * price
            if price <= 0 || q <= 0 {
                if q < 0 && price > 0 {
                    return dropCancellationOrNonPositive(
                        record, columnsAt, customer: customerRef, amount: amount)
                }
                return dropCancellationOrNonPositive(
                    record, columnsAt, customer: customerRef, amount: 0)
            }
        }
        if let invoiceAt = columnsAt.invoice, Self.isCancellation(record.bytes(invoiceAt)) {
            return dropCancellationOrNonPositive(
                record, columnsAt, customer: customerRef, amount: amount)
        }
        guard amount > 0, quantity > 0 else { drop(.nonPositive); return }
        let line = RowFingerprint(record)
        guard seenRows.insert(line).inserted else { drop(.duplicate); return }
        if keepsLineIdentities {
            if table.lineIDs == nil { (table.lineIDs, table.rowLines) = ([], []) }
            table.lineIDs!.append(line)
            table.rowLines!.append(currentLine)
        }
        append(
            record, columnsAt, customer: customerRef, seconds: seconds, quantity: quantity,
            amount: amount)
    }

    /// Rows are checked for cancellation before value, as pandas notebooks do. A cancellation
    /// line's |amount| is netted against its customer's purchases, once per distinct line.
    private mutating func dropCancellationOrNonPositive(
        _ record: CSVRecord, _ at: ResolvedTransactionColumns, customer: Int32, amount: Double
    ) {
        guard let invoiceAt = at.invoice, Self.isCancellation(record.bytes(invoiceAt)) else {
            return drop(.nonPositive)
        }
        drop(.cancellation)
        // Only a line that gives money back (negative quantity or amount) is netted, as the pandas rule.
        let line = RowFingerprint(record)
        let nets = cleaning.netCancellations && amount < 0 && amount.isFinite
        guard nets, seenRows.insert(line).inserted else {
            leftOut(
                nets
                    ? "cancellation seen before in this batch"
                    : "cancellation not netted (gives no money back, or netting is off)")
            return
        }
        cancelledSpend[customer, default: 0] -= amount
        if keepsLineIdentities {
            table.cancellationLines.append(
                CancellationLine(
                    customerID: allCustomerIDs[Int(customer)], refund: -amount, lineID: line,
                    line: currentLine))
        }
    }

    /// Status columns that decide whether a row is a cancelled order (none when they are kept).
    private static func statusColumns(
        _ header: [String], _ found: ResolvedTransactionColumns, _ cleaning: TransactionCleaning
    ) -> [Int] {
        guard !cleaning.keepCancelled else { return [] }
        let roles = Set(found.positions)
        return header.indices.filter {
            !roles.contains($0) && TransactionCleaning.isStatusColumn(header[$0])
        }
    }

    private mutating func reject(_ record: CSVRecord, _ source: String, _ reason: String) {
        drop(.unparseable)
        note(RowProblem(source: source, line: record.line, reason: reason))
    }

    private func check(_ record: CSVRecord, _ at: ResolvedTransactionColumns) -> String? {
        record.count == at.width ? nil : "expected \(at.width) fields, found \(record.count)"
    }

    private mutating func append(
        _ record: CSVRecord, _ at: ResolvedTransactionColumns, customer: Int32, seconds: Int64,
        quantity: Double, amount: Double
    ) {
        table.customer.append(customer)
        table.seconds.append(seconds)
        table.quantity.append(quantity)
        table.amount.append(amount)
        if let invoiceAt = at.invoice {
            let id = record.trimmedString(invoiceAt)
            if table.invoice == nil { table.invoice = [] }
            let before = invoiceIndex.count
            table.invoice!.append(Self.intern(id, in: &invoiceIndex))
            if invoiceIndex.count > before { table.invoices.append(id) }
        }
        if let countryAt = at.country {
            let name = record.trimmedString(countryAt)
            let before = countryIndex.count
            let ref = Self.intern(name, in: &countryIndex)
            if countryIndex.count > before { table.countries.append(name) }
            if table.country == nil { table.country = [] }
            table.country!.append(ref)
        }
        if let productAt = at.product {
            if table.product == nil { table.product = [] }
            let code = record.trimmedString(productAt)
            let before = productIndex.count
            let ref = Self.intern(code, in: &productIndex)
            if productIndex.count > before {
                table.products.append(code)
                table.productNames.append("")
            }
            if let nameAt = at.productName, table.productNames[Int(ref)].isEmpty {
                table.productNames[Int(ref)] = record.trimmedString(nameAt)
            }
            table.product!.append(ref)
        }
    }

    private mutating func intern(_ customerID: String) -> Int32 {
        if let ref = customerIndex[customerID] { return ref }
        let ref = Int32(allCustomerIDs.count)
        customerIndex[customerID] = ref
        allCustomerIDs.append(customerID)
        return ref
    }

    private static func intern(_ key: String, in index: inout [String: Int32]) -> Int32 {
        if let ref = index[key] { return ref }
        let ref = Int32(index.count)
        index[key] = ref
        return ref
    }

    private mutating func drop(_ step: CleaningStep.Name) {
        removed[step, default: 0] += 1
        // A cancellation is left out only when not netted (said where that is decided).
        if step != .cancellation { leftOut(step.rawValue) }
    }

    /// Notes the current row as left out (live batches only: their callers are told per row).
    private mutating func leftOut(_ reason: String) {
        if keepsLineIdentities {
            table.droppedRows.append(DroppedRow(line: currentLine, reason: reason))
        }
    }

    private mutating func note(_ problem: RowProblem) {
        if report.problems.count < DataReport.maximumProblemsKept {
            report.problems.append(problem)
        }
    }

    static func isCancellation(_ invoice: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = invoice.first(where: { $0 != UInt8(ascii: " ") }) else { return false }
        return first == UInt8(ascii: "C") || first == UInt8(ascii: "c")
    }

    /// A customer id as the loader reads it (for clients that group rows by customer).
    public static func normalizedCustomerID(_ text: String) -> String {
        var text = text
        return text.withUTF8 { normalizedCustomerID($0) }
    }

    /// Trims spaces and turns a float-printed id such as `17850.0` into `17850`.
    static func normalizedCustomerID(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var start = 0, end = bytes.count
        while start < end, bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start, bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        if let point = bytes[start..<end].lastIndex(of: UInt8(ascii: ".")), point > start,
            bytes[start..<point].allSatisfy({ $0 >= 48 && $0 <= 57 }),
            bytes[(point + 1)..<end].allSatisfy({ $0 == 48 })
        {
            end = point
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// The cleaned table and the report of what was removed. Customers are renumbered so that
    /// only those with kept rows remain, in order of first appearance.
    /// With `requireRows` false an input that cleaning empties gives an empty table (scoring a
    /// batch of guest orders is no error); training needs rows.
    public func finish(
        requireRows: Bool = true
    ) throws -> (table: TransactionTable, report: DataReport) {
        // A training input must meet every filter value: a misspelt one would otherwise do nothing.
        if requireRows { try filterTally.check(filters) }
        var table = self.table
        var report = self.report
        report.customersIn = allCustomerIDs.count
        var remaining = report.rowsIn
        report.steps += RowFilterSet.steps(filters, removed: filtered, remaining: &remaining)
        if cleaning.netCancellations && !keepsLineIdentities {
            removeCustomersWithoutNetSpend(&table, &report)
        }
        for step in CleaningStep.standardSteps {
            let count =
                step == .noNetSpend
                ? (report.customersWithoutNetSpend == nil ? 0 : self.table.count - table.count)
                : removed[step] ?? 0
            remaining -= count
            var rule: String?
            if step == .cancelledStatus && !statusColumnNames.isEmpty {
                rule =
                    "cancelled status in \(statusColumnNames.joined(separator: ", ")): "
                    + (cancelledValues.isEmpty
                        ? "no cancelled value found" : cancelledValues.joined(separator: ", "))
            } else if step == .cancellation && cleaning.netCancellations && count > 0 {
                rule = "cancellation invoice lines (netted against the customer's purchases)"
            }
            report.steps.append(
                CleaningStep(name: step, removed: count, remaining: remaining, rule: rule))
        }
        report.rowsOut = table.count
        guard table.count > 0 || !requireRows else {
            throw InputError.noUsableRows(
                "no transactions left after cleaning \(report.rowsIn) rows"
                    + (report.problems.first.map {
                        "; first problem: \($0.source) line \($0.line): \($0.reason)"
                    } ?? ""))
        }
        var compact = [Int32](repeating: -1, count: allCustomerIDs.count)
        for i in 0..<table.count {
            let old = Int(table.customer[i])
            if compact[old] < 0 {
                compact[old] = Int32(table.customerIDs.count)
                table.customerIDs.append(allCustomerIDs[old])
            }
            table.customer[i] = compact[old]
        }
        if cleaning.netCancellations {
            var cancelled = [Double](repeating: 0, count: table.customerIDs.count)
            for (old, amount) in cancelledSpend where compact[Int(old)] >= 0 {
                cancelled[Int(compact[Int(old)])] = amount
            }
            table.cancelled = cancelled
        }
        report.customersOut = table.customerIDs.count
        let days = table.seconds.lazy.map(TimestampParser.day(of:))
        report.firstDate = days.min().map(TimestampParser.isoDate(day:))
        report.lastDate = days.max().map(TimestampParser.isoDate(day:))
        return (table, report)
    }
}

extension TransactionLoader {
    /// Leaves out the rows of customers whose cancellations cancel all they bought, counting
    /// them and the spend netted.
    fileprivate func removeCustomersWithoutNetSpend(
        _ table: inout TransactionTable, _ report: inout DataReport
    ) {
        var bought = [Double](repeating: 0, count: allCustomerIDs.count)
        for i in 0..<table.count { bought[Int(table.customer[i])] += table.amount[i] }
        var without = Set<Int32>()
        var netted = 0.0
        // In customer order: a dictionary's order differs between runs, and so would the
        // floating-point sum (the report would differ in its last digit for the same data).
        for (customer, amount) in cancelledSpend.sorted(by: { $0.key < $1.key })
        where bought[Int(customer)] > 0 {
            netted += min(amount, bought[Int(customer)])
            if bought[Int(customer)] - amount <= 0 { without.insert(customer) }
        }
        report.cancelledAmount = netted
        report.customersWithoutNetSpend = without.count
        guard !without.isEmpty else { return }
        let keep = (0..<table.count).filter { !without.contains(table.customer[$0]) }
        table.customer = keep.map { table.customer[$0] }
        table.seconds = keep.map { table.seconds[$0] }
        table.quantity = keep.map { table.quantity[$0] }
        table.amount = keep.map { table.amount[$0] }
        table.invoice = table.invoice.map { invoice in keep.map { invoice[$0] } }
        table.country = table.country.map { country in keep.map { country[$0] } }
        table.product = table.product.map { product in keep.map { product[$0] } }
    }
}

/// A 128-bit fingerprint of a whole row (two independent 64-bit hashes over all its bytes and
/// field boundaries), so exact duplicates are found without keeping every row's text. Stable
/// across runs and machines: live ingest keeps it as the line's identity (a line sent twice is
/// applied once, as cleaning drops an exact duplicate).
public struct RowFingerprint: Hashable, Sendable, Codable {
    public let a: UInt64
    public let b: UInt64

    public init(a: UInt64, b: UInt64) {
        self.a = a
        self.b = b
    }

    init(_ record: CSVRecord) {
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325
        var h2: UInt64 = 0x9E37_79B9_7F4A_7C15
        for field in 0..<record.count {
            for byte in record.bytes(field) {
                h1 = (h1 ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                h2 = (h2 &+ UInt64(byte) &+ 1) &* 0xFF51_AFD7_ED55_8CCD
                h2 ^= h2 >> 29
            }
            h1 = (h1 ^ 0x1F) &* 0x0000_0100_0000_01B3  // field separator
            h2 = (h2 &+ 0x100) &* 0xC4CE_B9FE_1A85_EC53
        }
        a = h1
        b = h2
    }
}
