import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import PostgresNIO
import Synchronization

/// Who may sign in and how: passwords, one-time links, sessions and the
/// throttle on guessing, in the `accounts` schema beside the history
/// (db/migrations/0001_baseline.sql). Who a user is and which roles they hold are events; each
/// session is resolved against the user's stream on every request, so a
/// role revoked is gone at once, in every process, for browsers and API
/// clients alike.
///
/// An external identity provider (OpenID Connect: MitID through NemLog-in,
/// ID-porten) would replace ``signIn(email:password:address:kind:)``
/// alone: it proves an e-mail address, and ``openSession(for:kind:address:)``
/// does the rest.
public struct Accounts: Sendable {
    public static let sessionLifetime: Duration = .seconds(12 * 3600)
    public static let invitationLifetime: Duration = .seconds(7 * 24 * 3600)

    /// At most this many failed sign-ins within `window` ...
    public struct Throttle: Sendable {
        /// ... for one account from one address,
        public var perAccountAndAddress = 5
        /// ... for one account from addresses it has never signed in from (a
        /// distributed guess; where the user signs in every day stays open),
        public var perAccount = 20
        /// ... from one address for any accounts (a spray over many).
        public var perAddress = 100
        public var window: Duration = .seconds(15 * 60)
        public init() {}
    }

    let store: EventStore
    let hasher: PasswordHasher
    let throttle: Throttle
    /// A hash no password matches, checked when the account is unknown so
    /// that the answer takes as long as for a known one; made at the first sign-in.
    private let decoy = Decoy()
    /// Users' states by the version of their stream they were folded at.
    private let users = FoldedUsers()

    public init(store: EventStore, hasher: PasswordHasher = PasswordHasher(), throttle: Throttle = Throttle()) {
        self.store = store
        self.hasher = hasher
        self.throttle = throttle
    }

    /// Makes the decoy hash now, so that the first sign-in for an unknown address costs what any other does.
    public func prepare() async throws {
        _ = try await decoyHash()
    }

    /// Deletes what has expired: sessions, links, failures past any window, and typing and addresses unused for half a year.
    public func sweep() async throws {
        try await client.query("DELETE FROM accounts.sessions WHERE expires_at <= now()", logger: logger)
        try await client.query("DELETE FROM accounts.invitations WHERE expires_at <= now()", logger: logger)
        try await client.query("DELETE FROM accounts.sign_in_failures WHERE failed_at < now() - interval '1 day'", logger: logger)
        try await client.query("DELETE FROM accounts.known_addresses WHERE last_seen < now() - interval '180 days'", logger: logger)
        try await client.query("DELETE FROM accounts.form_drafts WHERE saved_at < now() - interval '180 days'", logger: logger)
    }

    private func decoyHash() async throws -> String {
        if let made = decoy.hash.withLock({ $0 }) { return made }
        let made = try await hasher.hash(Secret.make().text)
        decoy.hash.withLock { $0 = $0 ?? made }
        return made
    }

    var client: PostgresClient { store.client }
    var logger: Logger { store.logger }

    // MARK: One-time links

