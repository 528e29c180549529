import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Grants with their tranches, reports and payment requests; granted, paid
/// and remaining (minor units).
public struct GrantsProjection: Projection {
    public init() {}
    public let name = "grants"
    public let tables = ["grants", "grant_tranches", "grant_reports", "payment_requests"]
    public let eventTypes: Set<String> = [
        GrantAwarded.eventType, ReportFiled.eventType, ReportApproved.eventType, PaymentRequested.eventType, PaymentApproved.eventType,
        PaymentMarkedPaid.eventType, GrantReduced.eventType, GrantCancelled.eventType, RepaymentRecorded.eventType,
    ]
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
            report_id uuid PRIMARY KEY, grant_id uuid NOT NULL, kind text NOT NULL, summary text NOT NULL, status text NOT NULL,
            filed_at timestamptz NOT NULL, approved_at timestamptz, approved_by text
        );
        CREATE INDEX grant_reports_by_grant ON grant_reports (grant_id);
        CREATE TABLE payment_requests (
            payment_request_id uuid PRIMARY KEY, grant_id uuid NOT NULL, tranche integer NOT NULL, amount bigint NOT NULL,
            status text NOT NULL, requested_by text NOT NULL, requested_at timestamptz NOT NULL,
            approved_by text, approved_at timestamptz, reference text, paid_at timestamptz
        );
        CREATE INDEX payment_requests_by_grant ON payment_requests (grant_id);
        """

    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await forEach(events) { event in
            let grant = try streamUUID(event.streamId)
            switch event.type {
            case GrantAwarded.eventType:
                let awarded = try decode(GrantAwarded.self, event)
                try await connection.query("""
                    INSERT INTO grants (grant_id, application_id, pool_id, call_id, meeting_id, organisation, title, period, amount, currency,
                                        status, conditions, awarded_at, last_position)
                    VALUES (\(awarded.grantId), \(awarded.applicationId), \(awarded.poolId), \(awarded.callId), \(awarded.meetingId),
                            \(awarded.organisation), \(awarded.title), \(awarded.period), \(awarded.amount.minorUnits), \(awarded.amount.currency.code),
                            'active', \(awarded.conditions), \(awarded.occurredAt), \(event.position))
                    """, logger: logger)
                try await connection.query("""
                    INSERT INTO grant_tranches
                    SELECT \(grant), t.number, t.amount, t.trigger, 'scheduled'
                    FROM unnest(\(awarded.tranches.map(\.number)), \(awarded.tranches.map(\.amount.minorUnits)), \(awarded.tranches.map(\.trigger.rawValue)))
                         AS t(number, amount, trigger)
                    """, logger: logger)
            case ReportFiled.eventType:
                let report = try decode(ReportFiled.self, event)
                try await connection.query("""
                    INSERT INTO grant_reports (report_id, grant_id, kind, summary, status, filed_at)
                    VALUES (\(report.reportId), \(grant), \(report.kind.rawValue), \(report.summary), 'filed', \(report.occurredAt))
                    """, logger: logger)
            case ReportApproved.eventType:
                let approved = try decode(ReportApproved.self, event)
                try await connection.query("""
                    UPDATE grant_reports SET status = 'approved', approved_at = \(approved.occurredAt), approved_by = \(approved.approvedBy)
                    WHERE report_id = \(approved.reportId)
                    """, logger: logger)
            case PaymentRequested.eventType:
                let requested = try decode(PaymentRequested.self, event)
                try await connection.query("""
                    INSERT INTO payment_requests (payment_request_id, grant_id, tranche, amount, status, requested_by, requested_at)
                    VALUES (\(requested.paymentRequestId), \(grant), \(requested.tranche), \(requested.amount.minorUnits), 'requested',
                            \(requested.requestedBy), \(requested.occurredAt))
                    """, logger: logger)
                try await trancheStatus(grant, requested.tranche, "requested", connection, logger)
            case PaymentApproved.eventType:
                let approved = try decode(PaymentApproved.self, event)
                try await connection.query("""
                    UPDATE payment_requests SET status = 'approved', approved_by = \(approved.approvedBy), approved_at = \(approved.occurredAt)
                    WHERE payment_request_id = \(approved.paymentRequestId)
                    """, logger: logger)
                try await connection.query("""
                    UPDATE grant_tranches t SET status = 'approved' FROM payment_requests r
                    WHERE r.payment_request_id = \(approved.paymentRequestId) AND t.grant_id = r.grant_id AND t.number = r.tranche
                    """, logger: logger)
            case PaymentMarkedPaid.eventType:
                let paid = try decode(PaymentMarkedPaid.self, event)
                try await connection.query("""
                    UPDATE payment_requests SET status = 'paid', reference = \(paid.reference), paid_at = \(paid.occurredAt)
                    WHERE payment_request_id = \(paid.paymentRequestId)
                    """, logger: logger)
                try await trancheStatus(grant, paid.tranche, "paid", connection, logger)
                try await connection.query("""
                    UPDATE grants SET paid = paid + \(paid.amount.minorUnits), last_position = \(event.position) WHERE grant_id = \(grant)
                    """, logger: logger)
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
    }

    private func trancheStatus(_ grant: UUID, _ number: Int, _ status: String, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query("UPDATE grant_tranches SET status = \(status) WHERE grant_id = \(grant) AND number = \(number)", logger: logger)
    }
}
