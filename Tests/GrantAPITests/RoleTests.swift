import Foundation
import HTTPTypes
import GrantAPI
import HummingbirdTesting
import Testing

@Suite("HTTP: every role is held to what it may do")
struct RoleTests {
    @Test("Each forbidden action answers 403 and appends nothing; no token or a forged one answers 401")
    func forbiddenActions() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let school = "Aalborg Tekniske Gymnasium"
            let application = try await programme.submittedApplication(school, requested: "100000.00")
            let meeting = try await programme.meeting([application])
            let approved = try await api.post("/v1/meetings/\(meeting)/decisions", try await programme.steeringToken("bo"),
                                              Programme.approval(application, amount: "100000.00", votes: ["bo", "carl"]))
            #expect(approved.status == .created, "\(approved.text)")
            let grant = application

            let auditor = try await api.token(.auditor, subject: "auditor:rigsrevisionen")
            let applicant = try await programme.applicantToken(school)
            let otherApplicant = try await programme.applicantToken("Hjørring Gymnasium")
            let steering = try await programme.steeringToken("bo")
            let outsider = try await api.token(.steering, member: "zoe", group: programme.group)
            // "bo" sits on this programme's group only: a token for a "bo" of another group is refused here.
            let namesake = try await api.token(.steering, member: "bo", group: UUID().uuidString)
            let content = """
                {"callId": "\(programme.call)", "organisation": "\(school)", "projectLeader": "Kim", "title": "t", "description": "d",
                 "requested": {"amount": "1000.00", "currency": "DKK"}}
                """
            let pool = """
                {"name": "p", "owner": "o", "currency": "DKK", "periods": [], "sources": [], "steeringGroupId": "\(programme.group)"}
                """
            let forbidden: [(role: String, token: String, method: String, path: String, body: String)] = [
                // Auditors read everything and change nothing.
                ("auditor", auditor, "POST", "/v1/pools", pool),
                ("auditor", auditor, "POST", "/v1/steering-groups", #"{"name": "g", "members": []}"#),
                ("auditor", auditor, "POST", "/v1/applications", content),
                ("auditor", auditor, "POST", "/v1/meetings/\(meeting)/decisions", Programme.approval(application, amount: "1.00")),
                ("auditor", auditor, "POST", "/v1/grants/\(grant)/payment-requests", #"{"tranche": 2}"#),
                ("auditor", auditor, "POST", "/v1/grants/\(grant)/adjustments", #"{"kind": "cancel", "reason": "r"}"#),
                ("auditor", auditor, "GET", "/v1/steering-groups/\(programme.group)/agenda", ""),
                // Applicants act for their own organisation only, and decide nothing.
                ("applicant", applicant, "POST", "/v1/pools", pool),
                ("applicant", applicant, "POST", "/v1/pools/\(programme.pool)/calls", #"{"title": "t", "opensAt": "2026-01-01", "closesAt": "2026-02-01"}"#),
                ("applicant", applicant, "POST", "/v1/meetings/\(meeting)/decisions", Programme.approval(application, amount: "1.00")),
                ("applicant", applicant, "POST", "/v1/grants/\(grant)/payment-requests", #"{"tranche": 2}"#),
                ("applicant", applicant, "POST", "/v1/grants/\(grant)/adjustments", #"{"kind": "cancel", "reason": "r"}"#),
                ("applicant", applicant, "GET", "/v1/pools/\(programme.pool)/calls", ""),
                ("applicant", applicant, "GET", "/v1/steering-groups/\(programme.group)/agenda", ""),
                ("applicant", otherApplicant, "POST", "/v1/applications", content),
                ("applicant", otherApplicant, "POST", "/v1/applications/\(application)/withdraw", "{}"),
                ("applicant", otherApplicant, "POST", "/v1/grants/\(grant)/reports", #"{"kind": "progress", "summary": "s"}"#),
                ("applicant", otherApplicant, "GET", "/v1/applications/\(application)", ""),
                ("applicant", otherApplicant, "GET", "/v1/grants/\(grant)", ""),
                ("applicant", otherApplicant, "GET", "/v1/applications?organisation=\(school.replacingOccurrences(of: " ", with: "%20"))", ""),
                // Steering members decide, in their own group only; they administer nothing.
                ("steering", steering, "POST", "/v1/pools", pool),
                ("steering", steering, "POST", "/v1/applications", content),
                ("steering", steering, "POST", "/v1/grants/\(grant)/payment-requests", #"{"tranche": 2}"#),
                ("steering", steering, "POST", "/v1/steering-groups/\(programme.group)/meetings", #"{"date": "2026-03-01", "present": ["bo"], "agenda": []}"#),
                ("steering", outsider, "POST", "/v1/meetings/\(meeting)/decisions", Programme.approval(application, amount: "1.00")),
                ("steering", outsider, "GET", "/v1/steering-groups/\(programme.group)/agenda", ""),
                ("steering", namesake, "POST", "/v1/meetings/\(meeting)/decisions", Programme.approval(application, amount: "1.00", votes: ["bo"])),
                ("steering", namesake, "GET", "/v1/steering-groups/\(programme.group)/agenda", ""),
                ("steering", namesake, "GET", "/v1/meetings/\(meeting)/documents", ""),
                // Admins run the programme but do not apply or vote.
                ("admin", programme.admin, "POST", "/v1/applications", content),
                ("admin", programme.admin, "POST", "/v1/meetings/\(meeting)/decisions", Programme.approval(application, amount: "1.00")),
                ("admin", programme.admin, "POST", "/v1/grants/\(grant)/reports", #"{"kind": "progress", "summary": "s"}"#),
            ]
            // Reads below find the approval in the read models.
            _ = try await api.get("/v1/grants/\(grant)?after=\(approved.position)", programme.admin).ok()
            for action in forbidden {
                let before = try await api.eventCount()
                let response = action.method == "GET" ? try await api.get(action.path, action.token) : try await api.post(action.path, action.token, action.body)
                #expect(response.status == .forbidden, "\(action.role) \(action.method) \(action.path): \(response.status.code) \(response.text)")
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(try await api.eventCount() == before, "\(action.role) \(action.method) \(action.path) appended")
            }

            // The auditor reads everything.
            for path in ["/v1/pools", "/v1/pools/\(programme.pool)", "/v1/pools/\(programme.pool)/calls", "/v1/calls/\(programme.call)/applications",
                         "/v1/applications/\(application)", "/v1/grants/\(grant)", "/v1/grants?pool=\(programme.pool)"] {
                let response = try await api.get(path + (path.contains("?") ? "&" : "?") + "after=\(approved.position)", auditor)
                #expect(response.status == .ok, "auditor GET \(path): \(response.text)")
            }

            let before = try await api.eventCount()
            let forged = try await Authenticator(key: "another-key-that-is-long-enough-0123456789").token(for: Identity(subject: "x", role: .admin))
            for token in [nil, "not-a-jwt", forged] {
                let response = try await api.post("/v1/pools", token, pool)
                #expect(response.status == .unauthorized && response.string("rule") == "unauthenticated", "\(response.text)")
            }
            // A steering token signed with the right key but bound to no group: a member id means nothing without one.
            let unbound = try await api.token(.steering, member: "bo")
            let vote = try await api.post("/v1/meetings/\(meeting)/decisions", unbound, Programme.approval(application, amount: "1.00", votes: ["bo"]))
            #expect(vote.status == .unauthorized && vote.text.contains("must name its group"), "\(vote.text)")
            #expect(try await api.get("/v1/pools", nil).status == .unauthorized)
            #expect(try await api.eventCount() == before)
        }
    }

    @Test("a token accepted once is refused after it expires, though the server has verified it before")
    func expiredTokenIsRefused() async throws {
        try await Harness.with { api in
            // Long enough that both requests land inside it on a loaded machine
            // (two seconds did not, once, under CI's parallel tests); the wait is
            // only until it has passed.
            let issued = ContinuousClock.now
            let token = try await api.auth.token(for: Identity(subject: "admin:short", role: .admin), lifetime: .seconds(8))
            #expect(try await api.get("/v1/pools", token).status == .ok)
            #expect(try await api.get("/v1/pools", token).status == .ok)
            try await Task.sleep(until: issued + .seconds(9), clock: .continuous)
            let refused = try await api.get("/v1/pools", token)
            #expect(refused.status == .unauthorized && refused.string("rule") == "unauthenticated", "\(refused.text)")
        }
    }
}
