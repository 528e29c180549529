import EventStore
import Foundation
import Logging
import PostgresNIO

/// The databases integration tests create for themselves on the server of
/// `DATABASE_URL` (`base`), one per test, so tests running in parallel
/// cannot see each other's events.
public enum TestDatabases {
    /// The repository's root: `db/` holds the migrations, `.build/` the executable.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var migrations: URL { root.appendingPathComponent("db") }

    /// A logger for tests: warnings and worse.
    public static func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = .warning
        return logger
    }

    public struct NoDatabaseURL: Error, CustomStringConvertible {
        public var description: String { "DATABASE_URL is not set: run the tests through ops/test" }
    }

    /// The server the tests run against: `ops/test` starts a throwaway cluster and sets DATABASE_URL.
    public static func baseURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else { throw NoDatabaseURL() }
        return url
    }

    /// Runs `body` with the URL of a database of its own (named `prefix`
    /// and a random suffix), dropped afterwards, also when `body` throws.
    public static func withDatabase<Result: Sendable>(prefix: String, logger: Logger, _ body: (_ url: String) async throws -> Result) async throws -> Result {
        let base = try baseURL()
        let name = "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
        guard var components = URLComponents(string: base) else { throw NoDatabaseURL() }
        components.path = "/\(name)"
        guard let url = components.string else { throw NoDatabaseURL() }
        try await create(name, base: base, logger: logger)
        do {
            let result = try await body(url)
            try await drop(name, base: base, logger: logger)
            return result
        } catch {
            try? await drop(name, base: base, logger: logger)
            throw error
        }
    }

    /// A database of its own, migrated, with a store of at most
    /// `maximumConnections` on it and its URL; dropped afterwards.
    public static func withMigrated<Result: Sendable>(prefix: String, maximumConnections: Int, logger: Logger,
                                                    _ body: @Sendable (EventStore, _ url: String) async throws -> Result) async throws -> Result {
        try await withDatabase(prefix: prefix, logger: logger) { url in
            var configuration = try DatabaseURL.configuration(url)
            configuration.options.maximumConnections = maximumConnections
            return try await PostgresClient.withRunning(configuration, logger: logger) { client in
                try await Migrator(directory: migrations).migrate(client: client, logger: logger)
                return try await body(EventStore(client: client, logger: logger), url)
            }
        }
    }

    /// The shared database of DATABASE_URL, migrated (the migrator takes an
    /// advisory lock, so tests in parallel take turns), for tests that keep
    /// to streams of their own.
    public static func withShared<Result: Sendable>(logger: Logger, _ body: @Sendable (PostgresClient) async throws -> Result) async throws -> Result {
        try await PostgresClient.withRunning(try DatabaseURL.configuration(try baseURL()), logger: logger) { client in
            try await Migrator(directory: migrations).migrate(client: client, logger: logger)
            return try await body(client)
        }
    }

    public static func create(_ name: String, base: String, logger: Logger) async throws {
        try await admin(base, "CREATE DATABASE \(name)", logger: logger)
    }

    /// Drops a test database. WITH (FORCE) cannot end an autovacuum worker's
    /// session on it (42501: not our role's process), so that is retried
    /// until the worker has finished.
    public static func drop(_ name: String, base: String, logger: Logger) async throws {
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await admin(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)", logger: logger)
                return
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" && attempt < 100 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// A login role of its own for `body`, dropped afterwards (after the
    /// databases it was granted on: the test's own are dropped inside `body`).
    public static func withRole(base: String, logger: Logger, _ body: (String) async throws -> Void) async throws {
        let role = "gl_role_\(UUID().uuidString.prefix(8).lowercased())"
        try await admin(base, "CREATE ROLE \(role) LOGIN", logger: logger)
        do {
            try await body(role)
        } catch {
            try? await admin(base, "DROP ROLE IF EXISTS \(role)", logger: logger)
            throw error
        }
        try await admin(base, "DROP ROLE IF EXISTS \(role)", logger: logger)
    }

    /// Without the statement timeout of the application's connections:
    /// dropping a database waits for a checkpoint, which under the whole
    /// suite's writes can take longer than a statement may.
    private static func admin(_ base: String, _ sql: String, logger: Logger) async throws {
        _ = try await PostgresClient.withRunning(try DatabaseURL.configuration(base), logger: logger) { client in
            try await client.withConnection { connection in
                try await connection.query("SET statement_timeout = 0", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            }
        }
    }
}
