import Foundation
import GRPCCore
import SegmentationAPI
import Synchronization

/// Where the server is in its life, and the serving status each health service name follows:
/// what needs the registry is SERVING only once startup checks are done and while the registry
/// answers; scoring stays SERVING while the registry is briefly away (models in memory score);
/// `liveness` is SERVING whenever the process answers and is not stopping. Watchers see every
/// change of their name's status.
public final class HealthStatus: Sendable {
    public typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    public enum Phase: Sendable, Equatable {
        /// Listening, but the registry's startup checks and the model tables are not done:
        /// calls other than health and reflection are refused with UNAVAILABLE.
        case starting
        case serving
        /// The registry's periodic probe failed; calls still run (models in memory still score).
        case registryUnavailable
        /// Shutting down: final.
        case stopping
    }

    /// The health service names: the whole server (""), each API service, and the process's
    /// liveness (for a liveness probe that must not restart a server waiting for its registry).
    public static let liveness = "liveness"
    static let scoring = "segmentation.v1.ScoringService"
    public static let names: Set<String> = [
        "", liveness, scoring, "segmentation.v1.DatasetService",
        "segmentation.v1.TrainingService", "segmentation.v1.ModelRegistry",
    ]

    /// The status of a health service name in a phase.
    static func status(of name: String, in phase: Phase) -> Status {
        let serving =
            switch name {
            case liveness: phase != .stopping
            case scoring: phase == .serving || phase == .registryUnavailable
            default: phase == .serving
            }
        return serving ? .serving : .notServing
    }

    private struct Watcher {
        var name: String
        var last: Status
        var continuation: AsyncStream<Status>.Continuation
    }

    private struct State {
        var phase = Phase.starting
        /// The startup checks are done (stays true through shutdown: in-flight calls may finish).
        var started = false
        var watchers: [UUID: Watcher] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The whole server's status ("": every service SERVING).
    public var status: Status { status(of: "") }
    public func status(of name: String) -> Status {
        Self.status(of: name, in: phase)
    }
    public var phase: Phase { state.withLock { $0.phase } }
    /// Calls other than health and reflection may run: the startup checks are done.
    public var hasStarted: Bool { state.withLock { $0.started } }

    /// The startup checks are done: SERVING (unless shutting down already).
    func markStarted() {
        state.withLock { $0.started = true }
        set(.serving)
    }

    /// Moves to `phase`, unless shutting down already (nothing comes after that).
    public func set(_ phase: Phase) {
        state.withLock { state in
            guard state.phase != .stopping else { return }
            state.phase = phase
            for (token, watcher) in state.watchers {
                let now = Self.status(of: watcher.name, in: phase)
                guard now != watcher.last else { continue }
                state.watchers[token]?.last = now
                watcher.continuation.yield(now)
            }
        }
    }

    /// Returns once shutdown begins (or the waiting task is cancelled).
    func untilStopping() async {
        let (statuses, token) = watch()
        defer { endWatch(token) }
        for await _ in statuses {}
    }

    /// Waits until SERVING (true) or shutdown (false).
    public func untilServing() async -> Bool {
        let (statuses, token) = watch()
        defer { endWatch(token) }
        for await status in statuses where status == .serving { return true }
        return false
    }

    func watch(_ name: String = "") -> (AsyncStream<Status>, UUID) {
        let (stream, continuation) = AsyncStream<Status>.makeStream(
            bufferingPolicy: .bufferingNewest(1))
        let token = UUID()
        state.withLock { state in
            let now = Self.status(of: name, in: state.phase)
            continuation.yield(now)
            if state.phase == .stopping {
                continuation.finish()
            } else {
                state.watchers[token] = Watcher(name: name, last: now, continuation: continuation)
            }
        }
        return (stream, token)
    }

    /// NOT_SERVING, and every watch ends (so a graceful shutdown is not held open by them).
    public func shutDown() {
        state.withLock { state in
            state.phase = .stopping
            for watcher in state.watchers.values {
                watcher.continuation.yield(.notServing)
                watcher.continuation.finish()
            }
            state.watchers.removeAll()
        }
    }

    func endWatch(_ token: UUID) {
        state.withLock { $0.watchers.removeValue(forKey: token) }?.continuation.finish()
    }
}

/// `grpc.health.v1.Health` for the server (""), each of our services, and `liveness`.
struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let health: HealthStatus

    func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard HealthStatus.names.contains(request.service) else {
            throw RPCError(
                code: .notFound, message: "unknown service \(request.service.quotedForMessage)")
        }
        return .with { $0.status = health.status(of: request.service) }
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        guard HealthStatus.names.contains(request.service) else {
            try await response.write(.with { $0.status = .serviceUnknown })
            return
        }
        let (statuses, token) = health.watch(request.service)
        try await withRPCCancellationHandler {
            for await status in statuses { try await response.write(.with { $0.status = status }) }
        } onCancelRPC: {
            health.endWatch(token)
        }
    }
}
