import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One file holding a data directory's registry and datasets, checksummed:
///
///     segment-backup 1\n
///     <manifest length in bytes>\n
///     <manifest: JSON, BackupManifest>
///     <each entry's bytes, in the manifest's order>
///     \nsha256 <hex of every byte before this line>\n
///
/// Every entry carries its own SHA-256 too. A reader checks the whole file before it writes
/// anything, so a damaged or truncated backup is refused and leaves nothing behind.
struct BackupManifest: Codable, Equatable {
    struct Entry: Codable, Equatable {
        /// Relative to the data directory: "registry.sqlite", "datasets/<hash>/<file>".
        var path: String
        var size: Int64
        var sha256: String
    }
    var format: Int
    /// When the registry was copied (ISO 8601, UTC).
    var created: String
    /// `segment-server --version` of the server that wrote it.
    var server: String
    /// The registry's schema version (CatalogSchema): a server restores only what it can open.
    var schema: Int
    var models: Int
    var versions: Int
    var datasets: Int
    var entries: [Entry]
}

/// Why a backup file is refused.
public struct BackupError: Error, CustomStringConvertible {
    public enum Kind: Sendable { case damaged, incompatible, target, io }
    public var kind: Kind
    public var description: String

    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

enum BackupArchive {
    static let magic = "segment-backup 1\n"
    static let chunk = 1 << 20

