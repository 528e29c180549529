import EventStore
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

/// The real PostgreSQL the tests run against: `ops/test` starts a throwaway
/// cluster and sets DATABASE_URL. Every test migrates (the migrator takes an
/// advisory lock, so parallel tests take turns) and uses streams of its own.
enum TestDatabase {
    static let logger = TestDatabases.logger("test")

    static var migrationsDirectory: URL { TestDatabases.migrations }

    static func configuration() throws -> PostgresClient.Configuration {
        try DatabaseURL.configuration(try TestDatabases.baseURL())
    }

    static func withStore<Result: Sendable>(
        _ storeConfiguration: EventStore.Configuration = .init(),
        _ body: @Sendable (EventStore) async throws -> Result
    ) async throws -> Result {
        try await TestDatabases.withShared(logger: logger) { client in
            try await body(EventStore(client: client, configuration: storeConfiguration, logger: logger))
        }
    }

    /// A stream name no other test uses.
    static func uniqueStream(_ prefix: String = "test") -> StreamID {
        try! StreamID("\(prefix)-\(UUID().uuidString.lowercased())")
    }

    static func event(_ type: String = "Noted", _ data: String = #"{"n": 1}"#) -> NewEvent {
        NewEvent(type: type, data: data, metadata: EventMetadata(actor: "tester", role: "admin"), occurredAt: Date())
    }

    static func count(_ stream: StreamID, in store: EventStore) async throws -> Int {
        try await store.readStream(stream).count
    }

    /// How many of the stream's events hash their content onto the previous
    /// event's hash, as recomputed by PostgreSQL from the stored rows.
    static func chainedEvents(_ stream: StreamID, in store: EventStore) async throws -> Int {
        let rows = try await store.client.query("""
            SELECT count(*) FROM events
            WHERE stream_id = \(stream.rawValue)
              AND hash = event_hash(previous_hash, event_id, stream_id, stream_version, event_type,
                                schema_version, occurred_at, recorded_at, data, metadata)
              AND previous_hash = coalesce((SELECT p.hash FROM events p WHERE p.stream_id = events.stream_id
                                            AND p.stream_version = events.stream_version - 1), ''::bytea)
            """)
        for try await valid in rows.decode(Int.self) { return valid }
        return 0
    }
}
