import Foundation

/// The few special functions the customer-value models need, on doubles.
enum Special {
    /// ln Γ(x), x > 0.
    static func logGamma(_ x: Double) -> Double { lgamma(x) }

    /// ψ(x) = d/dx ln Γ(x), x > 0: the recurrence ψ(x) = ψ(x + 1) - 1/x up to x ≥ 10, then the
    /// asymptotic series (error below 1e-13 there).
    static func digamma(_ x: Double) -> Double {
        var x = x
        var result = 0.0
        while x < 10 {
            result -= 1 / x
            x += 1
        }
        let inverse = 1 / x, squared = inverse * inverse
        let series =
            squared
            * (1.0 / 12 - squared
                * (1.0 / 120 - squared * (1.0 / 252 - squared * (1.0 / 240 - squared / 132))))
        return result + log(x) - 0.5 * inverse - series
    }

    /// ln(e^a + e^b) without overflow.
    static func logSumExp(_ a: Double, _ b: Double) -> Double {
        let top = max(a, b)
        guard top > -.infinity else { return -.infinity }
        return top + log(exp(a - top) + exp(b - top))
    }

    /// ln ₂F₁(a, b; c; z) for a, b, c > 0 and 0 ≤ z < 1, by its power series summed in log space
    /// (its terms can pass 1e300 on the way up when a and b are large). Euler's transformation
    /// ₂F₁(a, b; c; z) = (1 - z)^(c-a-b) ₂F₁(c-a, c-b; c; z) is used when it makes the terms
    /// shrink sooner (c - a and c - b smaller than a and b).
    static func logHypergeometric2F1(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
        precondition(z >= 0 && z < 1, "2F1's argument must be in [0, 1)")
        if z == 0 { return 0 }
        let (ea, eb) = (c - a, c - b)
        if ea >= 0, eb >= 0, ea * eb < a * b {
            return (c - a - b) * log1p(-z) + series(ea, eb, c, z)
        }
        return series(a, b, c, z)
    }

    /// ₂F₁(a, b; c; z) by its power series for c > 0, 0 ≤ z < 1 and parameters whose terms stay
    /// small (a or b may be negative, as after Euler's transformation): summed until a term is
    /// below 1e-17 of the sum once the ratios have settled under 1.
    static func hypergeometric2F1(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
        precondition(z >= 0 && z < 1 && c > 0, "2F1 needs c > 0 and z in [0, 1)")
        var term = 1.0, sum = 1.0, n = 0.0
        while n < 1_000_000 {
            let ratio = (a + n) * (b + n) / ((c + n) * (n + 1)) * z
            term *= ratio
            sum += term
            n += 1
            if term == 0 { break }
            let bound = max(abs(ratio), z)
            if bound < 1 && n > -min(a, b) && abs(term) <= 1e-17 * (1 - bound) * abs(sum) {
                break
            }
        }
        return sum
    }

    /// The series summed in linear space, rescaled before it could overflow (its terms can pass
    /// 1e300 on the way up when a and b are large); the log of the sum.
    private static func series(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
        var term = 1.0, sum = 1.0, logScale = 0.0
        var n = 0.0
        // The ratio of successive terms tends to z < 1: the tail is bounded once it is below 1.
        while n < 1_000_000 {
            let ratio = (a + n) * (b + n) / ((c + n) * (n + 1)) * z
            term *= ratio
            sum += term
            n += 1
            if sum > 1e250 {
                (term, sum, logScale) = (term * 1e-250, sum * 1e-250, logScale + 250 * M_LN10)
            }
            let bound = max(ratio, z)  // the later ratios stay below it, or tend to z from above
            if ratio < 1 && term <= 1e-17 * (1 - bound) * sum { break }
        }
        return log(sum) + logScale
    }
}
