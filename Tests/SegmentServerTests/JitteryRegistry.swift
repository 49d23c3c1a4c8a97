import Foundation

@testable import SegmentServer

/// A registry injected into the server by tests: every call goes to the real one, and each
/// write then waits a random few milliseconds before it returns, as a slow disk or a remote
/// database would. Writers that are not serialised end up applying their in-memory updates in a
/// different order from their commits; the one write path must not care.
struct JitteryRegistry: ForwardingRegistry {
    let base: any Registry
    var inner: any Registry { base }

    private func jitter() async throws {
        try await Task.sleep(for: .microseconds(Int.random(in: 0...3000)))
    }

    func addVersion(_ version: NewVersion, completing job: JobRecord?) async throws -> VersionRecord
    {
        let record = try await base.addVersion(version, completing: job)
        try await jitter()
        return record
    }

    func setAlias(
        _ name: String, alias: String, version: Int, expecting: AliasExpectation?,
        by actor: AliasActor
    ) async throws -> Int? {
        let previous = try await base.setAlias(
            name, alias: alias, version: version, expecting: expecting, by: actor)
        try await jitter()
        return previous
    }

    func deleteAlias(_ name: String, alias: String, by actor: AliasActor) async throws {
        try await base.deleteAlias(name, alias: alias, by: actor)
        try await jitter()
    }

    func deleteVersion(
        _ name: String, _ number: Int, force: Bool, by actor: AliasActor
    ) async throws -> [String] {
        let removed = try await base.deleteVersion(name, number, force: force, by: actor)
        try await jitter()
        return removed
    }

    func aliasHistory(of name: String) async throws -> [AliasEvent] {
        try await base.aliasHistory(of: name)
    }

    func addDriftCounts(_ windows: [DriftWindow]) async throws {
        try await base.addDriftCounts(windows)
        try await jitter()
    }

    func driftWindows(_ name: String, _ version: Int, sinceHour: Int) async throws -> [DriftWindow]
    {
        try await base.driftWindows(name, version, sinceHour: sinceHour)
    }
}

/// A test registry that passes every call to `inner` unless it says otherwise.
protocol ForwardingRegistry: Registry {
    var inner: any Registry { get }
}

extension ForwardingRegistry {
    func insertDataset(_ dataset: DatasetRecord, request: ClientRequest?) async throws -> Bool {
        try await inner.insertDataset(dataset, request: request)
    }
    func clientRequest(method: String, id: String) async throws -> ClientRequest? {
        try await inner.clientRequest(method: method, id: id)
    }
    func forgetClientRequest(method: String, id: String) async throws {
        try await inner.forgetClientRequest(method: method, id: id)
    }
    func dataset(id: String) async throws -> DatasetRecord? { try await inner.dataset(id: id) }
    func datasets() async throws -> Listing<DatasetRecord> { try await inner.datasets() }
    func datasetIDs() async throws -> Set<String> { try await inner.datasetIDs() }
    func deleteDataset(id: String, force: Bool) async throws -> [String] {
        try await inner.deleteDataset(id: id, force: force)
    }
    func insertJob(_ job: JobRecord, request: ClientRequest?) async throws -> String {
        try await inner.insertJob(job, request: request)
    }
    func updateJob(_ job: JobRecord) async throws { try await inner.updateJob(job) }
    func job(id: String) async throws -> JobRecord? { try await inner.job(id: id) }
    func jobs(
        limit: Int, modelName: String?, after cursor: JobCursor?
    ) async throws -> Listing<JobRecord> {
        try await inner.jobs(limit: limit, modelName: modelName, after: cursor)
    }
    func failUnfinishedJobs(reason: String, at date: Date, owner: String?) async throws -> Int {
        try await inner.failUnfinishedJobs(reason: reason, at: date, owner: owner)
    }
    func models() async throws -> [ModelSummaryRecord] { try await inner.models() }
    func versions(of name: String) async throws -> [VersionRecord] {
        try await inner.versions(of: name)
    }
    func version(_ name: String, _ number: Int) async throws -> VersionRecord? {
        try await inner.version(name, number)
    }
    func modelBytes(_ name: String, _ number: Int) async throws -> Data {
        try await inner.modelBytes(name, number)
    }
    func probe() async throws { try await inner.probe() }
    func corruptVersions() async throws -> [(model: String, version: Int, reason: String)] {
        try await inner.corruptVersions()
    }
    func aliases() async throws -> [(model: String, alias: String, version: Int)] {
        try await inner.aliases()
    }

    func addVersion(_ version: NewVersion, completing job: JobRecord?) async throws -> VersionRecord
    {
        try await inner.addVersion(version, completing: job)
    }
    func setAlias(
        _ name: String, alias: String, version: Int, expecting: AliasExpectation?,
        by actor: AliasActor
    ) async throws -> Int? {
        try await inner.setAlias(
            name, alias: alias, version: version, expecting: expecting, by: actor)
    }
    func deleteAlias(_ name: String, alias: String, by actor: AliasActor) async throws {
        try await inner.deleteAlias(name, alias: alias, by: actor)
    }
    func deleteVersion(
        _ name: String, _ number: Int, force: Bool, by actor: AliasActor
    ) async throws -> [String] {
        try await inner.deleteVersion(name, number, force: force, by: actor)
    }
    func aliasHistory(of name: String) async throws -> [AliasEvent] {
        try await inner.aliasHistory(of: name)
    }
    func addDriftCounts(_ windows: [DriftWindow]) async throws {
        try await inner.addDriftCounts(windows)
    }
    func driftWindows(_ name: String, _ version: Int, sinceHour: Int) async throws -> [DriftWindow]
    {
        try await inner.driftWindows(name, version, sinceHour: sinceHour)
    }
}
