import EventStore
import Foundation
import Logging
import PostgresNIO
import Projections
import Testing
import TestSupport

/// Each audit test gets a migrated database of its own, dropped afterwards.
enum AuditDatabase {
    static let logger = TestDatabases.logger("audit-test")

    static var root: URL { TestDatabases.root }

    static func with(_ body: @Sendable (EventStore, String) async throws -> Void) async throws {
        try await TestDatabases.withMigrated(prefix: "gl_audit", maximumConnections: 12, logger: logger, body)
    }

    /// A database as `with` makes it, and a login role of the test's own that
    /// is not its owner, for what the application's role may and may not do.
    static func withApplicationRole(_ body: @Sendable (EventStore, String, String) async throws -> Void) async throws {
        try await TestDatabases.withRole(base: try TestDatabases.baseURL(), logger: logger) { role in
            try await with { owner, url in try await body(owner, url, role) }
        }
    }

    /// Runs the projection workers until every read model has applied everything.
    static func project(_ store: EventStore) async throws {
        let runtime = ProjectionRuntime(store: store, pollInterval: .milliseconds(50), logger: logger)
        let workers = Task { try await runtime.run() }
        var caughtUp = false, failure: (any Error)?
        do {
            let deadline = ContinuousClock.now + .seconds(300)
            while !caughtUp, ContinuousClock.now < deadline {
                let statuses = try await runtime.status()
                caughtUp = statuses.count == allProjections.count && statuses.allSatisfy { $0.eventsBehind == 0 }
                if !caughtUp { try await Task.sleep(for: .milliseconds(100)) }
            }
        } catch {
            failure = error
        }
        // Stopped and waited for: a worker's read still running would keep its connection, and the
        // database (whose role's sessions the tests' user may not end) could not be dropped.
        workers.cancel()
        _ = await workers.result
        if let failure { throw failure }
        if !caughtUp { Issue.record("projections did not catch up") }
    }

    static func execute(_ store: EventStore, _ sql: String) async throws {
        try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    static func int(_ store: EventStore, _ sql: String) async throws -> Int64 {
        for try await value in try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int64.self) { return value }
        return 0
    }
}
