import Dispatch

/// Data-parallel loops for the CPU-heavy kernels.
///
/// Work is cut into chunks whose boundaries depend only on the problem size, never on the
/// number of cores, and partial results are combined in chunk order: results are bit-for-bit
/// the same on any machine. `concurrentPerform` runs on its own worker threads, so callers
/// should invoke the engine from a dedicated thread (the server's training workers), not from
/// the cooperative pool that serves requests.
enum Parallel {
    /// Rows per chunk for row-wise kernels.
    static let rowsPerChunk = 4096

    static func chunkCount(rows: Int, rowsPerChunk: Int = rowsPerChunk) -> Int {
        max(1, (rows + rowsPerChunk - 1) / rowsPerChunk)
    }

    static func chunkRange(_ chunk: Int, rows: Int, rowsPerChunk: Int = rowsPerChunk) -> Range<Int>
    {
        let start = chunk * rowsPerChunk
        return start..<min(rows, start + rowsPerChunk)
    }

    /// Runs `body(i)` for every `i` in `0..<count`, on all cores when there is more than one.
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count == 1 { body(0); return }
        // Each iteration writes only its own chunk's slots, so sharing `body` across threads is safe.
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: count) { shared.value($0) }
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Lets long computations stop early when their job is cancelled.
public struct CancellationCheck: Sendable {
    private let check: @Sendable () -> Bool

    public init(_ check: @escaping @Sendable () -> Bool) { self.check = check }

    public static let never = CancellationCheck { false }

    public var isCancelled: Bool { check() }

    public func throwIfCancelled() throws {
        if check() { throw CancellationError() }
    }
}
