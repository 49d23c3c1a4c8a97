import Foundation

/// One customer's purchase history as the buy-till-you-die models read it, in one unit of time
/// (days for a transactions model), with the conventions of `lifetimes`'
/// `summary_data_from_transaction_data`: `frequency` repeat purchase periods (distinct purchase
/// days - 1), `recency` from the first to the last purchase, `age` (T) from the first purchase
/// to the snapshot, `monetary` the mean value of the repeat purchases (0 without one).
public struct PurchaseSummary: Sendable, Equatable, Codable {
    public var frequency: Int
    public var recency: Double
    public var age: Double
    public var monetary: Double

    public init(frequency: Int, recency: Double, age: Double, monetary: Double = 0) {
        self.frequency = frequency
        self.recency = recency
        self.age = age
        self.monetary = monetary
    }
}

/// A model's fit: how it went, for the model's record and its warnings.
public struct LikelihoodFit: Sendable, Equatable, Codable {
    /// The mean log-likelihood per customer at the parameters found.
    public var meanLogLikelihood: Double
    public var iterations: Int
    public var converged: Bool
    /// Customers the fit used.
    public var customers: Int
}

/// The BG/NBD model (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while
/// alive a customer buys as a Poisson process whose rate is Gamma(r, α) across customers, and
/// after each purchase drops out with a probability that is Beta(a, b) across customers.
/// Fitted by maximum likelihood over the log-parameters (BFGS, analytic gradient), with times
/// rescaled so the oldest customer's age is 10 while fitting, as `lifetimes` does (α is scaled
/// back; r, a and b do not depend on the unit).
public struct BetaGeometricNBD: Sendable, Equatable, Codable {
    public var r: Double
    public var alpha: Double
    public var a: Double
    public var b: Double

    public init(r: Double, alpha: Double, a: Double, b: Double) {
        (self.r, self.alpha, self.a, self.b) = (r, alpha, a, b)
    }

    /// The maximum-likelihood parameters for `customers`, and how the fit went.
    public static func fit(
        _ customers: [PurchaseSummary], optimizer: QuasiNewtonSettings = .init()
    ) -> (model: BetaGeometricNBD, fit: LikelihoodFit) {
        let oldest = customers.map(\.age).max() ?? 1
        let scale = oldest > 0 ? 10 / oldest : 1
        let data = PurchaseLikelihoodData(customers, scale: scale)
        let result = optimizer.minimizer.minimize(from: [0, 0, 0, 0]) { theta in
            let model = BetaGeometricNBD(
                r: exp(theta[0]), alpha: exp(theta[1]), a: exp(theta[2]), b: exp(theta[3]))
            let (value, gradient) = model.meanLogLikelihoodAndGradient(data)
            return (-value, gradient.map { -$0 })
        }
        let theta = result.point
        var model = BetaGeometricNBD(
            r: exp(theta[0]), alpha: exp(theta[1]), a: exp(theta[2]), b: exp(theta[3]))
        model.alpha /= scale
        return (
            model,
            LikelihoodFit(
                meanLogLikelihood: model.meanLogLikelihoodAndGradient(
                    PurchaseLikelihoodData(customers)
                ).value,
                iterations: result.iterations, converged: result.converged,
                customers: customers.count)
        )
    }

    /// One customer's log-likelihood.
    public func logLikelihood(_ customer: PurchaseSummary) -> Double {
        terms(customer).value
    }

    /// The mean log-likelihood over the customers, and its gradient in (ln r, ln α, ln a, ln b):
    /// `terms` arranged so the gamma functions are computed once per frequency.
    func meanLogLikelihoodAndGradient(
        _ data: PurchaseLikelihoodData
    ) -> (value: Double, gradient: [Double]) {
        var total = 0.0
        var (gr, gAlpha, ga, gb) = (0.0, 0.0, 0.0, 0.0)
        let (lgR, dgR, lgB, dgB, logAlpha) = (
            Special.logGamma(r), Special.digamma(r), Special.logGamma(b), Special.digamma(b),
            log(alpha)
        )
        let (lgAB, dgAB, logA) = (Special.logGamma(a + b), Special.digamma(a + b), log(a))
        let logTime = data.times.map { log(alpha + $0) }
        let inverseTime = data.times.map { 1 / (alpha + $0) }
        for run in data.runs {
            let x = run.frequency, n = run.weight, repeats = x > 0
            // A1 + A2 and their derivatives: the frequency's alone.
            total +=
                n
                * (Special.logGamma(r + x) - lgR + r * logAlpha + lgAB
                    + Special.logGamma(b + x) - lgB - Special.logGamma(a + b + x))
            let shared = dgAB - Special.digamma(a + b + x)
            gr += n * (Special.digamma(r + x) - dgR + logAlpha)
            gAlpha += n * r / alpha
            ga += n * shared
            gb += n * (shared + Special.digamma(b + x) - dgB)
            let logOdds = repeats ? logA - log(b + x - 1) : 0
            var (sum, sumR, sumAlpha, sumW4) = (0.0, 0.0, 0.0, 0.0)
            for i in run.range {
                let w = data.weight[i]
                let (ageAt, recencyAt) = (Int(data.ageSlot[i]), Int(data.recencySlot[i]))
                let logAge = logTime[ageAt]
                let a3 = -(r + x) * logAge
                guard repeats else {
                    sum += w * a3
                    sumR += w * logAge
                    sumAlpha += w * inverseTime[ageAt]
                    continue
                }
                let logRecency = logTime[recencyAt]
                let a4 = logOdds - (r + x) * logRecency
                // ln(e^a3 + e^a4) and the two cases' weights, from one exponential.
                let (high, low) = a3 >= a4 ? (a3, a4) : (a4, a3)
                let e = exp(low - high)
                let w3 = a3 >= a4 ? 1 / (1 + e) : e / (1 + e)
                let w4 = 1 - w3
                // log(1 + e), not log1p: e <= 1 here, so the absolute error is the same, and
                // glibc's log1p costs twice as much (a sixth of the fit's time).
                sum += w * (high + log(1 + e))
                sumR += w * (w3 * logAge + w4 * logRecency)
                sumAlpha += w * (w3 * inverseTime[ageAt] + w4 * inverseTime[recencyAt])
                sumW4 += w * w4
            }
            total += sum
            gr -= sumR
            gAlpha -= (r + x) * sumAlpha
            ga += sumW4 / a
            if repeats { gb -= sumW4 / (b + x - 1) }
        }
        let n = Double(max(data.customers, 1))
        return (total / n, [r * gr / n, alpha * gAlpha / n, a * ga / n, b * gb / n])
    }

