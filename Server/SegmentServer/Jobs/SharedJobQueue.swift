import Foundation
import Logging

/// The job queue in a registry that replicas share (PostgreSQL): any server claims the oldest
/// queued job, marks the jobs it runs alive, and queues again the jobs of a server that stopped
/// doing so. Chosen where the server is assembled; without one, a server's queue is its own
/// (`LocalJobQueue`).
struct SharedJobQueue: JobQueue {
    let registry: any SharedRegistry
    /// This server, as the owner of the jobs it claims.
    let owner: String
    let logger: Logger

    /// How often a server looks for queued jobs, marks its running jobs alive, and looks for
    /// jobs whose server stopped doing so.
    static let claimInterval: Duration = .milliseconds(250)
    static let heartbeatInterval: Duration = .seconds(2)
    /// A running job not marked alive for this long is taken to have lost its server.
    static let stalledAfter: TimeInterval = 10
    /// Runs a job may have (its server died during each): then it fails with the reason.
    static let maximumAttempts = 2

    /// The shared queue of a registry that has one.
    init?(_ registry: any Registry, owner: String, logger: Logger) {
        guard let shared = registry as? any SharedRegistry else { return nil }
        self.registry = shared
        self.owner = owner
        self.logger = logger
    }

    var isShared: Bool { true }

    /// Jobs waiting, every server's.
    func waiting() async throws -> Int { try await registry.queuedJobCount() }

    /// Nothing to add: the job's stored record (queued) is its place in the queue.
    func add(_ job: JobRecord, dataset: DatasetRecord) {}

    /// The oldest queued job, now this server's, and its dataset; nil when none waits. A job
    /// whose dataset was deleted meanwhile fails, saying so, and the next one is claimed; when
    /// the dataset cannot be read for now, the job goes back for a later try.
    func next() async throws -> QueuedJob? {
        while let claimed = try await registry.claimJob(owner: owner) {
            let dataset: DatasetRecord?
            do { dataset = try await registry.dataset(id: claimed.datasetID) } catch {
                await giveBack(claimed.id)
                throw error
            }
            guard let dataset else {
                var failed = claimed
                failed.status = .failed
                failed.error = "its dataset \(claimed.datasetID.prefix(19)) was deleted"
                failed.failure = .datasetDeleted
                failed.finishedAt = Date.wholeSeconds()
                try? await registry.updateJob(failed)
                continue
            }
            logger.info("job claimed", metadata: ["job": "\(claimed.id)", "server": "\(owner)"])
            return QueuedJob(record: claimed, dataset: dataset)
        }
        return nil
    }

    /// Jobs wait in the registry, not here: a cancel goes through `requestCancel`.
    func remove(_ id: String) -> Bool { false }
    /// Jobs wait in the registry, for any server: none is dropped when this one stops.
    func drain() -> [String] { [] }

    /// Gives a claimed job back to the queue, for another server or a later try.
    func giveBack(_ id: String) async { try? await registry.releaseJob(id: id, owner: owner) }

    /// A cancel for a job queued or running on any server: the registry carries it to the runner.
    func requestCancel(_ id: String) async throws -> JobRecord? {
        try await registry.requestCancel(jobID: id, at: Date.wholeSeconds())
    }

    /// Marks this server's running jobs alive; the ones cancelled elsewhere (to stop) and the ones
    /// another server has taken over (lost), or nil when the registry did not answer.
    func markAlive(_ running: [String]) async -> (stop: Set<String>, lost: Set<String>)? {
        do {
            return try await registry.heartbeat(owner: owner, jobs: running)
        } catch {
            return nil
        }
    }

    /// Queues again the jobs of servers that stopped marking theirs (failing those out of
    /// attempts), or nil when the registry did not answer.
    func requeueStalled() async -> (requeued: [String], failed: [String])? {
        try? await registry.requeueStalled(
            stalledAfter: Self.stalledAfter, maximumAttempts: Self.maximumAttempts)
    }
}
