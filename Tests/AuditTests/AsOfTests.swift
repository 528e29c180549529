import Audit
import EventCoding
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Programmes
import Testing

@Suite("As-of replay")
struct AsOfTests {
    @Test("For a randomized history, the state as of each event's recording equals the state right after that event")
    func asOfEachEvent() async throws {
        try await AuditDatabase.with { store, _ in
            try await HistoryGenerator(seed: 7, pools: 2, applicationsPerPool: 40).generate(chunkEvents: 300) { writes in
                try await store.append(writes)
            }
            let replay = AsOfReplay(store: store)
            var checked = 0
            for try await id in try await store.client.query("SELECT DISTINCT substr(stream_id, 6)::uuid FROM events WHERE stream_id LIKE 'pool-%'").decode(UUID.self) {
                let events = try await store.readStream(try StreamID(PoolState.streamName(id)))
                #expect(events.count > 10)
                // The state right after each event, folded one event at a time.
                var state = PoolState.initial
                var after: [PoolState] = []
                for event in events {
                    state = state.evolve(try EventCoding.decode(type: event.type, schemaVersion: event.schemaVersion, data: event.data,
                                                                among: PoolState.eventTypes))
                    after.append(state)
                }
                for (index, event) in events.enumerated() {
                    // Events recorded in the same append share a time: the state then is after the last of them.
                    let last = events.lastIndex { $0.recordedAt <= event.recordedAt }!
                    let (_, recorded) = try await replay.replay(PoolState.self, id, asOf: event.recordedAt, basis: .recorded)
                    #expect(recorded == after[last], "pool \(id) as of event \(index)")
                    checked += 1
                }
                let before = try await replay.pool(id, asOf: events[0].recordedAt.addingTimeInterval(-1), basis: .recorded)
                #expect(!before.exists && before.eventsApplied == 0)
            }
            #expect(checked > 50)
        }
    }

    @Test("A pool of more pages than one replays, on either clock, to the fold of its whole stream")
    func asOfAcrossPages() async throws {
        try await AuditDatabase.with { store, _ in
            let generator = HistoryGenerator(seed: 11, pools: 1, applicationsPerPool: 3_000)
            _ = try await store.importHistory { history in
                _ = try await generator.generate(chunkEvents: 5_000) { try await history.add($0) }
            }
            var pool: UUID?
            for try await id in try await store.client.query("SELECT substr(stream_id, 6)::uuid FROM streams WHERE stream_id LIKE 'pool-%'").decode(UUID.self) {
                pool = id
            }
            let id = try #require(pool)
            let events = try await store.readStream(try StreamID(PoolState.streamName(id)))
            #expect(events.count > 5_000, "more than one page of 5,000")
            let decoded = try events.map { try EventCoding.decode(type: $0.type, schemaVersion: $0.schemaVersion, data: $0.data, among: PoolState.eventTypes) }
            let replay = AsOfReplay(store: store)

            let now = try await replay.pool(id, asOf: Date(), basis: .recorded)
            let (_, recorded) = try await replay.replay(PoolState.self, id, asOf: Date(), basis: .recorded)
            // Compared as a Bool: a failure prints the message, not two pools of thousands of commitments.
            let recordedMatches = recorded == PoolState.replay(decoded)
            #expect(recordedMatches, "recorded, as of now: not the fold of the whole stream")
            #expect(now.eventsApplied == events.count && now.lastPosition == events.map(\.position).max())

            // Occurred: a cut in the middle of the programme's years, folded in the order things happened.
            let occurredTimes = events.map(\.occurredAt).sorted()
            let middle = occurredTimes[occurredTimes.count / 2]
            let inOrder = zip(events, decoded).filter { $0.0.occurredAt <= middle }
                .sorted { ($0.0.occurredAt, $0.0.streamVersion) < ($1.0.occurredAt, $1.0.streamVersion) }
            let (counted, occurred) = try await replay.replay(PoolState.self, id, asOf: middle, basis: .occurred)
            let occurredMatches = occurred == PoolState.replay(inOrder.map(\.1))
            #expect(occurredMatches, "occurred, as of \(middle): not the fold of what had occurred, in order")
            #expect(counted.events == inOrder.count && counted.events < events.count)
            #expect(counted.lastPosition == inOrder.map(\.0.position).max())
        }
    }

