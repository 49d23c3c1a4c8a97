import Foundation

/// The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV"): a
/// customer's purchases are Gamma(p, ν) around their own mean, ν being Gamma(q, γ) across
/// customers (`v` here, as in `lifetimes`). Fitted by maximum likelihood on the customers with
/// at least one repeat purchase and a positive mean spend; it assumes spend per purchase does
/// not depend on how often a customer buys (`spendFrequencyCorrelation` checks it).
public struct GammaGamma: Sendable, Equatable, Codable {
    public var p: Double
    public var q: Double
    public var v: Double

    public init(p: Double, q: Double, v: Double) {
        (self.p, self.q, self.v) = (p, q, v)
    }

    /// The customers the model is fitted on: a repeat purchase and a positive mean spend.
    public static func fits(_ customer: PurchaseSummary) -> Bool {
        customer.frequency > 0 && customer.monetary > 0
    }

    /// The maximum-likelihood parameters for the customers it fits (`fits`); nil when none does.
    public static func fit(
        _ customers: [PurchaseSummary], optimizer: QuasiNewtonSettings = .init()
    ) -> (model: GammaGamma, fit: LikelihoodFit)? {
        let used = customers.filter(fits)
        guard !used.isEmpty else { return nil }
        // Spend in units of its mean while fitting, so v starts near its optimum whatever the
        // currency (v scales with the unit; p and q do not): from v = 1 against spends in the
        // hundreds the fit crawled for hundreds of iterations.
        let unit = used.reduce(0) { $0 + $1.monetary } / Double(used.count)
        let data = SpendLikelihoodData(used, unit: unit)
        let result = optimizer.minimizer.minimize(from: [0, 0, 0]) { theta in
            let model = GammaGamma(p: exp(theta[0]), q: exp(theta[1]), v: exp(theta[2]))
            let (value, gradient) = model.meanLogLikelihoodAndGradient(data)
            return (-value, gradient.map { -$0 })
        }
        let theta = result.point
        let model = GammaGamma(p: exp(theta[0]), q: exp(theta[1]), v: exp(theta[2]) * unit)
        return (
            model,
            LikelihoodFit(
                meanLogLikelihood: model.meanLogLikelihoodAndGradient(used).value,
                iterations: result.iterations, converged: result.converged, customers: used.count)
        )
    }

    /// The mean log-likelihood of the repeat buyers' mean spends and its gradient in (ln p, ln q,
    /// ln v), the gamma functions computed once per frequency.
    func meanLogLikelihoodAndGradient(
        _ data: SpendLikelihoodData
    ) -> (value: Double, gradient: [Double]) {
        var total = 0.0
        var (gp, gq, gv) = (0.0, 0.0, 0.0)
        let (lgQ, dgQ, logV) = (Special.logGamma(q), Special.digamma(q), log(v))
        for run in data.runs {
            let x = run.frequency, n = run.count, px = p * x, logX = log(x)
            let (lgSum, dgSum) = (Special.logGamma(px + q), Special.digamma(px + q))
            var (sumLogSpent, sumInverse) = (0.0, 0.0)
            for i in run.range {
                let spent = x * data.spend[i] + v
                sumLogSpent += log(spent)
                sumInverse += 1 / spent
            }
            total +=
                n * (lgSum - Special.logGamma(px) - lgQ + q * logV + px * logX)
                + (px - 1) * run.sumLogSpend - (px + q) * sumLogSpent
            gp += px * (n * (dgSum - Special.digamma(px) + logX) + run.sumLogSpend - sumLogSpent)
            gq += q * (n * (dgSum - dgQ + logV) - sumLogSpent)
            gv += v * (n * q / v - (px + q) * sumInverse)
        }
        let n = Double(max(data.customers, 1))
        return (total / n, [gp / n, gq / n, gv / n])
    }

    /// The mean log-likelihood of the customers' mean spends, and its gradient in (ln p, ln q, ln v),
    /// customer by customer (the reference the arranged form is tested against).
    func meanLogLikelihoodAndGradient(
        _ customers: [PurchaseSummary]
    ) -> (value: Double, gradient: [Double]) {
        var total = 0.0
        var gradient = [0.0, 0.0, 0.0]
        for customer in customers {
            let x = Double(customer.frequency), m = customer.monetary
            let px = p * x
            let spent = log(x * m + v)
            total +=
                Special.logGamma(px + q) - Special.logGamma(px) - Special.logGamma(q) + q * log(v)
                + (px - 1) * log(m) + px * log(x) - (px + q) * spent
            let shared = Special.digamma(px + q)
            gradient[0] += p * x * (shared - Special.digamma(px) + log(m) + log(x) - spent)
            gradient[1] += q * (shared - Special.digamma(q) + log(v) - spent)
            gradient[2] += v * (q / v - (px + q) / (x * m + v))
        }
        let n = Double(max(customers.count, 1))
        return (total / n, gradient.map { $0 / n })
    }

    /// The expected spend per purchase of a customer: their own mean, shrunk towards the
    /// population's mean `v p / (q - 1)` the fewer purchases it rests on; the population's mean
    /// for a customer with no repeat purchase. Needs q > 1 (a finite population mean).
    public func expectedSpend(_ customer: PurchaseSummary) -> Double {
        let population = v * p / (q - 1)
        guard Self.fits(customer) else { return population }
        let x = Double(customer.frequency)
        let weight = p * x / (p * x + q - 1)
        return (1 - weight) * population + weight * customer.monetary
    }

    /// Pearson's correlation of the number of repeat purchases and the mean spend, over the
    /// customers the model fits: near 0 where the model's assumption holds.
    public static func spendFrequencyCorrelation(_ customers: [PurchaseSummary]) -> Double? {
        let used = customers.filter(fits)
        guard used.count >= 3 else { return nil }
        let xs = used.map { Double($0.frequency) }, ms = used.map(\.monetary)
        let (mx, mm) = (xs.reduce(0, +) / Double(used.count), ms.reduce(0, +) / Double(used.count))
        var (sxm, sxx, smm) = (0.0, 0.0, 0.0)
        for (x, m) in zip(xs, ms) {
            sxm += (x - mx) * (m - mm)
            sxx += (x - mx) * (x - mx)
            smm += (m - mm) * (m - mm)
        }
        guard sxx > 0, smm > 0 else { return nil }
        return sxm / sqrt(sxx * smm)
    }
}
