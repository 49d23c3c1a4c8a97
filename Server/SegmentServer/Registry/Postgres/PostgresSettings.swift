import Foundation
import PostgresNIO

/// Where the PostgreSQL registry is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=require]`,
/// the password preferably from a file or the environment, never from logs.
public struct PostgresSettings: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var requireTLS: Bool
    public var maximumConnections = 10
    /// How long the first contact (connect and migrate) may take.
    public var startTimeout: Duration = .seconds(15)
    /// How long one call may take, waiting for a connection included (`--registry-timeout`);
    /// also the database's statement, lock and idle-in-transaction timeouts.
    public var callTimeout: Duration = .seconds(5)

    /// Parses the URL; `password` (from --registry-password-file or SEGMENT_REGISTRY_PASSWORD)
    /// overrides one in the URL.
    public init(url text: String, password: String? = nil) throws {
        guard let url = URLComponents(string: text),
            ["postgres", "postgresql"].contains(url.scheme ?? ""),
            let host = url.host, !host.isEmpty
        else {
            throw RegistryError.invalid(
                "--registry must be postgres://USER@HOST[:PORT]/DATABASE (got a value that is not)")
        }
        guard let user = url.user, !user.isEmpty else {
            throw RegistryError.invalid("--registry needs a user: postgres://USER@HOST/DATABASE")
        }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty else {
            throw RegistryError.invalid(
                "--registry needs a database: postgres://USER@HOST/DATABASE")
        }
        self.host = host
        port = url.port ?? 5432
        username = user
        self.password = password ?? url.password
        self.database = database
        requireTLS =
            url.queryItems?.contains {
                $0.name == "sslmode"
                    && ["require", "verify-full", "verify-ca"].contains($0.value ?? "")
            } ?? false
    }

    /// The URL without the password.
    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)"
            + (requireTLS ? "?sslmode=require" : "")
    }

    /// The pool's connections. The database bounds each statement and lock wait too, so a
    /// statement whose caller gave up cannot hold locks past the call's own bound.
    func poolConfiguration() -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database,
            tls: requireTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.connectTimeout = Self.connectTimeout
        configuration.options.maximumConnections = maximumConnections
        let milliseconds = String(callTimeout.components.seconds * 1000)
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", milliseconds), ("lock_timeout", milliseconds),
            ("idle_in_transaction_session_timeout", milliseconds),
        ]
        return configuration
    }

    /// A connection of its own, outside the pool (the change feed's LISTEN).
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database,
            tls: requireTLS
                ? .require(try .init(configuration: .makeClientConfiguration())) : .disable)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    private static let connectTimeout = Duration.seconds(5)
}