    /// A new link for `userId` to set a password with; older links stop working.
    public func issueInvitation(userId: UUID) async throws -> String {
        let secret = Secret.make()
        let seconds = Double(Self.invitationLifetime.components.seconds)
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("DELETE FROM accounts.invitations WHERE user_id = \(userId)", logger: logger)
            try await connection.query("""
                INSERT INTO accounts.invitations (token_hash, user_id, expires_at)
                VALUES (\(Data(secret.digest)), \(userId), now() + make_interval(secs => \(seconds)))
                """, logger: logger)
        }
        return secret.text
    }

    /// The user a link is for, while it is valid.
    public func invitedUser(token: String) async throws -> UserState? {
        guard let userId = try await invitationUser(token) else { return nil }
        let user = try await Session(store: store).load(UserState.self, userId).state
        return user.invited == nil ? nil : user
    }

    private func invitationUser(_ token: String) async throws -> UUID? {
        guard token.utf8.count < 200 else { return nil }
        let rows = try await client.query(
            "SELECT user_id FROM accounts.invitations WHERE token_hash = \(Data(Secret.digest(token))) AND expires_at > now()", logger: logger)
        for try await userId in rows.decode(UUID.self) { return userId }
        return nil
    }

    public enum PasswordChange: Sendable {
        case set(OpenedSession)
        case linkInvalid
        case refused(PasswordRule)
    }

    /// Sets the password through a one-time link: the link is used up, the
    /// user's other sessions end (a reset is often because one was lost),
    /// and a new session begins.
    public func setPassword(token: String, password: String, kind: SessionKind, address: String) async throws -> PasswordChange {
        guard let user = try await invitedUser(token: token), let invited = user.invited else { return .linkInvalid }
        if let rule = PasswordRule.broken(by: password, email: invited.email) { return .refused(rule) }
        let hash = try await hasher.hash(password)
        let used = try await client.withTransaction(logger: logger) { connection in
            var used = false
            for try await _ in try await connection.query("""
                DELETE FROM accounts.invitations WHERE token_hash = \(Data(Secret.digest(token))) AND expires_at > now() RETURNING user_id
                """, logger: logger).decode(UUID.self) { used = true }
            guard used else { return false }
            try await connection.query("""
                INSERT INTO accounts.credentials (user_id, password_hash) VALUES (\(invited.userId), \(hash))
                ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, set_at = now()
                """, logger: logger)
            try await connection.query("DELETE FROM accounts.sessions WHERE user_id = \(invited.userId)", logger: logger)
            return true
        }
        // Two tabs with one link: the second finds it used.
        guard used else { return .linkInvalid }
        return .set(try await openSession(for: invited.userId, kind: kind, address: address))
    }

    /// Sets a password without a link: for the demo's users, whose
    /// passwords are printed for anyone to try. Ends the user's sessions.
    public func setPassword(userId: UUID, email: String, password: String) async throws {
        if let rule = PasswordRule.broken(by: password, email: email) {
            throw DomainError.invalidInput(field: "password", reason: rule.reason)
        }
        let hash = try await hasher.hash(password)
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("""
                INSERT INTO accounts.credentials (user_id, password_hash) VALUES (\(userId), \(hash))
                ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, set_at = now()
                """, logger: logger)
            try await connection.query("DELETE FROM accounts.sessions WHERE user_id = \(userId)", logger: logger)
        }
    }

    // MARK: Signing in

    public enum SignIn: Sendable {
        case signedIn(OpenedSession)
        /// The same answer for an unknown address and a wrong password.
        case refused
        case throttled(retryAfter: Int)
    }

    public func signIn(email: String, password: String, address: String, kind: SessionKind) async throws -> SignIn {
        // No user has such an address: nothing to count, nothing to check.
        guard email.count <= Limits.email, password.count <= PasswordRule.maximum else { return .refused }
        let account = UserState.normalisedEmail(email)
        let userId = CommandHandler.userId(email: email)
        let attempt = UUID.random()
        // Counted before the password is checked, so parallel guesses all count.
        try await client.query("""
            INSERT INTO accounts.sign_in_failures (attempt, account_key, address) VALUES (\(attempt), \(account), \(address))
            """, logger: logger)
        if let retryAfter = try await throttled(account: account, userId: userId, address: address) {
            try await forget(attempt)
            return .throttled(retryAfter: retryAfter)
        }
        var stored: String?
        for try await hash in try await client.query(
            "SELECT password_hash FROM accounts.credentials WHERE user_id = \(userId)", logger: logger).decode(String.self) { stored = hash }
        // The decoy costs what a real check costs: an unknown address answers no sooner.
        let checked: Bool
        do {
            checked = try await hasher.verify(password, against: stored == nil ? try await decoyHash() : stored!)
        } catch {
            try await forget(attempt)
            throw error
        }
        guard checked, let stored else { return .refused }
        try await client.query("""
            DELETE FROM accounts.sign_in_failures WHERE attempt = \(attempt) OR (account_key = \(account) AND address = \(address))
            """, logger: logger)
        try await client.query("""
            INSERT INTO accounts.known_addresses (user_id, address) VALUES (\(userId), \(address))
            ON CONFLICT (user_id, address) DO UPDATE SET last_seen = now()
            """, logger: logger)
        // A password hashed at another cost than today's is hashed again while it is at hand.
        if PasswordHasher.cost(of: stored) != hasher.cost {
            let rehashed = try await hasher.hash(password)
            try await client.query("UPDATE accounts.credentials SET password_hash = \(rehashed) WHERE user_id = \(userId)", logger: logger)
        }
        return .signedIn(try await openSession(for: userId, kind: kind, address: address))
    }

    private func forget(_ attempt: UUID) async throws {
        try await client.query("DELETE FROM accounts.sign_in_failures WHERE attempt = \(attempt)", logger: logger)
    }

    /// Seconds until a try would be counted again, when one of the limits is passed.
    private func throttled(account: String, userId: UUID, address: String) async throws -> Int? {
        let window = Double(throttle.window.components.seconds)
        let rows = try await client.query("""
            SELECT count(*) FILTER (WHERE account_key = \(account) AND address = \(address)),
                   count(*) FILTER (WHERE account_key = \(account)),
                   count(*) FILTER (WHERE address = \(address)),
                   ceil(extract(epoch FROM min(failed_at) + make_interval(secs => \(window)) - now()))::int8,
                   EXISTS (SELECT 1 FROM accounts.known_addresses WHERE user_id = \(userId) AND address = \(address))
            FROM accounts.sign_in_failures
            WHERE failed_at > now() - make_interval(secs => \(window)) AND (account_key = \(account) OR address = \(address))
            """, logger: logger)
        for try await (pair, perAccount, perAddress, wait, known) in rows.decode((Int64, Int64, Int64, Int64?, Bool).self) {
            // Each count includes the attempt being made.
            if pair > throttle.perAccountAndAddress || (perAccount > throttle.perAccount && !known) || perAddress > throttle.perAddress {
                return Int(max(1, wait ?? 1))
            }
        }
        return nil
    }

    // MARK: Sessions

    /// Opens a session for a user whose identity has been proven (a
    /// password here; an identity provider's assertion in future).
    public func openSession(for userId: UUID, kind: SessionKind, address: String) async throws -> OpenedSession {
        let secret = Secret.make(prefix: kind == .api ? "gls_" : "")
        let csrf = Secret.make().text
        let seconds = Double(Self.sessionLifetime.components.seconds)
        var expires = Date()
        for try await at in try await client.query("""
            WITH expired AS (DELETE FROM accounts.sessions WHERE user_id = \(userId) AND expires_at <= now())
            INSERT INTO accounts.sessions (token_hash, user_id, kind, csrf_token, address, expires_at)
            VALUES (\(Data(secret.digest)), \(userId), \(kind.rawValue), \(csrf), \(address), now() + make_interval(secs => \(seconds)))
            RETURNING expires_at
            """, logger: logger).decode(Date.self) { expires = at }
        return OpenedSession(token: secret.text, csrfToken: csrf, userId: userId, expiresAt: expires)
    }

    /// The signed-in user behind a session token, with the roles they hold
    /// now; nil when the session has ended. One round trip: the session,
    /// the version of the user's stream, whether typing is kept for the user,
    /// and the versions of `streams` (those a page shows); the user's state
    /// is folded again only when its version has moved, so a role granted or
    /// revoked counts from the next request, in every process.
    public func session(token: String, alongside streams: [String] = []) async throws -> SignedInUser? {
        guard !token.isEmpty, token.utf8.count < 200 else { return nil }
        var found: SessionByToken.Row?
        for try await row in try await client.execute(SessionByToken(tokenHash: Data(Secret.digest(token)), streams: streams), logger: logger) {
            found = row
        }
        guard let (userId, kind, csrf, version, shownVersions, keptForms) = found, let kind = SessionKind(rawValue: kind) else { return nil }
        let user: UserState
        if let known = users.state(userId, version: version) {
            user = known
        } else {
            let loaded = try await Session(store: store).load(UserState.self, userId)
            user = loaded.state
            users.store(userId, version: loaded.version, state: loaded.state)
        }
        guard let invited = user.invited else { return nil }
        return SignedInUser(userId: userId, email: invited.email, name: invited.name, roles: user.roles, kind: kind, csrfToken: csrf,
                            streamVersions: Dictionary(zip(streams, shownVersions)) { first, _ in first }, hasKeptForms: keptForms)
    }

    /// Ends one session (signing out).
    public func endSession(token: String) async throws {
        try await client.query("DELETE FROM accounts.sessions WHERE token_hash = \(Data(Secret.digest(token)))", logger: logger)
    }

    /// Ends every session of the user, in browsers and API clients; returns how many.
    @discardableResult
    public func endSessions(userId: UUID) async throws -> Int {
        var ended = 0
        for try await _ in try await client.query(
            "DELETE FROM accounts.sessions WHERE user_id = \(userId) RETURNING user_id", logger: logger).decode(UUID.self) { ended += 1 }
        return ended
    }

    // MARK: What users typed

    /// Keeps what a user typed into a form with the errors to show, until it becomes a command.
    public func keepFormDraft(userId: UUID, key: String, fields: some Encodable, errors: some Encodable) async throws {
        let encoder = JSONEncoder()
        let fields = String(decoding: try encoder.encode(fields), as: UTF8.self)
        let errors = String(decoding: try encoder.encode(errors), as: UTF8.self)
        try await client.query("""
            INSERT INTO accounts.form_drafts (user_id, form_key, fields, errors) VALUES (\(userId), \(key), \(fields)::jsonb, \(errors)::jsonb)
            ON CONFLICT (user_id, form_key) DO UPDATE SET fields = excluded.fields, errors = excluded.errors, saved_at = now()
            """, logger: logger)
    }

    /// What was kept for the form, as the types it was kept as; nil when nothing (or another shape) is kept.
    public func formDraft<Fields: Decodable, Errors: Decodable>(userId: UUID, key: String, as fields: Fields.Type, errors: Errors.Type)
        async throws -> (fields: Fields, errors: Errors)? {
        for try await (fields, errors) in try await client.query(
            "SELECT fields::text, errors::text FROM accounts.form_drafts WHERE user_id = \(userId) AND form_key = \(key)", logger: logger
        ).decode((String, String).self) {
            let decoder = JSONDecoder()
            guard let kept = try? decoder.decode(Fields.self, from: Data(fields.utf8)),
                  let shown = try? decoder.decode(Errors.self, from: Data(errors.utf8)) else { return nil }
            return (kept, shown)
        }
        return nil
    }

    /// The user's kept forms whose key starts with `prefix`, newest first.
    public func formDrafts(userId: UUID, prefix: String) async throws -> [(key: String, fields: String)] {
        var drafts: [(key: String, fields: String)] = []
        for try await row in try await client.query("""
            SELECT form_key, fields::text FROM accounts.form_drafts
            WHERE user_id = \(userId) AND starts_with(form_key, \(prefix)) ORDER BY saved_at DESC LIMIT 100
            """, logger: logger).decode((String, String).self) { drafts.append(row) }
        return drafts
    }

    public func dropFormDraft(userId: UUID, key: String) async throws {
        try await client.query("DELETE FROM accounts.form_drafts WHERE user_id = \(userId) AND form_key = \(key)", logger: logger)
    }

    /// Whether the user has set a password yet.
    public func hasPassword(userId: UUID) async throws -> Bool {
        for try await _ in try await client.query("SELECT 1 FROM accounts.credentials WHERE user_id = \(userId)", logger: logger).decode(Int32.self) {
            return true
        }
        return false
    }
}

