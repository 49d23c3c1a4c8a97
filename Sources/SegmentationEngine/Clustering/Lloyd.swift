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
                    for i in Parallel.chunkRange(chunk, rows: n) {
                        out[i] = squaredDistance(xs.baseAddress! + i * d, center, d)
                    }
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
                                        let value = min(
                                            near[i],
                                            squaredDistance(xs.baseAddress! + i * d, center, d))
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
            let potentials = (0..<trials).map { t in
                (0..<chunks).reduce(0.0) { $0 + partial[$1 * trials + t] }
            }
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

    /// Lloyd iterations: assign every row to its nearest centre (ties to the lower index), move
    /// each centre to the mean of its rows, until no label changes or the centres move less than
    /// `tolerance` in total squared distance; then one exact pass for the final labels and inertia.
    /// Rows are measured eight at a time across SIMD lanes (see `BlockKernel`): on low-dimensional
    /// customer features that is faster than skipping rows with Hamerly's bounds (the previous kernel),
    /// whose per-row bookkeeping costs as much as the distances it saves (measured in BENCHMARKS.md).
    /// `cancellation` is read once per iteration (each a few milliseconds at most on customer
    /// data): a cancelled run stops early and its caller throws.
    func run(
        centers initial: Matrix, maxIterations: Int, tolerance: Double,
        cancellation: CancellationCheck = .never
    ) -> Clustering {
        let k = initial.rows
        var centers = initial
        var labels = [Int32](repeating: -1, count: n)
        var iterations = 0
        var step = Step(k: k, d: d, chunks: Parallel.chunkCount(rows: n))
        for iteration in 0..<maxIterations {
            if cancellation.isCancelled { break }
            iterations = iteration + 1
            assign(centers: centers, labels: &labels, into: &step)
            relocateEmptyClusters(&step, centers: centers, labels: &labels)
            var shift = 0.0
            var next = centers
            for c in 0..<k {
                let count = step.counts[c]
                for j in 0..<d {
                    let old = centers.values[c * d + j]
                    let value = count > 0 ? step.sums[c * d + j] / Double(count) : old
                    shift += (value - old) * (value - old)
                    next.values[c * d + j] = value
                }
            }
            centers = next
            if step.changed == 0 { break }  // strict convergence: the labels did not move
            if shift <= tolerance { break }
        }
        // One exact pass: labels against the final centres, and the inertia.
        assign(centers: centers, labels: &labels, into: &step)
        return Clustering(
            centroids: centers, labels: labels, inertia: step.inertia, iterations: iterations)
    }

    /// One assignment pass's results: per-cluster sums and counts, labels changed, inertia
    /// (against the centres the rows were assigned to). Per-chunk partials live in `partial`,
    /// allocated once per run and combined in chunk order so results do not depend on the cores.
    struct Step {
        var sums: [Double]
        var counts: [Int]
        var changed = 0
        var inertia = 0.0
        var partial: ChunkPartials

        init(k: Int, d: Int, chunks: Int) {
            sums = [Double](repeating: 0, count: k * d)
            counts = [Int](repeating: 0, count: k)
            partial = ChunkPartials(chunks: chunks, k: k, d: d)
        }
    }

    final class ChunkPartials {
        let chunks: Int
        let sums: UnsafeMutableBufferPointer<Double>
        let counts: UnsafeMutableBufferPointer<Int>
        let moved: UnsafeMutableBufferPointer<Int>
        let inertia: UnsafeMutableBufferPointer<Double>

        init(chunks: Int, k: Int, d: Int) {
            self.chunks = chunks
            sums = .allocate(capacity: chunks * k * d)
            counts = .allocate(capacity: chunks * k)
            moved = .allocate(capacity: chunks)
            inertia = .allocate(capacity: chunks)
        }

        deinit { sums.deallocate(); counts.deallocate(); moved.deallocate(); inertia.deallocate() }
    }

    /// Assigns every row to its nearest centre, sums rows per cluster, and measures the inertia.
    private func assign(centers: Matrix, labels: inout [Int32], into step: inout Step) {
        let k = centers.rows, d = self.d, n = self.n
        let partial = step.partial
        x.values.withUnsafeBufferPointer { xs in
            centers.values.withUnsafeBufferPointer { cs in
                labels.withUnsafeMutableBufferPointer { ls in
                    forEachChunk(partial.chunks) { chunk in
                        let kernel = BlockKernel(
                            xs: xs.baseAddress!, d: d, centres: cs.baseAddress!, k: k,
                            labels: ls.baseAddress!,
                            sums: partial.sums.baseAddress! + chunk * k * d,
                            counts: partial.counts.baseAddress! + chunk * k)
                        let (moved, inertia) = kernel.run(rows: Parallel.chunkRange(chunk, rows: n))
                        partial.moved[chunk] = moved
                        partial.inertia[chunk] = inertia
                    }
                }
            }
        }
        for index in 0..<(k * d) { step.sums[index] = 0 }
        for c in 0..<k { step.counts[c] = 0 }
        step.changed = 0
        step.inertia = 0
        for chunk in 0..<partial.chunks {
            for index in 0..<(k * d) { step.sums[index] += partial.sums[chunk * k * d + index] }
            for c in 0..<k { step.counts[c] += partial.counts[chunk * k + c] }
            step.changed += partial.moved[chunk]
            step.inertia += partial.inertia[chunk]
        }
    }

    /// Empty clusters take the rows farthest from their current centres (scikit-learn's rule).
    private func relocateEmptyClusters(_ step: inout Step, centers: Matrix, labels: inout [Int32]) {
        let empty = step.counts.indices.filter { step.counts[$0] == 0 }
        guard !empty.isEmpty else { return }
        let distances = (0..<n).map { i in
            x.values.withUnsafeBufferPointer { xs in
                centers.values.withUnsafeBufferPointer { cs in
                    squaredDistance(
                        xs.baseAddress! + i * d, cs.baseAddress! + Int(labels[i]) * d, d)
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

    private func forEachChunk(_ chunks: Int, _ body: (Int) -> Void) {
        if parallel {
            Parallel.forEach(chunks, body)
        } else {
            for chunk in 0..<chunks { body(chunk) }
        }
    }

    private func copyRow(_ row: Int, into centers: inout Matrix, at index: Int) {
        for j in 0..<d { centers[index, j] = x[row, j] }
    }
}
