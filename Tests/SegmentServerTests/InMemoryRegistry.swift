import Foundation
import SegmentationEngine

@testable import SegmentServer

/// A registry in memory, with the semantics the `Registry` protocol documents (each method one
/// atomic step, as an actor gives). The server runs on it unchanged: it proves the server depends
/// on the protocol only, and lets tests play "another replica" writing behind the server's back.
actor InMemoryRegistry: Registry {
    private var datasetRecords: [String: DatasetRecord] = [:]
    private var jobRecords: [String: JobRecord] = [:]
    private struct StoredVersion {
        var record: VersionRecord
        var bytes: Data
    }
    /// Models ever created, with the next version number (numbers are never reused).
    private var nextVersion: [String: Int] = [:]
    private var updatedAt: [String: Date] = [:]
    private var stored: [String: [Int: StoredVersion]] = [:]
    private var aliasTable: [String: [String: Int]] = [:]

    private var requests: [String: ClientRequest] = [:]

    func clientRequest(method: String, id: String) -> ClientRequest? {
        requests["\(method) \(id)"].flatMap {
            $0.createdAt.timeIntervalSinceNow > -ClientRequest.retention ? $0 : nil
        }
    }

    func forgetClientRequest(method: String, id: String) { requests["\(method) \(id)"] = nil }

    private func record(_ request: ClientRequest) throws -> String? {
        if let earlier = clientRequest(method: request.method, id: request.id),
            try request.isRetry(of: earlier)
        {
            return earlier.resultID
        }
        requests["\(request.method) \(request.id)"] = request
        return nil
    }

    func insertDataset(_ dataset: DatasetRecord, request: ClientRequest?) throws -> Bool {
        if let request { _ = try record(request) }
        guard datasetRecords[dataset.id] == nil else { return false }
        datasetRecords[dataset.id] = dataset
        return true
    }

    func dataset(id: String) -> DatasetRecord? { datasetRecords[id] }
    func datasets() -> Listing<DatasetRecord> {
        Listing(items: datasetRecords.values.sorted { $0.createdAt > $1.createdAt }, unreadable: 0)
    }
    func datasetIDs() -> Set<String> { Set(datasetRecords.keys) }

    func deleteDataset(id: String, force: Bool) throws -> [String] {
        guard datasetRecords[id] != nil else { throw RegistryError.notFound(.dataset(id)) }
        if jobRecords.values.contains(where: { $0.datasetID == id && !$0.status.isFinished }) {
            throw RegistryError.datasetInUse(
                "dataset \(id.prefix(19)) is being used by a queued or running job; cancel it first"
            )
        }
        let trained = stored.sorted { $0.key < $1.key }.flatMap { name, versions in
            versions.keys.sorted().filter { versions[$0]!.record.datasetID == id }.map {
                "\(name)@\($0)"
            }
        }
        if !trained.isEmpty && !force {
            throw RegistryError.datasetInUse(
                "dataset \(id.prefix(19)) is the training data of \(trained.joined(separator: ", "))"
            )
        }
        datasetRecords[id] = nil
        return trained
    }

    func insertJob(_ job: JobRecord, request: ClientRequest?) throws -> String {
        if let request, let earlier = try record(request) { return earlier }
        jobRecords[job.id] = job
        return job.id
    }
    func updateJob(_ job: JobRecord) { jobRecords[job.id] = job }
    func job(id: String) -> JobRecord? { jobRecords[id] }

    func jobs(limit: Int, modelName: String?, after cursor: JobCursor?) -> Listing<JobRecord> {
        let matching = jobRecords.values.filter {
            (modelName == nil || $0.modelName == modelName) && (cursor?.precedes($0) ?? true)
        }
        .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
        return Listing(items: Array(matching.prefix(limit)), unreadable: 0)
    }

    /// Tests make the startup checks fail here.
    private var startupFails = false
    func failStartup() { startupFails = true }

    func failUnfinishedJobs(reason: String, at date: Date, owner: String?) async throws -> Int {
        if holdingStartup {
            // Cancellable, as GRDB's database accesses are: a shutdown during startup must not wait for it.
            await withTaskCancellationHandler {
                await withCheckedContinuation { startupHold = $0 }
            } onCancel: {
                Task { await self.releaseStartup() }
            }
            try Task.checkCancellation()
        }
        if startupFails { throw RegistryError.storage("the startup check failed (a test made it)") }
        var count = 0
        for (id, var job) in jobRecords where !job.status.isFinished {
            job.status = .failed
            job.error = reason
            job.finishedAt = date
            jobRecords[id] = job
            count += 1
        }
        return count
    }

    func addVersion(_ new: NewVersion, completing job: JobRecord?) -> VersionRecord {
        let number = nextVersion[new.name] ?? 1
        let now = Date.wholeSeconds()
        let record = VersionRecord(
            name: new.name, version: number, createdAt: now, datasetID: new.datasetID,
            jobID: new.jobID,
            parentVersion: new.parentVersion, kind: new.model.kind, k: new.model.k,
            silhouette: new.model.metrics.silhouette, customers: new.model.dataReport.customersOut)
        stored[new.name, default: [:]][number] = StoredVersion(
            record: record, bytes: new.modelBytes)
        nextVersion[new.name] = number + 1
        updatedAt[new.name] = now
        if var job {
            job.modelVersion = number
            jobRecords[job.id] = job
        }
        return record
    }

    func models() -> [ModelSummaryRecord] {
        stored.keys.sorted().compactMap { name in
            guard let versions = stored[name], let latest = versions.keys.max() else { return nil }
            return ModelSummaryRecord(
                name: name, latestVersion: latest, versionCount: versions.count,
                aliases: aliasTable[name] ?? [:], updatedAt: updatedAt[name] ?? Date())
        }
    }

    func versions(of name: String) throws -> [VersionRecord] {
        guard let versions = stored[name] else { throw RegistryError.notFound(.model(name)) }
        return versions.keys.sorted().map { versions[$0]!.record }
    }

    func version(_ name: String, _ number: Int) -> VersionRecord? { stored[name]?[number]?.record }

    func modelBytes(_ name: String, _ number: Int) throws -> Data {
        guard let version = stored[name]?[number] else {
            throw RegistryError.notFound(.version(name, number))
        }
        return version.bytes
    }

    func corruptVersions() -> [(model: String, version: Int, reason: String)] { [] }

    /// Tests switch the storage "off": the probe (and nothing else) fails while it is.
    private var unreachable = false
    func setUnreachable(_ value: Bool) { unreachable = value }
    /// Tests make the next few probes fail, as one slow answer on a busy machine would.
    private var probesToFail = 0
    func failProbes(_ count: Int) { probesToFail = count }
    private(set) var probesAnswered = 0
    func probe() throws {
        probesAnswered += 1
        if unreachable { throw RegistryError.storage("unreachable (a test switched it off)") }
        if probesToFail > 0 {
            probesToFail -= 1
            throw RegistryError.storage("a slow answer (a test failed this probe)")
        }
    }

    /// Tests hold the startup checks here (the first of them marks unfinished jobs failed) until they release it.
    private var startupHold: CheckedContinuation<Void, Never>?
    private var holdingStartup = false
    func holdStartup() { holdingStartup = true }
    func releaseStartup() {
        holdingStartup = false
        startupHold?.resume()
        startupHold = nil
    }

    func aliases() -> [(model: String, alias: String, version: Int)] {
        aliasTable.flatMap { name, aliases in
            aliases.map { (model: name, alias: $0.key, version: $0.value) }
        }
    }

    private var history: [String: [AliasEvent]] = [:]

    private func recordChange(
        _ name: String, _ alias: String, _ action: AliasEvent.Action, from previous: Int?,
        to version: Int?, _ actor: AliasActor
    ) {
        let sequence = (history[name]?.count ?? 0) + 1
        history[name, default: []].append(
            AliasEvent(
                model: name, sequence: sequence, alias: alias, action: action,
                previousVersion: previous, version: version, actor: actor, at: Date()))
    }

    func aliasHistory(of name: String) -> [AliasEvent] { history[name] ?? [] }

    private var drift: [String: DriftWindow] = [:]

    func addDriftCounts(_ windows: [DriftWindow]) {
        for window in windows {
            let key = "\(window.model)@\(window.version)@\(window.hour)"
            if drift[key] != nil {
                drift[key]!.counts.add(window.counts)
            } else {
                drift[key] = window
            }
        }
    }

    func driftWindows(_ name: String, _ version: Int, sinceHour: Int) -> [DriftWindow] {
        drift.values.filter { $0.model == name && $0.version == version && $0.hour >= sinceHour }
            .sorted { $0.hour < $1.hour }
    }

    func setAlias(
        _ name: String, alias: String, version: Int, expecting: AliasExpectation?,
        by actor: AliasActor
    ) throws -> Int? {
        try Names.validateAlias(alias)
        guard stored[name]?[version] != nil else {
            throw RegistryError.notFound(.version(name, version))
        }
        let previous = aliasTable[name]?[alias]
        try expecting?.check(previous, model: name, alias: alias)
        aliasTable[name, default: [:]][alias] = version
        recordChange(name, alias, .set, from: previous, to: version, actor)
        return previous
    }

    func deleteAlias(_ name: String, alias: String, by actor: AliasActor) throws {
        guard let previous = aliasTable[name]?.removeValue(forKey: alias) else {
            throw RegistryError.notFound(.alias(model: name, alias: alias))
        }
        recordChange(name, alias, .deleted, from: previous, to: nil, actor)
    }

    func deleteVersion(
        _ name: String, _ number: Int, force: Bool, by actor: AliasActor
    ) throws -> [String] {
        guard stored[name]?[number] != nil else {
            throw RegistryError.notFound(.version(name, number))
        }
        let aliases = (aliasTable[name] ?? [:]).filter { $0.value == number }.keys.sorted()
        if !aliases.isEmpty && !force {
            throw RegistryError.aliasedVersion(name: name, version: number, aliases: aliases)
        }
        for alias in aliases {
            aliasTable[name]?[alias] = nil
            recordChange(name, alias, .removedWithVersion, from: number, to: nil, actor)
        }
        stored[name]?[number] = nil
        return aliases
    }
}
