import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Grants with their tranches, reports and payment requests; granted, paid
/// and remaining (minor units).
public struct GrantsProjection: Projection {
    public init() {}
    public let name = ReadModelName.grants.rawValue
    public let tables = ["grants", "grant_tranches", "grant_reports", "payment_requests"]
    public let eventTypes = Set(Self.typeOrder)
    public let schema = """
        CREATE TABLE grants (
            grant_id uuid PRIMARY KEY, application_id uuid NOT NULL, pool_id uuid NOT NULL, call_id uuid NOT NULL,
            meeting_id uuid NOT NULL, organisation text NOT NULL, title text NOT NULL, period text NOT NULL,
            amount bigint NOT NULL, paid bigint NOT NULL DEFAULT 0, repaid bigint NOT NULL DEFAULT 0, currency text NOT NULL,
            status text NOT NULL, conditions text[] NOT NULL, awarded_at timestamptz NOT NULL, last_position bigint NOT NULL
        );
        CREATE INDEX grants_by_pool ON grants (pool_id);
        CREATE INDEX grants_by_organisation ON grants (organisation);
        CREATE TABLE grant_tranches (
            grant_id uuid NOT NULL, number integer NOT NULL, amount bigint NOT NULL, trigger text NOT NULL, status text NOT NULL,
            PRIMARY KEY (grant_id, number)
        );
        CREATE TABLE grant_reports (
            grant_id uuid NOT NULL, report_id uuid NOT NULL, kind text NOT NULL, summary text NOT NULL, status text NOT NULL,
            filed_at timestamptz NOT NULL, approved_at timestamptz, approved_by text,
            PRIMARY KEY (grant_id, report_id)
        );
        CREATE TABLE payment_requests (
            payment_request_id uuid PRIMARY KEY, grant_id uuid NOT NULL, tranche integer NOT NULL, amount bigint NOT NULL,
            status text NOT NULL, requested_by text NOT NULL, requested_at timestamptz NOT NULL,
            approved_by text, approved_at timestamptz, reference text, paid_at timestamptz
        );
        CREATE INDEX payment_requests_by_grant ON payment_requests (grant_id);
        """

    /// Every type, rows other events read created first (see ``Rounds``).
    static let typeOrder = [
        GrantAwarded.eventType, ReportFiled.eventType, ReportApproved.eventType, PaymentRequested.eventType, PaymentApproved.eventType,
        PaymentMarkedPaid.eventType, GrantReduced.eventType, GrantCancelled.eventType, RepaymentRecorded.eventType,
    ]

