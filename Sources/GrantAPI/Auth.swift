import Accounts
import Foundation
import GrantCommands
import GrantDomain
import HTTPTypes
import Hummingbird
import JWTKit
import Synchronization

/// What a token lets its bearer do.
public enum Role: String, Codable, Sendable, CaseIterable {
    /// Runs the programme: pools, calls, meetings, reports, payments.
    case admin
    /// Acts for one organisation: drafts, submits, reports.
    case applicant
    /// A steering-group member: records decisions.
    case steering
    /// Reads everything, changes nothing.
    case auditor
}

/// Who sends a request, in the role they act in: a machine client's
/// verified token, or a signed-in user's session (a browser's cookie or a
/// `gls_` bearer token) with one of the roles the user holds now. Every
/// route checks this and nothing else.
public struct Identity: Sendable, Hashable {
    /// Who the events name as their actor: the token's subject, or the user's e-mail address.
    public var subject: String
    public var role: Role
    /// The applicant's organisation.
    public var organisation: String?
    /// The steering-group member id.
    public var member: String?
    /// The steering member's group: a member id is only unique within one,
    /// so a steering identity, a user's or a machine token's, names both.
    public var groupId: UUID?
    /// The signed-in user, when it is one (not a machine client's token).
    public var userId: UUID?

    public init(subject: String, role: Role, organisation: String? = nil, member: String? = nil, groupId: UUID? = nil, userId: UUID? = nil) {
        self.subject = subject
        self.role = role
        self.organisation = organisation
        self.member = member
        self.groupId = groupId
        self.userId = userId
    }

    /// The user acting in one of the roles they hold.
    init(_ user: SignedInUser, acting grant: RoleGrant) {
        self.init(subject: UserState.normalisedEmail(user.email), role: Role(grant.role), organisation: grant.organisation,
                  member: grant.member, groupId: grant.groupId, userId: user.userId)
    }

    /// Whether this sender is a member of `group`, whose id is `groupId`:
    /// bound to that group, by an id among its members.
    func sits(on group: SteeringGroupState, _ groupId: UUID) -> Bool {
        guard let member, self.groupId == groupId else { return false }
        return group.members[member] != nil
    }
}

extension Identity {
    /// Whom this sender acts as in the deciders' rules: an applicant for
    /// its organisation, a member in its group; missing either, for none.
    var actingAs: ActingAs {
        switch role {
        case .admin: .unrestricted
        case .applicant: .applicant(organisation: organisation ?? "")
        // Every steering identity names its group (tokens without one are refused); without, it acts on nothing.
        case .steering: groupId.map { .member(member ?? "", group: $0) } ?? .auditor
        case .auditor: .auditor
        }
    }

    /// A command's context from this sender, without an idempotency key (pages make their own ids).
    var commandContext: CommandContext {
        CommandContext(actor: subject, role: role.rawValue, actingAs: actingAs)
    }

    /// The signed-in user behind a page's form: a machine client's token has none, and pages keep typing per user.
    func pageUser() throws -> UUID {
        guard let userId else { throw Problem.forbidden("sign in as a user to use the pages") }
        return userId
    }
}

extension Role {
    init(_ role: UserRole) {
        switch role {
        case .admin: self = .admin
        case .applicant: self = .applicant
        case .steering: self = .steering
        case .auditor: self = .auditor
        }
    }
}

/// Where a request's credentials came from.
enum Credentials {
    case machineToken(String)
    case sessionToken(String)
    case cookie(String)
    case none

    static let sessionCookie = "grantledger_session"

    init(_ request: Request) {
        if let header = request.headers[.authorization] {
            guard header.lowercased().hasPrefix("bearer ") else { self = .machineToken(""); return }
            let token = String(header.dropFirst(7))
            self = token.hasPrefix("gls_") ? .sessionToken(token) : .machineToken(token)
        } else if let cookie = request.cookies[Self.sessionCookie]?.value, !cookie.isEmpty {
            self = .cookie(cookie)
        } else {
            self = .none
        }
    }
}

/// The token's claims: RFC 7519's `sub`, `exp`, `iat` and four of ours.
struct Claims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var role: Role
    var org: String?
    var member: String?
    /// A steering member's group.
    var grp: UUID?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Resolves a request's credentials to an ``Identity``: HS256 bearer
/// tokens signed with the deployment's key for machine clients, sessions
/// (``Accounts``) for people.
public struct Authenticator: Sendable {
    private let keys: JWTKeyCollection
    private let verified = VerifiedTokens()
    /// Sessions are resolved here; nil where only tokens are signed (`grantledger token`).
    let accounts: Accounts?

