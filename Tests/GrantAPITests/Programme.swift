import Foundation
import HTTPTypes
import GrantAPI
import GrantDomain
import HummingbirdTesting
import Testing

/// A small programme set up over HTTP: a steering group of three (one
/// affiliated with a school), a pool of `budget` DKK in 2026, an open call.
struct Programme {
    let api: API
    let admin: String
    let group: String
    let pool: String
    let call: String

    static let members = ["anna", "bo", "carl"]

    static func create(_ api: API, budget: String = "1000000.00") async throws -> Programme {
        let admin = try await api.token(.admin, subject: "admin:maria")
        let group = try await api.post("/v1/steering-groups", admin, """
            {"name": "STEM i Nord", "members": [
              {"id": "anna", "name": "Anna Holm", "affiliations": ["Aalborg Tekniske Gymnasium"]},
              {"id": "bo", "name": "Bo Lund", "affiliations": []},
              {"id": "carl", "name": "Carl Berg", "affiliations": ["Hjørring Gymnasium"]}]}
            """).ok()["id"] as? String ?? ""
        let pool = try await api.post("/v1/pools", admin, """
            {"name": "Teknologipagt Nord", "owner": "Region Nordjylland", "currency": "DKK",
             "periods": [{"period": "2026", "amount": {"amount": "\(budget)", "currency": "DKK"}}],
             "sources": [{"id": "region", "name": "Regional midler", "amount": {"amount": "\(budget)", "currency": "DKK"}}],
             "steeringGroupId": "\(group)"}
            """).ok()["id"] as? String ?? ""
        let opens = Date().addingTimeInterval(-86_400).formatted(.iso8601)
        let closes = Date().addingTimeInterval(30 * 86_400).formatted(.iso8601)
        let call = try await api.post("/v1/pools/\(pool)/calls", admin, """
            {"title": "Teknologipagt 2026", "opensAt": "\(opens)", "closesAt": "\(closes)"}
            """).ok()["id"] as? String ?? ""
        return Programme(api: api, admin: admin, group: group, pool: pool, call: call)
    }

    func applicantToken(_ organisation: String) async throws -> String {
        try await api.token(.applicant, organisation: organisation, subject: "leader@\(organisation)")
    }

    func steeringToken(_ member: String) async throws -> String {
        try await api.token(.steering, member: member, group: group)
    }

    /// Drafts and submits an application; returns its id.
    func submittedApplication(_ organisation: String, requested: String, title: String = "Robotics for all") async throws -> String {
        let token = try await applicantToken(organisation)
        let id = try await api.post("/v1/applications", token, """
            {"callId": "\(call)", "organisation": "\(organisation)", "projectLeader": "Kim Nielsen",
             "title": "\(title)", "description": "Robots in every classroom", "focusAreas": ["robotics"],
             "requested": {"amount": "\(requested)", "currency": "DKK"}, "studentsReached": 120}
            """).ok()["id"] as? String ?? ""
        _ = try await api.post("/v1/applications/\(id)/submit", token).ok()
        return id
    }

    /// Holds a meeting on `day` (dated by day, as people date meetings; today
    /// in UTC unless given) with everyone present and `agenda` on it; returns
    /// its id.
    func meeting(_ agenda: [String], on day: String = Programme.today()) async throws -> String {
        let list = agenda.map { "\"\($0)\"" }.joined(separator: ",")
        return try await api.post("/v1/steering-groups/\(group)/meetings", admin, """
            {"date": "\(day)", "present": ["anna", "bo", "carl"], "agenda": [\(list)]}
            """).ok()["id"] as? String ?? ""
    }

    /// Today as `2026-03-01`, in UTC.
    static func today() -> String { String(CivilTime.format(Date()).prefix(10)) }

    static func approval(_ application: String, amount: String, votes: [String] = ["anna", "bo", "carl"]) -> String {
        let cast = votes.map { #"{"member": "\#($0)", "vote": "for"}"# }.joined(separator: ",")
        return """
            {"applicationId": "\(application)", "applicationVersion": 1, "votes": [\(cast)], "outcome": "approve",
             "amount": {"amount": "\(amount)", "currency": "DKK"}, "period": "2026", "conditions": ["Report by June"]}
            """
    }
}