    @Test("A decision recorded late shows under occurred, not under recorded, for the times in between")
    func lateDecision() async throws {
        try await AuditDatabase.with { store, _ in
            let handler = CommandHandler(store: store)
            let context = CommandContext(actor: "admin:test", role: "admin", actingAs: .unrestricted)
            let dayAgo = Date().addingTimeInterval(-86_400)
            let group = UUID(), pool = UUID(), call = UUID(), application = UUID(), meeting = UUID()
            let dkk = { (text: String) in try! Money(text, .dkk) }
            try await handler.createSteeringGroup(CreateSteeringGroup(groupId: group, name: "g", members: [Member(id: "m1", name: "M", affiliations: [])], at: dayAgo), context)
            try await handler.createPool(CreatePool(poolId: pool, name: "p", owner: "o", currency: .dkk, carryOver: .lapse,
                                                    periods: [BudgetPeriodSpec(period: "2026", amount: dkk("1000.00"))],
                                                    sources: [FundingSourceSpec(id: "s", name: "s", amount: dkk("1000.00"))],
                                                    steeringGroupId: group, eligibility: EligibilityRules(), at: dayAgo), context)
            try await handler.openCall(OpenCall(callId: call, poolId: pool, title: "c", opensAt: dayAgo, closesAt: dayAgo.addingTimeInterval(3_600), cap: nil, at: dayAgo), context)
            let content = ApplicationContent(organisation: "School", projectLeader: "L", title: "T", description: "", requested: dkk("400.00"))
            try await handler.draftApplication(DraftApplication(applicationId: application, callId: call, content: content, at: dayAgo.addingTimeInterval(60)), context)
            try await handler.submitApplication(SubmitApplication(applicationId: application, at: dayAgo.addingTimeInterval(120)), context)
            // The meeting was an hour ago; its decision is entered only now.
            try await handler.holdMeeting(HoldMeeting(meetingId: meeting, groupId: group, date: Date().addingTimeInterval(-3_600), present: ["m1"], agenda: [application]), context)
            let inBetween = Date()
            try await Task.sleep(for: .milliseconds(20))
            try await handler.recordDecision(RecordDecision(meetingId: meeting, applicationId: application, applicationVersion: 1,
                                                            votes: [Vote(member: "m1", vote: .for)], outcome: .approve(.init(amount: dkk("400.00"), period: "2026")), at: Date()), context)
            let replay = AsOfReplay(store: store)
            let recorded = try await replay.pool(pool, asOf: inBetween, basis: .recorded)
            let occurred = try await replay.pool(pool, asOf: inBetween, basis: .occurred)
            #expect(recorded.exists && recorded.committed == dkk("0.00") && recorded.available == dkk("1000.00"))
            #expect(occurred.committed == dkk("400.00") && occurred.available == dkk("600.00"))
            let now = try await replay.pool(pool, asOf: Date(), basis: .recorded)
            #expect(now.committed == dkk("400.00"))
            let grantThen = try await replay.grant(application, asOf: inBetween, basis: .recorded)
            let grantTrue = try await replay.grant(application, asOf: inBetween, basis: .occurred)
            #expect(!grantThen.exists && grantTrue.exists && grantTrue.granted == dkk("400.00"))
        }
    }
}

@Suite("As-of replay of back-dated decisions")
struct BackDatedDecisionTests {
    static let start = Date(timeIntervalSince1970: 1_767_600_000)  // 2026-01-05T08:00:00Z
    static func at(days: Double, hours: Double = 0) -> Date { start.addingTimeInterval(days * 86_400 + hours * 3_600) }
    static func dkk(_ amount: String) -> Money { try! Money(amount, .dkk) }

