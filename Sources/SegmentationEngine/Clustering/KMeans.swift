import Foundation

/// K-means with greedy k-means++ seeding and Lloyd iterations, following scikit-learn's
/// `KMeans(algorithm="lloyd")`: the same seeding rule (2 + ln k candidates per step), the same
/// relative tolerance (times the mean feature variance), empty clusters re-seeded with the
/// points farthest from their centres, and the best of `nInit` restarts by inertia.
public struct KMeans: ClusteringAlgorithm {
    public var nInit: Int
    public var maxIterations: Int
    public var tolerance: Double
    public var seed: UInt64

    public init(nInit: Int = 10, maxIterations: Int = 300, tolerance: Double = 1e-4, seed: UInt64 = 0) {
        self.nInit = nInit
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.seed = seed
    }

    public var name: String { "kmeans" }

    public var parameters: [String: String] {
        ["n_init": String(nInit), "max_iter": String(maxIterations), "tol": String(tolerance), "seed": String(seed)]
    }

    public func fit(_ x: Matrix, k: Int, cancellation: CancellationCheck = .never) throws -> Clustering {
        try validate(x, k: k)
        let absoluteTolerance = tolerance * Self.meanVariance(x)
        var generator = SeededGenerator(seed: seed)
        let seeds = (0..<nInit).map { _ in generator.next() }
        // Small problems: one restart per core. Large ones: restarts in turn, each kernel on all cores.
        let perRestartWork = x.rows * k * x.columns
        var results = [Clustering?](repeating: nil, count: nInit)
        if perRestartWork < 2_000_000 && nInit > 1 {
            let cancelled = SharedFlag()
            results.withUnsafeMutableBufferPointer { slots in
                Parallel.forEach(nInit) { r in
                    if cancelled.value || cancellation.isCancelled { cancelled.set(); return }
                    slots[r] = runOnce(x, k: k, seed: seeds[r], tolerance: absoluteTolerance, parallel: false)
                }
            }
            if cancelled.value { throw CancellationError() }
        } else {
            for r in 0..<nInit {
                try cancellation.throwIfCancelled()
                results[r] = runOnce(x, k: k, seed: seeds[r], tolerance: absoluteTolerance, parallel: true)
            }
        }
        return results.compactMap { $0 }.enumerated().min {
            $0.element.inertia < $1.element.inertia || ($0.element.inertia == $1.element.inertia && $0.offset < $1.offset)
        }!.element
    }

    /// One Lloyd run from given initial centres (scikit-learn's `n_init=1, init=centres`).
    public func fit(_ x: Matrix, initialCentroids: Matrix) throws -> Clustering {
        try validate(x, k: initialCentroids.rows)
        precondition(initialCentroids.columns == x.columns, "centre dimension differs from data")
        return Lloyd(x: x, parallel: true).run(
            centers: initialCentroids, maxIterations: maxIterations, tolerance: tolerance * Self.meanVariance(x))
    }

    private func validate(_ x: Matrix, k: Int) throws {
        guard k >= 2, k <= x.rows else { throw ClusteringError.invalidK(k: k, customers: x.rows) }
        guard nInit >= 1, maxIterations >= 1, tolerance >= 0 else {
            throw ClusteringError.invalidParameter("n_init and max_iter must be at least 1 and tol non-negative")
        }
    }

    private func runOnce(_ x: Matrix, k: Int, seed: UInt64, tolerance: Double, parallel: Bool) -> Clustering {
        var generator = SeededGenerator(seed: seed)
        let lloyd = Lloyd(x: x, parallel: parallel)
        let centers = lloyd.kMeansPlusPlus(k: k, generator: &generator)
        return lloyd.run(centers: centers, maxIterations: maxIterations, tolerance: tolerance)
    }

    /// Mean of the per-feature population variances (scikit-learn scales `tol` by it).
    static func meanVariance(_ x: Matrix) -> Double {
        guard x.rows > 0 else { return 0 }
        var total = 0.0
        for j in 0..<x.columns {
            let column = x.column(j)
            let mean = Statistics.mean(column)
            total += column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.rows)
        }
        return total / Double(x.columns)
    }
}

/// A flag raised from any thread (a cancelled restart or silhouette block) and read by the others.
final class SharedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    var value: Bool { lock.withLock { raised } }
    func set() { lock.withLock { raised = true } }
}
