import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import NIOCore
import PostgresNIO
import Projections
import Synchronization

/// How big and how long.
public struct BenchOptions: Sendable {
    /// Seconds per measured level (append, commands, hot pool).
    public var seconds: Int
    /// The generated history read, verified and rebuilt: pools × applications (about 11 events each).
    public var pools: Int
    public var applicationsPerPool: Int
    public var writers: [Int]
    /// Which workloads run: append, commands, hot-pool, lag, http, history.
    public var workloads: Set<String> = Self.allWorkloads

    /// Seconds of commands at half the measured maximum rate while read models follow.
    public var lagSeconds: Int
    /// Applications in the one pool whose as-of state is replayed (about 1.9 pool events each).
    public var bigPoolApplications: Int
    /// The `grantledger` executable the HTTP workload serves with.
    public var serverExecutable: String?

    public static let allWorkloads: Set<String> = ["append", "commands", "hot-pool", "lag", "http", "history", "catch-up"]
    public static let quick = BenchOptions(seconds: 2, lagSeconds: 5, pools: 8, applicationsPerPool: 200, bigPoolApplications: 2_000, writers: [1, 4, 16])
    public static let standard = BenchOptions(seconds: 10, lagSeconds: 30, pools: 48, applicationsPerPool: 2_000, bigPoolApplications: 53_000,
                                              writers: [1, 4, 16])

    public init(seconds: Int, lagSeconds: Int, pools: Int, applicationsPerPool: Int, bigPoolApplications: Int, writers: [Int]) {
        self.seconds = seconds
        self.lagSeconds = lagSeconds
        self.bigPoolApplications = bigPoolApplications
        self.pools = pools
        self.applicationsPerPool = applicationsPerPool
        self.writers = writers
    }
}

/// Every hot path beside a raw PostgreSQL baseline, on the same database and
/// driver in the same run.
public struct Benchmark: Sendable {
    let store: EventStore
    /// One handler for every command, as `serve` has.
    let handler: CommandHandler
    let logger: Logger
    let options: BenchOptions
    let tag = String(UUID().uuidString.prefix(8)).lowercased()

    public init(store: EventStore, logger: Logger, options: BenchOptions) {
        self.store = store
        self.handler = CommandHandler(store: store)
        self.logger = logger
        self.options = options
    }

    var duration: Duration { .seconds(options.seconds) }

    public func run(info: RunInfo) async throws -> BenchReport {
        var figures: [Figure] = []
        try await store.client.query("CREATE TABLE IF NOT EXISTS bench_events (LIKE events INCLUDING ALL)", logger: logger)
        try await store.client.query("CREATE TABLE IF NOT EXISTS bench_heads (LIKE streams INCLUDING ALL)", logger: logger)

        // Appends, and the plain and the serialised INSERT of the same rows.
        var baselineA: [Int: Double] = [:]
        var single16 = 0.0
        for writers in options.writers where options.workloads.contains("append") || options.workloads.contains("commands") {
            let (storeRate, storeLatency) = try await measure("append W=\(writers)", writers) { writer, index in
                try await appendThroughStore("append-\(writers)", writer, index)
            }
            let (plainRate, plainLatency) = try await measure("baseline A W=\(writers)", writers) { writer, index in
                try await plainInsert("plain-\(writers)", writer, index, locked: false)
            }
            let (lockedRate, _) = try await measure("baseline B W=\(writers)", writers) { writer, index in
                try await plainInsert("locked-\(writers)", writer, index, locked: true)
            }
            let (versionedRate, _) = try await measure("baseline C W=\(writers)", writers) { writer, _ in
                try await versionedInsert("versioned-\(writers)", writer)
            }
            baselineA[writers] = plainRate
            var figure = Figure(figure: "append W=\(writers)", value: storeRate, unit: "events/s", baseline: plainRate, baselineName: "A: INSERT",
                                ratio: storeRate / plainRate, target: writers == 16 ? "≥ 0.9" : nil)
            storeLatency.annotate(&figure)
            figures.append(figure)
            var plain = Figure(figure: "baseline A: INSERT W=\(writers)", value: plainRate, unit: "rows/s")
            plainLatency.annotate(&plain)
            figures.append(plain)
            figures.append(Figure(figure: "append W=\(writers) vs baseline B", value: storeRate, unit: "events/s", baseline: lockedRate,
                                  baselineName: "B: LOCK TABLE + INSERT", ratio: storeRate / lockedRate, target: writers == 16 ? "≥ 5" : nil))
            figures.append(Figure(figure: "append W=\(writers) vs baseline C", value: storeRate, unit: "events/s", baseline: versionedRate,
                                  baselineName: "C: INSERT + stream head upsert", ratio: storeRate / versionedRate))
        }
        if options.writers.contains(16), options.workloads.contains("append") || options.workloads.contains("hot-pool") {
            let (rate, latency) = try await measure("one-stream append W=16", 16) { _, _ in try await appendToOneStream() }
            single16 = rate
            var figure = Figure(figure: "append W=16, one stream", value: rate, unit: "events/s")
            latency.annotate(&figure)
            figures.append(figure)
        }

        // Commands over many pools, a few of them hot.
        let needsCalls = options.workloads.contains("commands") || options.workloads.contains("lag")
        let calls = needsCalls ? try await setUpCalls(count: 16) : []
        var commands16: Double?
        for writers in options.writers where options.workloads.contains("commands") {
            let (rate, latency) = try await measure("commands W=\(writers)", writers) { writer, index in
                try await draftApplication(calls, writer: writer, index: index)
            }
            if writers == 16 { commands16 = rate }
            var figure = Figure(figure: "commands W=\(writers) (draft application)", value: rate, unit: "commands/s", baseline: baselineA[writers],
                                baselineName: "A: INSERT", ratio: baselineA[writers].map { rate / $0 }, target: writers == 16 ? "≥ 0.7" : nil)
            latency.annotate(&figure)
            figures.append(figure)
        }

        if options.writers.contains(16), options.workloads.contains("hot-pool") { figures += try await hotPool(oneStream: single16) }
        if options.workloads.contains("lag") {
            var maximum = commands16 ?? 0
            if commands16 == nil {
                maximum = try await measure("commands W=16", 16) { writer, index in
                    try await draftApplication(calls, writer: writer, index: index)
                }.0
            }
            figures += try await lag(calls: calls, rate: maximum / 2)
        }
        if options.workloads.contains("http"), let server = options.serverExecutable {
            figures += try await HTTPWorkload(benchmark: self, server: URL(fileURLWithPath: server), seconds: options.seconds).run()
        }
        if options.workloads.contains("history") {
            if let own = try await historyInOwnProcess() { figures += own } else { figures += try await history() }
        } else if options.workloads.contains("catch-up") {
            figures += try await catchUp().figures
        }
        return BenchReport(run: info, figures: figures)
    }