    /// The busy event types go set-based, a statement per type and round;
    /// the rare ones (reductions, cancellations, repayments) one by one.
    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await applyInRounds(events, typeOrder: Self.typeOrder) { type, events in
            switch type {
            case GrantAwarded.eventType:
                try await award(try decodeEach(GrantAwarded.self, events), events, connection, logger)
            case ReportFiled.eventType:
                let reports = try decodeEach(ReportFiled.self, events)
                try await connection.query("""
                    INSERT INTO grant_reports (report_id, grant_id, kind, summary, status, filed_at)
                    SELECT r.id, r.grant_id, r.kind, r.summary, 'filed', r.filed_at
                    FROM unnest(\(reports.map(\.reportId)), \(try events.map { try streamUUID($0.streamId) }), \(reports.map(\.kind.rawValue)),
                                \(reports.map(\.summary)), \(reports.map(\.occurredAt))) AS r(id, grant_id, kind, summary, filed_at)
                    """, logger: logger)
            case ReportApproved.eventType:
                let approvals = try decodeEach(ReportApproved.self, events)
                // A report's id is unique within its grant, as the domain keeps it.
                try await connection.query("""
                    UPDATE grant_reports r SET status = 'approved', approved_at = a.approved_at, approved_by = a.approved_by
                    FROM unnest(\(try events.map { try streamUUID($0.streamId) }), \(approvals.map(\.reportId)), \(approvals.map(\.occurredAt)),
                                \(approvals.map(\.approvedBy))) AS a(grant_id, id, approved_at, approved_by)
                    WHERE r.grant_id = a.grant_id AND r.report_id = a.id
                    """, logger: logger)
            case PaymentRequested.eventType:
                let requests = try decodeEach(PaymentRequested.self, events)
                let grants = try events.map { try streamUUID($0.streamId) }
                try await connection.query("""
                    INSERT INTO payment_requests (payment_request_id, grant_id, tranche, amount, status, requested_by, requested_at)
                    SELECT p.id, p.grant_id, p.tranche, p.amount, 'requested', p.requested_by, p.requested_at
                    FROM unnest(\(requests.map(\.paymentRequestId)), \(grants), \(requests.map(\.tranche)), \(requests.map(\.amount.minorUnits)),
                                \(requests.map(\.requestedBy)), \(requests.map(\.occurredAt))) AS p(id, grant_id, tranche, amount, requested_by, requested_at)
                    """, logger: logger)
                try await trancheStatus(grants, requests.map(\.tranche), "requested", connection, logger)
            case PaymentApproved.eventType:
                let approvals = try decodeEach(PaymentApproved.self, events)
                try await connection.query("""
                    UPDATE payment_requests r SET status = 'approved', approved_by = a.approved_by, approved_at = a.approved_at
                    FROM unnest(\(approvals.map(\.paymentRequestId)), \(approvals.map(\.approvedBy)), \(approvals.map(\.occurredAt)))
                         AS a(id, approved_by, approved_at)
                    WHERE r.payment_request_id = a.id
                    """, logger: logger)
                try await connection.query("""
                    UPDATE grant_tranches t SET status = 'approved' FROM payment_requests r
                    WHERE r.payment_request_id = ANY(\(approvals.map(\.paymentRequestId))) AND t.grant_id = r.grant_id AND t.number = r.tranche
                    """, logger: logger)
            case PaymentMarkedPaid.eventType:
                let payments = try decodeEach(PaymentMarkedPaid.self, events)
                let grants = try events.map { try streamUUID($0.streamId) }
                try await connection.query("""
                    UPDATE payment_requests r SET status = 'paid', reference = p.reference, paid_at = p.paid_at
                    FROM unnest(\(payments.map(\.paymentRequestId)), \(payments.map(\.reference)), \(payments.map(\.occurredAt)))
                         AS p(id, reference, paid_at)
                    WHERE r.payment_request_id = p.id
                    """, logger: logger)
                try await trancheStatus(grants, payments.map(\.tranche), "paid", connection, logger)
                try await connection.query("""
                    UPDATE grants g SET paid = g.paid + p.amount, last_position = p.position
                    FROM unnest(\(grants), \(payments.map(\.amount.minorUnits)), \(events.map(\.position))) AS p(grant_id, amount, position)
                    WHERE g.grant_id = p.grant_id
                    """, logger: logger)
            default:
                try await forEach(events) { try await applyOne($0, connection, logger) }
            }
        }
    }

    private func award(_ awards: [GrantAwarded], _ events: [RecordedEvent], _ connection: PostgresConnection, _ logger: Logger) async throws {
        var conditions = FlatArrays<String>()
        var tranches: (grant: [UUID], number: [Int], amount: [Int64], trigger: [String]) = ([], [], [], [])
        for (awarded, event) in zip(awards, events) {
            conditions.append(awarded.conditions)
            let grant = try streamUUID(event.streamId)
            for tranche in awarded.tranches {
                tranches.grant.append(grant)
                tranches.number.append(tranche.number)
                tranches.amount.append(tranche.amount.minorUnits)
                tranches.trigger.append(tranche.trigger.rawValue)
            }
        }
        try await connection.query("""
            INSERT INTO grants (grant_id, application_id, pool_id, call_id, meeting_id, organisation, title, period, amount, currency,
                                status, conditions, awarded_at, last_position)
            SELECT g.id, g.application_id, g.pool_id, g.call_id, g.meeting_id, g.organisation, g.title, g.period, g.amount, g.currency,
                   'active', (\(conditions.elements)::text[])[g.conditions_from:g.conditions_to], g.awarded_at, g.position
            FROM unnest(\(awards.map(\.grantId)), \(awards.map(\.applicationId)), \(awards.map(\.poolId)), \(awards.map(\.callId)),
                        \(awards.map(\.meetingId)), \(awards.map(\.organisation)), \(awards.map(\.title)), \(awards.map(\.period)),
                        \(awards.map(\.amount.minorUnits)), \(awards.map(\.amount.currency.code)), \(conditions.from), \(conditions.to),
                        \(awards.map(\.occurredAt)), \(events.map(\.position)))
                 AS g(id, application_id, pool_id, call_id, meeting_id, organisation, title, period, amount, currency,
                      conditions_from, conditions_to, awarded_at, position)
            """, logger: logger)
        try await connection.query("""
            INSERT INTO grant_tranches
            SELECT t.grant_id, t.number, t.amount, t.trigger, 'scheduled'
            FROM unnest(\(tranches.grant), \(tranches.number), \(tranches.amount), \(tranches.trigger)) AS t(grant_id, number, amount, trigger)
            """, logger: logger)
    }

    private func applyOne(_ event: RecordedEvent, _ connection: PostgresConnection, _ logger: Logger) async throws {
        let grant = try streamUUID(event.streamId)
        switch event.type {
        case GrantReduced.eventType:
            let reduced = try decode(GrantReduced.self, event)
            try await connection.query("""
                UPDATE grants SET amount = \(reduced.newAmount.minorUnits), last_position = \(event.position) WHERE grant_id = \(grant)
                """, logger: logger)
            try await connection.query("""
                UPDATE grant_tranches t SET amount = n.amount, status = CASE WHEN n.amount = 0 THEN 'cancelled' ELSE t.status END
                FROM unnest(\(reduced.tranches.map(\.number)), \(reduced.tranches.map(\.amount.minorUnits))) AS n(number, amount)
                WHERE t.grant_id = \(grant) AND t.number = n.number
                """, logger: logger)
        case GrantCancelled.eventType:
            try await connection.query("""
                UPDATE grants SET status = 'cancelled', amount = paid, last_position = \(event.position) WHERE grant_id = \(grant)
                """, logger: logger)
            try await connection.query("""
                UPDATE grant_tranches SET status = 'cancelled' WHERE grant_id = \(grant) AND status <> 'paid'
                """, logger: logger)
        case RepaymentRecorded.eventType:
            let repaid = try decode(RepaymentRecorded.self, event)
            try await connection.query("""
                UPDATE grants SET amount = amount - \(repaid.amount.minorUnits), paid = paid - \(repaid.amount.minorUnits),
                    repaid = repaid + \(repaid.amount.minorUnits), last_position = \(event.position)
                WHERE grant_id = \(grant)
                """, logger: logger)
        default:
            break
        }
    }

    private func trancheStatus(_ grants: [UUID], _ numbers: [Int], _ status: String, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query("""
            UPDATE grant_tranches t SET status = \(status) FROM unnest(\(grants), \(numbers)) AS u(grant_id, number)
            WHERE t.grant_id = u.grant_id AND t.number = u.number
            """, logger: logger)
    }
}