    /// The mean log-likelihood over `customers`, and its gradient in (ln r, ln α, ln a, ln b),
    /// customer by customer (the reference the arranged form is tested against).
    func meanLogLikelihoodAndGradient(
        _ customers: [PurchaseSummary]
    ) -> (value: Double, gradient: [Double]) {
        var total = 0.0
        var gradient = [0.0, 0.0, 0.0, 0.0]
        for customer in customers {
            let t = terms(customer)
            total += t.value
            for i in 0..<4 { gradient[i] += t.gradient[i] }
        }
        let n = Double(max(customers.count, 1))
        return (total / n, gradient.map { $0 / n })
    }

    /// ln L = A1 + A2 + ln(e^A3 + [x > 0] e^A4), and its derivatives by the log-parameters.
    private func terms(_ customer: PurchaseSummary) -> (value: Double, gradient: [Double]) {
        let x = Double(customer.frequency), t = customer.recency, age = customer.age
        let a1 = Special.logGamma(r + x) - Special.logGamma(r) + r * log(alpha)
        let a2 =
            Special.logGamma(a + b) + Special.logGamma(b + x) - Special.logGamma(b)
            - Special.logGamma(a + b + x)
        let a3 = -(r + x) * log(alpha + age)
        let repeats = customer.frequency > 0
        let a4 = repeats ? log(a) - log(b + x - 1) - (r + x) * log(alpha + t) : -Double.infinity
        let mixed = Special.logSumExp(a3, a4)
        // The weights of the two cases (alive at T, or dropped out after the last purchase).
        let w3 = exp(a3 - mixed), w4 = repeats ? exp(a4 - mixed) : 0
        let dr =
            Special.digamma(r + x) - Special.digamma(r) + log(alpha) - w3 * log(alpha + age)
            - w4 * log(alpha + t)
        let dAlpha = r / alpha - w3 * (r + x) / (alpha + age) - w4 * (r + x) / (alpha + t)
        let shared = Special.digamma(a + b) - Special.digamma(a + b + x)
        let da = shared + w4 / a
        let db =
            shared + Special.digamma(b + x) - Special.digamma(b)
            - (repeats ? w4 / (b + x - 1) : 0)
        return (a1 + a2 + mixed, [r * dr, alpha * dAlpha, a * da, b * db])
    }

    /// The probability that the customer is still alive (has not dropped out) at the snapshot:
    /// 1 for a customer with no repeat purchase (the model's dropout follows a purchase).
    public func probabilityAlive(_ customer: PurchaseSummary) -> Double {
        guard customer.frequency > 0 else { return 1 }
        let x = Double(customer.frequency)
        let logOdds =
            (r + x) * log((alpha + customer.age) / (alpha + customer.recency))
            + log(a / (b + x - 1))
        return 1 / (1 + exp(logOdds))
    }

    /// The expected number of repeat purchases in the `horizon` after the snapshot (the
    /// conditional expectation, eq. 10 of the paper): those of a customer still alive, times
    /// P(alive).
    public func expectedPurchases(_ customer: PurchaseSummary, horizon: Double) -> Double {
        alivePurchases(frequency: customer.frequency, age: customer.age, horizon: horizon)
            * probabilityAlive(customer)
    }
}

/// How hard the likelihood fits try.
public struct QuasiNewtonSettings: Sendable {
    public var gradientTolerance = 1e-7
    public var maximumIterations = 500

    public init() {}

    var minimizer: QuasiNewton {
        QuasiNewton(gradientTolerance: gradientTolerance, maximumIterations: maximumIterations)
    }
}
