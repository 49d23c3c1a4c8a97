import Foundation
import SegmentationEngine

// The registry's records: what every backend stores and returns, one set for all of them.

/// How a dataset's files are read.
public struct DatasetColumns: Codable, Sendable, Equatable {
    /// Transactions: role -> column.
    public var roles: [String: String] = [:]
    /// Customers: the id column (empty: detected).
    public var idColumn: String = ""

    public init(roles: [String: String] = [:], idColumn: String = "") {
        self.roles = roles
        self.idColumn = idColumn
    }
}

public struct DatasetFileRecord: Codable, Sendable, Equatable {
    public var name: String
    public var sizeBytes: Int64
    /// "sha256:" and the hex digest of the file's bytes; nil in records stored before it was kept
    /// (those are still checked as a whole, by the dataset's id).
    public var sha256: String?

    public init(name: String, sizeBytes: Int64, sha256: String? = nil) {
        self.name = name
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
    }
}

/// An uploaded dataset. Its files live in the data directory under the id.
public struct DatasetRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var kind: InputKind
    public var columns: DatasetColumns
    public var files: [DatasetFileRecord]
    public var rows: Int64
    /// Customers left after cleaning, and the features they offer (checked at submit time).
    public var customers: Int64
    public var features: [String]
    public var createdAt: Date

    public var sizeBytes: Int64 { files.reduce(0) { $0 + $1.sizeBytes } }
}

public enum JobStatus: String, Codable, Sendable {
    case queued, running, succeeded, failed, cancelled

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// A training job as stored.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var modelName: String
    public var datasetID: String
    public var configuration: TrainingConfiguration
    public var status: JobStatus
    public var stage: String
    public var fraction: Double
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var error: String?
    public var modelVersion: Int?
    public var kMetrics: [KCandidate]
    /// The server that claimed it from a shared queue (`ServerConfiguration.replicaID`), which
    /// alone may write it while it runs; nil for a job no server claimed (one server's own).
    public var owner: String? = nil
    /// Why it failed, for programs (nil while it runs, once it succeeded, and for a cancelled job,
    /// whose reason is always CANCELLED).
    public var failure: JobFailure? = nil
}

/// Why a job failed: a google.rpc.Code value that tells a program what to do (UNAVAILABLE: submit
/// it again; INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND: change the data or the spec) and
/// the stable reason of the error's ErrorInfo ("BAD_ROW", "INTERRUPTED"...).
public struct JobFailure: Sendable, Equatable {
    public var code: Int
    public var reason: String

    public init(code: Int, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The job's server shut down or stopped answering while it ran: the spec is worth submitting again.
    public static let interrupted = JobFailure(code: 14, reason: "INTERRUPTED")
    public static let cancelled = JobFailure(code: 1, reason: "CANCELLED")
    /// Its dataset was deleted before it ran.
    public static let datasetDeleted = JobFailure(code: 9, reason: "DATASET_DELETED")
    /// A failure stored before reasons were (registry schema 5 and older).
    public static let unknown = JobFailure(code: 2, reason: "UNKNOWN")
}

/// A client's idempotency key (AIP-155 `request_id`) and what its request produced.
public struct ClientRequest: Sendable, Equatable {
    /// How long a request id is remembered.
    public static let retention: TimeInterval = 24 * 3600

    public var method: String
    public var id: String
    /// A digest of what the request asked for: the same id with another fingerprint is refused.
    public var fingerprint: String
    /// The job or dataset it produced.
    public var resultID: String
    public var createdAt: Date

    public init(method: String, id: String, fingerprint: String, resultID: String, createdAt: Date)
    {
        self.method = method
        self.id = id
        self.fingerprint = fingerprint
        self.resultID = resultID
        self.createdAt = createdAt
    }

