import Foundation

/// The horizons customer-value figures are given for: expected purchases over
/// `purchaseHorizonDays` after the snapshot, lifetime value over `valueHorizonDays`, discounted
/// to the snapshot at `annualDiscountRate`. A model's segment figures use the defaults; a
/// scoring request may ask for others.
public struct ValueSettings: Codable, Sendable, Equatable {
    public var purchaseHorizonDays: Int
    public var valueHorizonDays: Int
    public var annualDiscountRate: Double

    public static let defaultPurchaseHorizonDays = 90
    public static let defaultValueHorizonDays = 365
    /// Horizons a request may ask for: one day to ten years.
    public static let horizonDays = 1...3650
    /// Annual discount rates a request may ask for (0.1: 10% a year).
    public static let discountRates = 0.0...1.0

    public init(
        purchaseHorizonDays: Int = defaultPurchaseHorizonDays,
        valueHorizonDays: Int = defaultValueHorizonDays, annualDiscountRate: Double = 0
    ) {
        self.purchaseHorizonDays = purchaseHorizonDays
        self.valueHorizonDays = valueHorizonDays
        self.annualDiscountRate = annualDiscountRate
    }

    /// Refuses a horizon or rate outside the bounds, naming the field.
    public func validate() throws {
        for (field, days) in [
            ("purchase horizon", purchaseHorizonDays), ("value horizon", valueHorizonDays),
        ] where !Self.horizonDays.contains(days) {
            throw InputError.invalidOption(
                "the \(field) is \(days) days; it must be \(Self.horizonDays.lowerBound) to \(Self.horizonDays.upperBound) days"
            )
        }
        guard annualDiscountRate.isFinite, Self.discountRates.contains(annualDiscountRate) else {
            throw InputError.invalidOption(
                "the annual discount rate is \(annualDiscountRate); it must be 0 to 1 (0.1 is 10% a year)"
            )
        }
    }
}
