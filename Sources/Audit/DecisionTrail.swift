import EventCoding
import EventStore
import Foundation
import GrantDomain

/// Everything behind one application's funding decision, from the events
/// themselves: the call, the application's versions and eligibility checks,
/// each meeting that took it up (attendance, quorum, votes, recusals and why),
/// the decision, the money committed from which sources, and every later
/// change to the grant and its payments.
public struct DecisionTrail: Encodable, Sendable {
    public struct Meeting: Encodable, Sendable {
        public var meetingId: UUID
        public var held: HistoryEntry?
        /// Who was present and what was on the agenda, as changed after scheduling.
        public var changes: [HistoryEntry]
        /// The decisions on this application at the meeting.
        public var decisions: [HistoryEntry]
    }
    public struct Summary: Encodable, Sendable {
        public var status: String
        public var outcome: JSONValue?
        public var meetingId: JSONValue?
        public var decidedAt: Date?
        public var decidedBy: JSONValue?
        public var present: JSONValue?
        public var quorum: JSONValue?
        public var eligibleVoters: JSONValue?
        public var votes: JSONValue?
        public var recused: JSONValue?
        public var amount: JSONValue?
        public var sources: JSONValue?
        public var conditions: JSONValue?
    }
    public var applicationId: UUID
    public var summary: Summary
    public var call: [HistoryEntry]
    public var application: [HistoryEntry]
    public var meetings: [Meeting]
    public var grant: [HistoryEntry]
    /// The pool's money movements for this grant: commitment, releases, payments, repayments.
    public var poolMovements: [HistoryEntry]
}

extension History {
    public func decisionTrail(applicationId: UUID) async throws -> DecisionTrail {
        let application = try await everything(ApplicationState.streamName(applicationId))
        guard let drafted = application.first(where: { $0.type == ApplicationDrafted.eventType }) else {
            throw AuditError.notFound(kind: "application", id: applicationId.uuidString)
        }
        let callId = drafted.data["callId"]?.stringValue.flatMap(UUID.init(uuidString:))
        let poolId = drafted.data["poolId"]?.stringValue.flatMap(UUID.init(uuidString:))
        let call = if let callId { try await everything(CallState.streamName(callId)) } else { [HistoryEntry]() }

        var meetingIds: [UUID] = []
        for event in application {
            if let id = event.data["meetingId"]?.stringValue.flatMap(UUID.init(uuidString:)), !meetingIds.contains(id) { meetingIds.append(id) }
        }
        var meetings: [DecisionTrail.Meeting] = []
        for id in meetingIds {
            let events = try await everything(MeetingState.streamName(id))
            meetings.append(.init(meetingId: id, held: events.first { $0.type == MeetingHeld.eventType },
                                  changes: Self.meetingChanges(events, about: applicationId),
                                  decisions: events.filter { $0.type == DecisionRecorded.eventType && $0.data["applicationId"]?.stringValue == applicationId.uuidString }))
        }
        let grant = try await everything(GrantState.streamName(applicationId))
        var movements: [HistoryEntry] = []
        if let poolId {
            movements = try await everything(PoolState.streamName(poolId)).filter { $0.data["grantId"]?.stringValue == applicationId.uuidString }
        }

        let decision = meetings.flatMap(\.decisions).last
        // Present when the decision was recorded: as scheduled, or as last changed before it.
        let meeting = meetings.first { $0.meetingId.uuidString == decision?.data["meetingId"]?.stringValue }
        let attendance = ((meeting?.held).map { [$0] } ?? []) + (meeting?.changes ?? []).filter { $0.type == MeetingAttendanceChanged.eventType }
        let present = attendance.last { $0.streamVersion < decision?.streamVersion ?? 0 }.flatMap { Self.field("present", of: $0) }
        let awarded = grant.first { $0.type == GrantAwarded.eventType }
        let status = application.last.map { Self.status(after: $0.type) } ?? "unknown"
        let summary = DecisionTrail.Summary(
            status: status, outcome: decision?.data["outcome"], meetingId: decision?.data["meetingId"], decidedAt: decision?.occurredAt,
            decidedBy: decision?.metadata["actor"], present: present, quorum: decision?.data["quorum"],
            eligibleVoters: decision?.data["eligibleVoters"], votes: decision?.data["votes"], recused: decision?.data["recused"],
            amount: awarded?.data["amount"], sources: awarded?.data["sources"], conditions: awarded?.data["conditions"])
        return DecisionTrail(applicationId: applicationId, summary: summary, call: call, application: application, meetings: meetings,
                             grant: grant, poolMovements: movements)
    }

    /// A field as the event's current schema names it: an entry shows what
    /// was stored, at the schema version it was written at.
    private static func field(_ name: String, of entry: HistoryEntry) -> JSONValue? {
        guard let stored = try? JSONEncoder().encode(entry.data),
              let current = try? EventCoding.upcast(type: entry.type, schemaVersion: entry.schemaVersion, data: stored) else { return entry.data[name] }
        return JSONValue(json: String(decoding: current, as: UTF8.self))[name]
    }

    /// A meeting's changes of attendance, and the changes of its agenda that
    /// put this application on it or took it off.
    private static func meetingChanges(_ events: [HistoryEntry], about applicationId: UUID) -> [HistoryEntry] {
        let id = applicationId.uuidString.lowercased()
        func holds(_ entry: HistoryEntry) -> Bool {
            if case .array(let items) = entry.data["agenda"] ?? .null { return items.contains { $0.stringValue?.lowercased() == id } }
            return false
        }
        var onAgenda = false
        var changes: [HistoryEntry] = []
        for entry in events {
            switch entry.type {
            case MeetingHeld.eventType:
                onAgenda = holds(entry)
            case MeetingAttendanceChanged.eventType:
                changes.append(entry)
            case MeetingAgendaChanged.eventType where holds(entry) != onAgenda:
                onAgenda.toggle()
                changes.append(entry)
            default:
                break
            }
        }
        return changes
    }

    private static func status(after eventType: String) -> String {
        switch eventType {
        case ApplicationDrafted.eventType, ApplicationAmended.eventType: "draft or amended"
        case ApplicationSubmitted.eventType: "submitted"
        case ApplicationWithdrawn.eventType: "withdrawn"
        case ApplicationApproved.eventType: "approved"
        case ApplicationRejected.eventType: "rejected"
        default: eventType
        }
    }

    /// A whole stream, page by page.
    func everything(_ name: String) async throws -> [HistoryEntry] {
        let stream = try StreamID(name)
        var entries: [HistoryEntry] = []
        while true {
            let page = try await self.stream(stream, after: Int64(entries.count), limit: 5_000)
            entries += page
            if page.count < 5_000 { return entries }
        }
    }
}
