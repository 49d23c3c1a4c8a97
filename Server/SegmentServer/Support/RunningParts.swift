import Synchronization

/// The long-lived parts of a server still running, and where its shutdown has got to: what a
/// shutdown that overruns its drain names in the log (and tests in their failure), instead of
/// hanging silently.
final class RunningParts: Sendable {
    private struct State {
        var parts: [String: Int] = [:]
        var shutdown = "not started"
    }

    private let state = Mutex(State())

    /// Runs `body` as the part `name`, listed while it runs.
    func run<T: Sendable>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        state.withLock { $0.parts[name, default: 0] += 1 }
        defer {
            state.withLock { state in
                state.parts[name, default: 1] -= 1
                if state.parts[name] == 0 { state.parts[name] = nil }
            }
        }
        return try await body()
    }

    /// Records the step the shutdown is at.
    func shutdown(at step: String) { state.withLock { $0.shutdown = step } }

    /// Whether a shutdown has begun (a cancellation before it comes from a part that failed).
    var shutdownStarted: Bool { state.withLock { $0.shutdown != "not started" } }

    var description: String {
        state.withLock { state in
            let parts = state.parts.keys.sorted()
            return
                "parts: \(parts.isEmpty ? "none" : parts.joined(separator: ", ")); shutdown: \(state.shutdown)"
        }
    }
}
