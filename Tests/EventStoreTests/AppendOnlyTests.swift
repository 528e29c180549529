import Foundation
import PostgresNIO
import Testing
import EventStore

@Suite("Invariant 7: the history is append-only")
struct AppendOnlyTests {
    @Test("UPDATE, DELETE and TRUNCATE of events are refused by the database")
    func historyCannotChange() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            try await store.append(to: stream, expected: .noStream, events: [TestDatabase.event("Noted", #"{"amount": "100.00"}"#)])
            let attempts: [PostgresQuery] = [
                "UPDATE events SET data = '{\"amount\": \"999.00\"}' WHERE stream_id = \(stream.rawValue)",
                "DELETE FROM events WHERE stream_id = \(stream.rawValue)",
                "TRUNCATE events",
            ]
            for attempt in attempts {
                await #expect(performing: { try await store.client.query(attempt) }, throws: { error in
                    (error as? PSQLError)?.serverInfo?[.sqlState] == "GL007"
                })
            }
            let events = try await store.readStream(stream)
            #expect(events.count == 1)
            #expect(events.first?.data == #"{"amount": "100.00"}"#)
        }
    }
}