public enum SessionKind: String, Sendable {
    /// A cookie: forms must carry the session's CSRF token.
    case browser
    /// A bearer token (`gls_...`) for a program acting as the user.
    case api
}

public struct OpenedSession: Sendable {
    /// Given to the client once; only its digest is kept.
    public var token: String
    public var csrfToken: String
    public var userId: UUID
    public var expiresAt: Date
}

public struct SignedInUser: Sendable {
    public var userId: UUID
    public var email: String
    public var name: String
    /// Held now: read from the user's stream on each request.
    public var roles: [RoleGrant]
    public var kind: SessionKind
    public var csrfToken: String
    /// The versions of the streams asked about alongside the session (0: none
    /// yet), read in the same query: a page needs no second round trip to
    /// know whether the states this process folded are current.
    public var streamVersions: [String: Int64]
    /// Whether typing the domain has not taken yet is kept for the user (``formDrafts(userId:prefix:)``).
    public var hasKeptForms: Bool
}

private final class Decoy: Sendable {
    let hash = Mutex<String?>(nil)
}

/// Users as last folded, each with its stream's version: good while the version is.
private final class FoldedUsers: Sendable {
    static let capacity = 10_000
    private let states = Mutex<[UUID: (version: Int64, state: UserState)]>([:])

    func state(_ userId: UUID, version: Int64) -> UserState? {
        states.withLock { states in states[userId].flatMap { $0.version == version ? $0.state : nil } }
    }

