import Foundation
import Synchronization

/// Where submitted jobs wait until a server runs them. Chosen where the server is assembled:
/// `LocalJobQueue`, this server's own, in memory; or `SharedJobQueue`, the registry's, which
/// every replica on a shared registry takes from. `JobManager` runs what either hands it.
protocol JobQueue: Sendable {
    /// Whether other servers take from it too: then its jobs are the registry's queued records,
    /// and this server claims them, marks the ones it runs alive, and gives them back when it
    /// stops.
    var isShared: Bool { get }
    /// Jobs waiting (every server's, when shared).
    func waiting() async throws -> Int
    /// A job just stored as queued joins the queue.
    func add(_ job: JobRecord, dataset: DatasetRecord)
    /// The next job to run here and its dataset, now this server's; nil when none waits.
    func next() async throws -> QueuedJob?
    /// Takes a job that has not started out of this server's queue (it was cancelled); false
    /// when it is not waiting here.
    func remove(_ id: String) -> Bool
    /// Empties this server's queue (it is shutting down): the jobs that will not run now.
    func drain() -> [String]
    /// Gives a job this server took but will not finish back to the queue, for another server
    /// or a later try (shared only; a local queue's jobs fail with the server).
    func giveBack(_ id: String) async

    // Keeping a shared queue honest (a local queue has nothing to do).

    /// A cancel for a job queued or running on any server: the registry carries it to its runner.
    func requestCancel(_ id: String) async throws -> JobRecord?
    /// Marks this server's running jobs alive; the ones cancelled elsewhere (to stop) and the
    /// ones another server has taken over (lost), or nil when there is nothing to learn.
    func markAlive(_ running: [String]) async -> (stop: Set<String>, lost: Set<String>)?
    /// Queues again the jobs of servers that stopped marking theirs (failing those out of
    /// attempts), or nil when there is nothing to learn.
    func requeueStalled() async -> (requeued: [String], failed: [String])?
}

/// A job taken from a queue to run, with the dataset it trains on.
struct QueuedJob: Sendable {
    var record: JobRecord
    var dataset: DatasetRecord
}

/// This server's own queue, in memory, first in first out: the jobs of a registry no other
/// server shares (SQLite). After a restart its jobs are gone (the registry marks them failed).
final class LocalJobQueue: JobQueue {
    private let jobs = Mutex<[QueuedJob]>([])

    var isShared: Bool { false }

    func waiting() -> Int { jobs.withLock { $0.count } }

    func add(_ job: JobRecord, dataset: DatasetRecord) {
        jobs.withLock { $0.append(QueuedJob(record: job, dataset: dataset)) }
    }

    func next() -> QueuedJob? {
        jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    }

    func remove(_ id: String) -> Bool {
        jobs.withLock { jobs in
            guard let position = jobs.firstIndex(where: { $0.record.id == id }) else {
                return false
            }
            jobs.remove(at: position)
            return true
        }
    }

    func drain() -> [String] {
        jobs.withLock { jobs in
            defer { jobs.removeAll() }
            return jobs.map(\.record.id)
        }
    }

    func giveBack(_ id: String) async {}
    /// Every job of a local queue is this server's: none is queued or running elsewhere.
    func requestCancel(_ id: String) async throws -> JobRecord? { nil }
    func markAlive(_ running: [String]) async -> (stop: Set<String>, lost: Set<String>)? { nil }
    func requeueStalled() async -> (requeued: [String], failed: [String])? { nil }
}
