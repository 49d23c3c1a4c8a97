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
    func kMeansPlusPlus(k: Int, generator: inout SeededGenerator) -> Matrix {
        var centers = Matrix(rows: k, columns: d)
        let first = min(n - 1, Int(generator.nextUnit() * Double(n)))
        copyRow(first, into: &centers, at: 0)
        var closest = [Double](repeating: 0, count: n)
        x.values.withUnsafeBufferPointer { xs in
            closest.withUnsafeMutableBufferPointer { out in
                let center = xs.baseAddress! + first * d
                for i in 0..<n { out[i] = squaredDistance(xs.baseAddress! + i * d, center, d) }
            }
        }
        var potential = closest.reduce(0, +)
        let trials = 2 + Int(log(Double(k)))
        for c in 1..<k {
            let targets = (0..<trials).map { _ in generator.nextUnit() * potential }
            let candidates = Self.searchCumulative(closest, targets)
            let potentials = candidates.map { potentialWith(candidate: $0, closest: closest) }
            var best = 0
            for t in 1..<trials where potentials[t] < potentials[best] { best = t }
            potential = potentials[best]
            let chosen = candidates[best]
            x.values.withUnsafeBufferPointer { xs in
                closest.withUnsafeMutableBufferPointer { out in
                    let center = xs.baseAddress! + chosen * d
                    for i in 0..<n { out[i] = min(out[i], squaredDistance(xs.baseAddress! + i * d, center, d)) }
                }
            }
            copyRow(chosen, into: &centers, at: c)
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

    /// Sum over rows of min(current closest D^2, D^2 to the candidate).
    private func potentialWith(candidate: Int, closest: [Double]) -> Double {
        let chunks = Parallel.chunkCount(rows: n)
        var partial = [Double](repeating: 0, count: chunks)
        x.values.withUnsafeBufferPointer { xs in
            closest.withUnsafeBufferPointer { near in
                partial.withUnsafeMutableBufferPointer { sums in
                    let center = xs.baseAddress! + candidate * d
                    forEachChunk(chunks) { chunk in
                        var sum = 0.0
                        for i in Parallel.chunkRange(chunk, rows: n) {
                            sum += min(near[i], squaredDistance(xs.baseAddress! + i * d, center, d))
                        }
                        sums[chunk] = sum
                    }
                }
            }
        }
        return partial.reduce(0, +)
    }

    // MARK: Lloyd

    func run(centers initial: Matrix, maxIterations: Int, tolerance: Double) -> Clustering {
        let k = initial.rows
        var centers = initial
        var labels = [Int32](repeating: -1, count: n)
        var iterations = 0
        for iteration in 0..<maxIterations {
            iterations = iteration + 1
            var step = assignAndSum(centers: centers, labels: &labels)
            relocateEmptyClusters(&step, centers: centers, labels: &labels)
            var shift = 0.0
            var next = centers
            for c in 0..<k {
                let count = step.counts[c]
                for j in 0..<d {
                    let value = count > 0 ? step.sums[c * d + j] / Double(count) : centers[c, j]
                    let delta = value - centers[c, j]
                    shift += delta * delta
                    next[c, j] = value
                }
            }
            centers = next
            if step.changed == 0 { break }  // strict convergence: labels did not move
            if shift <= tolerance { break }
        }
        // One last assignment so labels match the final centres (a no-op after strict convergence).
        let inertia = assignFinal(centers: centers, labels: &labels)
        return Clustering(centroids: centers, labels: labels, inertia: inertia, iterations: iterations)
    }

    struct Step {
        var sums: [Double]
        var counts: [Int]
        var changed: Int
    }

    /// Assigns every row to its nearest centre and sums rows per cluster.
    private func assignAndSum(centers: Matrix, labels: inout [Int32]) -> Step {
        let k = centers.rows
        let chunks = Parallel.chunkCount(rows: n)
        var sums = [Double](repeating: 0, count: chunks * k * d)
        var counts = [Int](repeating: 0, count: chunks * k)
        var changed = [Int](repeating: 0, count: chunks)
        x.values.withUnsafeBufferPointer { xs in
            centers.values.withUnsafeBufferPointer { cs in
                labels.withUnsafeMutableBufferPointer { ls in
                    sums.withUnsafeMutableBufferPointer { ss in
                        counts.withUnsafeMutableBufferPointer { ns in
                            changed.withUnsafeMutableBufferPointer { ch in
                                forEachChunk(chunks) { chunk in
                                    let sum = ss.baseAddress! + chunk * k * d
                                    let count = ns.baseAddress! + chunk * k
                                    var moved = 0
                                    for i in Parallel.chunkRange(chunk, rows: n) {
                                        let row = xs.baseAddress! + i * d
                                        let (best, _) = nearest(row, cs.baseAddress!, k)
                                        if ls[i] != Int32(best) { moved += 1; ls[i] = Int32(best) }
                                        count[best] += 1
                                        let target = sum + best * d
                                        for j in 0..<d { target[j] += row[j] }
                                    }
                                    ch[chunk] = moved
                                }
                            }
                        }
                    }
                }
            }
        }
        var total = Step(sums: [Double](repeating: 0, count: k * d), counts: [Int](repeating: 0, count: k),
                         changed: changed.reduce(0, +))
        for chunk in 0..<chunks {
            for index in 0..<(k * d) { total.sums[index] += sums[chunk * k * d + index] }
            for c in 0..<k { total.counts[c] += counts[chunk * k + c] }
        }
        return total
    }

    /// Empty clusters take the rows farthest from their current centres (scikit-learn's rule).
    private func relocateEmptyClusters(_ step: inout Step, centers: Matrix, labels: inout [Int32]) {
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
            step.changed += 1
        }
    }

    /// Labels against the final centres, and the inertia.
    private func assignFinal(centers: Matrix, labels: inout [Int32]) -> Double {
        let k = centers.rows
        let chunks = Parallel.chunkCount(rows: n)
        var partial = [Double](repeating: 0, count: chunks)
        x.values.withUnsafeBufferPointer { xs in
            centers.values.withUnsafeBufferPointer { cs in
                labels.withUnsafeMutableBufferPointer { ls in
                    partial.withUnsafeMutableBufferPointer { sums in
                        forEachChunk(chunks) { chunk in
                            var sum = 0.0
                            for i in Parallel.chunkRange(chunk, rows: n) {
                                let (best, distance) = nearest(xs.baseAddress! + i * d, cs.baseAddress!, k)
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

    @inline(__always)
    private func nearest(_ row: UnsafePointer<Double>, _ centers: UnsafePointer<Double>, _ k: Int) -> (Int, Double) {
        var best = 0
        var bestDistance = Double.infinity
        for c in 0..<k {
            let distance = squaredDistance(row, centers + c * d, d)
            if distance < bestDistance { bestDistance = distance; best = c }
        }
        return (best, bestDistance)
    }

    private func forEachChunk(_ chunks: Int, _ body: (Int) -> Void) {
        if parallel { Parallel.forEach(chunks, body) } else { for chunk in 0..<chunks { body(chunk) } }
    }

    private func copyRow(_ row: Int, into centers: inout Matrix, at index: Int) {
        for j in 0..<d { centers[index, j] = x[row, j] }
    }
}
