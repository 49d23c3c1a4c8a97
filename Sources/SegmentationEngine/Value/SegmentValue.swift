import Foundation

/// What a segment is worth by the customer-value model: its customers' figures summed or
/// averaged, so a segment's name and actions can rest on them.
public struct SegmentValue: Sendable, Equatable, Codable {
    public var customers: Int
    /// The horizons of the figures below, in days after the snapshot.
    public var purchaseHorizonDays: Int
    public var valueHorizonDays: Int
    /// Mean probability that its customers still buy.
    public var meanProbabilityAlive: Double
    /// Share of its customers whose P(alive) is below `SegmentValue.aliveThreshold`.
    public var shareLikelyLapsed: Double
    /// Expected repeat purchases over the purchase horizon, all its customers together.
    public var expectedPurchases: Double
    /// Expected revenue over the purchase horizon (purchases x spend per purchase); nil without
    /// a spend model.
    public var expectedRevenue: Double?
    /// Lifetime value over the value horizon, all its customers together; nil without a spend model.
    public var lifetimeValue: Double?
    /// The lifetime value of its customers whose P(alive) is below the threshold: what is at
    /// stake if they are not won back.
    public var valueAtRisk: Double?
    /// The model's probability that a customer drops out after a purchase (nil in figures made
    /// without it): under `CustomerValueModel.negligibleDropout`, P(alive) says little.
    public var dropoutProbability: Double?
    /// Its customers by P(alive) in tenths: [0, 0.1), [0.1, 0.2), ... [0.9, 1].
    public var aliveHistogram: [Int]?

    /// P(alive) under which a customer counts as likely lapsed (and their value at risk).
    public static let aliveThreshold = 0.5

    /// One entry per segment `0..<segments`, from each customer's figures (at `settings`'
    /// horizons) and segment.
    public static func bySegment(
        _ figures: [CustomerValueFigures], labels: [Int], segments: Int,
        settings: ValueSettings = .init()
    ) -> [SegmentValue] {
        precondition(figures.count == labels.count, "one segment per customer")
        var values = [SegmentValue](
            repeating: SegmentValue(
                customers: 0, purchaseHorizonDays: settings.purchaseHorizonDays,
                valueHorizonDays: settings.valueHorizonDays, meanProbabilityAlive: 0,
                shareLikelyLapsed: 0, expectedPurchases: 0,
                aliveHistogram: [Int](repeating: 0, count: 10)),
            count: segments)
        let money = figures.allSatisfy { $0.expectedSpend != nil && $0.lifetimeValue != nil }
        for (figure, label) in zip(figures, labels) {
            var value = values[label]
            let lapsed = figure.probabilityAlive < aliveThreshold
            value.customers += 1
            value.aliveHistogram![min(9, max(0, Int(figure.probabilityAlive * 10)))] += 1
            value.meanProbabilityAlive += figure.probabilityAlive
            value.shareLikelyLapsed += lapsed ? 1 : 0
            value.expectedPurchases += figure.expectedPurchases
            if money, let spend = figure.expectedSpend, let lifetime = figure.lifetimeValue {
                value.expectedRevenue =
                    (value.expectedRevenue ?? 0) + figure.expectedPurchases * spend
                value.lifetimeValue = (value.lifetimeValue ?? 0) + lifetime
                value.valueAtRisk = (value.valueAtRisk ?? 0) + (lapsed ? lifetime : 0)
            }
            values[label] = value
        }
        return values.map { value in
            var value = value
            let n = Double(max(value.customers, 1))
            value.meanProbabilityAlive /= n
            value.shareLikelyLapsed /= n
            return value
        }
    }
}