    func store(_ userId: UUID, version: Int64, state: UserState) {
        states.withLock { states in
            if states.count >= Self.capacity { states.removeAll(keepingCapacity: true) }
            states[userId] = (version, state)
        }
    }
}

/// A session by its token's digest: its user, the version of the user's
/// stream, the versions of the streams a page shows, and whether the user
/// has forms kept. Read by every signed-in request, so prepared once per
/// connection: planning it took five times as long as running it.
struct SessionByToken: PostgresPreparedStatement {
    static let sql = """
        SELECT s.user_id, s.kind, s.csrf_token, coalesce(st.version, 0),
               ARRAY(SELECT coalesce(shown.version, 0) FROM unnest($2::text[]) WITH ORDINALITY AS w(id, n)
                     LEFT JOIN public.streams shown ON shown.stream_id = w.id ORDER BY w.n),
               EXISTS (SELECT FROM accounts.form_drafts f WHERE f.user_id = s.user_id)
        FROM accounts.sessions s LEFT JOIN public.streams st ON st.stream_id = 'user-' || s.user_id::text
        WHERE s.token_hash = $1 AND s.expires_at > now()
        """
    typealias Row = (UUID, String, String, Int64, [Int64], Bool)

    var tokenHash: Data
    var streams: [String]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        try bindings.append(tokenHash)
        bindings.append(streams)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
