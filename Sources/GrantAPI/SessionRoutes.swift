import Accounts
import Foundation
import GrantCommands
import GrantDomain
import HTTPTypes
import Hummingbird

struct SignInRequest: Decodable {
    var email: String
    var password: String
}

struct SignInLinkRequest: Decodable {
    /// The user has a password: make a link anyway, which replaces it.
    var reset: Bool?
}

struct SessionRevocationRequest: Decodable {
    /// Every session of the user, not only this one.
    var everywhere: Bool?
}

struct OpenedSessionView: Encodable {
    var token: String
    var userId: UUID
    var expiresAt: Date
}

struct InvitationView: Encodable {
    var userId: UUID
    /// Where the user sets a password; works once, for seven days.
    var link: String
    var expiresAt: Date
}

struct MeView: Encodable {
    var subject: String
    var userId: UUID?
    var role: String
    var organisation: String?
    var member: String?
    /// Every role the user holds now (a machine token: its own).
    var roles: [RoleGrant]
}

extension Problem {
    /// One answer for an unknown address and a wrong password: neither tells whether the address is a user's.
    static let signInRefused = Problem(.unauthorized, rule: "sign-in-refused", title: "Sign-in refused",
                                       detail: "the e-mail address or the password is wrong")

    static func throttled(retryAfter: Int) -> Problem {
        Problem(.tooManyRequests, rule: "sign-in-throttled", title: "Too many failed sign-ins",
                detail: "too many failed sign-ins for this address; try again in \(retryAfter) seconds",
                figures: [("retryAfter", .int(Int64(retryAfter)))])
    }
}

/// Signing in and out from programs: a user's e-mail and password give a
/// `gls_` bearer token that acts as the user, with the roles they hold at
/// each request, until it expires or is revoked.
func addSessionRoutes(to routes: Routes, _ services: Services, accounts: Accounts, publicURL: String) {
    routes.post("/v1/sessions") { request, context in
        let body = try await CommandBody.read(request, limit: services.bodyLimit).decode(SignInRequest.self)
        switch try await accounts.signIn(email: body.email, password: body.password, address: context.clientAddress(request, trustedProxies: services.trustedProxies), kind: .api) {
        case .signedIn(let session):
            return try jsonResponse(OpenedSessionView(token: session.token, userId: session.userId, expiresAt: session.expiresAt),
                                    status: .created, headers: [.cacheControl: "no-store"])
        case .refused:
            throw Problem.signInRefused
        case .throttled(let seconds):
            return Problem.throttled(retryAfter: seconds).response(headers: [.retryAfter: "\(seconds)"])
        }
    }

    routes.post("/v1/session-revocations") { request, _ in
        guard case .sessionToken(let token) = Credentials(request), let user = try await services.auth.signedInUser(request) else {
            throw Problem.unauthorized("send the session's own token (Authorization: Bearer gls_...) to end it")
        }
        let body = try await CommandBody.read(request, limit: services.bodyLimit).decode(SessionRevocationRequest.self)
        let ended: Int
        if body.everywhere == true {
            ended = try await accounts.endSessions(userId: user.userId)
        } else {
            try await accounts.endSession(token: token)
            ended = 1
        }
        return try jsonResponse(["ended": ended])
    }

    routes.get("/v1/me") { request, _ in
        let identity = try await services.auth.identity(of: request)
        let held = try await services.auth.signedInUser(request)?.roles
        let own = RoleGrant(role: UserRole(rawValue: identity.role.rawValue) ?? .auditor, organisation: identity.organisation,
                            groupId: identity.groupId, member: identity.member)
        return try jsonResponse(MeView(subject: identity.subject, userId: identity.userId, role: identity.role.rawValue,
                                       organisation: identity.organisation, member: identity.member, roles: held ?? [own]))
    }

    routes.post("/v1/users/:userId/invitations") { request, context in
        let id = try request.uuidParameter(context, "userId")
        return try await services.command(request, [.admin], "send sign-in links", SignInLinkRequest.self) { body, scope in
            // The link is recorded (who made it, and whether it replaces a password) before it exists.
            _ = try await services.commands.issueSignInLink(
                IssueSignInLink(userId: id, hasPassword: try await accounts.hasPassword(userId: id), reset: body.reset ?? false, at: Date()),
                scope.context)
            let token = try await accounts.issueInvitation(userId: id)
            return try jsonResponse(InvitationView(userId: id, link: invitationLink(publicURL, token),
                                                   expiresAt: Date().addingTimeInterval(Double(Accounts.invitationLifetime.components.seconds))),
                                    status: .created, headers: [.cacheControl: "no-store"])
        }
    }

    routes.post("/v1/users/:userId/session-revocations") { request, context in
        let id = try request.uuidParameter(context, "userId")
        _ = try await services.auth.require(request, [.admin], to: "sign users out")
        return try jsonResponse(["ended": try await accounts.endSessions(userId: id)])
    }
}

/// The page where an invited user sets a password.
public func invitationLink(_ publicURL: String, _ token: String) -> String {
    (publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL) + "/invitations/" + token
}

extension HTTPField.Name {
    static let retryAfter = Self("Retry-After")!
}
