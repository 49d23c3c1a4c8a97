import Crypto
import Foundation
import SegmentationEngine
import Synchronization

/// Dataset files on disk, under `<data dir>/datasets/<hash>/` (or a directory several servers
/// share, `--datasets-dir`). An upload is written to a staging folder first and renamed into
/// place only when complete, so a crash never leaves a half-written dataset where training
/// could find it. Shared by several servers, each stages in a folder of its own, and folders no
/// record names are removed only once they are an hour old (another server may be between
/// renaming its upload into place and recording it).
public struct DatasetStore: Sendable {
    public let root: String
    /// Largest upload accepted, in bytes.
    public let maximumBytes: Int64
    /// Largest total of all stored datasets, in bytes.
    public let quotaBytes: Int64
    /// Bytes held by uploads in progress, so uploads running at the same time cannot together
    /// pass the quota.
    private let reservations = Reservations()

    /// Other servers use the same folder: be careful with what looks abandoned.
    public let shared: Bool
    private let stagingRoot: String

    /// - Parameters:
    ///   - datasetsDirectory: where the datasets live; nil: `<dataDirectory>/datasets`.
    ///   - replicaID: this server among those sharing `datasetsDirectory` (its staging folder).
    public init(
        dataDirectory: String, datasetsDirectory: String? = nil, replicaID: String? = nil,
        maximumBytes: Int64, quotaBytes: Int64 = Int64.max
    ) throws {
        root = datasetsDirectory ?? (dataDirectory as NSString).appendingPathComponent("datasets")
        shared = datasetsDirectory != nil
        self.maximumBytes = maximumBytes
        self.quotaBytes = quotaBytes
        let staging = (root as NSString).appendingPathComponent(".staging")
        stagingRoot =
            shared
            ? (staging as NSString).appendingPathComponent(
                String(
                    Self.hex(SHA256.hash(data: Data((replicaID ?? "").utf8))).dropFirst(7).prefix(
                        16)))
            : staging
        try FileManager.default.createDirectory(
            atPath: stagingRoot, withIntermediateDirectories: true)
        // Leftovers of uploads interrupted by a crash: this server's own.
        for leftover in (try? FileManager.default.contentsOfDirectory(atPath: stagingRoot)) ?? [] {
            try? FileManager.default.removeItem(
                atPath: (stagingRoot as NSString).appendingPathComponent(leftover))
        }
    }

    public func folder(for id: String) -> String {
        (root as NSString).appendingPathComponent(Self.folderName(for: id))
    }

    /// A dataset's folder under the datasets root: its hash.
    static func folderName(for id: String) -> String {
        id.replacingOccurrences(of: "sha256:", with: "")
    }

    public func paths(of dataset: DatasetRecord) -> [String] {
        dataset.files.map { (folder(for: dataset.id) as NSString).appendingPathComponent($0.name) }
    }

