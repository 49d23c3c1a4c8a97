import ServiceLifecycle

/// One long-lived part of a server (the gRPC server, the change feed, the shared job queue...)
/// as a service of the server's ServiceGroup, listed in `RunningParts` while it runs so that a
/// shutdown that overruns names what was still running.
struct ServerPart: Service, CustomStringConvertible {
    let description: String
    private let body: @Sendable () async throws -> Void

    init(_ name: String, parts: RunningParts, _ body: @escaping @Sendable () async throws -> Void) {
        description = name
        self.body = { try await parts.run(name, body) }
    }

    /// Holds the data directory's lock until the group shuts down (it is started first, so it is
    /// shut down last), then releases it: the next server on the directory may start.
    init(_ name: String, holding lock: DataDirectoryLock) {
        description = name
        body = {
            defer { lock.release() }
            try? await gracefulShutdown()
        }
    }

    func run() async throws { try await body() }
}
