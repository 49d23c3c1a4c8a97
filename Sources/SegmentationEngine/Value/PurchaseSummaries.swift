import Foundation

/// Each customer's distinct purchase days and what they spent on each, built once from a
/// transactions table (customers indexed like `table.customerIDs`): the buy-till-you-die models'
/// summaries at any snapshot, and the calibration/holdout split, are read from it. Cancelled
/// spend the cleaning netted is taken out here too (each day's spend scaled by the customer's
/// net share), so cancelled orders never count as value.
public struct PurchaseHistories: Sendable {
    /// Customer c's days are `days[start[c]..<start[c + 1]]`, ascending, with their spend.
    private var start: [Int]
    private var days: [Int]
    private var spend: [Double]

    public var customers: Int { start.count - 1 }
    /// The earliest and latest purchase day of all customers (nil without a purchase).
    public private(set) var span: ClosedRange<Int>?

    public init(_ table: TransactionTable) {
        let customers = table.customerIDs.count
        let grouped = RFMFeatureBuilder.rowsGroupedByCustomer(table.customer, customers: customers)
        start = [0]
        start.reserveCapacity(customers + 1)
        (days, spend) = ([], [])
        var lines: [(day: Int, spend: Double)] = []
        for c in 0..<customers {
            lines.removeAll(keepingCapacity: true)
            for r in grouped.rows[grouped.start[c]..<grouped.start[c + 1]] {
                lines.append((TimestampParser.day(of: table.seconds[r]), table.amount[r]))
            }
            lines.sort { $0.day < $1.day }
            let first = days.count
            for (day, amount) in lines {
                if days.count > first && days[days.count - 1] == day {
                    spend[spend.count - 1] += amount
                } else {
                    days.append(day)
                    spend.append(amount)
                }
            }
            let gross = spend[first...].reduce(0, +)
            let cancelled = table.cancelled?[c] ?? 0
            let netShare = gross > 0 ? max(0, gross - cancelled) / gross : 0
            for i in first..<spend.count { spend[i] *= netShare }
            start.append(days.count)
        }
        if let low = days.min(), let high = days.max() { span = low...high }
    }

    /// Every customer's summary with `age` measured to `snapshotDay` (`lifetimes`' conventions
    /// at daily periods: `frequency` = purchase days - 1, `recency` = last purchase day - first,
    /// `monetary` = the mean spend of the purchase days after the first).
    public func summaries(snapshotDay: Int) -> [PurchaseSummary] {
        (0..<customers).map { summary(of: $0, through: Int.max, snapshotDay: snapshotDay) }
    }

    /// Customer c's summary counting only the purchase days up to `lastDay`.
    func summary(of c: Int, through lastDay: Int, snapshotDay: Int) -> PurchaseSummary {
        let range = start[c]..<start[c + 1]
        let end = days[range].firstIndex { $0 > lastDay } ?? range.upperBound
        guard end > range.lowerBound else {
            return PurchaseSummary(frequency: 0, recency: 0, age: 0)
        }
        let first = days[range.lowerBound], last = days[end - 1]
        let repeats = end - range.lowerBound - 1
        let repeatSpend = spend[(range.lowerBound + 1)..<end].reduce(0, +)
        return PurchaseSummary(
            frequency: repeats, recency: Double(last - first),
            age: Double(max(snapshotDay - first, last - first)),
            monetary: repeats > 0 ? repeatSpend / Double(repeats) : 0)
    }

    /// The customers who bought by `cutoffDay`: their summaries at the end of that day (as
    /// `lifetimes`' `calibration_and_holdout_data`, whose T is measured to the calibration end)
    /// and how many days they bought on after it, up to `endDay`.
    public func calibrationAndHoldout(
        cutoffDay: Int, endDay: Int
    ) -> (summaries: [PurchaseSummary], holdoutPurchases: [Int]) {
        var summaries: [PurchaseSummary] = [], holdout: [Int] = []
        for c in 0..<customers where start[c + 1] > start[c] && days[start[c]] <= cutoffDay {
            summaries.append(summary(of: c, through: cutoffDay, snapshotDay: cutoffDay))
            holdout.append(
                days[start[c]..<start[c + 1]].count { $0 > cutoffDay && $0 <= endDay })
        }
        return (summaries, holdout)
    }
}

extension PurchaseSummary {
    /// Each customer's purchase summary in days (indexed like `table.customerIDs`) at
    /// `snapshotDay`; see `PurchaseHistories`.
    public static func summaries(
        of table: TransactionTable, snapshotDay: Int
    ) -> [PurchaseSummary] {
        PurchaseHistories(table).summaries(snapshotDay: snapshotDay)
    }
}
