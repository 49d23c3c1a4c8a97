import Foundation
import Synchronization
import Testing

/// Child processes for tests, with every wait bounded: a hung child is killed and the test fails
/// saying so, instead of the whole suite waiting for ever (a CI run once hung that way). Output
/// is read on threads of its own while the child runs, so a chatty child can never fill a pipe
/// and stall. Every wait suspends (`Task.sleep`) instead of blocking its thread: the test process
/// has one cooperative thread per core, two on CI, and two tests each blocking one for a minute-long
/// CLI run starved every other test (timers, gRPC replies) for that minute.
enum ChildProcess {
    struct TimedOut: Error, CustomStringConvertible {
        var what: String
        var seconds: Double
        var description: String { "\(what) did not finish within \(Int(seconds)) s; it was killed" }
    }

    /// Waits up to `seconds` for `process` to exit and returns its exit status (128 + the signal
    /// for a signalled one); SIGKILLs it past that and throws.
    @discardableResult
    static func waitForExit(_ process: Process, seconds: Double, what: String) async throws -> Int32
    {
        if let status = await exitStatus(process, within: seconds) { return status }
        kill(process.processIdentifier, SIGKILL)
        _ = await exitStatus(process, within: 5)
        throw TimedOut(what: what, seconds: seconds)
    }

    /// SIGTERM, then the bounded wait; a child that ignores it is killed and the test fails.
    @discardableResult
    static func terminate(_ process: Process, seconds: Double = 20, what: String) async -> Int32? {
        process.terminate()
        do {
            return try await waitForExit(process, seconds: seconds, what: "\(what) after SIGTERM")
        } catch {
            Issue.record("\(error)")
            return nil
        }
    }

    /// Reaps the child itself as well: Foundation was seen here leaving an exited child a zombie
    /// and reporting it running for ever (and, once, reporting a live one gone).
    private static func exitStatus(_ process: Process, within seconds: Double) async -> Int32? {
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
            await pause()
        }
    }

    /// 10 ms, suspended rather than blocked; a cancelled task still waits its bound out (`try?`),
    /// so a child is never left running unreaped.
    static func pause() async { try? await Task.sleep(for: .milliseconds(10)) }
}

/// Everything a pipe carries, read on a thread of its own until the writer closes it.
final class PipeReader: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var closed = false

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.withLock { data.append(chunk) }
            }
            lock.withLock { closed = true }
        }
        thread.name = "test pipe reader"
        thread.start()
    }

    /// What has arrived so far.
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }

    /// Everything, once the writer has closed the pipe (bounded: a grandchild holding it open
    /// must not hang the test).
    func whole(waiting seconds: Double = 5) async -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while !finished, Date() < deadline { await ChildProcess.pause() }
        return text
    }

    private var finished: Bool { lock.withLock { closed } }
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

    static func start(dataDirectory: String, extra: [String] = []) async throws -> ServerProcess {
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
            if let range = text.range(
                of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression)
            {
                return ServerProcess(
                    process: process, port: Int(text[range].split(separator: ":").last!)!, log: log)
            }
            await ChildProcess.pause()
        }
        Foundation.kill(process.processIdentifier, SIGKILL)
        _ = try? await ChildProcess.waitForExit(
            process, seconds: 5, what: "segment-server that did not start")
        throw CocoaError(
            .fileReadUnknown,
            userInfo: [NSLocalizedDescriptionKey: "server did not start within 30 s: \(log.text)"])
    }

    var processIdentifier: Int32 { process.processIdentifier }
    private let status = Mutex<Int32?>(nil)
    /// The exit status once a wait here has seen the exit (-1 before).
    var terminationStatus: Int32 { status.withLock { $0 } ?? -1 }
    private var exited: Bool { status.withLock { $0 } != nil }

    /// SIGTERM and a bounded wait (a server that does not exit within `seconds` fails the test).
    func stop(seconds: Double = 20) async {
        guard !exited else { return }
        let code = await ChildProcess.terminate(process, seconds: seconds, what: "segment-server")
        status.withLock { $0 = code ?? -1 }
    }

    /// For `defer`, which cannot wait: SIGTERM now, and the bounded wait (SIGKILL past it) in a
    /// task of its own, so the child never outlives the test process unreaped.
    func stopWithoutWaiting() {
        guard !exited else { return }
        process.terminate()
        Task { await stop() }
    }

    /// SIGINT and a bounded wait.
    func interrupt(seconds: Double = 20) async throws {
        process.interrupt()
        try await wait(seconds: seconds, what: "segment-server after SIGINT")
    }

    /// SIGKILL, then waits for the exit.
    func kill() async throws {
        Foundation.kill(process.processIdentifier, SIGKILL)
        try await wait(seconds: 10, what: "segment-server after SIGKILL")
    }

    /// Waits for an exit some other signal caused.
    func wait(seconds: Double, what: String) async throws {
        let code = try await ChildProcess.waitForExit(process, seconds: seconds, what: what)
        status.withLock { $0 = code }
    }
}
