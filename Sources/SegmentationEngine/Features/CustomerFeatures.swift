/// Per-customer raw (unscaled) features, one row per customer.
public struct CustomerFeatures: Sendable {
    public var customerIDs: [String]
    public var names: [String]
    public var values: Matrix
    /// Most frequent country per customer, when the input has one.
    public var homeCountry: [String]?
    /// Sensitive attributes (column -> each customer's value), kept out of the features and
    /// used only to report each segment's composition.
    public var sensitiveAttributes: [String: [String]] = [:]

    public init(
        customerIDs: [String], names: [String], values: Matrix, homeCountry: [String]? = nil
    ) {
        precondition(values.rows == customerIDs.count && values.columns == names.count)
        self.customerIDs = customerIDs
        self.names = names
        self.values = values
        self.homeCountry = homeCountry
    }

    public var count: Int { customerIDs.count }

    public func column(named name: String) -> [Double]? {
        names.firstIndex(of: name).map { values.column($0) }
    }

    /// The named columns, in the given order, or an error naming the first unknown one.
    public func selecting(features wanted: [String]) throws -> Matrix {
        let indices = try wanted.map { name in
            guard let index = names.firstIndex(of: name) else {
                throw InputError.unknownFeature(name, available: names)
            }
            return index
        }
        var out = [Double]()
        out.reserveCapacity(count * indices.count)
        for row in 0..<count {
            for index in indices { out.append(values[row, index]) }
        }
        return Matrix(rows: count, columns: indices.count, values: out)
    }
}

/// The features computed from transactions.
public enum TransactionFeature: String, CaseIterable, Codable, Sendable {
    case recency, frequency, monetary
    case averageOrderValue = "avg_order_value"
    case tenure
    case distinctProducts = "distinct_products"
    case modeQuantity = "mode_quantity"

    /// The clustering default: the four classic RFM features.
    public static let defaultSelection: [TransactionFeature] = [
        .recency, .frequency, .monetary, .averageOrderValue,
    ]
}

/// Aggregates cleaned transactions into RFM and related features per customer.
public enum RFMFeatureBuilder {
    /// - Parameter snapshotDay: the day recency is measured to (days since 1970); by default the
    ///   day after the last transaction.
    public static func build(
        _ table: TransactionTable, snapshotDay: Int? = nil
    ) -> (features: CustomerFeatures, snapshotDay: Int) {
        let customers = table.customerIDs.count
        let rowDays = table.seconds.map(TimestampParser.day(of:))
        let snapshot = snapshotDay ?? ((rowDays.max() ?? 0) + 1)
        let order = rowsGroupedByCustomer(table.customer, customers: customers)
        let all = TransactionFeature.allCases.map(\.rawValue)
        var values = [Double](repeating: 0, count: customers * all.count)
        var homeCountry: [String]? = table.country == nil ? nil : []
        var scratch: [Int32] = []
        var quantities: [Double] = []
        for c in 0..<customers {
            let rows = order.rows[order.start[c]..<order.start[c + 1]]
            var first = Int.max, last = Int.min, monetary = 0.0
            for r in rows {
                first = min(first, rowDays[r]); last = max(last, rowDays[r])
                monetary += table.amount[r]
            }
            let frequency: Int
            if let invoice = table.invoice {
                frequency = distinctCount(rows.map { invoice[$0] }, scratch: &scratch)
            } else {
                frequency = distinctCount(rows.map { Int32(rowDays[$0]) }, scratch: &scratch)
            }
            let products =
                table.product.map { p in distinctCount(rows.map { p[$0] }, scratch: &scratch) } ?? 0
            quantities.removeAll(keepingCapacity: true)
            quantities.append(contentsOf: rows.map { table.quantity[$0] })
            // Net of what the customer cancelled (cleaning left out customers with nothing left).
            monetary -= table.cancelled?[c] ?? 0
            let base = c * all.count
            values[base + 0] = Double(snapshot - last)
            values[base + 1] = Double(frequency)
            values[base + 2] = monetary
            values[base + 3] = monetary / Double(frequency)
            values[base + 4] = Double(snapshot - first)
            values[base + 5] = Double(products)
            values[base + 6] = mode(of: &quantities)
            if let country = table.country {
                var counts: [Int32: Int] = [:]
                for r in rows { counts[country[r], default: 0] += 1 }
                let best = counts.max {
                    $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key)
                }!
                homeCountry!.append(table.countries[Int(best.key)])
            }
        }
        // Features the data cannot supply are not features at all: distinct products without a
        // product column, the usual quantity without a quantity column (every line would read 0 or 1).
        let missing: Set<String> = Set(
            [
                table.product == nil ? TransactionFeature.distinctProducts.rawValue : nil,
                table.hasQuantity ? nil : TransactionFeature.modeQuantity.rawValue,
            ].compactMap { $0 })
        let full = Matrix(rows: customers, columns: all.count, values: values)
        let kept = all.indices.filter { !missing.contains(all[$0]) }
        let features = CustomerFeatures(
            customerIDs: table.customerIDs, names: kept.map { all[$0] },
            values: kept.count == all.count ? full : full.selecting(columns: kept),
            homeCountry: homeCountry)
        return (features, snapshot)
    }

    /// Row indices grouped by customer (a counting sort, stable within a customer).
    static func rowsGroupedByCustomer(
        _ customer: [Int32], customers: Int
    ) -> (rows: [Int], start: [Int]) {
        var start = [Int](repeating: 0, count: customers + 1)
        for c in customer { start[Int(c) + 1] += 1 }
        for c in 0..<customers { start[c + 1] += start[c] }
        var next = start
        var rows = [Int](repeating: 0, count: customer.count)
        for (r, c) in customer.enumerated() {
            rows[next[Int(c)]] = r
            next[Int(c)] += 1
        }
        return (rows, start)
    }

    private static func distinctCount(_ keys: [Int32], scratch: inout [Int32]) -> Int {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: keys)
        scratch.sort()
        var count = 0
        for i in scratch.indices where i == 0 || scratch[i] != scratch[i - 1] { count += 1 }
        return count
    }

    /// Most frequent value; ties go to the smallest.
    static func mode(of values: inout [Double]) -> Double {
        values.sort()
        var best = values.first ?? 0, bestCount = 0
        var i = 0
        while i < values.count {
            var j = i
            while j < values.count && values[j] == values[i] { j += 1 }
            if j - i > bestCount { best = values[i]; bestCount = j - i }
            i = j
        }
        return best
    }
}
