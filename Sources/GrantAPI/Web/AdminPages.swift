import Accounts
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import Projections

/// Users and roles for administrators: invite (the one-time link is shown
/// once), revoke a role, make a new link, sign a user out everywhere. Each
/// change is the API's command; links and sessions are the accounts'.
func addAdminPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts, publicURL: String) {
    let handler = services.commands
    let linkKey = "admin-link", inviteKey = "admin-invite", grantKey = "admin-grant-role"

    routes.page("GET", "/admin/users") { request, _ in
        try await services.administratorsPage(request, pages: pages, to: "manage users", reading: [.users]) { page, adminId in
            let language = page.language
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            let users: [[String: Any]] = try await reads.users(id: nil, cursor: nil, limit: 1000).map { user in
                let roles: [[String: Any]] = user.roles.compactMap { role in
                    guard let kind = UserRole(rawValue: role.role) else { return nil }
                    let grant = RoleGrant(role: kind, organisation: role.organisation, groupId: role.groupId, member: role.member)
                    let value = (try? String(decoding: JSONEncoder().encode(grant), as: UTF8.self)) ?? ""
                    return ["label": language.role(grant) + (role.member.map { " (\($0))" } ?? ""), "value": value]
                }
                return ["userId": user.id.uuidString.lowercased(), "name": user.name, "email": user.email, "roles": roles]
            }
            var values: [String: Any] = ["title": language.word("users"), "users": users]
            // A link made on the last request: shown this once.
            if let (link, _) = try await accounts.formDraft(userId: adminId, key: linkKey, as: [String: String].self, errors: [String].self) {
                values["link"] = link["link"] ?? ""
                values["linkEmail"] = link["email"] ?? ""
                try await accounts.dropFormDraft(userId: adminId, key: linkKey)
            }
            var typed: [String: String] = [:]
            var errors = FieldErrors()
            if let kept = try await accounts.formDraft(userId: adminId, key: inviteKey, as: [String: String].self, errors: FieldErrors.self) {
                (typed, errors) = kept
            }
            func field(_ name: String, label: String, hint: String? = nil) -> [String: Any] {
                language.field(name, label: label, value: typed[name] ?? "", hint: hint, error: errors[name])
            }
            values["f"] = ["email": field("email", label: "email"), "name": field("name", label: "name"),
                           "organisation": field("organisation", label: "organisation", hint: "organisationHint")] as [String: Any]
            values["roleChoices"] = UserRole.allCases.map { role in
                ["value": role.rawValue, "label": language.word("role.\(role.rawValue)"), "selected": (typed["role"] ?? "applicant") == role.rawValue]
                    as [String: Any]
            }
            values["members"] = try await memberChoices(services)
            var grantTyped: [String: String] = [:]
            if let (kept, keptErrors) = try await accounts.formDraft(userId: adminId, key: grantKey, as: [String: String].self, errors: FieldErrors.self) {
                grantTyped = kept
                if let error = keptErrors["grant"] { values["grantError"] = error }
            }
            values["userChoices"] = users.map { user in
                ["value": user["userId"] as? String ?? "", "label": "\(user["name"] as? String ?? "") (\(user["email"] as? String ?? ""))",
                 "selected": grantTyped["user"] == user["userId"] as? String] as [String: Any]
            }
            values["grantRoleChoices"] = UserRole.allCases.map { role in
                ["value": role.rawValue, "label": language.word("role.\(role.rawValue)"), "selected": grantTyped["role"] == role.rawValue] as [String: Any]
            }
            values["grantOrganisation"] = grantTyped["organisation"] ?? ""
            values.merge(errors.summary) { $1 }
            return pages.render("users", values, page)
        }
    }

    routes.page("POST", "/admin/users") { request, _ in
        try await services.form(request, pages: pages, [.admin], to: "invite users") { fields, identity in
            let adminId = try identity.pageUser()
            let language = Language(request)
            let command = identity.commandContext
            let grant = roleGrant(fields)
            let role = grant.role
            let email = fields.text("email")
            let userId = CommandHandler.userId(email: email)
            do {
                let invited = try await handler.inviteUser(InviteUser(userId: userId, email: email, name: fields.text("name"), roles: [grant], at: Date()),
                                                           command)
                _ = try await handler.issueSignInLink(IssueSignInLink(userId: userId, hasPassword: false, reset: false, at: Date()), command)
                let token = try await accounts.issueInvitation(userId: userId)
                try await keepLink(adminId, email: email, link: invitationLink(publicURL, token))
                try await accounts.dropFormDraft(userId: adminId, key: inviteKey)
                return Pages.redirect("/admin/users?after=\(invited.position)")
            } catch let error where Problem.from(error).map({ $0.status.code < 500 }) ?? false {
                var errors = FieldErrors()
                let refusal = language.refusal(error, content: nil, rules: nil)
                // The role's parts are named as the form names them.
                let field = refusal.field.hasPrefix("roles[0].") ? String(refusal.field.dropFirst("roles[0].".count)) : refusal.field
                errors.add(field == "groupId" ? "member" : field, refusal.message)
                let typed = ["email": email, "name": fields.text("name"), "role": role.rawValue, "organisation": fields.text("organisation")]
                try await accounts.keepFormDraft(userId: adminId, key: inviteKey, fields: typed, errors: errors)
                return Pages.redirect("/admin/users#invite")
            }
        }
    }

    routes.page("POST", "/admin/users/grant") { request, _ in
        try await services.form(request, pages: pages, [.admin], to: "grant roles") { fields, identity in
            let adminId = try identity.pageUser()
            let userId = try fields.uuid("user")
            let grant = roleGrant(fields)
            do {
                let result = try await handler.grantRole(GrantRole(userId: userId, grant: grant, at: Date()),
                                                         identity.commandContext)
                try await accounts.dropFormDraft(userId: adminId, key: grantKey)
                return Pages.redirect("/admin/users?flash=roleGranted&after=\(result.position)")
            } catch let error where Problem.from(error).map({ $0.status.code < 500 }) ?? false {
                var errors = FieldErrors()
                errors.add("grant", Language(request).refusal(error, content: nil, rules: nil).message)
                let typed = ["user": userId.uuidString.lowercased(), "role": grant.role.rawValue, "organisation": fields.text("organisation")]
                try await accounts.keepFormDraft(userId: adminId, key: grantKey, fields: typed, errors: errors)
                return Pages.redirect("/admin/users#grant")
            }
        }
    }

    routes.page("POST", "/admin/users/:userId/revoke") { request, context in
        try await services.form(request, pages: pages, [.admin], to: "revoke roles") { fields, identity in
            let id = try request.uuidParameter(context, "userId")
            guard let grant = try? JSONDecoder().decode(RoleGrant.self, from: Data(fields.text("grant").utf8)) else {
                throw Problem.badRequest(rule: "invalid-value", field: "grant", "grant must be a role as the page wrote it")
            }
            let result = try await handler.revokeRole(RevokeRole(userId: id, grant: grant, at: Date()),
                                                      identity.commandContext)
            return Pages.redirect("/admin/users?flash=roleRevoked&after=\(result.position)")
        }
    }

    routes.page("POST", "/admin/users/:userId/link") { request, context in
        try await services.form(request, pages: pages, [.admin], to: "send sign-in links") { fields, identity in
            let id = try request.uuidParameter(context, "userId")
            let adminId = try identity.pageUser()
            let user = try await Session(store: services.store).load(UserState.self, id).state
            guard let invited = user.invited else { throw Problem.notFound("user", id.uuidString) }
            // Asked for from this page on purpose: for a user with a password, recorded as a reset.
            _ = try await handler.issueSignInLink(IssueSignInLink(userId: id, hasPassword: try await accounts.hasPassword(userId: id), reset: true, at: Date()),
                                                  identity.commandContext)
            try await keepLink(adminId, email: invited.email, link: invitationLink(publicURL, try await accounts.issueInvitation(userId: id)))
            return Pages.redirect("/admin/users")
        }
    }

    routes.page("POST", "/admin/users/:userId/sign-out") { request, context in
        try await services.form(request, pages: pages, [.admin], to: "sign users out") { fields, _ in
            let id = try request.uuidParameter(context, "userId")
            try await accounts.endSessions(userId: id)
            return Pages.redirect("/admin/users?flash=userSignedOut")
        }
    }

    /// A link to show the admin on the next page, once.
    @Sendable func keepLink(_ adminId: UUID, email: String, link: String) async throws {
        try await accounts.keepFormDraft(userId: adminId, key: linkKey, fields: ["email": email, "link": link], errors: [String]())
    }
}

