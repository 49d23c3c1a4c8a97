/// Lloyd's assignment step over a range of rows, eight rows at a time: the rows' coordinates
/// are laid across SIMD lanes, so one vector step measures eight rows against one centre
/// coordinate, and the nearest centre is kept per lane without branches. Then each row's label
/// is stored and the row added to its cluster's sum and count (kept per lane, combined in a
/// fixed order: the results depend only on the rows, never on timing).
///
/// Distances are exact sums of squared differences taken coordinate by coordinate, in order,
/// so the labels and inertia do not depend on the vector width. Common feature counts get a
/// specialised copy of the loop (`FixedWidth`), whose coordinates the compiler unrolls.
struct BlockKernel {
    let xs: UnsafePointer<Double>
    let d: Int
    let centres: UnsafePointer<Double>
    let k: Int
    let labels: UnsafeMutablePointer<Int32>
    /// `k * d` per-cluster sums and `k` counts for these rows (overwritten).
    let sums: UnsafeMutablePointer<Double>
    let counts: UnsafeMutablePointer<Int>

    /// Labels the rows; returns how many labels changed and the rows' inertia.
    func run(rows: Range<Int>) -> (moved: Int, inertia: Double) {
        sums.initialize(repeating: 0, count: k * d)
        counts.initialize(repeating: 0, count: k)
        switch d {
        case 2: return run(rows, Width2.self)
        case 3: return run(rows, Width3.self)
        case 4: return run(rows, Width4.self)
        case 5: return run(rows, Width5.self)
        case 6: return run(rows, Width6.self)
        case 8: return run(rows, Width8.self)
        default: return run(rows, AnyWidth.self)
        }
    }

    private func run<W: FixedWidth>(_ rows: Range<Int>, _: W.Type) -> (moved: Int, inertia: Double)
    {
        let d = W.count ?? self.d
        // Plain allocations, not closure-scoped ones: a closure would not be specialised.
        let columns = UnsafeMutablePointer<SIMD8<Double>>.allocate(capacity: d)
        // Per-lane sums and counts: consecutive rows never add to the same memory, so the adds
        // do not wait on each other; lanes are combined in lane order at the end.
        let laneSums = UnsafeMutablePointer<Double>.allocate(capacity: 8 * k * d)
        let laneCounts = UnsafeMutablePointer<Int>.allocate(capacity: 8 * k)
        laneSums.initialize(repeating: 0, count: 8 * k * d)
        laneCounts.initialize(repeating: 0, count: 8 * k)
        defer { columns.deallocate(); laneSums.deallocate(); laneCounts.deallocate() }
        var moved = 0
        var inertia = SIMD8<Double>.zero  // per lane over full blocks, then the last partial block
        var tailInertia = 0.0
        for start in stride(from: rows.lowerBound, to: rows.upperBound, by: 8) {
            let width = min(8, rows.upperBound - start)
            let block = xs + start * d
            if width == 8 {
                for j in 0..<d {
                    columns[j] = SIMD8(
                        block[j], block[d + j], block[2 * d + j], block[3 * d + j],
                        block[4 * d + j], block[5 * d + j], block[6 * d + j], block[7 * d + j])
                }
            } else {
                for j in 0..<d {
                    var column = SIMD8<Double>.zero
                    for lane in 0..<width { column[lane] = block[lane * d + j] }
                    columns[j] = column
                }
            }
            var best = SIMD8<Double>(repeating: .infinity)
            var nearest = SIMD8<Int64>.zero
            for c in 0..<k {
                let centre = centres + c * d
                var distance = SIMD8<Double>.zero
                for j in 0..<d {
                    let difference = columns[j] - SIMD8(repeating: centre[j])
                    distance += difference * difference
                }
                let closer = distance .< best  // strict: ties stay with the lower index
                best.replace(with: distance, where: closer)
                nearest.replace(with: Int64(c), where: closer)
            }
            if width == 8 {
                inertia += best
            } else {
                for lane in 0..<width { tailInertia += best[lane] }
            }
            for lane in 0..<width {
                let label = Int32(truncatingIfNeeded: nearest[lane])
                moved &+= labels[start + lane] != label ? 1 : 0
                labels[start + lane] = label
                let slot = lane * k + Int(label)
                laneCounts[slot] &+= 1
                add(block + lane * d, to: laneSums + slot * d, count: d)
            }
        }
        for c in 0..<k {
            for lane in 0..<8 {
                counts[c] &+= laneCounts[lane * k + c]
                for j in 0..<d { sums[c * d + j] += laneSums[(lane * k + c) * d + j] }
            }
        }
        return (moved, inertia.sum() + tailInertia)
    }
}

/// `sum[0..<count] += row[0..<count]`, one vector step for four or eight features.
@inline(__always)
private func add(_ row: UnsafePointer<Double>, to sum: UnsafeMutablePointer<Double>, count: Int) {
    switch count {
    case 4:
        let total =
            UnsafeRawPointer(sum).loadUnaligned(as: SIMD4<Double>.self)
            + UnsafeRawPointer(row).loadUnaligned(as: SIMD4<Double>.self)
        UnsafeMutableRawPointer(sum).storeBytes(of: total, as: SIMD4<Double>.self)
    case 8:
        let total =
            UnsafeRawPointer(sum).loadUnaligned(as: SIMD8<Double>.self)
            + UnsafeRawPointer(row).loadUnaligned(as: SIMD8<Double>.self)
        UnsafeMutableRawPointer(sum).storeBytes(of: total, as: SIMD8<Double>.self)
    default:
        for j in 0..<count { sum[j] += row[j] }
    }
}

/// A feature count fixed at compile time (so loops over coordinates unroll), or `nil` for any.
protocol FixedWidth { static var count: Int? { get } }
private enum Width2: FixedWidth { static var count: Int? { 2 } }
private enum Width3: FixedWidth { static var count: Int? { 3 } }
private enum Width4: FixedWidth { static var count: Int? { 4 } }
private enum Width5: FixedWidth { static var count: Int? { 5 } }
private enum Width6: FixedWidth { static var count: Int? { 6 } }
private enum Width8: FixedWidth { static var count: Int? { 8 } }
private enum AnyWidth: FixedWidth { static var count: Int? { nil } }
