import Foundation
import HTTPTypes
import GrantAPI
import HummingbirdTesting
import Testing

@Suite("HTTP: concurrent approvals on one pool")
struct HTTPApprovalRaceTests {
    @Test("30 approvals of 100,000 at once on a pool of 750,000: exactly 7 succeed, the rest are refused for insufficient funds")
    func approvalRace() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api, budget: "750000.00")
            var applications: [String] = []
            for index in 0..<30 {
                applications.append(try await programme.submittedApplication("School \(index)", requested: "100000.00", title: "Project \(index)"))
            }
            let meeting = try await programme.meeting(applications)
            let tokens = [try await programme.steeringToken("anna"), try await programme.steeringToken("bo"), try await programme.steeringToken("carl")]
            let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (index, application) in applications.enumerated() {
                    group.addTask {
                        let response = try await api.post("/v1/meetings/\(meeting)/decisions", tokens[index % 3],
                                                          Programme.approval(application, amount: "100000.00"))
                        return (Int(response.status.code), response.string("rule"))
                    }
                }
                return try await group.reduce(into: [(Int, String)]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0.0 == 201 }.count == 7)
            #expect(statuses.filter { $0.0 == 422 && $0.1 == "insufficient-funds" }.count == 23, "\(statuses)")
            let pool = try await api.get("/v1/pools/\(programme.pool)?after=\(try await api.head())", programme.admin).ok()
            let totals = pool["totals"] as? [String: [String: String]] ?? [:]
            #expect(totals["committed"]?["amount"] == "700000.00" && totals["available"]?["amount"] == "50000.00")
        }
    }
}
