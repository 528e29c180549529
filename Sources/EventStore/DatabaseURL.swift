import Foundation
import PostgresNIO

/// Reads a `postgres://user:password@host:port/database` URL.
public enum DatabaseURL {
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// For a single connection outside the pool, such as the LISTEN connection.
    public static func connectionConfiguration(_ url: String) throws -> PostgresConnection.Configuration {
        let client = try configuration(url)
        var configuration = PostgresConnection.Configuration(
            host: client.host ?? "127.0.0.1", port: client.port ?? 5432, username: client.username,
            password: client.password, database: client.database, tls: .disable)
        configuration.options.additionalStartupParameters = [("application_name", "grantledger-listener")]
        return configuration
    }

    public static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url),
              ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty,
              let user = components.user, !user.isEmpty
        else {
            throw Invalid(description: "DATABASE_URL must look like postgres://user[:password]@host[:port]/database")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user,
            password: components.password?.removingPercentEncoding, database: database.isEmpty ? user : database,
            tls: .disable)
        // A stuck writer holds every reader of all events back: bound it.
        configuration.options.additionalStartupParameters = [
            ("application_name", "grantledger"),
            ("statement_timeout", "60s"),
            ("idle_in_transaction_session_timeout", "10s"),
            // The server probes idle connections (see keepAliveBehavior below).
            ("tcp_keepalives_idle", "30"),
        ]
        // No `SELECT 1` on idle connections every 30 s: the pool arms and
        // cancels a timer for it at every lease and release, and that timer
        // churn cost about 10% of the commands workload's throughput (and
        // the plain INSERT baseline's). The server's TCP keepalives keep
        // idle connections alive through NATs and find dead peers instead.
        configuration.options.keepAliveBehavior = nil
        return configuration
    }
}