    /// `key` is the shared secret (GRANTLEDGER_JWT_KEY); at least 32 bytes.
    public init(key: String, accounts: Accounts? = nil) async throws {
        self.accounts = accounts
        guard key.utf8.count >= 32 else {
            throw Problem(.internalServerError, rule: "weak-key", title: "JWT key too short",
                          detail: "GRANTLEDGER_JWT_KEY must be at least 32 bytes")
        }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: key), digestAlgorithm: .sha256)
    }

    /// A token for `identity`, valid for `lifetime`.
    public func token(for identity: Identity, lifetime: Duration = .seconds(8 * 3600)) async throws -> String {
        let now = Date()
        let claims = Claims(sub: SubjectClaim(value: identity.subject),
                            exp: ExpirationClaim(value: now.addingTimeInterval(Double(lifetime.components.seconds))),
                            iat: IssuedAtClaim(value: now), role: identity.role, org: identity.organisation, member: identity.member,
                            grp: identity.groupId)
        return try await keys.sign(claims)
    }

    /// The signed-in user behind a session token or the request's cookie.
    /// A cookie is taken for reading, and for a change only with the
    /// session's CSRF token (a form's field, `csrf`, or `X-CSRF-Token`), so
    /// another site cannot make a browser act.
    /// `streams`: streams whose versions to read in the same query (``SignedInUser/streamVersions``).
    func signedInUser(_ request: Request, csrf: String? = nil, alongside streams: [String] = []) async throws -> SignedInUser? {
        guard let accounts else { return nil }
        switch Credentials(request) {
        case .sessionToken(let token):
            guard let user = try await accounts.session(token: token, alongside: streams), user.kind == .api else {
                throw Problem.unauthorized("the session token is unknown, expired or signed out")
            }
            return user
        case .cookie(let token):
            guard let user = try await accounts.session(token: token, alongside: streams), user.kind == .browser else { return nil }
            if request.method != .get, request.method != .head {
                let given = csrf ?? request.headers[.csrfToken]
                guard let given, constantTimeEqual(given, user.csrfToken) else {
                    throw Problem(.forbidden, rule: "csrf", title: "Form expired",
                                  detail: "the form's security token does not match this session: reload the page and send it again")
                }
            }
            return user
        case .machineToken, .none:
            return nil
        }
    }

    /// The identity behind the request's credentials, acting in the first
    /// role it holds; 401 without valid ones.
    func identity(of request: Request, csrf: String? = nil) async throws -> Identity {
        try await require(request, Set(Role.allCases), to: "sign in", csrf: csrf)
    }

    private func machineIdentity(_ request: Request) async throws -> Identity {
        guard let header = request.headers[.authorization] else {
            throw Problem.unauthorized("sign in, or send Authorization: Bearer <token> (grantledger token --role ROLE prints one)")
        }
        guard header.lowercased().hasPrefix("bearer ") else { throw Problem.unauthorized("the Authorization scheme must be Bearer") }
        let token = String(header.dropFirst(7))
        if let identity = verified.identity(token) { return identity }
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch {
            throw Problem.unauthorized("the bearer token is invalid or expired")
        }
        let identity = Identity(subject: claims.sub.value, role: claims.role, organisation: claims.org, member: claims.member, groupId: claims.grp)
        if identity.role == .applicant, identity.organisation?.isEmpty ?? true {
            throw Problem.unauthorized("an applicant token must name its organisation")
        }
        if identity.role == .steering, identity.member?.isEmpty ?? true {
            throw Problem.unauthorized("a steering token must name its member")
        }
        // A member id is unique only within its group: unbound, "anna" of one group could act in another's meetings.
        if identity.role == .steering, identity.groupId == nil {
            throw Problem.unauthorized("a steering token must name its group (grantledger token --role steering --group ID --member ID)")
        }
        verified.store(token, identity, expires: claims.exp.value)
        return identity
    }

    /// The identity, if its role is one of `roles`; 401 or 403 otherwise.
    /// A user acts in the first role they hold that may.
    /// A page that has resolved the user already passes it as `signedIn` (for reading: no CSRF to check).
    func require(_ request: Request, _ roles: Set<Role>, to action: String, csrf: String? = nil, signedIn: SignedInUser? = nil) async throws -> Identity {
        let user: SignedInUser? = if let signedIn { signedIn } else { try await signedInUser(request, csrf: csrf) }
        if let user {
            guard let grant = user.roles.first(where: { roles.contains(Role($0.role)) }) else {
                let held = user.roles.isEmpty ? "no roles" : user.roles.map(\.description).joined(separator: "; ")
                throw Problem.forbidden("\(user.email) may not \(action): they hold \(held); allowed: \(roles.map(\.rawValue).sorted().joined(separator: ", "))")
            }
            return Identity(user, acting: grant)
        }
        let identity = try await machineIdentity(request)
        guard roles.contains(identity.role) else {
            throw Problem.forbidden("role \(identity.role.rawValue) may not \(action); allowed: \(roles.map(\.rawValue).sorted().joined(separator: ", "))")
        }
        return identity
    }
}

/// Tokens this process has verified, until they expire: a client sends the
/// same token with every request, and verifying it (base64, JSON, HMAC)
/// cost more than the rest of a cached read. The same token string can
/// only carry the same claims, so a hit needs no new check but the clock.
final class VerifiedTokens: Sendable {
    static let capacity = 10_000
    private let tokens = Mutex<[String: (identity: Identity, expires: Date)]>([:])

    func identity(_ token: String, now: Date = Date()) -> Identity? {
        tokens.withLock { tokens in
            guard let known = tokens[token] else { return nil }
            guard now < known.expires else {
                tokens[token] = nil
                return nil
            }
            return known.identity
        }
    }

    func store(_ token: String, _ identity: Identity, expires: Date) {
        tokens.withLock { tokens in
            if tokens.count >= Self.capacity { tokens.removeAll(keepingCapacity: true) }
            tokens[token] = (identity, expires)
        }
    }
}

/// Compares secrets in time that does not depend on where they differ.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let a = Array(a.utf8), b = Array(b.utf8)
    guard a.count == b.count else { return false }
    return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}

extension HTTPField.Name {
    static let csrfToken = Self("X-CSRF-Token")!
}
