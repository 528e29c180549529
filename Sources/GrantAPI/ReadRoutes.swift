import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import NIOCore
import PostgresNIO
import Projections

extension Services {
    /// Authorises, waits for read-your-writes, and answers `body`'s value as JSON.
    func read(_ request: Request, _ roles: Set<Role>, _ action: String, from projections: [ReadModelName],
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
        try await services.read(request, everyone, "read pools", from: [.poolBalances]) { _, reads in
            ["pools": try await reads.pools(nil)]
        }
    }

    routes.get("/v1/pools/:poolId") { request, context in
        let id = try request.uuidParameter(context, "poolId")
        return try await services.cachedRead(request, everyone, "read pools", from: .poolBalances, key: "pool \(id)") { reads in
            guard let pool = try await reads.pools(id).first else { throw Problem.notFound("pool", id.uuidString) }
            return (pool, nil)
        }
    }

    routes.get("/v1/pools/:poolId/calls") { request, context in
        let id = try request.uuidParameter(context, "poolId")
        return try await services.read(request, [.admin, .steering, .auditor], "list calls", from: [.applications]) { _, reads in
            ["calls": try await reads.calls(pool: id)]
        }
    }

    routes.get("/v1/calls/:callId/applications") { request, context in
        let id = try request.uuidParameter(context, "callId")
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let cursor = try request.uuidQuery("cursor")
        return try await services.read(request, [.admin, .steering, .auditor], "list a call's applications", from: [.applications]) { _, reads in
            page(try await reads.applications(call: id, cursor: cursor, limit: limit), limit: limit) { $0.id }
        }
    }

    routes.get("/v1/applications") { request, _ in
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let cursor = try request.uuidQuery("cursor")
        let call = try request.uuidQuery("call")
        let status = try request.enumQuery("status", ApplicationStatus.self)?.rawValue
        let asked = try request.textQuery("organisation")
        return try await services.read(request, everyone, "list applications", from: [.applications]) { identity, reads in
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
        return try await services.cachedRead(request, everyone, "read applications", from: .applications, key: "application \(id)") { reads in
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
        return try await services.read(request, [.admin, .steering], "read agendas", from: [.agendas]) { identity, reads in
            if identity.role == .steering {
                let group = try await Session(store: services.store).load(SteeringGroupState.self, id)
                guard identity.sits(on: group.state, id) else {
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
        return try await services.read(request, everyone, "list grants", from: [.grants]) { identity, reads in
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
        return try await services.read(request, everyone, "read grants", from: [.grants]) { identity, reads in
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
        let (after, consistency) = try await services.waitForReadModels(request, [.publicGrants])
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
