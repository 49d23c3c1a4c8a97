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
