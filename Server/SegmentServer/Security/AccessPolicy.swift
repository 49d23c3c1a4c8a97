import GRPCCore
import SegmentationAPI

/// Who may call what. A token carries one role; each role is a set of what it may do.
public enum Role: String, Sendable, CaseIterable {
    /// Everything, including moving aliases, deleting versions and datasets, editing segments.
    case admin
    /// Upload, train, manage jobs, export, and read models.
    case trainer
    /// Score, and read models.
    case scorer
    /// Read only: models, versions, datasets, jobs.
    case viewer

    var abilities: Set<Ability> {
        switch self {
        case .admin: Set(Ability.allCases)
        case .trainer: [.read, .train, .export]
        case .scorer: [.read, .score]
        case .viewer: [.read]
        }
    }
}

/// What a call does, as the roles see it.
enum Ability: String, Sendable, CaseIterable {
    /// No token needed: health checks and reflection (load balancers and tools call them).
    case open
    case read, score, train, export, administer
}

enum AccessPolicy {
    /// The ability each method needs. A method not listed needs `administer` (a new RPC is closed
    /// until someone decides who may call it).
    static let needs: [String: Ability] = {
        typealias Datasets = Segmentation_V1_DatasetService.Method
        typealias Training = Segmentation_V1_TrainingService.Method
        typealias Models = Segmentation_V1_ModelRegistry.Method
        typealias Scoring = Segmentation_V1_ScoringService.Method
        typealias Live = Segmentation_V1_LiveSegmentationService.Method
        let pairs: [(MethodDescriptor, Ability)] = [
            (Datasets.GetDataset.descriptor, .read), (Datasets.ListDatasets.descriptor, .read),
            (Datasets.UploadDataset.descriptor, .train),
            (Datasets.DeleteDataset.descriptor, .administer),
            (Training.SubmitTrainingJob.descriptor, .train),
            (Training.CancelJob.descriptor, .train),
            (Training.GetJob.descriptor, .read), (Training.ListJobs.descriptor, .read),
            (Training.WatchJob.descriptor, .read),
            (Models.ListModels.descriptor, .read), (Models.ListVersions.descriptor, .read),
            (Models.GetModel.descriptor, .read),
            (Models.ExportAssignments.descriptor, .export),
            (Models.DiffModels.descriptor, .export),
            (Models.ListAliasHistory.descriptor, .read),
            (Models.GetDrift.descriptor, .read),
            (Models.ListSegmentSizes.descriptor, .read),
            (Models.SetAlias.descriptor, .administer), (Models.DeleteAlias.descriptor, .administer),
            (Models.DeleteVersion.descriptor, .administer),
            (Models.RenameSegment.descriptor, .administer),
            (Models.ExportModel.descriptor, .export), (Models.ImportModel.descriptor, .administer),
            (Scoring.Score.descriptor, .score), (Scoring.ScoreStream.descriptor, .score),
            // The services that score customers as they buy feed and read the store; audiences
            // and the change feed are exports (customer lists).
            (Live.IngestTransactions.descriptor, .score),
            (Live.RecordTransactions.descriptor, .score), (Live.GetCustomer.descriptor, .score),
            (Live.ListSegmentMembers.descriptor, .export),
            (Live.WatchSegmentChanges.descriptor, .export),
            (Grpc_Health_V1_Health.Method.Check.descriptor, .open),
            (Grpc_Health_V1_Health.Method.Watch.descriptor, .open),
            (Grpc_Reflection_V1_ServerReflection.Method.ServerReflectionInfo.descriptor, .open),
            (
                Grpc_Reflection_V1alpha_ServerReflection.Method.ServerReflectionInfo.descriptor,
                .open
            ),
        ]
        return Dictionary(uniqueKeysWithValues: pairs.map { ($0.0.fullyQualifiedMethod, $0.1) })
    }()

    static func ability(for method: MethodDescriptor) -> Ability {
        needs[method.fullyQualifiedMethod] ?? .administer
    }
}
