import Foundation
import GRDB
import Testing

@testable import SegmentServer

/// Both backends apply the one migration list (`CatalogSchema`); an embedded registry written
/// before it (GRDB's own ledger, its first tables in three steps) is adopted with its data.
@Suite("The registry's schema")
struct RegistryMigrationTests {
    @Test(
        "A SQLite registry from before the shared schema list keeps its datasets, jobs and versions (a version stored without a checksum gets one), and takes the later migrations"
    )
    func adoptsLegacySQLite() async throws {
        let (path, remove) = try Self.registryPath()
        defer { remove() }
        let contract = RegistryContractTests()
        let model = try contract.version("legacy").modelBytes
        try Self.writeLegacy(path: path, modelBytes: model)

        let registry = try SQLiteRegistry(path: path)
        #expect(try await registry.dataset(id: "d1")?.name == "d1.csv")
        #expect(try await registry.job(id: "j1")?.status == .queued)
        // Checksummed on adoption: the bytes read back, and the start-up check finds nothing.
        #expect(try await registry.modelBytes("legacy", 1) == model)
        #expect(try await registry.corruptVersions().isEmpty)
        // The later migrations' columns: a claimed job's owner is stored.
        var claimed = contract.job("j2")
        claimed.owner = "replica-a"
        try await registry.insertJob(claimed)
        #expect(try await registry.job(id: "j2")?.owner == "replica-a")
        let second = try await registry.addVersion(contract.version("legacy"), completing: nil)
        #expect(second.version == 2)
        let applied = try await DatabaseQueue(path: path).read { db in
            try Int.fetchAll(db, sql: "SELECT version FROM schema_migrations ORDER BY version")
        }
        #expect(applied == CatalogSchema.migrations.map(\.version))
        // Opening it again changes nothing.
        _ = try SQLiteRegistry(path: path)
        #expect(
            try await SQLiteRegistry(path: path).versions(of: "legacy").map(\.version) == [1, 2])
    }

    @Test("A registry migrated by a newer server is refused, saying to upgrade")
    func refusesNewerSchema() throws {
        let (path, remove) = try Self.registryPath()
        defer { remove() }
        _ = try SQLiteRegistry(path: path)
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql:
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'later', 0)"
            )
        }
        #expect {
            _ = try SQLiteRegistry(path: path)
        } throws: { error in
            "\(error)".contains("newer than this server's")
                && "\(error)".contains("upgrade the server")
        }
    }

    /// Where a test's registry file goes, in a folder of its own, and how to remove it.
    private static func registryPath() throws -> (String, @Sendable () -> Void) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "registry-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return (
            folder + "/registry.sqlite", { try? FileManager.default.removeItem(atPath: folder) }
        )
    }

    /// The tables and ledger of an embedded registry from before the shared list, as its oldest
    /// servers left it: GRDB's "v1" applied, not yet "v2" (checksums) or "v3" (request ids), so
    /// adoption must add and fill the checksum column and add the requests table.
    private static func writeLegacy(path: String, modelBytes: Data) throws {
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('v1');
                    CREATE TABLE datasets (
                        id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, columns_json TEXT NOT NULL,
                        files_json TEXT NOT NULL, rows INTEGER NOT NULL, customers INTEGER NOT NULL,
                        features_json TEXT NOT NULL, created_at REAL NOT NULL);
                    CREATE TABLE models (
                        name TEXT PRIMARY KEY, next_version INTEGER NOT NULL, created_at REAL NOT NULL,
                        updated_at REAL NOT NULL);
                    CREATE TABLE versions (
                        model TEXT NOT NULL REFERENCES models(name), version INTEGER NOT NULL,
                        created_at REAL NOT NULL, dataset_id TEXT NOT NULL, job_id TEXT, parent_version INTEGER,
                        kind TEXT NOT NULL, k INTEGER NOT NULL, silhouette REAL NOT NULL, customers INTEGER NOT NULL,
                        model_blob BLOB NOT NULL, PRIMARY KEY (model, version));
                    CREATE TABLE aliases (
                        model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
                        PRIMARY KEY (model, alias), FOREIGN KEY (model, version) REFERENCES versions(model, version));
                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY, model_name TEXT NOT NULL, dataset_id TEXT NOT NULL,
                        configuration_json TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL,
                        fraction REAL NOT NULL, created_at REAL NOT NULL, started_at REAL, finished_at REAL,
                        error TEXT, model_version INTEGER, k_metrics_json TEXT NOT NULL);
                    CREATE INDEX jobs_by_created ON jobs(created_at);
                    """)
            try db.execute(
                sql: """
                    INSERT INTO datasets VALUES ('d1', 'd1.csv', 'transactions', '{"idColumn":"","roles":{}}', '[]', 10, 3, '[]', 1000);
                    INSERT INTO models VALUES ('legacy', 2, 1000, 1000);
                    INSERT INTO jobs VALUES ('j1', 'legacy', 'd1', ?, 'queued', 'queued', 0, 1000, NULL, NULL, NULL, NULL, '[]');
                    """, arguments: [try JSON.text(RegistryContractTests().job("x").configuration)])
            try db.execute(
                sql: """
                    INSERT INTO versions VALUES ('legacy', 1, 1000, 'd1', NULL, NULL, 'transactions', 3, 0.5, 3, ?)
                    """, arguments: [modelBytes])
        }
    }
}
