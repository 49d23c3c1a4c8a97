import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The data directory held by one server at a time: a second server on the same `--data-dir`
/// would fail the first one's jobs and contradict its state, so it refuses to start and names
/// the process that holds the directory. An flock(2) on `DATA_DIR/segment-server.lock`: the
/// kernel releases it when the process ends, however it ends (a SIGKILL leaves no stale lock).
public final class DataDirectoryLock: Sendable {
    private let descriptor: Mutex<Int32?>
    public let path: String

    public init(directory: String) throws {
        path = (directory as NSString).appendingPathComponent("segment-server.lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ServerSetupError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder =
                (try? String(contentsOfFile: path, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(fd)
            throw ServerSetupError(
                "--data-dir \(directory) is in use by another segment-server (\(holder.isEmpty ? "a process that did not say which" : holder)); "
                    + "stop it, or give this server its own --data-dir")
        }
        let holder = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
        _ = ftruncate(fd, 0)
        _ = holder.withCString { write(fd, $0, strlen($0)) }
        descriptor = Mutex(fd)
    }

    /// Lets another server take the directory (also done when this lock is released from memory).
    public func release() {
        descriptor.withLock { fd in
            guard let open = fd else { return }
            close(open)  // closing the only descriptor releases the flock
            fd = nil
        }
    }

    deinit { release() }
}