    /// Checks that a stored dataset's files are still the uploaded ones: each file against its own
    /// SHA-256 (so the damaged file can be named), and all of them, hashed as the upload hashed
    /// them, against the dataset's id. Reads every byte once.
    public func verify(_ dataset: DatasetRecord, isCancelled: () -> Bool = { false }) throws {
        var whole = SHA256()
        whole.update(
            data: Data(
                "kind=\(dataset.kind.rawValue);columns=\(try JSON.text(dataset.columns));".utf8))
        for (file, path) in zip(dataset.files, paths(of: dataset)) {
            whole.update(data: Data("\u{0}file=\(file.name)\u{0}".utf8))
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw RegistryError.corrupt(
                    "dataset \(dataset.id.prefix(19)): file \(Names.quoted(file.name)) is missing")
            }
            defer { try? handle.close() }
            var single = SHA256()
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                if isCancelled() { throw CancellationError() }
                whole.update(data: chunk)
                single.update(data: chunk)
            }
            if let expected = file.sha256, Self.hex(single.finalize()) != expected {
                throw RegistryError.corrupt(
                    "dataset \(dataset.id.prefix(19)) is damaged: file \(Names.quoted(file.name)) no longer matches its SHA-256"
                )
            }
        }
        guard Self.hex(whole.finalize()) == dataset.id else {
            throw RegistryError.corrupt(
                "dataset \(dataset.id.prefix(19)) is damaged: its stored files no longer match their SHA-256"
            )
        }
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        "sha256:" + digest.hex
    }

    /// Receives one upload's files.
    public final class Upload {
        public let folder: String
        private let maximumBytes: Int64
        /// The total quota and what was stored when the upload began; uploads in progress count
        /// through `reservations`, and `DatasetStore.claim` checks again against a fresh total.
        private let quota: (limit: Int64, stored: Int64)
        fileprivate let reservations: Reservations
        fileprivate let id = UUID()
        private var hasher = SHA256()
        /// The current file's own hash.
        private var fileHasher = SHA256()
        private var handle: FileHandle?
        public private(set) var files: [DatasetFileRecord] = []
        public private(set) var totalBytes: Int64 = 0

        fileprivate init(
            folder: String, maximumBytes: Int64, quota: (limit: Int64, stored: Int64),
            reservations: Reservations,
            kind: InputKind, columns: DatasetColumns
        ) throws {
            self.reservations = reservations
            self.folder = folder
            self.maximumBytes = maximumBytes
            self.quota = quota
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true)
            hasher.update(
                data: Data("kind=\(kind.rawValue);columns=\(try JSON.text(columns));".utf8))
        }

        /// Appends a chunk; a new file name closes the current file and starts the next.
        public func append(fileName: String, data: Data) throws {
            if files.last?.name != fileName {
                try startFile(fileName)
            }
            totalBytes += Int64(data.count)
            guard totalBytes <= maximumBytes else {
                throw UploadError.tooLarge(limit: maximumBytes)
            }
            try reservations.hold(id, bytes: totalBytes, stored: quota.stored, limit: quota.limit)
            try handle!.write(contentsOf: data)
            files[files.count - 1].sizeBytes += Int64(data.count)
            hasher.update(data: data)
            fileHasher.update(data: data)
        }

        private func startFile(_ name: String) throws {
            // Checked before any file system call: a name the file system would refuse (over 255
            // bytes, a NUL) must be a clear INVALID_ARGUMENT, never an error naming a server path;
            // control characters (a newline) would be stored and printed back into logs and tables.
            let clean = (name as NSString).lastPathComponent
            guard !clean.isEmpty, clean == name, !clean.hasPrefix("."), clean.utf8.count <= 255,
                !name.unicodeScalars.contains(where: {
                    $0.value < 0x20 || $0.value == 0x7F || $0 == "/"
                })
            else {
                throw UploadError.badFileName(name)
            }
            guard !files.contains(where: { $0.name == clean }) else {
                throw UploadError.duplicateFile(clean)
            }
            try closeFile()
            let path = (folder as NSString).appendingPathComponent(clean)
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw UploadError.storage("cannot store file \(clean)")  // never a server path
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            files.append(DatasetFileRecord(name: clean, sizeBytes: 0))
            hasher.update(data: Data("\u{0}file=\(clean)\u{0}".utf8))
        }

        /// Flushes the current file to disk and records its own hash.
        private func closeFile() throws {
            guard let current = handle else { return }
            try current.synchronize()
            try current.close()
            handle = nil
            files[files.count - 1].sha256 = DatasetStore.hex(fileHasher.finalize())
            fileHasher = SHA256()
        }

        /// Closes the last file; returns the content id.
        public func finish() throws -> String {
            try closeFile()
            guard !files.isEmpty else { throw UploadError.empty }
            return DatasetStore.hex(hasher.finalize())
        }

        public var paths: [String] {
            files.map { (folder as NSString).appendingPathComponent($0.name) }
        }
    }

    /// - Parameter storedBytes: what the stored datasets already take, counted against `quotaBytes`.
    public func beginUpload(
        kind: InputKind, columns: DatasetColumns, storedBytes: Int64 = 0
    ) throws -> Upload {
        try Upload(
            folder: (stagingRoot as NSString).appendingPathComponent(UUID().uuidString),
            maximumBytes: maximumBytes, quota: (quotaBytes, storedBytes),
            reservations: reservations,
            kind: kind, columns: columns)
    }

    /// The last word on the quota, once an upload is complete: `storedBytes` is read fresh from
    /// the registry. The caller runs this, the record's insert and `release` as one serial step
    /// (DatasetService's `commits`), so every other upload is counted exactly once: stored or held.
    public func claim(_ upload: Upload, storedBytes: Int64) throws {
        try reservations.hold(
            upload.id, bytes: upload.totalBytes, stored: storedBytes, limit: quotaBytes)
    }

    /// Ends an upload's reservation: once its record is stored (the registry counts it) or it is discarded.
    public func release(_ upload: Upload) {
        reservations.release(upload.id)
    }

    /// Moves a finished upload into place; returns false when the same content is already stored.
    public func commit(_ upload: Upload, id: String) throws -> Bool {
        let target = folder(for: id)
        if FileManager.default.fileExists(atPath: target) {
            discard(upload)
            return false
        }
        do {
            try FileManager.default.moveItem(atPath: upload.folder, toPath: target)
        } catch  where FileManager.default.fileExists(atPath: target) {
            // Another server put the same content in place meanwhile (a shared folder): keep its copy.
            discard(upload)
            return false
        }
        return true
    }

    public func discard(_ upload: Upload) {
        release(upload)
        try? FileManager.default.removeItem(atPath: upload.folder)
    }

    /// Puts a fresh upload of the same content in place of a damaged stored copy.
    public func replace(id: String, with upload: Upload) throws {
        let target = folder(for: id)
        let damaged = target + ".damaged-" + UUID().uuidString.prefix(8)
        if FileManager.default.fileExists(atPath: target) {
            try FileManager.default.moveItem(atPath: target, toPath: damaged)
        }
        try FileManager.default.moveItem(atPath: upload.folder, toPath: target)
        try? FileManager.default.removeItem(atPath: damaged)
    }

    /// Removes a dataset's files (after its record is gone).
    public func delete(id: String) {
        try? FileManager.default.removeItem(atPath: folder(for: id))
    }

    /// Which registry this datasets folder belongs to: `.segment-registry` names it, written by
    /// the first server to use the folder. Another registry's server pointed here by mistake
    /// must not delete what that registry holds as "orphans".
    public enum Ownership: Equatable {
        case ours
        case another(String)
    }

    /// Claims the folder for `registry` if nobody has, else says whose it is.
    public func claim(for registry: String) throws -> Ownership {
        let marker = (root as NSString).appendingPathComponent(".segment-registry")
        if let owner = try? String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines), !owner.isEmpty
        {
            return owner == registry ? .ours : .another(owner)
        }
        try (registry + "\n").write(toFile: marker, atomically: true, encoding: .utf8)
        return .ours
    }

    /// Removes stored folders that no dataset record names (left by a crash between deleting a
    /// record and its files, or between storing files and their record). Returns how many.
    @discardableResult
    public func removeOrphans(keeping ids: Set<String>) -> Int {
        let keep = Set(ids.map { folder(for: $0) })
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        where !name.hasPrefix(".") {
            let path = (root as NSString).appendingPathComponent(name)
            guard !keep.contains(path) else { continue }
            if shared,
                let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[
                    .modificationDate] as? Date,
                modified.timeIntervalSinceNow > -3600
            {
                // maybe another server's upload, renamed into place and about to be recorded
                continue
            }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed += 1 }
        }
        return removed
    }
}

