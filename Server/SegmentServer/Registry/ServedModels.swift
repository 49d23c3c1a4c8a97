import Foundation
import SegmentationEngine
import Synchronization

/// The one way models, versions and aliases change: each write is stored and applied to the
/// in-memory view scoring serves as one serialised step, so the two never disagree (no
/// interleaving of two writers between "committed" and "served"). Services and the job manager
/// call it and never touch the view. Reads (resolving `name@ref`) take one short lock and no
/// disk once a version's model is decoded.
///
/// Changes made elsewhere (another replica on a shared registry) come in through
/// `refresh(model:)` and `reloadCatalog()`: they read the registry without holding the write
/// lock (so a write never waits behind their network reads) and apply what they read in one
/// serialised step, only if no write came in between (else they read again).
public final class ServedModels: Sendable {
    public struct Resolved: Sendable {
        public var name: String
        public var version: Int
        public var model: SegmentationModel
    }

    public let registry: any Registry
    private let view: Mutex<View>
    private let writes = SerialLock()
    /// Writes applied so far: a re-read that saw a different count at its start is stale.
    private let writeCount = Atomic<Int>(0)

    /// - Parameter cacheBytes: decoded models are kept up to about this many bytes of serialized
    ///   model (least recently used first out); 0 keeps none.
    public init(registry: any Registry, cacheBytes: Int = 512 << 20) {
        self.registry = registry
        view = Mutex(View(cacheBytes: cacheBytes))
    }

    /// Loads the version and alias tables (not the models: they are decoded on first use).
    public func load() async throws {
        try await writes.run {
            let (versions, aliases, updated) = try await readCatalog()
            let damaged = try await registry.corruptVersions()
            view.withLock { view in
                view.replaceAll(versions: versions, aliases: aliases, updated: updated)
                view.problems = Dictionary(
                    uniqueKeysWithValues: damaged.map {
                        (View.Key(name: $0.model, version: $0.version), $0.reason)
                    })
            }
        }
    }

    /// Re-reads the version and alias tables (after changes elsewhere may have been missed),
    /// keeping the decoded models still listed and the known problems; one serialised step.
    public func reloadCatalog() async throws {
        try await applyingFresh(readCatalog) { catalog in
            view.withLock {
                $0.replaceAll(
                    versions: catalog.versions, aliases: catalog.aliases, updated: catalog.updated)
            }
        }
    }

    /// Reads with no lock held, then applies in one serialised step if no write came in between;
    /// after three stale reads (writes keep coming), reads under the lock.
    private func applyingFresh<Read: Sendable>(
        _ read: @Sendable () async throws -> Read, apply: (Read) -> Void
    ) async throws {
        for _ in 0..<3 {
            let before = writeCount.load(ordering: .acquiring)
            let fresh = try await read()
            let applied = try await writes.run {
                guard writeCount.load(ordering: .acquiring) == before else { return false }
                apply(fresh)
                return true
            }
            if applied { return }
        }
        try await writes.run { apply(try await read()) }
    }

    /// Counts a write; called inside the write lock once the view has it.
    private func wrote() { writeCount.add(1, ordering: .releasing) }

    /// Every model's version numbers and aliases, as stored.
    private func readCatalog() async throws -> (
        versions: [String: [VersionRecord]], aliases: [String: [String: Int]],
        updated: [String: Date]
    ) {
        var versions: [String: [VersionRecord]] = [:]
        var updated: [String: Date] = [:]
        for summary in try await registry.models() {
            versions[summary.name] = try await registry.versions(of: summary.name)
            updated[summary.name] = summary.updatedAt
        }
        var aliases: [String: [String: Int]] = [:]
        for entry in try await registry.aliases() {
            aliases[entry.model, default: [:]][entry.alias] = entry.version
        }
        return (versions, aliases, updated)
    }

    /// Versions that cannot be served, and why (checked at load, and whenever a read fails).
    public func problems() -> [(name: String, version: Int, reason: String)] {
        view.withLock {
            $0.problems.map { (name: $0.key.name, version: $0.key.version, reason: $0.value) }
        }
        .sorted { ($0.name, $0.version) < ($1.name, $1.version) }
    }

    /// Models with at least one version, their versions, and the versions decoded in memory.
    public var inventory: (models: Int, versions: Int, decoded: Int) {
        view.withLock { view in
            let versions = view.versions.values.filter { !$0.isEmpty }
            return (versions.count, versions.reduce(0) { $0 + $1.count }, view.decodedCount)
        }
    }

    public func problem(_ name: String, _ version: Int) -> String? {
        view.withLock { $0.problems[View.Key(name: name, version: version)] }
    }

