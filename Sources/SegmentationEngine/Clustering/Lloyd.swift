import Foundation

/// The k-means kernels: k-means++ seeding and Lloyd iterations over a row-major matrix.
/// Row chunks run in parallel (when `parallel`), each with its own partial sums, combined in
/// chunk order so results do not depend on the number of cores.
struct Lloyd {
    let x: Matrix
    let parallel: Bool

    private var n: Int { x.rows }
    private var d: Int { x.columns }

    // MARK: Seeding

    /// Greedy k-means++ as scikit-learn does it: each new centre is the best, by resulting
    /// potential, of `2 + ln k` candidates drawn with probability proportional to D(x)^2.
    /// One pass over the data per step scores all candidates at once and keeps their D^2 arrays,
    /// so the chosen one becomes the new D^2 without another pass (the data is read k times).
    func kMeansPlusPlus(k: Int, generator: inout SeededGenerator) -> Matrix {
        var centers = Matrix(rows: k, columns: d)
        let first = min(n - 1, Int(generator.nextUnit() * Double(n)))
        copyRow(first, into: &centers, at: 0)
        let trials = 2 + Int(log(Double(k)))
        let chunks = Parallel.chunkCount(rows: n)
        var closest = [Double](repeating: 0, count: n)
        var candidateDistances = [Double](repeating: 0, count: trials * n)
        var partial = [Double](repeating: 0, count: chunks * trials)
        x.values.withUnsafeBufferPointer { xs in
            closest.withUnsafeMutableBufferPointer { out in
                let center = xs.baseAddress! + first * d
                forEachChunk(chunks) { chunk in
                    for i in Parallel.chunkRange(chunk, rows: n) { out[i] = squaredDistance(xs.baseAddress! + i * d, center, d) }
                }
            }
        }
        var potential = closest.reduce(0, +)
        for c in 1..<k {
            let targets = (0..<trials).map { _ in generator.nextUnit() * potential }
            let candidates = Self.searchCumulative(closest, targets)
            x.values.withUnsafeBufferPointer { xs in
                closest.withUnsafeBufferPointer { near in
                    candidateDistances.withUnsafeMutableBufferPointer { out in
                        partial.withUnsafeMutableBufferPointer { sums in
                            forEachChunk(chunks) { chunk in
                                for t in 0..<trials {
                                    let center = xs.baseAddress! + candidates[t] * d
                                    let row = out.baseAddress! + t * n
                                    var sum = 0.0
                                    for i in Parallel.chunkRange(chunk, rows: n) {
                                        let value = min(near[i], squaredDistance(xs.baseAddress! + i * d, center, d))
                                        row[i] = value
                                        sum += value
                                    }
                                    sums[chunk * trials + t] = sum
                                }
                            }
                        }
                    }
                }
            }
            let potentials = (0..<trials).map { t in (0..<chunks).reduce(0.0) { $0 + partial[$1 * trials + t] } }
            var best = 0
            for t in 1..<trials where potentials[t] < potentials[best] { best = t }
            potential = potentials[best]
            closest.withUnsafeMutableBufferPointer { out in
                candidateDistances.withUnsafeBufferPointer { source in
                    out.baseAddress!.update(from: source.baseAddress! + best * n, count: n)
                }
            }
            copyRow(candidates[best], into: &centers, at: c)
        }
        return centers
    }

    /// For each target, the first index whose running sum of `weights` reaches it (numpy's
    /// `searchsorted(cumsum(weights), target)`), clipped to the last index.
    static func searchCumulative(_ weights: [Double], _ targets: [Double]) -> [Int] {
        let order = targets.indices.sorted { targets[$0] < targets[$1] }
        var result = [Int](repeating: weights.count - 1, count: targets.count)
        var running = 0.0, i = 0
        for t in order {
            while i < weights.count {
                let next = running + weights[i]
                if next >= targets[t] { break }
                running = next
                i += 1
            }
            result[t] = min(i, weights.count - 1)
        }
        return result
    }

    // MARK: Lloyd

