import EventStore
import Foundation
import Logging
import PostgresNIO

/// The databases integration tests create for themselves on the server of
/// `DATABASE_URL` (`base`), one per test, so tests running in parallel
/// cannot see each other's events.
public enum TestDatabases {
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

    private static func admin(_ base: String, _ sql: String, logger: Logger) async throws {
        _ = try await PostgresClient.withRunning(try DatabaseURL.configuration(base), logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }
}
