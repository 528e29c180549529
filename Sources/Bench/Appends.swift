import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import NIOCore
import PostgresNIO
import Projections
import Synchronization

/// Appends through the store beside plain, table-locked and versioned INSERTs of the same rows.
extension Benchmark {
    static let payload = #"{"amount":{"amount":"125000.00","currency":"DKK"},"applicationId":"6B1F3C0E-5E0A-4C61-9F55-2D1C3F2B9E11","period":"2026","reason":"benchmark","sources":[{"amount":{"amount":"125000.00","currency":"DKK"},"source":"region"}]}"#
    static let metadata = EventMetadata(actor: "bench", role: "admin", command: "Bench", correlationId: UUID())
    static let metadataText = #"{"actor":"bench","command":"Bench","role":"admin"}"#

    func event() -> NewEvent { NewEvent(type: "BenchEvent", data: Self.payload, metadata: Self.metadata, occurredAt: Date()) }

    func appendThroughStore(_ name: String, _ writer: Int, _ index: Int) async throws {
        let stream = try StreamID("bench-\(tag)-\(name)-\(writer)")
        try await store.append(to: stream, expected: index == 0 ? .noStream : .exactly(Int64(index)), events: [event()])
    }

    func appendToOneStream() async throws {
        try await store.append(to: try StreamID("bench-\(tag)-one"), expected: .any, events: [event()])
    }

    /// The same row as the store writes, by a plain INSERT; with `locked`,
    /// serialised by a table lock as gap-free stores do.
    /// What any store with versioned streams does at the least: bump the
    /// stream's head row (locking it) and insert the event at that version,
    /// in one statement; no hashing, no expected-version check.
    func versionedInsert(_ name: String, _ writer: Int) async throws {
        let hash = ByteBuffer(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        try await store.client.query("""
            WITH head AS (
                INSERT INTO bench_heads (stream_id, version, last_hash) VALUES (\("bench-\(tag)-\(name)-\(writer)"), 1, \(hash))
                ON CONFLICT (stream_id) DO UPDATE SET version = bench_heads.version + 1, last_hash = excluded.last_hash
                RETURNING stream_id, version)
            INSERT INTO bench_events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata,
                                      occurred_at, recorded_at, previous_hash, hash)
            SELECT \(UUID.random()), head.stream_id, head.version, 'BenchEvent', 1, \(Self.payload)::json, \(Self.metadataText)::json,
                   \(Date()), clock_timestamp(), \(hash), \(hash)
            FROM head
            """, logger: logger)
    }

    func plainInsert(_ name: String, _ writer: Int, _ index: Int, locked: Bool) async throws {
        let hash = ByteBuffer(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        let insert: PostgresQuery = """
            INSERT INTO bench_events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata,
                                      occurred_at, recorded_at, previous_hash, hash)
            VALUES (\(UUID.random()), \("bench-\(tag)-\(name)-\(writer)"), \(Int64(index + 1)), 'BenchEvent', 1, \(Self.payload)::json,
                    \(Self.metadataText)::json, \(Date()), clock_timestamp(), \(hash), \(hash))
            """
        if locked {
            try await store.client.withTransaction(logger: logger) { connection in
                try await connection.query("LOCK TABLE bench_events IN EXCLUSIVE MODE", logger: logger)
                try await connection.query(insert, logger: logger)
            }
        } else {
            try await store.client.query(insert, logger: logger)
        }
    }
}
