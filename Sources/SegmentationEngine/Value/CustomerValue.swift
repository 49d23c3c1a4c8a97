import Foundation

/// Customer value from purchase histories: BG/NBD for whether customers are still buying and how
/// often they will, Gamma-Gamma for what they spend per purchase. Fitted on a transactions
/// model's customers at training time (times in days); a customer table has no purchase
/// history, so no such model. Figures come only from a fit the data supports: too few repeat
/// buyers, or a fit that does not converge, gives reasons instead of numbers.
public struct CustomerValueModel: Sendable, Equatable, Codable {
    public var purchases: BetaGeometricNBD
    public var purchasesFit: LikelihoodFit
    /// Spend per purchase; nil when it could not be fitted (see `warnings`): then no money figure.
    public var spend: GammaGamma?
    public var spendFit: LikelihoodFit?
    /// Correlation of repeat purchases and mean spend among repeat buyers (Gamma-Gamma assumes ~0).
    public var spendFrequencyCorrelation: Double?
    /// What a reader of the figures must know (an assumption that does not hold, say).
    public var warnings: [String]

    /// The mean probability that a customer drops out after a purchase, a / (a + b).
    public var dropoutProbability: Double { purchases.a / (purchases.a + purchases.b) }
    /// Under this dropout probability the model sees almost no customer stop buying, so its
    /// P(alive) is near 1 for everyone and cannot single out lapsed customers.
    public static let negligibleDropout = 0.01

    /// Fewest repeat buyers a fit rests on.
    public static let minimumRepeatBuyers = 20
    /// |correlation| from which the Gamma-Gamma assumption is reported as violated.
    public static let correlationWarning = 0.3

    /// Why no model could be fitted.
    public struct Unsupported: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Fits both models; throws `Unsupported` saying why when the purchase model cannot be
    /// trusted (a money model that cannot is left out, with a warning).
    public static func fit(
        _ customers: [PurchaseSummary], optimizer: QuasiNewtonSettings = .init()
    ) throws -> CustomerValueModel {
        // The two fits are independent: run side by side (the spend fit's result is used only
        // when the purchase model stands).
        var bgnbd: Result<(BetaGeometricNBD, LikelihoodFit), Error>?
        var gammaGamma: (buyers: Int, fit: (model: GammaGamma, fit: LikelihoodFit)?)?
        Parallel.forEach(2) { part in
            if part == 0 {
                bgnbd = Result { try fitPurchases(customers, optimizer: optimizer) }
            } else {
                let buyers = customers.count(where: GammaGamma.fits)
                gammaGamma = (
                    buyers,
                    buyers >= minimumRepeatBuyers
                        ? GammaGamma.fit(customers, optimizer: optimizer) : nil
                )
            }
        }
        let (purchases, purchasesFit) = try bgnbd!.get()
        var model = CustomerValueModel(
            purchases: purchases, purchasesFit: purchasesFit,
            spendFrequencyCorrelation: GammaGamma.spendFrequencyCorrelation(customers),
            warnings: [])
        if model.dropoutProbability < negligibleDropout {
            model.warnings.append(
                "the purchase model finds almost no dropout (a customer stops after a purchase with probability "
                    + String(format: "%.2g", model.dropoutProbability)
                    + "), so P(alive) is near 1 for nearly everyone and cannot single out lapsed customers; "
                    + "days since the last purchase are the better guide here")
        }
        model.keepSpend(gammaGamma!.fit, buyers: gammaGamma!.buyers)
        return model
    }

    /// The purchase model alone (the holdout check needs no more); throws `Unsupported` with
    /// too few repeat buyers or a fit that does not converge.
    static func fitPurchases(
        _ customers: [PurchaseSummary], optimizer: QuasiNewtonSettings = .init()
    ) throws -> (BetaGeometricNBD, LikelihoodFit) {
        let repeatBuyers = customers.count { $0.frequency > 0 }
        guard repeatBuyers >= minimumRepeatBuyers else {
            throw Unsupported(
                description:
                    "only \(repeatBuyers) of \(customers.count) customers bought on more than one day; "
                    + "the purchase model needs at least \(minimumRepeatBuyers)")
        }
        let (purchases, fit) = BetaGeometricNBD.fit(customers, optimizer: optimizer)
        guard fit.converged, fit.meanLogLikelihood.isFinite else {
            throw Unsupported(
                description:
                    "the purchase model's fit did not converge in \(fit.iterations) iterations"
            )
        }
        return (purchases, fit)
    }

    /// Keeps the spend model when its fit stands, else says why there is none.
    private mutating func keepSpend(
        _ result: (model: GammaGamma, fit: LikelihoodFit)?, buyers: Int
    ) {
        guard buyers >= Self.minimumRepeatBuyers, let (spend, fit) = result else {
            warnings.append(
                "no spend model: \(buyers) repeat buyers with a positive spend, fewer than \(Self.minimumRepeatBuyers)"
            )
            return
        }
        guard fit.converged, spend.q > 1 else {
            warnings.append(
                fit.converged
                    ? "no spend model: its fit gives no finite mean spend (q = \(spend.q) <= 1)"
                    : "no spend model: its fit did not converge in \(fit.iterations) iterations")
            return
        }
        (self.spend, spendFit) = (spend, fit)
        if let correlation = spendFrequencyCorrelation, abs(correlation) >= Self.correlationWarning
        {
            warnings.append(
                "spend per purchase correlates with purchase frequency (r = \(String(format: "%.2f", correlation))): "
                    + "the spend model assumes it does not, so its figures lean "
                    + (correlation > 0 ? "low for frequent buyers" : "high for frequent buyers"))
        }
    }

    /// A customer's figures at the snapshot, over the settings' horizons.
    public func figures(
        _ customer: PurchaseSummary, settings: ValueSettings = .init()
    ) -> CustomerValueFigures {
        let spendPerPurchase = spend?.expectedSpend(customer)
        return CustomerValueFigures(
            probabilityAlive: purchases.probabilityAlive(customer),
            expectedPurchases: purchases.expectedPurchases(
                customer, horizon: Double(settings.purchaseHorizonDays)),
            expectedSpend: spendPerPurchase,
            lifetimeValue: spendPerPurchase.map {
                lifetimeValue(
                    customer, spendPerPurchase: $0, horizon: Double(settings.valueHorizonDays),
                    annualDiscountRate: settings.annualDiscountRate)
            })
    }

    /// Expected spend over the horizon: each 30-day step's expected purchases times the spend
    /// per purchase, discounted to the snapshot at the annual rate (as `lifetimes`'
    /// `customer_lifetime_value`, whose rate is per step).
    func lifetimeValue(
        _ customer: PurchaseSummary, spendPerPurchase: Double, horizon: Double,
        annualDiscountRate: Double
    ) -> Double {
        var value = 0.0, before = 0.0, end = 0.0
        while end < horizon {
            end = min(end + 30, horizon)
            let upTo = purchases.expectedPurchases(customer, horizon: end)
            value += (upTo - before) * spendPerPurchase / pow(1 + annualDiscountRate, end / 365)
            before = upTo
        }
        return value
    }
}

/// What the customer-value model says of one customer.
public struct CustomerValueFigures: Sendable, Equatable, Codable {
    /// The probability that the customer still buys (has not dropped out) at the snapshot.
    public var probabilityAlive: Double
    /// Expected repeat purchases in the horizon after the snapshot.
    public var expectedPurchases: Double
    /// Expected spend per purchase (nil without a spend model).
    public var expectedSpend: Double?
    /// Expected spend over the value horizon, discounted (nil without a spend model).
    public var lifetimeValue: Double?
}
