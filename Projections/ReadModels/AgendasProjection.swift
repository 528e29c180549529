import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Steering-group agendas: submitted applications awaiting a decision, per
/// group, and the meetings held. The `agenda_*` helper tables remember which
/// group decides which pool and call, and what each application asks for.
public struct AgendasProjection: Projection {
    public init() {}
    public let name = ReadModelName.agendas.rawValue
    public let tables = ["agenda_pools", "agenda_calls", "agenda_applications", "agenda_items", "meetings"]
    public let eventTypes = Set(Self.typeOrder)
    public let schema = """
        CREATE TABLE agenda_pools (pool_id uuid PRIMARY KEY, steering_group_id uuid NOT NULL);
        CREATE TABLE agenda_calls (call_id uuid PRIMARY KEY, pool_id uuid NOT NULL);
        CREATE TABLE agenda_applications (
            application_id uuid PRIMARY KEY, call_id uuid NOT NULL, organisation text NOT NULL, title text NOT NULL,
            requested bigint NOT NULL, currency text NOT NULL, version integer NOT NULL
        );
        CREATE TABLE agenda_items (
            application_id uuid PRIMARY KEY, steering_group_id uuid NOT NULL, pool_id uuid NOT NULL, call_id uuid NOT NULL,
            organisation text NOT NULL, title text NOT NULL, requested bigint NOT NULL, currency text NOT NULL,
            version integer NOT NULL, submitted_at timestamptz NOT NULL
        );
        CREATE INDEX agenda_items_by_group ON agenda_items (steering_group_id, submitted_at);
        CREATE TABLE meetings (
            meeting_id uuid PRIMARY KEY, steering_group_id uuid NOT NULL, held_at timestamptz NOT NULL,
            present text[] NOT NULL, agenda uuid[] NOT NULL, decisions integer NOT NULL DEFAULT 0
        );
        CREATE INDEX meetings_by_group ON meetings (steering_group_id, held_at);
        """

    /// Every type; pools and calls first, as submissions read them (see ``Rounds``).
    static let typeOrder = [
        PoolCreated.eventType, CallOpened.eventType, ApplicationDrafted.eventType, ApplicationAmended.eventType,
        ApplicationSubmitted.eventType, ApplicationWithdrawn.eventType, ApplicationApproved.eventType, ApplicationRejected.eventType,
        ApplicationReturnedForRevision.eventType, MeetingHeld.eventType, MeetingAttendanceChanged.eventType, MeetingAgendaChanged.eventType,
        DecisionRecorded.eventType,
    ]

    /// A statement per event type and round (see ``Rounds``); pools, calls
    /// and meetings one by one.
    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await applyInRounds(events, typeOrder: Self.typeOrder) { type, events in
            switch type {
            case ApplicationDrafted.eventType:
                let drafts = try decodeEach(ApplicationDrafted.self, events)
                try await connection.query("""
                    INSERT INTO agenda_applications
                    SELECT d.id, d.call_id, d.organisation, d.title, d.requested, d.currency, 1
                    FROM unnest(\(drafts.map(\.applicationId)), \(drafts.map(\.callId)), \(drafts.map(\.content.organisation)),
                                \(drafts.map(\.content.title)), \(drafts.map(\.content.requested.minorUnits)),
                                \(drafts.map(\.content.requested.currency.code))) AS d(id, call_id, organisation, title, requested, currency)
                    """, logger: logger)
            case ApplicationAmended.eventType:
                let amendments = try decodeEach(ApplicationAmended.self, events)
                try await connection.query("""
                    UPDATE agenda_applications a SET title = m.title, requested = m.requested, version = m.version
                    FROM unnest(\(try events.map { try streamUUID($0.streamId) }), \(amendments.map(\.content.title)),
                                \(amendments.map(\.content.requested.minorUnits)), \(amendments.map(\.version))) AS m(id, title, requested, version)
                    WHERE a.application_id = m.id
                    """, logger: logger)
            case ApplicationSubmitted.eventType:
                let submitted = try decodeEach(ApplicationSubmitted.self, events)
                let ids = try events.map { try streamUUID($0.streamId) }
                // An amendment of a submitted application resubmits it: replace the item.
                try await connection.query("DELETE FROM agenda_items WHERE application_id = ANY(\(ids))", logger: logger)
                try await connection.query("""
                    INSERT INTO agenda_items
                    SELECT a.application_id, p.steering_group_id, c.pool_id, a.call_id, a.organisation, a.title, a.requested, a.currency,
                           a.version, s.submitted_at
                    FROM unnest(\(ids), \(submitted.map(\.occurredAt))) AS s(id, submitted_at)
                    JOIN agenda_applications a ON a.application_id = s.id JOIN agenda_calls c USING (call_id) JOIN agenda_pools p USING (pool_id)
                    """, logger: logger)
            case ApplicationWithdrawn.eventType, ApplicationApproved.eventType, ApplicationRejected.eventType, ApplicationReturnedForRevision.eventType:
                try await connection.query("""
                    DELETE FROM agenda_items WHERE application_id = ANY(\(try events.map { try streamUUID($0.streamId) }))
                    """, logger: logger)
            case DecisionRecorded.eventType:
                let decisions = Dictionary(grouping: try decodeEach(DecisionRecorded.self, events), by: \.meetingId).mapValues(\.count)
                try await connection.query("""
                    UPDATE meetings m SET decisions = m.decisions + d.count
                    FROM unnest(\(Array(decisions.keys)), \(Array(decisions.values))) AS d(id, count)
                    WHERE m.meeting_id = d.id
                    """, logger: logger)
            default:
                try await forEach(events) { try await applyOne($0, connection, logger) }
            }
        }
    }

    private func applyOne(_ event: RecordedEvent, _ connection: PostgresConnection, _ logger: Logger) async throws {
        switch event.type {
        case PoolCreated.eventType:
            let pool = try decode(PoolCreated.self, event)
            try await connection.query("INSERT INTO agenda_pools VALUES (\(pool.poolId), \(pool.steeringGroupId))", logger: logger)
        case CallOpened.eventType:
            let call = try decode(CallOpened.self, event)
            try await connection.query("INSERT INTO agenda_calls VALUES (\(call.callId), \(call.poolId))", logger: logger)
        case MeetingHeld.eventType:
            let meeting = try decode(MeetingHeld.self, event)
            try await connection.query("""
                INSERT INTO meetings (meeting_id, steering_group_id, held_at, present, agenda)
                VALUES (\(meeting.meetingId), \(meeting.groupId), \(meeting.occurredAt), \(meeting.present), \(meeting.agenda))
                """, logger: logger)
        case MeetingAttendanceChanged.eventType:
            let changed = try decode(MeetingAttendanceChanged.self, event)
            try await connection.query("UPDATE meetings SET present = \(changed.present) WHERE meeting_id = \(changed.meetingId)", logger: logger)
        case MeetingAgendaChanged.eventType:
            let changed = try decode(MeetingAgendaChanged.self, event)
            try await connection.query("UPDATE meetings SET agenda = \(changed.agenda) WHERE meeting_id = \(changed.meetingId)", logger: logger)
        default:
            break
        }
    }
}
