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
            // The first step is scaled to the gradient (about a unit move), as the identity
            // Hessian knows nothing of the problem's scale; after that BFGS's own step, 1.
            let initialStep =
                iteration == 0 ? min(1, 1 / max(Self.norm(gradient), 1e-300)) : 1
            guard
                let next = lineSearch(
                    x, value, direction, slope, initialStep: initialStep, objective)
            else {
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

    private typealias Probe = (step: Double, value: Double, gradient: [Double], slope: Double)

    /// A step along `direction` meeting the strong Wolfe conditions (enough decrease, c1 = 1e-4,
    /// and a flattened slope, c2 = 0.9: Nocedal & Wright's algorithm 3.5 with a bisecting zoom),
    /// so every BFGS update has the curvature it needs. A step to a non-finite value counts as
    /// too long. nil when no step lowers the value.
    private func lineSearch(
        _ x: [Double], _ value: Double, _ direction: [Double], _ slope: Double,
        initialStep: Double, _ objective: ([Double]) -> (value: Double, gradient: [Double])
    ) -> (point: [Double], value: Double, gradient: [Double])? {
        let (c1, c2) = (1e-4, 0.9)
        func probe(_ step: Double) -> Probe {
            let (next, gradient) = objective(zip(x, direction).map { $0 + step * $1 })
            let finite = next.isFinite && gradient.allSatisfy(\.isFinite)
            return (
                step, finite ? next : .infinity, gradient,
                finite ? Self.dot(gradient, direction) : 0
            )
        }
        func sufficient(_ p: Probe) -> Bool { p.value <= value + c1 * p.step * slope }
        func flat(_ p: Probe) -> Bool { abs(p.slope) <= -c2 * slope }
        var best: Probe?
        func found(_ p: Probe) -> (point: [Double], value: Double, gradient: [Double]) {
            (zip(x, direction).map { $0 + p.step * $1 }, p.value, p.gradient)
        }
        func zoom(_ low: Probe, _ high: Probe) -> Probe? {
            var (low, high) = (low, high)
            for _ in 0..<40 {
                let p = probe((low.step + high.step) / 2)
                if !sufficient(p) || p.value >= low.value {
                    high = p
                } else {
                    if flat(p) { return p }
                    if p.slope * (high.step - low.step) >= 0 { high = low }
                    low = p
                }
            }
            return low.step > 0 ? low : nil
        }
        var previous: Probe = (0, value, [], slope)
        var step = initialStep
        for i in 0..<40 {
            let p = probe(step)
            if !sufficient(p) || (i > 0 && p.value >= previous.value) {
                best = zoom(previous, p)
                break
            }
            if flat(p) { return found(p) }
            if p.slope >= 0 {
                best = zoom(p, previous)
                break
            }
            previous = p
            best = p
            step *= 2
        }
        return best.map(found)
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
