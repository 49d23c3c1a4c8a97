import Foundation

/// What the report's charts need beyond the profiles and the k table, computed once at training
/// time and kept in the model, so any client can draw them (GetModel returns it).
public struct ModelCharts: Codable, Sendable, Equatable {
    /// The first two principal components of the scaled clustering features (fitted on the model
    /// sample), for the 2-D segment map.
    public var pca: PrincipalComponents
    /// Per segment (in segment order), per clustering feature: the box plot of its raw values
    /// over all of the segment's customers.
    public var boxes: [[FeatureBox]]
    /// Customers per recency x frequency score cell, when the features have both.
    public var rfmGrid: RFMGrid?
    /// Customers per home country and segment, for the largest countries, when the data has a country.
    public var countries: CountryMix?
    /// Ward models: the top of the tree the segments started from.
    public var dendrogram: Dendrogram?
}

/// Principal components: `components` has one row per component (at most two), one column per
/// clustering feature, in the scaled space the model clusters in.
public struct PrincipalComponents: Codable, Sendable, Equatable {
    public var components: Matrix
    /// Share of the total variance each component explains.
    public var explainedVarianceRatio: [Double]
    /// The mean the data is centred on before projecting.
    public var mean: [Double]

    /// Coordinates of scaled rows on the components.
    public func project(_ scaled: Matrix) -> Matrix {
        let (n, d, m) = (scaled.rows, scaled.columns, components.rows)
        var out = [Double](repeating: 0, count: n * m)
        for i in 0..<n {
            for c in 0..<m {
                var sum = 0.0
                for j in 0..<d { sum += (scaled[i, j] - mean[j]) * components[c, j] }
                out[i * m + c] = sum
            }
        }
        return Matrix(rows: n, columns: m, values: out)
    }

    /// The top two components of `data` (rows are observations), by power iteration on the
    /// covariance matrix with deflation: d is small (the clustering features), so the d x d
    /// covariance is cheap and exact. Signs are fixed (largest weight positive) so the same
    /// data always draws the same way.
    public static func fit(_ data: Matrix, count: Int = 2) -> PrincipalComponents {
        let (n, d) = (data.rows, data.columns)
        let mean = (0..<d).map { j in
            n == 0 ? 0 : (0..<n).reduce(0.0) { $0 + data[$1, j] } / Double(n)
        }
        var covariance = [Double](repeating: 0, count: d * d)
        for i in 0..<n {
            for a in 0..<d {
                let x = data[i, a] - mean[a]
                for b in a..<d { covariance[a * d + b] += x * (data[i, b] - mean[b]) }
            }
        }
        let scale = n > 1 ? 1 / Double(n - 1) : 0
        for a in 0..<d {
            for b in a..<d {
                covariance[a * d + b] *= scale; covariance[b * d + a] = covariance[a * d + b]
            }
        }
        let total = (0..<d).reduce(0.0) { $0 + covariance[$1 * d + $1] }
        var rows: [Double] = []
        var ratios: [Double] = []
        for c in 0..<min(count, d) {
            let (value, vector) = dominantEigenpair(covariance, d, seed: c)
            rows += vector
            ratios.append(total > 0 ? max(0, value) / total : 0)
            for a in 0..<d {
                for b in 0..<d { covariance[a * d + b] -= value * vector[a] * vector[b] }
            }
        }
        return PrincipalComponents(
            components: Matrix(rows: ratios.count, columns: d, values: rows),
            explainedVarianceRatio: ratios, mean: mean)
    }

    private static func dominantEigenpair(
        _ matrix: [Double], _ d: Int, seed: Int
    ) -> (Double, [Double]) {
        // A start that is not orthogonal to any axis in practice (deterministic).
        var vector = (0..<d).map { 1 + 0.1 * Double(($0 + seed) % 7) }
        normalize(&vector)
        var value = 0.0
        for _ in 0..<1000 {
            var next = [Double](repeating: 0, count: d)
            for a in 0..<d { for b in 0..<d { next[a] += matrix[a * d + b] * vector[b] } }
            let length = (next.reduce(0) { $0 + $1 * $1 }).squareRoot()
            guard length > 1e-300 else { return (0, unit(d, seed)) }
            for a in 0..<d { next[a] /= length }
            let change = zip(next, vector).reduce(0) { $0 + abs($1.0 - $1.1) }
            vector = next
            value = length
            if change < 1e-13 { break }
        }
        if let largest = vector.indices.max(by: { abs(vector[$0]) < abs(vector[$1]) }),
            vector[largest] < 0
        {
            vector = vector.map { -$0 }
        }
        return (value, vector)
    }

    private static func normalize(_ vector: inout [Double]) {
        let length = (vector.reduce(0) { $0 + $1 * $1 }).squareRoot()
        if length > 0 { vector = vector.map { $0 / length } }
    }

