import Foundation
import GRPCCore
import Logging
import Prometheus
import SegmentationAPI
import Synchronization
import Tracing

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
    /// A span per call (health checks aside) when --otlp-endpoint is given.
    var tracing: CallTracing?

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next:
            @Sendable (StreamingServerRequest<Input>, ServerContext) async throws ->
            StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let started = ContinuousClock.now
        let (service, method) = (
            context.descriptor.service.fullyQualifiedService, context.descriptor.method
        )
        metrics.rpcStarted(service: service, method: method)
        let span = tracing.flatMap { tracing in
            context.descriptor.service == Grpc_Health_V1_Health.descriptor
                ? nil
                : tracing.start(
                    context.descriptor, metadata: request.metadata,
                    peer: CallNotes.peer(
                        metadata: request.metadata, remotePeer: context.remotePeer))
        }
        let notes = CallNotes(
            metadata: request.metadata, remotePeer: context.remotePeer, traceID: span?.traceID)
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
            log(
                context, role: caller, ability: ability, error: error, notes: notes, span: span,
                since: started)
            throw error
        }
        let role = caller
        // The client's deadline, to count a call it ended as DEADLINE_EXCEEDED rather than cancelled.
        // The framework's timer starts before this runs, by as long as a large request took to
        // arrive, which the server cannot see: a call cancelled once half its deadline had gone
        // counts as past it (a client's own cancel that late is counted so too).
        let deadline = Self.timeout(in: request.metadata).map { started + $0 / 2 }
        let end = CallEnd { error in
            let passed = deadline.map { ContinuousClock.now >= $0 } ?? false
            // Past it, a cancel or a failure of the call's own plumbing (a request stream the
            // client closed empty, say) is the deadline: what the client saw, and not a fault.
            let cutShort: Set<RPCError.Code> = [.cancelled, .internalError, .unknown]
            let error =
                passed && error.map({ cutShort.contains($0.code) }) == true
                ? RPCError(code: .deadlineExceeded, message: "the call's deadline passed") : error
            log(
                context, role: role, ability: ability, error: error, notes: notes, span: span,
                since: started)
        }
        let (received, sent) = metrics.messageCounters(service: service, method: method)
        var counted = request
        counted.messages = RPCAsyncSequence(
            wrapping: request.messages.map { message in
                received.increment()
                return message
            })
        let request = counted
        // Calls that stream may run long: the drain's end stops them. A client stream (an upload)
        // does its work here, in `next`; a server or bidirectional stream in its producer below.
        let streaming = APISchema.methodTypes[service + "/" + method] ?? "unary" != "unary"
        var response: StreamingServerResponse<Output>
        do {
            response = try await CallNotes.$current.withValue(notes) {
                if streaming {
                    // `stopping` returns only once `next` has (a task group), so it never outlives this call.
                    return try await withoutActuallyEscaping(next) { next in
                        try await drain.stopping { try await next(request, context) }
                    }
                } else {
                    let timeout = Self.timeout(in: request.metadata)
                    // `within` returns only once `next` has (a task group).
                    return try await withoutActuallyEscaping(next) { next in
                        try await Caller.$role.withValue(role) {
                            try await Self.within(timeout, since: started) {
                                try await next(request, context)
                            }
                        }
                    }
                }
            }
        } catch {
            let error = answer(for: error)
            end.finish(error)
            throw error
        }
        switch response.accepted {
        case .success(var contents):
            // The call ends when its producer does (a streaming reply may run long after this returns).
            let produce = contents.producer
            contents.producer = { [drain] writer in
                let writer = RPCWriter(wrapping: CountingWriter(base: writer, counter: sent))
                do {
                    // A stream can stay open for ever: it is stopped when the drain ends. (A unary
                    // call's only long work, a large Score, checks the drain itself.)
                    let trailers = try await CallNotes.$current.withValue(notes) {
                        streaming
                            ? try await drain.stopping { try await produce(writer) }
                            : try await produce(writer)
                    }
                    end.finish(nil)
                    return trailers
                } catch {
                    let error = answer(for: error)
                    end.finish(error)
                    throw error
                }
            }
            response.accepted = .success(contents)
        case .failure(let error):
            let error = answer(for: error)
            response.accepted = .failure(error)
            end.finish(error)
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
        RPCErrors.map(cutByDrain(clientWentAway(error)))
    }

    /// A handler whose task was cancelled outside a shutdown lost its client (a reset stream or a
    /// passed deadline): whatever its work threw on the way out (a registry read cut short reads
    /// as the registry being away) is CANCELLED, never a server fault.
    /// So is a reply the transport could not deliver ("I/O on closed channel"): its client is gone.
    private func clientWentAway(_ error: any Error) -> any Error {
        if error is ReplyNotDelivered { return CancellationError() }
        guard Task.isCancelled, health.phase != .stopping, Self.code(of: error) != .cancelled
        else { return error }
        return CancellationError()
    }

    /// Runs a unary handler, cancelled once the client's deadline has passed. Over HTTP/2 the
    /// client's reset stream cancels it sooner; the HTTP gateway's in-process calls have no such
    /// reset, so this is what stops their work (`Connect-Timeout-Ms`).
    static func within<T: Sendable>(
        _ timeout: Duration?, since started: ContinuousClock.Instant,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard let timeout else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(until: started + timeout, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            // The deadline came first: told as such (a CancellationError would reach a client whose
            // own timer is a little late as CANCELLED).
            guard let answer = try await group.next() ?? nil else {
                throw RPCError(code: .deadlineExceeded, message: "the call's deadline passed")
            }
            return answer
        }
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

    /// Counts the call and logs its line (health checks at debug: probes come every few seconds):
    /// method, status (spelled as in the API), time, peer, role, the trace id, the model version
    /// it served and, for a failure, the message its client was given; ends its span with the same.
    private func log(
        _ context: ServerContext, role: Role?, ability: Ability, error: RPCError?,
        notes: CallNotes, span: (any Span)?, since started: ContinuousClock.Instant
    ) {
        let elapsed = ContinuousClock.now - started
        let method = context.descriptor
        metrics.rpcFinished(
            service: method.service.fullyQualifiedService, method: method.method,
            code: error?.code, duration: elapsed)
        let milliseconds =
            Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds)
            / 1e15
        let level: Logger.Level =
            method.service == Grpc_Health_V1_Health.descriptor ? .debug : .info
        var metadata: Logger.Metadata = [
            "method": "\(context.descriptor.fullyQualifiedMethod)",
            "status": "\(StatusName.of(error?.code))",
            "ms": .stringConvertible((milliseconds * 100).rounded() / 100),
            "peer": "\(notes.peer)",
            "role": "\(role?.rawValue ?? (tokens == nil || ability == .open ? "open" : "none"))",
            "trace_id": "\(notes.traceID)",
        ]
        if let served = notes.model {
            metadata["model"] = "\(served.name)"
            metadata["version"] = "\(served.version)"
        }
        let reason = error.map { RPCErrors.reason(of: $0) ?? StatusName.of($0.code) }
        if let error, let reason {
            // The message the client was given; a bad row's names a customer: its reason only.
            metadata["reason"] = "\(reason)"
            if reason != "BAD_ROW" { metadata["error"] = "\(error.message)" }
        }
        logger.log(level: level, "rpc", metadata: metadata)
        if let span {
            CallTracing.end(span, error: error, reason: reason, model: notes.model)
        }
    }
}

