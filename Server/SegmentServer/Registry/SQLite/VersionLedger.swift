import Foundation

/// Every model version the embedded registry acknowledged, and every one deleted since: one line
/// each, appended and fsynced beside the database. SQLite cannot tell that it lost committed
/// writes (a WAL file truncated or deleted after a crash, a backup restored over the database);
/// comparing its versions with this record can, so a lost version is named at start and answered
/// DATA_LOSS, never silently gone.
struct VersionLedger: Sendable {
    let path: String

    /// Records a version once its transaction has committed (a crash before this line only means
    /// the version is not checked).
    func registered(_ model: String, _ version: Int, at date: Date) {
        append("+\t\(model)\t\(version)\t\(Int(date.timeIntervalSince1970))\n")
    }

    /// Records a deletion before its transaction runs...
    func deleting(_ model: String, _ version: Int) {
        append("-\t\(model)\t\(version)\n")
    }

    /// ...and takes it back when the delete did not happen (refused, or failed).
    func notDeleted(_ model: String, _ version: Int) {
        append("!\t\(model)\t\(version)\n")
    }

    /// Versions recorded as registered and not deleted, with when they were registered.
    func acknowledged() -> [VersionKey: Date] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var live: [VersionKey: Date] = [:]
        var deleted: [VersionKey: Date] = [:]
        for line in text.split(separator: "\n") {  // a torn last line after a crash is skipped
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 3, let version = Int(fields[2]) else { continue }
            let entry = VersionKey(model: String(fields[1]), version: version)
            switch fields[0] {
            case "+" where fields.count == 4:
                live[entry] = Date(timeIntervalSince1970: Double(fields[3]) ?? 0)
            case "-": deleted[entry] = live.removeValue(forKey: entry)
            case "!": if let date = deleted.removeValue(forKey: entry) { live[entry] = date }
            default: continue
            }
        }
        return live
    }

    /// Appends and fsyncs; a failure (a full disk) costs only this check, never the write it records.
    private func append(_ line: String) {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        _ = line.utf8CString.withUnsafeBufferPointer {
            write(descriptor, $0.baseAddress, $0.count - 1)
        }
        _ = fsync(descriptor)
    }
}
