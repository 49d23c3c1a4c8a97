import ArgumentParser
import SegmentationEngine

/// The horizons of customer-value figures in scores (`score`), checked before anything is sent.
struct ValueOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("purchase-horizon-days"),
        help: "Days after the snapshot expected purchases are counted over (1 to 3650; default 90)."
    )
    var purchaseHorizonDays = ValueSettings.defaultPurchaseHorizonDays

    @Option(
        name: .customLong("value-horizon-days"),
        help: "Days after the snapshot lifetime value is counted over (1 to 3650; default 365).")
    var valueHorizonDays = ValueSettings.defaultValueHorizonDays

    @Option(
        name: .customLong("discount-rate"),
        help: "Annual rate lifetime value is discounted at, 0 to 1 (0.1 is 10% a year; default 0).")
    var discountRate = 0.0

    var settings: ValueSettings {
        ValueSettings(
            purchaseHorizonDays: purchaseHorizonDays, valueHorizonDays: valueHorizonDays,
            annualDiscountRate: discountRate)
    }

    func validate() throws {
        let days = ValueSettings.horizonDays
        for (flag, value) in [
            ("--purchase-horizon-days", purchaseHorizonDays),
            ("--value-horizon-days", valueHorizonDays),
        ] where !days.contains(value) {
            throw ValidationError(
                "\(flag) must be between \(days.lowerBound) and \(days.upperBound)")
        }
        guard discountRate.isFinite, ValueSettings.discountRates.contains(discountRate) else {
            throw ValidationError("--discount-rate must be between 0 and 1 (0.1 is 10% a year)")
        }
    }
}
