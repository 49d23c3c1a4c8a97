import Foundation
import SegmentationEngine

/// A registry other servers also write to: it tells of their changes to models, versions and
/// aliases, so every server serves them promptly (the one write path still applies them:
/// `ServedModels.refresh`).
public protocol SharedRegistry: Registry {
    /// Runs until cancelled, calling `changed(name)` when a model's versions or aliases changed
    /// anywhere, and `changed(nil)` when changes may have been missed (the feed's connection was
    /// lost and is back): then everything must be re-read.
    func followChanges(_ changed: @escaping @Sendable (String?) async -> Void) async

    // The shared job queue: any server may run any job.

    /// Takes the oldest queued job for `owner` (running, attempt counted, heartbeat now), or nil.
    /// Servers claiming at once never get the same job (`FOR UPDATE SKIP LOCKED`). Times are the
    /// database's clock, so servers' clocks need not agree.
    func claimJob(owner: String) async throws -> JobRecord?
    /// Marks `owner`'s running jobs alive. Returns those asked to stop (CancelJob elsewhere) and
    /// those it no longer holds (queued again after it seemed dead): it must stop both.
    func heartbeat(
        owner: String, jobs: [String]
    ) async throws -> (stop: Set<String>, lost: Set<String>)
    /// Jobs not marked alive for `stalledAfter` seconds (by the database's clock): queued again
    /// while they have run fewer than `maximumAttempts` times, failed with the reason otherwise.
    func requeueStalled(
        stalledAfter: Double, maximumAttempts: Int
    ) async throws -> (requeued: [String], failed: [String])
    /// Gives a running job back (its server is shutting down): queued again without counting the
    /// attempt, or cancelled if that was asked meanwhile. Only while `owner` still holds it.
    func releaseJob(id: String, owner: String) async throws
    /// Jobs waiting in the queue (for --max-queued-jobs).
    func queuedJobCount() async throws -> Int
    /// CancelJob for a job this server does not run: a queued one is cancelled at once, a running
    /// one asked to stop (its server sees it on its next heartbeat). Returns the job.
    func requestCancel(jobID: String, at date: Date) async throws -> JobRecord
}

extension Registry {
    public func insertDataset(_ dataset: DatasetRecord) async throws -> Bool {
        try await insertDataset(dataset, request: nil)
    }
    public func insertJob(_ job: JobRecord) async throws {
        _ = try await insertJob(job, request: nil)
    }
}

/// Something a call names that may not exist, with its resource name (AIP-122:
/// `models/shop/versions/3`), which error details carry for programs.
public enum Resource: Sendable, Equatable {
    case model(String)
    case version(String, Int)
    case alias(model: String, alias: String)
    case dataset(String)
    case job(String)
    /// A job this server no longer holds (another replica took it over).
    case heldJob(String)
    /// The stored dataset a version was trained on.
    case trainingData(String, Int)

    /// "models/shop/versions/3", "datasets/sha256:...", "jobs/job-...".
    public var name: String {
        switch self {
        case .model(let model): "models/\(model)"
        case .version(let model, let version): "models/\(model)/versions/\(version)"
        case .alias(let model, let alias): "models/\(model)/aliases/\(alias)"
        case .dataset(let id): "datasets/\(id)"
        case .job(let id), .heldJob(let id): "jobs/\(id)"
        case .trainingData(let model, let version): "models/\(model)/versions/\(version)/dataset"
        }
    }

    /// google.rpc.ResourceInfo's resource_type.
    public var type: String {
        switch self {
        case .model: "model"
        case .version: "model version"
        case .alias: "alias"
        case .dataset, .trainingData: "dataset"
        case .job, .heldJob: "job"
        }
    }

    /// In words, for messages.
    public var prose: String {
        switch self {
        case .model(let model): "model \(model.quotedForMessage)"
        case .version(let model, let version): "model version \(model)@\(version)"
        case .alias(let model, let alias):
            "alias \(alias.quotedForMessage) of model \(model.quotedForMessage)"
        case .dataset(let id): "dataset \(id.quotedForMessage)"
        case .job(let id): "job \(id.quotedForMessage)"
        case .heldJob(let id): "job \(id.quotedForMessage) (held by this server)"
        case .trainingData(let model, let version): "the training dataset of \(model)@\(version)"
        }
    }
}

public enum RegistryError: Error, Equatable, CustomStringConvertible {
    case notFound(Resource)
    case aliasedVersion(name: String, version: Int, aliases: [String])
    case invalid(String)
    case storage(String)
    /// Busy for now (locked by another writer past the wait): worth retrying.
    case busy(String)
    /// The registry did not answer within its call timeout (a shared database that is away):
    /// nothing was changed, and the call is worth retrying once it is back.
    case unavailable(String)
    /// No room left to write.
    case full(String)
    /// The database itself is damaged (not one stored value: that is `corrupt`).
    case damagedDatabase(String)
    /// Stored bytes that fail their checksum or do not decode.
    case corrupt(String)
    /// A dataset still needed by versions or a job.
    case datasetInUse(String)
    /// A client's request id already used for a different request.
    case requestReused(String)
    /// A compare-and-swap alias switch found the alias elsewhere than expected.
    case aliasMoved(String)