/// The role a user form names: an applicant's organisation, a steering
/// member's group and member id (`group|member`, as the choices write it).
private func roleGrant(_ fields: FormFields) -> RoleGrant {
    let role = UserRole(rawValue: fields.text("role")) ?? .applicant
    let member = fields.text("member").split(separator: "|", maxSplits: 1).map(String.init)
    return RoleGrant(role: role, organisation: role == .applicant ? fields.text("organisation") : nil,
                     groupId: role == .steering ? member.first.flatMap(UUID.init(uuidString:)) : nil,
                     member: role == .steering && member.count == 2 ? member[1] : nil)
}

/// Every member of every programme's steering group, as "group — member" choices.
private func memberChoices(_ services: Services) async throws -> [[String: Any]] {
    let reads = ReadModels(client: services.store.client, logger: services.logger)
    let session = Session(store: services.store)
    var choices: [[String: Any]] = []
    for groupId in Set(try await reads.pools(nil).map(\.steeringGroupId)).sorted(by: { $0.uuidString < $1.uuidString }) {
        guard let group = try await session.load(SteeringGroupState.self, groupId).state.created else { continue }
        for member in group.members {
            choices.append(["value": "\(groupId.uuidString.lowercased())|\(member.id)", "label": "\(group.name) — \(member.name) (\(member.id))"])
        }
    }
    return choices
}