    // MARK: Reads

    /// The version a reference points at, or `notFound` naming what is missing.
    public func resolveVersion(_ reference: ModelReference) throws -> Int {
        try view.withLock { try $0.resolveVersion(reference) }
    }

    /// The decoded model a reference points at.
    public func resolve(_ reference: ModelReference) async throws -> Resolved {
        let version = try resolveVersion(reference)
        CallNotes.served(model: reference.name, version: version)
        return try await model(reference.name, version: version)
    }

    /// The decoded model of one version the view knows (decoded and cached on first use).
    private func model(_ name: String, version: Int) async throws -> Resolved {
        if let model = view.withLock({ $0.cached(name, version) }) {
            return Resolved(name: name, version: version, model: model)
        }
        let key = View.Key(name: name, version: version)
        if let problem = view.withLock({ $0.problems[key] }) {
            throw RegistryError.corrupt("model version \(name)@\(version) is damaged: \(problem)")
        }
        let model: SegmentationModel
        let bytes: Data
        do {
            bytes = try await registry.modelBytes(name, version)
            model = try SegmentationModel(serialized: bytes)
        } catch let error as RegistryError {
            if case .corrupt = error {
                view.withLock { $0.problems[key] = "its stored bytes fail their SHA-256 checksum" }
            }
            throw error
        } catch let error as ModelError {
            view.withLock {
                $0.problems[key] =
                    "its stored bytes do not decode: \(String(describing: error).prefix(200))"
            }
            throw RegistryError.corrupt(
                "model version \(name)@\(version) is damaged: its stored bytes do not decode")
        }
        view.withLock { $0.cache(model, bytes: bytes.count, name: name, version: version) }
        return Resolved(name: name, version: version, model: model)
    }

    public func aliases(of name: String) -> [String: Int] {
        view.withLock { $0.aliases[name] ?? [:] }
    }

    /// Versions known to the view, for consistency checks.
    public func versions(of name: String) -> Set<Int> {
        view.withLock { $0.versions[name] ?? [] }
    }

    // Reads answered from the view, as served: they go on answering while the registry is away.

    /// A version's record, as served.
    public func record(_ name: String, _ version: Int) -> VersionRecord? {
        view.withLock { $0.records[View.Key(name: name, version: version)] }
    }

    /// A model's version records, oldest first, as served; `notFound` for a model with none.
    public func records(of name: String) throws -> [VersionRecord] {
        let records = view.withLock { view in
            (view.versions[name] ?? []).compactMap {
                view.records[View.Key(name: name, version: $0)]
            }
        }
        guard !records.isEmpty else {
            throw RegistryError.notFound(.model(name))
        }
        return records.sorted { $0.version < $1.version }
    }

    /// Every model with a version, by name, as served.
    public func summaries() -> [ModelSummaryRecord] {
        view.withLock { view in
            view.versions.compactMap { name, versions -> ModelSummaryRecord? in
                guard let latest = versions.max() else { return nil }
                return ModelSummaryRecord(
                    name: name, latestVersion: latest, versionCount: versions.count,
                    aliases: view.aliases[name] ?? [:],
                    updatedAt: view.updated[name] ?? .distantPast)
            }.sorted { $0.name < $1.name }
        }
    }

    // MARK: Writes (each one serialised step: stored, then served)

    /// Registers a version built against the model's latest version as it is now (nil for a new
    /// model; a failure when it cannot be read), in the same serialised step as the write, so
    /// nothing registered or renamed in between is missed.
    public func addVersion(
        named name: String, completing job: JobRecord?,
        _ build: @escaping @Sendable (Result<Resolved, any Error>?) async throws -> NewVersion
    ) async throws -> VersionRecord {
        try await writes.run {
            let latestReference = ModelReference(name: name, selector: .latest)
            var latest: Result<Resolved, any Error>?
            if let number = try? await resolveVersionCatchingUp(latestReference) {
                do {
                    latest = .success(try await model(name, version: number))
                } catch {
                    latest = .failure(error)
                }
            }
            let version = try await build(latest)
            let record = try await registry.addVersion(version, completing: job)
            view.withLock {
                $0.added(record, model: version.model, bytes: version.modelBytes.count)
            }
            wrote()
            return record
        }
    }

    /// Points an alias at a version; returns the version it pointed at before.
    public func setAlias(_ name: String, alias: String, version: Int) async throws -> Int? {
        try await setAlias(alias, to: ModelReference(name: name, selector: .version(version)))
            .previous
    }

