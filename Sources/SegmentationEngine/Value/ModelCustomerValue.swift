import Foundation

/// What a transactions model knows of its customers' value: the fitted customer-value model (or
/// why there is none), the horizons its segment figures use, and how well it predicted a
/// holdout period. Customer-table models have none (no purchase history).
public struct ModelCustomerValue: Codable, Sendable, Equatable {
    /// nil: see `unavailable`.
    public var model: CustomerValueModel?
    /// Why no figures can be given (too few repeat buyers, a fit that did not converge).
    public var unavailable: String?
    /// The horizons of the segments' figures.
    public var settings: ValueSettings
    /// Predicted against actual repeat purchases in a holdout period; nil when the data spans
    /// too little time (see `calibrationNote`).
    public var calibration: CalibrationCheck?
    public var calibrationNote: String?

    /// Fits the model on every customer's summary at the snapshot, and checks it on a holdout
    /// period. Never throws: what cannot be fitted is said in `unavailable`.
    public static func fit(
        _ histories: PurchaseHistories, snapshotDay: Int, settings: ValueSettings = .init()
    ) -> (value: ModelCustomerValue, summaries: [PurchaseSummary]) {
        let summaries = histories.summaries(snapshotDay: snapshotDay)
        var value = ModelCustomerValue(settings: settings)
        do {
            value.model = try CustomerValueModel.fit(summaries)
        } catch {
            value.unavailable = String(describing: error)
        }
        (value.calibration, value.calibrationNote) = CalibrationCheck.measure(histories)
        return (value, summaries)
    }

    /// Every customer's figures at the settings (nil without a model).
    public func figures(
        _ summaries: [PurchaseSummary], settings: ValueSettings? = nil
    )
        -> [CustomerValueFigures]?
    {
        guard let model else { return nil }
        let settings = settings ?? self.settings
        return model.figures(summaries, settings: settings)
    }
}

/// The papers' check of a purchase model: fit on a calibration period, then compare the repeat
/// purchases it predicts for the holdout period after it with those made, grouped by the
/// number of repeat purchases in calibration (0, 1, ... and "N or more").
public struct CalibrationCheck: Codable, Sendable, Equatable {
    public struct Group: Codable, Sendable, Equatable {
        /// Repeat purchases in the calibration period (the last group: this many or more).
        public var calibrationPurchases: Int
        public var customers: Int
        public var meanActual: Double
        public var meanPredicted: Double
    }

    public var calibrationEndDate: String
    public var holdoutEndDate: String
    public var holdoutDays: Int
    public var groups: [Group]
    /// All holdout purchases of the calibration customers, made and predicted.
    public var totalActual: Double
    public var totalPredicted: Double

    /// The data must span at least this many days for a holdout of a third of it.
    public static let minimumSpanDays = 180
    /// Groups 0...openGroup, the last holding every customer with openGroup or more.
    public static let openGroup = 7

    static func measure(_ histories: PurchaseHistories) -> (CalibrationCheck?, String?) {
        guard let span = histories.span, span.count - 1 >= minimumSpanDays else {
            return (
                nil,
                "no holdout check: the purchases span \(histories.span.map { $0.count - 1 } ?? 0) days, "
                    + "fewer than the \(minimumSpanDays) a holdout of a third of them needs"
            )
        }
        let holdoutDays = (span.count - 1) / 3
        let cutoff = span.upperBound - holdoutDays
        let (summaries, actual) = histories.calibrationAndHoldout(
            cutoffDay: cutoff, endDay: span.upperBound)
        // The purchase model only: the check compares purchases, so no spend fit.
        let purchases: BetaGeometricNBD
        do {
            purchases = try CustomerValueModel.fitPurchases(summaries).0
        } catch {
            return (nil, "no holdout check: on the calibration period, \(error)")
        }
        var groups = (0...openGroup).map {
            Group(calibrationPurchases: $0, customers: 0, meanActual: 0, meanPredicted: 0)
        }
        var totalPredicted = 0.0
        for (summary, made) in zip(summaries, actual) {
            let predicted = purchases.expectedPurchases(
                summary, horizon: Double(holdoutDays))
            let g = min(summary.frequency, openGroup)
            groups[g].customers += 1
            groups[g].meanActual += Double(made)
            groups[g].meanPredicted += predicted
            totalPredicted += predicted
        }
        let check = CalibrationCheck(
            calibrationEndDate: TimestampParser.isoDate(day: cutoff),
            holdoutEndDate: TimestampParser.isoDate(day: span.upperBound),
            holdoutDays: holdoutDays,
            groups: groups.filter { $0.customers > 0 }.map { group in
                var group = group
                group.meanActual /= Double(group.customers)
                group.meanPredicted /= Double(group.customers)
                return group
            },
            totalActual: Double(actual.reduce(0, +)), totalPredicted: totalPredicted)
        return (check, nil)
    }
}