    public var description: String {
        switch self {
        case .notFound(let resource): "\(resource.prose) not found"
        case .aliasedVersion(let name, let version, let aliases):
            "\(name)@\(version) is pointed at by alias \(aliases.sorted().joined(separator: ", ")); move or delete the alias first, or force the delete"
        case .invalid(let message): message
        case .storage(let message): "storage error: \(message)"
        case .busy(let message), .unavailable(let message), .full(let message),
            .damagedDatabase(let message):
            message
        case .corrupt(let message): message
        case .datasetInUse(let message), .requestReused(let message), .aliasMoved(let message):
            message
        }
    }
}

/// Where datasets, jobs, models, versions and aliases are kept. The embedded default is SQLite;
/// a shared PostgreSQL backend for many replicas implements the same protocol.
///
/// Every method is one transaction: a crash leaves either nothing or the whole change.
/// A method whose task is cancelled may stop early with CancellationError, leaving nothing
/// (GRDB's accesses are cancellable): a shutdown during startup does not wait for a slow store.
public protocol Registry: Sendable {
    /// Records the dataset, and the client's request id when given (in the same transaction).
    /// Returns whether the dataset was new. A request id already recorded for another dataset
    /// within `ClientRequest.retention` is refused (`requestReused`).
    func insertDataset(_ dataset: DatasetRecord, request: ClientRequest?) async throws -> Bool
    func dataset(id: String) async throws -> DatasetRecord?
    func datasets() async throws -> Listing<DatasetRecord>
    /// Every stored dataset's id, readable record or not.
    func datasetIDs() async throws -> Set<String>
    /// Deletes a dataset's record; returns the versions ("name@N") trained on it. Refused
    /// (`datasetInUse`) while versions were trained on it unless forced, and while a job that
    /// is queued or running uses it.
    func deleteDataset(id: String, force: Bool) async throws -> [String]

    /// Records the job, and the client's request id when given, in one transaction; returns the
    /// id of the job that holds the request: this one, or the one a request with the same id and
    /// fingerprint made before (then nothing is inserted). Another fingerprint: `requestReused`.
    func insertJob(_ job: JobRecord, request: ClientRequest?) async throws -> String
    /// A request id recorded within `ClientRequest.retention`, if any.
    func clientRequest(method: String, id: String) async throws -> ClientRequest?
    /// Forgets a request id (its request was refused after all, so a retry must run it).
    func forgetClientRequest(method: String, id: String) async throws
    func updateJob(_ job: JobRecord) async throws
    func job(id: String) async throws -> JobRecord?
    /// Newest first (then id descending), after `cursor` when given.
    func jobs(
        limit: Int, modelName: String?, after cursor: JobCursor?
    ) async throws -> Listing<JobRecord>
    /// Marks queued and running jobs failed (after a restart); returns how many.
    /// `owner` nil: every unfinished job (one server per registry); else only that server's.
    func failUnfinishedJobs(reason: String, at date: Date, owner: String?) async throws -> Int

    /// Registers the next version of a model, and when `completing` is given, records that job
    /// as succeeded with that version, in the same transaction.
    func addVersion(_ version: NewVersion, completing job: JobRecord?) async throws -> VersionRecord
    func models() async throws -> [ModelSummaryRecord]
    /// Throws `notFound` for an unknown model.
    func versions(of name: String) async throws -> [VersionRecord]
    func version(_ name: String, _ number: Int) async throws -> VersionRecord?
    /// The model's bytes, checked against the SHA-256 stored with them: `corrupt` when they differ.
    func modelBytes(_ name: String, _ number: Int) async throws -> Data
    /// Every version whose stored bytes fail their checksum, with the reason (a startup check).
    func corruptVersions() async throws -> [(model: String, version: Int, reason: String)]
    /// Answers when the storage can be read; throws when it cannot (health turns NOT_SERVING).
    func probe() async throws
    func aliases() async throws -> [(model: String, alias: String, version: Int)]
    /// Returns the version the alias pointed at before. The change and `actor` are added to the
    /// alias history in the same transaction (so are deletes, below). With an expectation the
    /// alias moves only if it is as expected, checked in the same transaction (`aliasMoved`).
    func setAlias(
        _ name: String, alias: String, version: Int, expecting: AliasExpectation?,
        by actor: AliasActor
    ) async throws -> Int?
    func deleteAlias(_ name: String, alias: String, by actor: AliasActor) async throws
    /// Returns the aliases removed with it (only when forced).
    func deleteVersion(
        _ name: String, _ number: Int, force: Bool, by actor: AliasActor
    ) async throws -> [String]
    /// Every change of the model's aliases, oldest first (empty for a model without any).
    func aliasHistory(of name: String) async throws -> [AliasEvent]

