/// The one-to-one assignment of rows to columns with the least total cost (the Hungarian
/// method with potentials, O(n^2 m)); rows <= columns after transposing when needed.
enum OptimalAssignment {
    /// For each row, its column, or nil when there are more rows than columns and the row is
    /// left out. `cost[i][j]` must be finite.
    static func solve(_ cost: [[Double]]) -> [Int?] {
        let rows = cost.count
        let columns = cost.first?.count ?? 0
        guard rows > 0, columns > 0 else { return [Int?](repeating: nil, count: rows) }
        if rows > columns {
            let transposed = (0..<columns).map { j in (0..<rows).map { cost[$0][j] } }
            var result = [Int?](repeating: nil, count: rows)
            for (j, i) in solve(transposed).enumerated() { if let i { result[i] = j } }
            return result
        }
        // 1-based arrays, column 0 a sentinel (the classic formulation).
        var u = [Double](repeating: 0, count: rows + 1)
        var v = [Double](repeating: 0, count: columns + 1)
        var owner = [Int](repeating: 0, count: columns + 1)
        var way = [Int](repeating: 0, count: columns + 1)
        for i in 1...rows {
            owner[0] = i
            var j0 = 0
            var least = [Double](repeating: .infinity, count: columns + 1)
            var used = [Bool](repeating: false, count: columns + 1)
            repeat {
                used[j0] = true
                let i0 = owner[j0]
                var delta = Double.infinity
                var j1 = 0
                for j in 1...columns where !used[j] {
                    let reduced = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if reduced < least[j] { least[j] = reduced; way[j] = j0 }
                    if least[j] < delta { delta = least[j]; j1 = j }
                }
                for j in 0...columns {
                    if used[j] {
                        u[owner[j]] += delta
                        v[j] -= delta
                    } else {
                        least[j] -= delta
                    }
                }
                j0 = j1
            } while owner[j0] != 0
            repeat {
                let j1 = way[j0]
                owner[j0] = owner[j1]
                j0 = j1
            } while j0 != 0
        }
        var result = [Int?](repeating: nil, count: rows)
        for j in 1...columns where owner[j] != 0 { result[owner[j] - 1] = j - 1 }
        return result
    }
}
