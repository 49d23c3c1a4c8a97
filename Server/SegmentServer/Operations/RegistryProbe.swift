import Synchronization

/// Asks the registry whether it answers, within a time limit. A probe that hangs (a lock held
/// elsewhere, a stuck disk) counts as a failure when its time is up, and no second probe starts
/// while one is still out, so a registry that never answers costs one waiting task, not one per probe.
final class RegistryProbe: Sendable {
    private let registry: any Registry
    private let timeout: Duration
    private let outstanding = Atomic<Bool>(false)

    init(registry: any Registry, timeout: Duration) {
        self.registry = registry
        self.timeout = timeout
    }

    /// nil when the registry answered in time; otherwise why not.
    func problem() async -> String? {
        guard
            outstanding.compareExchange(
                expected: false, desired: true, ordering: .acquiringAndReleasing
            ).exchanged
        else {
            return "the previous probe has not answered yet"
        }
        let answer = FirstAnswer()
        return await withCheckedContinuation { continuation in
            answer.await(continuation)
            let timer = Task { [timeout] in
                try await Task.sleep(for: timeout)
                answer.give("no answer within \(timeout)")
            }
            Task { [self] in
                var problem: String?
                do { try await registry.probe() } catch { problem = "\(error)" }
                self.outstanding.store(false, ordering: .releasing)
                timer.cancel()
                answer.give(problem)
            }
        }
    }
}

/// Resumes a continuation with the first answer given; later ones are dropped.
private final class FirstAnswer: Sendable {
    private let waiting = Mutex<CheckedContinuation<String?, Never>?>(nil)

    func await(_ continuation: CheckedContinuation<String?, Never>) {
        waiting.withLock { $0 = continuation }
    }

    func give(_ answer: String?) {
        waiting.withLock { waiting in
            waiting?.resume(returning: answer)
            waiting = nil
        }
    }
}
