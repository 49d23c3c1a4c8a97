/// The customers of one live model, each with the running aggregates of their transactions
/// (`CustomerState`), fed batch by batch with tables the model's own cleaning produced
/// (`TransactionLoader` with `keepsLineIdentities`). Batches may come late, out of order or twice:
/// a line is applied once, by its row fingerprint, and the features of every customer equal those
/// of one batch computation over all the lines seen.
public struct LiveCustomerStore: Sendable {
    public private(set) var customers: [String: CustomerState] = [:]
    /// Which columns the batches have: fixed by the first, and every later one must match (the
    /// features would otherwise mean different things for different customers).
    public private(set) var schema: Schema?

    public struct Schema: Sendable, Equatable, Codable {
        public var hasInvoices: Bool
        public var hasProducts: Bool
        public var hasQuantity: Bool

        public init(hasInvoices: Bool, hasProducts: Bool, hasQuantity: Bool) {
            self.hasInvoices = hasInvoices
            self.hasProducts = hasProducts
            self.hasQuantity = hasQuantity
        }
    }

    /// What one batch changed.
    public struct Applied: Sendable, Equatable {
        public var purchases = 0
        public var cancellations = 0
        /// Lines applied before (a retried batch), left as they were.
        public var repeated = 0
        /// Lines refused because their customer already holds `maximumLines` lines.
        public var overLimit = 0
        /// Those lines' lines in the batch's input (when the table kept them).
        public var overLimitLines: [Int] = []
        /// The customers whose state changed.
        public var customers: Set<String> = []
    }

    public init() {}

    /// A part of a store (the customers a batch names, read from a database).
    public init(schema: Schema?, customers: [String: CustomerState]) {
        self.schema = schema
        self.customers = customers
    }

    public var count: Int { customers.count }

    /// Drops a customer the caller refuses to keep (a new one past its store's limit).
    public mutating func forget(_ customerID: String) {
        customers[customerID] = nil
    }

    /// Applies a cleaned batch. Throws when its columns differ from the store's. A customer's
    /// state holds at most `maximumLines` lines (its event ids): later lines are refused and
    /// counted, so one customer's state cannot grow without bound.
    @discardableResult
    public mutating func apply(
        _ table: TransactionTable, maximumLines: Int = .max
    ) throws -> Applied {
        guard let lineIDs = table.lineIDs ?? (table.count == 0 ? [] : nil) else {
            preconditionFailure("load live batches with TransactionLoader.keepsLineIdentities")
        }
        try checkSchema(of: table)
        var applied = Applied()
        for row in 0..<table.count {
            let id = table.customerIDs[Int(table.customer[row])]
            if customers[id]?.isFull(maximumLines, adding: lineIDs[row]) == true {
                applied.overLimit += 1
                if let lines = table.rowLines { applied.overLimitLines.append(lines[row]) }
                continue
            }
            let added = customers[id, default: CustomerState()].addPurchase(
                lineIDs[row], day: TimestampParser.day(of: table.seconds[row]),
                amount: table.amount[row], quantity: table.quantity[row],
                invoice: table.invoice.map { table.invoices[Int($0[row])] },
                product: table.product.map { table.products[Int($0[row])] })
            if added {
                applied.purchases += 1
                applied.customers.insert(id)
            } else {
                applied.repeated += 1
            }
        }
        for line in table.cancellationLines {
            if customers[line.customerID]?.isFull(maximumLines, adding: line.lineID) == true {
                applied.overLimit += 1
                applied.overLimitLines.append(line.line)
                continue
            }
            if customers[line.customerID, default: CustomerState()].addCancellation(
                line.lineID, refund: line.refund)
            {
                applied.cancellations += 1
                applied.customers.insert(line.customerID)
            } else {
                applied.repeated += 1
            }
        }
        return applied
    }

    /// The first batch with purchases fixes the columns; a later one must have the same.
    private mutating func checkSchema(of table: TransactionTable) throws {
        try checkColumns(of: table)
        if schema == nil, table.count > 0 { schema = Schema(of: table) }
    }

    /// Throws when the batch's columns differ from the store's (a batch may be checked before
    /// the store is read for writing).
    public func checkColumns(of table: TransactionTable) throws {
        guard table.count > 0, let schema else { return }
        let found = Schema(of: table)
        guard found == schema else {
            throw InputError.headerMismatch(
                source: "a live batch", expected: schema.columnNames, found: found.columnNames)
        }
    }

    /// The feature names a table of this store's batches has, as `RFMFeatureBuilder` names them.
    public var featureNames: [String] {
        TransactionFeature.allCases.filter { schema?.has($0) ?? true }.map(\.rawValue)
    }

    /// One customer's features as of `snapshotDay` (named by `featureNames`); nil when the
    /// store has no purchase of theirs or they have no net spend.
    public func features(of customerID: String, snapshotDay: Int) -> [Double]? {
        guard let state = customers[customerID] else { return nil }
        return features(of: state, snapshotDay: snapshotDay)
    }

    /// A state's features as of `snapshotDay` under this store's schema (named by `featureNames`).
    public func features(of state: CustomerState, snapshotDay: Int) -> [Double]? {
        guard
            let all = state.features(
                snapshotDay: snapshotDay, countsInvoices: schema?.hasInvoices ?? false)
        else { return nil }
        guard let schema else { return all }
        return schema.featureIndices.map { all[$0] }
    }

    /// Every customer with features as of `snapshotDay`, in customer-id order.
    public func features(snapshotDay: Int) -> CustomerFeatures {
        var ids: [String] = []
        var values: [Double] = []
        for id in customers.keys.sorted() {
            guard let row = features(of: id, snapshotDay: snapshotDay) else { continue }
            ids.append(id)
            values += row
        }
        let names = featureNames
        return CustomerFeatures(
            customerIDs: ids, names: names,
            values: Matrix(rows: ids.count, columns: names.count, values: values))
    }
}

extension LiveCustomerStore.Schema {
    /// The columns a cleaned batch has (nil fields of a table without rows mean nothing).
    public init(of table: TransactionTable) {
        self.init(
            hasInvoices: table.invoice != nil, hasProducts: table.product != nil,
            hasQuantity: table.hasQuantity)
    }

    /// Whether the feature can be computed from batches with these columns (as in batch).
    func has(_ feature: TransactionFeature) -> Bool {
        switch feature {
        case .distinctProducts: hasProducts
        case .modeQuantity: hasQuantity
        default: true
        }
    }

    /// The positions in `TransactionFeature.allCases` of the features this schema has.
    var featureIndices: [Int] {
        TransactionFeature.allCases.indices.filter { has(TransactionFeature.allCases[$0]) }
    }

    var columnNames: [String] {
        [
            hasInvoices ? "invoice" : nil, hasProducts ? "product" : nil,
            hasQuantity ? "quantity" : nil,
        ]
        .compactMap { $0 }
    }
}
