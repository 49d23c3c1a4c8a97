import Foundation

/// Unconstrained minimisation by BFGS with a backtracking (Armijo) line search: the optimiser
/// of the customer-value models' likelihoods, which are smooth in their log-parameters and have
/// a handful of them. `objective` returns the value and its gradient.
struct QuasiNewton {
    struct Result {
        var point: [Double]
        var value: Double
        var iterations: Int
        /// The gradient fell below the tolerance (else the iteration limit was reached, or no
        /// step along the search direction lowered the value).
        var converged: Bool
    }

    var gradientTolerance = 1e-7
    var maximumIterations = 500

    func minimize(
        from start: [Double], _ objective: ([Double]) -> (value: Double, gradient: [Double])
    ) -> Result {
        let n = start.count
        var x = start
        var (value, gradient) = objective(x)
        var inverseHessian = Self.identity(n)
        for iteration in 0..<maximumIterations {
            if Self.norm(gradient) < gradientTolerance {
                return Result(point: x, value: value, iterations: iteration, converged: true)
            }
            var direction = Self.times(inverseHessian, gradient).map { -$0 }
            var slope = Self.dot(direction, gradient)
            if !(slope < 0) {
                // Not a descent direction (curvature lost to rounding): start again from steepest descent.
                inverseHessian = Self.identity(n)
                direction = gradient.map { -$0 }
                slope = Self.dot(direction, gradient)
            }
            guard let next = lineSearch(x, value, direction, slope, objective) else {
                return Result(
                    point: x, value: value, iterations: iteration,
                    converged: Self.norm(gradient) < gradientTolerance * 1e3)
            }
            let moved = zip(next.point, x).map { $0 - $1 }
            let change = zip(next.gradient, gradient).map { $0 - $1 }
            (x, value, gradient) = (next.point, next.value, next.gradient)
            Self.update(&inverseHessian, moved, change)
        }
        return Result(
            point: x, value: value, iterations: maximumIterations,
            converged: Self.norm(gradient) < gradientTolerance)
    }

    /// The first step 1, 1/2, 1/4... that lowers the value enough (Armijo, c = 1e-4) and keeps it
    /// finite; nil when none does within 60 halvings.
    private func lineSearch(
        _ x: [Double], _ value: Double, _ direction: [Double], _ slope: Double,
        _ objective: ([Double]) -> (value: Double, gradient: [Double])
    ) -> (point: [Double], value: Double, gradient: [Double])? {
        var step = 1.0
        for _ in 0..<60 {
            let point = zip(x, direction).map { $0 + step * $1 }
            let (next, gradient) = objective(point)
            if next.isFinite, next <= value + 1e-4 * step * slope, gradient.allSatisfy(\.isFinite) {
                return (point, next, gradient)
            }
            step /= 2
        }
        return nil
    }

    /// The BFGS update of the inverse Hessian, skipped when the curvature condition fails.
    private static func update(_ h: inout [[Double]], _ s: [Double], _ y: [Double]) {
        let sy = dot(s, y)
        guard sy > 1e-12 * norm(s) * norm(y) else { return }
        let n = s.count
        let hy = times(h, y)
        let yhy = dot(y, hy)
        for i in 0..<n {
            for j in 0..<n {
                h[i][j] += (sy + yhy) * s[i] * s[j] / (sy * sy) - (hy[i] * s[j] + s[i] * hy[j]) / sy
            }
        }
    }

    private static func identity(_ n: Int) -> [[Double]] {
        (0..<n).map { i in (0..<n).map { $0 == i ? 1 : 0 } }
    }
    private static func times(_ m: [[Double]], _ v: [Double]) -> [Double] {
        m.map { dot($0, v) }
    }
    private static func dot(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
    }
    private static func norm(_ v: [Double]) -> Double { sqrt(dot(v, v)) }
}
