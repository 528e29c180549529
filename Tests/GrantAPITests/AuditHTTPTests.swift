import Foundation
import GrantAPI
import GrantDomain
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("HTTP: the audit endpoints")
struct AuditHTTPTests {
    @Test("As-of replay, decision trail, history, verification and export, for auditors and admins only")
    func audit() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let school = "Aalborg Tekniske Gymnasium"
            let application = try await programme.submittedApplication(school, requested: "300000.00")
            let meeting = try await programme.meeting([application])
            let beforeDecision = CivilTime.format(Date())
            try await Task.sleep(for: .milliseconds(20))
            let decision = try await api.post("/v1/meetings/\(meeting)/decisions", try await programme.steeringToken("bo"),
                                              Programme.approval(application, amount: "300000.00", votes: ["bo", "carl"]))
            #expect(decision.status == .created, "\(decision.text)")
            let auditor = try await api.token(.auditor, subject: "auditor:rigsrevisionen")

            let now = try await api.get("/v1/audit/pools/\(programme.pool)", auditor).ok()
            #expect((now["committed"] as? [String: String])?["amount"] == "300000.00")
            let then = try await api.get("/v1/audit/pools/\(programme.pool)?asOf=\(beforeDecision)&basis=recorded", auditor).ok()
            #expect((then["committed"] as? [String: String])?["amount"] == "0.00" && then["exists"] as? Bool == true)
            let grant = try await api.get("/v1/audit/grants/\(application)?basis=occurred", auditor).ok()
            #expect((grant["granted"] as? [String: String])?["amount"] == "300000.00")
            let trail = try await api.get("/v1/audit/decisions/\(application)", auditor).ok()
            let summary = trail["summary"] as? [String: Any] ?? [:]
            #expect(summary["outcome"] as? String == "approve" && (summary["recused"] as? [[String: Any]])?.first?["member"] as? String == "anna")
            let verify = try await api.get("/v1/audit/verify", auditor).ok()
            #expect(verify["ok"] as? Bool == true && (verify["eventsChecked"] as? Int ?? 0) >= 8)
            // Commit order stops below appends still running in this database: poll until they end.
            var events: [String: Any] = [:]
            for _ in 0..<300 {
                events = try await api.get("/v1/audit/events?limit=5", auditor).ok()
                if (events["items"] as? [[String: Any]])?.count == 5 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect((events["items"] as? [[String: Any]])?.count == 5 && events["nextAfter"] != nil)
            let stream = try await api.get("/v1/audit/streams/pool-\(programme.pool.lowercased())/events", programme.admin).ok()
            #expect(((stream["items"] as? [[String: Any]])?.first?["metadata"] as? [String: Any])?["actor"] as? String == "admin:maria")
            let csv = try await api.get("/v1/audit/export?pool=\(programme.pool)&format=csv", auditor)
            #expect(csv.status == .ok && csv.text.contains(",commitment,2026,,300000.00,DKK,"), "\(csv.text)")
            let json = try await api.get("/v1/audit/export?pool=\(programme.pool)&format=json", auditor).ok()
            #expect((json["movements"] as? [Any])?.count == 2)

            for path in ["/v1/audit/pools/\(UUID())", "/v1/audit/decisions/\(UUID())", "/v1/audit/export?pool=\(UUID())", "/v1/audit/streams/nothing/events"] {
                #expect(try await api.get(path, auditor).status == .notFound, "\(path)")
            }
            #expect(try await api.get("/v1/audit/pools/\(programme.pool)?asOf=yesterday", auditor).status == .badRequest)
            let applicant = try await programme.applicantToken(school)
            for path in ["/v1/audit/verify", "/v1/audit/events", "/v1/audit/decisions/\(application)", "/v1/audit/export?pool=\(programme.pool)"] {
                #expect(try await api.get(path, applicant).status == .forbidden, "\(path)")
            }
        }
    }
}