    /// Every figure of a state the domain could reach: nothing committed or paid below zero, nor beyond what holds it.
    static func reachable(_ pool: PoolState) -> Bool {
        pool.periods.values.allSatisfy { $0.committed >= 0 && $0.paid >= 0 && $0.paid <= $0.committed && $0.committed <= $0.budget }
            && pool.sources.values.allSatisfy { $0.committed >= 0 && $0.paid >= 0 && $0.paid <= $0.committed && $0.committed <= $0.spec.amount.minorUnits }
            && pool.commitments.values.allSatisfy { commitment in commitment.committed.values.allSatisfy { $0 >= 0 } }
    }

    @Test("decisions of a past meeting recorded late: refused where they would need later money or precede what they depend on; replayed on either basis every state is reachable, and both end at the fold in recording order")
    func backDated() async throws {
        try await AuditDatabase.with { store, _ in
            let handler = CommandHandler(store: store)
            let context = CommandContext(actor: "admin", role: "admin", actingAs: .unrestricted)
            let group = UUID(), pool = UUID(), call = UUID()
            let members = [Member(id: "a", name: "A", affiliations: []), Member(id: "b", name: "B", affiliations: [])]
            _ = try await handler.createSteeringGroup(CreateSteeringGroup(groupId: group, name: "G", members: members, at: Self.at(days: 0)), context)
            _ = try await handler.createPool(CreatePool(
                poolId: pool, name: "P", owner: "O", currency: .dkk, carryOver: .lapse,
                periods: [BudgetPeriodSpec(period: "2026", amount: Self.dkk("1000000.00"))],
                sources: [FundingSourceSpec(id: "region", name: "Region", amount: Self.dkk("1500000.00"))],
                steeringGroupId: group, eligibility: EligibilityRules(), at: Self.at(days: 0, hours: 1)), context)
            _ = try await handler.openCall(OpenCall(callId: call, poolId: pool, title: "C", opensAt: Self.at(days: 0, hours: 2),
                                                    closesAt: Self.at(days: 60), cap: nil, at: Self.at(days: 0, hours: 2)), context)
            var applications: [UUID] = []
            for index in 0..<4 {
                let id = UUID()
                let content = ApplicationContent(organisation: "School \(index)", projectLeader: "L", title: "T", description: "",
                                                 requested: Self.dkk("600000.00"))
                _ = try await handler.draftApplication(DraftApplication(applicationId: id, callId: call, content: content, at: Self.at(days: 1)), context)
                _ = try await handler.submitApplication(SubmitApplication(applicationId: id, at: Self.at(days: 1 + Double(index), hours: 3)), context)
                applications.append(id)
            }
            // A meeting dated by day, on day 5; one dated to the instant, before the pool was created.
            let meeting = UUID(), early = UUID()
            _ = try await handler.holdMeeting(HoldMeeting(meetingId: meeting, groupId: group, date: Self.at(days: 5, hours: 10), datedByDay: true,
                                                          present: ["a", "b"], agenda: applications), context)
            _ = try await handler.holdMeeting(HoldMeeting(meetingId: early, groupId: group, date: Self.at(days: 0, hours: 0.5), present: ["a", "b"],
                                                          agenda: applications), context)
            let votes = [Vote(member: "a", vote: .for), Vote(member: "b", vote: .for)]
            func decide(_ application: Int, _ amount: String, at recorded: Date, meeting: UUID = meeting) async throws {
                _ = try await handler.recordDecision(RecordDecision(
                    meetingId: meeting, applicationId: applications[application], applicationVersion: 1, votes: votes,
                    outcome: .approve(.init(amount: Self.dkk(amount), period: "2026", tranches: [TrancheSpec(percent: 100, trigger: .signing)])),
                    at: recorded), context)
            }
            func refused(_ rule: String, _ body: () async throws -> Void) async {
                do {
                    try await body()
                    Issue.record("\(rule): accepted")
                } catch let error as DomainError {
                    #expect(error.rule == rule, "\(error)")
                } catch {
                    Issue.record("\(rule): \(error)")
                }
            }

            await refused("dated-before-dependency") { try await decide(0, "1.00", at: Self.at(days: 5), meeting: early) }
            await refused("meeting-not-yet-held") { try await decide(0, "1.00", at: Self.at(days: 4)) }
            // Application 3 was submitted on day 4; the others earlier: the meeting of day 5 decides them all.
            try await decide(0, "400000.00", at: Self.at(days: 5, hours: 12))
            // Money moves out of 2026 on day 6 (recorded then), a grant gives money back on day 8.
            _ = try await handler.adjustBudget(poolId: pool, .addPeriod(period: "2027", amount: Self.dkk("1.00"), at: Self.at(days: 6)), context)
            _ = try await handler.adjustBudget(poolId: pool, .move(from: "2026", to: "2027", amount: Self.dkk("200000.00"), reason: "", at: Self.at(days: 6)), context)
            _ = try await handler.adjustGrant(AdjustGrant(grantId: applications[0], kind: .reduce(by: Self.dkk("300000.00")), reason: "Smaller",
                                                          at: Self.at(days: 8)), context)
            // Recorded on day 10 for the meeting of day 5: 2026 has 700,000 now, but 300,000 of it came back on day 8.
            await refused("funds-arrived-later") { try await decide(1, "500000.00", at: Self.at(days: 10)) }
            try await decide(1, "400000.00", at: Self.at(days: 10))
            // Dated day 5 it would have left 2026 over-committed once the move of day 6 took 200,000 out.
            await refused("funds-arrived-later") { try await decide(2, "100000.00", at: Self.at(days: 11)) }
            // At a meeting of day 9 it fits.
            let later = UUID()
            _ = try await handler.holdMeeting(HoldMeeting(meetingId: later, groupId: group, date: Self.at(days: 9), datedByDay: true,
                                                          present: ["a", "b"], agenda: [applications[2]]), context)
            try await decide(2, "100000.00", at: Self.at(days: 11), meeting: later)
            let paid = try await handler.requestPayment(RequestPayment(grantId: applications[1], paymentRequestId: UUID(), tranche: 1,
                                                                       requestedBy: "clerk", at: Self.at(days: 12)), context)
            _ = paid

            let replay = AsOfReplay(store: store)
            let events = try await store.readStream(try StreamID(PoolState.streamName(pool)))
            var recordingOrder = PoolState.initial
            for event in events {
                recordingOrder = recordingOrder.evolve(try EventCoding.decode(type: event.type, schemaVersion: event.schemaVersion, data: event.data,
                                                                              among: PoolState.eventTypes))
            }
            #expect(recordingOrder.periods["2026"]?.committed == 600_000_00)
            var instants = Set(events.flatMap { [$0.occurredAt, $0.recordedAt] })
            instants.formUnion(instants.map { $0.addingTimeInterval(-0.001) })
            for instant in instants.sorted() {
                for basis in [TimeBasis.recorded, .occurred] {
                    let (_, state) = try await replay.replay(PoolState.self, pool, asOf: instant, basis: basis)
                    #expect(Self.reachable(state), "\(basis) as of \(CivilTime.format(instant)): \(state.periods) \(state.sources)")
                }
            }
            for basis in [TimeBasis.recorded, .occurred] {
                let (_, now) = try await replay.replay(PoolState.self, pool, asOf: Date(), basis: basis)
                #expect(now.periods == recordingOrder.periods && now.sources == recordingOrder.sources
                        && now.commitments == recordingOrder.commitments && now.committedByCall == recordingOrder.committedByCall, "\(basis)")
            }
            // The grants are dated at the meeting, never before what they depend on.
            let decided = try await store.readStream(try StreamID(GrantState.streamName(applications[3 - 1])))
            #expect(decided.first.map { $0.occurredAt >= Self.at(days: 3, hours: 3) } == true)
        }
    }
}
