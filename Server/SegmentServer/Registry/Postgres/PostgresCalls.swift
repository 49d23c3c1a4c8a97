import Foundation
import Logging
import PostgresNIO

// How the PostgreSQL registry runs a call: one bounded transaction, never applied after its
// caller was told it failed; and its failures by what a caller can do about them.

extension PostgresRegistry {

    /// Reads run in a transaction too: the statements of one read (a model's summary and its
    /// aliases, say) see one snapshot. A read is answered as soon as its statements are: the
    /// COMMIT of nothing is not waited for (on a starved or dying connection it can come late).
    public func read<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T { try await read(bound: nil, body) }

    /// Every stored model's bytes, once at start: far more than one call's work.
    public func longRead<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T {
        try await read(bound: .seconds(max(300, callTimeout.components.seconds * 20)), body)
    }

    private func read<T: Sendable>(
        bound: Duration?, _ body: @escaping @Sendable (PostgresTransaction) async throws -> T
    ) async throws -> T {
        try await transaction(bound: bound) { transaction, outcome, _ in
            let result = try await body(transaction)
            await outcome.settle(.success(result), final: true)
            return result
        }
    }

    /// One transaction, bounded by the call timeout; PostgreSQL's failures by what a caller can
    /// do about them. A write is never applied after its caller was told it failed: waiting for
    /// a connection is cancelled at the bound (the pool drops the request, it never runs later),
    /// and the transaction's last step claims the commit from the bound's timer: past the bound
    /// it rolls back instead; once claimed, the caller waits for COMMIT's own answer, a few more
    /// bounds at most (then it is told the outcome is not known).
    public func write<T: Sendable>(
        _ body: @escaping @Sendable (any CatalogTransaction) async throws -> T
    ) async throws -> T {
        try await write { (transaction: PostgresTransaction) in try await body(transaction) }
    }

    func write<T: Sendable>(
        _ body: @escaping @Sendable (PostgresTransaction) async throws -> T
    ) async throws -> T {
        try await transaction(bound: nil) { transaction, outcome, late in
            let result = try await body(transaction)
            guard await outcome.claimCommit() else { throw late }
            return result
        }
    }

    private func transaction<T: Sendable>(
        bound seconds: Duration?,
        _ body:
            @escaping @Sendable (PostgresTransaction, FirstOutcome<T>, _ late: RegistryError)
            async throws -> T
    ) async throws -> T {
        let client = self.client, logger = self.logger, location = self.location,
            timeout = seconds ?? callTimeout
        do {
            return try await bounded(timeout) { outcome in
                try await client.withTransaction(logger: logger) { connection in
                    if seconds != nil {
                        // A longer bound than the database's own per-statement one (set at connect).
                        try await connection.query(
                            "SET LOCAL statement_timeout = 0", logger: logger)
                    }
                    return try await body(
                        PostgresTransaction(connection: connection, logger: logger), outcome,
                        RegistryError.unavailable(Self.lateMessage(location, timeout)))
                }
            }
        } catch {
            throw Self.registryError(error, location: location)
        }
    }

    /// `body`, or UNAVAILABLE once `timeout` has passed. The caller gets its answer at the bound
    /// whatever `body` does, unless `body` has claimed its commit by then (the answer is then
    /// COMMIT's, for `commitBounds` more at most): `body` is cancelled and not waited for (a task
    /// group would wait, and a connection attempt or a pool wait can ignore cancellation for
    /// seconds). A COMMIT sent as the database stopped was seen never to answer (postgres-nio
    /// 1.33): waiting for it held a server's shutdown for ever.
    func bounded<T: Sendable>(
        _ timeout: Duration? = nil,
        _ body: @escaping @Sendable (FirstOutcome<T>) async throws -> T
    ) async throws -> T {
        try await Self.bounded(timeout ?? callTimeout, location: location, body)
    }

