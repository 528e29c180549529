import EventStore
import Foundation
import GrantCommands
import GrantDomain
import PostgresNIO
import Programmes
import Projections
import Testing

/// Read models apply a batch set-based, a statement per event type and round
/// (or summed, for pool money). A batch holding several events of one stream
/// must still read as if its events had been applied one by one.
@Suite("Set-based batches keep each stream's order")
struct BatchTests {
    @Test("amendments, a resubmission, a withdrawal and a rejection in one batch read as applied one by one", .timeLimit(.minutes(3)))
    func streamsInOneBatch() async throws {
        try await FreshDatabase.with { store, url in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            let (call, pool) = try await Self.aCall(store)
            let (amended, rejected, waiting, meeting) = (UUID(), UUID(), UUID(), UUID())
            // One append, so one batch: three streams, up to six events each.
            try await store.append([
                Self.write(amended, [
                    ("ApplicationDrafted", Self.drafted(amended, call, pool, leader: "first-leader", partners: ["Aalborg Universitet"], students: 600, day: 1)),
                    ("ApplicationAmended", #"{"version": 2, "content": \#(Self.content(title: "Robots", leader: "new-leader", partners: ["Y", "Z"], students: nil)), "occurredAt": "2024-06-02T10:00:00.000Z"}"#),
                    ("ApplicationSubmitted", #"{"checks": [], "version": 2, "occurredAt": "2024-06-03T10:00:00.000Z"}"#),
                    ("ApplicationAmended", #"{"version": 3, "content": \#(Self.content(title: "Robots, resubmitted", leader: "new-leader", partners: ["Y", "Z"], students: nil)), "occurredAt": "2024-06-04T10:00:00.000Z"}"#),
                    ("ApplicationSubmitted", #"{"checks": [], "version": 3, "occurredAt": "2024-06-05T10:00:00.000Z"}"#),
                    ("ApplicationWithdrawn", #"{"reason": "merged with another", "occurredAt": "2024-06-06T10:00:00.000Z"}"#),
                ]),
                Self.write(rejected, [
                    ("ApplicationDrafted", Self.drafted(rejected, call, pool, leader: "b", partners: [], students: 10, day: 1)),
                    ("ApplicationSubmitted", #"{"checks": [], "version": 1, "occurredAt": "2024-06-02T10:00:00.000Z"}"#),
                    ("ApplicationRejected", #"{"meetingId": "\#(meeting.uuidString)", "version": 1, "reason": "out of scope", "occurredAt": "2024-06-07T10:00:00.000Z"}"#),
                ]),
                Self.write(waiting, [
                    ("ApplicationDrafted", Self.drafted(waiting, call, pool, leader: "c", partners: ["P"], students: nil, day: 2)),
                    ("ApplicationSubmitted", #"{"checks": [], "version": 1, "occurredAt": "2024-06-03T10:00:00.000Z"}"#),
                ]),
            ])
            try await WorkerTests.withWorkers(url) { _ = try await FreshDatabase.waitUntilCaughtUp(store) }

            let rows = try await Self.applications(store, [amended, rejected, waiting])
            #expect(rows[amended] == Row(status: "withdrawn", version: 3, title: "Robots, resubmitted", leader: "new-leader", partners: ["Y", "Z"],
                                         students: nil, reason: "merged with another", meeting: nil, submitted: "2024-06-05"))
            #expect(rows[rejected] == Row(status: "rejected", version: 1, title: "Project", leader: "b", partners: [],
                                          students: 10, reason: "out of scope", meeting: meeting, submitted: "2024-06-02"))
            #expect(rows[waiting] == Row(status: "submitted", version: 1, title: "Project", leader: "c", partners: ["P"],
                                         students: nil, reason: nil, meeting: nil, submitted: "2024-06-03"))
            // Only the application still waiting for a decision is on an agenda; the withdrawn one was resubmitted at version 3 first.
            let agenda = try await store.client.query("""
                SELECT application_id FROM read.agenda_items WHERE application_id IN (\(amended), \(rejected), \(waiting))
                """).decode(UUID.self).reduce(into: []) { $0.append($1) }
            #expect(agenda == [waiting])
            #expect(try await FreshDatabase.count("SELECT version FROM read.agenda_applications WHERE application_id = '\(amended)'", store) == 3)
            try await FreshDatabase.expectNoDrift(store)
        }
    }

    struct Row: Equatable {
        var status: String, version: Int, title: String, leader: String, partners: [String], students: Int?
        var reason: String?, meeting: UUID?, submitted: String
    }

    static func applications(_ store: EventStore, _ ids: [UUID]) async throws -> [UUID: Row] {
        var rows: [UUID: Row] = [:]
        for try await (id, status, version, title, leader, partners, students, reason, meeting, submitted) in try await store.client.query("""
            SELECT application_id, status, version, title, project_leader, partners, students_reached, decision_reason, meeting_id,
                   to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
            FROM read.applications WHERE application_id = ANY(\(ids))
            """).decode((UUID, String, Int, String, String, [String], Int?, String?, UUID?, String).self) {
            rows[id] = Row(status: status, version: version, title: title, leader: leader, partners: partners, students: students,
                           reason: reason, meeting: meeting, submitted: submitted)
        }
        return rows
    }

    static func aCall(_ store: EventStore) async throws -> (call: String, pool: String) {
        for try await (call, pool) in try await store.client.query("""
            SELECT data ->> 'callId', data ->> 'poolId' FROM events WHERE event_type = 'CallOpened' ORDER BY global_position LIMIT 1
            """).decode((String, String).self) {
            return (call, pool)
        }
        throw CancellationError()
    }

    static func write(_ id: UUID, _ events: [(type: String, data: String)]) throws -> StreamWrite {
        StreamWrite(stream: try StreamID(ApplicationState.streamName(id)), expected: .noStream,
                    events: events.map { NewEvent(type: $0.type, data: $0.data, occurredAt: Date()) })
    }

    static func drafted(_ id: UUID, _ call: String, _ pool: String, leader: String, partners: [String], students: Int?, day: Int) -> String {
        #"{"applicationId": "\#(id.uuidString)", "callId": "\#(call)", "poolId": "\#(pool)", "content": \#(content(title: "Project", leader: leader, partners: partners, students: students)), "occurredAt": "2024-06-0\#(day)T10:00:00.000Z"}"#
    }

    static func content(title: String, leader: String, partners: [String], students: Int?) -> String {
        let partnerList = partners.map { "\"\($0)\"" }.joined(separator: ", ")
        return #"{"organisation": "Skole", "projectLeader": "\#(leader)", "partners": [\#(partnerList)], "title": "\#(title)", "description": "d", "focusAreas": ["undervisningsindhold"], "requested": {"amount": "100000.00", "currency": "DKK"}, "budget": [], "expectedOutcomes": ""\#(students.map { ", \"studentsReached\": \($0)" } ?? "")}"#
    }
}
