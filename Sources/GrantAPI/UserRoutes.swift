import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import PostgresNIO
import Projections

struct InviteUserRequest: Decodable {
    var email: String
    var name: String
    var roles: [RoleGrant]?
}

struct RevokeRoleRequest: Decodable {
    var role: UserRole
    var organisation: String?
    var groupId: UUID?
    var member: String?
    var reason: String?

    var grant: RoleGrant { RoleGrant(role: role, organisation: organisation, groupId: groupId, member: member) }
}

struct UserView: Encodable {
    var id: UUID
    var email: String
    var name: String
    var invitedAt: Date
    var roles: [RoleView]
}

struct RoleView: Encodable {
    var role: String
    var organisation: String?
    var groupId: UUID?
    var member: String?
    var grantedAt: Date
}

/// Users and their roles, each change an event of the user's stream
/// (`GET /v1/audit/streams/user-ID/events` is who gave what, when).
func addUserRoutes(to routes: Routes, _ services: Services) {
    let handler = services.commands

    routes.post("/v1/users") { request, _ in
        try await services.command(request, [.admin], "invite users", InviteUserRequest.self) { body, scope in
            let id = CommandHandler.userId(email: body.email)
            let result = try await handler.inviteUser(
                InviteUser(userId: id, email: body.email, name: body.name, roles: body.roles ?? [], at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString], result, created: true)
        }
    }

    routes.post("/v1/users/:userId/roles") { request, context in
        let id = try request.uuidParameter(context, "userId")
        return try await services.command(request, [.admin], "grant roles", RoleGrant.self) { grant, scope in
            let result = try await handler.grantRole(GrantRole(userId: id, grant: grant, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString], result, created: true)
        }
    }

    routes.post("/v1/users/:userId/role-revocations") { request, context in
        let id = try request.uuidParameter(context, "userId")
        return try await services.command(request, [.admin], "revoke roles", RevokeRoleRequest.self) { body, scope in
            let result = try await handler.revokeRole(RevokeRole(userId: id, grant: body.grant, reason: body.reason, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString], result, created: true)
        }
    }

    routes.get("/v1/users") { request, _ in
        let limit = try request.intQuery("limit", default: 100, range: 1...1000)
        let cursor = try request.uuidQuery("cursor")
        return try await services.read(request, [.admin, .auditor], "list users", from: [.users]) { _, reads in
            page(try await reads.users(id: nil, cursor: cursor, limit: limit), limit: limit) { $0.id }
        }
    }

    routes.get("/v1/users/:userId") { request, context in
        let id = try request.uuidParameter(context, "userId")
        return try await services.read(request, [.admin, .auditor], "read users", from: [.users]) { _, reads in
            guard let user = try await reads.users(id: id, cursor: nil, limit: 1).first else { throw Problem.notFound("user", id.uuidString) }
            return user
        }
    }
}

extension ReadModels {
    /// Users by id, with the roles they hold now: one, or a page after `cursor`.
    func users(id: UUID?, cursor: UUID?, limit: Int) async throws -> [UserView] {
        let rows = try await client.query("""
            SELECT u.user_id, u.email, u.name, u.invited_at,
                   coalesce((SELECT json_agg(json_build_object('role', r.role, 'organisation', r.organisation, 'groupId', r.group_id,
                                                               'member', r.member, 'grantedAt', extract(epoch FROM r.granted_at)) ORDER BY r.granted_at, r.role)::text
                             FROM read.user_roles r WHERE r.user_id = u.user_id), '[]')
            FROM read.users u
            WHERE (\(id)::uuid IS NULL OR u.user_id = \(id)) AND (\(cursor)::uuid IS NULL OR u.user_id > \(cursor))
            ORDER BY u.user_id LIMIT \(limit)
            """, logger: logger)
        var users: [UserView] = []
        for try await (id, email, name, invitedAt, roles) in rows.decode((UUID, String, String, Date, String).self) {
            users.append(UserView(id: id, email: email, name: name, invitedAt: invitedAt, roles: try RoleRow.decode(roles)))
        }
        return users
    }
}

/// A role as `json_build_object` writes it: the time in seconds since 1970.
private struct RoleRow: Decodable {
    var role: String
    var organisation: String?
    var groupId: UUID?
    var member: String?
    var grantedAt: Double

    static func decode(_ json: String) throws -> [RoleView] {
        try JSONDecoder().decode([RoleRow].self, from: Data(json.utf8)).map {
            RoleView(role: $0.role, organisation: $0.organisation, groupId: $0.groupId, member: $0.member,
                     grantedAt: Date(timeIntervalSince1970: $0.grantedAt))
        }
    }
}
