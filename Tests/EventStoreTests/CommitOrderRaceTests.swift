import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import EventStore

/// Many writers append while one reader tails all events. Positions are
/// handed out before commit, so transactions commit out of position order;
/// the test forces such inversions and proves that a reader paging by
/// position alone misses events while the store's commit-order tail sees
/// every event exactly once.
@Suite("Reading all events while writers race")
struct CommitOrderRaceTests {
    static let writers = 16
    static let appendsPerWriter = 200
    static let slowTransactions = 8

    /// What one reader has seen so far.
    final class Seen: Sendable {
        private let state = Mutex<(ids: [UUID], lastPosition: Int64)>(([], 0))
        func add(_ ids: some Sequence<UUID>, lastPosition: Int64) {
            state.withLock { $0.ids.append(contentsOf: ids); $0.lastPosition = max($0.lastPosition, lastPosition) }
        }
        var ids: [UUID] { state.withLock { $0.ids } }
        var lastPosition: Int64 { state.withLock { $0.lastPosition } }
    }

    @Test("the commit-order tail sees every event exactly once; reading by position alone would not")
    func raceWritersAgainstTail() async throws {
        try await TestDatabase.withStore { store in
            let prefix = "race-\(UUID().uuidString.prefix(8).lowercased())-"
            let start = try await store.head()
            let from = Checkpoint(transactionId: 0, position: 0)
            let tailSeen = Seen(), naiveSeen = Seen()
            let written = Seen()
            let expectedCount = Self.writers * Self.appendsPerWriter + Self.slowTransactions

            try await withThrowingTaskGroup(of: Void.self) { readers in
                readers.addTask {
                    try await store.tail(after: from, batchSize: 500, pollInterval: .milliseconds(20)) { page in
                        let mine = page.events.filter { $0.streamId.hasPrefix(prefix) }
                        tailSeen.add(mine.map(\.eventId), lastPosition: page.through!.position)
                    }
                }
                readers.addTask { try await Self.readByPositionAlone(store, prefix: prefix, after: start.position, into: naiveSeen) }

                try await withThrowingTaskGroup(of: Void.self) { writers in
                    for writer in 0..<Self.writers {
                        writers.addTask {
                            for n in 0..<Self.appendsPerWriter {
                                let stream = try StreamID("\(prefix)\(writer)-\(n % 10)")
                                let event = TestDatabase.event("Noted", #"{"writer": \#(writer), "n": \#(n)}"#)
                                try await store.append(to: stream, expected: .any, events: [event])
                                written.add([event.eventId], lastPosition: 0)
                            }
                        }
                    }
                    for slow in 0..<Self.slowTransactions {
                        writers.addTask {
                            let event = try await Self.appendCommittingLate(store, stream: try StreamID("\(prefix)slow-\(slow)"), naive: naiveSeen)
                            written.add([event], lastPosition: 0)
                        }
                    }
                    try await writers.waitForAll()
                }

                let deadline = ContinuousClock.now + .seconds(60)
                while tailSeen.ids.count < expectedCount && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await Task.sleep(for: .milliseconds(300))  // would reveal duplicates arriving late
                readers.cancelAll()
            }

            let writtenIds = Set(written.ids)
            #expect(writtenIds.count == expectedCount)
            #expect(tailSeen.ids.count == expectedCount, "the tail saw every event")
            #expect(Set(tailSeen.ids) == writtenIds, "the tail saw exactly the events written")
            #expect(Set(tailSeen.ids).count == tailSeen.ids.count, "the tail saw no event twice")
            // The hazard is real in this run: paging by position alone lost the late commits.
            #expect(Set(naiveSeen.ids).count < expectedCount, "a reader by position alone missed events")
        }
    }

    @Test("a long transaction that does not append, here or in another database, holds no reader back; a long import holds them until it commits, and nothing is skipped")
    func horizonHeldByAppendsOnly() async throws {
        try await TestDatabase.withStore { store in
            let prefix = "horizon-\(UUID().uuidString.prefix(8).lowercased())-"
            // Read from where the shared database stands now, not through every event earlier tests left there.
            let start = try await store.head().readable ?? .start
            // Two transactions that write and stay open: one in this database, one in another of the cluster.
            var other = try TestDatabase.configuration()
            other.database = "postgres"
            try await PostgresClient.withRunning(other, logger: TestDatabase.logger) { elsewhere in
                try await elsewhere.withConnection { foreign in
                    try await store.client.withConnection { local in
                        for connection in [foreign, local] {
                            try await connection.query("BEGIN", logger: TestDatabase.logger)
                            try await connection.query("SET LOCAL idle_in_transaction_session_timeout = 0", logger: TestDatabase.logger)
                            _ = try await connection.query("SELECT pg_current_xact_id()", logger: TestDatabase.logger).collect()
                        }
                        // Appends after them are read at once, while both stay open.
                        let stream = try StreamID("\(prefix)live")
                        for _ in 0..<20 { try await store.append(to: stream, expected: .any, events: [TestDatabase.event()]) }
                        let seen = try await Self.readAll(store, after: start, prefix: prefix, expecting: 20, within: .seconds(10))
                        #expect(seen.count == 20, "a transaction that does not append held readers back")

                        // An import is an append: readers wait for it, and then see everything once, its events and those appended meanwhile.
                        let imported = try StreamID("\(prefix)imported")
                        let importing = Task {
                            try await store.importHistory { history in
                                for batch in 0..<4 {
                                    try await history.add([StreamWrite(stream: imported, expected: batch == 0 ? .noStream : .exactly(Int64(batch * 25)),
                                                                       events: (0..<25).map { _ in TestDatabase.event("Imported") })])
                                    try await Task.sleep(for: .milliseconds(300))
                                }
                            }
                        }
                        try await Task.sleep(for: .milliseconds(200))
                        for _ in 0..<20 { try await store.append(to: stream, expected: .any, events: [TestDatabase.event()]) }
                        _ = try await importing.value
                        let all = try await Self.readAll(store, after: start, prefix: prefix, expecting: 140, within: .seconds(30))
                        #expect(all.count == 140 && Set(all).count == 140, "every event once: \(all.count)")
                        for connection in [foreign, local] { try await connection.query("ROLLBACK", logger: TestDatabase.logger) }
                    }
                }
            }
        }
    }

    /// The ids of `prefix`'s events a commit-order reader sees from the start, waiting until `count` or the time is up.
    /// The events of streams named `prefix…` after `start`, read in commit order until `count` are seen or `limit` passes.
    static func readAll(_ store: EventStore, after start: Checkpoint, prefix: String, expecting count: Int, within limit: Duration) async throws -> [UUID] {
        var seen: [UUID] = []
        var checkpoint = start
        let deadline = ContinuousClock.now + limit
        while seen.count < count && ContinuousClock.now < deadline {
            let page = try await store.readAll(after: checkpoint, limit: 5_000)
            seen += page.filter { $0.streamId.hasPrefix(prefix) }.map(\.eventId)
            if let last = page.last { checkpoint = last.checkpoint } else { try await Task.sleep(for: .milliseconds(20)) }
        }
        return seen
    }

    /// Appends inside a transaction that commits only after a reader by
    /// position alone has moved past the event's position.
    static func appendCommittingLate(_ store: EventStore, stream: StreamID, naive: Seen) async throws -> UUID {
        let event = TestDatabase.event("CommittedLate")
        try await store.client.withTransaction(logger: TestDatabase.logger) { connection in
            let position = try await store.append([StreamWrite(stream: stream, expected: .noStream, events: [event])], on: connection).firstPosition
            let deadline = ContinuousClock.now + .seconds(5)
            while naive.lastPosition <= position && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        return event.eventId
    }

    /// The reader this store exists to avoid: `WHERE global_position > last`.
    static func readByPositionAlone(_ store: EventStore, prefix: String, after start: Int64, into seen: Seen) async throws {
        var last = start
        while !Task.isCancelled {
            var ids: [UUID] = []
            let rows = try await store.client.query("""
                SELECT global_position, event_id, stream_id FROM events
                WHERE global_position > \(last) ORDER BY global_position LIMIT 500
                """)
            for try await (position, id, stream) in rows.decode((Int64, UUID, String).self) {
                last = position
                if stream.hasPrefix(prefix) { ids.append(id) }
            }
            seen.add(ids, lastPosition: last)
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("readAll returns events in strictly increasing commit order")
    func readAllOrder() async throws {
        try await TestDatabase.withStore { store in
            let stream = TestDatabase.uniqueStream()
            for _ in 0..<5 {
                try await store.append(to: stream, expected: .any, events: [TestDatabase.event(), TestDatabase.event()])
            }
            var checkpoint = Checkpoint.start
            var previous: Checkpoint?
            var mine = 0
            // Other tests' appends in this database (a long import among them)
            // hold the newest events back until they commit: keep reading until
            // ours are all visible. The deadline only guards against a hang.
            let deadline = ContinuousClock.now + .seconds(300)
            while mine < 10 && ContinuousClock.now < deadline {
                let page = try await store.readAll(after: checkpoint, limit: 1_000)
                guard let last = page.last else {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                for event in page {
                    if let previous { #expect(previous < event.checkpoint) }
                    previous = event.checkpoint
                    if event.streamId == stream.rawValue { mine += 1 }
                }
                checkpoint = last.checkpoint
            }
            #expect(mine == 10)
            // Readable once no older transaction runs anywhere in the cluster; other suites' may, for a moment.
            var readable = try await store.head().readable
            for _ in 0..<3_000 where readable == nil {
                try await Task.sleep(for: .milliseconds(20))
                readable = try await store.head().readable
            }
            #expect(readable != nil)
        }
    }

    @Test("a page of some types returns those events whole and only steps over the others, in the same places as readAll")
    func typedPages() async throws {
        try await TestDatabase.withStore { store in
            let wanted = "Wanted\(UUID().uuidString.prefix(8))"
            let stream = TestDatabase.uniqueStream()
            let start = try await store.head().readable ?? .start
            for round in 0..<6 {
                try await store.append(to: stream, expected: .any, events: [
                    TestDatabase.event(round.isMultiple(of: 2) ? wanted : "Noted", #"{"round": \#(round)}"#),
                    TestDatabase.event("Noted"),
                ])
            }
            // Every event up to our last one, three at a time; then the same span typed.
            // Other tests' appends here (an import) may hold ours back until they commit; the deadline only guards against a hang.
            var all: [RecordedEvent] = []
            var at = start
            let deadline = ContinuousClock.now + .seconds(300)
            while all.filter({ $0.streamId == stream.rawValue }).count < 12 && ContinuousClock.now < deadline {
                let plain = try await store.readAll(after: at, limit: 3)
                guard let last = plain.last else {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                all += plain
                at = last.checkpoint
            }
            var typed: [RecordedEvent] = []
            at = start
            while at < all.last!.checkpoint {
                let page = try await store.readPage(after: at, limit: 3, types: [wanted])
                // A transaction that ended after its reader's snapshot is waited for once more (readable_horizon): nothing for a moment.
                guard let through = page.through else {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                #expect(page.rowsRead >= 1 && page.rowsRead <= 3 && through > at)
                #expect(page.events.allSatisfy { $0.type == wanted && $0.checkpoint > at && $0.checkpoint <= through })
                typed += page.events
                at = through
            }
            let expected = all.filter { $0.type == wanted }
            #expect(expected.count == 3)
            #expect(typed.map(\.eventId) == expected.map(\.eventId))
            #expect(typed == expected)
        }
    }
}
