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
                                                            votes: [Vote(member: "m1", vote: .for)], outcome: .approve(.init(amount: dkk("400.00"), period: "2026"))), context)
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
