import EventStore
import Foundation
import GrantCommands
import Logging
import PostgresNIO
import Programmes
import Projections
import Testing
import TestSupport

/// Projection tests each get a database of their own: workers for the same
/// projection in one database would, rightly, exclude each other.
enum FreshDatabase {
    static let logger = TestDatabases.logger("test")

    static var root: URL { TestDatabases.root }

    static func baseURL() throws -> String { try TestDatabases.baseURL() }

    /// Creates a database, migrates it, runs `body` with a store on it and its URL, drops it.
    static func with<Result: Sendable>(_ body: @Sendable (EventStore, String) async throws -> Result) async throws -> Result {
        try await TestDatabases.withMigrated(prefix: "gl_test", maximumConnections: 40, logger: logger, body)
    }

    /// Appends a generated history; returns its event count.
    @discardableResult
    static func generate(_ store: EventStore, seed: UInt64, pools: Int, applicationsPerPool: Int) async throws -> Int {
        try await HistoryGenerator(seed: seed, pools: pools, applicationsPerPool: applicationsPerPool).generate(chunkEvents: 2_000) { writes in
            try await store.append(writes)
        }
    }

    /// Waits until every projection has applied everything readable.
    static func waitUntilCaughtUp(_ store: EventStore, timeout: Duration = .seconds(600)) async throws -> [ProjectionStatus] {
        let runtime = ProjectionRuntime(store: store, logger: logger)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let statuses = try await runtime.status()
            if statuses.count == allProjections.count && statuses.allSatisfy({ $0.eventsBehind == 0 }) { return statuses }
            try await Task.sleep(for: .seconds(1))
        }
        Issue.record("projections did not catch up within \(timeout)")
        return try await runtime.status()
    }

    /// Builds every projection afresh up to its live checkpoint and compares row for row.
    static func expectNoDrift(_ store: EventStore, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let rebuilder = Rebuilder(store: store, logger: logger)
        for projection in allProjections {
            let summary = try await rebuilder.verify(projection)
            #expect(summary.drift.values.allSatisfy { $0 == 0 }, "\(projection.name) drifted: \(summary.drift)", sourceLocation: sourceLocation)
        }
    }

    struct NoRows: Error {}

    static func count(_ sql: String, _ store: EventStore) async throws -> Int {
        for try await count in try await store.client.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return count }
        return 0
    }
}