/// Bytes held by each upload in progress.
final class Reservations: Sendable {
    private let held = Mutex<[UUID: Int64]>([:])

    /// Sets one upload's holding to `bytes` if, with every other upload's, it fits the quota.
    func hold(_ id: UUID, bytes: Int64, stored: Int64, limit: Int64) throws {
        try held.withLock { held in
            let others = held.reduce(Int64(0)) { $0 + ($1.key == id ? 0 : $1.value) }
            guard stored + others + bytes <= limit else {
                throw UploadError.quotaExceeded(limit: limit, stored: stored + others)
            }
            held[id] = bytes
        }
    }

    func release(_ id: UUID) { _ = held.withLock { $0.removeValue(forKey: id) } }
}

public enum UploadError: Error, Equatable, CustomStringConvertible {
    case tooLarge(limit: Int64)
    case quotaExceeded(limit: Int64, stored: Int64)
    case tooManyColumns(file: String, count: Int, limit: Int)
    case tooManyRows(count: Int, limit: Int)
    case badFileName(String)
    case duplicateFile(String)
    case empty
    case storage(String)

    public var description: String {
        switch self {
        case .tooLarge(let limit): "the upload exceeds the server's limit of \(limit) bytes"
        case .tooManyColumns(let file, let count, let limit):
            "\(Names.quoted(file)) has \(count) columns; the server takes at most \(limit)"
        case .tooManyRows(let count, let limit):
            "the upload has \(count) rows; the server takes at most \(limit) in one dataset"
        case .quotaExceeded(let limit, let stored):
            "the stored datasets would exceed the server's quota of \(limit) bytes (\(stored) stored or being uploaded); delete datasets first (segment datasets delete)"
        case .badFileName(let name):
            "file name \(Names.quoted(name)) must be a plain name without folders, a leading dot or control characters, at most 255 bytes of UTF-8"
        case .duplicateFile(let name):
            "file \(Names.quoted(name)) was sent twice; a file's chunks must be consecutive"
        case .empty: "the upload holds no file"
        case .storage(let message): message
        }
    }
}
