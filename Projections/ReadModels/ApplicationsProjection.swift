import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Calls, and applications per call and per organisation with their status,
/// requested and granted amounts (minor units).
public struct ApplicationsProjection: Projection {
    public init() {}
    public let name = ReadModelName.applications.rawValue
    public let tables = ["calls", "applications"]
    public let eventTypes = Set(Self.typeOrder)
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

    /// Every type; an application's row is its own (see ``Rounds``).
    static let typeOrder = [
        CallOpened.eventType, CallWindowChanged.eventType, CallClosed.eventType, ApplicationDrafted.eventType, ApplicationAmended.eventType, ApplicationSubmitted.eventType,
        ApplicationWithdrawn.eventType, ApplicationApproved.eventType, ApplicationRejected.eventType, ApplicationReturnedForRevision.eventType,
    ]

    /// A statement per event type and round (see ``Rounds``); calls one by one.
    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await applyInRounds(events, typeOrder: Self.typeOrder) { type, events in
            switch type {
            case CallOpened.eventType:
                try await forEach(events) { event in
                    let call = try decode(CallOpened.self, event)
                    try await connection.query("""
                        INSERT INTO calls VALUES (\(call.callId), \(call.poolId), \(call.title), \(call.opensAt), \(call.closesAt),
                                                  \(call.cap?.minorUnits), \(call.cap?.currency.code))
                        """, logger: logger)
                }
            case CallWindowChanged.eventType:
                try await forEach(events) { event in
                    let changed = try decode(CallWindowChanged.self, event)
                    try await connection.query("""
                        UPDATE calls SET opens_at = \(changed.opensAt), closes_at = \(changed.closesAt) WHERE call_id = \(changed.callId)
                        """, logger: logger)
                }
            case CallClosed.eventType:
                try await forEach(events) { event in
                    let closed = try decode(CallClosed.self, event)
                    try await connection.query("""
                        UPDATE calls SET closes_at = least(closes_at, \(closed.occurredAt)) WHERE call_id = \(closed.callId)
                        """, logger: logger)
                }
            case ApplicationDrafted.eventType:
                try await draft(try decodeEach(ApplicationDrafted.self, events), events, connection, logger)
            case ApplicationAmended.eventType:
                try await amend(try decodeEach(ApplicationAmended.self, events), events, connection, logger)
            case ApplicationSubmitted.eventType:
                let submitted = try decodeEach(ApplicationSubmitted.self, events)
                try await connection.query("""
                    UPDATE applications a SET status = 'submitted', submitted_at = s.submitted_at, last_position = s.position
                    FROM unnest(\(try events.map { try streamUUID($0.streamId) }), \(submitted.map(\.occurredAt)), \(events.map(\.position)))
                         AS s(id, submitted_at, position)
                    WHERE a.application_id = s.id
                    """, logger: logger)
            case ApplicationWithdrawn.eventType:
                let withdrawn = try decodeEach(ApplicationWithdrawn.self, events)
                try await decide(events, "withdrawn", reasons: withdrawn.map(\.reason), meetings: withdrawn.map { _ in nil },
                                 granted: withdrawn.map { _ in nil }, at: withdrawn.map(\.occurredAt), connection, logger)
            case ApplicationApproved.eventType:
                let approved = try decodeEach(ApplicationApproved.self, events)
                try await decide(events, "approved", reasons: approved.map { _ in nil }, meetings: approved.map(\.meetingId),
                                 granted: approved.map(\.amount.minorUnits), at: approved.map(\.occurredAt), connection, logger)
            case ApplicationRejected.eventType:
                let rejected = try decodeEach(ApplicationRejected.self, events)
                try await decide(events, "rejected", reasons: rejected.map(\.reason), meetings: rejected.map(\.meetingId),
                                 granted: rejected.map { _ in nil }, at: rejected.map(\.occurredAt), connection, logger)
            case ApplicationReturnedForRevision.eventType:
                let returned = try decodeEach(ApplicationReturnedForRevision.self, events)
                try await decide(events, ApplicationStatus.returnedForRevision.rawValue, reasons: returned.map(\.reason),
                                 meetings: returned.map(\.meetingId), granted: returned.map { _ in nil }, at: returned.map(\.occurredAt),
                                 connection, logger)
            default:
                break
            }
        }
    }

    /// The columns of application contents that arrays cannot carry as they are.
    private static func columns(of contents: [ApplicationContent])
        -> (partners: FlatArrays<String>, focusAreas: FlatArrays<String>, students: NullableColumn<Int>) {
        var partners = FlatArrays<String>(), focusAreas = FlatArrays<String>()
        for content in contents {
            partners.append(content.partners)
            focusAreas.append(content.focusAreas)
        }
        return (partners, focusAreas, NullableColumn(contents.map(\.studentsReached), absent: 0))
    }

    private func draft(_ drafts: [ApplicationDrafted], _ events: [RecordedEvent], _ connection: PostgresConnection, _ logger: Logger) async throws {
        let contents = drafts.map(\.content)
        let (partners, focusAreas, students) = Self.columns(of: contents)
        try await connection.query("""
            INSERT INTO applications (application_id, call_id, pool_id, organisation, project_leader, partners, title, description,
                focus_areas, requested, currency, students_reached, status, version, drafted_at, last_position)
            SELECT d.id, d.call_id, d.pool_id, d.organisation, d.project_leader, (\(partners.elements)::text[])[d.partners_from:d.partners_to],
                d.title, d.description, (\(focusAreas.elements)::text[])[d.focus_from:d.focus_to], d.requested, d.currency,
                CASE WHEN d.has_students THEN d.students END, 'draft', 1, d.drafted_at, d.position
            FROM unnest(\(drafts.map(\.applicationId)), \(drafts.map(\.callId)), \(drafts.map(\.poolId)), \(contents.map(\.organisation)),
                        \(contents.map(\.projectLeader)), \(partners.from), \(partners.to), \(contents.map(\.title)), \(contents.map(\.description)),
                        \(focusAreas.from), \(focusAreas.to), \(contents.map(\.requested.minorUnits)), \(contents.map(\.requested.currency.code)),
                        \(students.values), \(students.present), \(drafts.map(\.occurredAt)), \(events.map(\.position)))
                 AS d(id, call_id, pool_id, organisation, project_leader, partners_from, partners_to, title, description, focus_from, focus_to,
                      requested, currency, students, has_students, drafted_at, position)
            """, logger: logger)
    }

    private func amend(_ amendments: [ApplicationAmended], _ events: [RecordedEvent], _ connection: PostgresConnection, _ logger: Logger) async throws {
        let contents = amendments.map(\.content)
        let (partners, focusAreas, students) = Self.columns(of: contents)
        try await connection.query("""
            UPDATE applications a SET project_leader = m.project_leader, partners = (\(partners.elements)::text[])[m.partners_from:m.partners_to],
                title = m.title, description = m.description, focus_areas = (\(focusAreas.elements)::text[])[m.focus_from:m.focus_to],
                requested = m.requested, students_reached = CASE WHEN m.has_students THEN m.students END, version = m.version,
                last_position = m.position
            FROM unnest(\(try events.map { try streamUUID($0.streamId) }), \(contents.map(\.projectLeader)), \(partners.from), \(partners.to),
                        \(contents.map(\.title)), \(contents.map(\.description)), \(focusAreas.from), \(focusAreas.to),
                        \(contents.map(\.requested.minorUnits)), \(students.values), \(students.present), \(amendments.map(\.version)),
                        \(events.map(\.position)))
                 AS m(id, project_leader, partners_from, partners_to, title, description, focus_from, focus_to, requested, students,
                      has_students, version, position)
            WHERE a.application_id = m.id
            """, logger: logger)
    }

    /// Records decisions (and withdrawals) of one kind on their applications.
    private func decide(_ events: [RecordedEvent], _ status: String, reasons: [String?], meetings: [UUID?], granted: [Int64?], at: [Date],
                        _ connection: PostgresConnection, _ logger: Logger) async throws {
        let reasons = NullableColumn(reasons, absent: ""), meetings = NullableColumn(meetings, absent: UUID())
        let granted = NullableColumn(granted, absent: 0)
        try await connection.query("""
            UPDATE applications a SET status = \(status), decision_reason = CASE WHEN d.has_reason THEN d.reason END,
                meeting_id = CASE WHEN d.has_meeting THEN d.meeting END, granted = CASE WHEN d.has_granted THEN d.granted END,
                decided_at = d.decided_at, last_position = d.position
            FROM unnest(\(try events.map { try streamUUID($0.streamId) }), \(reasons.values), \(reasons.present), \(meetings.values),
                        \(meetings.present), \(granted.values), \(granted.present), \(at), \(events.map(\.position)))
                 AS d(id, reason, has_reason, meeting, has_meeting, granted, has_granted, decided_at, position)
            WHERE a.application_id = d.id
            """, logger: logger)
    }
}
