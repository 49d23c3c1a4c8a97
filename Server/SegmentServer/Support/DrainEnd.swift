import Foundation
import Synchronization

/// The end of the shutdown's drain, signalled just before `--drain-seconds` run out, while
/// connections are still open: calls still running then stop and answer UNAVAILABLE (which the
/// documented retry policy sends again), instead of being reset with the connection a moment
/// later (which a client sees as CANCELLED and does not retry).
final class DrainDeadline: Sendable {
    private struct State {
        var ended = false
        var waiters: [UUID: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    var hasEnded: Bool { state.withLock { $0.ended } }

    func end() {
        let waiters = state.withLock { state in
            state.ended = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns when the drain ends, or when the waiting task is cancelled.
    func untilEnded() async {
        let token = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.ended || Task.isCancelled { return true }
                    state.waiters[token] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: token) }?.resume()
        }
    }

    /// `body`, stopped with CancellationError if the drain ends first.
    func stopping<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                await self.untilEnded()
                if Task.isCancelled { return nil }
                throw CancellationError()
            }
            defer { group.cancelAll() }
            while let outcome = try await group.next() {
                if let value = outcome { return value }
            }
            throw CancellationError()
        }
    }

    /// How long before `--drain-seconds` run out the drain ends: time for calls to answer.
    static func margin(drainSeconds: Int) -> Duration {
        .milliseconds(min(1000, drainSeconds * 250))
    }
}
