import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import PostgresNIO
import Projections
import Synchronization
import Testing

@Suite("Projection workers", .serialized)
struct WorkerTests {
    /// Runs `body` while a projection runtime, on a client (and so sessions) of its own, projects `url`.
    static func withWorkers<Result: Sendable>(_ url: String, count: Int = 1, _ body: @Sendable () async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await PostgresClient.withRunning(try DatabaseURL.configuration(url), logger: FreshDatabase.logger) { client in
                        try await ProjectionRuntime(store: EventStore(client: client, logger: FreshDatabase.logger), pollInterval: .milliseconds(100),
                                                    logger: FreshDatabase.logger).run()
                    }
                }
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    /// How many events of a projection's types the store holds.
    static func handled(_ projection: any Projection, _ store: EventStore) async throws -> Int {
        let types = Array(projection.eventTypes)
        let sql: PostgresQuery = types.isEmpty ? "SELECT count(*) FROM events" : "SELECT count(*) FROM events WHERE event_type = ANY(\(types))"
        for try await count in try await store.client.query(sql).decode(Int.self) { return count }
        return 0
    }

    @Test("a projection stopped at an event its tables cannot hold runs again once an operator rebuilds it after the fix", .timeLimit(.minutes(5)))
    func stoppedProjectionRebuilt() async throws {
        try await FreshDatabase.with { store, url in
            _ = try await FreshDatabase.generate(store, seed: 21, pools: 1, applicationsPerPool: 20)
            try await Self.withWorkers(url) {
                _ = try await FreshDatabase.waitUntilCaughtUp(store)
                // The table as an older build made it: a column narrower than the domain's range (the fix widens it).
                let generation = try await FreshDatabase.count("SELECT generation FROM projection_checkpoints WHERE projection = 'applications' AND live", store)
                _ = try await store.client.query(PostgresQuery(unsafeSQL: """
                    ALTER TABLE proj_applications_\(generation).applications ADD CONSTRAINT narrow CHECK (students_reached < 1000)
                    """), logger: FreshDatabase.logger)
                var call: (id: UUID, opens: Date)?
                for try await row in try await store.client.query("SELECT call_id, opens_at FROM read.calls LIMIT 1").decode((UUID, Date).self) { call = row }
                let (callId, opens) = try #require(call)
                let content = ApplicationContent(organisation: "Skolen", projectLeader: "Kim", title: "Many students", description: "",
                                                 requested: try Money("1000.00", .dkk), studentsReached: 5_000)
                let application = UUID()
                _ = try await CommandHandler(store: store).draftApplication(DraftApplication(applicationId: application, callId: callId, content: content, at: opens),
                                                                            CommandContext(actor: "applicant", role: "applicant", actingAs: .unrestricted))
                let runtime = ProjectionRuntime(store: store, logger: FreshDatabase.logger)
                var stopped: ProjectionStatus?
                for _ in 0..<300 where stopped == nil {
                    stopped = try await runtime.status().first { $0.name == "applications" && $0.state == "failed" }
                    if stopped == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(stopped?.error?.contains("narrow") == true, "\(String(describing: stopped))")

                // The operator's path (README): rebuild the projection; the running worker follows the new generation.
                let summary = try await Rebuilder(store: store, logger: FreshDatabase.logger).rebuild(ApplicationsProjection())
                #expect(summary.generation > generation)
                let statuses = try await FreshDatabase.waitUntilCaughtUp(store)
                #expect(statuses.allSatisfy { $0.state == "running" }, "\(statuses)")
                #expect(try await FreshDatabase.count("SELECT students_reached FROM read.applications WHERE application_id = '\(application)'", store) == 5_000)
                // And it keeps applying what comes after.
                _ = try await CommandHandler(store: store).withdrawApplication(WithdrawApplication(applicationId: application, reason: "", at: opens),
                                                                              CommandContext(actor: "applicant", role: "applicant", actingAs: .unrestricted))
                _ = try await FreshDatabase.waitUntilCaughtUp(store)
                #expect(try await FreshDatabase.count("SELECT count(*) FROM read.applications WHERE application_id = '\(application)' AND status = 'withdrawn'", store) == 1)
            }
        }
    }

    @Test("two workers started at once: exactly one applies each batch, nothing is applied twice", .timeLimit(.minutes(5)))
    func twoWorkers() async throws {
        try await FreshDatabase.with { store, url in
            let events = try await FreshDatabase.generate(store, seed: 11, pools: 4, applicationsPerPool: 100)
            let statuses = try await Self.withWorkers(url, count: 2) {
                // More events while both run, so batches keep coming.
                try await FreshDatabase.generate(store, seed: 12, pools: 2, applicationsPerPool: 100)
                return try await FreshDatabase.waitUntilCaughtUp(store)
            }
            for projection in allProjections {
                let status = try #require(statuses.first { $0.name == projection.name })
                #expect(status.eventsApplied == Int64(try await Self.handled(projection, store)), "\(projection.name) applied an event twice or not at all")
            }
            let total = try await FreshDatabase.count("SELECT count(*) FROM events", store)
            #expect(total > events)
            #expect(try await FreshDatabase.count("SELECT count(*) FROM read.ledger", store) == total)
            #expect(try await FreshDatabase.count("SELECT count(DISTINCT global_position) FROM read.ledger", store) == total)
            try await FreshDatabase.expectNoDrift(store)
        }
    }

    @Test("events a read model does not read move its checkpoint one statement at a time, once, with two workers racing", .timeLimit(.minutes(3)))
    func checkpointPassesUnreadEvents() async throws {
        try await FreshDatabase.with { store, url in
            try await FreshDatabase.generate(store, seed: 41, pools: 1, applicationsPerPool: 20)
            let statuses = try await Self.withWorkers(url, count: 2) {
                _ = try await FreshDatabase.waitUntilCaughtUp(store)
                // Appended one by one, so most batches hold only events no read model but the ledger reads.
                for index in 0..<300 {
                    try await store.append(to: try StreamID("noise-\(index % 7)"), expected: .any, events: [
                        NewEvent(type: "NoiseRecorded", data: #"{"n": \#(index)}"#, occurredAt: Date()),
                    ])
                }
                return try await FreshDatabase.waitUntilCaughtUp(store)
            }
            let head = try await FreshDatabase.count("SELECT max(global_position) FROM events", store)
            for projection in allProjections {
                let status = try #require(statuses.first { $0.name == projection.name })
                #expect(status.checkpoint.position == Int64(head), "\(projection.name) stopped short of the head")
                #expect(status.eventsApplied == Int64(try await Self.handled(projection, store)), "\(projection.name) applied an event twice or not at all")
            }
            #expect(try await FreshDatabase.count("SELECT count(*) FROM read.ledger", store) == FreshDatabase.count("SELECT count(*) FROM events", store))
            try await FreshDatabase.expectNoDrift(store)
        }
    }

    @Test("rebuild --all while writers append: readers never see an empty or shrinking model, and the result has no drift", .timeLimit(.minutes(5)))
    func rebuildUnderWrites() async throws {
        try await FreshDatabase.with { store, url in
            try await FreshDatabase.generate(store, seed: 21, pools: 3, applicationsPerPool: 100)
            try await Self.withWorkers(url) {
                _ = try await FreshDatabase.waitUntilCaughtUp(store)
                let pools = try await FreshDatabase.count("SELECT count(*) FROM read.pools", store)
                let observed = Observations()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {  // writers
                        try await FreshDatabase.generate(store, seed: 22, pools: 3, applicationsPerPool: 100)
                    }
                    group.addTask {  // a reader that must never see a half-built model
                        var ledger = 0
                        while !observed.stopped {
                            for try await (rows, poolRows, applications) in try await store.client.query(
                                "SELECT (SELECT count(*) FROM read.ledger), (SELECT count(*) FROM read.pools), (SELECT count(*) FROM read.applications)"
                            ).decode((Int, Int, Int).self) {
                                if rows < ledger { observed.record("ledger shrank from \(ledger) to \(rows)") }
                                if poolRows < pools { observed.record("pools shrank to \(poolRows) of \(pools)") }
                                if applications == 0 { observed.record("applications was empty") }
                                observed.record(nil)
                                ledger = max(ledger, rows)
                            }
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                    let rebuilder = Rebuilder(store: store, logger: FreshDatabase.logger)
                    // As `rebuild --all` does it: every projection at once.
                    let summaries = try await rebuilder.rebuildAll(allProjections)
                    #expect(Set(summaries.map(\.projection)) == Set(allProjections.map(\.name)))
                    try await group.next()  // the writers finish first
                    observed.stop()
                    try await group.waitForAll()
                }
                let (readings, worst) = observed.result
                #expect(readings > 10)
                #expect(worst == nil, "\(worst ?? "")")
                let statuses = try await FreshDatabase.waitUntilCaughtUp(store)
                #expect(statuses.allSatisfy { $0.generation == 2 && $0.state == "running" })
            }
            try await FreshDatabase.expectNoDrift(store)
            #expect(try await FreshDatabase.count("SELECT count(*) FROM read.ledger", store) == (try await FreshDatabase.count("SELECT count(*) FROM events", store)))
        }
    }

    @Test("a cancelled runtime lets go of its projections at once, though its client's connections stay open", .timeLimit(.minutes(2)))
    func cancelledRuntimeReleasesLocks() async throws {
        try await FreshDatabase.with { store, _ in
            let runtime = ProjectionRuntime(store: store, pollInterval: .milliseconds(100), logger: FreshDatabase.logger)
            try await runtime.prepare()
            let running = Task { try await runtime.run() }
            let held = """
                SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()
                """
            var count = 0
            for _ in 0..<300 {
                count = try await FreshDatabase.count(held, store)
                if count >= runtime.projections.count { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(count == runtime.projections.count, "every worker holds its projection's lock")
            running.cancel()
            _ = try? await running.value
            // A lock left on a pooled connection kept another process's worker standing by until the connection closed.
            #expect(try await FreshDatabase.count(held, store) == 0)
        }
    }

    @Test("an event a projection cannot apply stops it with the position and error; it is never skipped", .timeLimit(.minutes(3)))
    func failingEventStops() async throws {
        try await FreshDatabase.with { store, url in
            try await FreshDatabase.generate(store, seed: 31, pools: 1, applicationsPerPool: 10)
            // A well-formed event whose payload the pool projection cannot read.
            let bad = try await store.append(to: try StreamID("pool-\(UUID().uuidString.lowercased())"), expected: .noStream, events: [
                NewEvent(type: PoolCreated.eventType, data: #"{"unexpected": true}"#, occurredAt: Date()),
            ])
            try await FreshDatabase.generate(store, seed: 32, pools: 1, applicationsPerPool: 10)
            let statuses = try await Self.withWorkers(url) {
                let runtime = ProjectionRuntime(store: store, logger: FreshDatabase.logger)
                // Up to two minutes: the whole suite loads the machine meanwhile.
                for _ in 0..<1_200 {
                    let statuses = try await runtime.status()
                    // Each of the three that read PoolCreated stops at it in its own time; the pool's is the one checked.
                    if statuses.contains(where: { $0.name == "pool_balances" && $0.state == "failed" }),
                       statuses.filter({ $0.name != "pool_balances" && $0.name != "public_grants" && $0.name != "agendas" }).allSatisfy({ $0.eventsBehind == 0 }) {
                        return statuses
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return try await runtime.status()
            }
            let pools = try #require(statuses.first { $0.name == "pool_balances" })
            #expect(pools.state == "failed")
            #expect(pools.failedPosition == bad.firstPosition)
            #expect(pools.error?.contains("PoolCreated") == true)
            // It stopped before the bad event: nothing after it was applied either.
            #expect(pools.checkpoint < Checkpoint(transactionId: bad.transactionId, position: bad.firstPosition))
            // The ledger does not read payloads and went on.
            #expect(statuses.first { $0.name == "audit_ledger" }?.state == "running")
        }
    }
}

/// What the reader of `rebuildUnderWrites` saw.
final class Observations: Sendable {
    private let state = Mutex<(readings: Int, worst: String?, stopped: Bool)>((0, nil, false))

    func record(_ problem: String?) {
        state.withLock { state in
            if let problem { state.worst = problem } else { state.readings += 1 }
        }
    }

    func stop() { state.withLock { $0.stopped = true } }
    var stopped: Bool { state.withLock { $0.stopped } }
    var result: (readings: Int, worst: String?) { state.withLock { ($0.readings, $0.worst) } }
}
