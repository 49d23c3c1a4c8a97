import Foundation
import GRPCCore
import Logging
import SegmentationAPI
import Synchronization

/// Every call passes here once: refused while the server is starting, authenticated by its bearer
/// token and checked against the token's role (when the server has a tokens file; health and
/// reflection stay open), then counted in the metrics and logged in one line when it ends:
/// method, status, duration, peer and role. Never the request's content, never a token.
struct CallInterceptor: ServerInterceptor {
    let tokens: TokenStore?
    let logger: Logger
    let metrics: ServerMetrics
    let health: HealthStatus
    /// `--max-header-bytes`: a call whose metadata is larger fails alone (the HTTP/2 layer decodes
    /// lists up to 64 KiB so that it can be told, instead of closing the connection).
    var maximumHeaderBytes = 16 << 10
    /// Streams still open when the drain ends are stopped then, answering UNAVAILABLE.
    var drain = DrainDeadline()

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next:
            @Sendable (StreamingServerRequest<Input>, ServerContext) async throws ->
            StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let started = ContinuousClock.now
        var caller: Role?
        let ability = AccessPolicy.ability(for: context.descriptor)
        do {
            try Self.checkSize(request.metadata, limit: maximumHeaderBytes)
            if ability != .open {
                guard health.hasStarted else {
                    throw Refusal.starting
                }
                if let tokens {
                    caller = try Self.authenticate(request.metadata, tokens)
                    try Self.permit(caller!, ability, context.descriptor)
                }
            }
        } catch {
            let error = RPCErrors.map(error)
            log(context, role: caller, ability: ability, code: error.code, since: started)
            throw error
        }
        let role = caller
        // The client's deadline, to count a call it ended as DeadlineExceeded rather than cancelled.
        // The framework's timer starts before this runs, by as long as a large request took to
        // arrive, which the server cannot see: a call cancelled once half its deadline had gone
        // counts as past it (a client's own cancel that late is counted so too).
        let deadline = Self.timeout(in: request.metadata).map { started + $0 / 2 }
        let end = CallEnd { code in
            let passed = deadline.map { ContinuousClock.now >= $0 } ?? false
            log(
                context, role: role, ability: ability,
                code: passed && code == .cancelled ? .deadlineExceeded : code, since: started)
        }
        // Calls that stream may run long: the drain's end stops them. A client stream (an upload)
        // does its work here, in `next`; a server or bidirectional stream in its producer below.
        let streaming =
            APISchema.methodTypes[
                context.descriptor.service.fullyQualifiedService + "/" + context.descriptor.method]
            ?? "unary" != "unary"
        var response: StreamingServerResponse<Output>
        do {
            if streaming {
                // `stopping` returns only once `next` has (a task group), so it never outlives this call.
                response = try await withoutActuallyEscaping(next) { next in
                    try await drain.stopping { try await next(request, context) }
                }
            } else {
                response = try await Caller.$role.withValue(role) {
                    try await next(request, context)
                }
            }
        } catch {
            let error = answer(for: error)
            end.finish(error.code)
            throw error
        }
        switch response.accepted {
        case .success(var contents):
            // The call ends when its producer does (a streaming reply may run long after this returns).
            let produce = contents.producer
            contents.producer = { [drain] writer in
                do {
                    // A stream can stay open for ever: it is stopped when the drain ends. (A unary
                    // call's only long work, a large Score, checks the drain itself.)
                    let trailers =
                        streaming
                        ? try await drain.stopping { try await produce(writer) }
                        : try await produce(writer)
                    end.finish(nil)
                    return trailers
                } catch {
                    let error = answer(for: error)
                    end.finish(error.code)
                    throw error
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            let error = answer(for: error)
            response.accepted = .failure(error)
            end.finish(error.code)
        }
        return response
    }

    /// A call cancelled while the server shuts down was cut by the drain's end (a client that
    /// cancelled itself no longer reads the status): UNAVAILABLE, which the documented retry
    /// policy sends again (to another replica, or to this one once restarted), not CANCELLED.
    private func cutByDrain(_ error: any Error) -> any Error {
        guard health.phase == .stopping, Self.code(of: error) == .cancelled else { return error }
        return Refusal.drainEnded
    }

    /// What the client is told: every error mapped here, once, to its status and details
    /// (handlers throw domain errors and never map them).
    private func answer(for error: any Error) -> RPCError {
        RPCErrors.map(cutByDrain(error))
    }

    /// The `grpc-timeout` a client sent (an integer and a unit: H, M, S, m, u or n).
    static func timeout(in metadata: Metadata) -> Duration? {
        guard let text = metadata[stringValues: "grpc-timeout"].first(where: { _ in true }),
            let unit = text.last,
            let amount = Int64(text.dropLast())
        else { return nil }
        switch unit {
        case "H": return .seconds(amount * 3600)
        case "M": return .seconds(amount * 60)
        case "S": return .seconds(amount)
        case "m": return .milliseconds(amount)
        case "u": return .microseconds(amount)
        case "n": return .nanoseconds(amount)
        default: return nil
        }
    }

    /// The status a handler's error ends its call with: a client that went away is CANCELLED.
    static func code(of error: any Error) -> RPCError.Code {
        switch error {
        case let error as RPCError: error.code
        case let error as any RPCErrorConvertible: error.rpcErrorCode
        case is CancellationError: .cancelled
        default: .unknown
        }
    }

    /// RESOURCE_EXHAUSTED when the metadata is over `limit`, counted as HTTP/2's header list size
    /// is: name + value + 32 bytes per entry.
    static func checkSize(_ metadata: Metadata, limit: Int) throws {
        var size = 0
        for entry in metadata {
            let value =
                switch entry.value {
                case .string(let text): text.utf8.count
                case .binary(let bytes): (bytes.count + 2) / 3 * 4  // sent base64
                }
            size += entry.key.utf8.count + value + 32
        }
        guard size > limit else { return }
        throw Refusal.metadataTooLarge(size: size, limit: limit)
    }

    /// The caller's role, or UNAUTHENTICATED (no token, or one this server does not know).
    static func authenticate(_ metadata: Metadata, _ tokens: TokenStore) throws -> Role {
        guard let header = metadata[stringValues: "authorization"].first(where: { _ in true })
        else {
            throw Refusal.noToken
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
            let role = tokens.role(of: String(parts[1]))
        else {
            throw Refusal.unknownToken
        }
        return role
    }

    /// PERMISSION_DENIED unless the role has the ability the method needs.
    static func permit(_ role: Role, _ ability: Ability, _ method: MethodDescriptor) throws {
        guard role.abilities.contains(ability) else {
            throw Refusal.notPermitted(
                role: role.rawValue, method: method.method, needs: ability.rawValue,
                roles: Role.allCases.filter { $0.abilities.contains(ability) }.map(\.rawValue))
        }
    }

    /// Counts the call and logs its line (health checks at debug: probes come every few seconds).
    private func log(
        _ context: ServerContext, role: Role?, ability: Ability, code: RPCError.Code?,
        since started: ContinuousClock.Instant
    ) {
        let elapsed = ContinuousClock.now - started
        let method = context.descriptor
        metrics.rpcFinished(
            service: method.service.fullyQualifiedService, method: method.method, code: code,
            duration: elapsed)
        let milliseconds =
            Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds)
            / 1e15
        let level: Logger.Level =
            method.service == Grpc_Health_V1_Health.descriptor ? .debug : .info
        logger.log(
            level: level, "rpc",
            metadata: [
                "method": "\(context.descriptor.fullyQualifiedMethod)",
                "status": "\(code.map { "\($0)" } ?? "ok")",
                "ms": .stringConvertible((milliseconds * 100).rounded() / 100),
                "peer": "\(context.remotePeer)",
                "role":
                    "\(role?.rawValue ?? (tokens == nil || ability == .open ? "open" : "none"))",
            ])
    }
}

/// Records a call's end exactly once. When the framework drops a response without ever running its
/// producer (the client reset the stream before the reply began), the call is recorded then, as CANCELLED.
private final class CallEnd: Sendable {
    private let recorded = Atomic<Bool>(false)
    private let record: @Sendable (RPCError.Code?) -> Void

    init(_ record: @escaping @Sendable (RPCError.Code?) -> Void) { self.record = record }

    func finish(_ code: RPCError.Code?) {
        guard !recorded.exchange(true, ordering: .acquiringAndReleasing) else { return }
        record(code)
    }

    deinit { finish(.cancelled) }
}
