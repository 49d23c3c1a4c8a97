import Foundation
import Logging
import SegmentationEngine
import Synchronization

/// One change of a job, sent to its watchers.
public struct JobUpdate: Sendable {
    public var job: JobRecord
    public var event: TrainingEvent?
    public var isFinal: Bool { job.status.isFinished }
}

/// Called on the training thread with every event of a job, once it is queued for publishing. Tests use it
/// to hold a job at a chosen stage (the training thread waits while it runs).
public typealias TrainingObserver = @Sendable (_ jobID: String, _ event: TrainingEvent) -> Void

/// Points where tests can hold the server's work to make a race happen every time.
public struct ServerHooks: Sendable {
    /// Sees every training event on the training thread.
    public var training: TrainingObserver?
    /// Runs on the scoring thread just before a large Score request is scored, with the call's
    /// cancellation check.
    public var beforeLargeScore: (@Sendable (CancellationCheck) -> Void)?

    /// Runs after each upload chunk is stored and counted against the quota.
    public var afterUploadChunk: (@Sendable () async -> Void)?

    public init(
        training: TrainingObserver? = nil,
        beforeLargeScore: (@Sendable (CancellationCheck) -> Void)? = nil,
        afterUploadChunk: (@Sendable () async -> Void)? = nil
    ) {
        self.training = training
        self.beforeLargeScore = beforeLargeScore
        self.afterUploadChunk = afterUploadChunk
    }
}

extension JobStatus {
    /// How a run that did not produce a model ends, and the reason recorded: cancelled by request;
    /// queued again when it was given back at a shutdown (a shared queue) or another server took
    /// it over (lost: the registry's row is no longer this run's to write); failed otherwise.
    static func after(
        _ error: any Error, stopped reason: StopFlag.Reason?, sharedQueue: Bool
    )
        -> (JobStatus, String, JobFailure?)
    {
        switch (error, reason) {
        case (is CancellationError, .cancelled?): (.cancelled, "cancelled by request", nil)
        case (is CancellationError, .lost?): (.queued, "lost to another server", nil)
        case (is CancellationError, .shutdown?) where sharedQueue:
            (.queued, "its server shut down; queued again", nil)
        case (is CancellationError, .shutdown?):
            (.failed, "server shut down while the job was running", .interrupted)
        default: (.failed, String(describing: error), JobFailure(error))
        }
    }
}

extension JobFailure {
    /// The status code and reason an error is answered with in a call (RPCErrors' one mapping):
    /// bad data INVALID_ARGUMENT (BAD_ROW, INVALID_INPUT...), an away registry UNAVAILABLE...
    init(_ error: any Error) {
        let (code, reason) = RPCErrors.codeAndReason(error)
        self.init(code: code.rawValue, reason: reason)
    }
}

/// Why a running job should stop; read by the training thread.
final class StopFlag: Sendable {
    enum Reason: Sendable { case cancelled, shutdown, lost }
    private let value = Mutex<Reason?>(nil)
    var reason: Reason? { value.withLock { $0 } }
    func request(_ reason: Reason) { value.withLock { if $0 == nil { $0 = reason } } }
}

public enum JobError: Error, Equatable, CustomStringConvertible {
    case shuttingDown
    case alreadyFinished(id: String, status: JobStatus)
    case queueFull(limit: Int)
    case registering(id: String)

    public var description: String {
        switch self {
        case .shuttingDown: "the server is shutting down and accepts no new jobs"
        case .alreadyFinished(let id, let status):
            "job \(id) has already finished (\(status.rawValue))"
        case .registering(let id):
            "job \(id) has finished training and is registering its version; it can no longer be cancelled"
        case .queueFull(let limit):
            "\(limit) jobs are already queued, as many as this server takes; retry when some have run"
        }
    }
}
