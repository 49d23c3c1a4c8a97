import Foundation
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping
import SwiftProtobuf

// The registry's records as the API's messages (the engine's types are mapped in
// SegmentationMapping, shared with the CLI).

extension DatasetColumns {
    init(_ spec: Segmentation_V1_ColumnSpec) {
        self.init(roles: spec.roles, idColumn: spec.idColumn)
    }

    var proto: Segmentation_V1_ColumnSpec {
        .with {
            $0.roles = roles; $0.idColumn = idColumn
        }
    }
}

extension DatasetRecord {
    var proto: Segmentation_V1_Dataset {
        .with {
            $0.id = id
            $0.name = name
            $0.kind = kind.proto
            $0.columns = columns.proto
            $0.files = files.map { file in
                .with {
                    $0.name = file.name; $0.sizeBytes = file.sizeBytes;
                    $0.sha256 = file.sha256 ?? ""
                }
            }
            $0.sizeBytes = sizeBytes
            $0.rows = rows
            $0.createdAt = Google_Protobuf_Timestamp(createdAt)
        }
    }
}

extension JobStatus {
    var proto: Segmentation_V1_JobState {
        switch self {
        case .queued: .queued
        case .running: .running
        case .succeeded: .succeeded
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }
}

extension JobRecord {
    var proto: Segmentation_V1_Job {
        .with {
            $0.id = id
            $0.spec = TrainingSpecs.spec(configuration, modelName: modelName, datasetID: datasetID)
            $0.state = status.proto
            $0.stage = stage
            $0.fraction = fraction
            $0.createdAt = Google_Protobuf_Timestamp(createdAt)
            if let startedAt { $0.startedAt = Google_Protobuf_Timestamp(startedAt) }
            if let finishedAt { $0.finishedAt = Google_Protobuf_Timestamp(finishedAt) }
            $0.error = error ?? ""
            $0.modelVersion = Int32(modelVersion ?? 0)
            $0.kMetrics = kMetrics.map(\.proto)
            $0.server = owner ?? ""
            if let failure = statusFailure {
                $0.status = RPCErrors.status(
                    code: failure.code, message: error ?? "", reason: failure.reason)
            }
        }
    }

    /// A cancelled job's is always CANCELLED; a failed one's as stored.
    private var statusFailure: JobFailure? {
        switch status {
        case .cancelled: .cancelled
        case .failed: failure ?? .unknown
        default: nil
        }
    }
}

extension VersionRecord {
    func proto(aliases: [String: Int]) -> Segmentation_V1_VersionSummary {
        .with {
            $0.name = name
            $0.version = Int32(version)
            $0.aliases = aliases.filter { $0.value == version }.keys.sorted()
            $0.createdAt = Google_Protobuf_Timestamp(createdAt)
            $0.k = Int32(k)
            $0.silhouette = silhouette
            $0.customers = Int64(customers)
            $0.datasetID = datasetID
            $0.jobID = jobID ?? ""
            $0.parentVersion = Int32(parentVersion ?? 0)
            $0.kind = kind.proto
        }
    }
}

extension ModelReference {
    /// A request's ModelRef, checked: `field` names it in errors ("model").
    init(_ ref: Segmentation_V1_ModelRef, field: String = "model") throws {
        guard !ref.name.isEmpty else {
            throw InvalidField(
                "\(field).name",
                "\(field).name is required (a model name; version or alias optional, neither: the latest)"
            )
        }
        do {
            try Names.validateModelName(ref.name)
        } catch RegistryError.invalid(let why) {
            throw InvalidField("\(field).name", "\(field).name: \(why)")
        }
        switch ref.selector {
        case nil:
            self.init(name: ref.name, selector: .latest)
        case .version(let number)?:
            guard number >= 1 else {
                throw InvalidField(
                    "\(field).version",
                    "\(field).version: version numbers start at 1, got \(number)")
            }
            self.init(name: ref.name, selector: .version(Int(number)))
        case .alias(let alias)?:
            if alias.lowercased() == "latest" {
                self.init(name: ref.name, selector: .latest)
                return
            }
            do {
                try Names.validateAlias(alias)
            } catch RegistryError.invalid(let why) {
                throw InvalidField("\(field).alias", "\(field).alias: \(why)")
            }
            self.init(name: ref.name, selector: .alias(alias))
        }
    }
}

extension DatasetRecord {
    /// What a training spec is checked against.
    var shape: DatasetShape {
        DatasetShape(
            kind: kind, roles: columns.roles, idColumn: columns.idColumn, features: features,
            customers: customers)
    }
}

extension AliasEvent {
    var proto: Segmentation_V1_AliasEvent {
        .with {
            $0.sequence = Int64(sequence)
            $0.alias = alias
            $0.action =
                switch action {
                case .set: .set
                case .deleted: .deleted
                case .removedWithVersion: .removedWithVersion
                }
            $0.previousVersion = Int32(previousVersion ?? 0)
            $0.version = Int32(version ?? 0)
            $0.author = actor.author ?? ""
            $0.role = actor.role ?? ""
            $0.peer = actor.peer ?? ""
            $0.at = .init(at)
        }
    }
}

extension Segmentation_V1_GetDriftResponse {
    mutating func fill(_ report: DriftReport) {
        customers = Int64(report.customers)
        features = report.features.map(\.proto)
        segments = report.segments.proto
        largestPsi = report.largest
        reading = DriftReport.reading(report.largest)
    }
}

extension DriftReport.Item {
    var proto: Segmentation_V1_DriftItem {
        .with {
            $0.name = name
            $0.psi = psi
            $0.reading = DriftReport.reading(psi)
            $0.actual = actual
            $0.expected = expected
        }
    }
}
