import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import NIOCore
import PostgresNIO

// MARK: Views (the shapes openapi.yaml describes)

struct PoolView: Encodable {
    struct Totals: Encodable { var budget, committed, paid, available: MoneyTotal }
    struct Period: Encodable {
        var period: String
        var budget, committed, paid: Money
        var available: MoneyTotal
        var closed: Bool
    }
    struct Source: Encodable {
        var id, name: String
        var amount, committed, paid: Money
        var available: MoneyTotal
        var period: String?
        var earmarkedFor: [String]?
        var maxSharePercent: Int?
    }
    var id: UUID
    var name, owner, currency, carryOver: String
    var steeringGroupId: UUID
    var createdAt: Date
    var totals: Totals
    var periods: [Period]
    var sources: [Source]
}

struct CallView: Encodable {
    var id, poolId: UUID
    var title: String
    var opensAt, closesAt: Date
    var cap: Money?
    var applications: [String: Int]
    var requested, granted: MoneyTotal?
}

struct ApplicationView: Encodable {
    var id, callId, poolId: UUID
    var organisation, projectLeader, title, description, status: String
    var partners, focusAreas: [String]
    var requested: Money
    var granted: Money?
    var studentsReached: Int?
    var version: Int
    var draftedAt: Date
    var submittedAt, decidedAt: Date?
    var meetingId: UUID?
    var decisionReason: String?
}

struct AgendaItemView: Encodable {
    var applicationId, poolId, callId: UUID
    var organisation, title: String
    var requested: Money
    var applicationVersion: Int
    var submittedAt: Date
}

struct GrantView: Encodable {
    struct Tranche: Encodable {
        var number: Int
        var amount: Money
        var trigger, status: String
    }
    struct Report: Encodable {
        var id: UUID
        var kind, summary, status: String
        var filedAt: Date
        var approvedAt: Date?
        var approvedBy: String?
    }
    struct PaymentRequest: Encodable {
        var id: UUID
        var tranche: Int
        var amount: Money
        var status, requestedBy: String
        var requestedAt: Date
        var approvedBy: String?
        var approvedAt: Date?
        var reference: String?
        var paidAt: Date?
    }
    var id, applicationId, poolId, callId, meetingId: UUID
    var organisation, title, period, status: String
    var granted, paid, repaid: Money
    var remaining: MoneyTotal
    var conditions: [String]
    var awardedAt: Date
    var tranches: [Tranche]?
    var reports: [Report]?
    var paymentRequests: [PaymentRequest]?
}

struct PublicGrantView: Encodable {
    var grantId, poolId: UUID
    var recipient, title, poolName, poolOwner, status: String
    var amount: Money
    var awardedOn: String
}

/// A page of a list, with the cursor for the next one.
struct Page<Item: Encodable>: Encodable {
    var items: [Item]
    var nextCursor: String?
}

func money(_ minorUnits: Int64, _ code: String) throws -> Money {
    Money(minorUnits: minorUnits, currency: try Currency(code: code))
}

// MARK: Queries

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

// MARK: Routes

extension Services {
    /// Authorises, waits for read-your-writes, and answers `body`'s value as JSON.
    func read(_ request: Request, _ roles: Set<Role>, _ action: String, from projections: [String],
              _ body: @Sendable (Identity, ReadModels) async throws -> some Encodable) async throws -> Response {
        let identity = try await auth.require(request, roles, to: action)
        let (after, consistency) = try await waitForReadModels(request, projections)
        var response = try jsonResponse(try await body(identity, ReadModels(client: store.client, logger: logger)))
        consistency.apply(to: &response, after: after)
        return response
    }
}

