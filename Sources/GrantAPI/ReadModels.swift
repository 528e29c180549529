import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import NIOCore
import PostgresNIO

/// Reads the read models (the `read` schema's views) only.
struct ReadModels: Sendable {
    let client: PostgresClient
    let logger: Logger

    /// Pools with their periods and sources, in one statement (a pool is
    /// read on almost every screen).
    func pools(_ id: UUID?) async throws -> [PoolView] {
        var pools: [PoolView] = []
        if let id {
            for try await pool in try await client.execute(PoolByID(id: id), logger: logger) { pools.append(pool) }
        } else {
            for try await pool in try await client.execute(AllPools(), logger: logger) { pools.append(pool) }
        }
        return pools
    }

    func calls(pool: UUID) async throws -> [CallView] {
        let rows = try await client.query("""
            SELECT c.call_id, c.title, c.opens_at, c.closes_at, c.cap, coalesce(c.currency, p.currency),
                   coalesce((SELECT jsonb_object_agg(status, n)::text FROM (
                       SELECT status, count(*) AS n FROM read.applications a WHERE a.call_id = c.call_id GROUP BY status) s), '{}'),
                   (SELECT sum(requested)::text FROM read.applications a WHERE a.call_id = c.call_id),
                   (SELECT sum(granted)::text FROM read.applications a WHERE a.call_id = c.call_id)
            FROM read.calls c JOIN read.pools p ON p.pool_id = c.pool_id
            WHERE c.pool_id = \(pool) ORDER BY c.opens_at, c.call_id
            """, logger: logger)
        var calls: [CallView] = []
        for try await (id, title, opensAt, closesAt, cap, currency, counts, requested, granted)
            in rows.decode((UUID, String, Date, Date, Int64?, String, String, String?, String?).self) {
            // Sums of every application in the call: numeric in PostgreSQL, 128 bits here.
            let code = try Currency(code: currency)
            calls.append(CallView(id: id, poolId: pool, title: title, opensAt: opensAt, closesAt: closesAt, cap: try cap.map { try money($0, currency) },
                                  applications: try JSONDecoder().decode([String: Int].self, from: Data(counts.utf8)),
                                  requested: requested.flatMap { MoneyTotal(numericText: $0, currency: code) },
                                  granted: granted.flatMap { MoneyTotal(numericText: $0, currency: code) }))
        }
        return calls
    }

    /// Each call's deadline as it stands (a call's window can move, or it can close early).
    func callDeadlines(_ ids: [UUID]) async throws -> [UUID: Date] {
        guard !ids.isEmpty else { return [:] }
        var deadlines: [UUID: Date] = [:]
        let rows = try await client.query("SELECT call_id, closes_at FROM read.calls WHERE call_id = ANY(\(ids))", logger: logger)
        for try await (id, closesAt) in rows.decode((UUID, Date).self) { deadlines[id] = closesAt }
        return deadlines
    }

    static let applicationColumns = """
        application_id, call_id, pool_id, organisation, project_leader, title, description, status, partners, focus_areas,
        requested, granted, currency, students_reached, version, drafted_at, submitted_at, decided_at, meeting_id, decision_reason
        """

    /// One application, by a statement the connection keeps prepared (the
    /// route every applicant polls).
    func application(_ id: UUID) async throws -> ApplicationView? {
        for try await application in try await client.execute(ApplicationByID(id: id), logger: logger) { return application }
        return nil
    }

    /// Applications matching the filters, in id order, `limit` after `cursor`.
    func applications(call: UUID? = nil, organisation: String? = nil, status: String? = nil,
                      cursor: UUID? = nil, limit: Int = 1) async throws -> [ApplicationView] {
        let rows = try await client.query("""
            SELECT \(unescaped: Self.applicationColumns) FROM read.applications
            WHERE (\(call)::uuid IS NULL OR call_id = \(call))
              AND (\(organisation)::text IS NULL OR organisation = \(organisation)) AND (\(status)::text IS NULL OR status = \(status))
              AND (\(cursor)::uuid IS NULL OR application_id > \(cursor))
            ORDER BY application_id LIMIT \(limit)
            """, logger: logger)
        var applications: [ApplicationView] = []
        for try await row in rows { applications.append(try ApplicationView(row)) }
        return applications
    }

