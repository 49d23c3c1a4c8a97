import Foundation
import GRPCCore
import SegmentationAPI
import Synchronization

/// The serving status, SERVING only once the registry is open; watchers see every change.
public final class HealthStatus: Sendable {
    public typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    private struct State {
        var status: Status = .notServing
        var watchers: [UUID: AsyncStream<Status>.Continuation] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public var status: Status { state.withLock { $0.status } }

    public func set(_ status: Status) {
        state.withLock { state in
            state.status = status
            for watcher in state.watchers.values { watcher.yield(status) }
        }
    }

    func watch() -> (AsyncStream<Status>, UUID) {
        let (stream, continuation) = AsyncStream<Status>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let token = UUID()
        state.withLock { state in
            continuation.yield(state.status)
            state.watchers[token] = continuation
        }
        return (stream, token)
    }

    /// NOT_SERVING, and every watch ends (so a graceful shutdown is not held open by them).
    public func shutDown() {
        state.withLock { state in
            state.status = .notServing
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
        "", "segmentation.v1.DatasetService", "segmentation.v1.TrainingService", "segmentation.v1.ModelRegistry",
        "segmentation.v1.ScoringService",
    ]

    func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.services.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
        }
        return .with { $0.status = health.status }
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
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
