import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import NIOCore
import PostgresNIO
import Programmes
import Projections
import Synchronization

/// Commands over many pools, and one hot pool decided on by many writers.
extension Benchmark {
    /// Open calls on pools with room for any number of drafts.
    func setUpCalls(count: Int) async throws -> [UUID] {
        let group = try await createGroup("Bench group")
        var calls: [UUID] = []
        for index in 0..<count {
            calls.append(try await openPoolAndCall("Bench \(index)", group: group).call)
        }
        return calls
    }

    static let admin = CommandContext(actor: "bench", role: "admin", actingAs: .unrestricted)

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
                                                  CommandContext(actor: "bench", role: "applicant", actingAs: .unrestricted))
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
        // 1 MB limit on an event. Scheduled by a handler of their own: the
        // measured one would fold the applications while checking the agenda.
        var meetings: [UUID] = []
        let scheduler = CommandHandler(store: store)
        for start in stride(from: 0, to: agenda.count, by: Self.meetingSize) {
            meetings.append(UUID())
            _ = try await scheduler.holdMeeting(HoldMeeting(meetingId: meetings.last!, groupId: group, date: Date(), present: ["m"],
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
}
