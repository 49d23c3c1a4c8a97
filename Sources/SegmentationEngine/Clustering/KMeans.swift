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
    /// Up to this many row x k x feature values per restart, restarts share a task pool (each
    /// single-threaded); above it each restart's kernels use every core.
    var pooledWorkLimit = 2_000_000

    public init(
        nInit: Int = 10, maxIterations: Int = 300, tolerance: Double = 1e-4, seed: UInt64 = 0
    ) {
        self.nInit = nInit
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.seed = seed
    }

    public var method: ClusteringMethod { .kmeans }

    public var parameters: [String: String] {
        [
            "n_init": String(nInit), "max_iter": String(maxIterations), "tol": String(tolerance),
            "seed": String(seed),
        ]
    }

    public func fit(
        _ x: Matrix, k: Int, cancellation: CancellationCheck = .never
    ) throws -> Clustering {
        try fit(x, ks: [k], cancellation: cancellation) { _ in }[k]!
    }

    /// Every k's restarts, keeping each k's lowest inertia. Small problems run every (k, restart)
    /// pair as one task on a shared pool, largest k first, so no core idles while another
    /// finishes a k's last restart; large ones run restarts in turn, each kernel on all cores.
    /// Either way each restart's seed depends only on `seed` and its index: the same results.
    public func fit(
        _ x: Matrix, ks: [Int], cancellation: CancellationCheck = .never,
        progress: (_ k: Int) -> Void = { _ in }
    ) throws -> [Int: Clustering] {
        let ks = Array(Set(ks)).sorted()
        for k in ks { try validate(x, k: k) }
        let absoluteTolerance = tolerance * Self.meanVariance(x)
        var generator = SeededGenerator(seed: seed)
        let seeds = (0..<nInit).map { _ in generator.next() }
        var clusterings: [Int: Clustering] = [:]
        if x.rows * (ks.last ?? 0) * x.columns < pooledWorkLimit && ks.count * nInit > 1 {
            let tasks = ks.reversed().flatMap { k in (0..<nInit).map { (k: k, restart: $0) } }
            var results = [Clustering?](repeating: nil, count: tasks.count)
            let cancelled = SharedFlag()
            results.withUnsafeMutableBufferPointer { slots in
                Parallel.forEach(tasks.count) { t in
                    if cancelled.value || cancellation.isCancelled { cancelled.set(); return }
                    slots[t] = runOnce(
                        x, k: tasks[t].k, seed: seeds[tasks[t].restart],
                        tolerance: absoluteTolerance, parallel: false,
                        cancellation: cancellation)
                }
            }
            if cancelled.value || cancellation.isCancelled { throw CancellationError() }
            for k in ks {
                clusterings[k] = Self.best(
                    tasks.indices.filter { tasks[$0].k == k }.map { results[$0]! })
                progress(k)
            }
        } else {
            for k in ks {
                var restarts: [Clustering] = []
                for r in 0..<nInit {
                    try cancellation.throwIfCancelled()
                    restarts.append(
                        runOnce(
                            x, k: k, seed: seeds[r], tolerance: absoluteTolerance, parallel: true,
                            cancellation: cancellation))
                    try cancellation.throwIfCancelled()  // a run stopped early is no result
                }
                clusterings[k] = Self.best(restarts)
                progress(k)
            }
        }
        return clusterings
    }

    /// The lowest inertia; ties to the earlier restart.
    private static func best(_ restarts: [Clustering]) -> Clustering {
        restarts.enumerated().min {
            $0.element.inertia < $1.element.inertia
                || ($0.element.inertia == $1.element.inertia && $0.offset < $1.offset)
        }!.element
    }

    /// One Lloyd run from given initial centres (scikit-learn's `n_init=1, init=centres`).
    public func fit(_ x: Matrix, initialCentroids: Matrix) throws -> Clustering {
        try validate(x, k: initialCentroids.rows)
        precondition(initialCentroids.columns == x.columns, "centre dimension differs from data")
        return Lloyd(x: x, parallel: true).run(
            centers: initialCentroids, maxIterations: maxIterations,
            tolerance: tolerance * Self.meanVariance(x))
    }

    private func validate(_ x: Matrix, k: Int) throws {
        guard k >= 2, k <= x.rows else { throw ClusteringError.invalidK(k: k, customers: x.rows) }
        guard nInit >= 1, maxIterations >= 1, tolerance >= 0 else {
            throw ClusteringError.invalidParameter(
                "n_init and max_iter must be at least 1 and tol non-negative")
        }
    }

    private func runOnce(
        _ x: Matrix, k: Int, seed: UInt64, tolerance: Double, parallel: Bool,
        cancellation: CancellationCheck
    ) -> Clustering {
        var generator = SeededGenerator(seed: seed)
        let lloyd = Lloyd(x: x, parallel: parallel)
        let centers = lloyd.kMeansPlusPlus(k: k, generator: &generator)
        return lloyd.run(
            centers: centers, maxIterations: maxIterations, tolerance: tolerance,
            cancellation: cancellation)
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
