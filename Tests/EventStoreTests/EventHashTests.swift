import EventStore
import Foundation
import PostgresNIO
import Testing

/// The hash chain has one definition in SQL (db/functions/event_hash.sql),
/// which appends and `verify` use, and one in Swift (`EventHash`), which
/// the COPY import and offline proofs use: they must give the same bytes.
@Suite("One hash chain in SQL and in Swift")
struct EventHashTests {
    struct Case: Sendable {
        var previous: [UInt8]
        var stream: String
        var version: Int64
        var type: String
        var schemaVersion: Int32
        var occurredMicros: Int64
        var recordedMicros: Int64
        var data: String
        var metadata: String
    }

    static let cases: [Case] = [
        Case(previous: [], stream: "pool-1", version: 1, type: "PoolCreated", schemaVersion: 1,
             occurredMicros: 1_767_225_600_000_000, recordedMicros: 1_767_225_600_123_456, data: #"{"name":"STEM"}"#, metadata: "{}"),
        // Letters outside ASCII, an emoji, escapes kept as written, spacing and key order a parser would change.
        Case(previous: Array(repeating: 0xAB, count: 32), stream: "application-æøå", version: 17, type: "ApplicationDrafted", schemaVersion: 3,
             occurredMicros: 1, recordedMicros: 2, data: #"{"b" : 1,"a":"\u00e6 🚀 \n \"quoted\" \\"}"#,
             metadata: #"{"actor": "Søren \u0041", "role":"applicant"}"#),
        // Before 1970, and a stream name with a newline's neighbours.
        Case(previous: Array(0..<32), stream: "grant-x_y.z", version: 9_000_000_000, type: "Noted", schemaVersion: 2_000_000_000,
             occurredMicros: -86_400_000_001, recordedMicros: -1, data: "[]", metadata: #"{"note":"tab\there"}"#),
    ]

    @Test("event_hash in PostgreSQL and EventHash in Swift agree, byte for byte", arguments: cases)
    func sqlAndSwiftAgree(_ example: Case) async throws {
        let eventId = UUID()
        let swift = EventHash.compute(previous: example.previous, eventId: eventId, stream: example.stream, version: example.version,
                                      type: example.type, schemaVersion: example.schemaVersion,
                                      occurredMicros: example.occurredMicros, recordedMicros: example.recordedMicros,
                                      data: Array(example.data.utf8), metadata: Array(example.metadata.utf8))
        try await TestDatabase.withStore { store in
            let rows = try await store.client.query("""
                SELECT event_hash(\(Data(example.previous)), \(eventId), \(example.stream), \(example.version), \(example.type),
                                  \(example.schemaVersion),
                                  timestamptz 'epoch' + \(example.occurredMicros) * interval '1 microsecond',
                                  timestamptz 'epoch' + \(example.recordedMicros) * interval '1 microsecond',
                                  \(example.data)::json, \(example.metadata)::json)
                """, logger: TestDatabase.logger)
            var sql: Data?
            for try await hash in rows.decode(Data.self) { sql = hash }
            #expect(sql == Data(swift))
        }
    }
}
