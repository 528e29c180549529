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
        ]
        return configuration
    }
}
