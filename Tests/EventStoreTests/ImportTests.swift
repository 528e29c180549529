import Foundation
import PostgresNIO
import Testing
import EventStore

@Suite("Bulk import through COPY")
struct ImportTests {
    /// Payloads whose jsonb text differs from their input: key order,
    /// duplicate keys, number forms, escapes, whitespace, scalars.
    static let awkwardPayloads = [
        #"{"b": 1, "a": 2, "aa": 3, "B": 4, "é": 5, "ab": 6}"#,
        #"{"a": 1, "a": {"x": 2}, "c": 0}"#,
        #"{"n": [1.50, 1e2, 1.5E+1, -0, -0.0, 0.001e-2, 12345678901234567890.123, 1E-7, 100e-2, 0.10, -12.5e1]}"#,
        #"{"s": "tab\there \"quoted\" back\\slash \/ \u00e9 é 😀 \ud83d\ude00 \u001f \b\f\n\r ctl"}"#,
        "  { \"nested\" : { \"z\" : [ ] , \"y\" : { } , \"x\": [true, false, null] } }  \n",
        #""just a string""#,
        "[ ]",
        "42",
        #"{"z\u0041": 1, "zA": 2, "a\"b": [-0, -0.00, 7, -7.50, 0.0, 0, -0.5], "/": "a/b \/ æ", "": {"é": "", "e": "x"}}"#,
        "-0.000",
    ]