    // MARK: Measuring

    /// `writers` loops for the configured time, each iteration one timed
    /// operation given its writer and iteration number: operations per second and latencies.
    func measure(_ label: String, _ writers: Int, _ operation: @escaping @Sendable (Int, Int) async throws -> Void) async throws -> (Double, Latencies) {
        let progress = Progress(label: label)
        let clock = ContinuousClock(), started = clock.now, deadline = started + duration
        let results = try await withThrowingTaskGroup(of: (Int, Latencies).self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var latencies = Latencies()
                    var index = 0
                    while clock.now < deadline {
                        let start = clock.now
                        do { try await operation(writer, index) } catch is NoMoreWork { break }
                        latencies.record(clock.now - start)
                        index += 1
                        if writer == 0, index % 200 == 0 { progress.show("\(index * writers) operations") }
                    }
                    return (index, latencies)
                }
            }
            return try await group.reduce(into: [(Int, Latencies)]()) { $0.append($1) }
        }
        let elapsed = (clock.now - started) / .seconds(1)
        var latencies = Latencies()
        for (_, writerLatencies) in results { latencies.add(writerLatencies) }
        let rate = Double(results.map(\.0).reduce(0, +)) / elapsed
        progress.done(String(format: "%.0f/s, p99 %.2f ms", rate, latencies.ms(99)))
        return (rate, latencies)
    }

    // MARK: Appends

    static let payload = #"{"amount":{"amount":"125000.00","currency":"DKK"},"applicationId":"6B1F3C0E-5E0A-4C61-9F55-2D1C3F2B9E11","period":"2026","reason":"benchmark","sources":[{"amount":{"amount":"125000.00","currency":"DKK"},"source":"region"}]}"#
    static let metadata = EventMetadata(actor: "bench", role: "admin", command: "Bench", correlationId: UUID())
    static let metadataText = #"{"actor":"bench","command":"Bench","role":"admin"}"#

    func event() -> NewEvent { NewEvent(type: "BenchEvent", data: Self.payload, metadata: Self.metadata, occurredAt: Date()) }

    func appendThroughStore(_ name: String, _ writer: Int, _ index: Int) async throws {
        let stream = try StreamID("bench-\(tag)-\(name)-\(writer)")
        try await store.append(to: stream, expected: index == 0 ? .noStream : .exactly(Int64(index)), events: [event()])
    }

    func appendToOneStream() async throws {
        try await store.append(to: try StreamID("bench-\(tag)-one"), expected: .any, events: [event()])
    }

    /// The same row as the store writes, by a plain INSERT; with `locked`,
    /// serialised by a table lock as gap-free stores do.
    /// What any store with versioned streams does at the least: bump the
    /// stream's head row (locking it) and insert the event at that version,
    /// in one statement; no hashing, no expected-version check.
    func versionedInsert(_ name: String, _ writer: Int) async throws {
        let hash = ByteBuffer(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        try await store.client.query("""
            WITH head AS (
                INSERT INTO bench_heads (stream_id, version, last_hash) VALUES (\("bench-\(tag)-\(name)-\(writer)"), 1, \(hash))
                ON CONFLICT (stream_id) DO UPDATE SET version = bench_heads.version + 1, last_hash = excluded.last_hash
                RETURNING stream_id, version)
            INSERT INTO bench_events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata,
                                      occurred_at, recorded_at, previous_hash, hash)
            SELECT \(UUID.random()), head.stream_id, head.version, 'BenchEvent', 1, \(Self.payload)::json, \(Self.metadataText)::json,
                   \(Date()), clock_timestamp(), \(hash), \(hash)
            FROM head
            """, logger: logger)
    }

    func plainInsert(_ name: String, _ writer: Int, _ index: Int, locked: Bool) async throws {
        let hash = ByteBuffer(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        let insert: PostgresQuery = """
            INSERT INTO bench_events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata,
                                      occurred_at, recorded_at, previous_hash, hash)
            VALUES (\(UUID.random()), \("bench-\(tag)-\(name)-\(writer)"), \(Int64(index + 1)), 'BenchEvent', 1, \(Self.payload)::json,
                    \(Self.metadataText)::json, \(Date()), clock_timestamp(), \(hash), \(hash))
            """
        if locked {
            try await store.client.withTransaction(logger: logger) { connection in
                try await connection.query("LOCK TABLE bench_events IN EXCLUSIVE MODE", logger: logger)
                try await connection.query(insert, logger: logger)
            }
        } else {
            try await store.client.query(insert, logger: logger)
        }
    }

    // MARK: Commands

    /// Open calls on pools with room for any number of drafts.
    func setUpCalls(count: Int) async throws -> [UUID] {
        let group = try await createGroup("Bench group")
        var calls: [UUID] = []
        for index in 0..<count {
            calls.append(try await openPoolAndCall("Bench \(index)", group: group).call)
        }
        return calls
    }

    static let admin = CommandContext(actor: "bench", role: "admin")

    /// A steering group of one member, `m`.
    func createGroup(_ name: String) async throws -> UUID {
        let group = UUID()
        _ = try await handler.createSteeringGroup(
            CreateSteeringGroup(groupId: group, name: name, members: [Member(id: "m", name: "M", affiliations: [])], at: Date()), Self.admin)
        return group
    }

    /// A pool of one period (2026) and one source, with a call open now.
    func openPoolAndCall(_ name: String, group: UUID, budget: String = "1000000000.00") async throws -> (pool: UUID, call: UUID) {
        let pool = UUID(), call = UUID()
        let amount = try Money(budget, .dkk)
        _ = try await handler.createPool(CreatePool(poolId: pool, name: "\(name) pool", owner: "bench", currency: .dkk, carryOver: .lapse,
                                                periods: [BudgetPeriodSpec(period: "2026", amount: amount)],
                                                sources: [FundingSourceSpec(id: "region", name: "Region", amount: amount)],
                                                steeringGroupId: group, eligibility: EligibilityRules(), at: Date()), Self.admin)
        _ = try await handler.openCall(OpenCall(callId: call, poolId: pool, title: "\(name) call", opensAt: Date().addingTimeInterval(-3_600),
                                            closesAt: Date().addingTimeInterval(86_400), cap: nil, at: Date()), Self.admin)
        return (pool, call)
    }

    /// A draft in a call chosen Zipf-like (call k with weight 1/(k+1)), from a fixed seed per writer.
    @discardableResult
    func draftApplication(_ calls: [UUID], writer: Int, index: Int) async throws -> CommandResult {
        var random = SeededRandom(seed: UInt64(writer * 1_000_003 + index))
        let weights = calls.indices.map { 1 / Double($0 + 1) }
        var pick = Double.random(in: 0..<weights.reduce(0, +), using: &random)
        var call = calls[0]
        for (offset, weight) in weights.enumerated() {
            pick -= weight
            if pick < 0 { call = calls[offset]; break }
        }
        let content = ApplicationContent(organisation: "School \(writer)", projectLeader: "Leader", title: "Bench \(index)", description: "",
                                         requested: try Money("10000.00", .dkk))
        return try await handler.draftApplication(DraftApplication(applicationId: .random(), callId: call, content: content, at: Date()),
                                                  CommandContext(actor: "bench", role: "applicant"))
    }

    /// 16 approvers decide on one pool's applications, meeting after meeting
    /// of its steering group: first through a process that never folded the
    /// applications (a server restarted since they were submitted, or
    /// another instance took them), then through one that has (it took
    /// their submissions).
    func hotPool(oneStream: Double) async throws -> [Figure] {
        var figures: [Figure] = []
        for folded in [false, true] {
            let label = folded ? "hot pool, 16 approvers, applications folded" : "hot pool, 16 approvers"
            let (rate, latency, retries, eventsPerApproval) = try await decideOnHotPool(label, applicationsFolded: folded)
            var figure = Figure(figure: label, value: rate, unit: "approvals/s", baseline: oneStream, baselineName: "one-stream append W=16",
                                ratio: rate / oneStream, target: folded ? nil : "≥ 0.5")
            latency.annotate(&figure)
            // An approval appends several events to several streams in one
            // transaction; the baseline appends one event to one stream.
            let events = Figure(figure: "\(label): events written", value: rate * eventsPerApproval, unit: "events/s", baseline: oneStream,
                                baselineName: "one-stream append W=16", ratio: rate * eventsPerApproval / oneStream)
            figures += [figure, events, Figure(figure: "\(label): retries per approval", value: retries, unit: "retries")]
        }
        return figures
    }

    static let meetingSize = 5_000

    /// Approvals/s, their latencies, the retries and the events appended per approval.
    func decideOnHotPool(_ label: String, applicationsFolded: Bool) async throws -> (Double, Latencies, Double, Double) {
        let handler = CommandHandler(store: store, maximumAttempts: 50)
        let context = Self.admin
        let group = try await createGroup("Hot group")
        let (_, call) = try await openPoolAndCall("Hot", group: group)
        // More applications than 16 approvers decide in the time, so the
        // measured window is the whole time, not a warm-up and a burst; if
        // they run out, the rate counts up to the last decision. Folded, no
        // more than stay in the handler's state cache (it keeps 10,000 to
        // 20,000 states) while each decision adds its grant's.
        let count = applicationsFolded ? min(options.seconds * 5_000, 6_000) : options.seconds * 5_000
        let agenda = try await submittedApplications(count, to: call)
        if applicationsFolded { try await fold(agenda, into: handler) }
        // Meetings of 5,000 in turn: one agenda of all would pass the store's
        // 1 MB limit on an event.
        var meetings: [UUID] = []
        for start in stride(from: 0, to: agenda.count, by: Self.meetingSize) {
            meetings.append(UUID())
            _ = try await handler.holdMeeting(HoldMeeting(meetingId: meetings.last!, groupId: group, date: Date(), present: ["m"],
                                                          agenda: Array(agenda[start..<min(start + Self.meetingSize, agenda.count)])), context)
        }
        let next = Counter()
        let attempts = Counter()
        let before = try await store.head().position
        let (rate, latency) = try await measure(label, 16) { [meetings] _, _ in
            let index = next.increment() - 1
            guard index < agenda.count else { throw NoMoreWork() }
            let result = try await handler.recordDecision(RecordDecision(meetingId: meetings[index / Self.meetingSize], applicationId: agenda[index], applicationVersion: 1,
                                                                         votes: [Vote(member: "m", vote: .for)], outcome: .approve(.init(amount: try Money("100.00", .dkk), period: "2026")),
                                                                         at: Date()), context)
            _ = attempts.increment(by: result.attempts)
        }
        let decided = min(next.value, agenda.count)
        var appended = 0
        for try await count in try await store.client.query("SELECT count(*) FROM events WHERE global_position > \(before)", logger: logger).decode(Int.self) {
            appended = count
        }
        return (rate, latency, Double(attempts.value - decided) / Double(max(decided, 1)), Double(appended) / Double(max(decided, 1)))
    }

    /// Has `handler` fold each application, as the process that took their
    /// submissions has: submitting one again reads it, and is refused.
    func fold(_ applications: [UUID], into handler: CommandHandler) async throws {
        let progress = Progress(label: "hot pool: applications folded")
        let next = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    while case let index = next.increment() - 1, index < applications.count {
                        do {
                            _ = try await handler.submitApplication(SubmitApplication(applicationId: applications[index], at: Date()), Self.admin)
                            throw BenchFailure("application \(applications[index]) was submitted twice")
                        } catch DomainError.invalidState {}
                        if index % 1_000 == 0 { progress.show("\(index) of \(applications.count)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        progress.done("\(applications.count)")
    }

    /// `count` applications drafted and submitted to `call`, decided in
    /// memory by the deciders and loaded through the store's import: a
    /// programme's submissions waiting for the meeting, ready in a second or
    /// two instead of the minute their commands would take.
    func submittedApplications(_ count: Int, to call: UUID) async throws -> [UUID] {
        let progress = Progress(label: "hot pool: submitted applications")
        let session = Session(store: store)
        let callState = try await session.load(CallState.self, call).state
        guard let poolId = callState.opened?.poolId else { throw DomainError.notFound(kind: "call", id: call.uuidString) }
        let pool = try await session.load(PoolState.self, poolId).state
        let metadata = EventMetadata(actor: "bench", role: "applicant", command: "SubmitApplication", correlationId: UUID())
        let requested = try Money("100.00", .dkk)
        let applications = (0..<count).map { _ in UUID.random() }
        _ = try await store.importHistory { history in
            for chunk in stride(from: 0, to: count, by: 2_000) {
                let writes = try applications[chunk..<min(chunk + 2_000, count)].enumerated().map { offset, id in
                    let content = ApplicationContent(organisation: "School \(chunk + offset)", projectLeader: "L", title: "Hot \(chunk + offset)",
                                                     description: "", requested: requested)
                    var events = try DraftApplication(applicationId: id, callId: call, content: content, at: Date())
                        .decide(application: .initial, call: callState, pool: pool)
                    let drafted = events.reduce(ApplicationState.initial) { $0.evolve($1) }
                    events += try SubmitApplication(applicationId: id, at: Date()).decide(application: drafted, call: callState, pool: pool, group: nil)
                    return StreamWrite(stream: try StreamID(ApplicationState.streamName(id)), expected: .noStream,
                                       events: try events.map { try NewEvent($0, metadata: metadata) })
                }
                try await history.add(writes)
                progress.show("\(history.events / 2) of \(count)")
            }
        }
        progress.done("\(count), imported")
        return applications
    }

    // MARK: Lag

    /// Commands at `rate` for the configured time, open loop (each on its
    /// own schedule, not waiting for the one before), while the projection
    /// workers run in this process as `serve` runs them: the time from a
    /// command's commit to the moment each read model's checkpoint passes it.
    func lag(calls: [UUID], rate: Double) async throws -> [Figure] {
        let runtime = ProjectionRuntime(store: store, logger: logger)
        try await runtime.prepare()
        return try await withThrowingTaskGroup(of: [Figure].self) { group in
            group.addTask { try await runtime.run(); return [] }
            defer { group.cancelAll() }
            let progress = Progress(label: "lag")
            while true {
                let behind = try await runtime.status().map(\.eventsBehind).reduce(0, +)
                if behind == 0 { break }
                progress.show("read models catching up, \(behind) events behind")
                try await Task.sleep(for: .milliseconds(200))
            }

            let clock = ContinuousClock(), started = clock.now
            let deadline = started + .seconds(options.lagSeconds)
            let interval = Duration.seconds(1 / rate)
            let slots = Counter()
            let committed = Commits()
            let writersDone = Counter()
            let writers = Task {
                defer { writersDone.increment() }
                try await withThrowingTaskGroup(of: Void.self) { writers in
                    for writer in 0..<16 {
                        writers.addTask {
                            while true {
                                let slot = slots.increment() - 1
                                let due = started + interval * slot
                                guard due < deadline else { return }
                                try await Task.sleep(until: due, clock: clock)
                                let result = try await draftApplication(calls, writer: writer, index: slot)
                                let at = clock.now
                                committed.add(Checkpoint(transactionId: result.transactionId, position: result.position), at: at)
                            }
                        }
                    }
                    try await writers.waitForAll()
                }
            }

            // Poll every read model's checkpoint; each commit is seen once per read model.
            var lags = Dictionary(uniqueKeysWithValues: runtime.projections.map { ($0.name, Latencies()) })
            var seen = Dictionary(uniqueKeysWithValues: runtime.projections.map { ($0.name, 0) })
            var finished = false
            var polls = 0
            while true {
                let statuses = try await checkpoints()
                let now = clock.now
                let commits = committed.all
                for status in statuses {
                    var caughtUp = seen[status.name] ?? 0
                    // Commits are listed as writers finish, close to commit order; count the unbroken run the checkpoint has passed.
                    while caughtUp < commits.count, commits[caughtUp].checkpoint <= status.checkpoint {
                        lags[status.name]?.record(now - commits[caughtUp].at)
                        caughtUp += 1
                    }
                    seen[status.name] = caughtUp
                }
                if finished, seen.values.allSatisfy({ $0 == commits.count }) { break }
                // Polling goes on while writers behind their schedule finish: waiting for them here
                // would count the wait into the lag of every commit not yet seen.
                if !finished, writersDone.value > 0 {
                    try await writers.value
                    finished = true
                }
                polls += 1
                if polls % 100 == 0 { progress.show("\(commits.count) commands") }
                try await Task.sleep(for: .milliseconds(2))
            }
            let commands = committed.all.count
            let achieved = Double(commands) / ((clock.now - started) / .seconds(1))
            progress.done(String(format: "%d commands at %.0f/s (half of %.0f/s)", commands, rate, rate * 2))
            return runtime.projections.map { projection in
                let latencies = lags[projection.name] ?? Latencies()
                var figure = Figure(figure: String(format: "lag to %@ (%.0f commands/s)", projection.name, achieved), value: latencies.ms(99),
                                    unit: "ms p99", target: "≤ 100 ms")
                latencies.annotate(&figure)
                return figure
            }
        }
    }

    /// Every live read model's checkpoint: the cheapest look, for polling.
    func checkpoints() async throws -> [(name: String, checkpoint: Checkpoint)] {
        var result: [(name: String, checkpoint: Checkpoint)] = []
        for try await (name, transaction, position) in try await store.client.query(
            "SELECT projection, transaction_id, position FROM projection_checkpoints WHERE live", logger: logger
        ).decode((String, Int64, Int64).self) {
            result.append((name, Checkpoint(transactionId: transaction, position: position)))
        }
        return result
    }

    // MARK: A history

    func history() async throws -> [Figure] {
        var figures: [Figure] = []
        let clock = ContinuousClock()
        var started = clock.now

        // Bulk import of the generated history, then a raw COPY of the same rows.
        let generator = HistoryGenerator(seed: 42, pools: options.pools, applicationsPerPool: options.applicationsPerPool)
        let (imported, importRate) = try await importHistory(generator, label: "import")
        let copyRate = try await rawCopy(transaction: imported.transactionId)
        figures.append(Figure(figure: "bulk import (COPY, \(imported.events) events)", value: importRate, unit: "events/s", baseline: copyRate,
                              baselineName: "raw COPY", ratio: importRate / copyRate, target: "≥ 0.7 and ≥ 100,000/s"))

        // A million rows just inserted get autovacuumed within a minute or
        // so, at a moment that falls in one read or another from run to run.
        // Vacuumed now, untimed, every read below finds the table settled,
        // as a server does some minutes after an import.
        let settling = Progress(label: "VACUUM (ANALYZE) events")
        settling.show("untimed, so autovacuum does not run during the reads")
        started = clock.now
        try await store.client.query("VACUUM (ANALYZE) events", logger: logger)
        settling.done(String(format: "%.1f s", (clock.now - started) / .seconds(1)))

        let (catchUpFigures, read) = try await catchUp()
        figures += catchUpFigures

        // Verification of every chain.
        started = clock.now
        let verifyProgress = Progress(label: "verify")
        let report = try await Verifier(store: store).verify { checked, _ in verifyProgress.show("\(checked) events") }
        let verifyRate = Double(report.eventsChecked) / ((clock.now - started) / .seconds(1))
        verifyProgress.done(String(format: "%lld events, %.0f/s, %@", report.eventsChecked, verifyRate, report.ok ? "intact" : "BROKEN"))
        figures.append(Figure(figure: "verify", value: verifyRate, unit: "events/s", target: "≥ 200,000/s"))

        figures += try await checkpointsAndProofs()

        // Rebuild every read model in a process of its own, as an operator
        // runs it: its peak memory is then the rebuild's alone (in this
        // process the imports and reads before it leave 300+ MB resident).
        if let executable = options.serverExecutable {
            Progress(label: "rebuild --all").show("in a process of its own")
            let rebuild = try await Self.runMeasured(executable, ["rebuild", "--all"])
            let rebuildRate = Double(read * allProjections.count) / rebuild.seconds
            figures.append(Figure(figure: "rebuild --all (\(allProjections.count) read models × \(read) events)", value: rebuildRate,
                                  unit: "events/s", target: "≥ 50,000/s"))
            figures.append(Figure(figure: "peak memory of the rebuild --all process", value: rebuild.peakMB, unit: "MB", target: "≤ 300 MB"))
        }

        // As-of replay of one pool with a long history of its own.
        _ = try await importHistory(HistoryGenerator(seed: 7, pools: 1, applicationsPerPool: options.bigPoolApplications), label: "import big pool")
        let largest = try await largestPool()
        started = clock.now
        let state = try await AsOfReplay(store: store).pool(largest, asOf: Date(), basis: .recorded)
        let replaySeconds = (clock.now - started) / .seconds(1)
        Progress(label: "as-of replay").done(String(format: "%d events of one pool in %.2f s", state.eventsApplied, replaySeconds))
        figures.append(Figure(figure: "as-of replay, one pool of \(state.eventsApplied) events", value: replaySeconds * 1_000, unit: "ms"))
        if let executable = options.serverExecutable {
            figures += try await LedgerPageWorkload(benchmark: self, server: URL(fileURLWithPath: executable)).run(pool: largest)
        }
        return figures
    }

    /// A signed checkpoint of the whole history (read every event's hash in
    /// commit order, build the Merkle root, sign), beside a raw read of the
    /// same hashes; then one grant's proof, its size, and its offline check.
    func checkpointsAndProofs() async throws -> [Figure] {
        let clock = ContinuousClock()
        let tree = HistoryTree(store: store)
        let signer = CheckpointSigner(key: .init())
        let progress = Progress(label: "signed checkpoint")
        progress.show("Merkle root of every event, signed")
        var started = clock.now
        let checkpoint = try await tree.signCheckpoint(with: signer)
        let signSeconds = (clock.now - started) / .seconds(1)
        started = clock.now
        var raw = 0
        for try await _ in try await store.client.query(
            "SELECT hash FROM events WHERE transaction_id < pg_snapshot_xmax(pg_current_snapshot()) ORDER BY transaction_id, global_position",
            logger: logger
        ).decode(Data.self) { raw += 1 }
        let rawSeconds = (clock.now - started) / .seconds(1)
        progress.done(String(format: "%lld events in %.2f s; raw SELECT of their hashes %.2f s", checkpoint.size, signSeconds, rawSeconds))

        var grant = ""
        for try await stream in try await store.client.query(
            "SELECT stream_id FROM streams WHERE stream_id LIKE 'grant-%' ORDER BY version DESC LIMIT 1", logger: logger
        ).decode(String.self) { grant = stream }
        started = clock.now
        let bundle = try await tree.proof(of: grant, against: checkpoint)
        let proofSeconds = (clock.now - started) / .seconds(1)
        let bytes = try JSONEncoder().encode(bundle).count
        started = clock.now
        let failures = bundle.failures(trusting: signer.publicKey)
        let checkSeconds = (clock.now - started) / .seconds(1)
        Progress(label: "grant proof").done(String(format: "%d events in %.2f s, %d bytes, checked offline in %.2f ms: ",
                                                   bundle.events.count, proofSeconds, bytes, checkSeconds * 1_000)
                                            + (failures.isEmpty ? "holds" : "FAILS: \(failures)"))
        let rate = Double(checkpoint.size) / signSeconds, rawRate = Double(raw) / rawSeconds
        return [
            Figure(figure: "signed checkpoint (\(checkpoint.size) events)", value: rate, unit: "events/s", baseline: rawRate,
                   baselineName: "raw SELECT of the hashes", ratio: rate / rawRate, target: "≥ 0.3"),
            Figure(figure: "one grant's proof (\(bundle.events.count) events, \(bytes) bytes) at \(checkpoint.size) events",
                   value: proofSeconds * 1_000, unit: "ms"),
            Figure(figure: "that proof checked offline", value: checkSeconds * 1_000, unit: "ms"),
        ]
    }

    /// The history workloads in a `grantledger bench --only history` process
    /// of its own, on a database of its own, when other workloads ran in
    /// this one: a catch-up or a verify runs in a worker or a command that
    /// starts fresh, not in a process the workloads before it have used (its
    /// heap, its connections), and the figures are then of the generated
    /// history alone, not also of the 250,000 or so events the other
    /// workloads left. Nil when they should run here.
    func historyInOwnProcess() async throws -> [Figure]? {
        guard options.workloads != ["history"], let executable = options.serverExecutable,
              let url = ProcessInfo.processInfo.environment["DATABASE_URL"], var components = URLComponents(string: url) else { return nil }
        let database = "grantledger_bench_history_\(tag)"
        components.path = "/" + database
        guard let historyURL = components.string else { return nil }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-bench-\(tag)-history.json")
        try await store.client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
        let outcome: Result<[Figure], any Error>
        do {
            Progress(label: "history").done("in a process of its own, on database \(database)")
            _ = try await Self.runMeasured(executable, [
                "bench", "--only", "history", "--part-of-run", "--output", output.path, "--pools", "\(options.pools)",
                "--applications", "\(options.applicationsPerPool)", "--big-pool-applications", "\(options.bigPoolApplications)",
            ], environment: ["DATABASE_URL": historyURL])
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            outcome = .success(try decoder.decode(BenchReport.self, from: Data(contentsOf: output)).figures)
        } catch {
            outcome = .failure(error)
        }
        try? FileManager.default.removeItem(at: output)
        // Not WITH (FORCE): the process has exited, so only autovacuum may
        // be working there, and FORCE refuses to end a worker of a role the
        // bench's is not (42501), where a plain DROP ends it and waits.
        do {
            try await store.client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database)"), logger: logger)
        } catch {
            Progress(label: "history").done("database \(database) left behind: \(String(reflecting: error))")
        }
        return try outcome.get()
    }

    /// The generated history through the store's COPY import. The rate
    /// leaves out the time the generator takes to make the events.
    func importHistory(_ generator: HistoryGenerator, label: String) async throws -> (ImportSummary, Double) {
        let progress = Progress(label: label)
        let clock = ContinuousClock(), started = clock.now
        var generating = Duration.zero
        let summary = try await store.importHistory { history in
            var mark = clock.now
            _ = try await generator.generate(chunkEvents: 5_000) { writes in
                generating += clock.now - mark
                try await history.add(writes)
                mark = clock.now
                progress.show("\(history.events) events")
            }
            generating += clock.now - mark
        }
        let rate = Double(summary.events) / ((clock.now - started - generating) / .seconds(1))
        progress.done(String(format: "%d events in %d streams, %.0f/s (generating them took %.1f s more)",
                             summary.events, summary.streams, rate, generating / .seconds(1)))
        return (summary, rate)
    }

    /// The rows the import wrote, as COPY text in a file, then copied raw into
    /// a table like `events` (same columns, indexes and defaults) in one
    /// transaction: rows per second of the COPY alone.
    func rawCopy(transaction: Int64) async throws -> Double {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-bench-\(tag).copy")
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try FileHandle(forWritingTo: file)
        var after: Int64 = 0, rows = 0
        var buffer = Data()
        while true {
            var page = 0
            for try await (position, line) in try await store.client.execute(CopyLines(transaction: transaction, after: after), logger: logger) {
                buffer.append(contentsOf: line.utf8)
                buffer.append(0x0A)
                after = position
                page += 1
            }
            rows += page
            if buffer.count > 1 << 20 || page < CopyLines.pageSize { try output.write(contentsOf: buffer); buffer.removeAll(keepingCapacity: true) }
            if page < CopyLines.pageSize { break }
        }
        try output.close()

        try await store.client.query("CREATE TABLE bench_import (LIKE events INCLUDING ALL)", logger: logger)
        let clock = ContinuousClock(), started = clock.now
        let input = try FileHandle(forReadingFrom: file)
        try await store.client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            try await connection.copyFrom(table: "bench_import", columns: HistoryImport.eventColumns, logger: logger) { writer in
                while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
            }
            try await connection.query("COMMIT", logger: logger)
        }
        let rate = Double(rows) / ((clock.now - started) / .seconds(1))
        try input.close()
        try await store.client.query("DROP TABLE bench_import", logger: logger)
        Progress(label: "raw COPY").done(String(format: "%d rows, %.0f/s", rows, rate))
        return rate
    }

    /// Catch-up read: every event in the store decoded into domain events
    /// (on every core, the next page read while one is decoded), against
    /// the same rows by a raw SELECT. Also the events read.
    func catchUp() async throws -> (figures: [Figure], events: Int) {
        let clock = ContinuousClock()
        var started = clock.now
        var read = 0, decoding = Duration.zero
        var after = Checkpoint.start
        var reader = PageReader(store: store, pageSize: 5_000)
        while true {
            let page = try await reader.page(after: after)
            guard let through = page.through else { break }
            let decodeStarted = clock.now
            _ = try await EventCoding.decodeInParallel(page.events.filter { !$0.type.hasPrefix("Bench") }, among: EventCoding.allEventTypes) {
                ($0.type, $0.schemaVersion, $0.data)
            }
            decoding += clock.now - decodeStarted
            read += page.rowsRead
            after = through
        }
        let readRate = Double(read) / ((clock.now - started) / .seconds(1))
        let decodeRate = Double(read) / (decoding / .seconds(1))
        started = clock.now
        let raw = try await rawSelect()
        let rawRate = Double(raw) / ((clock.now - started) / .seconds(1))
        Progress(label: "catch-up read").done(String(format: "%d events, %.0f/s decoded (decoding alone %.0f/s); raw SELECT %.0f rows/s",
                                                    read, readRate, decodeRate, rawRate))
        return ([Figure(figure: "catch-up read, decoded", value: readRate, unit: "events/s", baseline: rawRate, baselineName: "raw SELECT",
                        ratio: readRate / rawRate, target: "≥ 0.6 and ≥ 200,000/s"),
                 Figure(figure: "of which decoding alone (payload decoder, every core)", value: decodeRate, unit: "events/s")], read)
    }

    /// The same rows as the catch-up read, in the same order and pages, by a
    /// prepared statement decoded to plain columns only.
    func rawSelect() async throws -> Int {
        var count = 0
        var after = (transaction: Int64(0), position: Int64(0))
        while true {
            var page = 0
            for try await row in try await store.client.execute(RawPage(transaction: after.transaction, position: after.position), logger: logger) {
                after = (row.1, row.0)
                page += 1
            }
            count += page
            if page < 5_000 { return count }
        }
    }

    func largestPool() async throws -> UUID {
        let rows = try await store.client.query("""
            SELECT substr(stream_id, 6)::uuid FROM streams WHERE stream_id LIKE 'pool-%' ORDER BY version DESC LIMIT 1
            """, logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        return UUID()
    }
}

/// Thrown by a measured operation when its work has run out: the writer stops.
struct NoMoreWork: Error {}

/// A shared count for concurrent writers.
final class Counter: Sendable {
    private let state = Mutex(0)
    var value: Int { state.withLock { $0 } }
    @discardableResult func increment(by amount: Int = 1) -> Int { state.withLock { $0 += amount; return $0 } }
}

/// Commands' checkpoints and when their commits were acknowledged, in the order they finished.
final class Commits: Sendable {
    private let state = Mutex<[(checkpoint: Checkpoint, at: ContinuousClock.Instant)]>([])
    var all: [(checkpoint: Checkpoint, at: ContinuousClock.Instant)] { state.withLock { $0 } }
    func add(_ checkpoint: Checkpoint, at instant: ContinuousClock.Instant) { state.withLock { $0.append((checkpoint, instant)) } }
}

/// One transaction's events as lines of COPY text, rendered by PostgreSQL.
struct CopyLines: PostgresPreparedStatement {
    static let pageSize = 10_000
    static let sql = """
        SELECT global_position, concat_ws(E'\\t', event_id, replace(stream_id, '\\', '\\\\'), stream_version, event_type, schema_version,
               replace(data::text, '\\', '\\\\'), replace(metadata::text, '\\', '\\\\'), occurred_at, recorded_at,
               replace(previous_hash::text, '\\', '\\\\'), replace(hash::text, '\\', '\\\\'))
        FROM events WHERE transaction_id = $1::text::xid8 AND global_position > $2
        ORDER BY global_position LIMIT \(pageSize)
        """
    typealias Row = (Int64, String)

    var transaction: Int64
    var after: Int64

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(String(transaction))
        bindings.append(after)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

/// A page of every event's columns in commit order, as the event store reads them.
struct RawPage: PostgresPreparedStatement {
    static let sql = """
        SELECT global_position, transaction_id::text::int8, event_id, stream_id, stream_version, event_type, schema_version,
               data::text, metadata::text, occurred_at, recorded_at, hash
        FROM events WHERE (events.transaction_id, global_position) > ($1::text::xid8, $2)
          AND events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY events.transaction_id, global_position LIMIT 5000
        """
    typealias Row = (Int64, Int64, UUID, String, Int64, String, Int32, String, String, Date, Date, ByteBuffer)

    var transaction: Int64
    var position: Int64

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(String(transaction))
        bindings.append(position)
        return bindings
    }

    /// Column by column, as the event store decodes its rows: the fastest
    /// way PostgresNIO offers, so the baseline is not slowed by a tuple decode.
    func decodeRow(_ row: PostgresRow) throws -> Row {
        var cells = row.makeIterator()
        func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
            guard let cell = cells.next() else { throw PostgresDecodingError.Code.missingData }
            return try cell.decode(T.self)
        }
        return (try next(Int64.self), try next(Int64.self), try next(UUID.self), try next(String.self), try next(Int64.self),
                try next(String.self), try next(Int32.self), try next(String.self), try next(String.self), try next(Date.self),
                try next(Date.self), try next(ByteBuffer.self))
    }
}

extension Benchmark {
    /// Runs `grantledger arguments` to its end, with `extra` added to this
    /// process's environment; its wall time and peak resident memory,
    /// VmHWM read from /proc every 100 ms while it runs.
    /// (wait4's ru_maxrss would count this process's pages too: the spawned
    /// child shares them until exec, and Linux keeps that high-water mark.)
    /// The wait runs on a thread of its own, not on the concurrency pool.
    static func runMeasured(_ executable: String, _ arguments: [String],
                            environment extra: [String: String] = [:]) async throws -> (seconds: Double, peakMB: Double) {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let environment = ProcessInfo.processInfo.environment.merging(["LOG_LEVEL": "error"].merging(extra) { $1 }) { $1 }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let clock = ContinuousClock(), started = clock.now
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, nil, nil, argv, envp)
        guard spawned == 0 else { throw BenchFailure("could not start \(executable): \(String(cString: strerror(spawned)))") }
        let child = pid
        let (status, peakKB) = await withCheckedContinuation { (done: CheckedContinuation<(Int32, Double), Never>) in
            Thread {
                var status: Int32 = 0
                var peakKB = 0.0
                while true {
                    peakKB = max(peakKB, highWaterMarkKB(child) ?? 0)
                    let waited = waitpid(child, &status, WNOHANG)
                    if waited == child || (waited == -1 && errno != EINTR) { break }
                    usleep(100_000)
                }
                done.resume(returning: (status, peakKB))
            }.start()
        }
        // Exited (low 7 bits 0) with status 0 (the next 8 bits).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw BenchFailure("grantledger \(arguments.joined(separator: " ")) failed (wait status \(status))")
        }
        return ((clock.now - started) / .seconds(1), peakKB / 1024)
    }

    /// A running process's peak resident memory so far (VmHWM), in kB.
    static func highWaterMarkKB(_ pid: pid_t) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Double(line.split(separator: " ").dropFirst().first ?? "")
    }
}
