import Foundation
import SegmentationEngine
import Synchronization

/// The scoring hot path's view of the registry: which versions and aliases exist (kept current
/// in memory as this server writes them) and the decoded models, each decoded once per version.
/// Resolving a reference takes one short lock and touches no disk.
public final class ModelCatalog: Sendable {
    public struct Resolved: Sendable {
        public var name: String
        public var version: Int
        public var model: SegmentationModel
    }

    private struct State {
        var versions: [String: Set<Int>] = [:]
        var aliases: [String: [String: Int]] = [:]
        var models: [VersionKey: SegmentationModel] = [:]
    }

    private struct VersionKey: Hashable {
        var name: String
        var version: Int
    }

    private let registry: any Registry
    private let state = Mutex(State())

    public init(registry: any Registry) {
        self.registry = registry
    }

    /// Loads the version and alias tables (not the models: they are decoded on first use).
    public func load() async throws {
        var fresh = State()
        for summary in try await registry.models() {
            fresh.versions[summary.name] = Set(try await registry.versions(of: summary.name).map(\.version))
        }
        for entry in try await registry.aliases() { fresh.aliases[entry.model, default: [:]][entry.alias] = entry.version }
        state.withLock { $0 = fresh }
    }

    /// The version a reference points at, or `notFound` naming what is missing.
    public func resolveVersion(_ reference: ModelReference) throws -> Int {
        try state.withLock { state in
            guard let versions = state.versions[reference.name], !versions.isEmpty else {
                throw RegistryError.notFound("model '\(reference.name)'")
            }
            switch reference.selector {
            case .latest:
                return versions.max()!
            case .version(let number):
                guard versions.contains(number) else { throw RegistryError.notFound("model version \(reference)") }
                return number
            case .alias(let alias):
                guard let number = state.aliases[reference.name]?[alias] else {
                    throw RegistryError.notFound("alias '\(alias)' of model '\(reference.name)'")
                }
                return number
            }
        }
    }

    /// The decoded model a reference points at.
    public func resolve(_ reference: ModelReference) async throws -> Resolved {
        let version = try resolveVersion(reference)
        let key = VersionKey(name: reference.name, version: version)
        if let model = state.withLock({ $0.models[key] }) {
            return Resolved(name: reference.name, version: version, model: model)
        }
        let model = try SegmentationModel(serialized: try await registry.modelBytes(reference.name, version))
        state.withLock { $0.models[key] = model }
        return Resolved(name: reference.name, version: version, model: model)
    }

    public func aliases(of name: String) -> [String: Int] {
        state.withLock { $0.aliases[name] ?? [:] }
    }

    // Called after the registry committed a change.

    func added(_ name: String, version: Int, model: SegmentationModel) {
        state.withLock {
            $0.versions[name, default: []].insert(version)
            $0.models[VersionKey(name: name, version: version)] = model
        }
    }

    func aliasSet(_ name: String, alias: String, version: Int) {
        state.withLock { $0.aliases[name, default: [:]][alias] = version }
    }

    func aliasDeleted(_ name: String, alias: String) {
        state.withLock { _ = $0.aliases[name]?.removeValue(forKey: alias) }
    }

    func versionDeleted(_ name: String, version: Int) {
        state.withLock { state in
            state.versions[name]?.remove(version)
            state.models[VersionKey(name: name, version: version)] = nil
            state.aliases[name] = state.aliases[name]?.filter { $0.value != version }
        }
    }
}
