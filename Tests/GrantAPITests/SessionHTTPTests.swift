import Accounts
import EventStore
import Foundation
import GrantAPI
import GrantCommands
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("HTTP: signing in, sessions and the throttle")
struct SessionHTTPTests {
    static let organisation = "Aalborg Tekniske Gymnasium"
    static let password = "korrekt hest batteri hæfteklamme"

    /// Invites an applicant and sets their password through the one-time link; returns the user's id.
    static func applicant(_ api: API, _ admin: String, email: String = "kim@aalborg-tg.dk") async throws -> String {
        let invited = try await api.post("/v1/users", admin, """
            {"email": "\(email)", "name": "Kim Nielsen", "roles": [{"role": "applicant", "organisation": "\(organisation)"}]}
            """).ok()
        let id = invited["id"] as? String ?? ""
        let link = try await api.post("/v1/users/\(id)/invitations", admin).ok()["link"] as? String ?? ""
        let token = String(link.split(separator: "/").last ?? "")
        let accounts = Accounts(store: api.store, hasher: PasswordHasher(cost: 4))
        guard case .set = try await accounts.setPassword(token: token, password: password, kind: .browser, address: "test") else {
            Issue.record("the link did not set the password")
            return id
        }
        // A link works once.
        guard case .linkInvalid = try await accounts.setPassword(token: token, password: password, kind: .browser, address: "test") else {
            Issue.record("a used link set a password again")
            return id
        }
        return id
    }

