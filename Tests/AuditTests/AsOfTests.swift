import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
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
            let context = CommandContext(actor: "admin:test", role: "admin")
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