    /// Points an alias at the version a reference names (a number, another alias, or the
    /// latest), resolved in the same serialised step as the write, so promoting "staging" to
    /// "production" cannot pick up a version that moved in between.
    public func setAlias(
        _ alias: String, to reference: ModelReference, expecting: AliasExpectation? = nil,
        by actor: AliasActor = .unknown
    ) async throws -> (previous: Int?, version: Int) {
        try await writes.run {
            let version = try await resolveVersionCatchingUp(reference)
            let previous = try await registry.setAlias(
                reference.name, alias: alias, version: version, expecting: expecting, by: actor)
            view.withLock { $0.aliases[reference.name, default: [:]][alias] = version }
            wrote()
            return (previous, version)
        }
    }

    public func deleteAlias(
        _ name: String, alias: String, by actor: AliasActor = .unknown
    ) async throws {
        try await writes.run {
            try await registry.deleteAlias(name, alias: alias, by: actor)
            view.withLock { _ = $0.aliases[name]?.removeValue(forKey: alias) }
            wrote()
        }
    }

    /// Deletes a version (and, when forced, the aliases on it); returns the aliases removed.
    public func deleteVersion(
        _ name: String, _ number: Int, force: Bool, by actor: AliasActor = .unknown
    ) async throws -> [String] {
        try await writes.run {
            let removed = try await registry.deleteVersion(name, number, force: force, by: actor)
            view.withLock { $0.deleted(name, version: number) }
            wrote()
            return removed
        }
    }

    /// A person's wording for one segment of the version a reference points at, registered as a
    /// new version; the read of the source version and the write are one step.
    public func editSegment(
        _ reference: ModelReference, segment: Int, name: String?, description: String?,
        actions: [String]?, author: String?
    ) async throws -> VersionRecord {
        try await writes.run {
            let resolved = try await model(
                reference.name, version: try await resolveVersionCatchingUp(reference))
            guard let source = try await registry.version(resolved.name, resolved.version) else {
                throw RegistryError.notFound(.version(resolved.name, resolved.version))
            }
            let edited = try resolved.model.editingSegment(
                segment, name: name, description: description, actions: actions, author: author)
            let bytes = try edited.serialized()
            let record = try await registry.addVersion(
                NewVersion(
                    name: resolved.name, model: edited, modelBytes: bytes,
                    datasetID: source.datasetID, jobID: source.jobID,
                    parentVersion: resolved.version),
                completing: nil)
            view.withLock { $0.added(record, model: edited, bytes: bytes.count) }
            wrote()
            return record
        }
    }

    /// Re-reads one model's versions and aliases from storage into the view (for changes made
    /// elsewhere), as one serialised step.
    public func refresh(model name: String) async throws {
        let registry = self.registry
        try await applyingFresh({ try await Self.readModel(name, from: registry) }) {
            apply($0, to: name)
        }
    }

    /// One model's versions, last update and aliases, as stored.
    private static func readModel(
        _ name: String, from registry: any Registry
    ) async throws -> StoredModel {
        let versions: [VersionRecord]
        do {
            versions = try await registry.versions(of: name)
        } catch RegistryError.notFound {
            versions = []  // its last version was deleted
        }
        let updated = try await registry.models().first { $0.name == name }?.updatedAt
        let aliases = try await registry.aliases().filter { $0.model == name }
        return StoredModel(
            versions: versions, updated: updated,
            aliases: Dictionary(uniqueKeysWithValues: aliases.map { ($0.alias, $0.version) }))
    }

    private struct StoredModel: Sendable {
        var versions: [VersionRecord]
        var updated: Date?
        var aliases: [String: Int]
    }

    private func apply(_ fresh: StoredModel, to name: String) {
        view.withLock {
            $0.replace(
                name, versions: fresh.versions, aliases: fresh.aliases, updated: fresh.updated)
        }
    }

    /// Inside the write lock: the version a reference names. On a shared registry a version
    /// another replica just registered may not be in this view yet (its change notification is
    /// still on the way), so a reference this view does not know is looked up in the registry
    /// once before NOT_FOUND: a client that saw its job succeed can alias the version on any replica.
    private func resolveVersionCatchingUp(_ reference: ModelReference) async throws -> Int {
        do {
            return try resolveVersion(reference)
        } catch RegistryError.notFound where registry is any SharedRegistry {
            apply(try await Self.readModel(reference.name, from: registry), to: reference.name)
            wrote()  // a re-read that started before this one is older: it must not overwrite it
            return try resolveVersion(reference)
        }
    }
}

/// What the repository serves: versions, aliases, and decoded models in an LRU cache bounded by
/// their serialized size.
struct View {
    struct Key: Hashable {
        var name: String
        var version: Int
    }

    struct Entry {
        var model: SegmentationModel
        var bytes: Int
        var lastUse: UInt64
    }

