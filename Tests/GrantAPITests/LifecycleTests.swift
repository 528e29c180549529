import Foundation
import HTTPTypes
import GrantAPI
import HummingbirdTesting
import Testing

@Suite("HTTP: the whole grant lifecycle against PostgreSQL")
struct LifecycleTests {
    @Test("A pool reads back with its periods and sources in order, earmarks, period limits and shares included, alone and listed")
    func poolShape() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let created = try await api.post("/v1/pools", programme.admin, """
                {"name": "STEM-projektet", "owner": "EU", "currency": "DKK",
                 "periods": [{"period": "2026", "amount": {"amount": "600.00", "currency": "DKK"}},
                             {"period": "2027", "amount": {"amount": "400.00", "currency": "DKK"}}],
                 "sources": [{"id": "eu", "name": "EU", "amount": {"amount": "700.00", "currency": "DKK"}, "maxSharePercent": 60},
                             {"id": "region", "name": "Region", "amount": {"amount": "300.00", "currency": "DKK"}, "period": "2027",
                              "earmarkedFor": ["Tradium", "Mercantec"]}],
                 "steeringGroupId": "\(programme.group)"}
                """).ok()
            let id = created["id"] as? String ?? ""
            let pool = try await api.get("/v1/pools/\(id)?after=\(try await api.head())", programme.admin).ok()
            #expect((pool["periods"] as? [[String: Any]])?.map { $0["period"] as? String } == ["2026", "2027"])
            #expect((pool["totals"] as? [String: [String: String]])?["budget"]?["amount"] == "1000.00")
            let sources = pool["sources"] as? [[String: Any]] ?? []
            #expect(sources.map { $0["id"] as? String } == ["eu", "region"])
            #expect(sources.first?["maxSharePercent"] as? Int == 60 && sources.first?["period"] == nil && sources.first?["earmarkedFor"] == nil)
            #expect(sources.last?["period"] as? String == "2027" && sources.last?["maxSharePercent"] == nil)
            #expect(sources.last?["earmarkedFor"] as? [String] == ["Tradium", "Mercantec"])
            #expect((sources.last?["available"] as? [String: String])?["amount"] == "300.00")
            let listed = try await api.get("/v1/pools", programme.admin).ok()["pools"] as? [[String: Any]] ?? []
            #expect(Set(listed.compactMap { $0["id"] as? String }) == Set([programme.pool, id]))
            #expect(listed.first { $0["id"] as? String == id }?["sources"] as? [[String: Any]] != nil)
        }
    }

    @Test("Pool, call, application, meeting with a recusal, decision, payments with four eyes, reports, reads that wait for the writes")
    func lifecycle() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let school = "Aalborg Tekniske Gymnasium"
            let applicant = try await programme.applicantToken(school)
            let application = try await programme.submittedApplication(school, requested: "250000.00")
            let meeting = try await programme.meeting([application])

            // The agenda shows the application and the version to decide on.
            let bo = try await programme.steeringToken("bo")
            let agenda = try await api.get("/v1/steering-groups/\(programme.group)/agenda?after=\(try await api.head())", bo).ok()
            let items = agenda["items"] as? [[String: Any]] ?? []
            #expect(items.count == 1 && items.first?["applicationId"] as? String == application)
            let version = items.first?["applicationVersion"] as? Int ?? 0

            // Anna is affiliated with the applicant: her vote is refused and nothing is written.
            let before = try await api.eventCount()
            let anna = try await programme.steeringToken("anna")
            let recused = try await api.post("/v1/meetings/\(meeting)/decisions", anna, Programme.approval(application, amount: "250000.00"))
            #expect(recused.status == .unprocessableContent)
            #expect(recused.headers[.contentType] == "application/problem+json")
            #expect(recused.string("rule") == "member-recused" && recused.string("member") == "anna")
            #expect(try await api.eventCount() == before)

            let decision = try await api.post("/v1/meetings/\(meeting)/decisions", bo,
                                              Programme.approval(application, amount: "250000.00", votes: ["bo", "carl"]).replacingOccurrences(
                                                of: "\"applicationVersion\": 1", with: "\"applicationVersion\": \(version)"))
            #expect(decision.status == .created, "\(decision.text)")
            let grant = decision.string("grantId")
            #expect(grant == application)

            // Read-your-writes: the pool answers with the commitment.
            let pool = try await api.get("/v1/pools/\(programme.pool)?after=\(decision.position)", programme.admin).ok()
            let totals = pool["totals"] as? [String: [String: String]] ?? [:]
            #expect(totals["committed"]?["amount"] == "250000.00" && totals["available"]?["amount"] == "750000.00")
            let mine = try await api.get("/v1/applications/\(application)?after=\(decision.position)", applicant).ok()
            #expect(mine["status"] as? String == "approved")
            #expect((mine["granted"] as? [String: String])?["amount"] == "250000.00")

            // Tranche 1 (40 % on signing): requested by one admin, approved by another, paid.
            let requested = try await api.post("/v1/grants/\(grant)/payment-requests", programme.admin, #"{"tranche": 1}"#, key: "pay-1")
            #expect(requested.status == .created, "\(requested.text)")
            let paymentRequest = requested.string("id")
            let selfApproval = try await api.post("/v1/payment-requests/\(paymentRequest)/approve", programme.admin)
            #expect(selfApproval.status == .unprocessableContent && selfApproval.string("rule") == "four-eyes")
            let jens = try await api.token(.admin, subject: "admin:jens")
            _ = try await api.post("/v1/payment-requests/\(paymentRequest)/approve", jens).ok()
            let paid = try await api.post("/v1/payment-requests/\(paymentRequest)/paid", programme.admin, #"{"reference": "NETS-2026-0001"}"#).ok()

            // Tranche 2 waits for the approved progress report.
            let early = try await api.post("/v1/grants/\(grant)/payment-requests", programme.admin, #"{"tranche": 2}"#)
            #expect(early.status == .unprocessableContent && early.string("rule") == "tranche-not-ready")
            let report = try await api.post("/v1/grants/\(grant)/reports", applicant, #"{"kind": "progress", "summary": "Robots built"}"#)
            #expect(report.status == .created, "\(report.text)")
            _ = try await api.post("/v1/grants/\(grant)/reports/\(report.string("id"))/approve", jens).ok()

            let view = try await api.get("/v1/grants/\(grant)?after=\(try await api.head())", applicant).ok()
            #expect((view["paid"] as? [String: String])?["amount"] == "100000.00")
            #expect((view["remaining"] as? [String: String])?["amount"] == "150000.00")
            let tranches = view["tranches"] as? [[String: Any]] ?? []
            #expect(tranches.map { $0["status"] as? String ?? "" } == ["paid", "scheduled", "scheduled"])
            #expect((view["reports"] as? [[String: Any]])?.first?["status"] as? String == "approved")
            #expect((view["paymentRequests"] as? [[String: Any]])?.first?["reference"] as? String == "NETS-2026-0001")
            let poolAfter = try await api.get("/v1/pools/\(programme.pool)?after=\(paid["position"] as? Int ?? 0)", programme.admin).ok()
            #expect((poolAfter["totals"] as? [String: [String: String]])?["paid"]?["amount"] == "100000.00")

            // Open data, no token, JSON and CSV.
            let open = try await api.get("/v1/public/grants?after=\(decision.position)", nil).ok()
            #expect((open["grants"] as? [[String: Any]])?.first?["recipient"] as? String == school)
            let csv = try await api.get("/v1/public/grants?format=csv", nil)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8" && csv.text.contains("Aalborg Tekniske Gymnasium,Robotics for all"))

            // Lists: the applicant sees its own organisation only.
            let list = try await api.get("/v1/applications", applicant).ok()
            #expect((list["items"] as? [[String: Any]])?.count == 1)
            let calls = try await api.get("/v1/pools/\(programme.pool)/calls", programme.admin).ok()
            #expect(((calls["calls"] as? [[String: Any]])?.first?["applications"] as? [String: Int]) == ["approved": 1])
            let grants = try await api.get("/v1/grants?pool=\(programme.pool)", jens).ok()
            #expect((grants["items"] as? [[String: Any]])?.count == 1)
        }
    }

    @Test("A call's deadline moves later, then the call closes early: the calls read follows, a draft can no longer be submitted")
    func callWindow() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let school = "Aalborg Tekniske Gymnasium"
            let applicant = try await programme.applicantToken(school)
            let submitted = try await programme.submittedApplication(school, requested: "100000.00")
            let calls = try await api.get("/v1/pools/\(programme.pool)/calls?after=\(try await api.head())", programme.admin).ok()["calls"] as? [[String: Any]]
            let opensAt = try #require(calls?.first?["opensAt"] as? String)
            let later = Date().addingTimeInterval(60 * 86_400).formatted(.iso8601)
            let moved = try await api.post("/v1/calls/\(programme.call)/window", programme.admin,
                                           #"{"opensAt": "\#(opensAt)", "closesAt": "\#(later)", "reason": "the schools asked for time"}"#)
            #expect(moved.status == .ok, "\(moved.text)")
            var call = try await api.get("/v1/pools/\(programme.pool)/calls?after=\(try await api.head())", programme.admin).ok()["calls"] as? [[String: Any]]
            #expect(call?.first?["closesAt"] as? String == later)

            let draft = try await api.post("/v1/applications", applicant, """
                {"callId": "\(programme.call)", "organisation": "\(school)", "projectLeader": "Kim Nielsen", "title": "Late", "description": "d",
                 "requested": {"amount": "1000.00", "currency": "DKK"}}
                """).ok()["id"] as? String ?? ""
            let closed = try await api.post("/v1/calls/\(programme.call)/close", programme.admin, #"{"reason": "the pool is spent"}"#)
            #expect(closed.status == .ok, "\(closed.text)")
            call = try await api.get("/v1/pools/\(programme.pool)/calls?after=\(try await api.head())", programme.admin).ok()["calls"] as? [[String: Any]]
            let closesAt = try #require((call?.first?["closesAt"] as? String).flatMap { try? Date($0, strategy: .iso8601) })
            #expect(closesAt <= Date())
            let late = try await api.post("/v1/applications/\(draft)/submit", applicant)
            #expect(late.status == .unprocessableContent && late.string("rule") == "call-not-open", "\(late.text)")
            // What was submitted before stays with the steering group.
            let application = try await api.get("/v1/applications/\(submitted)?after=\(try await api.head())", applicant).ok()
            #expect(application["status"] as? String == "submitted")
            let again = try await api.post("/v1/calls/\(programme.call)/close", programme.admin, #"{"reason": "twice"}"#)
            #expect(again.status == .conflict || again.status == .unprocessableContent, "\(again.text)")
        }
    }

    @Test("A retried POST returns the first answer byte for byte and appends nothing; the same key for another request is 409")
    func idempotency() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let token = try await programme.applicantToken("Hjørring Gymnasium")
            let body = """
                {"callId": "\(programme.call)", "organisation": "Hjørring Gymnasium", "projectLeader": "Sara", "title": "Mars rover",
                 "description": "Build one", "requested": {"amount": "50000.00", "currency": "DKK"}}
                """
            let first = try await api.post("/v1/applications", token, body, key: "draft-mars-rover")
            #expect(first.status == .created)
            let count = try await api.eventCount()
            let retry = try await api.post("/v1/applications", token, body, key: "draft-mars-rover")
            #expect(retry.status == first.status && retry.body == first.body)
            #expect(retry.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try await api.eventCount() == count)

            let other = try await api.post("/v1/applications", token, body.replacingOccurrences(of: "Mars rover", with: "Moon base"), key: "draft-mars-rover")
            #expect(other.status == .conflict && other.string("rule") == "idempotency-key-reused")
            #expect(try await api.eventCount() == count)

            // Keys are per sender: another applicant's key of the same name is its own.
            let neighbour = try await programme.applicantToken("Frederikshavn Gymnasium")
            let theirs = try await api.post("/v1/applications", neighbour,
                                            body.replacingOccurrences(of: "Hjørring Gymnasium", with: "Frederikshavn Gymnasium"), key: "draft-mars-rover")
            #expect(theirs.status == .created && theirs.string("id") != first.string("id"))
        }
    }

    @Test("A GET waiting for a position its read models have not reached answers the current data after the bound, marked stale; one past the head at once")
    func staleRead() async throws {
        // No workers: the read models never reach what is written. The bound is long, so "at once" below
        // means "not the bound" on a loaded machine too, not a wall-clock race.
        let bound = Duration.seconds(8)
        try await Harness.with(runWorkers: false, consistencyWait: bound) { api in
            let admin = try await api.token(.admin)
            let written = try await api.post("/v1/steering-groups", admin, #"{"name": "G", "members": [{"id": "m", "name": "M", "affiliations": []}]}"#)
            let clock = ContinuousClock()
            var started = clock.now
            let waited = try await api.get("/v1/pools?after=\(written.position)", admin)
            #expect(waited.status == .ok && waited.headers[HTTPField.Name("Read-Stale")!] == "true")
            #expect(clock.now - started >= bound)
            // Past the head: nothing there to wait for, whoever asks.
            for token in [admin, nil] {
                started = clock.now
                let path = token == nil ? "/v1/public/grants?after=\(Int64.max / 2)" : "/v1/pools?after=\(Int64.max / 2)"
                let beyond = try await api.get(path, token)
                #expect(beyond.status == .ok && beyond.headers[HTTPField.Name("Read-Stale")!] == "true", "\(beyond.text)")
                #expect(clock.now - started < bound / 2)
            }
            let badPosition = try await api.get("/v1/pools?after=soon", admin)
            #expect(badPosition.status == .badRequest && badPosition.string("field") == "after")
        }
    }

    @Test("/health, /metrics and /openapi.yaml")
    func operations() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            _ = try await api.get("/v1/pools", programme.admin).ok()
            let health = try await api.get("/health", nil).ok()
            #expect(health["status"] as? String == "ok" && health["database"] as? String == "reachable")
            let metrics = try await api.get("/metrics", nil)
            #expect(metrics.text.contains("grantledger_events_appended_total"))
            #expect(metrics.text.contains("grantledger_append_batches_total") && metrics.text.contains("grantledger_append_batched_appends_total"))
            #expect(metrics.text.contains("hb_requests"))
            let spec = try await api.get("/openapi.yaml", nil)
            #expect(spec.status == .ok && spec.text.hasPrefix("openapi: 3.1.0"))
        }
    }
}
