import Foundation
import Logging
import SegmentationEngine
import Synchronization

/// Runs training jobs: a queue, at most `maximumConcurrentJobs` at a time, each on a thread of
/// its own (never on the cooperative pool that serves RPCs). Progress is fanned out to watchers
/// and persisted at every stage; a finished job registers its model version in the same
/// registry transaction that marks it succeeded.
public actor JobManager {
    private let registry: any Registry
    private let models: ServedModels
    private let maximumConcurrentJobs: Int
    private let maximumQueuedJobs: Int
    /// Submits between their queue check and joining the queue.
    private var submitting = 0
    private let logger: Logger
    private let runner: JobRunner
    private let metrics: ServerMetrics?

    private var live: [String: LiveJob] = [:]
    private var running = 0
    private var watchers = JobWatchers()
    private var accepting = true
    private var idle: [CheckedContinuation<Void, Never>] = []

    private struct LiveJob {
        var record: JobRecord
        var dataset: DatasetRecord
        let stop = StopFlag()
        /// The model is being registered: too late to cancel.
        var registering = false
        /// When it started running (for the training-duration metric).
        var started: ContinuousClock.Instant?
    }

    /// Where jobs wait: this server's own, or the registry's that replicas share.
    private let queue: any JobQueue
    /// A pass taking jobs from the queue is under way (there is one at a time)...
    private var starting = false
    /// ...and another was asked for meanwhile (a job was added): it runs once this one ends.
    private var startAgain = false

    init(
        registry: any Registry, models: ServedModels, store: DatasetStore,
        maximumConcurrentJobs: Int,
        maximumQueuedJobs: Int = 100, logger: Logger, observer: TrainingObserver? = nil,
        metrics: ServerMetrics? = nil, queue: any JobQueue = LocalJobQueue()
    ) {
        runner = JobRunner(store: store, observer: observer)
        self.queue = queue
        self.metrics = metrics
        self.maximumQueuedJobs = max(1, maximumQueuedJobs)
        self.registry = registry
        self.models = models
        self.maximumConcurrentJobs = max(1, maximumConcurrentJobs)
        self.logger = logger
    }

    // MARK: Requests

    /// Queues a job. With a client request id (idempotency key) and its fingerprint, a retry of
    /// a request already made returns that request's job instead of queuing another.
    public func submit(
        modelName: String, dataset: DatasetRecord, configuration: TrainingConfiguration,
        requestID: (id: String, fingerprint: String)? = nil
    ) async throws -> JobRecord {
        if let requestID,
            let earlier = try await registry.clientRequest(
                method: Self.submitMethod, id: requestID.id),
            try ClientRequest(
                method: Self.submitMethod, id: requestID.id, fingerprint: requestID.fingerprint,
                resultID: "",
                createdAt: Date()
            ).isRetry(of: earlier)
        {
            return try await job(id: earlier.resultID)
        }
        guard accepting else { throw JobError.shuttingDown }
        // Slots are reserved before the await below, so concurrent submits cannot all pass the check.
        let waiting = try await queue.waiting()
        guard waiting + submitting < maximumQueuedJobs else {
            throw JobError.queueFull(limit: maximumQueuedJobs)
        }
        submitting += 1
        defer { submitting -= 1 }
        let record = JobRecord(
            id: "job-"
                + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16),
            modelName: modelName, datasetID: dataset.id, configuration: configuration,
            status: .queued,
            stage: "queued", fraction: 0, createdAt: Date.wholeSeconds(), startedAt: nil,
            finishedAt: nil, error: nil, modelVersion: nil, kMetrics: [],
            // Set when a server claims it from the shared queue; a local job is only this server's.
            owner: nil)
        let request = requestID.map {
            ClientRequest(
                method: Self.submitMethod, id: $0.id, fingerprint: $0.fingerprint,
                resultID: record.id, createdAt: record.createdAt)
        }
        let holder = try await registry.insertJob(record, request: request)
        // A concurrent identical request got there first: its job is the answer.
        guard holder == record.id else { return try await job(id: holder) }
        if queue.isShared {
            logger.info(
                "job queued (shared)", metadata: ["job": "\(record.id)", "model": "\(modelName)"])
            Task { await self.startJobs() }
            return record
        }
        guard accepting else {
            var refused = record
            refused.status = .failed
            refused.error = "the server shut down before the job started"
            refused.failure = .interrupted
            refused.finishedAt = Date.wholeSeconds()
            try? await registry.updateJob(refused)
            // Refused, not run: a retry with the same request id (after the restart) must run it.
            if let request {
                try? await registry.forgetClientRequest(method: request.method, id: request.id)
            }
            throw JobError.shuttingDown
        }
        live[record.id] = LiveJob(record: record, dataset: dataset)
        queue.add(record, dataset: dataset)
        logger.info(
            "job queued",
            metadata: ["job": "\(record.id)", "model": "\(modelName)", "dataset": "\(dataset.id)"])
        await startJobs()
        return record
    }

    static let submitMethod = "SubmitTrainingJob"

    public func job(id: String) async throws -> JobRecord {
        if let job = live[id]?.record { return job }
        guard let job = try await registry.job(id: id) else {
            throw RegistryError.notFound(.job(id))
        }
        return job
    }

    public func jobs(
        limit: Int, modelName: String?, after cursor: JobCursor? = nil
    ) async throws -> Listing<JobRecord> {
        var listing = try await registry.jobs(limit: limit, modelName: modelName, after: cursor)
        listing.items = listing.items.map { live[$0.id]?.record ?? $0 }
        if listing.unreadable > 0 {
            logger.warning(
                "stored jobs could not be read", metadata: ["count": "\(listing.unreadable)"])
        }
        return listing
    }

    public func cancel(id: String) async throws -> JobRecord {
        guard var job = live[id] else {
            let stored = try await self.job(id: id)
            // Queued in the shared queue, or running on another server: the registry carries it.
            if !stored.status.isFinished, let requested = try await queue.requestCancel(id) {
                return requested
            }
            throw JobError.alreadyFinished(id: id, status: stored.status)
        }
        guard !job.registering else { throw JobError.registering(id: id) }
        if queue.remove(id) {
            job.record.status = .cancelled
            job.record.error = "cancelled by request before it started"
            job.record.finishedAt = Date.wholeSeconds()
            live[id] = nil
            try await registry.updateJob(job.record)
            metrics?.jobFinished(state: job.record.status.rawValue, duration: nil)
            publish(JobUpdate(job: job.record, event: nil))
            return job.record
        }
        job.stop.request(.cancelled)
        return job.record
    }

    /// Jobs waiting to run, and running (for the metrics endpoint).
    /// On a shared registry the queue is the registry's (every server's waiting jobs).
    public var counts: (queued: Int, running: Int) {
        get async {
            ((try? await queue.waiting()) ?? 0, running)
        }
    }

    /// Updates for one job: the current state at once, then every change; ends after the final one.
    public func watch(id: String) async throws -> (updates: AsyncStream<JobUpdate>, token: UUID) {
        let current = try await job(id: id)
        let (stream, token) = watchers.add(JobUpdate(job: current, event: nil))
        if !current.status.isFinished, live[id] == nil {
            // Queued or running on another server of a shared registry: follow its stored record.
            Task { await self.followStored(id, token, from: current) }
        }
        return (stream, token)
    }

    /// How often a job another server runs is read for its watchers here.
    static let remotePollInterval: Duration = .milliseconds(500)

    /// Sends one watcher the stored record of a job another server runs whenever its state,
    /// stage or progress changed, until it finishes or the watcher leaves.
    private func followStored(_ id: String, _ token: UUID, from first: JobRecord) async {
        var last = first
        while watchers.isWatching(id, token) {
            try? await Task.sleep(for: Self.remotePollInterval)
            guard watchers.isWatching(id, token) else { return }
            guard let job = try? await registry.job(id: id) else { continue }
            if job.status != last.status || job.stage != last.stage || job.fraction != last.fraction
                || job.kMetrics != last.kMetrics
            {
                if job.status == .succeeded {
                    // Its version is served here before the watcher hears it succeeded, so the
                    // client's next call (score, alias) finds it on this server too.
                    try? await models.refresh(model: job.modelName)
                }
                // The final update ends the watcher's stream.
                watchers.send(JobUpdate(job: job, event: nil), to: token)
                last = job
            }
            if job.status.isFinished {
                watchers.end(id, token)
                return
            }
        }
    }

    /// Ends one watcher's stream (its client went away).
    public func endWatch(_ id: String, _ token: UUID) {
        watchers.end(id, token)
    }

    /// Stops accepting jobs, fails queued ones, stops running ones, and waits for them to end.
    public func shutdown() async {
        accepting = false
        for id in queue.drain() { await failUnstarted(id) }
        for job in live.values { job.stop.request(.shutdown) }
        if running > 0 {
            await withCheckedContinuation { idle.append($0) }
        }
    }

    /// A job of this server's queue that will not run now: failed, saying why.
    private func failUnstarted(_ id: String) async {
        guard var job = live[id] else { return }
        job.record.status = .failed
        job.record.error = "server shut down before the job started"
        job.record.failure = .interrupted
        job.record.finishedAt = Date.wholeSeconds()
        live[id] = nil
        try? await registry.updateJob(job.record)
        metrics?.jobFinished(state: job.record.status.rawValue, duration: nil)
        publish(JobUpdate(job: job.record, event: nil))
    }

    /// Where a shutdown waits: the slots taken, whether a claim is out, the jobs still here.
    public var shutdownProgress: String {
        "accepting \(accepting), \(running) slot(s) taken, taking jobs \(starting), jobs here: \(live.keys.sorted())"
    }

    /// Gives back a running slot, and wakes a shutdown waiting for the last one. Every slot is
    /// given back here: a claim that found nothing, while a shutdown waited, once left the
    /// shutdown waiting for ever (a CI run hung on it).
    private func releaseSlot() {
        running -= 1
        if running == 0 && !accepting {
            for waiter in idle { waiter.resume() }
            idle.removeAll()
        }
    }

    // MARK: Taking jobs from the queue

    /// Starts queued jobs while fewer than `maximumConcurrentJobs` run here. One pass at a time,
    /// and a slot is taken before asking, so interleaved calls never run more than the limit; a
    /// call during a pass makes it look again (a job added while it was asking is not missed).
    private func startJobs() async {
        startAgain = true
        guard !starting else { return }
        starting = true
        defer { starting = false }
        while startAgain {
            startAgain = false
            await startPass()
        }
    }

    private func startPass() async {
        while accepting, running < maximumConcurrentJobs {
            running += 1
            guard let next = try? await queue.next() else {
                releaseSlot()
                return
            }
            let id = next.record.id
            guard accepting else {
                // Shut down while asking: a shared job goes back for another server.
                if queue.isShared { await queue.giveBack(id) } else { await failUnstarted(id) }
                releaseSlot()
                return
            }
            // A local job has been here since it was submitted (a cancel may have ended it).
            if !queue.isShared && live[id] == nil {
                releaseSlot()
                continue
            }
            live[id] = live[id] ?? LiveJob(record: next.record, dataset: next.dataset)
            Task { await self.run(id) }
        }
    }

    /// Runs until cancelled, on a shared queue: takes queued jobs while this server has room,
    /// marks its running jobs alive (and stops those cancelled elsewhere), and queues again the
    /// jobs of servers that stopped marking theirs.
    public func runSharedQueue() async {
        guard queue.isShared else { return }
        var lastHeartbeat = ContinuousClock.now - SharedJobQueue.heartbeatInterval
        while !Task.isCancelled && accepting {
            await startJobs()
            if ContinuousClock.now - lastHeartbeat >= SharedJobQueue.heartbeatInterval {
                lastHeartbeat = .now
                await heartbeat()
                await requeueStalled()
            }
            try? await Task.sleep(for: SharedJobQueue.claimInterval)
        }
    }

    private func heartbeat() async {
        let mine = live.filter { $0.value.record.status == .running && !$0.value.registering }.map(
            \.key)
        guard let (stop, lost) = await queue.markAlive(mine) else { return }
        for id in stop where live[id]?.registering == false { live[id]?.stop.request(.cancelled) }
        for id in lost where live[id]?.registering == false {
            // Queued again after this server seemed dead: another server runs it now.
            logger.warning(
                "job lost to another server (this one missed its heartbeats); stopping it here",
                metadata: ["job": "\(id)"])
            live[id]?.stop.request(.lost)
        }
    }

    private func requeueStalled() async {
        guard let (requeued, failed) = await queue.requeueStalled() else { return }
        for id in requeued {
            logger.warning(
                "job queued again: its server stopped responding", metadata: ["job": "\(id)"])
        }
        for id in failed {
            logger.warning(
                "job failed: its server stopped responding too often", metadata: ["job": "\(id)"])
        }
    }

    // MARK: Running

    private func run(_ id: String) async {
        guard var job = live[id] else { return }
        job.record.status = .running
        job.record.stage = TrainingEvent.Stage.reading.rawValue
        job.record.startedAt = Date.wholeSeconds()
        job.started = .now
        live[id] = job
        try? await registry.updateJob(job.record)
        publish(JobUpdate(job: job.record, event: nil))
        logger.info("job started", metadata: ["job": "\(id)"])

        let (events, outcome) = runner.train(job.record, on: job.dataset, stop: job.stop)
        for await event in events { await progress(id, event) }
        await finish(id, await outcome.value)
    }

    private func progress(_ id: String, _ event: TrainingEvent) async {
        guard var job = live[id] else { return }
        let stageChanged = job.record.stage != event.stage.rawValue
        job.record.stage = event.stage.rawValue
        job.record.fraction = event.fraction
        if let candidate = event.candidate { job.record.kMetrics.append(candidate) }
        live[id] = job
        if stageChanged { try? await registry.updateJob(job.record) }
        publish(JobUpdate(job: job.record, event: event))
    }

    private func finish(_ id: String, _ outcome: Result<JobRunner.Trained, any Error>) async {
        guard var job = live[id] else { return }
        job.record.finishedAt = Date.wholeSeconds()
        // A cancel or shutdown that arrived while the last stage ran still wins: no version.
        var outcome = outcome
        if case .success = outcome, job.stop.reason != nil {
            outcome = .failure(CancellationError())
        }
        switch outcome {
        case .success(let trained):
            let model = trained.model
            // The job reads as running ("registering") until its version is written; the
            // succeeded record is stored in the same transaction as the version.
            var completed = job.record
            completed.status = .succeeded
            completed.stage = TrainingEvent.Stage.done.rawValue
            completed.fraction = 1
            completed.kMetrics = model.kSelection.candidates
            // From here the job cannot be cancelled (CancelJob answers that it is finishing).
            job.registering = true
            job.record.stage = "registering"
            live[id] = job
            do {
                let (name, datasetID) = (job.record.modelName, job.dataset.id)
                // Matched to the version that is latest when it is stored (a version registered
                // or a segment renamed while this one trained is the one it continues).
                let logger = self.logger
                let version = try await models.addVersion(named: name, completing: completed) {
                    latest in
                    if case .failure(let error) = latest {
                        logger.warning(
                            "the model's latest version cannot be read: the new version's segments are not matched to it",
                            metadata: ["model": "\(name)", "error": "\(error)"])
                    }
                    return try await OffPool.run(name: "register-\(id)") {
                        let continued =
                            try (try? latest?.get()).map {
                                try trained.model.continuing(
                                    from: $0.model, previousVersion: $0.version, on: trained.data)
                            } ?? trained.model
                        return NewVersion(
                            name: name, model: continued, modelBytes: try continued.serialized(),
                            datasetID: datasetID, jobID: id, parentVersion: nil)
                    }
                }
                completed.modelVersion = version.version
                job.record = completed
                logger.info(
                    "job succeeded",
                    metadata: ["job": "\(id)", "version": "\(version.name)@\(version.version)"])
            } catch {
                job.record.status = .failed
                job.record.error = "could not register the model: \(error)"
                job.record.failure = JobFailure(error)
            }
        case .failure(let error):
            (job.record.status, job.record.error, job.record.failure) = JobStatus.after(
                error, stopped: job.stop.reason, sharedQueue: queue.isShared)
            logger.info(
                "job ended",
                metadata: [
                    "job": "\(id)", "status": "\(job.record.status.rawValue)",
                    "error": "\(job.record.error ?? "")",
                ])
        }
        if job.record.status == .queued {
            // Back to the shared queue (`lost`: another server has it already).
            if job.stop.reason == .shutdown { await queue.giveBack(id) }
        } else if job.record.status != .succeeded {
            try? await registry.updateJob(job.record)
        }
        if job.record.status.isFinished {
            metrics?.jobFinished(
                state: job.record.status.rawValue,
                duration: job.record.status == .succeeded ? job.started.map { .now - $0 } : nil)
        }
        live[id] = nil
        publish(JobUpdate(job: job.record, event: nil))
        releaseSlot()
        await startJobs()
    }

    private func publish(_ update: JobUpdate) { watchers.publish(update) }
}
