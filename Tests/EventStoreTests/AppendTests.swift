import Foundation
import PostgresNIO
import Testing
import EventStore

@Suite("Appending events")
struct AppendTests {
    @Test("events are stored in stream order with chained hashes")
    func appendAndRead() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            let first = try await store.append(to: stream, expected: .noStream, events: [
                TestDatabase.event("Opened", #"{"title": "STEM i Nord"}"#), TestDatabase.event("Noted"),
            ])
            let second = try await store.append(to: stream, expected: .exactly(2), events: [TestDatabase.event("Closed")])
            #expect(first.streamVersions[stream] == 2)
            #expect(second.streamVersions[stream] == 3)
            #expect(first.lastPosition > first.firstPosition)
            #expect(!first.replayed)

            let events = try await store.readStream(stream)
            // One append's positions rise, but need not be adjacent: concurrent appends share the sequence.
            #expect(events.map(\.position) == [first.firstPosition, first.lastPosition, second.firstPosition])
            #expect(events.map(\.streamVersion) == [1, 2, 3])
            #expect(events.map(\.type) == ["Opened", "Noted", "Closed"])
            #expect(events[0].data == #"{"title": "STEM i Nord"}"#)
            #expect(try events[0].decodedMetadata().actor == "tester")
            #expect(Set(events.map(\.hash)).count == 3)

            // Each hash covers the previous one: recompute the chain in SQL.
            #expect(try await TestDatabase.chainedEvents(stream, in: store) == 3)
            #expect(try await store.readStream(stream, from: 3).map(\.type) == ["Closed"])
        }
    }

    @Test("a stream read in pages gives each event once, in order, up to the end")
    func readStreamInPages() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            try await store.append(to: stream, expected: .noStream, events: (1...7).map { _ in TestDatabase.event() })
            try await store.append(to: stream, expected: .exactly(7), events: (1...5).map { _ in TestDatabase.event() })
            var pages: [[Int64]] = []
            var from: Int64 = 1
            while true {
                let page = try await store.readStream(stream, from: from, limit: 5)
                pages.append(page.map(\.streamVersion))
                guard page.count == 5, let last = page.last else { break }
                from = last.streamVersion + 1
            }
            #expect(pages == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12]])
            #expect(try await store.readStream(stream, from: 13, limit: 5).isEmpty)
            #expect(try await store.readStream(stream, from: 4, limit: 2).map(\.streamVersion) == [4, 5])
        }
    }

    @Test("several streams read together come each from its own version, in stream order")
    func readStreamsTogether() async throws {
        try await TestDatabase.withStore { store in
            let busy = TestDatabase.uniqueStream(), quiet = TestDatabase.uniqueStream(), unknown = TestDatabase.uniqueStream()
            try await store.append(to: busy, expected: .noStream, events: (1...6).map { _ in TestDatabase.event() })
            try await store.append(to: quiet, expected: .noStream, events: [TestDatabase.event("Opened"), TestDatabase.event("Closed")])
            // Read repeatedly, so the connection's plans are the reused ones too.
            for _ in 1...8 {
                let read = try await store.readStreams([(busy, 4), (quiet, 2), (unknown, 1)])
                #expect(read[busy.rawValue]?.map(\.streamVersion) == [4, 5, 6])
                #expect(read[quiet.rawValue]?.map(\.type) == ["Closed"])
                #expect(read[unknown.rawValue] == nil)
                #expect(try await store.readStreams([(busy, 7), (quiet, 3)]).isEmpty)
            }
        }
    }

    @Test("payloads are kept as written, and the chain covers that text; a backslash written as \\\\ before u0000 is no NUL")
    func payloadsKeptAsWritten() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            // Key order, spacing and a duplicate key that jsonb would have rewritten.
            let written = [#"{"b":1,  "a" : [1, 2], "a": "again"}"#, #"{"path": "C:\\u0000", "note": "\u00e6"}"#]
            try await store.append(to: stream, expected: .noStream, events: written.map { TestDatabase.event("Noted", $0) })
            // Two appends in one batch, after one alone.
            let other = TestDatabase.uniqueStream()
            let together = await store.appendTogether([
                ([StreamWrite(stream: stream, expected: .exactly(2), events: [TestDatabase.event("Noted", written[0])])], nil),
                ([StreamWrite(stream: other, expected: .noStream, events: [TestDatabase.event("Noted", written[1])])], nil),
            ])
            #expect(together.allSatisfy { (try? $0.get()) != nil })
            #expect(try await store.readStream(stream).map(\.data) == written + [written[0]])
            #expect(try await store.readStream(other).map(\.data) == [written[1]])
            #expect(try await TestDatabase.chainedEvents(stream, in: store) == 3)
            #expect(try await TestDatabase.chainedEvents(other, in: store) == 1)
        }
    }

    @Test("a writer with a stale expected version is refused and writes nothing")
    func optimisticConcurrencyConflict() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            try await store.append(to: stream, expected: .noStream, events: [TestDatabase.event()])

            await #expect(throws: EventStoreError.wrongExpectedVersion(stream: stream.rawValue, expected: .noStream, actual: 1)) {
                try await store.append(to: stream, expected: .noStream, events: [TestDatabase.event()])
            }
            await #expect(throws: EventStoreError.wrongExpectedVersion(stream: stream.rawValue, expected: .exactly(4), actual: 1)) {
                try await store.append(to: stream, expected: .exactly(4), events: [TestDatabase.event()])
            }
            try await store.append(to: stream, expected: .any, events: [TestDatabase.event()])
            #expect(try await TestDatabase.count(stream, in: store) == 2)
        }
    }

    @Test("concurrent writers on one stream: exactly one wins each version")
    func concurrentWritersOnOneStream() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        do {
                            try await store.append(to: stream, expected: .noStream, events: [TestDatabase.event()])
                            return true
                        } catch EventStoreError.wrongExpectedVersion {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(try await TestDatabase.count(stream, in: store) == 1)
        }
    }

    @Test("concurrent first appends to a new stream expecting any version all land, in turn")
    func concurrentCreatorsExpectingAny() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            let versions = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<16 {
                    group.addTask { try await store.append(to: stream, expected: .any, events: [TestDatabase.event()]).streamVersions[stream] ?? 0 }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(versions.sorted() == Array(1...16))
            #expect(try await TestDatabase.count(stream, in: store) == 16)
        }
    }

    @Test("one clashing stream in a multi-stream append writes nothing to any stream")
    func multiStreamAtomicity() async throws {
        try await TestDatabase.withStore { store in
            let application = TestDatabase.uniqueStream("application")
            let pool = TestDatabase.uniqueStream("pool")
            let grant = TestDatabase.uniqueStream("grant")
            try await store.append(to: pool, expected: .noStream, events: [TestDatabase.event("PoolCreated")])

            await #expect(throws: EventStoreError.wrongExpectedVersion(stream: pool.rawValue, expected: .exactly(7), actual: 1)) {
                try await store.append([
                    StreamWrite(stream: application, expected: .noStream, events: [TestDatabase.event("ApplicationApproved")]),
                    StreamWrite(stream: grant, expected: .noStream, events: [TestDatabase.event("GrantAwarded")]),
                    StreamWrite(stream: pool, expected: .exactly(7), events: [TestDatabase.event("MoneyCommitted")]),
                ])
            }
            #expect(try await TestDatabase.count(application, in: store) == 0)
            #expect(try await TestDatabase.count(grant, in: store) == 0)
            #expect(try await TestDatabase.count(pool, in: store) == 1)

            let result = try await store.append([
                StreamWrite(stream: application, expected: .noStream, events: [TestDatabase.event("ApplicationApproved")]),
                StreamWrite(stream: grant, expected: .noStream, events: [TestDatabase.event("GrantAwarded"), TestDatabase.event("TrancheScheduled")]),
                StreamWrite(stream: pool, expected: .exactly(1), events: [TestDatabase.event("MoneyCommitted")]),
            ])
            #expect(result.streamVersions == [application: 1, grant: 2, pool: 2])
            // All four events: one transaction, positions within the append's range.
            var written: [RecordedEvent] = []
            for stream in [application, grant, pool] { written += try await store.readStream(stream).filter { $0.transactionId == result.transactionId } }
            #expect(written.count == 4)
            #expect(written.allSatisfy { (result.firstPosition...result.lastPosition).contains($0.position) })
        }
    }

    @Test("a stream listed without events is checked, not written")
    func conditionOnlyStream() async throws {
        try await TestDatabase.withStore { store in
            let meeting = TestDatabase.uniqueStream("meeting")
            let application = TestDatabase.uniqueStream("application")
            try await store.append(to: meeting, expected: .noStream, events: [TestDatabase.event("MeetingHeld")])
            await #expect(throws: EventStoreError.self) {
                try await store.append([
                    StreamWrite(stream: meeting, expected: .exactly(2), events: []),
                    StreamWrite(stream: application, expected: .any, events: [TestDatabase.event("Decided")]),
                ])
            }
            let result = try await store.append([
                StreamWrite(stream: meeting, expected: .exactly(1), events: []),
                StreamWrite(stream: application, expected: .any, events: [TestDatabase.event("Decided")]),
            ])
            #expect(result.streamVersions == [meeting: 1, application: 1])
            #expect(try await TestDatabase.count(meeting, in: store) == 1)
        }
    }
}

@Suite("Checking streams without writing")
struct CheckOnlyTests {
    @Test("checking a stream that does not exist yet does not block its creation")
    func checkThenCreate() async throws {
        try await TestDatabase.withStore { store in
            let checked = TestDatabase.uniqueStream("checked")
            let other = TestDatabase.uniqueStream()
            try await store.append([
                StreamWrite(stream: checked, expected: .noStream, events: []),
                StreamWrite(stream: other, expected: .noStream, events: [TestDatabase.event()]),
            ])
            let created = try await store.append(to: checked, expected: .noStream, events: [TestDatabase.event()])
            #expect(created.streamVersions[checked] == 1)
        }
    }
}
