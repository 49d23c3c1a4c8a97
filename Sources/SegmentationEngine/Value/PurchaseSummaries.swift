import Foundation

extension PurchaseSummary {
    /// Each customer's purchase summary in days (indexed like `table.customerIDs`), with
    /// `lifetimes`' conventions at daily periods: a purchase is a day with one or more kept
    /// order lines; `frequency` = purchase days - 1, `recency` = last purchase day - first,
    /// `age` = `snapshotDay` - first purchase day, `monetary` = the mean spend of the purchase
    /// days after the first. Cancelled spend the cleaning netted is taken out here too (each
    /// day's spend scaled by the customer's net share), so cancelled orders never count as value.
    public static func summaries(
        of table: TransactionTable, snapshotDay: Int
    ) -> [PurchaseSummary] {
        let customers = table.customerIDs.count
        let grouped = RFMFeatureBuilder.rowsGroupedByCustomer(table.customer, customers: customers)
        var days: [(day: Int, spend: Double)] = []
        return (0..<customers).map { c in
            days.removeAll(keepingCapacity: true)
            for r in grouped.rows[grouped.start[c]..<grouped.start[c + 1]] {
                days.append((TimestampParser.day(of: table.seconds[r]), table.amount[r]))
            }
            return summary(
                days: &days, cancelled: table.cancelled?[c] ?? 0, snapshotDay: snapshotDay)
        }
    }

    /// One customer's summary from their order lines' (day, spend).
    static func summary(
        days: inout [(day: Int, spend: Double)], cancelled: Double, snapshotDay: Int
    ) -> PurchaseSummary {
        guard !days.isEmpty else { return PurchaseSummary(frequency: 0, recency: 0, age: 0) }
        days.sort { $0.day < $1.day }
        var totals: [Double] = []
        var previous = Int.min
        for (day, spend) in days {
            if day == previous { totals[totals.count - 1] += spend } else { totals.append(spend) }
            previous = day
        }
        let gross = totals.reduce(0, +)
        let netShare = gross > 0 ? max(0, gross - cancelled) / gross : 0
        let repeats = totals.dropFirst()
        let first = days.first!.day, last = days.last!.day
        return PurchaseSummary(
            frequency: repeats.count, recency: Double(last - first),
            age: Double(max(snapshotDay - first, last - first)),
            monetary: repeats.isEmpty ? 0 : repeats.reduce(0, +) / Double(repeats.count) * netShare)
    }
}
