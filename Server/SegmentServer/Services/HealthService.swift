import Foundation
import GRPCCore
import SegmentationAPI
import Synchronization

/// Where the server is in its life, and the serving status that follows: SERVING only once
/// startup checks are done and while the registry answers; watchers see every change of status.
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

    private struct State {
        var phase = Phase.starting
        /// The startup checks are done (stays true through shutdown: in-flight calls may finish).
        var started = false
        var watchers: [UUID: AsyncStream<Status>.Continuation] = [:]
        var status: Status { phase == .serving ? .serving : .notServing }
    }

    private let state = Mutex(State())

    public init() {}

    public var status: Status { state.withLock { $0.status } }
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
            let before = state.status
            state.phase = phase
            guard state.status != before else { return }
            for watcher in state.watchers.values { watcher.yield(state.status) }
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

    func watch() -> (AsyncStream<Status>, UUID) {
        let (stream, continuation) = AsyncStream<Status>.makeStream(
            bufferingPolicy: .bufferingNewest(1))
        let token = UUID()
        state.withLock { state in
            continuation.yield(state.status)
            if state.phase == .stopping {
                continuation.finish()
            } else {
                state.watchers[token] = continuation
            }
        }
        return (stream, token)
    }

    /// NOT_SERVING, and every watch ends (so a graceful shutdown is not held open by them).
    public func shutDown() {
        state.withLock { state in
            state.phase = .stopping
            for watcher in state.watchers.values {
                watcher.yield(.notServing)
                watcher.finish()
            }
            state.watchers.removeAll()
        }
    }

    func endWatch(_ token: UUID) {
        state.withLock { $0.watchers.removeValue(forKey: token) }?.finish()
    }
}

/// `grpc.health.v1.Health` for the server ("") and each of our services.
struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let health: HealthStatus

    static let services: Set<String> = [
        "", "segmentation.v1.DatasetService", "segmentation.v1.TrainingService",
        "segmentation.v1.ModelRegistry",
        "segmentation.v1.ScoringService",
    ]

    func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.services.contains(request.service) else {
            throw RPCError(
                code: .notFound, message: "unknown service \(request.service.quotedForMessage)")
        }
        return .with { $0.status = health.status }
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        guard Self.services.contains(request.service) else {
            try await response.write(.with { $0.status = .serviceUnknown })
            return
        }
        let (statuses, token) = health.watch()
        try await withRPCCancellationHandler {
            for await status in statuses { try await response.write(.with { $0.status = status }) }
        } onCancelRPC: {
            health.endWatch(token)
        }
    }
}
