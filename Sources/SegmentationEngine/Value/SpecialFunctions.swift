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

    /// ₂F₁(a, b; c; z) by its power series for 0 ≤ z < 1 and c not 0, -1, -2... (a, b or c may
    /// be negative, as after Euler's transformation, or for BG/NBD's c = a + b - 1 at x = 0 when
    /// a + b < 1): summed until a term is below 1e-17 of the sum once the ratios have settled
    /// under 1 and no factor can change sign again.
    static func hypergeometric2F1(_ a: Double, _ b: Double, _ c: Double, _ z: Double) -> Double {
        precondition(z >= 0 && z < 1, "2F1's argument must be in [0, 1)")
        // Undefined at c = 0, -1, -2...: a fit landing exactly there is moved off it (by far less
        // than the fit's own precision) rather than trapping.
        let c = c <= 0 && c == c.rounded() ? c + 1e-9 : c
        var term = 1.0, sum = 1.0, n = 0.0
        while n < 1_000_000 {
            let ratio = (a + n) * (b + n) / ((c + n) * (n + 1)) * z
            term *= ratio
            sum += term
            n += 1
            if term == 0 { break }
            let bound = max(abs(ratio), z)
            if bound < 1 && n > -min(a, b, c) && abs(term) <= 1e-17 * (1 - bound) * abs(sum) {
                break
            }
        }
        return sum
    }
}