    /// Lloyd iterations with Hamerly's bounds (2010): each row keeps an upper bound on the
    /// distance to its centre and a lower bound on the distance to any other; a row whose bounds
    /// prove its centre is still the nearest is not measured again. Bounds are compared with a
    /// relative margin far above rounding error, so every assignment is the one plain Lloyd makes
    /// (the nearest centre, ties to the lower index), and centres are recomputed from all rows
    /// in chunk order: the results equal plain Lloyd's, with far fewer distances.
    func run(centers initial: Matrix, maxIterations: Int, tolerance: Double) -> Clustering {
        let k = initial.rows
        var centers = initial
        var labels = [Int32](repeating: -1, count: n)
        var iterations = 0
        let workspace = Workspace(chunks: Parallel.chunkCount(rows: n), k: k, d: d, rows: n)
        var step = Step(sums: [Double](repeating: 0, count: k * d), counts: [Int](repeating: 0, count: k), changed: 0)
        var moves = [Double](repeating: 0, count: k)
        for iteration in 0..<maxIterations {
            iterations = iteration + 1
            let bounds = BoundShifts(centers: centers, moves: moves)
            assignAndSum(centers: centers, labels: &labels, workspace: workspace, bounds: bounds, into: &step)
            relocateEmptyClusters(&step, centers: centers, labels: &labels, workspace: workspace)
            var shift = 0.0
            var next = centers
            for c in 0..<k {
                let count = step.counts[c]
                var moved = 0.0
                for j in 0..<d {
                    let old = centers.values[c * d + j]
                    let value = count > 0 ? step.sums[c * d + j] / Double(count) : old
                    moved += (value - old) * (value - old)
                    next.values[c * d + j] = value
                }
                shift += moved
                moves[c] = moved.squareRoot()
            }
            centers = next
            if step.changed == 0 { break }  // strict convergence: the labels did not move
            if shift <= tolerance { break }
        }
        // One exact pass: labels against the final centres, and the inertia.
        let inertia = assignFinal(centers: centers, labels: &labels)
        return Clustering(centroids: centers, labels: labels, inertia: inertia, iterations: iterations)
    }

    struct Step {
        var sums: [Double]
        var counts: [Int]
        var changed: Int
    }

    /// What one round of centre moves does to the bounds, and each centre's half distance to its
    /// nearest other centre.
    struct BoundShifts {
        var moves: [Double]
        var largestMove = 0.0, largestMover = -1, secondMove = 0.0
        var halfGap: [Double]

        init(centers: Matrix, moves: [Double]) {
            self.moves = moves
            for (c, move) in moves.enumerated() {
                if move > largestMove { secondMove = largestMove; largestMove = move; largestMover = c }
                else if move > secondMove { secondMove = move }
            }
            let k = centers.rows
            halfGap = [Double](repeating: .infinity, count: k)
            centers.values.withUnsafeBufferPointer { cs in
                for a in 0..<k {
                    for b in (a + 1)..<max(a + 1, k) {
                        let gap = squaredDistance(cs.baseAddress! + a * centers.columns, cs.baseAddress! + b * centers.columns,
                                                  centers.columns).squareRoot() / 2
                        halfGap[a] = min(halfGap[a], gap)
                        halfGap[b] = min(halfGap[b], gap)
                    }
                }
            }
        }

        /// How far the lower bound of a row assigned to `c` must drop.
        @inline(__always) func lowerDrop(_ c: Int) -> Double { c == largestMover ? secondMove : largestMove }
    }

    /// Relative slack on bound tests: rounding errors are ~1e-16 per operation, so a skip is only
    /// taken when the nearest centre wins by far more than arithmetic could blur.
    private static let margin = 1e-9

    /// Per-chunk partial results of an assignment pass and the per-row bounds, allocated once per run.
    private final class Workspace {
        let chunks: Int
        let sums: UnsafeMutableBufferPointer<Double>
        let counts: UnsafeMutableBufferPointer<Int>
        let moved: UnsafeMutableBufferPointer<Int>
        let upper: UnsafeMutableBufferPointer<Double>
        let lower: UnsafeMutableBufferPointer<Double>