    static func signIn(_ api: API, _ email: String, _ password: String) async throws -> TestResponse {
        try await api.post("/v1/sessions", nil, #"{"email": "\#(email)", "password": "\#(password)"}"#)
    }

    @Test("A user signs in with the password set through the link; the token acts as the user, in the roles held at each request")
    func signInAndRoles() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let id = try await Self.applicant(api, programme.admin)
            let signedIn = try await Self.signIn(api, "Kim@Aalborg-TG.dk", Self.password)
            #expect(signedIn.status == .created, "\(signedIn.text)")
            let token = signedIn.string("token")
            #expect(token.hasPrefix("gls_"))

            let me = try await api.get("/v1/me", token).ok()
            #expect(me["role"] as? String == "applicant" && me["organisation"] as? String == Self.organisation && me["userId"] as? String == id)
            #expect(me["subject"] as? String == "kim@aalborg-tg.dk")
            // The same checks as any applicant token: its own organisation's work, no one else's.
            #expect(try await api.get("/v1/applications?organisation=\(Self.organisation.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed)!)", token).status == .ok)
            #expect(try await api.get("/v1/applications?organisation=Other", token).status == .forbidden)
            #expect(try await api.post("/v1/pools", token, "{}").status == .forbidden)

            // A role revoked is gone at the next request: no waiting for a read model.
            let revoked = try await api.post("/v1/users/\(id)/role-revocations", programme.admin,
                                              #"{"role": "applicant", "organisation": "\#(Self.organisation)"}"#)
            #expect(revoked.status == .created, "\(revoked.text)")
            let after = try await api.get("/v1/me", token)
            #expect(after.status == .forbidden && after.text.contains("no roles"), "\(after.text)")
            // Granted again, it is back, as steering member this time.
            #expect(try await api.post("/v1/users/\(id)/roles", programme.admin, #"{"role": "steering", "groupId": "\#(programme.group)", "member": "bo"}"#)
                .status == .created)
            let steering = try await api.get("/v1/me", token).ok()
            #expect(steering["role"] as? String == "steering" && steering["member"] as? String == "bo")
        }
    }

    @Test("An unknown address and a wrong password get the same answer; guesses are throttled per account and address, also in parallel")
    func noEnumerationAndThrottle() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            _ = try await Self.applicant(api, programme.admin)
            let wrong = try await Self.signIn(api, "kim@aalborg-tg.dk", "not the password at all")
            let unknown = try await Self.signIn(api, "nobody@aalborg-tg.dk", "not the password at all")
            #expect(wrong.status == .unauthorized && unknown.status == .unauthorized)
            #expect(wrong.text == unknown.text, "\(wrong.text) vs \(unknown.text)")

            // Twenty guesses at once: each is counted before its password is checked, so no more than five are ever checked.
            let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                for guess in 0..<20 {
                    group.addTask { Int(try await Self.signIn(api, "kim@aalborg-tg.dk", "guess number \(guess)").status.code) }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(answers.filter { $0 == 401 }.count <= 4, "\(answers)")  // one failure is already counted
            #expect(answers.filter { $0 == 429 }.count >= 16, "\(answers)")
            // However the burst fell (all twenty may have seen each other and been refused unchecked), a sixth failure is never checked.
            var failures = 1 + answers.filter { $0 == 401 }.count
            while failures < 5 {
                #expect(try await Self.signIn(api, "kim@aalborg-tg.dk", "one more guess").status == .unauthorized)
                failures += 1
            }
            // Throttled, even the right password is not checked; another account from the same address is not held up.
            let right = try await Self.signIn(api, "kim@aalborg-tg.dk", Self.password)
            #expect(right.status == .tooManyRequests && right.headers[HTTPField.Name("Retry-After")!] != nil, "\(right.text)")
            #expect(right.string("rule") == "sign-in-throttled")
            let other = try await Self.signIn(api, "nobody@aalborg-tg.dk", "not the password at all")
            #expect(other.status == .unauthorized)
            // Nothing of this is history: no event was written by signing in.
            let stream = try await api.get("/v1/audit/streams/user-\(UUID.named("user/kim@aalborg-tg.dk").uuidString.lowercased())/events",
                                           try await api.token(.auditor)).ok()
            #expect((stream["items"] as? [[String: Any]])?.map { $0["type"] as? String } == ["UserInvited", "RoleGranted", "SignInLinkIssued"])
        }
    }

    @Test("Signing out ends one session; everywhere ends all, and an admin can end a user's; a machine token cannot pose as a session")
    func signOut() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let id = try await Self.applicant(api, programme.admin)
            let first = try await Self.signIn(api, "kim@aalborg-tg.dk", Self.password).string("token")
            let second = try await Self.signIn(api, "kim@aalborg-tg.dk", Self.password).string("token")
            let third = try await Self.signIn(api, "kim@aalborg-tg.dk", Self.password).string("token")

            #expect(try await api.post("/v1/session-revocations", first, "{}").ok()["ended"] as? Int == 1)
            #expect(try await api.get("/v1/me", first).status == .unauthorized)
            #expect(try await api.get("/v1/me", second).status == .ok)
            // Everywhere: this one, the third, and the browser session that setting the password began.
            #expect(try await api.post("/v1/session-revocations", second, #"{"everywhere": true}"#).ok()["ended"] as? Int == 3)
            #expect(try await api.get("/v1/me", third).status == .unauthorized)

            let fourth = try await Self.signIn(api, "kim@aalborg-tg.dk", Self.password).string("token")
            #expect(try await api.post("/v1/users/\(id)/session-revocations", try await programme.applicantToken(Self.organisation)).status == .forbidden)
            #expect(try await api.post("/v1/users/\(id)/session-revocations", programme.admin).ok()["ended"] as? Int == 1)
            #expect(try await api.get("/v1/me", fourth).status == .unauthorized)

            // A session token that was never issued, and a machine token at the session route.
            #expect(try await api.get("/v1/me", "gls_forged").status == .unauthorized)
            #expect(try await api.post("/v1/session-revocations", programme.admin).status == .unauthorized)
            // A session survives the process: another Accounts on the same database resolves it (a second server, or a restart).
            let fifth = try await Self.signIn(api, "kim@aalborg-tg.dk", Self.password).string("token")
            let elsewhere = try await Accounts(store: api.store).session(token: fifth)
            #expect(elsewhere?.email == "kim@aalborg-tg.dk" && elsewhere?.kind == .api)
        }
    }

    @Test("Passwords: the rules are named, and a link can be used once, by the user it was made for")
    func passwordRules() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let invited = try await api.post("/v1/users", programme.admin, #"{"email": "eva@skole.dk", "name": "Eva"}"#).ok()
            let id = invited["id"] as? String ?? ""
            let accounts = Accounts(store: api.store, hasher: PasswordHasher(cost: 4))
            let token = String((try await api.post("/v1/users/\(id)/invitations", programme.admin).ok()["link"] as? String ?? "").split(separator: "/").last ?? "")
            for (password, rule) in [("short", PasswordRule.tooShort), ("Eva@Skole.dk", .isEmail), ("line\nbreak here", .controlCharacters),
                                     (String(repeating: "x", count: 1001), .tooLong)] {
                guard case .refused(let broken) = try await accounts.setPassword(token: token, password: password, kind: .browser, address: "t") else {
                    Issue.record("\(password.prefix(20)) was accepted")
                    continue
                }
                #expect(broken == rule)
            }
            // A new link replaces the old one.
            let newer = String((try await api.post("/v1/users/\(id)/invitations", programme.admin).ok()["link"] as? String ?? "").split(separator: "/").last ?? "")
            guard case .linkInvalid = try await accounts.setPassword(token: token, password: "a long enough one", kind: .browser, address: "t") else {
                Issue.record("a replaced link still worked")
                return
            }
            guard case .set = try await accounts.setPassword(token: newer, password: "a long enough one", kind: .browser, address: "t") else {
                Issue.record("the newer link did not work")
                return
            }
            #expect(try await Self.signIn(api, "eva@skole.dk", "a long enough one").status == .created)
            // Eva has a password now: a link that would replace it is made only on purpose, and is history either way.
            let unasked = try await api.post("/v1/users/\(id)/invitations", programme.admin)
            #expect(unasked.status == .unprocessableContent && unasked.string("field") == "reset", "\(unasked.text)")
            #expect(try await api.post("/v1/users/\(id)/invitations", programme.admin, #"{"reset": true}"#).status == .created)
            let stream = try await api.get("/v1/audit/streams/user-\(id.lowercased())/events", try await api.token(.auditor)).ok()
            let types = (stream["items"] as? [[String: Any]])?.map { $0["type"] as? String ?? "" } ?? []
            #expect(types == ["UserInvited", "SignInLinkIssued", "SignInLinkIssued", "SignInLinkIssued"], "\(types)")
            #expect(try await api.post("/v1/users/\(UUID())/invitations", programme.admin).status == .notFound)
            #expect(try await api.post("/v1/users/\(id)/invitations", try await api.token(.auditor)).status == .forbidden)
        }
    }
}