    /// The day of the meeting on whose agenda each application now stands:
    /// the latest meeting whose agenda holds it, unless that meeting already
    /// decided it (returned for revision, resubmitted, not on an agenda yet).
    func agendaMeetings(_ applications: [UUID]) async throws -> [UUID: Date] {
        guard !applications.isEmpty else { return [:] }
        var meetings: [UUID: Date] = [:]
        for try await (application, heldAt, decidedThere) in try await client.query("""
            SELECT DISTINCT ON (item.id) item.id, m.held_at, m.meeting_id IS NOT DISTINCT FROM a.meeting_id
            FROM read.meetings m CROSS JOIN LATERAL unnest(m.agenda) AS item(id)
            LEFT JOIN read.applications a ON a.application_id = item.id
            WHERE m.agenda && \(applications) AND item.id = ANY(\(applications))
            ORDER BY item.id, m.held_at DESC, m.meeting_id
            """, logger: logger).decode((UUID, Date, Bool).self) where !decidedThere {
            meetings[application] = heldAt
        }
        return meetings
    }

    struct MeetingSummary {
        var id: UUID
        var heldAt: Date
        var present: Int
        var agenda: Int
        var decisions: Int
    }

    /// A steering group's meetings, the latest first.
    func meetings(group: UUID) async throws -> [MeetingSummary] {
        var meetings: [MeetingSummary] = []
        for try await (id, heldAt, present, agenda, decisions) in try await client.query("""
            SELECT meeting_id, held_at, cardinality(present), cardinality(agenda), decisions
            FROM read.meetings WHERE steering_group_id = \(group) ORDER BY held_at DESC, meeting_id
            """, logger: logger).decode((UUID, Date, Int, Int, Int).self) {
            meetings.append(MeetingSummary(id: id, heldAt: heldAt, present: present, agenda: agenda, decisions: decisions))
        }
        return meetings
    }

    func agenda(group: UUID) async throws -> [AgendaItemView] {
        let rows = try await client.query("""
            SELECT application_id, pool_id, call_id, organisation, title, requested, currency, version, submitted_at
            FROM read.agenda_items WHERE steering_group_id = \(group) ORDER BY submitted_at, application_id
            """, logger: logger)
        var items: [AgendaItemView] = []
        for try await (application, pool, call, organisation, title, requested, currency, version, submittedAt)
            in rows.decode((UUID, UUID, UUID, String, String, Int64, String, Int, Date).self) {
            items.append(AgendaItemView(applicationId: application, poolId: pool, callId: call, organisation: organisation, title: title,
                                        requested: try money(requested, currency), applicationVersion: version, submittedAt: submittedAt))
        }
        return items
    }

