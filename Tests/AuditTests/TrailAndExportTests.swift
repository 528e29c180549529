import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import PostgresNIO
import Programmes
import Testing

@Suite("Decision trails, history, export and event versions")
struct TrailAndExportTests {
    @Test("The decision trail of a demo grant names the meeting, attendance, quorum, votes, recusals, amount, sources and later changes")
    func decisionTrail() async throws {
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            // A grant that was paid: its trail reaches its payments.
            let grant = try await store.client.query("""
                SELECT substr(stream_id, 7)::uuid FROM events WHERE event_type = 'PaymentMarkedPaid' ORDER BY global_position LIMIT 1
                """).decode(UUID.self).first { _ in true }
            let id = try #require(grant)
            let trail = try await History(store: store).decisionTrail(applicationId: id)
            #expect(trail.summary.status == "approved")
            #expect(trail.summary.outcome?.stringValue == "approve")
            #expect(trail.summary.present != nil && trail.summary.quorum != nil && trail.summary.votes != nil && trail.summary.recused != nil)
            #expect(trail.summary.amount?["amount"]?.stringValue != nil && trail.summary.sources != nil)
            #expect(trail.call.first?.type == "CallOpened")
            #expect(trail.application.contains { $0.type == "ApplicationSubmitted" })
            #expect(trail.meetings.first?.held?.type == "MeetingHeld" && trail.meetings.first?.decisions.count == 1)
            #expect(trail.grant.contains { $0.type == "PaymentMarkedPaid" })
            #expect(trail.poolMovements.map(\.type).contains("MoneyCommitted") && trail.poolMovements.map(\.type).contains("PaymentDisbursed"))
            #expect(trail.application.first?.metadata["command"]?.stringValue == "DraftApplication")
            await #expect(throws: AuditError.self) { try await History(store: store).decisionTrail(applicationId: UUID()) }

            // History: one stream by version, and everything in commit order, paged.
            let history = History(store: store)
            let total = Int(try await AuditDatabase.int(store, "SELECT count(*) FROM events"))
            var seen = 0
            var after: Int64 = 0
            // Commit order stops below appends still running in this database: a short page may come before the end.
            // The deadline only guards against a hang.
            let deadline = ContinuousClock.now + .seconds(300)
            while seen < total, ContinuousClock.now < deadline {
                let page = try await history.all(after: after, limit: 25)
                seen += page.count
                if let last = page.last { after = last.position } else { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(seen == total)
            let versions = try await history.stream(try StreamID(PoolState.streamName(Demo.nordjyllandPool)), after: 2, limit: 3).map(\.streamVersion)
            #expect(versions == [3, 4, 5])
        }
    }

    @Test("A pool's export has one row per money movement, with the decision behind each, as CSV and JSON")
    func export() async throws {
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            let pool = Demo.nordjyllandPool
            var csv = ""
            try await FundingExport(store: store, pageSize: 7).write(pool: pool, format: .csv) { csv += $0 }
            let rows = csv.split(separator: "\r\n").dropFirst()
            let moneyEvents = try await AuditDatabase.int(store, """
                SELECT count(*) FROM events WHERE stream_id = 'pool-\(pool.uuidString.lowercased())'
                  AND event_type IN ('MoneyCommitted', 'CommitmentReleased', 'PaymentDisbursed', 'RepaymentReceived', 'BudgetMoved', 'BudgetPeriodAdded', 'BudgetPeriodClosed')
                """)
            let periods = try await AuditDatabase.int(store, """
                SELECT json_array_length(data -> 'periods') FROM events WHERE stream_id = 'pool-\(pool.uuidString.lowercased())' AND stream_version = 1
                """)
            #expect(Int64(rows.count) == moneyEvents + periods)
            let commitments = rows.filter { $0.contains(",commitment,") }
            #expect(!commitments.isEmpty && commitments.allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false)[12].count == 36 },
                    "every commitment names its meeting")
            var json = ""
            try await FundingExport(store: store).write(pool: pool, format: .json) { json += $0 }
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect((object?["movements"] as? [Any])?.count == rows.count)
        }
    }

    @Test("An event written at an old schema version is read at the current one")
    func upcasting() async throws {
        try await AuditDatabase.with { store, _ in
            let meeting = UUID(), group = UUID(), application = UUID()
            // MeetingHeld 1 called the members present `attendees`.
            let old = #"{"agenda":["\#(application.uuidString)"],"attendees":["anna","bo"],"groupId":"\#(group.uuidString)","meetingId":"\#(meeting.uuidString)","occurredAt":"2019-03-14T10:00:00.000Z"}"#
            try await store.append(to: try StreamID(MeetingState.streamName(meeting)), expected: .noStream,
                                   events: [NewEvent(type: "MeetingHeld", schemaVersion: 1, data: old, occurredAt: Date(timeIntervalSince1970: 1_552_557_600))])
            let loaded = try await Session(store: store).load(MeetingState.self, meeting)
            #expect(loaded.state.held?.present == ["anna", "bo"])
            #expect(loaded.state.held?.agenda == [application])
            // A decision there: its trail names who was present, though the meeting's event says `attendees`.
            let decided = Date(timeIntervalSince1970: 1_552_561_200)
            try await store.append(to: try StreamID(ApplicationState.streamName(application)), expected: .noStream, events: [
                NewEvent(type: "ApplicationDrafted", data: #"{"applicationId":"\#(application.uuidString)","callId":"\#(UUID().uuidString)","poolId":"\#(UUID().uuidString)","content":{}}"#,
                         occurredAt: decided),
                NewEvent(type: "ApplicationRejected", data: #"{"meetingId":"\#(meeting.uuidString)","version":1}"#, occurredAt: decided),
            ])
            try await store.append(to: try StreamID(MeetingState.streamName(meeting)), expected: .exactly(1), events: [
                NewEvent(type: "DecisionRecorded", data: #"{"applicationId":"\#(application.uuidString)","meetingId":"\#(meeting.uuidString)","outcome":"reject"}"#,
                         occurredAt: decided),
            ])
            let trail = try await History(store: store).decisionTrail(applicationId: application)
            #expect(trail.summary.present == .array([.string("anna"), .string("bo")]), "\(String(describing: trail.summary.present))")
            // Written today, it is version 2 with `present`.
            let handler = CommandHandler(store: store)
            let context = CommandContext(actor: "admin:test", role: "admin", actingAs: .unrestricted)
            try await handler.createSteeringGroup(CreateSteeringGroup(groupId: group, name: "g", members: [Member(id: "carl", name: "C", affiliations: [])], at: Date()), context)
            let today = UUID()
            try await handler.holdMeeting(HoldMeeting(meetingId: today, groupId: group, date: Date(), present: ["carl"], agenda: []), context)
            let written = try await store.readStream(try StreamID(MeetingState.streamName(today)))
            #expect(written.first?.schemaVersion == 2 && written.first?.data.contains("\"present\"") == true)
            #expect(try await Session(store: store).load(MeetingState.self, today).state.held?.present == ["carl"])
        }
    }
}
