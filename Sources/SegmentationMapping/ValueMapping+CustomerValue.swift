import Foundation
import SegmentationEngine
import SegmentationMessages

// Customer value and products as the API's messages, and a score request's value options read
// back: per customer (CustomerValue), per segment (SegmentValue, SegmentProducts) and per model
// (CustomerValueModel).

extension CustomerValueFigures {
    public func proto(_ settings: ValueSettings) -> Segmentation_V1_CustomerValue {
        .with {
            $0.pAlive = probabilityAlive
            $0.expectedPurchases = expectedPurchases
            $0.purchaseHorizonDays = Int32(settings.purchaseHorizonDays)
            if let expectedSpend, let lifetimeValue {
                $0.spend = .with {
                    $0.expectedSpend = expectedSpend; $0.lifetimeValue = lifetimeValue
                }
            }
            $0.valueHorizonDays = Int32(settings.valueHorizonDays)
            $0.annualDiscountRate = settings.annualDiscountRate
        }
    }
}

extension ProductStat {
    public var proto: Segmentation_V1_ProductStat {
        .with {
            $0.code = code; $0.name = name; $0.buyers = Int64(buyers); $0.share = share
            $0.populationShare = populationShare; $0.lift = lift
        }
    }
}

extension SegmentProducts {
    public var proto: Segmentation_V1_SegmentProducts {
        .with {
            $0.popular = popular.map(\.proto)
            $0.distinctive = distinctive.map(\.proto)
            $0.minimumBuyers = Int32(minimumBuyers)
        }
    }
}

extension SegmentValue {
    public var proto: Segmentation_V1_SegmentValue {
        .with {
            $0.customers = Int64(customers)
            $0.purchaseHorizonDays = Int32(purchaseHorizonDays)
            $0.valueHorizonDays = Int32(valueHorizonDays)
            $0.meanPAlive = meanProbabilityAlive
            $0.shareLikelyLapsed = shareLikelyLapsed
            $0.expectedPurchases = expectedPurchases
            if let expectedRevenue { $0.expectedRevenue = expectedRevenue }
            if let lifetimeValue { $0.lifetimeValue = lifetimeValue }
            if let valueAtRisk { $0.valueAtRisk = valueAtRisk }
            $0.pAliveHistogram = (aliveHistogram ?? []).map(Int64.init)
            $0.dropoutProbability = dropoutProbability ?? 0
        }
    }
}

extension LikelihoodFit {
    var proto: Segmentation_V1_LikelihoodFit {
        .with {
            $0.meanLogLikelihood = meanLogLikelihood; $0.iterations = Int32(iterations)
            $0.converged = converged; $0.customers = Int64(customers)
        }
    }
}

extension ValueSettings {
    public var proto: Segmentation_V1_ValueOptions {
        .with {
            $0.purchaseHorizonDays = Int32(purchaseHorizonDays)
            $0.valueHorizonDays = Int32(valueHorizonDays)
            $0.annualDiscountRate = annualDiscountRate
        }
    }

    /// A request's options: 0 means the default; anything out of bounds is refused naming the
    /// field under `prefix`.
    public init(_ message: Segmentation_V1_ValueOptions, field prefix: String) throws {
        self.init()
        let days = Self.horizonDays
        for (name, value) in [
            ("purchase_horizon_days", message.purchaseHorizonDays),
            ("value_horizon_days", message.valueHorizonDays),
        ] where value != 0 && !days.contains(Int(value)) {
            throw InvalidField(
                "\(prefix).\(name)",
                "\(prefix).\(name) is \(value); give \(days.lowerBound) to \(days.upperBound) days (0: the default)"
            )
        }
        if message.purchaseHorizonDays != 0 {
            purchaseHorizonDays = Int(message.purchaseHorizonDays)
        }
        if message.valueHorizonDays != 0 { valueHorizonDays = Int(message.valueHorizonDays) }
        let rate = message.annualDiscountRate
        guard rate.isFinite, Self.discountRates.contains(rate) else {
            throw InvalidField(
                "\(prefix).annual_discount_rate",
                "\(prefix).annual_discount_rate is \(rate); give 0 to 1 (0.1 is 10% a year)")
        }
        annualDiscountRate = rate
    }
}

extension ModelCustomerValue {
    public var proto: Segmentation_V1_CustomerValueModel {
        .with { message in
            message.unavailable = unavailable ?? ""
            message.horizons = settings.proto
            message.calibrationNote = calibrationNote ?? ""
            if let model {
                message.purchases = .with {
                    $0.r = model.purchases.r; $0.alpha = model.purchases.alpha
                    $0.a = model.purchases.a; $0.b = model.purchases.b
                }
                message.purchasesFit = model.purchasesFit.proto
                if let spend = model.spend, let fit = model.spendFit {
                    message.spend = .with {
                        $0.p = spend.p; $0.q = spend.q; $0.v = spend.v
                    }
                    message.spendFit = fit.proto
                }
                if let correlation = model.spendFrequencyCorrelation {
                    message.spendFrequencyCorrelation = correlation
                }
                message.warnings = model.warnings
            }
            if let calibration {
                message.calibration = .with { check in
                    check.calibrationEndDate = calibration.calibrationEndDate
                    check.holdoutEndDate = calibration.holdoutEndDate
                    check.holdoutDays = Int32(calibration.holdoutDays)
                    check.totalActual = calibration.totalActual
                    check.totalPredicted = calibration.totalPredicted
                    check.groups = calibration.groups.map { group in
                        .with {
                            $0.calibrationPurchases = Int32(group.calibrationPurchases)
                            $0.customers = Int64(group.customers)
                            $0.meanActual = group.meanActual
                            $0.meanPredicted = group.meanPredicted
                        }
                    }
                }
            }
        }
    }
}

extension Segmentation_V1_ScoreRequest {
    /// What the request asks beyond segments, checked.
    public func scoreOptions() throws -> ScoreOptions {
        let maximum = ScoreOptions.maximumRecommendations
        guard (0...maximum).contains(Int(recommend)) else {
            throw InvalidField(
                "recommend",
                "recommend is \(recommend); ask for 0 to \(maximum) products per customer")
        }
        return ScoreOptions(
            value: hasValueOptions ? try ValueSettings(valueOptions, field: "value_options") : nil,
            recommend: Int(recommend))
    }
}
