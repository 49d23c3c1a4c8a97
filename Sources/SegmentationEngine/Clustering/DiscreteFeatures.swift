import Foundation

/// Features that take few distinct values (purchase counts, 0/1 columns), on which a Gaussian
/// mixture can put a component on one value: its variance there shrinks toward zero, its density
/// and likelihood grow without bound, and BIC rewards the artifact ("a segment of exactly the
/// customers with 3 purchases").
///
/// A feature is discrete when its five most common values hold at least half the customers. The
/// mixture's covariance is then regularised by (half the median gap between its neighbouring
/// common values)^2, so no component can be narrower than the spacing of the values it sits on;
/// and a k at which a component still sits on one value of such a feature that is not the
/// feature's minimum or maximum (those are natural groups: all one-time buyers) is passed over by
/// every k rule but fixed, with the reason.
public enum DiscreteFeatures {
    static let commonValues = 5
    static let commonShare = 0.5

    /// Per column: the sorted common values when the column is discrete, else nil.
    static func commonValues(of x: Matrix) -> [[Double]?] {
        (0..<x.columns).map { j in
            var counts: [Double: Int] = [:]
            for i in 0..<x.rows { counts[x[i, j], default: 0] += 1 }
            let top = counts.sorted {
                $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key)
            }.prefix(commonValues)
            let held = top.reduce(0) { $0 + $1.value }
            return x.rows > 0 && Double(held) >= commonShare * Double(x.rows)
                ? top.map(\.key).sorted() : nil
        }
    }

    /// The discrete columns' names with how much of the data their common values hold, for warnings.
    public static func describe(_ x: Matrix, names: [String]) -> [String] {
        commonValues(of: x).enumerated().compactMap { j, values in
            guard let values else { return nil }
            let set = Set(values)
            let held = (0..<x.rows).count { set.contains(x[$0, j]) }
            return String(
                format: "%@ (%d values hold %.0f%% of customers)", names[j], values.count,
                Double(held) / Double(max(x.rows, 1)) * 100)
        }
    }

    /// The covariance regularisation a mixture needs on `x` (scaled): scikit-learn's 1e-6, or
    /// (half the median neighbouring gap of a discrete column's common values)^2, the largest.
    public static func regularization(_ x: Matrix) -> Double {
        commonValues(of: x).compactMap { values -> Double? in
            guard let values, values.count >= 2 else { return nil }
            let gaps = zip(values.dropFirst(), values).map { $0 - $1 }
            let half = Statistics.median(gaps) / 2
            return half * half
        }.reduce(1e-6, max)
    }

    /// Why a clustering is degenerate: a segment whose every customer has one interior value of a
    /// discrete column (nil when none is).
    public static func collapse(
        _ x: Matrix, labels: [Int32], k: Int, names: [String]? = nil
    ) -> String? {
        let discrete = commonValues(of: x)
        for j in 0..<x.columns where discrete[j] != nil {
            let column = x.column(j)
            guard let low = column.min(), let high = column.max() else { continue }
            var first = [Double?](repeating: nil, count: k),
                single = [Bool](repeating: true, count: k), size = [Int](repeating: 0, count: k)
            for (value, label) in zip(column, labels) {
                let c = Int(label)
                size[c] += 1
                if let seen = first[c] {
                    if seen != value { single[c] = false }
                } else {
                    first[c] = value
                }
            }
            if let c = (0..<k).first(where: {
                single[$0] && size[$0] >= 2 && first[$0]! > low && first[$0]! < high
            }) {
                let name = names.map { $0[j] } ?? "feature \(j + 1)"
                return
                    "segment \(c + 1) of \(k) is exactly the customers at one value of \(name), not a group"
            }
        }
        return nil
    }
}
