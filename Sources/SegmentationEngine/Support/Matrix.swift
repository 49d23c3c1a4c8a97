/// A dense row-major matrix of `Double`: one row per customer, one column per feature.
///
/// Kept as a single contiguous array so the clustering and metric kernels can walk it with
/// unsafe pointers and no per-row allocation.
public struct Matrix: Sendable, Equatable, Codable {
    public let rows: Int
    public let columns: Int
    /// `rows * columns` values, row after row.
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "matrix storage does not match its shape")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(rows: Int, columns: Int, repeating value: Double = 0) {
        self.init(
            rows: rows, columns: columns, values: Array(repeating: value, count: rows * columns))
    }

    /// Builds a matrix from an array of equally long rows.
    public init(rowArrays: [[Double]]) {
        let columns = rowArrays.first?.count ?? 0
        precondition(rowArrays.allSatisfy { $0.count == columns }, "rows of different lengths")
        self.init(rows: rowArrays.count, columns: columns, values: rowArrays.flatMap { $0 })
    }

    /// Throws when a value is NaN or infinite: distances and densities would be meaningless.
    func requireFinite() throws {
        guard values.allSatisfy(\.isFinite) else {
            throw ClusteringError.invalidParameter(
                "the data holds a value that is not a finite number (NaN or infinity)")
        }
    }

    public subscript(row: Int, column: Int) -> Double {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }

    public func row(_ index: Int) -> ArraySlice<Double> {
        values[(index * columns)..<((index + 1) * columns)]
    }

    public func column(_ index: Int) -> [Double] {
        (0..<rows).map { values[$0 * columns + index] }
    }

    /// The rows at the given indices, in that order.
    public func selecting(rows indices: [Int]) -> Matrix {
        var out = [Double]()
        out.reserveCapacity(indices.count * columns)
        for index in indices { out.append(contentsOf: row(index)) }
        return Matrix(rows: indices.count, columns: columns, values: out)
    }

    /// The columns at the given indices, in that order.
    public func selecting(columns indices: [Int]) -> Matrix {
        var out = [Double]()
        out.reserveCapacity(rows * indices.count)
        for r in 0..<rows { for c in indices { out.append(values[r * columns + c]) } }
        return Matrix(rows: rows, columns: indices.count, values: out)
    }
}

/// Squared Euclidean distance between two points of dimension `count`. Four and eight
/// dimensions (the RFM features, a typical customer table) take a SIMD path.
@inline(__always)
func squaredDistance(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ count: Int) -> Double
{
    if count == 4 {
        let diff =
            UnsafeRawPointer(a).loadUnaligned(as: SIMD4<Double>.self)
            - UnsafeRawPointer(b).loadUnaligned(as: SIMD4<Double>.self)
        return (diff * diff).sum()
    }
    if count == 8 {
        let diff =
            UnsafeRawPointer(a).loadUnaligned(as: SIMD8<Double>.self)
            - UnsafeRawPointer(b).loadUnaligned(as: SIMD8<Double>.self)
        return (diff * diff).sum()
    }
    var sum = 0.0
    for j in 0..<count {
        let diff = a[j] - b[j]
        sum += diff * diff
    }
    return sum
}
