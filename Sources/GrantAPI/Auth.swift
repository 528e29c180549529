import Foundation
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

/// The bearer of a verified token.
public struct Identity: Sendable, Hashable {
    public var subject: String
    public var role: Role
    /// The applicant's organisation.
    public var organisation: String?
    /// The steering-group member id.
    public var member: String?

    public init(subject: String, role: Role, organisation: String? = nil, member: String? = nil) {
        self.subject = subject
        self.role = role
        self.organisation = organisation
        self.member = member
    }
}

/// The token's claims: RFC 7519's `sub`, `exp`, `iat` and three of ours.
struct Claims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var role: Role
    var org: String?
    var member: String?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// Signs and verifies HS256 bearer tokens with the deployment's key.
public struct Authenticator: Sendable {
    private let keys: JWTKeyCollection
    private let verified = VerifiedTokens()

    /// `key` is the shared secret (GRANTLEDGER_JWT_KEY); at least 32 bytes.
    public init(key: String) async throws {
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
                            iat: IssuedAtClaim(value: now), role: identity.role, org: identity.organisation, member: identity.member)
        return try await keys.sign(claims)
    }

    /// The identity behind the request's bearer token; 401 without a valid one.
    func identity(of request: Request) async throws -> Identity {
        guard let header = request.headers[.authorization] else {
            throw Problem.unauthorized("send Authorization: Bearer <token> (grantledger token --role ROLE prints one)")
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
        let identity = Identity(subject: claims.sub.value, role: claims.role, organisation: claims.org, member: claims.member)
        if identity.role == .applicant, identity.organisation?.isEmpty ?? true {
            throw Problem.unauthorized("an applicant token must name its organisation")
        }
        if identity.role == .steering, identity.member?.isEmpty ?? true {
            throw Problem.unauthorized("a steering token must name its member")
        }
        verified.store(token, identity, expires: claims.exp.value)
        return identity
    }

    /// The identity, if its role is one of `roles`; 401 or 403 otherwise.
    func require(_ request: Request, _ roles: Set<Role>, to action: String) async throws -> Identity {
        let identity = try await identity(of: request)
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
