import SegmentationEngine
import Synchronization

/// A model's segments, version by version: their names, and their stable ids
/// (`Segment.stableIDOrDefault`: the matching segment of a later version keeps it, as `models
/// diff` matches them). A customer placed under another version moved only when their
/// segment's stable id changed; within one version, when its index did. Versions never change
/// once trained (a rename registers a new one), so what is learnt is kept; a version that
/// cannot be read (deleted, damaged) is known with no segments, and every customer placed under
/// it is told as a move, its segment unnamed.
final class SegmentIdentities: Sendable {
    /// Per version, each segment's stable id.
    typealias Versions = [Int: [Int: Int]]

    private let models: ServedModels
    private let known = Mutex<[String: [Int: [Int: Segment]]]>([:])

    init(models: ServedModels) { self.models = models }

    /// The stable ids known of `model`'s versions (a copy, for use inside a transaction).
    func versions(of model: String) -> Versions {
        known.withLock { ($0[model] ?? [:]).mapValues { $0.mapValues(\.stableIDOrDefault) } }
    }

    /// Segment `id` of `model`'s `version`, its version learnt on first use; nil without an id
    /// or a version, or when the version has no such segment.
    func segment(_ id: Int?, of model: String, version: Int?) async throws -> Segment? {
        guard let id, let version else { return nil }
        try await learn(model, versions: [version])
        return known.withLock { $0[model]?[version]?[id] }
    }

    /// Reads the versions' segments (outside any transaction: decoding a model may read the
    /// registry). A version deleted or damaged is known with none; any other failure (the
    /// registry away, the call cancelled) is thrown and nothing is learnt of that version.
    func learn(_ model: String, versions: Set<Int>) async throws {
        for version in versions.subtracting(self.versions(of: model).keys) {
            var segments: [Segment] = []
            do {
                segments = try await models.resolve(
                    ModelReference(name: model, selector: .version(version))
                ).model.segments
            } catch RegistryError.notFound, RegistryError.corrupt {
                // Gone for good: its customers are told as moving.
            }
            let byID = Dictionary(
                segments.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            known.withLock { $0[model, default: [:]][version] = byID }
        }
    }
}

extension SegmentIdentities.Versions {
    /// The versions among `needed` not known yet.
    func missing(_ needed: some Sequence<Int>) -> Set<Int> {
        Set(needed).subtracting(keys)
    }

    /// Customer `id`'s move from `from` (under `fromVersion`) to `to` (under `version`); nil
    /// when it is none.
    func move(
        _ id: String, from: Int?, fromVersion: Int, to: Int?, version: Int,
        cause: SegmentMove.Cause, day: Int
    ) -> PendingMove? {
        guard moved(from: from, fromVersion: fromVersion, to: to, toVersion: version) else {
            return nil
        }
        return PendingMove(
            move: SegmentMove(customerID: id, from: from, to: to, cause: cause, day: day),
            fromVersion: fromVersion)
    }

    /// Whether a customer placed in `from` under `fromVersion` and now in `to` under `toVersion`
    /// moved (nil: no segment).
    func moved(from: Int?, fromVersion: Int, to: Int?, toVersion: Int) -> Bool {
        guard fromVersion != toVersion, let from, let to else { return from != to }
        guard let before = self[fromVersion]?[from], let after = self[toVersion]?[to] else {
            return true
        }
        return before != after
    }
}

/// A write that could not be done yet: its transaction wrote nothing, and is tried again once
/// the server knows more.
enum LiveAttempt<T: Sendable>: Sendable {
    case done(T)
    /// Model versions whose segments it must learn first.
    case needs(Set<Int>)
    /// The followed ref names another version in the database than in this server's view (an
    /// alias moved on another replica): the view is read again first.
    case staleView
}

extension LiveStores {
    /// Runs `attempt` (one write transaction, given the followed ref's model as this server
    /// sees it) until it knows every version it meets and its view of the ref is current; a few
    /// tries, since a version is learnt for good and a view read again is current.
    func withIdentities<T: Sendable>(
        of model: String, following follows: ModelReference,
        _ attempt: (ServedModels.Resolved, SegmentIdentities.Versions) async throws ->
            LiveAttempt<T>
    ) async throws -> T {
        for _ in 0..<4 {
            let resolved = try await transactionsModel(follows)
            switch try await attempt(resolved, identities.versions(of: model)) {
            case .done(let result): return result
            case .needs(let versions): try await identities.learn(model, versions: versions)
            case .staleView: try await models.refresh(model: model)
            }
        }
        throw RegistryError.storage(
            "the live store of \(model) could not be written: its model's versions or aliases kept changing"
        )
    }
}
