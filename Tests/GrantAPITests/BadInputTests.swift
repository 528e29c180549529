import EventStore
import Foundation
import HTTPTypes
import GrantAPI
import HummingbirdTesting
import NIOCore
import Testing

@Suite("HTTP: bad input gets a clear problem and leaves the history untouched")
struct BadInputTests {
    @Test("Malformed, mistyped, missing, out-of-range and unknown input: the right 4xx, the field and rule named, nothing appended")
    func badInput() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let school = "Aalborg Tekniske Gymnasium"
            let applicant = try await programme.applicantToken(school)
            let big = try await programme.submittedApplication(school, requested: "5000000.00", title: "Too big for the pool")
            let meeting = try await programme.meeting([big])
            let bo = try await programme.steeringToken("bo")

            func draft(_ requested: String, title: String = "Robots") -> String {
                """
                {"callId": "\(programme.call)", "organisation": "\(school)", "projectLeader": "Kim", "title": "\(title)",
                 "description": "d", "requested": \(requested)}
                """
            }
            struct Case {
                var name: String
                var token: String
                var path: String
                var body: ByteBuffer
                var status: HTTPResponse.Status
                var rule: String
                var field: String?
            }
            func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
            let unknown = UUID().uuidString
            let admin = programme.admin
            let cases: [Case] = [
                Case(name: "malformed JSON", token: admin, path: "/v1/steering-groups", body: json(#"{"name": "#), status: .badRequest, rule: "malformed-json"),
                Case(name: "not JSON at all", token: admin, path: "/v1/steering-groups", body: json("name=x"), status: .badRequest, rule: "malformed-json"),
                Case(name: "an array, not an object", token: admin, path: "/v1/steering-groups", body: json("[]"), status: .badRequest, rule: "wrong-type"),
                Case(name: "a number for a string", token: admin, path: "/v1/steering-groups", body: json(#"{"name": 5, "members": []}"#),
                     status: .badRequest, rule: "wrong-type", field: "name"),
                Case(name: "a missing field", token: admin, path: "/v1/steering-groups", body: json(#"{"members": []}"#),
                     status: .badRequest, rule: "missing-field", field: "name"),
                Case(name: "null for a required field", token: admin, path: "/v1/steering-groups", body: json(#"{"name": null, "members": []}"#),
                     status: .badRequest, rule: "wrong-type", field: "name"),
                Case(name: "a NUL character in a string", token: admin, path: "/v1/steering-groups", body: json(#"{"name": "g\u0000", "members": []}"#),
                     status: .badRequest, rule: "nul-character", field: "name"),
                Case(name: "a NUL character deep in the body", token: admin, path: "/v1/steering-groups",
                     body: json(#"{"name": "g", "members": [{"id": "a", "name": "A\u0000", "affiliations": []}]}"#),
                     status: .badRequest, rule: "nul-character", field: "members[0].name"),
                Case(name: "a nested missing field", token: admin, path: "/v1/steering-groups",
                     body: json(#"{"name": "g", "members": [{"id": "a", "name": "A"}]}"#), status: .badRequest, rule: "missing-field", field: "members[0].affiliations"),
                Case(name: "a negative amount", token: applicant, path: "/v1/applications", body: json(draft(#"{"amount": "-5.00", "currency": "DKK"}"#)),
                     status: .unprocessableContent, rule: "invalid-input", field: "requested"),
                Case(name: "a zero amount", token: applicant, path: "/v1/applications", body: json(draft(#"{"amount": "0.00", "currency": "DKK"}"#)),
                     status: .unprocessableContent, rule: "invalid-input", field: "requested"),
                Case(name: "an amount over Int64", token: applicant, path: "/v1/applications",
                     body: json(draft(#"{"amount": "99999999999999999999.00", "currency": "DKK"}"#)), status: .badRequest, rule: "invalid-value", field: "requested.amount"),
                Case(name: "an absurd amount within Int64", token: applicant, path: "/v1/applications",
                     body: json(draft(#"{"amount": "90000000000000000.00", "currency": "DKK"}"#)), status: .unprocessableContent, rule: "invalid-input", field: "requested"),
                Case(name: "an amount as a number", token: applicant, path: "/v1/applications", body: json(draft(#"{"amount": 5000, "currency": "DKK"}"#)),
                     status: .badRequest, rule: "wrong-type", field: "requested.amount"),
                Case(name: "too many decimals", token: applicant, path: "/v1/applications", body: json(draft(#"{"amount": "10.001", "currency": "DKK"}"#)),
                     status: .badRequest, rule: "invalid-value", field: "requested.amount"),
                Case(name: "an unknown currency", token: applicant, path: "/v1/applications", body: json(draft(#"{"amount": "10.00", "currency": "XYZ"}"#)),
                     status: .badRequest, rule: "invalid-value", field: "requested.currency"),
                Case(name: "the pool's wrong currency", token: applicant, path: "/v1/applications", body: json(draft(#"{"amount": "10.00", "currency": "EUR"}"#)),
                     status: .unprocessableContent, rule: "currency-mismatch"),
                Case(name: "an empty title", token: applicant, path: "/v1/applications", body: json(draft(#"{"amount": "10.00", "currency": "DKK"}"#, title: " ")),
                     status: .unprocessableContent, rule: "invalid-input", field: "title"),
                Case(name: "a bad date", token: admin, path: "/v1/pools/\(programme.pool)/calls",
                     body: json(#"{"title": "t", "opensAt": "2026-13-45", "closesAt": "2026-02-01"}"#), status: .badRequest, rule: "invalid-value", field: "opensAt"),
                Case(name: "a call that closes before it opens", token: admin, path: "/v1/pools/\(programme.pool)/calls",
                     body: json(#"{"title": "t", "opensAt": "2026-03-01", "closesAt": "2026-02-01"}"#), status: .unprocessableContent, rule: "invalid-input", field: "closesAt"),
                Case(name: "a call's deadline moved into the past", token: admin, path: "/v1/calls/\(programme.call)/window",
                     body: json(#"{"opensAt": "2020-01-01T00:00:00Z", "closesAt": "2021-01-01T00:00:00Z"}"#), status: .unprocessableContent,
                     rule: "invalid-input", field: "closesAt"),
                Case(name: "a call closed without a reason", token: admin, path: "/v1/calls/\(programme.call)/close", body: json(#"{"reason": ""}"#),
                     status: .unprocessableContent, rule: "invalid-input", field: "reason"),
                Case(name: "an applicant closing a call", token: applicant, path: "/v1/calls/\(programme.call)/close", body: json(#"{"reason": "x"}"#),
                     status: .forbidden, rule: "forbidden"),
                Case(name: "an unknown call's window", token: admin, path: "/v1/calls/\(unknown)/window",
                     body: json(#"{"opensAt": "2026-01-01T00:00:00Z", "closesAt": "2099-01-01T00:00:00Z"}"#), status: .notFound, rule: "not-found"),
                Case(name: "an unknown call", token: applicant, path: "/v1/applications",
                     body: json(draft(#"{"amount": "10.00", "currency": "DKK"}"#).replacingOccurrences(of: programme.call, with: unknown)), status: .notFound, rule: "not-found"),
                Case(name: "an unknown pool", token: admin, path: "/v1/pools/\(unknown)/calls",
                     body: json(#"{"title": "t", "opensAt": "2026-01-01", "closesAt": "2026-02-01"}"#), status: .notFound, rule: "not-found"),
                Case(name: "an id that is not a UUID", token: applicant, path: "/v1/applications/42/submit", body: json("{}"),
                     status: .badRequest, rule: "invalid-id", field: "applicationId"),
                Case(name: "a 5 MiB body", token: admin, path: "/v1/steering-groups",
                     body: json(#"{"name": ""# + String(repeating: "x", count: 5 << 20) + #"", "members": []}"#), status: .contentTooLarge, rule: "body-too-large"),
                Case(name: "an approval over the pool", token: bo, path: "/v1/meetings/\(meeting)/decisions",
                     body: json(Programme.approval(big, amount: "5000000.00", votes: ["bo", "carl"])), status: .unprocessableContent, rule: "insufficient-funds"),
                Case(name: "an approval over the request", token: bo, path: "/v1/meetings/\(meeting)/decisions",
                     body: json(Programme.approval(big, amount: "5000000.01", votes: ["bo", "carl"])), status: .unprocessableContent, rule: "invalid-input", field: "amount"),
                Case(name: "a vote by a non-member", token: bo, path: "/v1/meetings/\(meeting)/decisions",
                     body: json(Programme.approval(big, amount: "1.00", votes: ["bo", "zoe"])), status: .unprocessableContent, rule: "not-a-member"),
                Case(name: "an unknown outcome", token: bo, path: "/v1/meetings/\(meeting)/decisions",
                     body: json(Programme.approval(big, amount: "1.00").replacingOccurrences(of: "\"approve\"", with: "\"maybe\"")),
                     status: .badRequest, rule: "invalid-value", field: "outcome"),
                Case(name: "an unknown payment request", token: admin, path: "/v1/payment-requests/\(unknown)/approve", body: json("{}"),
                     status: .notFound, rule: "not-found"),
                Case(name: "a bad idempotency key", token: admin, path: "/v1/steering-groups", body: json(#"{"name": "g", "members": []}"#),
                     status: .badRequest, rule: "invalid-idempotency-key", field: "Idempotency-Key"),
                // One parse, one meaning (RFC 7493): a key given twice is refused, whichever value a check or the decoder would take.
                Case(name: "a key given twice, the first with NUL", token: admin, path: "/v1/steering-groups",
                     body: json(#"{"name": "x\u0000y", "name": "ok", "members": [{"id": "a", "name": "A", "affiliations": []}]}"#),
                     status: .badRequest, rule: "duplicate-key", field: "name"),
                Case(name: "a key given twice deep in the body", token: admin, path: "/v1/steering-groups",
                     body: json(#"{"name": "g", "members": [{"id": "a", "id": "b", "name": "A", "affiliations": []}]}"#),
                     status: .badRequest, rule: "duplicate-key", field: "members[0].id"),
                Case(name: "a NUL in a key", token: admin, path: "/v1/steering-groups",
                     body: json(#"{"name": "g", "members": [], "x\u0000": 1}"#), status: .badRequest, rule: "nul-character", field: "x\u{0}"),
                Case(name: "bytes that are not UTF-8", token: admin, path: "/v1/steering-groups",
                     body: ByteBuffer(bytes: Array(#"{"name": ""#.utf8) + [0xC3, 0x28] + Array(#"", "members": []}"#.utf8)),
                     status: .badRequest, rule: "invalid-utf8"),
                Case(name: "half a surrogate pair", token: admin, path: "/v1/steering-groups",
                     body: json(#"{"name": "\ud800", "members": []}"#), status: .badRequest, rule: "malformed-json"),
                // Dates are strict and in 1900-9999: never rolled over, never past what the database driver converts.
                Case(name: "30 February", token: admin, path: "/v1/pools/\(programme.pool)/calls",
                     body: json(#"{"title": "t", "opensAt": "2024-02-30", "closesAt": "2026-02-01"}"#), status: .badRequest, rule: "invalid-value", field: "opensAt"),
                Case(name: "31 April", token: admin, path: "/v1/pools/\(programme.pool)/calls",
                     body: json(#"{"title": "t", "opensAt": "2026-01-01", "closesAt": "2026-04-31T00:00:00Z"}"#), status: .badRequest, rule: "invalid-value", field: "closesAt"),
                Case(name: "hour 24", token: admin, path: "/v1/pools/\(programme.pool)/calls",
                     body: json(#"{"title": "t", "opensAt": "2026-01-01T24:00:00Z", "closesAt": "2026-02-01"}"#), status: .badRequest, rule: "invalid-value", field: "opensAt"),
                Case(name: "year 0", token: admin, path: "/v1/pools/\(programme.pool)/calls",
                     body: json(#"{"title": "t", "opensAt": "0000-01-01", "closesAt": "2026-02-01"}"#), status: .badRequest, rule: "invalid-value", field: "opensAt"),
                Case(name: "year 300000", token: admin, path: "/v1/steering-groups/\(programme.group)/meetings",
                     body: json(#"{"date": "300000-01-01T00:00:00Z", "present": ["bo"], "agenda": []}"#), status: .badRequest, rule: "invalid-value", field: "date"),
                Case(name: "a time without a zone", token: admin, path: "/v1/steering-groups/\(programme.group)/meetings",
                     body: json(#"{"date": "2026-03-01T10:00:00", "present": ["bo"], "agenda": []}"#), status: .badRequest, rule: "invalid-value", field: "date"),
                // Every count and list within what the read models hold and an event can carry.
                Case(name: "a count over an integer column", token: applicant, path: "/v1/applications",
                     body: json(draft(#"{"amount": "10.00", "currency": "DKK"}"#).replacingOccurrences(of: #""description": "d""#, with: #""description": "d", "studentsReached": 3000000000"#)),
                     status: .unprocessableContent, rule: "invalid-input", field: "studentsReached"),
                Case(name: "a list longer than the limit", token: admin, path: "/v1/steering-groups/\(programme.group)/meetings",
                     body: json(#"{"date": "2026-03-01", "present": ["bo"], "agenda": ["# + Array(repeating: "\"\(unknown)\"", count: 10_001).joined(separator: ",") + "]}"),
                     status: .unprocessableContent, rule: "invalid-input", field: "agenda"),
                Case(name: "a text of combining marks, one character but 40,000 scalars", token: applicant, path: "/v1/applications",
                     body: json(draft(#"{"amount": "10.00", "currency": "DKK"}"#).replacingOccurrences(of: #""description": "d""#,
                                                                                            with: #""description": "e"# + String(repeating: #"\u0301"#, count: 40_000) + "\"")),
                     status: .unprocessableContent, rule: "invalid-input", field: "description"),
                Case(name: "a control character in a name", token: admin, path: "/v1/steering-groups",
                     body: json(#"{"name": "a\u0007b", "members": [{"id": "a", "name": "A", "affiliations": []}]}"#),
                     status: .unprocessableContent, rule: "invalid-input", field: "name"),
                // A fact cannot be dated before what it depends on.
                Case(name: "a meeting before its steering group existed", token: admin, path: "/v1/steering-groups/\(programme.group)/meetings",
                     body: json(#"{"date": "2020-03-01T10:00:00Z", "present": ["bo"], "agenda": []}"#), status: .unprocessableContent, rule: "dated-before-dependency"),
            ]
            for test in cases {
                let before = try await api.eventCount()
                let key = test.rule == "invalid-idempotency-key" ? String(repeating: "k", count: 201) : nil
                let response = try await api.post(test.path, test.token, body: test.body, key: key)
                #expect(response.status == test.status, "\(test.name): \(response.status.code) \(response.text.prefix(300))")
                #expect(response.headers[.contentType] == "application/problem+json", "\(test.name)")
                #expect(response.string("rule") == test.rule, "\(test.name): \(response.text.prefix(300))")
                #expect(response.string("type") == "urn:grantledger:problem:\(test.rule)", "\(test.name)")
                if let field = test.field { #expect(response.string("field") == field, "\(test.name): \(response.text.prefix(300))") }
                #expect(!response.string("detail").isEmpty, "\(test.name)")
                #expect(try await api.eventCount() == before, "\(test.name) appended events")
            }

            // The longest key there is, from a sender whose name makes the scoped key longer than the store's column.
            let longKey = String(repeating: "k", count: 200)
            let groupBody = #"{"name": "Keyed", "members": [{"id": "a", "name": "A", "affiliations": []}]}"#
            let first = try await api.post("/v1/steering-groups", admin, groupBody, key: longKey)
            let retry = try await api.post("/v1/steering-groups", admin, groupBody, key: longKey)
            #expect(first.status == .created && retry.status == .created && retry.string("id") == first.string("id"), "\(first.text)")
            #expect(retry.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")

            // GETs: unknown ids are 404, malformed ones 400, unknown routes 404, all as problems.
            for (path, status) in [("/v1/pools/\(unknown)", HTTPResponse.Status.notFound), ("/v1/grants/\(unknown)", .notFound),
                                   ("/v1/applications/\(unknown)", .notFound), ("/v1/pools/not-a-uuid", .badRequest),
                                   ("/v1/applications?limit=0", .badRequest), ("/v1/nowhere", .notFound), ("/v1/public/grants?format=xml", .badRequest)] {
                let response = try await api.get(path, admin)
                #expect(response.status == status && response.headers[.contentType] == "application/problem+json", "GET \(path): \(response.text)")
            }
            // Query text PostgreSQL cannot hold, and filters that could only match nothing, are named.
            for (path, rule, field) in [("/v1/applications?organisation=a%00b", "nul-character", "organisation"),
                                        ("/v1/grants?organisation=%00", "nul-character", "organisation"),
                                        ("/v1/applications?status=approvd", "invalid-value", "status")] {
                let response = try await api.get(path, admin)
                #expect(response.status == .badRequest && response.string("rule") == rule && response.string("field") == field,
                        "GET \(path): \(response.status.code) \(response.text)")
            }
            let filtered = try await api.get("/v1/applications?status=returned-for-revision", admin)
            #expect(filtered.status == .ok, "\(filtered.text)")
        }
    }

    @Test("SQL and script fragments and unicode in text fields are stored and read back verbatim")
    func hostileText() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let organisation = "Ærø Skole 🎓 Ørnevej"
            let applicant = try await programme.applicantToken(organisation)
            for title in ["'); DROP TABLE events; --", "<script>alert('x')</script>", "Robert\\\"); DELETE FROM streams;--", "Ålborg Æblehave Øst 中文 🚀"] {
                let created = try await api.post("/v1/applications", applicant, """
                    {"callId": "\(programme.call)", "organisation": "\(organisation)", "projectLeader": "Ñandú Ö'Brien",
                     "title": "\(title)", "description": "d", "requested": {"amount": "1000.00", "currency": "DKK"}}
                    """)
                #expect(created.status == .created, "\(created.text)")
                let read = try await api.get("/v1/applications/\(created.string("id"))?after=\(created.position)", applicant).ok()
                let expected = title.replacingOccurrences(of: "\\\"", with: "\"")
                #expect(read["title"] as? String == expected && read["organisation"] as? String == organisation)
            }
            #expect(try await api.eventCount() > 0)
        }
    }
}

@Suite("HTTP: what /health tells whom")
struct HealthTests {
    @Test("a stopped projection shows as failed to anyone, and why only to an administrator")
    func redacted() async throws {
        try await Harness.with { api in
            // An event the pool_balances projection cannot read, written past the domain.
            let stream = try StreamID("pool-\(UUID().uuidString.lowercased())")
            _ = try await api.store.append([StreamWrite(stream: stream, expected: .noStream,
                                                        events: [NewEvent(type: "MoneyCommitted", data: "{}", occurredAt: Date())])])
            let admin = try await api.token(.admin), auditor = try await api.token(.auditor)
            var failed: [String: Any]?
            for _ in 0..<300 where failed == nil {
                let projections = try await api.get("/health", nil).json["projections"] as? [[String: Any]] ?? []
                failed = projections.first { $0["state"] as? String == "failed" }
                if failed == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let stopped = try #require(failed)
            #expect(stopped["name"] as? String == "pool_balances" && stopped["error"] == nil && stopped["failedPosition"] != nil, "\(stopped)")
            for (token, shown) in [(nil, false), (auditor, false), (admin, true), ("not a token", false)] as [(String?, Bool)] {
                let health = try await api.get("/health", token)
                #expect(health.status == .ok && health.string("status") == "degraded")
                let projection = (health.json["projections"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "pool_balances" }
                let error = projection?["error"] as? String
                #expect(shown ? error?.contains("MoneyCommitted") == true : error == nil, "\(String(describing: projection))")
            }
            // The other read models carry on.
            let others = (try await api.get("/health", nil).json["projections"] as? [[String: Any]] ?? []).filter { $0["name"] as? String != "pool_balances" }
            #expect(others.allSatisfy { $0["state"] as? String == "running" })
        }
    }
}