    /// Grants matching the filters; with `details`, their tranches, reports and payment requests.
    func grants(id: UUID? = nil, pool: UUID? = nil, organisation: String? = nil, cursor: UUID? = nil, limit: Int = 1,
                details: Bool = false) async throws -> [GrantView] {
        let rows = try await client.query("""
            SELECT grant_id, application_id, pool_id, call_id, meeting_id, organisation, title, period, status,
                   amount, paid, repaid, currency, conditions, awarded_at
            FROM read.grants
            WHERE (\(id)::uuid IS NULL OR grant_id = \(id)) AND (\(pool)::uuid IS NULL OR pool_id = \(pool))
              AND (\(organisation)::text IS NULL OR organisation = \(organisation)) AND (\(cursor)::uuid IS NULL OR grant_id > \(cursor))
            ORDER BY grant_id LIMIT \(limit)
            """, logger: logger)
        var grants: [GrantView] = []
        for try await (id, application, pool, call, meeting, organisation, title, period, status, amount, paid, repaid, currency, conditions, awardedAt)
            in rows.decode((UUID, UUID, UUID, UUID, UUID, String, String, String, String, Int64, Int64, Int64, String, [String], Date).self) {
            grants.append(GrantView(
                id: id, applicationId: application, poolId: pool, callId: call, meetingId: meeting, organisation: organisation, title: title,
                period: period, status: status, granted: try money(amount, currency), paid: try money(paid, currency),
                repaid: try money(repaid, currency), remaining: MoneyTotal(try money(amount, currency)) - MoneyTotal(try money(paid, currency)),
                conditions: conditions, awardedAt: awardedAt))
        }
        guard details, !grants.isEmpty else { return grants }
        // Each grant's tranches, reports and payment requests: three queries for all the grants, not three for each.
        let ids = grants.map(\.id)
        let currencies = Dictionary(grants.map { ($0.id, $0.granted.currency.code) }, uniquingKeysWith: { first, _ in first })
        var tranches: [UUID: [GrantView.Tranche]] = [:]
        for try await (grant, number, amount, trigger, status) in try await client.query("""
            SELECT grant_id, number, amount, trigger, status FROM read.grant_tranches WHERE grant_id = ANY(\(ids)) ORDER BY grant_id, number
            """, logger: logger).decode((UUID, Int, Int64, String, String).self) {
            tranches[grant, default: []].append(.init(number: number, amount: try money(amount, currencies[grant] ?? ""), trigger: trigger, status: status))
        }
        var reports: [UUID: [GrantView.Report]] = [:]
        for try await (grant, id, kind, summary, status, filedAt, approvedAt, approvedBy) in try await client.query("""
            SELECT grant_id, report_id, kind, summary, status, filed_at, approved_at, approved_by FROM read.grant_reports
            WHERE grant_id = ANY(\(ids)) ORDER BY grant_id, filed_at, report_id
            """, logger: logger).decode((UUID, UUID, String, String, String, Date, Date?, String?).self) {
            reports[grant, default: []].append(.init(id: id, kind: kind, summary: summary, status: status, filedAt: filedAt,
                                                     approvedAt: approvedAt, approvedBy: approvedBy))
        }
        var payments: [UUID: [GrantView.PaymentRequest]] = [:]
        for try await (grant, id, tranche, amount, status, requestedBy, requestedAt, approvedBy, approvedAt, reference, paidAt) in try await client.query("""
            SELECT grant_id, payment_request_id, tranche, amount, status, requested_by, requested_at, approved_by, approved_at, reference, paid_at
            FROM read.payment_requests WHERE grant_id = ANY(\(ids)) ORDER BY grant_id, requested_at, payment_request_id
            """, logger: logger).decode((UUID, UUID, Int, Int64, String, String, Date, String?, Date?, String?, Date?).self) {
            payments[grant, default: []].append(.init(id: id, tranche: tranche, amount: try money(amount, currencies[grant] ?? ""), status: status,
                                                      requestedBy: requestedBy, requestedAt: requestedAt, approvedBy: approvedBy,
                                                      approvedAt: approvedAt, reference: reference, paidAt: paidAt))
        }
        for index in grants.indices {
            grants[index].tranches = tranches[grants[index].id] ?? []
            grants[index].reports = reports[grants[index].id] ?? []
            grants[index].paymentRequests = payments[grants[index].id] ?? []
        }
        return grants
    }

    func publicGrants() async throws -> [PublicGrantView] {
        let rows = try await client.query("""
            SELECT grant_id, pool_id, recipient, title, pool_name, pool_owner, status, amount, currency, awarded_on::text
            FROM read.public_grants ORDER BY awarded_on, grant_id
            """, logger: logger)
        var grants: [PublicGrantView] = []
        for try await (grant, pool, recipient, title, poolName, poolOwner, status, amount, currency, awardedOn)
            in rows.decode((UUID, UUID, String, String, String, String, String, Int64, String, String).self) {
            grants.append(PublicGrantView(grantId: grant, poolId: pool, recipient: recipient, title: title, poolName: poolName,
                                          poolOwner: poolOwner, status: status, amount: try money(amount, currency), awardedOn: awardedOn))
        }
        return grants
    }
}
