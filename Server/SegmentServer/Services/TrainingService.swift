import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping

/// Submits, watches, lists and cancels training jobs.
struct TrainingService: Segmentation_V1_TrainingService.SimpleServiceProtocol {
    let registry: any Registry
    let jobs: JobManager
    let store: DatasetStore
    let limits: TrainingLimits

    func submitTrainingJob(
        request: Segmentation_V1_SubmitTrainingJobRequest, context: ServerContext
    ) async throws -> Segmentation_V1_SubmitTrainingJobResponse {
        let spec = request.spec
        let requestID = try RequestIDs.check(request.requestID, field: "request_id").map {
            ($0, try RequestIDs.fingerprint(spec))
        }
        // A retry answers with the first request's job before anything else is checked, so it
        // gets that job even if, say, its dataset was deleted since.
        if let (id, fingerprint) = requestID,
            let earlier = try await registry.clientRequest(method: JobManager.submitMethod, id: id),
            try ClientRequest(
                method: JobManager.submitMethod, id: id, fingerprint: fingerprint, resultID: "",
                createdAt: Date()
            ).isRetry(of: earlier)
        {
            let first = try await jobs.job(id: earlier.resultID)
            return .with { $0.job = first.proto }
        }
        try Names.validateModelName(spec.modelName)
        guard !spec.datasetID.isEmpty else {
            throw InvalidField("spec.dataset_id", "spec.dataset_id is required")
        }
        guard let dataset = try await registry.dataset(id: spec.datasetID) else {
            throw RegistryError.notFound(.dataset(spec.datasetID))
        }
        let configuration = try TrainingSpecs.configuration(
            spec, dataset: dataset.shape, limits: limits)
        if let first = store.paths(of: dataset).first,
            let header = try CSVReader.header(ofFile: first)
        {
            try configuration.check(header: header, source: dataset.files[0].name)
        }
        let job = try await jobs.submit(
            modelName: spec.modelName, dataset: dataset, configuration: configuration,
            requestID: requestID)
        return .with { $0.job = job.proto }
    }

    func watchJob(
        request: Segmentation_V1_WatchJobRequest, response: RPCWriter<Segmentation_V1_JobEvent>,
        context: ServerContext
    ) async throws {
        let (updates, token) = try await jobs.watch(id: request.jobID)
        // A client that goes away must end the stream: the handler's task is not cancelled for us.
        try await withRPCCancellationHandler {
            for await update in updates { try await response.write(Self.event(update)) }
        } onCancelRPC: {
            Task { await jobs.endWatch(request.jobID, token) }
        }
    }

    static func event(_ update: JobUpdate) -> Segmentation_V1_JobEvent {
        .with {
            $0.state = update.job.status.proto
            $0.stage = update.event?.stage.rawValue ?? update.job.stage
            $0.fraction = update.event?.fraction ?? update.job.fraction
            $0.currentK = Int32(update.event?.k ?? 0)
            if let candidate = update.event?.candidate { $0.metrics = candidate.proto }
            $0.logLine = update.event?.message ?? Self.statusLine(update.job)
            if update.isFinal { $0.finalJob = update.job.proto }
        }
    }

    private static func statusLine(_ job: JobRecord) -> String {
        switch job.status {
        case .queued: "queued"
        case .running: "running"
        case .succeeded: "registered \(job.modelName)@\(job.modelVersion ?? 0)"
        case .failed: "failed: \(job.error ?? "unknown error")"
        case .cancelled: "cancelled: \(job.error ?? "")"
        }
    }

    func getJob(
        request: Segmentation_V1_GetJobRequest, context: ServerContext
    ) async throws -> Segmentation_V1_GetJobResponse {
        let job = try await jobs.job(id: request.jobID)
        return .with { $0.job = job.proto }
    }

    func listJobs(
        request: Segmentation_V1_ListJobsRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ListJobsResponse {
        let paging = try PageRequest(
            size: request.pageSize, token: request.pageToken, list: "jobs", scope: request.modelName
        )
        let cursor = try paging.after.map { key in
            guard let cursor = JobCursor(key: key) else {
                throw InvalidField(
                    "page_token", "page_token is damaged; start again with an empty page_token")
            }
            return cursor
        }
        // One more than a page: whether another page follows.
        let list = try await jobs.jobs(
            limit: paging.size + 1, modelName: request.modelName.isEmpty ? nil : request.modelName,
            after: cursor)
        let items = Array(list.items.prefix(paging.size))
        return .with {
            $0.jobs = items.map(\.proto)
            $0.unreadable = Int32(list.unreadable)
            // Unreadable rows count towards the page too: more rows than a page means more jobs.
            let more = list.items.count + Int(list.unreadable) > paging.size && !items.isEmpty
            $0.nextPageToken =
                more ? paging.token(after: JobCursor(items[items.count - 1]).key) : ""
        }
    }

    func cancelJob(
        request: Segmentation_V1_CancelJobRequest, context: ServerContext
    ) async throws -> Segmentation_V1_CancelJobResponse {
        let job = try await jobs.cancel(id: request.jobID)
        return .with { $0.job = job.proto }
    }
}