    static func bounded<T: Sendable>(
        _ timeout: Duration, location: String, late: RegistryError? = nil,
        _ body: @escaping @Sendable (FirstOutcome<T>) async throws -> T
    ) async throws -> T {
        let late = late ?? RegistryError.unavailable(Self.lateMessage(location, timeout))
        let outcome = FirstOutcome<T>()
        let work = Task {
            do { await outcome.settle(.success(try await body(outcome)), final: true) } catch {
                await outcome.settle(.failure(error), final: true)
            }
        }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            await outcome.settle(.failure(late), final: false)
            // Claimed: COMMIT's answer, for a few more bounds (a busy process can take that long
            // to read it; one that never comes must not hold the caller for ever).
            guard (try? await Task.sleep(for: timeout * Self.commitBounds)) != nil else { return }
            await outcome.giveUpOnCommit(
                .failure(RegistryError.unavailable(Self.unconfirmedMessage(location, timeout))))
        }
        defer {
            work.cancel()
            timer.cancel()
        }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            Task { await outcome.settle(.failure(CancellationError()), final: false) }
        }
    }

    /// How many bounds past the first a claimed COMMIT's answer is waited for.
    static let commitBounds = 3

    /// The answer when COMMIT was sent and never answered: whether it was applied is not known.
    private static func unconfirmedMessage(_ location: String, _ timeout: Duration) -> String {
        "the registry at \(location) did not confirm the change within \((1 + commitBounds) * Int(timeout.components.seconds)) s "
            + ": it may or may not have been applied; read it back before retrying"
    }

    private static func lateMessage(_ location: String, _ timeout: Duration) -> String {
        "the registry at \(location) did not answer within \(timeout.components.seconds) s; nothing was changed; retry"
    }

    /// For logs: postgres-nio's errors print a generic text; their code and the server's
    /// message say what happened (no query text, no parameters).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return String(describing: error) }
        return "\(error.code)" + (error.serverInfo?[.message].map { ": \($0)" } ?? "")
    }

    static func registryError(_ error: any Error, location: String) -> RegistryError {
        if let error = error as? RegistryError { return error }
        if let error = error as? PostgresTransactionError {
            // The closure's own error (a RegistryError, say) is the one that matters.
            if let inner = error.closureError ?? error.beginError ?? error.commitError
                ?? error.rollbackError
            {
                return registryError(inner, location: location)
            }
        }
        if let error = error as? PSQLError {
            switch error.serverInfo?[.sqlState] {
            case "40001", "40P01", "55P03", "57014": return .busy("the registry is busy; retry")
            case "53100": return .full("the registry's disk is full")
            case "XX001", "XX002": return .damagedDatabase("the registry database is damaged")
            case let state?:
                return .storage("PostgreSQL error \(state): \(error.serverInfo?[.message] ?? "")")
            case nil:
                // No server answer: the connection failed. Worth retrying once it is back.
                return .unavailable(
                    "the registry at \(location) cannot be reached (\(error.code)); retry")
            }
        }
        if error is CancellationError { return .busy("the registry call was cancelled") }
        // The pool gives up on a database it cannot reach (its circuit breaker): unreachable, not a storage fault.
        if String(describing: type(of: error)).contains("ConnectionPoolError") {
            return .unavailable("the registry at \(location) cannot be reached (\(error)); retry")
        }
        return .storage(String(describing: error))
    }
}

/// The first of several outcomes (a result, the timeout, the caller's cancellation) wins,
/// except that once the work has claimed its commit only the work's own result counts.
actor FirstOutcome<T: Sendable> {
    private var outcome: Result<T, any Error>?
    private var committing = false
    private var waiter: CheckedContinuation<T, any Error>?

    /// `final`: the work's own result (it wins even after a claimed commit).
    func settle(_ result: Result<T, any Error>, final: Bool) {
        guard final || !committing else { return }
        answer(result)
    }

    /// Whether the work may commit: false once the bound or the caller's cancellation has
    /// answered the caller (the work must roll back then).
    func claimCommit() -> Bool {
        guard outcome == nil else { return false }
        committing = true
        return true
    }

    /// The commit was claimed but never answered: the caller gets `result` all the same.
    func giveUpOnCommit(_ result: Result<T, any Error>) { answer(result) }

    /// The caller's answer, once: later ones are dropped.
    private func answer(_ result: Result<T, any Error>) {
        guard outcome == nil else { return }
        outcome = result
        waiter?.resume(with: result)
        waiter = nil
    }

    func value() async throws -> T {
        if let outcome { return try outcome.get() }
        return try await withCheckedThrowingContinuation { waiter = $0 }
    }
}
