import Foundation
import PostgresNIO
import Testing
import EventStore
import TestSupport

@Suite("Appends committed together")
struct GroupCommitTests {
    @Test("appends in one transaction: each expects what the ones before it left, and fails or lands on its own")
    func appendTogether() async throws {
        try await TestDatabase.withStore { store in
            let pool = TestDatabase.uniqueStream("pool"), clashing = TestDatabase.uniqueStream("clash")
            let broken = TestDatabase.uniqueStream("broken"), reusing = TestDatabase.uniqueStream("reuse")
            let keyed = TestDatabase.uniqueStream("keyed"), long = TestDatabase.uniqueStream("long")
            let key = "together-\(UUID())"
            let alpha = TestDatabase.uniqueStream("alpha"), zeta = TestDatabase.uniqueStream("zeta")
            let results = await store.appendTogether([
                ([StreamWrite(stream: pool, expected: .noStream, events: [TestDatabase.event("PoolCreated"), TestDatabase.event("BudgetSet")])], nil),
                // Decided after the first: expects the version it leaves.
                ([StreamWrite(stream: pool, expected: .exactly(2), events: [TestDatabase.event("MoneyCommitted")])], nil),
                ([StreamWrite(stream: clashing, expected: .exactly(3), events: [TestDatabase.event()])], nil),
                ([StreamWrite(stream: broken, expected: .noStream, events: [TestDatabase.event("Noted", "{")])], nil),
                ([StreamWrite(stream: keyed, expected: .noStream, events: [TestDatabase.event()])], Idempotency(key: key)),
                ([StreamWrite(stream: reusing, expected: .noStream, events: [TestDatabase.event()])], Idempotency(key: key)),
                // Past the per-event path: 20 events on two streams take the batch path.
                ([StreamWrite(stream: long, expected: .noStream, events: (0..<12).map { _ in TestDatabase.event() }),
                  StreamWrite(stream: pool, expected: .exactly(3), events: (0..<8).map { _ in TestDatabase.event("MoneyCommitted") })], nil),
                ([], nil),
                // Two clashes: the first in stream order is named, whatever the append's order.
                ([StreamWrite(stream: zeta, expected: .exactly(3), events: [TestDatabase.event()]),
                  StreamWrite(stream: alpha, expected: .exactly(2), events: [])], nil),
            ])
            let landed = try [0, 1, 4, 6].map { try results[$0].get() }
            #expect(throws: EventStoreError.wrongExpectedVersion(stream: alpha.rawValue, expected: .exactly(2), actual: 0)) { try results[8].get() }
            #expect(Set(landed.map(\.transactionId)).count == 1)
            #expect(landed.map { $0.streamVersions[pool] } == [2, 3, nil, 11])
            #expect(landed[0].lastPosition < landed[1].firstPosition && landed[1].lastPosition < landed[2].firstPosition)
            #expect(throws: EventStoreError.wrongExpectedVersion(stream: clashing.rawValue, expected: .exactly(3), actual: 0)) { try results[2].get() }
            #expect {
                try results[3].get()
            } throws: { error in
                if case EventStoreError.invalidPayload = error { true } else { false }
            }
            #expect(throws: EventStoreError.idempotencyKeyReused(key: key)) { try results[5].get() }
            #expect(throws: EventStoreError.emptyAppend) { try results[7].get() }

            for stream in [clashing, broken, reusing] { #expect(try await TestDatabase.count(stream, in: store) == 0) }
            #expect(try await store.readStream(pool).map(\.streamVersion) == Array(1...11))
            #expect(try await TestDatabase.chainedEvents(pool, in: store) == 11)
            #expect(try await TestDatabase.chainedEvents(long, in: store) == 12)
            #expect(try await TestDatabase.chainedEvents(keyed, in: store) == 1)
        }
    }

