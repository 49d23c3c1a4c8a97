import Foundation

/// Runs CPU-heavy work (parsing an upload, training) on a thread of its own, so the
/// cooperative pool that serves RPCs is never blocked by it.
enum OffPool {
    static func run<T: Sendable>(name: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
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

/// At most `slots` bodies at once, the rest waiting in arrival order: bounds the threads that
/// large Score requests take, however many arrive together.
actor WorkSlots {
    private let slots: Int
    private var busy = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(slots: Int) { self.slots = max(1, slots) }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy < slots { busy += 1 } else { await withCheckedContinuation { waiting.append($0) } }
        defer { release() }
        return try await body()
    }

    /// Hands the slot to the next waiter, or frees it.
    private func release() {
        if waiting.isEmpty { busy -= 1 } else { waiting.removeFirst().resume() }
    }
}
