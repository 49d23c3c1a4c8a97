import Foundation
import SegmentationEngine

/// A realistic k-means problem: `rows` customers' scaled RFM features (log1p of recency in days,
/// purchases, total spend and average order value, then standardised, as the default pipeline
/// does). Customers come from five overlapping behaviours with wide spreads, so the clusters are
/// regions of a continuum and Lloyd needs many iterations (unlike well-separated blobs, which
/// converge in two or three). Seeded; the same bytes for every run.
func rfmLikeCustomers(rows: Int) -> Matrix {
    // (share, mean recency days, mean extra purchases, median order value)
    let behaviours: [(share: Double, recency: Double, purchases: Double, order: Double)] = [
        (0.35, 220, 0.3, 180),  // one-off, lapsed
        (0.25, 90, 1.5, 260),  // occasional
        (0.18, 40, 4, 320),  // regular
        (0.15, 150, 2, 900),  // big-basket, infrequent
        (0.07, 12, 14, 420),  // loyal
    ]
    var random = SeededGenerator(seed: 21)
    var values = [Double](repeating: 0, count: rows * 4)
    for i in 0..<rows {
        var u = random.nextUnit(), b = 0
        while b < behaviours.count - 1 && u >= behaviours[b].share {
            u -= behaviours[b].share; b += 1
        }
        let behaviour = behaviours[b]
        let recency = min(
            730, 1 + (-log(max(random.nextUnit(), 1e-12)) * behaviour.recency).rounded(.down))
        let purchases =
            1 + (-log(max(random.nextUnit(), 1e-12)) * behaviour.purchases).rounded(.down)
        let order = behaviour.order * exp(0.7 * random.nextGaussian())
        let monetary = purchases * order * exp(0.2 * random.nextGaussian())
        for (j, feature) in [recency, purchases, monetary, monetary / purchases].enumerated() {
            values[i * 4 + j] = log1p(feature)
        }
    }
    // Standard scaling with the population deviation (scikit-learn's StandardScaler, our default).
    for j in 0..<4 {
        var mean = 0.0, squares = 0.0
        for i in 0..<rows { mean += values[i * 4 + j] }
        mean /= Double(rows)
        for i in 0..<rows { squares += (values[i * 4 + j] - mean) * (values[i * 4 + j] - mean) }
        let deviation = (squares / Double(rows)).squareRoot()
        for i in 0..<rows { values[i * 4 + j] = (values[i * 4 + j] - mean) / deviation }
    }
    return Matrix(rows: rows, columns: 4, values: values)
}

/// `k` distinct rows picked by a seeded generator: the shared start both sides fit from
/// (scikit-learn's `init=array, n_init=1`), so iterations and inertia are comparable exactly.
func seededStart(_ x: Matrix, k: Int, seed: UInt64) -> Matrix {
    var random = SeededGenerator(seed: seed)
    var picked: [Int] = []
    while picked.count < k {
        let row = Int(random.nextUnit() * Double(x.rows))
        if !picked.contains(row) { picked.append(row) }
    }
    return x.selecting(rows: picked)
}

/// Full k-means (Lloyd, tol 0: until no label moves, at most 300 iterations) on the RFM-like
/// customers from a shared start; writes the data and the start for bench/peer_sklearn.py
/// `kmeans-rfm` (scikit-learn and oneDAL through scikit-learn-intelex).
func kmeansRFM(rows: Int, outDirectory: String?, repeats: Int, k: Int = 8) throws {
    let x = rfmLikeCustomers(rows: rows)
    let start = seededStart(x, k: k, seed: 3)
    if let outDirectory {
        for (name, matrix) in [
            ("kmeans_rfm_\(rows)x4.f64", x), ("kmeans_rfm_\(rows)x4_start\(k).f64", start),
        ] {
            let path = (outDirectory as NSString).appendingPathComponent(name)
            try matrix.values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
        }
    }
    var result: Clustering?
    let seconds = try measure(repeats) {
        result = try KMeans(nInit: 1, maxIterations: 300, tolerance: 0).fit(
            x, initialCentroids: start)
    }
    var timing = Timing(name: "kmeans_rfm_\(rows)x4_k\(k)", seconds: seconds)
    timing.extra["inertia"] = String(format: "%.10g", result!.inertia)
    timing.extra["iterations"] = String(result!.iterations)
    timing.extra["per_iteration_ms"] = String(
        format: "%.2f", medianOf(seconds) / Double(result!.iterations) * 1000)
    report(timing)
}
