import Foundation

/// The watchers of each job (WatchJob streams) and the fan-out of its updates to them. A value
/// the `JobManager` actor owns, so every change happens on the actor.
struct JobWatchers {
    private var streams: [String: [UUID: AsyncStream<JobUpdate>.Continuation]] = [:]

    /// A new watcher's stream, which gets `current` at once (and ends there if it is final), and
    /// the token that ends it early.
    mutating func add(_ current: JobUpdate) -> (updates: AsyncStream<JobUpdate>, token: UUID) {
        let (stream, continuation) = AsyncStream<JobUpdate>.makeStream(
            bufferingPolicy: .bufferingNewest(256))
        let token = UUID()
        continuation.yield(current)
        if current.isFinal {
            continuation.finish()
        } else {
            streams[current.job.id, default: [:]][token] = continuation
        }
        return (stream, token)
    }

    /// Whether the watcher is still there.
    func isWatching(_ id: String, _ token: UUID) -> Bool { streams[id]?[token] != nil }

    /// Sends one watcher an update; the final one ends its stream.
    mutating func send(_ update: JobUpdate, to token: UUID) {
        guard let continuation = streams[update.job.id]?[token] else { return }
        continuation.yield(update)
        if update.isFinal { end(update.job.id, token) }
    }

    /// Sends every watcher of the job an update; the final one ends their streams.
    mutating func publish(_ update: JobUpdate) {
        guard let continuations = streams[update.job.id] else { return }
        for continuation in continuations.values {
            continuation.yield(update)
            if update.isFinal { continuation.finish() }
        }
        if update.isFinal { streams[update.job.id] = nil }
    }

    /// Ends one watcher's stream (its client went away, or it heard the end).
    mutating func end(_ id: String, _ token: UUID) {
        streams[id]?.removeValue(forKey: token)?.finish()
        if streams[id]?.isEmpty == true { streams[id] = nil }
    }
}
