/// Agreement between two partitions of the same items, corrected for chance (Hubert & Arabie):
/// 1 for identical partitions up to renumbering, about 0 for random ones.
public enum AdjustedRandIndex {
    public static func compute<A: Hashable, B: Hashable>(_ first: [A], _ second: [B]) -> Double {
        precondition(first.count == second.count, "partitions of different lengths")
        let n = first.count
        guard n > 1 else { return 1 }
        var table: [Pair<A, B>: Int] = [:], rows: [A: Int] = [:], columns: [B: Int] = [:]
        for (a, b) in zip(first, second) {
            table[Pair(a: a, b: b), default: 0] += 1
            rows[a, default: 0] += 1
            columns[b, default: 0] += 1
        }
        func pairs(_ count: Int) -> Double { Double(count) * Double(count - 1) / 2 }
        let index = table.values.reduce(0) { $0 + pairs($1) }
        let rowSum = rows.values.reduce(0) { $0 + pairs($1) }
        let columnSum = columns.values.reduce(0) { $0 + pairs($1) }
        let expected = rowSum * columnSum / pairs(n)
        let maximum = (rowSum + columnSum) / 2
        guard maximum != expected else { return 1 }
        return (index - expected) / (maximum - expected)
    }

    private struct Pair<A: Hashable, B: Hashable>: Hashable {
        let a: A
        let b: B
    }
}
