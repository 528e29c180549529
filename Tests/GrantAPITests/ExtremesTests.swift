import EventStore
import Foundation
import GrantAPI
import GrantCommands
import GrantDomain
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Programmes
import Testing
import TestSupport

/// The whole pipeline at the edges of what the domain accepts: commands at
/// every limit (largest amounts and counts, longest texts and lists, every
/// currency, the oldest and newest times, client ids reused across
/// parents) → events → every projection → every GET. Whatever the domain
/// accepts, every read model must hold: no projection stops, nothing
/// answers 5xx, and the figures read back are the ones written.
@Suite("Extremes through the whole pipeline")
struct ExtremesTests {
    /// Four UTF-8 bytes a scalar: the longest text a limit allows, in bytes too.
    static func text(_ scalars: Int, _ prefix: String = "") -> String {
        prefix + String(repeating: "😀", count: max(0, scalars - prefix.unicodeScalars.count))
    }

    static func money(_ minor: Int64, _ currency: Currency) -> [String: Any] {
        ["amount": Money(minorUnits: minor, currency: currency).amount, "currency": currency.code]
    }

    static func body(_ object: Any) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
    }


    @Test("commands at every limit in every currency: every projection keeps running and every GET answers", .timeLimit(.minutes(10)))
    func extremes() async throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        print("ExtremesTests seed \(seed)")
        try await Harness.with { api in
            var random = SeededRandom(seed: seed)
            let admin = try await api.token(.admin, subject: Self.text(Limits.name, "admin-1:"))
            let secondAdmin = try await api.token(.admin, subject: "admin-2")
            let auditor = try await api.token(.auditor, subject: "auditor")
            var created = Created()

            for code in Currency.known.keys.sorted() {
                let currency = try Currency(code: code)
                let largestAgenda = code == "DKK"
                try await Self.programme(api, currency, admin: admin, secondAdmin: secondAdmin, largestAgenda: largestAgenda,
                                         random: &random, into: &created)
            }
            try await Self.sumsPast64Bits(api, admin: admin, into: &created)

            // Every projection reaches the head, none stopped.
            let head = try await api.head()
            let caughtUp = try await Self.waitForProjections(api, admin: admin, head: head)
            #expect(caughtUp, "the projections did not reach \(head)")

            // Every GET, as each role: no 5xx, every answer the document allows.
            var paths = ["/v1/pools", "/v1/applications?limit=500", "/v1/grants?limit=500", "/v1/public/grants", "/v1/public/grants?format=csv",
                         "/v1/audit/events?limit=500", "/v1/audit/verify", "/health", "/metrics"]
            for pool in created.pools {
                paths += ["/v1/pools/\(pool)", "/v1/pools/\(pool)/calls", "/v1/grants?pool=\(pool)",
                          "/v1/audit/export?pool=\(pool)&format=csv", "/v1/audit/export?pool=\(pool)&format=json",
                          "/v1/audit/streams/pool-\(pool.lowercased())/events"]
                for asOf in ["1900-01-01", "9999-12-31T23:59:59.999Z", CivilTime.format(Date())] {
                    for basis in ["recorded", "occurred"] { paths.append("/v1/audit/pools/\(pool)?asOf=\(asOf)&basis=\(basis)") }
                }
            }
            for call in created.calls { paths.append("/v1/calls/\(call)/applications?limit=500") }
            for group in created.groups { paths.append("/v1/steering-groups/\(group)/agenda") }
            paths.append("/v1/users?limit=1000")
            for user in created.users { paths += ["/v1/users/\(user)", "/v1/audit/streams/user-\(user.lowercased())/events"] }
            for application in created.applications {
                paths += ["/v1/applications/\(application)", "/v1/audit/decisions/\(application)"]
            }
            for grant in created.grants {
                paths += ["/v1/grants/\(grant)", "/v1/audit/grants/\(grant)?basis=occurred", "/v1/audit/grants/\(grant)?asOf=1900-01-01"]
            }
            for path in paths {
                for token in [admin, auditor] {
                    let response = try await api.get(path, token)
                    #expect(response.status.code < 500, "GET \(path): \(response.status.code) \(response.text.prefix(300))")
                }
            }

            // The figures read back are the figures written.
            for (pool, expected) in created.callSums {
                let calls = try await api.get("/v1/pools/\(pool)/calls", admin).ok()["calls"] as? [[String: Any]] ?? []
                let requested = calls.compactMap { ($0["requested"] as? [String: String])?["amount"] }
                #expect(requested.contains(expected), "call sums \(requested), expected \(expected)")
            }
            let health = try await api.get("/health", admin).ok()
            let projections = health["projections"] as? [[String: Any]] ?? []
            #expect(!projections.isEmpty && projections.allSatisfy { $0["state"] as? String == "running" }, "\(projections)")
            let verify = try await api.get("/v1/audit/verify", auditor).ok()
            #expect(verify["ok"] as? Bool == true, "\(verify)")
        }
    }

    struct Created {
        var pools: [String] = [], calls: [String] = [], groups: [String] = [], applications: [String] = [], grants: [String] = [], users: [String] = []
        var callSums: [(pool: String, amount: String)] = []
    }

    /// One programme in `currency` with every list and text at its limit.
    static func programme(_ api: API, _ currency: Currency, admin: String, secondAdmin: String, largestAgenda: Bool,
                          random: inout SeededRandom, into created: inout Created) async throws {
        let school = text(Limits.name, "School \(currency.code) ")
        let members: [[String: Any]] = (0..<Limits.members).map { index in
            ["id": text(Limits.identifier, "m\(index)-"), "name": text(Limits.name),
             "affiliations": index == 0 ? [school] + (1..<Limits.affiliations).map { text(Limits.name, "Org \($0) ") }
                                         : (0..<Limits.affiliations).map { text(Limits.name, "Org \(index)-\($0) ") }]
        }
        let group = try await api.post("/v1/steering-groups", admin, body: body(["name": text(Limits.name), "members": members])).ok()["id"] as? String ?? ""
        created.groups.append(group)

        // A user at every limit: the longest address (four-byte scalars in its local part), name and most roles, one revoked.
        let domain = "@x\(currency.code.lowercased()).dk"
        let email = String(repeating: "😀", count: Limits.email - domain.unicodeScalars.count) + domain
        let roles: [[String: Any]] = (0..<Limits.roles).map { index in
            index.isMultiple(of: 2) ? ["role": "applicant", "organisation": text(Limits.name, "Org \(index) ")]
                                    : ["role": "steering", "groupId": group, "member": members[index]["id"] as? String ?? ""]
        }
        let user = try await api.post("/v1/users", admin, body: body(["email": email, "name": text(Limits.name), "roles": roles])).ok()["id"] as? String ?? ""
        _ = try await api.post("/v1/users/\(user)/role-revocations", admin, body: body(roles[1].merging(["reason": text(Limits.reason)]) { a, _ in a })).ok()
        _ = try await api.post("/v1/users/\(user)/roles", admin, body: body(["role": "auditor"])).ok()
        created.users.append(user)

        let periods = (0..<Limits.periods).map { text(Limits.period, "P\($0) ") }
        let sources: [[String: Any]] = (0..<Limits.sources).map { index in
            var source: [String: Any] = ["id": text(Limits.identifier, "S\(index) "), "name": text(Limits.name),
                                         "amount": money(Limits.amount, currency)]
            if index == 0 { source["earmarkedFor"] = [school] + (1..<Limits.earmarks).map { text(Limits.name, "Earmark \($0) ") } }
            if index == 1 { source["maxSharePercent"] = 100 }
            if index == 2 { source["period"] = periods[2] }
            return source
        }
        let poolBody: [String: Any] = [
            "name": text(Limits.name), "owner": text(Limits.name), "currency": currency.code, "carryOver": "carry-over",
            "periods": periods.map { ["period": $0, "amount": money(Limits.amount, currency)] }, "sources": sources, "steeringGroupId": group,
            "eligibility": ["organisations": [school] + (1..<Limits.eligibleOrganisations).map { text(Limits.name, "Eligible \($0) ") },
                            "minimumAmount": money(1, currency), "maximumAmount": money(Limits.amount, currency)],
        ]
        let pool = try await api.post("/v1/pools", admin, body: body(poolBody)).ok()["id"] as? String ?? ""
        created.pools.append(pool)

        // Budget moves at the largest amount; a pool already at its limit of periods refuses one more.
        _ = try await api.post("/v1/pools/\(pool)/budget-adjustments", admin, body: body([
            "kind": "move", "from": periods[99], "to": periods[0], "amount": money(Limits.amount, currency), "reason": text(Limits.reason)])).ok()
        let oneMore = try await api.post("/v1/pools/\(pool)/budget-adjustments", admin, body: body([
            "kind": "add-period", "period": "one more", "amount": money(Limits.amount, currency)]))
        #expect(oneMore.status == .unprocessableContent && oneMore.string("field") == "period", "\(oneMore.text)")
        _ = try await api.post("/v1/pools/\(pool)/budget-adjustments", admin, body: body(["kind": "close-period", "period": periods[98]])).ok()

        // The widest window there is, and the largest cap.
        let call = try await api.post("/v1/pools/\(pool)/calls", admin, body: body([
            "title": text(Limits.name), "opensAt": "1900-01-01T00:00:00Z", "closesAt": "9999-12-31T23:59:59.999Z",
            "cap": money(Limits.amount * 3, currency)]))
        #expect(call.status == .unprocessableContent, "a cap over the largest amount: \(call.text)")
        let callId = try await api.post("/v1/pools/\(pool)/calls", admin, body: body([
            "title": text(Limits.name), "opensAt": "1900-01-01T00:00:00Z", "closesAt": "9999-12-31T23:59:59.999Z",
            "cap": money(Limits.amount, currency)])).ok()["id"] as? String ?? ""
        created.calls.append(callId)

        // Applications with every field at its limit, requesting the largest amount.
        let applicant = try await api.token(.applicant, organisation: school, subject: text(Limits.name, "leader "))
        func content(requested: Int64) -> [String: Any] {
            let lines = Limits.budgetLines
            return [
                "callId": callId, "organisation": school, "projectLeader": text(Limits.name),
                "partners": (0..<Limits.partners).map { text(Limits.name, "Partner \($0) ") }, "title": text(Limits.title),
                "description": text(Limits.prose), "focusAreas": (0..<Limits.focusAreas).map { text(Limits.name, "Focus \($0) ") },
                "requested": money(requested, currency), "expectedOutcomes": text(Limits.prose),
                "studentsReached": Limits.studentsReached.upperBound,
                "budget": (0..<lines).map { index in
                    ["category": text(Limits.name), "period": periods[index % 90],
                     "amount": money(index == 0 ? requested - Int64(lines - 1) : 1, currency)] as [String: Any]
                },
            ]
        }
        var applications: [String] = []
        for index in 0..<2 {
            let drafted = try await api.post("/v1/applications", applicant, body: body(content(requested: Limits.amount))).ok()
            let id = drafted["id"] as? String ?? ""
            var amended = content(requested: Limits.amount - Int64(index))
            amended.removeValue(forKey: "callId")
            _ = try await api.post("/v1/applications/\(id)/amendments", applicant, body: body(amended)).ok()
            _ = try await api.post("/v1/applications/\(id)/submit", applicant).ok()
            applications.append(id)
        }
        created.applications += applications

        // A meeting today, dated by day, with everyone present and the longest agenda; one in 9999 that cannot decide yet.
        var agenda = applications
        if largestAgenda {
            agenda += try await submittedApplications(api, call: callId, organisation: school, currency, count: Limits.agenda - applications.count)
        }
        let meetingBody = body(["date": String(CivilTime.format(Date()).prefix(10)), "present": members.map { $0["id"]! }, "agenda": agenda])
        let meeting = try await api.post("/v1/steering-groups/\(group)/meetings", admin, body: meetingBody).ok()["id"] as? String ?? ""
        let future = try await api.post("/v1/steering-groups/\(group)/meetings", admin, body: body([
            "date": "9999-12-31T23:59:59.999Z", "present": members.map { $0["id"]! }, "agenda": applications])).ok()["id"] as? String ?? ""

        let voters = members.dropFirst().map { $0["id"] as! String }  // the first is affiliated with the school: recused
        let steering = try await api.token(.steering, member: voters[0], group: group)
        let votes = voters.map { ["member": $0, "vote": "for"] }
        let tranches = (0..<Limits.tranches).map { ["percent": 5, "trigger": $0 == 0 ? "signing" : "progress-report"] as [String: Any] }
        let conditions = (0..<Limits.conditions).map { text(Limits.reason, "Condition \($0) ") }
        func approval(_ application: String, period: String, amount: Int64) -> [String: Any] {
            ["applicationId": application, "applicationVersion": 2, "outcome": "approve", "period": period, "amount": money(amount, currency),
             "votes": votes, "conditions": conditions, "tranches": tranches]
        }
        let notYet = try await api.post("/v1/meetings/\(future)/decisions", steering, body: body(approval(applications[0], period: periods[0], amount: 1)))
        #expect(notYet.status == .unprocessableContent && notYet.string("rule") == "meeting-not-yet-held", "\(notYet.text)")
        let recused = try await api.token(.steering, member: members[0]["id"] as! String, group: group)
        var recusedVote = approval(applications[0], period: periods[0], amount: 1)
        recusedVote["votes"] = [["member": members[0]["id"]!, "vote": "for"]]
        let refused = try await api.post("/v1/meetings/\(meeting)/decisions", recused, body: body(recusedVote))
        #expect(refused.status == .unprocessableContent && refused.string("rule") == "member-recused", "\(refused.text)")

        // Both approved, from two periods, filling the call's cap (the largest amount) to the last minor unit.
        for (index, application) in applications.enumerated() {
            let amount = index == 0 ? Limits.amount - 1 : 1
            _ = try await api.post("/v1/meetings/\(meeting)/decisions", steering, body: body(approval(application, period: periods[index], amount: amount))).ok()
        }
        let overCap = try await api.post("/v1/pools/\(pool)/calls", admin, body: body(["title": "t", "opensAt": "2026-01-01", "closesAt": "2026-02-01"]))
        #expect(overCap.status == .created, "\(overCap.text)")
        created.grants += applications

        // A client's id reused across grants: a payment request's is refused on the second, a report's is fine (unique per grant).
        let paymentRequestId = UUID().uuidString, reportId = UUID().uuidString
        _ = try await api.post("/v1/grants/\(applications[0])/payment-requests", admin, body: body(["id": paymentRequestId, "tranche": 1])).ok()
        let reused = try await api.post("/v1/grants/\(applications[1])/payment-requests", admin, body: body(["id": paymentRequestId, "tranche": 1]))
        #expect(reused.status == .conflict && reused.string("rule") == "already-exists", "\(reused.text)")
        _ = try await api.post("/v1/payment-requests/\(paymentRequestId)/approve", secondAdmin).ok()
        _ = try await api.post("/v1/payment-requests/\(paymentRequestId)/paid", admin, body: body(["reference": text(Limits.name)])).ok()
        for grant in applications {
            _ = try await api.post("/v1/grants/\(grant)/reports", applicant, body: body(["id": reportId, "kind": "progress", "summary": text(Limits.prose)])).ok()
            _ = try await api.post("/v1/grants/\(grant)/reports/\(reportId)/approve", admin).ok()
        }
        // Adjustments at their largest: what was paid repaid, the rest of one grant reduced away, the other cancelled.
        let paid = (Limits.amount - 1) / 100 * 5  // tranche 1 is 5 %, rounded down or one more
        _ = try await api.post("/v1/grants/\(applications[0])/adjustments", admin, body: body([
            "kind": "repayment", "amount": money(Int64.random(in: 1...paid, using: &random), currency), "reference": text(Limits.name),
            "reason": text(Limits.reason)])).ok()
        let reduce = try await api.post("/v1/grants/\(applications[0])/adjustments", admin, body: body([
            "kind": "reduce", "amount": money(Limits.amount - paid + 1, currency), "reason": text(Limits.reason)]))
        #expect(reduce.status == .unprocessableContent, "a reduction over what is unrequested: \(reduce.text)")
        _ = try await api.post("/v1/grants/\(applications[1])/adjustments", admin, body: body(["kind": "cancel", "reason": text(Limits.reason)])).ok()
    }

    /// `count` small applications submitted to `call`: enough for the longest
    /// agenda, which takes only applications waiting for the meeting's group.
    static func submittedApplications(_ api: API, call: String, organisation: String, _ currency: Currency, count: Int) async throws -> [String] {
        let handler = CommandHandler(store: api.store)
        let context = CommandContext(actor: "applicant", role: "applicant", actingAs: .unrestricted)
        let callId = try #require(UUID(uuidString: call))
        return try await withThrowingTaskGroup(of: [String].self) { tasks in
            for worker in 0..<16 {
                tasks.addTask {
                    var ids: [String] = []
                    for _ in stride(from: worker, to: count, by: 16) {
                        let id = UUID()
                        let content = ApplicationContent(organisation: organisation, projectLeader: "L", title: "T", description: "",
                                                         requested: Money(minorUnits: 100, currency: currency))
                        _ = try await handler.draftApplication(DraftApplication(applicationId: id, callId: callId, content: content, at: Date()), context)
                        _ = try await handler.submitApplication(SubmitApplication(applicationId: id, at: Date()), context)
                        ids.append(id.uuidString)
                    }
                    return ids
                }
            }
            return try await tasks.reduce(into: []) { $0 += $1 }
        }
    }

    /// More drafts of the largest amount in one call than 64 bits can sum:
    /// the call's figures are read as numbers PostgreSQL and Swift both hold.
    static func sumsPast64Bits(_ api: API, admin: String, into created: inout Created) async throws {
        let currency = Currency.dkk
        let group = try await api.post("/v1/steering-groups", admin, body: body([
            "name": "Many drafts", "members": [["id": "m", "name": "M", "affiliations": []]]])).ok()["id"] as? String ?? ""
        let pool = try await api.post("/v1/pools", admin, body: body([
            "name": "Many drafts", "owner": "O", "currency": "DKK", "periods": [["period": "2026", "amount": money(Limits.amount, currency)]],
            "sources": [["id": "s", "name": "S", "amount": money(Limits.amount, currency)]], "steeringGroupId": group])).ok()["id"] as? String ?? ""
        let call = try await api.post("/v1/pools/\(pool)/calls", admin, body: body([
            "title": "Many", "opensAt": "2026-01-01", "closesAt": "9999-01-01"])).ok()["id"] as? String ?? ""
        let handler = CommandHandler(store: api.store)
        let count = Int(Int64.max / Limits.amount) + 20
        let callId = UUID(uuidString: call)!
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<16 {
                tasks.addTask {
                    for index in stride(from: worker, to: count, by: 16) {
                        let content = ApplicationContent(organisation: "School \(index % 50)", projectLeader: "L", title: "T", description: "",
                                                         requested: Money(minorUnits: Limits.amount, currency: currency))
                        _ = try await handler.draftApplication(DraftApplication(applicationId: UUID(), callId: callId, content: content, at: Date()),
                                                               CommandContext(actor: "applicant", role: "applicant", actingAs: .unrestricted))
                    }
                }
            }
            try await tasks.waitForAll()
        }
        created.pools.append(pool)
        created.calls.append(call)
        let sum = MoneyTotal(minorUnits: Int128(Limits.amount) * Int128(count), currency: currency)
        #expect(sum.minorUnits > Int128(Int64.max))
        created.callSums.append((pool, sum.amount))
    }

    static func waitForProjections(_ api: API, admin: String, head: Int64) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            let health = try await api.get("/health", admin).json
            let projections = health["projections"] as? [[String: Any]] ?? []
            if projections.contains(where: { $0["state"] as? String == "failed" }) {
                Issue.record("a projection stopped: \(projections)")
                return false
            }
            if !projections.isEmpty, projections.allSatisfy({ ($0["eventsBehind"] as? Int ?? 1) == 0 }) { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