    @Test("an append decided on what an earlier append of its batch did not write is refused, even where the versions match")
    func appendOnUnwrittenIsRefused() async throws {
        try await TestDatabase.withStore { store in
            let pool = TestDatabase.uniqueStream("pool"), meeting = TestDatabase.uniqueStream("meeting")
            let other = TestDatabase.uniqueStream("other"), badType = TestDatabase.uniqueStream("bad"), keyed = TestDatabase.uniqueStream("keyed")
            // Another process wrote the pool's first event after this batch was decided on the pool as empty.
            try await store.append(to: pool, expected: .noStream, events: [TestDatabase.event("MoneyCommittedElsewhere")])
            let key = "chained-\(UUID())"
            try await store.append(to: keyed, expected: .noStream, events: [TestDatabase.event()], idempotencyKey: key)
            let before = try await store.readStream(pool).count
            let results = await store.appendTogether([
                // Clashes: the pool is at 1.
                ([StreamWrite(stream: pool, expected: .noStream, events: [TestDatabase.event("MoneyCommitted")])], nil),
                // Decided on the event above: expects version 1, which the pool is at, with another event.
                ([StreamWrite(stream: pool, expected: .exactly(1), events: [TestDatabase.event("MoneyCommitted")]),
                  StreamWrite(stream: meeting, expected: .noStream, events: [TestDatabase.event("Decided")])], nil),
                // Only checks the pool, and the meeting the refused append would have written.
                ([StreamWrite(stream: other, expected: .noStream, events: [TestDatabase.event()]),
                  StreamWrite(stream: meeting, expected: .exactly(1), events: [])], nil),
                // Independent of them: lands.
                ([StreamWrite(stream: TestDatabase.uniqueStream("free"), expected: .noStream, events: [TestDatabase.event()])], nil),
                // Refused before it is sent; what it would have written is not there for the next.
                ([StreamWrite(stream: badType, expected: .noStream, events: [TestDatabase.event("no spaces")])], nil),
                ([StreamWrite(stream: badType, expected: .exactly(1), events: [TestDatabase.event()])], nil),
                // A retry of an append carried out before writes nothing now: the next was decided on it being written now.
                ([StreamWrite(stream: keyed, expected: .noStream, events: [TestDatabase.event()])], Idempotency(key: key)),
                ([StreamWrite(stream: keyed, expected: .exactly(1), events: [TestDatabase.event()])], nil),
            ])
            #expect(throws: EventStoreError.wrongExpectedVersion(stream: pool.rawValue, expected: .noStream, actual: 1)) { try results[0].get() }
            #expect(throws: EventStoreError.precedingAppendNotWritten(stream: pool.rawValue)) { try results[1].get() }
            #expect(throws: EventStoreError.precedingAppendNotWritten(stream: meeting.rawValue)) { try results[2].get() }
            #expect(try results[3].get().replayed == false)
            #expect { try results[4].get() } throws: { error in
                if case EventStoreError.invalidEventType = error { true } else { false }
            }
            #expect(throws: EventStoreError.precedingAppendNotWritten(stream: badType.rawValue)) { try results[5].get() }
            #expect(try results[6].get().replayed)
            #expect(throws: EventStoreError.precedingAppendNotWritten(stream: keyed.rawValue)) { try results[7].get() }

            #expect(try await store.readStream(pool).count == before)
            for stream in [meeting, other, badType] { #expect(try await TestDatabase.count(stream, in: store) == 0) }
            #expect(try await TestDatabase.count(keyed, in: store) == 1)
        }
    }