    /// The same id and fingerprint as `other`: a retry.
    func isRetry(of other: ClientRequest) throws -> Bool {
        guard other.fingerprint == fingerprint else {
            throw RegistryError.requestReused(
                "request_id \(id.quotedForMessage) was used within the last 24 hours for a different "
                    + (method == "UploadDataset" ? "upload" : "spec")
                    + "; use a new request_id for a new request")
        }
        return true
    }
}

/// Where a page of jobs ended, in their order (newest first, then id descending).
public struct JobCursor: Sendable, Equatable {
    public var createdAt: Date
    public var id: String

    public init(_ job: JobRecord) { createdAt = job.createdAt; id = job.id }

    init?(key: String) {
        let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2, let seconds = Double(parts[0]) else { return nil }
        createdAt = Date(timeIntervalSince1970: seconds)
        id = parts[1]
    }

    var key: String { "\(createdAt.timeIntervalSince1970) \(id)" }

    /// Whether a job comes after this cursor in list order.
    public func precedes(_ job: JobRecord) -> Bool {
        job.createdAt < createdAt || (job.createdAt == createdAt && job.id < id)
    }
}

/// An immutable model version as stored (the model bytes are fetched separately).
public struct VersionRecord: Sendable, Equatable {
    public var name: String
    public var version: Int
    public var createdAt: Date
    public var datasetID: String
    public var jobID: String?
    public var parentVersion: Int?
    public var kind: InputKind
    public var k: Int
    public var silhouette: Double
    public var customers: Int
}

public struct ModelSummaryRecord: Sendable, Equatable {
    public var name: String
    public var latestVersion: Int
    public var versionCount: Int
    public var aliases: [String: Int]
    public var updatedAt: Date
}

/// A version about to be registered.
public struct NewVersion: Sendable {
    public var name: String
    public var model: SegmentationModel
    public var modelBytes: Data
    public var datasetID: String
    public var jobID: String?
    public var parentVersion: Int?
}

/// Records read from storage; rows that could not be read are skipped and counted, so one bad
/// row never breaks a list.
public struct Listing<Item: Sendable>: Sendable {
    public var items: [Item]
    public var unreadable: Int

    public init(items: [Item], unreadable: Int = 0) {
        self.items = items
        self.unreadable = unreadable
    }
}

/// Who changed an alias, as far as the server knows: the person's own word (`author`, free
/// text), the token's role and the client's address.
public struct AliasActor: Sendable, Equatable {
    public var author: String?
    public var role: String?
    public var peer: String?

    public init(author: String? = nil, role: String? = nil, peer: String? = nil) {
        self.author = author
        self.role = role
        self.peer = peer
    }

    /// A change made by the server's own code (tests, tools), not a call.
    public static let unknown = AliasActor()
}

/// One change of an alias, kept for good in the registry's audit log.
public struct AliasEvent: Sendable, Equatable {
    public enum Action: String, Sendable {
        /// Pointed at a version (new, or moved from `previousVersion`).
        case set
        /// Deleted (DeleteAlias).
        case deleted
        /// Removed with the version it pointed at (a forced DeleteVersion).
        case removedWithVersion = "removed-with-version"
    }

    public var model: String
    /// Per model, in the order the changes were made (1, 2, ...).
    public var sequence: Int
    public var alias: String
    public var action: Action
    public var previousVersion: Int?
    /// Where it points after the change; nil when deleted.
    public var version: Int?
    public var actor: AliasActor
    public var at: Date
}

/// One model version's scored customers in one hour (replicas add to the same window).
public struct DriftWindow: Sendable, Equatable {
    public var model: String
    public var version: Int
    /// Hours since 1970 (UTC).
    public var hour: Int
    public var counts: DriftCounts

    public init(model: String, version: Int, hour: Int, counts: DriftCounts) {
        self.model = model
        self.version = version
        self.hour = hour
        self.counts = counts
    }

    /// Windows are kept this long (then dropped when new counts are added).
    public static let retentionHours = 90 * 24

    public static func hour(of date: Date) -> Int { Int(date.timeIntervalSince1970 / 3600) }
}
