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
            ]
            for attempt in attempts {
                await #expect(performing: { try await store.client.query(attempt) }, throws: { error in
                    (error as? PSQLError)?.serverInfo?[.sqlState] == "GL007"
                })
            }
            // TRUNCATE waits for every open transaction on events, and every append queues behind it
            // meanwhile: it waits a moment at a time, so other tests' appends never wait long on it.
            var state: String?
            for _ in 0..<300 where state == nil || state == "55P03" {
                do {
                    try await store.client.withTransaction(logger: TestDatabase.logger) { connection in
                        try await connection.query("SET LOCAL lock_timeout = '100ms'", logger: TestDatabase.logger)
                        try await connection.query("TRUNCATE events", logger: TestDatabase.logger)
                    }
                    state = "truncated"
                } catch {
                    let failure = (error as? PostgresTransactionError)?.closureError ?? error
                    state = (failure as? PSQLError)?.serverInfo?[.sqlState] ?? String(reflecting: failure)
                    if state == "55P03" { try await Task.sleep(for: .milliseconds(50)) }
                }
            }
            #expect(state == "GL007")
            let events = try await store.readStream(stream)
            #expect(events.count == 1)
            #expect(events.first?.data == #"{"amount": "100.00"}"#)
        }
    }
}