/// Counts each message a reply sends.
private struct CountingWriter<Element: Sendable>: RPCWriterProtocol {
    let base: RPCWriter<Element>
    let counter: Prometheus.Counter

    func write(_ element: Element) async throws {
        do {
            try await base.write(element)
        } catch {
            throw ReplyNotDelivered(underlying: error)
        }
        counter.increment()
    }

    func write(contentsOf elements: some Sequence<Element>) async throws {
        for element in elements { try await write(element) }
    }
}

/// A reply message the transport would not take: the stream is closed (the client reset it or
/// went away), which is the client's cancel, not the server's fault.
private struct ReplyNotDelivered: Error {
    let underlying: any Error
}

/// Records a call's end exactly once. When the framework drops a response without ever running its
/// producer (the client reset the stream before the reply began), the call is recorded then, as CANCELLED.
private final class CallEnd: Sendable {
    private let recorded = Atomic<Bool>(false)
    private let record: @Sendable (RPCError?) -> Void

    init(_ record: @escaping @Sendable (RPCError?) -> Void) { self.record = record }

    /// nil: the call succeeded.
    func finish(_ error: RPCError?) {
        guard !recorded.exchange(true, ordering: .acquiringAndReleasing) else { return }
        record(error)
    }

    deinit {
        finish(RPCError(code: .cancelled, message: "the client reset the call before its reply"))
    }
}
