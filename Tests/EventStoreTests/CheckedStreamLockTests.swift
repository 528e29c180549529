import Foundation
import PostgresNIO
import Testing
import EventStore

/// A stream an append only checks (a draft's call) is share-locked: appends
/// that only check it go on together, and one that writes it waits until
/// they commit. Each case runs against an append left uncommitted on another
/// connection; a lock wait shows as `lock_timeout` (SQLSTATE 55P03), not as
/// a figure of time.
@Suite("Streams an append only checks")
struct CheckedStreamLockTests {
    /// `append_events` writing one event to `write` and checking `check` at
    /// `version`; as every append, it takes the append lock first (db/functions/append_lock.sql).
    static func appendEvents(write: StreamID, check: StreamID, version: Int) -> PostgresQuery {
        PostgresQuery(unsafeSQL: """
            SELECT error_state FROM append_events(append_lock(ARRAY[2]), ARRAY[1], ARRAY['\(write.rawValue)', '\(check.rawValue)'],
                ARRAY[-1, \(version)]::bigint[], ARRAY[gen_random_uuid()], ARRAY[1], ARRAY['Noted'], ARRAY[1], ARRAY['{"n": 1}'],
                ARRAY['{}'], ARRAY[now()], ARRAY[''], ARRAY[NULL]::bytea[], false)
            """)
    }

    /// `append_events` writing one event to `stream` at `version`.
    static func write(_ stream: StreamID, at version: Int) -> PostgresQuery {
        PostgresQuery(unsafeSQL: """
            SELECT error_state FROM append_events(append_lock(ARRAY[1]), ARRAY[1], ARRAY['\(stream.rawValue)'], ARRAY[\(version)]::bigint[],
                ARRAY[gen_random_uuid()], ARRAY[1], ARRAY['Noted'], ARRAY[1], ARRAY['{"n": 1}'], ARRAY['{}'], ARRAY[now()],
                ARRAY[''], ARRAY[NULL]::bytea[], false)
            """)
    }

    /// The SQLSTATE `query` fails with on `connection`, nil if it succeeds.
    static func failure(_ query: PostgresQuery, on connection: PostgresConnection) async -> String? {
        do {
            let rows = try await connection.query(query, logger: TestDatabase.logger)
            for try await row in rows {
                // A refused append is reported in its row; a lock wait fails the statement.
                if let state = try row.decode(String?.self) { return state }
            }
            return nil
        } catch let error as PSQLError {
            return error.serverInfo?[.sqlState] ?? String(reflecting: error)
        } catch {
            return String(reflecting: error)
        }
    }

    @Test("appends that only check a stream do not wait for each other; one that writes it waits for them, and they for it")
    func checkedStreamsShareLocked() async throws {
        try await TestDatabase.withStore { store in
            let call = TestDatabase.uniqueStream("call")
            try await store.append(to: call, expected: .noStream, events: [TestDatabase.event("CallOpened")])
            try await store.client.withConnection { holder in
                try await store.client.withConnection { other in
                    try await other.query("SET lock_timeout = '1s'", logger: TestDatabase.logger)

                    // An append checking the call, left uncommitted.
                    try await holder.query("BEGIN", logger: TestDatabase.logger)
                    #expect(await Self.failure(Self.appendEvents(write: TestDatabase.uniqueStream("draft"), check: call, version: 1), on: holder) == nil)
                    // Others checking it go on.
                    #expect(await Self.failure(Self.appendEvents(write: TestDatabase.uniqueStream("draft"), check: call, version: 1), on: other) == nil)
                    // One writing it waits until the checker commits: what it checked holds until then.
                    #expect(await Self.failure(Self.write(call, at: 1), on: other) == "55P03")
                    try await holder.query("COMMIT", logger: TestDatabase.logger)
                    #expect(await Self.failure(Self.write(call, at: 1), on: other) == nil)

                    // A writer left uncommitted: a checker waits for it, and then sees the version it wrote.
                    try await holder.query("BEGIN", logger: TestDatabase.logger)
                    #expect(await Self.failure(Self.write(call, at: 2), on: holder) == nil)
                    #expect(await Self.failure(Self.appendEvents(write: TestDatabase.uniqueStream("draft"), check: call, version: 2), on: other) == "55P03")
                    try await holder.query("COMMIT", logger: TestDatabase.logger)
                    #expect(await Self.failure(Self.appendEvents(write: TestDatabase.uniqueStream("draft"), check: call, version: 2), on: other) == "GL001")
                }
            }
            // Only the writes moved the call; every check left it as it was.
            #expect(try await TestDatabase.count(call, in: store) == 3)
            #expect(try await TestDatabase.chainedEvents(call, in: store) == 3)
        }
    }
}