    @Test("appends queued behind a blocked commit go together, each still all or nothing")
    func queuedAppendsGoTogether() async throws {
        try await TestDatabase.withStore { store in
            let blocked = TestDatabase.uniqueStream("blocked")
            try await store.append(to: blocked, expected: .noStream, events: [TestDatabase.event()])
            let key = "queued-\(UUID())"
            let keyed = TestDatabase.uniqueStream("keyed")
            let original = try await store.append(to: keyed, expected: .noStream, events: [TestDatabase.event()], idempotencyKey: key)

            // Another transaction holds the blocked stream's head: the appends
            // to it occupy every flusher, and what comes next has to queue.
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            let (lockTaken, locked) = AsyncStream.makeStream(of: Void.self)
            async let holder: Void = store.client.withTransaction(logger: TestDatabase.logger) { connection in
                try await connection.query("SELECT 1 FROM streams WHERE stream_id = \(blocked.rawValue) FOR UPDATE", logger: TestDatabase.logger)
                locked.yield()
                for await _ in released { break }
            }
            for await _ in lockTaken { break }

            let fresh = (0..<20).map { _ in TestDatabase.uniqueStream("fresh") }
            let clashing = TestDatabase.uniqueStream("clash"), reusing = TestDatabase.uniqueStream("reuse")
            enum Outcome: Sendable { case landed(AppendResult), refused(EventStoreError) }
            let outcomes = try await withThrowingTaskGroup(of: (String, Outcome).self) { group in
                func add(_ name: String, _ writes: [StreamWrite], key: String? = nil) {
                    group.addTask {
                        do {
                            return (name, .landed(try await store.append(writes, idempotencyKey: key)))
                        } catch let error as EventStoreError {
                            return (name, .refused(error))
                        }
                    }
                }
                for index in 0..<2 {
                    add("blocked-\(index)", [StreamWrite(stream: blocked, expected: .any, events: [TestDatabase.event()])])
                }
                try await Task.sleep(for: .milliseconds(200))
                for stream in fresh { add(stream.rawValue, [StreamWrite(stream: stream, expected: .noStream, events: [TestDatabase.event()])]) }
                add("clash", [StreamWrite(stream: clashing, expected: .exactly(5), events: [TestDatabase.event()])])
                add("reuse", [StreamWrite(stream: reusing, expected: .noStream, events: [TestDatabase.event("Other")])], key: key)
                add("replay", [StreamWrite(stream: keyed, expected: .noStream, events: [TestDatabase.event()])], key: key)
                try await Task.sleep(for: .milliseconds(300))
                release.yield()
                return try await group.reduce(into: [String: Outcome]()) { $0[$1.0] = $1.1 }
            }
            try await holder

            let landed = fresh.compactMap { stream -> AppendResult? in
                if case .landed(let result)? = outcomes[stream.rawValue] { result } else { nil }
            }
            #expect(landed.count == fresh.count)
            // Queued together: fewer transactions than appends.
            #expect(Set(landed.map(\.transactionId)).count < fresh.count)
            guard case .refused(.wrongExpectedVersion(let stream, _, let actual))? = outcomes["clash"] else {
                Issue.record("the clashing append was not refused: \(String(describing: outcomes["clash"]))")
                return
            }
            #expect(stream == clashing.rawValue && actual == 0)
            guard case .refused(.idempotencyKeyReused(key))? = outcomes["reuse"] else {
                Issue.record("the reused key was not refused: \(String(describing: outcomes["reuse"]))")
                return
            }
            guard case .landed(let replay)? = outcomes["replay"] else {
                Issue.record("the retry was not answered: \(String(describing: outcomes["replay"]))")
                return
            }
            #expect(replay.replayed && replay.lastPosition == original.lastPosition)
            #expect(try await TestDatabase.count(clashing, in: store) == 0)
            #expect(try await TestDatabase.count(reusing, in: store) == 0)
            #expect(try await TestDatabase.count(keyed, in: store) == 1)
            #expect(try await store.readStream(blocked).map(\.streamVersion) == [1, 2, 3])
            #expect(try await TestDatabase.chainedEvents(blocked, in: store) == 3)
        }
    }

    @Test("an append PostgreSQL refuses with an error the store has no name for is refused with its SQLSTATE and words, alone and in a batch")
    func unnamedRefusal() async throws {
        try await TestDatabases.withMigrated(prefix: "gl_unnamed", maximumConnections: 4, logger: TestDatabase.logger) { store, _ in
            // An operator's trigger, as one might add by hand: it refuses one event type with a state of its own.
            try await store.client.query("""
                CREATE FUNCTION refuse_forbidden() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.event_type = 'Forbidden' THEN RAISE EXCEPTION 'no Forbidden events here' USING ERRCODE = 'GL999', DETAIL = 'by the operator'; END IF;
                    RETURN NEW;
                END $$
                """, logger: TestDatabase.logger)
            try await store.client.query("CREATE TRIGGER refuse_forbidden BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_forbidden()",
                                         logger: TestDatabase.logger)
            func isTheOperators(_ error: any Error) -> Bool {
                let text = String(describing: error)
                return text.contains("SQLSTATE GL999") && text.contains("no Forbidden events here") && text.contains("by the operator")
            }
            let alone = TestDatabase.uniqueStream("alone")
            await #expect { try await store.append(to: alone, expected: .noStream, events: [TestDatabase.event("Forbidden")]) } throws: { isTheOperators($0) }
            let fine = TestDatabase.uniqueStream("fine"), refused = TestDatabase.uniqueStream("refused")
            let results = await store.appendTogether([
                ([StreamWrite(stream: fine, expected: .noStream, events: [TestDatabase.event()])], nil),
                ([StreamWrite(stream: refused, expected: .noStream, events: [TestDatabase.event(), TestDatabase.event("Forbidden")])], nil),
            ])
            #expect(try results[0].get().streamVersions[fine] == 1)
            #expect { try results[1].get() } throws: { isTheOperators($0) }
            let left = try await TestDatabase.count(refused, in: store) + TestDatabase.count(alone, in: store)
            #expect(left == 0)
        }
    }
}