    /// Adds each window's counts to what is stored for its version and hour (several servers
    /// add up), in one transaction; windows older than `DriftWindow.retentionHours` are dropped.
    func addDriftCounts(_ windows: [DriftWindow]) async throws
    /// A version's windows from `sinceHour` on, oldest first.
    func driftWindows(_ name: String, _ version: Int, sinceHour: Int) async throws -> [DriftWindow]
}

extension Registry {
    @discardableResult
    public func setAlias(_ name: String, alias: String, version: Int) async throws -> Int? {
        try await setAlias(name, alias: alias, version: version, expecting: nil, by: .unknown)
    }
    @discardableResult
    public func setAlias(
        _ name: String, alias: String, version: Int, by actor: AliasActor
    ) async throws -> Int? {
        try await setAlias(name, alias: alias, version: version, expecting: nil, by: actor)
    }
    public func deleteAlias(_ name: String, alias: String) async throws {
        try await deleteAlias(name, alias: alias, by: .unknown)
    }
    @discardableResult
    public func deleteVersion(_ name: String, _ number: Int, force: Bool) async throws -> [String] {
        try await deleteVersion(name, number, force: force, by: .unknown)
    }
}

/// What a compare-and-swap alias switch expects the alias to point at now.
public enum AliasExpectation: Sendable, Equatable {
    /// The alias must not exist yet.
    case absent
    case version(Int)

    /// From the API's `expected_version` (0: absent).
    public init(_ expectedVersion: Int) {
        self = expectedVersion == 0 ? .absent : .version(expectedVersion)
    }

    /// `aliasMoved` unless the alias's current version (nil: none) is the expected one.
    func check(_ current: Int?, model: String, alias: String) throws {
        let expected: Int? =
            switch self {
            case .absent: nil
            case .version(let version): version
            }
        guard current != expected else { return }
        let now = current.map { "points at version \($0)" } ?? "does not exist"
        let then = expected.map { "version \($0)" } ?? "no version (a new alias)"
        throw RegistryError.aliasMoved(
            "alias \(alias.quotedForMessage) of model \(model.quotedForMessage) \(now), not \(then) as expected; nothing changed: read it again and retry"
        )
    }
}

/// Checks names of models and aliases (they appear in references like `name@alias`).
public enum Names {
    /// Aliases that would shadow a way of naming versions.
    public static let reservedAliases: Set<String> = ["latest"]

    public static func validateModelName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ isWordByte($0) || $0 == UInt8(ascii: ".") }),
            !name.utf8.allSatisfy({ $0 == UInt8(ascii: ".") })
        else {
            throw RegistryError.invalid(
                "model name \(quoted(name)) must be 1-64 letters, digits, '-', '_' or '.', not only dots"
            )
        }
    }

    public static func validateAlias(_ alias: String) throws {
        guard !alias.isEmpty, alias.utf8.count <= 64,
            !alias.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            alias.utf8.allSatisfy(isWordByte)
        else {
            throw RegistryError.invalid(
                "alias \(quoted(alias)) must be 1-64 letters, digits, '-' or '_', and not a number")
        }
        guard !reservedAliases.contains(alias.lowercased()) else {
            throw RegistryError.invalid(
                "alias \(alias.quotedForMessage) is reserved: name@\(alias.forMessage) already means the newest version"
            )
        }
    }

    /// A client's text in an error message: quoted, and cut at 64 bytes of UTF-8 (errors never
    /// echo unbounded input).
    /// Control characters are shown escaped (`\n`, `\0`), never written into a message or a log.
    public static func quoted(_ text: String) -> String { text.quotedForMessage }

    /// ASCII letters, digits, '-' and '_' (checked on bytes: this runs on every scoring call).
    private static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}

/// `name`, `name@3` or `name@alias`.
public struct ModelReference: Sendable, Equatable, CustomStringConvertible {
    public enum Selector: Sendable, Equatable {
        case latest
        case version(Int)
        case alias(String)
    }

    public var name: String
    public var selector: Selector

    public init(name: String, selector: Selector) {
        self.name = name
        self.selector = selector
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(
            String.init)
        try Names.validateModelName(parts[0])
        name = parts[0]
        guard parts.count == 2 else { selector = .latest; return }
        if let number = Int(parts[1]) {
            guard number >= 1 else {
                throw RegistryError.invalid("version numbers start at 1, got \(number)")
            }
            selector = .version(number)
        } else if parts[1].lowercased() == "latest" {
            selector = .latest  // name@latest: the newest version, as `name` alone
        } else {
            try Names.validateAlias(parts[1])
            selector = .alias(parts[1])
        }
    }

    public var description: String {
        switch selector {
        case .latest: name
        case .version(let number): "\(name)@\(number)"
        case .alias(let alias): "\(name)@\(alias)"
        }
    }
}