        init(chunks: Int, k: Int, d: Int, rows: Int) {
            self.chunks = chunks
            sums = .allocate(capacity: chunks * k * d)
            counts = .allocate(capacity: chunks * k)
            moved = .allocate(capacity: chunks)
            upper = .allocate(capacity: rows)
            upper.initialize(repeating: .infinity)
            lower = .allocate(capacity: rows)
            lower.initialize(repeating: 0)
        }

        deinit {
            sums.deallocate(); counts.deallocate(); moved.deallocate(); upper.deallocate(); lower.deallocate()
        }
    }

    /// Assigns every row to its nearest centre (measuring only rows whose bounds do not settle it)
    /// and sums rows per cluster.
    private func assignAndSum(centers: Matrix, labels: inout [Int32], workspace: Workspace, bounds: BoundShifts,
                              into step: inout Step) {
        let k = centers.rows
        let d = self.d, n = self.n
        let margin = Self.margin
        let centreLanes = CentreLanes(centers)
        x.values.withUnsafeBufferPointer { xs in
            centers.values.withUnsafeBufferPointer { cs in
              centreLanes.lanes.withUnsafeBufferPointer { laneValues in
                labels.withUnsafeMutableBufferPointer { ls in
                    forEachChunk(workspace.chunks) { chunk in
                        let sum = workspace.sums.baseAddress! + chunk * k * d
                        let count = workspace.counts.baseAddress! + chunk * k
                        sum.initialize(repeating: 0, count: k * d)
                        count.initialize(repeating: 0, count: k)
                        var moved = 0
                        for i in Parallel.chunkRange(chunk, rows: n) {
                            let row = xs.baseAddress! + i * d
                            var assigned = Int(ls[i])
                            if assigned >= 0 {
                                workspace.upper[i] += bounds.moves[assigned]
                                workspace.lower[i] -= bounds.lowerDrop(assigned)
                            }
                            let limit = max(assigned >= 0 ? bounds.halfGap[assigned] : 0, workspace.lower[i]) * (1 - margin)
                            if assigned < 0 || workspace.upper[i] * (1 + margin) > limit {
                                let tight = assigned >= 0
                                    ? squaredDistance(row, cs.baseAddress! + assigned * d, d).squareRoot() : Double.infinity
                                workspace.upper[i] = tight
                                if assigned < 0 || tight * (1 + margin) > limit {
                                    let (best, bestDistance, secondDistance) = nearestTwo(row, centreLanes, laneValues.baseAddress!)
                                    if best != assigned { moved += 1; ls[i] = Int32(best); assigned = best }
                                    workspace.upper[i] = bestDistance.squareRoot()
                                    workspace.lower[i] = secondDistance.squareRoot()
                                }
                            }
                            count[assigned] += 1
                            let target = sum + assigned * d
                            for j in 0..<d { target[j] += row[j] }
                        }
                        workspace.moved[chunk] = moved
                    }
                }
              }
            }
        }
        // Combined in chunk order: the same sums whatever the number of cores.
        for index in 0..<(k * d) { step.sums[index] = 0 }
        for c in 0..<k { step.counts[c] = 0 }
        step.changed = 0
        for chunk in 0..<workspace.chunks {
            for index in 0..<(k * d) { step.sums[index] += workspace.sums[chunk * k * d + index] }
            for c in 0..<k { step.counts[c] += workspace.counts[chunk * k + c] }
            step.changed += workspace.moved[chunk]
        }
    }

    /// Centres laid out across SIMD lanes: block b, coordinate j holds coordinate j of centres
    /// 8b...8b+7, so one row's distances to eight centres take d vector steps. Unused lanes hold
    /// a far-away centre that never wins.
    struct CentreLanes {
        let k: Int
        let blocks: Int
        var lanes: [SIMD8<Double>]

