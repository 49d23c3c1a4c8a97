import Foundation

/// DBSCAN's core customers bucketed into cells a hair wider than eps, so "the nearest core
/// customer within eps" compares a customer with the cores of its 3^d surrounding cells instead
/// of every core: any core within eps lies in one of them. The cells are wider than eps by a
/// millionth so that a core at exactly eps (eps from the knee is itself a distance between two
/// customers) never lands two cells away through the division's rounding; a customer's cell
/// number is clamped, so a customer far outside the data (any finite value) cannot overflow it. Built once per model (at training or when a
/// stored model is decoded), read by many scoring calls. Up to 6 dimensions (3^6 = 729 cells);
/// beyond that, or with coordinates too large for a cell number, there is no grid and callers
/// compare with every core.
struct CoreGrid: Sendable {
    typealias Cell = SIMD8<Int32>

    static let maximumDimensions = 6
    /// Below this many cores comparing with all of them is as fast as looking cells up.
    static let minimumCores = 512

    let eps: Double
    /// The cell width: eps and a millionth.
    let width: Double
    let d: Int
    /// Core indices grouped by cell (ascending within a cell); `cells` maps a cell to its slice.
    private let order: [Int32]
    private let cells: [Cell: Range<Int>]
    private let offsets: [Cell]

    init?(_ points: Matrix, eps: Double) {
        let d = points.columns
        guard d >= 1, d <= Self.maximumDimensions, points.rows >= Self.minimumCores, eps > 0,
            points.values.allSatisfy({ abs($0 / eps) < Self.limit / 2 })
        else { return nil }
        self.eps = eps
        let width = eps * (1 + 1e-6)
        self.width = width
        self.d = d
        let keys = (0..<points.rows).map { row in
            points.values.withUnsafeBufferPointer {
                Self.cell(of: $0.baseAddress! + row * d, d, width)
            }
        }
        let sorted = (0..<points.rows).sorted {
            keys[$0] == keys[$1] ? $0 < $1 : Self.precedes(keys[$0], keys[$1])
        }
        var cells: [Cell: Range<Int>] = [:]
        var start = 0
        for i in 1...sorted.count where i == sorted.count || keys[sorted[i]] != keys[sorted[start]]
        {
            cells[keys[sorted[start]]] = start..<i
            start = i
        }
        self.order = sorted.map { Int32($0) }
        self.cells = cells
        var offsets: [Cell] = [Cell()]
        for j in 0..<d {
            offsets = offsets.flatMap { base in
                (-1...1).map { step in
                    var cell = base; cell[j] = Int32(step); return cell
                }
            }
        }
        self.offsets = offsets
    }

    /// The nearest core within eps (ties to the lower core index, as a scan of every core), or nil.
    func nearestWithin(
        _ row: UnsafePointer<Double>, cores: UnsafePointer<Double>
    ) -> (core: Int, squaredDistance: Double)? {
        let home = Self.cell(of: row, d, width)
        let within = eps * eps
        var best: (core: Int, squaredDistance: Double)?
        for offset in offsets {
            guard let range = cells[home &+ offset] else { continue }
            for i in range {
                let core = Int(order[i])
                let distance = squaredDistance(row, cores + core * d, d)
                guard distance <= within else { continue }
                if let current = best,
                    distance > current.squaredDistance
                        || (distance == current.squaredDistance && core > current.core)
                {
                    continue
                }
                best = (core, distance)
            }
        }
        return best
    }

    /// Cell numbers stay within ±limit, so a neighbour offset never overflows; cores lie within
    /// half of it, so a clamped customer (beyond every core by far more than eps) finds none.
    private static let limit = Double(Int32.max - 2)

    private static func cell(of row: UnsafePointer<Double>, _ d: Int, _ width: Double) -> Cell {
        var cell = Cell()
        for j in 0..<d { cell[j] = Int32(max(-limit, min(limit, (row[j] / width).rounded(.down)))) }
        return cell
    }

    private static func precedes(_ a: Cell, _ b: Cell) -> Bool {
        for j in 0..<8 where a[j] != b[j] { return a[j] < b[j] }
        return false
    }
}