    private static func unit(_ d: Int, _ axis: Int) -> [Double] {
        (0..<d).map { $0 == axis % d ? 1 : 0 }
    }
}

/// A Tukey box plot of one feature in one segment, in the feature's raw units: whiskers reach the
/// most extreme values within 1.5 interquartile ranges of the box; beyond them are outliers.
public struct FeatureBox: Codable, Sendable, Equatable {
    public var feature: String
    public var minimum: Double
    public var lowerWhisker: Double
    public var q1: Double
    public var median: Double
    public var q3: Double
    public var upperWhisker: Double
    public var maximum: Double
    public var outliers: Int

    public init(feature: String, values: [Double]) {
        let sorted = values.filter(\.isFinite).sorted()
        self.feature = feature
        guard let first = sorted.first, let last = sorted.last else {
            (minimum, lowerWhisker, q1, median, q3, upperWhisker, maximum, outliers) = (
                .nan, .nan, .nan, .nan, .nan, .nan, .nan, 0
            )
            return
        }
        let (low, high) = (
            Statistics.quantile(sorted: sorted, 0.25), Statistics.quantile(sorted: sorted, 0.75)
        )
        let reach = 1.5 * (high - low)
        let lower = sorted.first { $0 >= low - reach } ?? first
        let upper = sorted.last { $0 <= high + reach } ?? last
        (q1, q3, lowerWhisker, upperWhisker) = (low, high, lower, upper)
        median = Statistics.quantile(sorted: sorted, 0.5)
        minimum = first
        maximum = last
        outliers = sorted.count { $0 < lower || $0 > upper }
    }
}

/// Customers per cell of the 5 x 5 recency x frequency score grid; `counts[r - 1][f - 1]`.
/// The named RFM segment of each cell is `RFMSegment.segment(r:f:)`.
public struct RFMGrid: Codable, Sendable, Equatable {
    public var counts: [[Int]]

    public init(scorer: RFMScorer, recency: [Double], frequency: [Double]) {
        var counts = [[Int]](repeating: [Int](repeating: 0, count: 5), count: 5)
        for (r, f) in zip(recency, frequency) {
            counts[scorer.recencyScore(r) - 1][scorer.frequencyScore(f) - 1] += 1
        }
        self.counts = counts
    }
}

/// Customers per home country (the largest few, then everyone else as "Other") and segment.
public struct CountryMix: Codable, Sendable, Equatable {
    public var countries: [String]
    /// `counts[country][segment]`.
    public var counts: [[Int]]

    public init(homeCountry: [String], labels: [Int32], k: Int, top: Int = 8) {
        // A customer without a country is counted under "Unknown", never as a blank row.
        let homeCountry = homeCountry.map {
            $0.trimmingCharacters(in: .whitespaces).isEmpty ? "Unknown" : $0
        }
        var totals: [String: Int] = [:]
        for country in homeCountry { totals[country, default: 0] += 1 }
        let largest = totals.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(top).map(
            \.key)
        let others = totals.count > largest.count
        countries = largest + (others ? ["Other"] : [])
        let row = Dictionary(uniqueKeysWithValues: largest.enumerated().map { ($1, $0) })
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k), count: countries.count)
        for (country, label) in zip(homeCountry, labels) {
            counts[row[country] ?? largest.count][Int(label)] += 1
        }
        self.counts = counts
    }
}

extension ModelCharts {
    /// Everything above, from the data as trained on: raw features (clustering columns), the
    /// final labels (segment order), and the scaled rows the components are fitted on (the
    /// model sample: a few thousand rows fix two components well, and cost nothing).
    static func make(
        raw: Matrix, features: [String], labels: [Int32], k: Int, scaledForPCA: Matrix,
        rfm: (scorer: RFMScorer, recency: [Double], frequency: [Double])?, homeCountry: [String]?,
        cancellation: CancellationCheck
    ) throws -> ModelCharts {
        let pca = PrincipalComponents.fit(scaledForPCA)
        try cancellation.throwIfCancelled()
        var members = [[Int]](repeating: [], count: k)
        for (i, label) in labels.enumerated() { members[Int(label)].append(i) }
        let boxes = try members.map { rows in
            try cancellation.throwIfCancelled()
            return features.indices.map { j in
                FeatureBox(feature: features[j], values: rows.map { raw[$0, j] })
            }
        }
        return ModelCharts(
            pca: pca, boxes: boxes,
            rfmGrid: rfm.map {
                RFMGrid(scorer: $0.scorer, recency: $0.recency, frequency: $0.frequency)
            },
            countries: homeCountry.map { CountryMix(homeCountry: $0, labels: labels, k: k) })
    }
}
