import Foundation
import GrantAPI
import GrantDomain
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("HTTP: a meeting's attendance and agenda after scheduling")
struct MeetingHTTPTests {
    @Test("Apologies and a late application change the meeting; the decision reads them; the trail says who was present then")
    func changes() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let first = try await programme.submittedApplication("Frederikshavn Gymnasium", requested: "100000.00")
            let late = try await programme.submittedApplication("Skagen Skole", requested: "50000.00", title: "Late robots")
            let meeting = try await programme.meeting([first])
            let admin = programme.admin, bo = try await programme.steeringToken("bo")

            let apologies = try await api.post("/v1/meetings/\(meeting)/attendance", admin, #"{"present": ["bo", "carl"], "reason": "Anna sent apologies"}"#)
            #expect(apologies.status == .ok, "\(apologies.text)")
            let agenda = try await api.post("/v1/meetings/\(meeting)/agenda", admin, #"{"agenda": ["\#(first)", "\#(late)"], "reason": "came in late"}"#)
            #expect(agenda.status == .ok, "\(agenda.text)")

            // Anna is no longer present: her vote is refused, and nothing is appended.
            var before = try await api.eventCount()
            let absent = try await api.post("/v1/meetings/\(meeting)/decisions", bo, Programme.approval(late, amount: "50000.00"))
            #expect(absent.status == .unprocessableContent && absent.string("rule") == "member-absent", "\(absent.text)")
            #expect(try await api.eventCount() == before)
            let decided = try await api.post("/v1/meetings/\(meeting)/decisions", bo, Programme.approval(late, amount: "50000.00", votes: ["bo", "carl"]))
            #expect(decided.status == .created, "\(decided.text)")

            // Refusals name the field and the rule and append nothing.
            before = try await api.eventCount()
            let refusals: [(String, String, HTTPResponse.Status, String, String?)] = [
                ("agenda", #"{"agenda": ["\#(first)"]}"#, .unprocessableContent, "invalid-input", "agenda"),  // the decided one stays
                ("attendance", #"{"present": ["bo", "zoe"]}"#, .unprocessableContent, "not-a-member", nil),
                ("attendance", #"{"present": []}"#, .unprocessableContent, "invalid-input", "present"),
                ("attendance", #"{"present": ["bo", "carl"]}"#, .unprocessableContent, "invalid-input", "present"),
                ("attendance", #"{"present": "bo"}"#, .badRequest, "wrong-type", "present"),
                ("agenda", #"{"agenda": ["not an id"]}"#, .badRequest, "invalid-value", "agenda[0]"),
            ]
            for (path, body, status, rule, field) in refusals {
                let response = try await api.post("/v1/meetings/\(meeting)/\(path)", admin, body)
                #expect(response.status == status && response.string("rule") == rule, "\(path) \(body): \(response.text)")
                if let field { #expect(response.string("field") == field, "\(path) \(body): \(response.text)") }
            }
            #expect(try await api.post("/v1/meetings/\(UUID())/attendance", admin, #"{"present": ["bo"]}"#).status == .notFound)
            #expect(try await api.post("/v1/meetings/\(meeting)/attendance", bo, #"{"present": ["bo"]}"#).status == .forbidden)
            #expect(try await api.eventCount() == before)

            // Anna arrives after the decision: the trail keeps who was present when it was recorded.
            #expect(try await api.post("/v1/meetings/\(meeting)/attendance", admin, #"{"present": ["anna", "bo", "carl"]}"#).status == .ok)
            let auditor = try await api.token(.auditor, subject: "auditor:rigsrevisionen")
            let trail = try await api.get("/v1/audit/decisions/\(late)", auditor).ok()
            #expect((trail["summary"] as? [String: Any])?["present"] as? [String] == ["bo", "carl"])
            let changes = ((trail["meetings"] as? [[String: Any]])?.first?["changes"] as? [[String: Any]])?.compactMap { $0["type"] as? String }
            #expect(changes == ["MeetingAttendanceChanged", "MeetingAgendaChanged", "MeetingAttendanceChanged"])
        }
    }
}
