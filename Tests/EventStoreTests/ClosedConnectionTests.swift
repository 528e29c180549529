import Foundation
import PostgresNIO
import Testing
import EventStore

@Suite("A connection the server closes under a statement")
struct ClosedConnectionTests {
    // A guard against a hang, not a speed check: alone it takes 0.06 s, but in the fresh-clone CI run of
    // 2026-12-08 its neighbours in the parallel phase took 45-65 s each and it passed one minute.
    @Test("a statement on a connection whose backend was terminated answers with an error, and the store appends on a fresh one",
          .timeLimit(.minutes(3)))
    func terminatedBackend() async throws {
        try await TestDatabase.withStore { store in
            try await store.client.withConnection { connection in
                var pid: Int32 = 0
                for try await value in try await connection.query("SELECT pg_backend_pid()", logger: TestDatabase.logger).decode(Int32.self) {
                    pid = value
                }
                // From another session, as an operator or a failover would.
                _ = try await store.client.query("SELECT pg_terminate_backend(\(pid))", logger: TestDatabase.logger).collect()
                await #expect(throws: (any Error).self) {
                    try await connection.statement(interval: .milliseconds(20), grace: .milliseconds(100)) {
                        try await connection.query("SELECT 1", logger: TestDatabase.logger).collect().count
                    }
                }
            }
            // The pool may hand the dead connection out again until it has seen it close (seconds on a
            // loaded machine, CI): a statement on it fails at once (PostgresNIO's error, or the guard's
            // when it has already seen the close) and writes nothing; a later one gets a fresh connection.
            func onALiveConnection<T>(_ body: () async throws -> T) async throws -> T {
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline {
                    do { return try await body() } catch where error is PSQLError || error is ConnectionClosed {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                return try await body()
            }
            let stream = TestDatabase.uniqueStream()
            try await onALiveConnection { try await store.append(to: stream, expected: .noStream, events: [TestDatabase.event()]) }
            #expect(try await onALiveConnection { try await TestDatabase.count(stream, in: store) } == 1)
        }
    }

    @Test("a statement that finishes answers with its result, however long the connection then lives")
    func finishes() async throws {
        try await TestDatabase.withStore { store in
            try await store.client.withConnection { connection in
                for round in 0..<200 {
                    let value = try await connection.statement {
                        var got = 0
                        for try await one in try await connection.query("SELECT \(round)::int4", logger: TestDatabase.logger).decode(Int.self) { got = one }
                        return got
                    }
                    #expect(value == round)
                }
            }
        }
    }
}
