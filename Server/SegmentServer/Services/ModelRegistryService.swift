import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine

/// Lists, explains, aliases, deletes and annotates model versions.
struct ModelRegistryService: Segmentation_V1_ModelRegistry.SimpleServiceProtocol {
    let registry: any Registry
    let catalog: ModelCatalog

    func listModels(request: Segmentation_V1_ListModelsRequest, context: ServerContext) async throws -> Segmentation_V1_ListModelsResponse {
        try await handling {
            let models = try await registry.models()
            return .with {
                $0.models = models.map { model in
                    .with {
                        $0.name = model.name
                        $0.latestVersion = Int32(model.latestVersion)
                        $0.versionCount = Int32(model.versionCount)
                        $0.aliases = model.aliases.mapValues(Int32.init)
                        $0.updatedAt = .init(model.updatedAt)
                    }
                }
            }
        }
    }

    func listVersions(request: Segmentation_V1_ListVersionsRequest, context: ServerContext) async throws -> Segmentation_V1_ListVersionsResponse {
        try await handling {
            try Names.validateModelName(request.name)
            let versions = try await registry.versions(of: request.name)
            let aliases = catalog.aliases(of: request.name)
            return .with { $0.versions = versions.map { $0.proto(aliases: aliases) } }
        }
    }

    func getModel(request: Segmentation_V1_GetModelRequest, context: ServerContext) async throws -> Segmentation_V1_GetModelResponse {
        try await handling {
            let resolved = try await catalog.resolve(try ModelReference(parsing: request.reference))
            guard let version = try await registry.version(resolved.name, resolved.version) else {
                throw RegistryError.notFound("model version \(resolved.name)@\(resolved.version)")
            }
            let detail = resolved.model.detail(version: version, aliases: catalog.aliases(of: resolved.name),
                                               includeSample: request.includeSample)
            return .with { $0.model = detail }
        }
    }

    func setAlias(request: Segmentation_V1_SetAliasRequest, context: ServerContext) async throws -> Segmentation_V1_SetAliasResponse {
        try await handling {
            try Names.validateModelName(request.name)
            try Names.validateAlias(request.alias)
            let previous = try await registry.setAlias(request.name, alias: request.alias, version: Int(request.version))
            catalog.aliasSet(request.name, alias: request.alias, version: Int(request.version))
            return .with { $0.previousVersion = Int32(previous ?? 0) }
        }
    }

    func deleteAlias(request: Segmentation_V1_DeleteAliasRequest, context: ServerContext) async throws -> Segmentation_V1_DeleteAliasResponse {
        try await handling {
            try Names.validateModelName(request.name)
            try await registry.deleteAlias(request.name, alias: request.alias)
            catalog.aliasDeleted(request.name, alias: request.alias)
            return .init()
        }
    }

    func deleteVersion(request: Segmentation_V1_DeleteVersionRequest, context: ServerContext) async throws -> Segmentation_V1_DeleteVersionResponse {
        try await handling {
            try Names.validateModelName(request.name)
            let removed = try await registry.deleteVersion(request.name, Int(request.version), force: request.force)
            catalog.versionDeleted(request.name, version: Int(request.version))
            return .with { $0.removedAliases = removed }
        }
    }

    func renameSegment(request: Segmentation_V1_RenameSegmentRequest, context: ServerContext) async throws -> Segmentation_V1_RenameSegmentResponse {
        try await handling {
            let resolved = try await catalog.resolve(try ModelReference(parsing: request.reference))
            guard let source = try await registry.version(resolved.name, resolved.version) else {
                throw RegistryError.notFound("model version \(resolved.name)@\(resolved.version)")
            }
            let renamed = try resolved.model.renamingSegment(
                Int(request.segmentID), to: request.newName, author: request.author.isEmpty ? nil : request.author)
            let version = try await registry.addVersion(
                NewVersion(name: resolved.name, model: renamed, modelBytes: try renamed.serialized(),
                           datasetID: source.datasetID, jobID: source.jobID, parentVersion: resolved.version),
                completing: nil)
            catalog.added(version.name, version: version.version, model: renamed)
            return .with { $0.version = version.proto(aliases: catalog.aliases(of: version.name)) }
        }
    }
}