        init(_ centers: Matrix) {
            k = centers.rows
            blocks = (k + 7) / 8
            let d = centers.columns
            lanes = [SIMD8<Double>](repeating: SIMD8(repeating: 1e150), count: blocks * d)
            for c in 0..<k {
                for j in 0..<d { lanes[(c / 8) * d + j][c % 8] = centers.values[c * d + j] }
            }
        }
    }

    /// The nearest centre (ties to the lower index), its squared distance, and the runner-up's.
    @inline(__always)
    private func nearestTwo(_ row: UnsafePointer<Double>, _ centres: borrowing CentreLanes,
                            _ lanes: UnsafePointer<SIMD8<Double>>) -> (Int, Double, Double) {
        var best = 0
        var bestDistance = Double.infinity, secondDistance = Double.infinity
        for block in 0..<centres.blocks {
            var squared = SIMD8<Double>.zero
            let base = lanes + block * d
            for j in 0..<d {
                let diff = base[j] - SIMD8(repeating: row[j])
                squared += diff * diff
            }
            for lane in 0..<min(8, centres.k - block * 8) {
                let distance = squared[lane]
                if distance < bestDistance {
                    secondDistance = bestDistance
                    bestDistance = distance
                    best = block * 8 + lane
                } else if distance < secondDistance {
                    secondDistance = distance
                }
            }
        }
        return (best, bestDistance, secondDistance)
    }

    /// Empty clusters take the rows farthest from their current centres (scikit-learn's rule).
    private func relocateEmptyClusters(_ step: inout Step, centers: Matrix, labels: inout [Int32], workspace: Workspace) {
        let empty = step.counts.indices.filter { step.counts[$0] == 0 }
        guard !empty.isEmpty else { return }
        let distances = (0..<n).map { i in
            x.values.withUnsafeBufferPointer { xs in
                centers.values.withUnsafeBufferPointer { cs in
                    squaredDistance(xs.baseAddress! + i * d, cs.baseAddress! + Int(labels[i]) * d, d)
                }
            }
        }
        let farthest = distances.indices.sorted {
            distances[$0] > distances[$1] || (distances[$0] == distances[$1] && $0 < $1)
        }.prefix(empty.count)
        for (cluster, row) in zip(empty, farthest) {
            let old = Int(labels[row])
            for j in 0..<d {
                step.sums[old * d + j] -= x[row, j]
                step.sums[cluster * d + j] = x[row, j]
            }
            step.counts[old] -= 1
            step.counts[cluster] = 1
            labels[row] = Int32(cluster)
            workspace.upper[row] = .infinity  // measured again next pass
            workspace.lower[row] = 0
            step.changed += 1
        }
    }

    /// Labels against the final centres, and the inertia.
    private func assignFinal(centers: Matrix, labels: inout [Int32]) -> Double {
        let chunks = Parallel.chunkCount(rows: n)
        var partial = [Double](repeating: 0, count: chunks)
        let centreLanes = CentreLanes(centers)
        x.values.withUnsafeBufferPointer { xs in
            centreLanes.lanes.withUnsafeBufferPointer { cs in
                labels.withUnsafeMutableBufferPointer { ls in
                    partial.withUnsafeMutableBufferPointer { sums in
                        forEachChunk(chunks) { chunk in
                            var sum = 0.0
                            for i in Parallel.chunkRange(chunk, rows: n) {
                                let (best, distance, _) = nearestTwo(xs.baseAddress! + i * d, centreLanes, cs.baseAddress!)
                                ls[i] = Int32(best)
                                sum += distance
                            }
                            sums[chunk] = sum
                        }
                    }
                }
            }
        }
        return partial.reduce(0, +)
    }

    private func forEachChunk(_ chunks: Int, _ body: (Int) -> Void) {
        if parallel { Parallel.forEach(chunks, body) } else { for chunk in 0..<chunks { body(chunk) } }
    }

    private func copyRow(_ row: Int, into centers: inout Matrix, at index: Int) {
        for j in 0..<d { centers[index, j] = x[row, j] }
    }
}
