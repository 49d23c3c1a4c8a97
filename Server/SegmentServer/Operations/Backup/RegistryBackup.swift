import Foundation
import GRDB
import SegmentBuild

/// `segment-server backup` and `restore` of the embedded store: the SQLite registry, copied with
/// SQLite's online backup (consistent while a server keeps writing), and the dataset files it
/// names, in one checksummed file (BackupArchive). A registry on PostgreSQL is backed up by the
/// database's own tools (pg_dump) with a copy of the shared datasets folder.
public enum RegistryBackup {
    public struct Summary: Sendable {
        public var models: Int
        public var versions: Int
        public var datasets: Int
        public var files: Int
        public var bytes: Int64
        public var created: String
        public var server: String
    }

    static let registryFile = "registry.sqlite"
    static let ledgerFile = "registry-versions.log"

    /// Writes the backup of the data directory's registry and datasets to `path`.
    public static func backup(
        dataDirectory: String, datasetsDirectory: String? = nil, to path: String
    ) throws -> Summary {
        let registry = (dataDirectory as NSString).appendingPathComponent(registryFile)
        guard FileManager.default.fileExists(atPath: registry) else {
            throw BackupError(
                .target,
                "\(dataDirectory) holds no embedded registry (\(registryFile)); a registry on PostgreSQL is backed up with pg_dump and a copy of its datasets folder"
            )
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "segment-backup-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let snapshot = (work as NSString).appendingPathComponent(registryFile)
        let contents = try copyRegistry(registry, to: snapshot)
        let datasets =
            datasetsDirectory
            ?? (dataDirectory as NSString).appendingPathComponent("datasets")
        var sources = [snapshot]
        var entries = [try entry(registryFile, at: snapshot)]
        for id in contents.datasetIDs {
            let folder = DatasetStore.folderName(for: id)
            let directory = (datasets as NSString).appendingPathComponent(folder)
            let files = try io("list the files of dataset \(id) in \(directory)") {
                try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            }
            for file in files {
                let source = (directory as NSString).appendingPathComponent(file)
                sources.append(source)
                entries.append(try entry("datasets/\(folder)/\(file)", at: source))
            }
        }
        let manifest = BackupManifest(
            format: 1, created: ISO8601DateFormatter().string(from: Date()),
            server: BuildInfo.current.line(program: "segment-server"), schema: contents.schema,
            models: contents.models, versions: contents.versions,
            datasets: contents.datasetIDs.count, entries: entries)
        try BackupArchive.write(manifest, sources: sources, to: path)
        return summary(manifest)
    }

    /// Restores a backup into `dataDirectory`, which must not hold a registry yet: checks the
    /// whole file first, writes into a staging folder, then moves it in place. `datasetsDirectory`:
    /// where the server will read datasets, when not `DATA_DIR/datasets`.
    public static func restore(
        from path: String, into dataDirectory: String, datasetsDirectory: String? = nil
    ) throws -> Summary {
        let (manifest, offset) = try BackupArchive.verify(path)
        guard manifest.format == 1 else {
            throw BackupError(
                .incompatible,
                "\(path) is backup format \(manifest.format); this server reads format 1")
        }
        guard manifest.schema <= CatalogSchema.newest else {
            throw BackupError(
                .incompatible,
                "\(path) holds a registry of schema \(manifest.schema), newer than this server's \(CatalogSchema.newest) (written by \(manifest.server)); restore it with that version or newer"
            )
        }
        // Not over a registry, nor beside what one left (an old WAL would be replayed onto the
        // restored database), nor while a server holds the folder.
        for name in [registryFile, registryFile + "-wal", registryFile + "-shm", ledgerFile]
        where FileManager.default.fileExists(
            atPath: (dataDirectory as NSString).appendingPathComponent(name))
        {
            throw BackupError(
                .target,
                "\(dataDirectory) already holds a registry (\(name)): restore into an empty or new folder"
            )
        }
        try io("create \(dataDirectory)") {
            try FileManager.default.createDirectory(
                atPath: dataDirectory, withIntermediateDirectories: true)
        }
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(directory: dataDirectory)
        } catch {
            throw BackupError(.target, "\(error)")
        }
        defer { lock.release() }
        let staging = (dataDirectory as NSString).appendingPathComponent(
            ".restore-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try BackupArchive.extract(path, manifest: manifest, offset: offset, into: staging)
        // The datasets first, the registry last: a server finds either nothing or the whole.
        let datasets =
            datasetsDirectory ?? (dataDirectory as NSString).appendingPathComponent("datasets")
        try io("move the datasets into \(datasets)") {
            try moveDatasets(
                from: (staging as NSString).appendingPathComponent("datasets"), to: datasets)
        }
        let stagedRegistry = (staging as NSString).appendingPathComponent(registryFile)
        try io("record the restored versions") {
            try recordVersions(
                of: stagedRegistry,
                in: (dataDirectory as NSString).appendingPathComponent(ledgerFile))
        }
        try io("move the registry into \(dataDirectory)") {
            try FileManager.default.moveItem(
                atPath: stagedRegistry,
                toPath: (dataDirectory as NSString).appendingPathComponent(registryFile))
        }
        return summary(manifest)
    }

    /// Dataset folders are content-addressed: one already there holds the same files.
    private static func moveDatasets(from staged: String, to datasets: String) throws {
        guard FileManager.default.fileExists(atPath: staged) else { return }
        try FileManager.default.createDirectory(atPath: datasets, withIntermediateDirectories: true)
        for folder in try FileManager.default.contentsOfDirectory(atPath: staged) {
            let destination = (datasets as NSString).appendingPathComponent(folder)
            guard !FileManager.default.fileExists(atPath: destination) else { continue }
            try FileManager.default.moveItem(
                atPath: (staged as NSString).appendingPathComponent(folder), toPath: destination)
        }
    }

    // MARK: Steps

    private struct Contents {
        var schema: Int
        var models: Int
        var versions: Int
        var datasetIDs: [String]
    }

    /// SQLite's online backup into a database of its own, then what it holds.
    private static func copyRegistry(_ registry: String, to snapshot: String) throws -> Contents {
        do {
            // Waits for a server's write in progress instead of failing at once.
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            let source = try DatabaseQueue(path: registry, configuration: configuration)
            let copy = try DatabaseQueue(path: snapshot)
            try source.backup(to: copy)
            try source.close()
            let contents = try copy.read { db in
                Contents(
                    schema: try Int.fetchOne(db, sql: "SELECT MAX(version) FROM schema_migrations")
                        ?? 0,
                    models: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM models") ?? 0,
                    versions: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM versions") ?? 0,
                    datasetIDs: try String.fetchAll(db, sql: "SELECT id FROM datasets ORDER BY id"))
            }
            try copy.close()
            return contents
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError(.io, "cannot copy the registry \(registry): \(error)")
        }
    }

    /// The restored versions, in the ledger a server checks its registry against at start.
    private static func recordVersions(of registry: String, in ledgerPath: String) throws {
        let versions = try DatabaseQueue(path: registry).read { db in
            try Row.fetchAll(db, sql: "SELECT model, version, created_at FROM versions").map {
                row -> (String, Int, Double) in
                guard let model = row["model"] as String?, let version = row["version"] as Int?,
                    let created = row["created_at"] as Double?
                else {
                    throw BackupError(.damaged, "the backup's registry has an unreadable version")
                }
                return (model, version, created)
            }
        }
        let ledger = VersionLedger(path: ledgerPath)
        for (model, version, created) in versions {
            ledger.registered(model, version, at: Date(timeIntervalSince1970: created))
        }
    }

    /// Any other failure of a step, as an I/O failure naming the step.
    private static func io<T>(_ step: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError(.io, "cannot \(step): \(error.localizedDescription)")
        }
    }

    private static func entry(_ path: String, at source: String) throws -> BackupManifest.Entry {
        let (hex, size) = try BackupArchive.sha256(of: source)
        return BackupManifest.Entry(path: path, size: size, sha256: hex)
    }

    private static func summary(_ manifest: BackupManifest) -> Summary {
        Summary(
            models: manifest.models, versions: manifest.versions, datasets: manifest.datasets,
            files: manifest.entries.count, bytes: manifest.entries.reduce(0) { $0 + $1.size },
            created: manifest.created, server: manifest.server)
    }
}
