import Foundation
import Synchronization
import Testing

/// Child processes for tests, with every wait bounded: a hung child is killed and the test fails
/// saying so, instead of the whole suite waiting for ever (a CI run once hung that way). Output
/// is read on threads of its own while the child runs, so a chatty child can never fill a pipe
/// and stall.
enum ChildProcess {
    struct TimedOut: Error, CustomStringConvertible {
        var what: String
        var seconds: Double
        var description: String { "\(what) did not finish within \(Int(seconds)) s; it was killed" }
    }

    /// Waits up to `seconds` for `process` to exit and returns its exit status (128 + the signal
    /// for a signalled one); SIGKILLs it past that and throws.
    @discardableResult
    static func waitForExit(_ process: Process, seconds: Double, what: String) throws -> Int32 {
        if let status = exitStatus(process, within: seconds) { return status }
        kill(process.processIdentifier, SIGKILL)
        _ = exitStatus(process, within: 5)
        throw TimedOut(what: what, seconds: seconds)
    }

    /// SIGTERM, then the bounded wait; a child that ignores it is killed and the test fails.
    @discardableResult
    static func terminate(_ process: Process, seconds: Double = 20, what: String) -> Int32? {
        process.terminate()
        do { return try waitForExit(process, seconds: seconds, what: "\(what) after SIGTERM") } catch {
            Issue.record("\(error)")
            return nil
        }
    }

    /// Reaps the child itself as well: Foundation was seen here leaving an exited child a zombie
    /// and reporting it running for ever (and, once, reporting a live one gone).
    private static func exitStatus(_ process: Process, within seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        let pid = process.processIdentifier
        while true {
            if !process.isRunning, kill(pid, 0) != 0 { return process.terminationStatus }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                let signal = status & 0x7f
                return signal == 0 ? (status >> 8) & 0xff : 128 + signal
            }
            if Date() >= deadline { return nil }
            usleep(10_000)
        }
    }
}

/// Everything a pipe carries, read on a thread of its own until the writer closes it.
final class PipeReader: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.withLock { data.append(chunk) }
            }
            done.signal()
        }
        thread.name = "test pipe reader"
        thread.start()
    }

    /// What has arrived so far.
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }

    /// Everything, once the writer has closed the pipe (bounded: a grandchild holding it open
    /// must not hang the test).
    func whole(waiting seconds: Double = 5) -> String {
        _ = done.wait(timeout: .now() + seconds)
        return text
    }
}

/// A `segment-server` started by a test on a free port, its log always drained.
final class ServerProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    let log: PipeReader

    private init(process: Process, port: Int, log: PipeReader) {
        self.process = process
        self.port = port
        self.log = log
    }

    static func start(dataDirectory: String, extra: [String] = []) throws -> ServerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProcessTests.server)
        process.arguments = ["--port", "0", "--data-dir", dataDirectory] + extra
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let log = PipeReader(pipe)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning {
            let text = log.text
            if let range = text.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                return ServerProcess(process: process, port: Int(text[range].split(separator: ":").last!)!, log: log)
            }
            usleep(10_000)
        }
        Foundation.kill(process.processIdentifier, SIGKILL)
        _ = try? ChildProcess.waitForExit(process, seconds: 5, what: "segment-server that did not start")
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "server did not start within 30 s: \(log.text)"])
    }

    var processIdentifier: Int32 { process.processIdentifier }
    private let status = Mutex<Int32?>(nil)
    /// The exit status once a wait here has seen the exit (-1 before).
    var terminationStatus: Int32 { status.withLock { $0 } ?? -1 }
    private var exited: Bool { status.withLock { $0 } != nil }

    /// SIGTERM and a bounded wait (a server that does not exit within `seconds` fails the test).
    func stop(seconds: Double = 20) {
        guard !exited else { return }
        let code = ChildProcess.terminate(process, seconds: seconds, what: "segment-server")
        status.withLock { $0 = code ?? -1 }
    }

    /// SIGINT and a bounded wait.
    func interrupt(seconds: Double = 20) throws {
        process.interrupt()
        try wait(seconds: seconds, what: "segment-server after SIGINT")
    }

    /// SIGKILL, then waits for the exit.
    func kill() throws {
        Foundation.kill(process.processIdentifier, SIGKILL)
        try wait(seconds: 10, what: "segment-server after SIGKILL")
    }

    /// Waits for an exit some other signal caused.
    func wait(seconds: Double, what: String) throws {
        let code = try ChildProcess.waitForExit(process, seconds: seconds, what: what)
        status.withLock { $0 = code }
    }
}
