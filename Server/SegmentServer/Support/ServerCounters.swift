import Synchronization

/// Counts of what the server did that a log line alone would not prove (tests read them; the
/// operations issue exports them as metrics).
public final class ServerCounters: Sendable {
    private let stoppedScores = Atomic<Int>(0)

    public init() {}

    /// Score calls whose work stopped part-way because the call was cancelled or passed its deadline.
    public var scoresStoppedEarly: Int { stoppedScores.load(ordering: .relaxed) }

    func scoreStoppedEarly() { stoppedScores.add(1, ordering: .relaxed) }
}