    @Test("imported events chain and hash exactly as appended ones, awkward payloads and metadata included")
    func importedEventsVerify() async throws {
        try await Self.reporting { try await TestDatabase.withStore { store in
            let streams = [TestDatabase.uniqueStream("import"), try StreamID(#"import\back\slash-\#(UUID().uuidString)"#)]
            let metadata = EventMetadata(actor: #"domain\user "quoted""#, role: "admin", command: "Import", correlationId: UUID())
            let times = [Date(timeIntervalSince1970: 1_700_000_000.123_456_7), Date(timeIntervalSince1970: -14_182_940.5), Date(timeIntervalSince1970: 946_684_799.999_999)]
            let summary = try await store.importHistory { history in
                for (index, stream) in streams.enumerated() {
                    // Two batches per stream: the chain continues across them.
                    let events = Self.awkwardPayloads.enumerated().map { offset, payload in
                        NewEvent(type: "Imported", schemaVersion: Int32(1 + offset % 2), data: payload,
                                 metadata: offset % 3 == 0 ? metadata : EventMetadata(actor: "clerk-\(offset)"), occurredAt: times[offset % times.count])
                    }
                    try await history.add([StreamWrite(stream: stream, expected: .noStream, events: Array(events.prefix(3)))])
                    try await history.add([StreamWrite(stream: stream, expected: index == 0 ? .exactly(3) : .any, events: Array(events.dropFirst(3)))])
                }
            }
            #expect(summary.events == 2 * Self.awkwardPayloads.count)
            #expect(summary.streams == 2)
            #expect(try await Self.brokenLinks(streams, store) == 0)
            #expect(try await Self.staleHeads(streams, store) == 0)
            // Stored as PostgreSQL prints each payload as jsonb, whatever its spacing, key order or number forms.
            let ids = streams.map(\.rawValue)
            for try await (version, stored, printed) in try await store.client.query("""
                SELECT stream_version, data::text, data::jsonb::text FROM events WHERE stream_id = ANY(\(ids)) AND data::text <> data::jsonb::text
                """).decode((Int64, String, String).self) {
                Issue.record("payload \(version) is stored as \(stored), jsonb prints \(printed)")
            }

            let stored = try await store.readStream(streams[0])
            #expect(stored.map(\.streamVersion) == Array(1...Int64(Self.awkwardPayloads.count)))
            #expect(Set(stored.map(\.transactionId)) == [summary.transactionId])
            #expect(stored[1].occurredAt == Date(timeIntervalSince1970: -14_182_940.5))
            #expect(try stored[0].decodedMetadata() == metadata)

            // An append continues the imported chain.
            try await store.append(to: streams[1], expected: .exactly(Int64(Self.awkwardPayloads.count)), events: [TestDatabase.event()])
            #expect(try await Self.brokenLinks(streams, store) == 0)
            #expect(try await Self.staleHeads(streams, store) == 0)
        } }
    }

    /// Not JSON, each near a form the renderer copies as it stands.
    static let malformedPayloads = [
        #"{"a": 1.}"#, #"{"a": 1e}"#, #"{"a": +1}"#, #"{"a": -}"#, #"{"a": -01}"#, #"{"a": .5}"#, #"{"a": "x}"#, "{\"a\": \"tab\there\"}",
        #"{"a" 1}"#, #"{"a": 1,}"#, #"[1 2]"#, #"{"a": "\x"}"#, #"{"a\": 1}"#, #"{"a": 1} 2"#, "",
    ]

    @Test("an import touching a stored stream, expecting a wrong version or carrying bad JSON writes nothing")
    func failedImportWritesNothing() async throws {
        try await TestDatabase.withStore { store in
            let existing = TestDatabase.uniqueStream("stored")
            try await store.append(to: existing, expected: .noStream, events: [TestDatabase.event()])
            var failures: [(String, [StreamWrite], @Sendable (any Error) -> Bool)] = [
                ("stored stream", [StreamWrite(stream: existing, expected: .any, events: [TestDatabase.event()])], { error in
                    error as? EventStoreError == .wrongExpectedVersion(stream: existing.rawValue, expected: .noStream, actual: 1)
                }),
                ("wrong version", [StreamWrite(stream: TestDatabase.uniqueStream(), expected: .exactly(4), events: [TestDatabase.event()])], { error in
                    if case .wrongExpectedVersion(_, .exactly(4), 0) = error as? EventStoreError { return true } else { return false }
                }),
                ("bad JSON", [StreamWrite(stream: TestDatabase.uniqueStream(), expected: .noStream, events: [TestDatabase.event("Noted", #"{"a": 01}"#)])], { error in
                    if case .invalidPayload = error as? EventStoreError { return true } else { return false }
                }),
                ("NUL escape", [StreamWrite(stream: TestDatabase.uniqueStream(), expected: .noStream, events: [TestDatabase.event("Noted", #"{"a": "\u0000"}"#)])], { error in
                    if case .invalidPayload = error as? EventStoreError { return true } else { return false }
                }),
            ]
            for payload in Self.malformedPayloads {
                failures.append(("malformed \(payload)", [StreamWrite(stream: TestDatabase.uniqueStream(), expected: .noStream, events: [TestDatabase.event("Noted", payload)])], { error in
                    if case .invalidPayload = error as? EventStoreError { return true } else { return false }
                }))
            }
            for (name, writes, matches) in failures {
                let first = TestDatabase.uniqueStream("first")
                await #expect("\(name)", performing: {
                    try await store.importHistory { history in
                        try await history.add([StreamWrite(stream: first, expected: .noStream, events: [TestDatabase.event()])])
                        try await history.add(writes)
                    }
                }, throws: matches)
                #expect(try await TestDatabase.count(first, in: store) == 0, "\(name)")
            }
            #expect(try await TestDatabase.count(existing, in: store) == 1)
        }
    }

    @Test("an import that reuses a stored event id is refused as a conflict, and writes nothing")
    func duplicateEventId() async throws {
        try await TestDatabase.withStore { store in
            let appended = TestDatabase.event()
            try await store.append(to: TestDatabase.uniqueStream(), expected: .noStream, events: [appended])
            let stream = TestDatabase.uniqueStream("import")
            await #expect(performing: {
                try await store.importHistory { history in
                    try await history.add([StreamWrite(stream: stream, expected: .noStream, events: [TestDatabase.event(), appended])])
                }
            }, throws: { error in
                if case .importConflict(let detail) = error as? EventStoreError { return detail.contains(appended.eventId.uuidString.lowercased()) }
                return false
            })
            #expect(try await TestDatabase.count(stream, in: store) == 0)
        }
    }

    /// Runs `body`, recording PostgreSQL's own message if it fails.
    static func reporting<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch {
            Issue.record("\(String(reflecting: error))")
            throw error
        }
    }

    /// Events whose hash or link PostgreSQL, recomputing from the stored row, disagrees with.
    static func brokenLinks(_ streams: [StreamID], _ store: EventStore) async throws -> Int {
        let ids = streams.map(\.rawValue)
        let rows = try await store.client.query("""
            SELECT count(*)::int8 FROM (
                SELECT hash, previous_hash,
                       event_hash(previous_hash, event_id, stream_id, stream_version, event_type, schema_version,
                                  occurred_at, recorded_at, data, metadata) AS recomputed,
                       coalesce(lag(hash) OVER (PARTITION BY stream_id ORDER BY stream_version), ''::bytea) AS link
                FROM events WHERE stream_id = ANY(\(ids))) e
            WHERE hash <> recomputed OR previous_hash <> link
            """)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return -1
    }

    /// Streams whose head is not their last event.
    static func staleHeads(_ streams: [StreamID], _ store: EventStore) async throws -> Int {
        let ids = streams.map(\.rawValue)
        let rows = try await store.client.query("""
            SELECT count(*)::int8 FROM streams s
            LEFT JOIN LATERAL (SELECT stream_version, hash FROM events e WHERE e.stream_id = s.stream_id
                               ORDER BY stream_version DESC LIMIT 1) last ON true
            WHERE s.stream_id = ANY(\(ids))
              AND (s.version, s.last_hash) IS DISTINCT FROM (last.stream_version, last.hash)
            """)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return -1
    }
}
