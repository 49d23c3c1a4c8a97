import Foundation
import GRPCCore

/// Runs CPU-heavy work (parsing an upload, training) on a thread of its own, so the
/// cooperative pool that serves RPCs is never blocked by it.
enum OffPool {
    static func run<T: Sendable>(
        name: String, _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try work() })
            }
            thread.name = name
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}

/// At most `slots` bodies at once, the rest waiting in arrival order, and at most
/// `maximumWaiting` of those (more are refused with RESOURCE_EXHAUSTED): bounds the threads and
/// the memory that large Score requests take, however many arrive together.
actor WorkSlots {
    private let slots: Int
    private let maximumWaiting: Int
    private let whenFull: String
    private var busy = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(slots: Int, maximumWaiting: Int, whenFull: String) {
        self.slots = max(1, slots)
        self.maximumWaiting = maximumWaiting
        self.whenFull = whenFull
    }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy < slots {
            busy += 1
        } else {
            guard waiting.count < maximumWaiting else { throw Refusal.scoringBusy(whenFull) }
            await withCheckedContinuation { waiting.append($0) }
        }
        defer { release() }
        return try await body()
    }

    /// Hands the slot to the next waiter, or frees it.
    private func release() {
        if waiting.isEmpty { busy -= 1 } else { waiting.removeFirst().resume() }
    }
}
