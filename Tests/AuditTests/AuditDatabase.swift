import EventStore
import Foundation
import Logging
import PostgresNIO
import Projections
import Testing
import TestSupport

/// Each audit test gets a migrated database of its own, dropped afterwards.
enum AuditDatabase {
    static let logger: Logger = {
        var logger = Logger(label: "audit-test")
        logger.logLevel = .warning
        return logger
    }()

    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func with(_ body: @Sendable (EventStore, String) async throws -> Void) async throws {
        guard let base = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through ops/test")
            return
        }
        let name = "gl_audit_\(UUID().uuidString.prefix(8).lowercased())"
        var components = URLComponents(string: base)!
        components.path = "/\(name)"
        let url = components.string!
        try await TestDatabases.create(name, base: base, logger: logger)
        do {
            var configuration = try DatabaseURL.configuration(url)
            configuration.options.maximumConnections = 12
            try await PostgresClient.withRunning(configuration, logger: logger) { client in
                try await Migrator(directory: root.appendingPathComponent("db")).migrate(client: client, logger: logger)
                try await body(EventStore(client: client, logger: logger), url)
            }
            try await TestDatabases.drop(name, base: base, logger: logger)
        } catch {
            try? await TestDatabases.drop(name, base: base, logger: logger)
            throw error
        }
    }

    /// A database as `with` makes it, and a login role of the test's own that
    /// is not its owner, for what the application's role may and may not do.
    static func withApplicationRole(_ body: @Sendable (EventStore, String, String) async throws -> Void) async throws {
        guard let base = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through ops/test")
            return
        }
        try await TestDatabases.withRole(base: base, logger: logger) { role in
            try await with { owner, url in try await body(owner, url, role) }
        }
    }

    /// Runs the projection workers until every read model has applied everything.
    static func project(_ store: EventStore) async throws {
        let runtime = ProjectionRuntime(store: store, pollInterval: .milliseconds(50), logger: logger)
        let workers = Task { try await runtime.run() }
        defer { workers.cancel() }
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            let statuses = try await runtime.status()
            if statuses.count == allProjections.count, statuses.allSatisfy({ $0.eventsBehind == 0 }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("projections did not catch up")
    }

    static func execute(_ store: EventStore, _ sql: String) async throws {
        try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    static func int(_ store: EventStore, _ sql: String) async throws -> Int64 {
        for try await value in try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int64.self) { return value }
        return 0
    }
}
