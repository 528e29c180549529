import EventStore
import Foundation
import GrantCommands
import Logging
import PostgresNIO
import Projections
import Testing
import TestSupport

/// Projection tests each get a database of their own: workers for the same
/// projection in one database would, rightly, exclude each other.
enum FreshDatabase {
    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func baseURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through ops/test")
            throw CancellationError()
        }
        return url
    }

    /// Creates a database, migrates it, runs `body` with a store on it and its URL, drops it.
    static func with<Result: Sendable>(_ body: @Sendable (EventStore, String) async throws -> Result) async throws -> Result {
        let base = try baseURL()
        let name = "gl_test_\(UUID().uuidString.prefix(8).lowercased())"
        var components = URLComponents(string: base)!
        components.path = "/\(name)"
        let url = components.string!
        try await TestDatabases.create(name, base: base, logger: logger)
        do {
            var configuration = try DatabaseURL.configuration(url)
            configuration.options.maximumConnections = 40
            let result = try await PostgresClient.withRunning(configuration, logger: logger) { client in
                try await Migrator(directory: root.appendingPathComponent("db")).migrate(client: client, logger: logger)
                return try await body(EventStore(client: client, logger: logger), url)
            }
            try await TestDatabases.drop(name, base: base, logger: logger)
            return result
        } catch {
            try? await TestDatabases.drop(name, base: base, logger: logger)
            throw error
        }
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
