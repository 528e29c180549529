import Foundation
import PostgresNIO
import Testing
import EventStore

@Suite("Idempotency keys and limits")
struct IdempotencyAndLimitsTests {
    @Test("a retried append returns the first result and writes nothing")
    func idempotentRetry() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            let key = "key-\(UUID())"
            let first = try await store.append(to: stream, expected: .noStream, events: [TestDatabase.event()], idempotencyKey: key)
            // The retry carries new event ids and times, as a real client retry does.
            let retry = try await store.append(to: stream, expected: .noStream, events: [TestDatabase.event()], idempotencyKey: key)
            #expect(retry.replayed)
            #expect(retry.firstPosition == first.firstPosition)
            #expect(retry.lastPosition == first.lastPosition)
            #expect(retry.transactionId == first.transactionId)
            #expect(retry.streamVersions == first.streamVersions)
            #expect(try await TestDatabase.count(stream, in: store) == 1)

            await #expect(throws: EventStoreError.idempotencyKeyReused(key: key)) {
                try await store.append(to: stream, expected: .any, events: [TestDatabase.event("Other", #"{"n": 2}"#)], idempotencyKey: key)
            }
            #expect(try await TestDatabase.count(stream, in: store) == 1)
        }
    }

    @Test("concurrent appends with one key write once")
    func concurrentIdempotentAppends() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            let key = "key-\(UUID())"
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await store.append(to: stream, expected: .any, events: [TestDatabase.event()], idempotencyKey: key)
                    }
                }
                return try await group.reduce(into: [AppendResult]()) { $0.append($1) }
            }
            #expect(results.filter { !$0.replayed }.count == 1)
            #expect(Set(results.map(\.firstPosition)).count == 1)
            #expect(try await TestDatabase.count(stream, in: store) == 1)
        }
    }

    @Test("bad stream ids are typed errors")
    func badStreamIDs() {
        #expect(throws: EventStoreError.invalidStreamID("", reason: "must not be empty")) { try StreamID("") }
        #expect(throws: EventStoreError.self) { try StreamID(String(repeating: "x", count: 201)) }
        #expect(throws: EventStoreError.self) { try StreamID("pool\n1") }
        #expect(throws: Never.self) { try StreamID(String(repeating: "ø", count: 200)) }
    }

    @Test("bad appends are typed errors and write nothing")
    func badAppends() async throws {
        try await TestDatabase.withStore(EventStore.Configuration(maximumPayloadBytes: 1_000)) { store in
            let stream = TestDatabase.uniqueStream()
            let tooLong = String(repeating: "T", count: 101)
            let cases: [(String, [StreamWrite], EventStoreError)] = [
                ("no events", [StreamWrite(stream: stream, expected: .any, events: [])], .emptyAppend),
                ("empty type", [StreamWrite(stream: stream, expected: .any, events: [TestDatabase.event("")])],
                 .invalidEventType("", reason: "must be 1 to 100 characters")),
                ("long type", [StreamWrite(stream: stream, expected: .any, events: [TestDatabase.event(tooLong)])],
                 .invalidEventType(tooLong, reason: "must be 1 to 100 characters")),
                ("type with a space", [StreamWrite(stream: stream, expected: .any, events: [TestDatabase.event("Drop table")])],
                 .invalidEventType("Drop table", reason: "only letters, digits, '.', '-' and '_' are allowed")),
                ("payload over the limit", [StreamWrite(stream: stream, expected: .any, events: [
                    TestDatabase.event("Big", #"{"text": "\#(String(repeating: "a", count: 1_000))"}"#)])],
                 .payloadTooLarge(eventType: "Big", bytes: 1_012, limit: 1_000)),
                ("stream twice", [StreamWrite(stream: stream, expected: .any, events: [TestDatabase.event()]),
                                  StreamWrite(stream: stream, expected: .any, events: [TestDatabase.event()])],
                 .duplicateStream(stream.rawValue)),
            ]
            for (name, writes, expected) in cases {
                await #expect(throws: expected, "\(name)") { try await store.append(writes) }
            }
            await #expect(throws: EventStoreError.invalidIdempotencyKey("", reason: "must be 1 to 200 characters")) {
                try await store.append(to: stream, expected: .any, events: [TestDatabase.event()], idempotencyKey: "")
            }
            for payload in [#"{"unclosed": "#, "not json", #"{"nul": "\u0000"}"#] {
                await #expect(performing: {
                    try await store.append(to: stream, expected: .any, events: [TestDatabase.event("Noted", payload)])
                }, throws: { error in
                    if case EventStoreError.invalidPayload = error { return true }
                    return false
                })
            }
            #expect(try await TestDatabase.count(stream, in: store) == 0)
            let streams = try await store.client.query("SELECT count(*) FROM streams WHERE stream_id = \(stream.rawValue)")
            for try await count in streams.decode(Int.self) { #expect(count == 0) }
        }
    }
}
