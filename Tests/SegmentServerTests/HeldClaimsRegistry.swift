import Foundation
import Synchronization
@testable import SegmentServer

/// A shared registry whose job claims can be held: tests land a shutdown while a claim is in
/// flight. Every other call goes straight to the real (PostgreSQL) registry.
final class HeldClaimsRegistry: SharedRegistry {
    let base: any SharedRegistry

    init(base: any SharedRegistry) { self.base = base }
    /// While set, a claim waits until it is cleared (and says it is waiting).
    let hold = Mutex(false)
    let claimWaiting = Mutex(false)

    func claimJob(owner: String) async throws -> JobRecord? {
        while hold.withLock({ $0 }) {
            claimWaiting.withLock { $0 = true }
            try await Task.sleep(for: .milliseconds(10))
        }
        claimWaiting.withLock { $0 = false }
        return try await base.claimJob(owner: owner)
    }
    func followChanges(_ changed: @escaping @Sendable (String?) async -> Void) async { await base.followChanges(changed) }
    func heartbeat(owner: String, jobs: [String]) async throws -> (stop: Set<String>, lost: Set<String>) {
        try await base.heartbeat(owner: owner, jobs: jobs)
    }
    func requeueStalled(stalledAfter: Double, maximumAttempts: Int) async throws -> (requeued: [String], failed: [String]) {
        try await base.requeueStalled(stalledAfter: stalledAfter, maximumAttempts: maximumAttempts)
    }
    func releaseJob(id: String, owner: String) async throws { try await base.releaseJob(id: id, owner: owner) }
    func queuedJobCount() async throws -> Int { try await base.queuedJobCount() }
    func requestCancel(jobID: String, at date: Date) async throws -> JobRecord { try await base.requestCancel(jobID: jobID, at: date) }

    func insertDataset(_ dataset: DatasetRecord, request: ClientRequest?) async throws -> Bool {
        try await base.insertDataset(dataset, request: request)
    }
    func clientRequest(method: String, id: String) async throws -> ClientRequest? { try await base.clientRequest(method: method, id: id) }
    func forgetClientRequest(method: String, id: String) async throws { try await base.forgetClientRequest(method: method, id: id) }
    func dataset(id: String) async throws -> DatasetRecord? { try await base.dataset(id: id) }
    func datasets() async throws -> Listing<DatasetRecord> { try await base.datasets() }
    func datasetIDs() async throws -> Set<String> { try await base.datasetIDs() }
    func deleteDataset(id: String, force: Bool) async throws -> [String] { try await base.deleteDataset(id: id, force: force) }
    func insertJob(_ job: JobRecord, request: ClientRequest?) async throws -> String { try await base.insertJob(job, request: request) }
    func updateJob(_ job: JobRecord) async throws { try await base.updateJob(job) }
    func job(id: String) async throws -> JobRecord? { try await base.job(id: id) }
    func jobs(limit: Int, modelName: String?, after cursor: JobCursor?) async throws -> Listing<JobRecord> {
        try await base.jobs(limit: limit, modelName: modelName, after: cursor)
    }
    func failUnfinishedJobs(reason: String, at date: Date, owner: String?) async throws -> Int { try await base.failUnfinishedJobs(reason: reason, at: date, owner: owner) }
    func models() async throws -> [ModelSummaryRecord] { try await base.models() }
    func versions(of name: String) async throws -> [VersionRecord] { try await base.versions(of: name) }
    func version(_ name: String, _ number: Int) async throws -> VersionRecord? { try await base.version(name, number) }
    func modelBytes(_ name: String, _ number: Int) async throws -> Data { try await base.modelBytes(name, number) }
    func probe() async throws { try await base.probe() }
    func corruptVersions() async throws -> [(model: String, version: Int, reason: String)] { try await base.corruptVersions() }
    func aliases() async throws -> [(model: String, alias: String, version: Int)] { try await base.aliases() }
    func addVersion(_ version: NewVersion, completing job: JobRecord?) async throws -> VersionRecord {
        try await base.addVersion(version, completing: job)
    }
    func setAlias(_ name: String, alias: String, version: Int) async throws -> Int? { try await base.setAlias(name, alias: alias, version: version) }
    func deleteAlias(_ name: String, alias: String) async throws { try await base.deleteAlias(name, alias: alias) }
    func deleteVersion(_ name: String, _ number: Int, force: Bool) async throws -> [String] { try await base.deleteVersion(name, number, force: force) }
}
