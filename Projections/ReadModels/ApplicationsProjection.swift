import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Calls, and applications per call and per organisation with their status,
/// requested and granted amounts (minor units).
public struct ApplicationsProjection: Projection {
    public init() {}
    public let name = "applications"
    public let tables = ["calls", "applications"]
    public let eventTypes: Set<String> = [
        CallOpened.eventType, ApplicationDrafted.eventType, ApplicationAmended.eventType, ApplicationSubmitted.eventType,
        ApplicationWithdrawn.eventType, ApplicationApproved.eventType, ApplicationRejected.eventType, ApplicationReturnedForRevision.eventType,
    ]
    public let schema = """
        CREATE TABLE calls (
            call_id uuid PRIMARY KEY, pool_id uuid NOT NULL, title text NOT NULL,
            opens_at timestamptz NOT NULL, closes_at timestamptz NOT NULL, cap bigint, currency text
        );
        CREATE INDEX calls_by_pool ON calls (pool_id);
        CREATE TABLE applications (
            application_id uuid PRIMARY KEY, call_id uuid NOT NULL, pool_id uuid NOT NULL,
            organisation text NOT NULL, project_leader text NOT NULL, partners text[] NOT NULL,
            title text NOT NULL, description text NOT NULL, focus_areas text[] NOT NULL,
            requested bigint NOT NULL, granted bigint, currency text NOT NULL,
            students_reached integer, status text NOT NULL, version integer NOT NULL,
            drafted_at timestamptz NOT NULL, submitted_at timestamptz, decided_at timestamptz,
            meeting_id uuid, decision_reason text, last_position bigint NOT NULL
        );
        CREATE INDEX applications_by_call ON applications (call_id);
        CREATE INDEX applications_by_organisation ON applications (organisation);
        CREATE INDEX applications_by_pool ON applications (pool_id);
        """

    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await forEach(events) { event in
            switch event.type {
            case CallOpened.eventType:
                let call = try decode(CallOpened.self, event)
                try await connection.query("""
                    INSERT INTO calls VALUES (\(call.callId), \(call.poolId), \(call.title), \(call.opensAt), \(call.closesAt),
                                              \(call.cap?.minorUnits), \(call.cap?.currency.code))
                    """, logger: logger)
                return
            case ApplicationDrafted.eventType:
                let drafted = try decode(ApplicationDrafted.self, event)
                let c = drafted.content
                try await connection.query("""
                    INSERT INTO applications (application_id, call_id, pool_id, organisation, project_leader, partners, title, description,
                        focus_areas, requested, currency, students_reached, status, version, drafted_at, last_position)
                    VALUES (\(drafted.applicationId), \(drafted.callId), \(drafted.poolId), \(c.organisation), \(c.projectLeader), \(c.partners),
                        \(c.title), \(c.description), \(c.focusAreas), \(c.requested.minorUnits), \(c.requested.currency.code), \(c.studentsReached),
                        'draft', 1, \(drafted.occurredAt), \(event.position))
                    """, logger: logger)
                return
            default:
                break
            }
            let id = try streamUUID(event.streamId)
            switch event.type {
            case ApplicationAmended.eventType:
                let amended = try decode(ApplicationAmended.self, event)
                let c = amended.content
                try await connection.query("""
                    UPDATE applications SET project_leader = \(c.projectLeader), partners = \(c.partners), title = \(c.title),
                        description = \(c.description), focus_areas = \(c.focusAreas), requested = \(c.requested.minorUnits),
                        students_reached = \(c.studentsReached), version = \(amended.version), last_position = \(event.position)
                    WHERE application_id = \(id)
                    """, logger: logger)
            case ApplicationSubmitted.eventType:
                let submitted = try decode(ApplicationSubmitted.self, event)
                try await connection.query("""
                    UPDATE applications SET status = 'submitted', submitted_at = \(submitted.occurredAt), last_position = \(event.position)
                    WHERE application_id = \(id)
                    """, logger: logger)
            case ApplicationWithdrawn.eventType:
                let withdrawn = try decode(ApplicationWithdrawn.self, event)
                try await decide(id, "withdrawn", reason: withdrawn.reason, meeting: nil, granted: nil, at: withdrawn.occurredAt, event, connection, logger)
            case ApplicationApproved.eventType:
                let approved = try decode(ApplicationApproved.self, event)
                try await decide(id, "approved", reason: nil, meeting: approved.meetingId, granted: approved.amount.minorUnits, at: approved.occurredAt, event, connection, logger)
            case ApplicationRejected.eventType:
                let rejected = try decode(ApplicationRejected.self, event)
                try await decide(id, "rejected", reason: rejected.reason, meeting: rejected.meetingId, granted: nil, at: rejected.occurredAt, event, connection, logger)
            case ApplicationReturnedForRevision.eventType:
                let returned = try decode(ApplicationReturnedForRevision.self, event)
                try await decide(id, ApplicationStatus.returnedForRevision.rawValue, reason: returned.reason, meeting: returned.meetingId,
                                 granted: nil, at: returned.occurredAt, event, connection, logger)
            default:
                break
            }
        }
    }

    private func decide(_ id: UUID, _ status: String, reason: String?, meeting: UUID?, granted: Int64?, at: Date,
                        _ event: RecordedEvent, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query("""
            UPDATE applications SET status = \(status), decision_reason = \(reason), meeting_id = \(meeting), granted = \(granted),
                decided_at = \(at), last_position = \(event.position)
            WHERE application_id = \(id)
            """, logger: logger)
    }
}