    var versions: [String: Set<Int>] = [:]
    /// Each served version's record (what ListVersions and GetModel tell about it).
    var records: [Key: VersionRecord] = [:]
    /// When each model last got a version.
    var updated: [String: Date] = [:]
    var aliases: [String: [String: Int]] = [:]
    /// Versions that cannot be served, and why.
    var problems: [Key: String] = [:]
    private var models: [Key: Entry] = [:]
    private var cachedBytes = 0
    var decodedCount: Int { models.count }
    private var clock: UInt64 = 0
    let cacheBytes: Int

    init(cacheBytes: Int) { self.cacheBytes = cacheBytes }

    func resolveVersion(_ reference: ModelReference) throws -> Int {
        guard let known = versions[reference.name], !known.isEmpty else {
            if case .version(let number) = reference.selector,
                let problem = problems[Key(name: reference.name, version: number)]
            {
                throw RegistryError.corrupt(
                    "model version \(reference) cannot be served: \(problem)")
            }
            throw RegistryError.notFound(.model(reference.name))
        }
        switch reference.selector {
        case .latest:
            return known.max()!
        case .version(let number):
            if let problem = problems[Key(name: reference.name, version: number)],
                !known.contains(number)
            {
                throw RegistryError.corrupt(
                    "model version \(reference) cannot be served: \(problem)")
            }
            guard known.contains(number) else {
                throw RegistryError.notFound(.version(reference.name, number))
            }
            return number
        case .alias(let alias):
            guard let number = aliases[reference.name]?[alias] else {
                throw RegistryError.notFound(.alias(model: reference.name, alias: alias))
            }
            return number
        }
    }

    mutating func cached(_ name: String, _ version: Int) -> SegmentationModel? {
        let key = Key(name: name, version: version)
        guard models[key] != nil else { return nil }
        clock += 1
        models[key]!.lastUse = clock
        return models[key]!.model
    }

    /// Keeps a decoded model if its version still exists, then evicts the least recently used
    /// until the cache fits its budget.
    mutating func cache(_ model: SegmentationModel, bytes: Int, name: String, version: Int) {
        guard versions[name]?.contains(version) == true, cacheBytes > 0 else { return }
        let key = Key(name: name, version: version)
        if let old = models[key] { cachedBytes -= old.bytes }
        clock += 1
        models[key] = Entry(model: model, bytes: bytes, lastUse: clock)
        cachedBytes += bytes
        while cachedBytes > cacheBytes, models.count > 1,
            let victim = models.filter({ $0.key != key }).min(by: {
                $0.value.lastUse < $1.value.lastUse
            })
        {
            cachedBytes -= victim.value.bytes
            models[victim.key] = nil
        }
    }

    mutating func added(_ record: VersionRecord, model: SegmentationModel, bytes: Int) {
        versions[record.name, default: []].insert(record.version)
        records[Key(name: record.name, version: record.version)] = record
        updated[record.name] = record.createdAt
        problems[Key(name: record.name, version: record.version)] = nil
        cache(model, bytes: bytes, name: record.name, version: record.version)
    }

    mutating func deleted(_ name: String, version: Int) {
        versions[name]?.remove(version)
        records[Key(name: name, version: version)] = nil
        problems[Key(name: name, version: version)] = nil
        if let old = models.removeValue(forKey: Key(name: name, version: version)) {
            cachedBytes -= old.bytes
        }
        aliases[name] = aliases[name]?.filter { $0.value != version }
    }

    mutating func replaceAll(
        versions: [String: [VersionRecord]], aliases: [String: [String: Int]],
        updated: [String: Date]
    ) {
        self.versions = versions.mapValues { Set($0.map(\.version)) }
        records = Dictionary(
            versions.values.joined().map { (Key(name: $0.name, version: $0.version), $0) },
            uniquingKeysWith: { $1 })
        self.updated = updated
        self.aliases = aliases
        for key in models.keys where self.versions[key.name]?.contains(key.version) != true {
            cachedBytes -= models.removeValue(forKey: key)!.bytes
        }
    }

    mutating func replace(
        _ name: String, versions records: [VersionRecord], aliases: [String: Int], updated: Date?
    ) {
        let versions = Set(records.map(\.version))
        self.versions[name] = versions
        for key in self.records.keys where key.name == name { self.records[key] = nil }
        for record in records { self.records[Key(name: name, version: record.version)] = record }
        self.updated[name] = updated
        self.aliases[name] = aliases
        for key in models.keys where key.name == name && !versions.contains(key.version) {
            cachedBytes -= models.removeValue(forKey: key)!.bytes
        }
    }
}