    /// Writes the archive of `manifest`'s entries, read from `sources` (one per entry, in order),
    /// to `path` (through a temporary file renamed at the end: a failed backup leaves no half file).
    static func write(_ manifest: BackupManifest, sources: [String], to path: String) throws {
        let temporary = path + ".partial"
        // Customer data: readable by its owner only.
        _ = FileManager.default.createFile(
            atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600])
        guard let output = FileHandle(forWritingAtPath: temporary) else {
            throw BackupError(.io, "cannot write \(path)")
        }
        var digest = SHA256()
        func emit(_ data: Data) throws {
            digest.update(data: data)
            try output.write(contentsOf: data)
        }
        do {
            let json = try JSONEncoder.sorted.encode(manifest)
            try emit(Data(magic.utf8))
            try emit(Data("\(json.count)\n".utf8))
            try emit(json)
            for (entry, source) in zip(manifest.entries, sources) {
                guard let input = FileHandle(forReadingAtPath: source) else {
                    throw BackupError(.io, "cannot read \(entry.path)")
                }
                defer { try? input.close() }
                var left = entry.size
                while left > 0 {
                    let data = try input.read(upToCount: Int(min(Int64(chunk), left))) ?? Data()
                    guard !data.isEmpty else {
                        throw BackupError(.io, "\(entry.path) changed while it was copied")
                    }
                    try emit(data)
                    left -= Int64(data.count)
                }
            }
            let trailer = "\nsha256 \(digest.finalize().hex)\n"
            try output.write(contentsOf: Data(trailer.utf8))
            try output.synchronize()
            try output.close()
            // rename(2) replaces an older backup of that name in one step: never neither.
            guard rename(temporary, path) == 0 else {
                throw BackupError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? output.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// SHA-256 of a file's bytes, read in chunks.
    static func sha256(of path: String) throws -> (hex: String, size: Int64) {
        guard let input = FileHandle(forReadingAtPath: path) else {
            throw BackupError(.io, "cannot read \(path)")
        }
        defer { try? input.close() }
        var digest = SHA256()
        var size: Int64 = 0
        while let data = try input.read(upToCount: chunk), !data.isEmpty {
            digest.update(data: data)
            size += Int64(data.count)
        }
        return (digest.finalize().hex, size)
    }

    /// Reads the manifest and checks every byte: the trailer's checksum over the whole file and
    /// each entry's own. Returns the manifest and where the entries start.
    static func verify(_ path: String) throws -> (BackupManifest, offset: UInt64) {
        guard let input = FileHandle(forReadingAtPath: path) else {
            throw BackupError(.io, "cannot read \(path)")
        }
        defer { try? input.close() }
        let size = try input.seekToEnd()
        try input.seek(toOffset: 0)
        let head = try input.read(upToCount: 64) ?? Data()
        guard head.starts(with: Data(magic.utf8)) else {
            throw BackupError(.damaged, "\(path) is not a segment-server backup")
        }
        let afterMagic = head.dropFirst(magic.utf8.count)
        guard let newline = afterMagic.firstIndex(of: UInt8(ascii: "\n")),
            let length = Int(
                String(decoding: afterMagic[afterMagic.startIndex..<newline], as: UTF8.self)),
            length > 0, length < 64 << 20
        else { throw BackupError(.damaged, "\(path): its manifest length is unreadable") }
        let manifestStart = UInt64(magic.utf8.count + (newline - afterMagic.startIndex) + 1)
        try input.seek(toOffset: manifestStart)
        let json = try input.read(upToCount: length) ?? Data()
        guard json.count == length,
            let manifest = try? JSONDecoder().decode(BackupManifest.self, from: json)
        else { throw BackupError(.damaged, "\(path): its manifest is damaged") }
        // Entries stay inside the folder they are restored into.
        for entry in manifest.entries
        where entry.path.hasPrefix("/") || entry.path.split(separator: "/").contains("..")
            || entry.size < 0
        {
            throw BackupError(
                .damaged, "\(path): entry \(entry.path.quotedForMessage) is not allowed")
        }
        // Checked sums: a damaged manifest cannot overflow them.
        var contentEnd = manifestStart + UInt64(length)
        for entry in manifest.entries {
            let (sum, overflow) = contentEnd.addingReportingOverflow(UInt64(entry.size))
            guard !overflow, sum <= size else {
                throw BackupError(
                    .damaged,
                    "\(path) is truncated or damaged: its manifest names more bytes than the file has"
                )
            }
            contentEnd = sum
        }
        // "\nsha256 " + 64 hex digits + "\n"
        let trailerLength: UInt64 = 8 + 64 + 1
        guard size == contentEnd + trailerLength else {
            throw BackupError(
                .damaged,
                "\(path) is \(size) bytes where its manifest makes \(contentEnd + trailerLength): truncated or damaged"
            )
        }
        // The whole file's checksum, and each entry's as it passes.
        try input.seek(toOffset: 0)
        var whole = SHA256()
        let front = try input.read(upToCount: Int(manifestStart) + length) ?? Data()
        whole.update(data: front)
        for entry in manifest.entries {
            var digest = SHA256()
            var left = entry.size
            while left > 0 {
                let data = try input.read(upToCount: Int(min(Int64(chunk), left))) ?? Data()
                guard !data.isEmpty else { throw BackupError(.damaged, "\(path) is truncated") }
                whole.update(data: data)
                digest.update(data: data)
                left -= Int64(data.count)
            }
            guard digest.finalize().hex == entry.sha256 else {
                throw BackupError(.damaged, "\(path): \(entry.path) fails its checksum")
            }
        }
        let trailer = String(decoding: try input.readToEnd() ?? Data(), as: UTF8.self)
        guard trailer == "\nsha256 \(whole.finalize().hex)\n" else {
            throw BackupError(.damaged, "\(path) fails its checksum: damaged")
        }
        return (manifest, manifestStart + UInt64(length))
    }

    /// Writes the entries of a verified archive under `root`.
    static func extract(
        _ path: String, manifest: BackupManifest, offset: UInt64, into root: String
    ) throws {
        guard let input = FileHandle(forReadingAtPath: path) else {
            throw BackupError(.io, "cannot read \(path)")
        }
        defer { try? input.close() }
        try input.seek(toOffset: offset)
        for entry in manifest.entries {
            let target = (root as NSString).appendingPathComponent(entry.path)
            try FileManager.default.createDirectory(
                atPath: (target as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true)
            _ = FileManager.default.createFile(
                atPath: target, contents: nil, attributes: [.posixPermissions: 0o600])
            guard let output = FileHandle(forWritingAtPath: target) else {
                throw BackupError(.io, "cannot write \(target)")
            }
            defer { try? output.close() }
            var left = entry.size
            while left > 0 {
                let data = try input.read(upToCount: Int(min(Int64(chunk), left))) ?? Data()
                guard !data.isEmpty else { throw BackupError(.damaged, "\(path) is truncated") }
                try output.write(contentsOf: data)
                left -= Int64(data.count)
            }
            try output.synchronize()
        }
    }
}

extension JSONEncoder {
    fileprivate static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