func addReadRoutes(to routes: Routes, _ services: Services) {
    let everyone: Set<Role> = Set(Role.allCases)

    routes.get("/v1/pools") { request, _ in
        try await services.read(request, everyone, "read pools", from: ["pool_balances"]) { _, reads in
            ["pools": try await reads.pools(nil)]
        }
    }

    routes.get("/v1/pools/:poolId") { request, context in
        let id = try request.uuidParameter(context, "poolId")
        return try await services.cachedRead(request, everyone, "read pools", from: "pool_balances", key: "pool \(id)") { reads in
            guard let pool = try await reads.pools(id).first else { throw Problem.notFound("pool", id.uuidString) }
            return (pool, nil)
        }
    }

    routes.get("/v1/pools/:poolId/calls") { request, context in
        let id = try request.uuidParameter(context, "poolId")
        return try await services.read(request, [.admin, .steering, .auditor], "list calls", from: ["applications"]) { _, reads in
            ["calls": try await reads.calls(pool: id)]
        }
    }

    routes.get("/v1/calls/:callId/applications") { request, context in
        let id = try request.uuidParameter(context, "callId")
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let cursor = try request.uuidQuery("cursor")
        return try await services.read(request, [.admin, .steering, .auditor], "list a call's applications", from: ["applications"]) { _, reads in
            page(try await reads.applications(call: id, cursor: cursor, limit: limit), limit: limit) { $0.id }
        }
    }

    routes.get("/v1/applications") { request, _ in
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let cursor = try request.uuidQuery("cursor")
        let call = try request.uuidQuery("call")
        let status = try request.enumQuery("status", ApplicationStatus.self)?.rawValue
        let asked = try request.textQuery("organisation")
        return try await services.read(request, everyone, "list applications", from: ["applications"]) { identity, reads in
            var organisation = asked
            if identity.role == .applicant {
                guard asked == nil || asked == identity.organisation else {
                    throw Problem.forbidden("an applicant lists only its own organisation's applications")
                }
                organisation = identity.organisation
            }
            return page(try await reads.applications(call: call, organisation: organisation, status: status, cursor: cursor, limit: limit),
                        limit: limit) { $0.id }
        }
    }

    routes.get("/v1/applications/:applicationId") { request, context in
        let id = try request.uuidParameter(context, "applicationId")
        return try await services.cachedRead(request, everyone, "read applications", from: "applications", key: "application \(id)") { reads in
            guard let application = try await reads.application(id) else { throw Problem.notFound("application", id.uuidString) }
            return (application, application.organisation)
        } authorize: { identity, organisation in
            guard identity.role != .applicant || organisation == identity.organisation else {
                throw Problem.forbidden("application \(id.uuidString) belongs to another organisation")
            }
        }
    }

    routes.get("/v1/steering-groups/:groupId/agenda") { request, context in
        let id = try request.uuidParameter(context, "groupId")
        return try await services.read(request, [.admin, .steering], "read agendas", from: ["agendas"]) { identity, reads in
            if identity.role == .steering {
                let group = try await Session(store: services.store).load(SteeringGroupState.self, id)
                guard let member = identity.member, group.state.members[member] != nil, identity.groupId.map({ $0 == id }) ?? true else {
                    throw Problem.forbidden("\(identity.member ?? identity.subject) is not a member of steering group \(id.uuidString)")
                }
            }
            return ["items": try await reads.agenda(group: id)]
        }
    }

    routes.get("/v1/grants") { request, _ in
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let cursor = try request.uuidQuery("cursor")
        let pool = try request.uuidQuery("pool")
        let asked = try request.textQuery("organisation")
        return try await services.read(request, everyone, "list grants", from: ["grants"]) { identity, reads in
            var organisation = asked
            if identity.role == .applicant {
                guard asked == nil || asked == identity.organisation else {
                    throw Problem.forbidden("an applicant lists only its own organisation's grants")
                }
                organisation = identity.organisation
            }
            return page(try await reads.grants(pool: pool, organisation: organisation, cursor: cursor, limit: limit), limit: limit) { $0.id }
        }
    }

    routes.get("/v1/grants/:grantId") { request, context in
        let id = try request.uuidParameter(context, "grantId")
        return try await services.read(request, everyone, "read grants", from: ["grants"]) { identity, reads in
            guard let grant = try await reads.grants(id: id, details: true).first else { throw Problem.notFound("grant", id.uuidString) }
            guard identity.role != .applicant || grant.organisation == identity.organisation else {
                throw Problem.forbidden("grant \(id.uuidString) belongs to another organisation")
            }
            return grant
        }
    }

    // Open data: no token.
    routes.get("/v1/public/grants") { request, _ in
        let format = request.uri.queryParameters["format"].map(String.init) ?? "json"
        guard format == "json" || format == "csv" else {
            throw Problem.badRequest(rule: "invalid-value", field: "format", "format must be json or csv")
        }
        let (after, consistency) = try await services.waitForReadModels(request, ["public_grants"])
        let grants = try await ReadModels(client: services.store.client, logger: services.logger).publicGrants()
        var response: Response
        if format == "csv" {
            var csv = "grant_id,recipient,title,pool_id,pool,pool_owner,amount,currency,awarded_on,status\r\n"
            for grant in grants {
                csv += [grant.grantId.uuidString, grant.recipient, grant.title, grant.poolId.uuidString, grant.poolName, grant.poolOwner,
                        grant.amount.amount, grant.amount.currency.code, grant.awardedOn, grant.status].map(CSV.field).joined(separator: ",") + "\r\n"
            }
            response = Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: csv)))
        } else {
            response = try jsonResponse(["grants": grants])
        }
        consistency.apply(to: &response, after: after)
        return response
    }
}

/// One page, with a cursor when the page is full.
func page<Item: Encodable>(_ items: [Item], limit: Int, cursor: (Item) -> UUID) -> Page<Item> {
    Page(items: items, nextCursor: items.count == limit ? items.last.map { cursor($0).uuidString } : nil)
}
