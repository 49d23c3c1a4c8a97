import Crypto
import Foundation
import SegmentationEngine

// Models, versions and aliases: the catalogue's rules, for every backend. Model bytes are stored
// in the versions table with their SHA-256, so a version and its model are written in one
// transaction and a changed byte is caught when read.

extension CatalogStore {
    public func addVersion(
        _ new: NewVersion, completing job: JobRecord?
    ) async throws -> VersionRecord {
        let checksum = sha256(new.modelBytes)
        let record = try await write { transaction in
            let now = Date.wholeSeconds().timeIntervalSince1970
            // The model's row, locked: two servers registering versions of one model take turns.
            _ = try await transaction.rows(
                """
                INSERT INTO models (name, next_version, created_at, updated_at) VALUES (?, 1, ?, ?)
                ON CONFLICT (name) DO NOTHING
                """, new.name, now, now)
            let number =
                try await transaction.rows(
                    "SELECT next_version FROM models WHERE name = ?\(transaction.forUpdate)",
                    new.name
                ).first?.int("next_version") ?? 1
            let record = VersionRecord(
                name: new.name, version: number, createdAt: Date(timeIntervalSince1970: now),
                datasetID: new.datasetID, jobID: new.jobID, parentVersion: new.parentVersion,
                kind: new.model.kind, k: new.model.k, silhouette: new.model.metrics.silhouette,
                customers: new.model.dataReport.customersOut)
            _ = try await transaction.rows(
                """
                INSERT INTO versions (model, version, created_at, dataset_id, job_id, parent_version, kind, k,
                    silhouette, customers, model_blob, model_sha256)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, record.name, record.version, now, record.datasetID, record.jobID,
                record.parentVersion, record.kind.rawValue, record.k, record.silhouette,
                record.customers, new.modelBytes, checksum)
            _ = try await transaction.rows(
                "UPDATE models SET next_version = ?, updated_at = ? WHERE name = ?", number + 1,
                now, new.name)
            try await transaction.announce(model: new.name)
            if var job {
                job.modelVersion = number
                try await Self.update(job, try JobColumns(job), transaction)
            }
            return record
        }
        registered(record)
        return record
    }

    public func models() async throws -> [ModelSummaryRecord] {
        try await read { transaction in
            var aliases: [String: [String: Int]] = [:]
            for row in try await transaction.rows("SELECT model, alias, version FROM aliases") {
                aliases[try row.text("model"), default: [:]][try row.text("alias")] =
                    try row.int("version")
            }
            return try await transaction.rows(
                """
                SELECT m.name AS name, m.updated_at AS updated_at, MAX(v.version) AS latest,
                    COUNT(v.version) AS count
                FROM models m JOIN versions v ON v.model = m.name
                GROUP BY m.name, m.updated_at ORDER BY m.name
                """
            ).map { row in
                ModelSummaryRecord(
                    name: try row.text("name"), latestVersion: try row.int("latest"),
                    versionCount: try row.int("count"),
                    aliases: aliases[try row.text("name")] ?? [:],
                    updatedAt: try row.date("updated_at"))
            }
        }
    }

    public func versions(of name: String) async throws -> [VersionRecord] {
        try await read { transaction in
            guard try await transaction.exists("SELECT 1 FROM models WHERE name = ?", name) else {
                throw RegistryError.notFound(.model(name))
            }
            // A row that does not decode is left out here and named by corruptVersions().
            return try await transaction.rows(
                "\(versionColumns) WHERE model = ? ORDER BY version", name
            ).compactMap { try? VersionRecord(row: $0) }
        }
    }

    public func version(_ name: String, _ number: Int) async throws -> VersionRecord? {
        try await read { transaction in
            try await transaction.rows(
                "\(versionColumns) WHERE model = ? AND version = ?", name, number
            ).first.map(VersionRecord.init(row:))
        }
    }

    public func modelBytes(_ name: String, _ number: Int) async throws -> Data {
        try await read { transaction in
            guard
                let row = try await transaction.rows(
                    "SELECT model_blob, model_sha256 FROM versions WHERE model = ? AND version = ?",
                    name, number
                ).first
            else {
                throw RegistryError.notFound(.version(name, number))
            }
            let data = try row.blob("model_blob")
            // A version written without a checksum (by an older binary) cannot be checked, not
            // judged damaged.
            let expected = try row.optionalText("model_sha256")
            guard expected == nil || expected == sha256(data) else {
                throw RegistryError.corrupt(
                    "model version \(name)@\(number) is damaged: its stored bytes fail their SHA-256 checksum"
                )
            }
            return data
        }
    }

    public func probe() async throws {
        _ = try await read { transaction in
            try await transaction.rows("SELECT count(*) AS count FROM aliases")
        }
    }

    public func corruptVersions() async throws -> [(model: String, version: Int, reason: String)] {
        let (damaged, present) = try await longRead { transaction in
            let found = DamageList()
            // One blob in memory at a time: the rows are handed over one by one.
            try await transaction.forEachRow(
                "SELECT model, version, model_blob, model_sha256 FROM versions ORDER BY model, version",
                []
            ) { row in
                let data = try? row.blob("model_blob")
                let expected = try? row.optionalText("model_sha256")
                if let data, expected == nil || expected == sha256(data) { return }
                found.add(row, "its stored bytes fail their SHA-256 checksum")
            }
            var present = Set<VersionKey>()
            for row in try await transaction.rows(versionColumns) {
                // Held, readable or not: a damaged row is not also a lost one.
                if let model = try? row.text("model"), let version = try? row.int("version") {
                    present.insert(VersionKey(model: model, version: version))
                }
                do { _ = try VersionRecord(row: row) } catch {
                    found.add(row, "its record does not decode (\(error))")
                }
            }
            return (found.all, present)
        }
        return damaged + lostVersions(present: present)
    }

    public func aliases() async throws -> [(model: String, alias: String, version: Int)] {
        try await read { transaction in
            try await transaction.rows(
                "SELECT model, alias, version FROM aliases ORDER BY model, alias"
            ).map {
                (
                    model: try $0.text("model"), alias: try $0.text("alias"),
                    version: try $0.int("version")
                )
            }
        }
    }

    public func setAlias(
        _ name: String, alias: String, version: Int, expecting: AliasExpectation?,
        by actor: AliasActor
    ) async throws -> Int? {
        try Names.validateAlias(alias)
        return try await write { transaction in
            try await Self.lockModel(name, transaction)
            guard
                try await transaction.exists(
                    "SELECT 1 FROM versions WHERE model = ? AND version = ?\(transaction.forShare)",
                    name, version)
            else {
                throw RegistryError.notFound(.version(name, version))
            }
            let previous = try await transaction.rows(
                "SELECT version FROM aliases WHERE model = ? AND alias = ?\(transaction.forUpdate)",
                name, alias
            ).first?.int("version")
            try expecting?.check(previous, model: name, alias: alias)
            _ = try await transaction.rows(
                """
                INSERT INTO aliases (model, alias, version) VALUES (?, ?, ?)
                ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version
                """, name, alias, version)
            try await Self.recordAliasChange(
                name, alias, .set, from: previous, to: version, actor, transaction)
            try await transaction.announce(model: name)
            return previous
        }
    }

    public func deleteAlias(_ name: String, alias: String, by actor: AliasActor) async throws {
        try await write { transaction in
            try await Self.lockModel(name, transaction)
            let removed = try await transaction.rows(
                "DELETE FROM aliases WHERE model = ? AND alias = ? RETURNING version", name, alias)
            guard let previous = try removed.first?.int("version") else {
                throw RegistryError.notFound(.alias(model: name, alias: alias))
            }
            try await Self.recordAliasChange(
                name, alias, .deleted, from: previous, to: nil, actor, transaction)
            try await transaction.announce(model: name)
        }
    }

    public func aliasHistory(of name: String) async throws -> [AliasEvent] {
        try await read { transaction in
            try await transaction.rows(
                """
                SELECT model, sequence, alias, action, previous_version, version, author, role, peer, at
                FROM alias_history WHERE model = ? ORDER BY sequence
                """, name
            ).map(AliasEvent.init(row:))
        }
    }

    /// Locks the model's row: changes of its aliases (and their history lines) take turns, and
    /// what they read of the aliases is what they change.
    private static func lockModel(
        _ name: String, _ transaction: any CatalogTransaction
    ) async throws {
        _ = try await transaction.rows(
            "SELECT name FROM models WHERE name = ?\(transaction.forUpdate)", name)
    }

    /// One line of the alias history, numbered after the model's last (the caller holds the
    /// model's row: `lockModel`).
    private static func recordAliasChange(
        _ name: String, _ alias: String, _ action: AliasEvent.Action, from previous: Int?,
        to version: Int?, _ actor: AliasActor, _ transaction: any CatalogTransaction
    ) async throws {
        let sequence =
            try await transaction.rows(
                "SELECT COALESCE(MAX(sequence), 0) AS last FROM alias_history WHERE model = ?", name
            ).first?.int("last") ?? 0
        _ = try await transaction.rows(
            """
            INSERT INTO alias_history (model, sequence, alias, action, previous_version, version, author, role, peer, at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, name, sequence + 1, alias, action.rawValue, previous, version, actor.author,
            actor.role, actor.peer, Date().timeIntervalSince1970)
    }

    public func deleteVersion(
        _ name: String, _ number: Int, force: Bool, by actor: AliasActor
    ) async throws -> [String] {
        deleting(name, number)
        do {
            return try await write { transaction in
                try await Self.lockModel(name, transaction)
                let removed = try await Self.deleteVersion(name, number, force: force, transaction)
                for alias in removed {
                    try await Self.recordAliasChange(
                        name, alias, .removedWithVersion, from: number, to: nil, actor, transaction)
                }
                return removed
            }
        } catch {
            notDeleted(name, number)
            throw error
        }
    }

    private static func deleteVersion(
        _ name: String, _ number: Int, force: Bool, _ transaction: any CatalogTransaction
    ) async throws -> [String] {
        guard
            try await transaction.exists(
                "SELECT 1 FROM versions WHERE model = ? AND version = ?\(transaction.forUpdate)",
                name, number)
        else {
            throw RegistryError.notFound(.version(name, number))
        }
        let aliases = try await transaction.rows(
            "SELECT alias FROM aliases WHERE model = ? AND version = ? ORDER BY alias", name, number
        ).map { try $0.text("alias") }
        if !aliases.isEmpty && !force {
            throw RegistryError.aliasedVersion(name: name, version: number, aliases: aliases)
        }
        _ = try await transaction.rows(
            "DELETE FROM aliases WHERE model = ? AND version = ?", name, number)
        _ = try await transaction.rows(
            "DELETE FROM versions WHERE model = ? AND version = ?", name, number)
        try await transaction.announce(model: name)
        return aliases
    }
}

/// A version's record without its model bytes (they are read only by `modelBytes`).
private let versionColumns = """
    SELECT model, version, created_at, dataset_id, job_id, parent_version, kind, k, silhouette, customers FROM versions
    """

/// The hex SHA-256 of a model's bytes, as stored beside them.
func sha256(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

extension AliasEvent {
    init(row: StoredRow) throws {
        let action = try row.text("action")
        guard let known = Action(rawValue: action) else {
            throw RegistryError.corrupt(
                "alias history line with an unknown action \(action.quotedForMessage)")
        }
        self.init(
            model: try row.text("model"), sequence: try row.int("sequence"),
            alias: try row.text("alias"), action: known,
            previousVersion: try row.optionalInt("previous_version"),
            version: try row.optionalInt("version"),
            actor: AliasActor(
                author: try row.optionalText("author"), role: try row.optionalText("role"),
                peer: try row.optionalText("peer")),
            at: Date(timeIntervalSince1970: try row.double("at")))
    }
}

extension VersionRecord {
    init(row: StoredRow) throws {
        self.init(
            name: try row.text("model"), version: try row.int("version"),
            createdAt: try row.date("created_at"), datasetID: try row.text("dataset_id"),
            jobID: try row.optionalText("job_id"),
            parentVersion: try row.optionalInt("parent_version"),
            kind: InputKind(rawValue: try row.text("kind")) ?? .transactions, k: try row.int("k"),
            silhouette: try row.double("silhouette"), customers: try row.int("customers"))
    }
}

/// Damaged versions collected while rows are handed over one at a time (a reference, so the
/// row callback can add to it).
private final class DamageList: @unchecked Sendable {
    private(set) var all: [DamagedVersion] = []

    func add(_ row: StoredRow, _ reason: String) {
        all.append(
            (
                model: (try? row.text("model")) ?? "?", version: (try? row.int("version")) ?? 0,
                reason: reason
            ))
    }
}
