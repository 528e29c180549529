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
    public let name = "agendas"
    public let tables = ["agenda_pools", "agenda_calls", "agenda_applications", "agenda_items", "meetings"]
    public let eventTypes: Set<String> = [
        PoolCreated.eventType, CallOpened.eventType, ApplicationDrafted.eventType, ApplicationAmended.eventType,
        ApplicationSubmitted.eventType, ApplicationWithdrawn.eventType, ApplicationApproved.eventType, ApplicationRejected.eventType,
        ApplicationReturnedForRevision.eventType, MeetingHeld.eventType, DecisionRecorded.eventType,
    ]
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

    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await forEach(events) { event in
            switch event.type {
            case PoolCreated.eventType:
                let pool = try decode(PoolCreated.self, event)
                try await connection.query("INSERT INTO agenda_pools VALUES (\(pool.poolId), \(pool.steeringGroupId))", logger: logger)
            case CallOpened.eventType:
                let call = try decode(CallOpened.self, event)
                try await connection.query("INSERT INTO agenda_calls VALUES (\(call.callId), \(call.poolId))", logger: logger)
            case ApplicationDrafted.eventType:
                let drafted = try decode(ApplicationDrafted.self, event)
                try await connection.query("""
                    INSERT INTO agenda_applications VALUES (\(drafted.applicationId), \(drafted.callId), \(drafted.content.organisation),
                        \(drafted.content.title), \(drafted.content.requested.minorUnits), \(drafted.content.requested.currency.code), 1)
                    """, logger: logger)
            case ApplicationAmended.eventType:
                let amended = try decode(ApplicationAmended.self, event)
                try await connection.query("""
                    UPDATE agenda_applications SET title = \(amended.content.title), requested = \(amended.content.requested.minorUnits),
                        version = \(amended.version) WHERE application_id = \(try streamUUID(event.streamId))
                    """, logger: logger)
            case ApplicationSubmitted.eventType:
                let submitted = try decode(ApplicationSubmitted.self, event)
                let id = try streamUUID(event.streamId)
                // An amendment of a submitted application resubmits it: replace the item.
                try await connection.query("DELETE FROM agenda_items WHERE application_id = \(id)", logger: logger)
                try await connection.query("""
                    INSERT INTO agenda_items
                    SELECT a.application_id, p.steering_group_id, c.pool_id, a.call_id, a.organisation, a.title, a.requested, a.currency,
                           a.version, \(submitted.occurredAt)
                    FROM agenda_applications a JOIN agenda_calls c USING (call_id) JOIN agenda_pools p USING (pool_id)
                    WHERE a.application_id = \(id)
                    """, logger: logger)
            case ApplicationWithdrawn.eventType, ApplicationApproved.eventType, ApplicationRejected.eventType, ApplicationReturnedForRevision.eventType:
                try await connection.query("DELETE FROM agenda_items WHERE application_id = \(try streamUUID(event.streamId))", logger: logger)
            case MeetingHeld.eventType:
                let meeting = try decode(MeetingHeld.self, event)
                try await connection.query("""
                    INSERT INTO meetings (meeting_id, steering_group_id, held_at, present, agenda)
                    VALUES (\(meeting.meetingId), \(meeting.groupId), \(meeting.occurredAt), \(meeting.present), \(meeting.agenda))
                    """, logger: logger)
            case DecisionRecorded.eventType:
                let decision = try decode(DecisionRecorded.self, event)
                try await connection.query("UPDATE meetings SET decisions = decisions + 1 WHERE meeting_id = \(decision.meetingId)", logger: logger)
            default:
                break
            }
        }
    }
}
