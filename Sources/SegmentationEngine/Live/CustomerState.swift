/// What live segmentation keeps of one customer: every aggregate the transaction features need,
/// updated line by line, so that `features(snapshotDay:)` equals what `RFMFeatureBuilder`
/// computes from all of the customer's cleaned lines at once, whatever order and batches they
/// came in. A line already applied (the same row fingerprint) changes nothing.
public struct CustomerState: Sendable, Equatable {
    /// Days since 1970 of the first and last purchase (nil before any).
    public internal(set) var firstDay: Int?
    public internal(set) var lastDay: Int?
    /// What the purchases came to, and what cancellation lines gave back.
    public internal(set) var spend = 0.0
    public internal(set) var refunded = 0.0
    /// Distinct purchase invoices (frequency when the input has invoices).
    public internal(set) var invoices: Set<String> = []
    /// What was bought on each purchase day (not netted: cancellations are `refunded`). Its days
    /// are the distinct purchase days (frequency without invoices); with the spend they give the
    /// customer-value model's purchase summary. NaN: unknown (a state stored before it was kept).
    public internal(set) var daySpend: [Int: Double] = [:]
    public internal(set) var products: Set<String> = []
    /// How many lines had each quantity (the usual quantity is the most frequent).
    public internal(set) var quantityCounts: [Double: Int] = [:]
    /// Every line applied: purchases and netted cancellation lines.
    public internal(set) var lines: Set<RowFingerprint> = []

    public init() {}

    /// Spend less what was given back: a customer at 0 or below has no features (cleaning's
    /// "no net spend").
    public var netSpend: Double { spend - refunded }

    public var purchases: Int { quantityCounts.values.reduce(0, +) }

    /// Whether the customer has features: a purchase, and net spend unless nothing was refunded.
    public var hasFeatures: Bool { lastDay != nil && (netSpend > 0 || refunded == 0) }

    /// Whether `line` would be a new line past `maximumLines` (a line seen before is not: it
    /// changes nothing, and a retry must be told so).
    func isFull(_ maximumLines: Int, adding line: RowFingerprint) -> Bool {
        lines.count >= maximumLines && !lines.contains(line)
    }

    /// Adds a purchase line; false when it was applied before.
    @discardableResult
    mutating func addPurchase(
        _ line: RowFingerprint, day: Int, amount: Double, quantity: Double, invoice: String?,
        product: String?
    ) -> Bool {
        guard lines.insert(line).inserted else { return false }
        firstDay = min(firstDay ?? day, day)
        lastDay = max(lastDay ?? day, day)
        spend += amount
        if let invoice { invoices.insert(invoice) }
        daySpend[day, default: 0] += amount
        if let product { products.insert(product) }
        quantityCounts[quantity, default: 0] += 1
        return true
    }

    /// Adds a cancellation line's refund; false when it was applied before.
    @discardableResult
    mutating func addCancellation(_ line: RowFingerprint, refund: Double) -> Bool {
        guard lines.insert(line).inserted else { return false }
        refunded += refund
        return true
    }

    /// The transaction features in `TransactionFeature.allCases` order, as of `snapshotDay`;
    /// nil without a purchase or without net spend.
    public func features(snapshotDay: Int, countsInvoices: Bool) -> [Double]? {
        guard let firstDay, let lastDay, hasFeatures else { return nil }
        let frequency = countsInvoices ? invoices.count : daySpend.count
        // The most frequent quantity; ties go to the smallest, as in batch.
        let usual =
            quantityCounts.max {
                $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key)
            }?.key ?? 0
        return [
            Double(snapshotDay - lastDay), Double(frequency), netSpend,
            netSpend / Double(frequency), Double(snapshotDay - firstDay), Double(products.count),
            usual,
        ]
    }

    /// The purchase summary the customer-value model takes, as `PurchaseHistories` gives it
    /// from the same lines: repeat purchase days, days from the first purchase to the last and
    /// to `snapshotDay`, the mean spend of a repeat day, each day's spend scaled by the share
    /// refunds left of the total. nil without a purchase, or when the spend of a day is unknown.
    public func purchaseSummary(snapshotDay: Int) -> PurchaseSummary? {
        guard let firstDay, let lastDay, daySpend.values.allSatisfy(\.isFinite) else {
            return nil
        }
        let days = daySpend.keys.sorted()
        let repeats = days.count - 1
        let netShare = spend > 0 ? max(0, spend - refunded) / spend : 0
        let repeatSpend = days.dropFirst().reduce(0) { $0 + daySpend[$1]! * netShare }
        return PurchaseSummary(
            frequency: repeats, recency: Double(lastDay - firstDay),
            age: Double(max(snapshotDay - firstDay, lastDay - firstDay)),
            monetary: repeats > 0 ? repeatSpend / Double(repeats) : 0)
    }
}
