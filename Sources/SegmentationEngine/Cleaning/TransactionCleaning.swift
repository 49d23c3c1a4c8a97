import Foundation

/// What cleaning does with orders that did not happen or were given back. Stored with the model
/// (in its configuration), so scoring cleans new rows as training did.
///
/// - A status column (a column no role reads whose name has the word "status" or "state":
///   `Order Status`, `payment_state`) whose value says cancelled, canceled, refunded, returned,
///   failed, voided, declined, reversed, rejected or charged back marks an order that brought no
///   revenue: such rows are left out (step "cancelled status", naming the column and values)
///   unless `keepCancelled`. A value that says "partial" is kept: part of the money stayed.
/// - Cancellation invoices (invoice starting with "C") are netted against the customer's
///   purchases: the customer's spend is what they bought less what they cancelled (each
///   distinct cancellation line's |quantity x price|, or |amount|), and a customer whose net spend
///   is 0 or less is left out (step "no net spend", counted in rows and customers). Recency and
///   frequency count purchases only. `netCancellations` false keeps the older rule: cancellation
///   lines are dropped and change nothing.
public struct TransactionCleaning: Codable, Sendable, Equatable {
    public var keepCancelled = false
    public var netCancellations = true

    public init(keepCancelled: Bool = false, netCancellations: Bool = true) {
        self.keepCancelled = keepCancelled
        self.netCancellations = netCancellations
    }

    /// What models from before this rule did: cancelled orders kept, cancellations dropped un-netted.
    public static let legacy = TransactionCleaning(keepCancelled: true, netCancellations: false)

    static let statusWords: Set<String> = ["status", "state"]
    /// Word beginnings that say an order ended without the money: "Cancelled", "Refunded", "Payment failed".
    static let cancelledStems = [
        "cancel", "refund", "return", "fail", "void", "declin", "revers", "reject", "chargeback",
    ]
    /// Words that say it did not (yet) happen, or only in part: "Not returned", "Refund pending".
    static let negations: Set<String> = [
        "not", "no", "non", "never", "partial", "partially", "pending", "requested", "request",
        "awaiting",
    ]

    /// `Order Status`, `PaymentStatus`, `order_state`: a column whose values say how an order ended.
    public static func isStatusColumn(_ name: String) -> Bool {
        SensitiveAttributes.words(name).contains { statusWords.contains($0) }
    }

    /// "Cancelled", "REFUNDED", "Payment failed", "Returned to sender", "Charged back"; not
    /// "Partially refunded", "Not returned", "Return requested", nor "Refund declined" (a refused
    /// refund leaves the order paid).
    public static func saysCancelled(_ value: String) -> Bool {
        let words = SensitiveAttributes.words(value)
        guard !words.isEmpty, !words.contains(where: negations.contains) else { return false }
        let starts = { (stems: [String]) in
            words.contains { word in stems.contains { word.hasPrefix($0) } }
        }
        if starts(["refund", "return"]) && starts(["declin", "reject", "denied", "deny"]) {
            return false
        }
        return starts(cancelledStems) || (words.contains("charged") && words.contains("back"))
    }
}
