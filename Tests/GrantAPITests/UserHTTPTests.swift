import Foundation
import GrantAPI
import GrantDomain
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("HTTP: users and their roles")
struct UserHTTPTests {
    @Test("An admin invites, grants and revokes; each is an event of the user's stream; the rules of a role are the domain's")
    func usersAndRoles() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let admin = programme.admin
            let invited = try await api.post("/v1/users", admin, """
                {"email": "Kim.Nielsen@Aalborg-TG.dk", "name": "Kim Nielsen",
                 "roles": [{"role": "applicant", "organisation": "Aalborg Tekniske Gymnasium"}]}
                """)
            #expect(invited.status == .created, "\(invited.text)")
            let id = invited.string("id")

            // One address is one user, however it is capitalised.
            let again = try await api.post("/v1/users", admin, #"{"email": "kim.nielsen@aalborg-tg.dk", "name": "Kim"}"#)
            #expect(again.status == .conflict && again.string("rule") == "already-exists", "\(again.text)")
            let badEmail = try await api.post("/v1/users", admin, #"{"email": "kim@aalborg", "name": "Kim"}"#)
            #expect(badEmail.status == .unprocessableContent && badEmail.string("field") == "email", "\(badEmail.text)")
            let noOrganisation = try await api.post("/v1/users", admin, #"{"email": "x@y.dk", "name": "X", "roles": [{"role": "applicant"}]}"#)
            #expect(noOrganisation.string("field") == "roles[0].organisation", "\(noOrganisation.text)")

            // A steering role names a member of an existing group, as the group spells it.
            let notMember = try await api.post("/v1/users/\(id)/roles", admin, #"{"role": "steering", "groupId": "\#(programme.group)", "member": "zoe"}"#)
            #expect(notMember.status == .unprocessableContent && notMember.string("rule") == "not-a-member", "\(notMember.text)")
            let steering = try await api.post("/v1/users/\(id)/roles", admin, #"{"role": "steering", "groupId": "\#(programme.group)", "member": "bo"}"#)
            #expect(steering.status == .created, "\(steering.text)")
            let twice = try await api.post("/v1/users/\(id)/roles", admin, #"{"role": "steering", "groupId": "\#(programme.group)", "member": "bo"}"#)
            #expect(twice.status == .conflict, "\(twice.text)")

            let auditor = try await api.token(.auditor)
            var user = try await api.get("/v1/users/\(id)?after=\(steering.position)", auditor).ok()
            #expect(user["email"] as? String == "Kim.Nielsen@Aalborg-TG.dk")
            #expect((user["roles"] as? [[String: Any]])?.map { $0["role"] as? String } == ["applicant", "steering"])

            let revoked = try await api.post("/v1/users/\(id)/role-revocations", admin,
                                              #"{"role": "applicant", "organisation": "Aalborg Tekniske Gymnasium", "reason": "moved school"}"#)
            #expect(revoked.status == .created, "\(revoked.text)")
            let notHeld = try await api.post("/v1/users/\(id)/role-revocations", admin, #"{"role": "admin"}"#)
            #expect(notHeld.status == .unprocessableContent && notHeld.string("field") == "role", "\(notHeld.text)")
            user = try await api.get("/v1/users/\(id)?after=\(revoked.position)", admin).ok()
            #expect((user["roles"] as? [[String: Any]])?.map { $0["member"] as? String } == ["bo"])
            let list = try await api.get("/v1/users?after=\(revoked.position)", auditor).ok()
            #expect((list["items"] as? [[String: Any]])?.count == 1)

            // Who gave what, when: the user's stream.
            let stream = try await api.get("/v1/audit/streams/user-\(id.lowercased())/events", auditor).ok()
            #expect((stream["items"] as? [[String: Any]])?.map { $0["type"] as? String } == ["UserInvited", "RoleGranted", "RoleGranted", "RoleRevoked"])

            // A retry with the same key is the first answer, and writes nothing.
            let retried = try await api.post("/v1/users", admin, #"{"email": "eva@skole.dk", "name": "Eva"}"#, key: "invite-eva")
            let replayed = try await api.post("/v1/users", admin, #"{"email": "eva@skole.dk", "name": "Eva"}"#, key: "invite-eva")
            #expect(retried.status == .created && replayed.string("id") == retried.string("id") && replayed.position == retried.position)
            // A steering role revoked as the group spells the member.
            let unseated = try await api.post("/v1/users/\(id)/role-revocations", admin,
                                               #"{"role": "steering", "groupId": "\#(programme.group)", "member": "bo"}"#)
            #expect(unseated.status == .created, "\(unseated.text)")
            user = try await api.get("/v1/users/\(id)?after=\(unseated.position)", admin).ok()
            #expect((user["roles"] as? [[String: Any]])?.isEmpty == true)

            // Only admins change users; applicants and steering members do not even see them.
            let applicant = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            #expect(try await api.post("/v1/users", applicant, #"{"email": "a@b.dk", "name": "A"}"#).status == .forbidden)
            #expect(try await api.post("/v1/users/\(id)/roles", auditor, #"{"role": "admin"}"#).status == .forbidden)
            #expect(try await api.get("/v1/users", applicant).status == .forbidden)
            #expect(try await api.get("/v1/users", try await programme.steeringToken("bo")).status == .forbidden)
            #expect(try await api.get("/v1/users/\(UUID())", admin).status == .notFound)
        }
    }

    @Test("Who held which role at an instant, and who gave it to them: replayed from every user's stream")
    func rolesAsOf() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let maria = programme.admin
            let jens = try await api.token(.admin, subject: "admin:jens")
            let lene = try await api.post("/v1/users", maria, #"{"email": "lene@region.dk", "name": "Lene", "roles": [{"role": "admin"}]}"#)
            #expect(lene.status == .created, "\(lene.text)")
            let id = lene.string("id")
            #expect(try await api.post("/v1/users/\(id)/roles", jens, #"{"role": "auditor"}"#).status == .created)
            let auditor = try await api.token(.auditor)
            // Her admin role is revoked; the auditor role stays.
            let before = try await api.get("/v1/audit/roles", auditor).ok()
            let auditorGrant = try #require((before["holdings"] as? [[String: Any]])?.first { $0["role"] as? String == "auditor" })
            let recorded = try #require((auditorGrant["grantedRecordedAt"] as? String).flatMap { try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0) })
            // A millisecond after that (the time is rounded to one), and before the revocation, dated by the same clock 10 ms later at the earliest.
            let instant = CivilTime.format(recorded.addingTimeInterval(0.001))
            try await Task.sleep(for: .milliseconds(10))
            #expect(try await api.post("/v1/users/\(id)/role-revocations", maria, #"{"role": "admin", "reason": "left"}"#).status == .created)

            // As of the moment the auditor role was granted: both, each with who gave it, acting as what.
            let then = try await api.get("/v1/audit/roles?asOf=\(instant.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", auditor).ok()
            let held = (then["holdings"] as? [[String: Any]]) ?? []
            #expect(held.map { "\($0["email"] as? String ?? "") \($0["role"] as? String ?? "") \($0["grantedBy"] as? String ?? "") \($0["grantedByRole"] as? String ?? "")" }
                    == ["lene@region.dk admin admin:maria admin", "lene@region.dk auditor admin:jens admin"], "\(held)")
            // Now: the admin role is gone, from the list and from the admins.
            let now = try await api.get("/v1/audit/roles", auditor).ok()
            #expect((now["holdings"] as? [[String: Any]])?.map { $0["role"] as? String } == ["auditor"])
            let admins = try await api.get("/v1/audit/roles?role=admin", auditor).ok()
            #expect((admins["holdings"] as? [[String: Any]])?.isEmpty == true && admins["users"] as? Int == 1)
            // Before she was invited: nobody.
            let earlier = try await api.get("/v1/audit/roles?asOf=2020-01-01", auditor).ok()
            #expect((earlier["holdings"] as? [[String: Any]])?.isEmpty == true && earlier["users"] as? Int == 0)

            #expect(try await api.get("/v1/audit/roles?asOf=yesterday", auditor).string("field") == "asOf")
            #expect(try await api.get("/v1/audit/roles?role=king", auditor).string("field") == "role")
            #expect(try await api.get("/v1/audit/roles", try await programme.applicantToken("Hjørring Gymnasium")).status == .forbidden)
        }
    }
}
