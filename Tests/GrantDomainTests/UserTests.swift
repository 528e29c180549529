import Foundation
import GrantDomain
import Testing

@Suite("Users and roles: granted and revoked as events, each naming what its role needs")
struct UserTests {
    static let at = Date(timeIntervalSince1970: 1_780_000_000)
    static let groupId = UUID(uuidString: "6f0d0a3e-3b1c-4c4e-9c55-0d6c1f2b9a10")!
    static let userId = UUID(uuidString: "0b8a8f7e-1d2c-4f3e-8a9b-7c6d5e4f3a21")!

    static var group: SteeringGroupState {
        let created = try! CreateSteeringGroup(groupId: groupId, name: "STEM i Nord", members: [
            Member(id: "anna", name: "Anna Holm", affiliations: ["Aalborg Tekniske Gymnasium"]),
            Member(id: "bo", name: "Bo Lund", affiliations: []),
        ], at: at).decide(.initial)
        return SteeringGroupState.replay(created)
    }

    static func invited(_ roles: [RoleGrant] = []) throws -> UserState {
        UserState.replay(try InviteUser(userId: userId, email: "Kim@Skole.dk", name: "Kim Nielsen", roles: roles, at: at)
            .decide(user: .initial, groups: [groupId: group]))
    }

    @Test("an invitation with an applicant's and a steering member's roles records the user and each role")
    func invite() throws {
        let user = try Self.invited([RoleGrant(role: .applicant, organisation: "Aalborg Tekniske Gymnasium"),
                                     RoleGrant(role: .steering, groupId: Self.groupId, member: "bo")])
        #expect(user.invited?.email == "Kim@Skole.dk" && user.roles.count == 2)
        #expect(UserState.normalisedEmail(" Kim@Skole.DK ") == "kim@skole.dk")
        // One address typed two ways (é as one scalar, or e and a combining accent) is one user.
        #expect(Array(UserState.normalisedEmail("Ren\u{E9}@x.dk").utf8) == Array(UserState.normalisedEmail("Rene\u{301}@x.dk").utf8))
        #expect(throws: DomainError.alreadyExists(kind: "user", id: "kim@skole.dk")) {
            try InviteUser(userId: Self.userId, email: "Kim@Skole.dk", name: "Kim", roles: [], at: Self.at).decide(user: user, groups: [:])
        }
    }

    @Test("e-mail addresses that cannot be one person's are refused, naming the field", arguments: [
        "", "kim", "kim@", "@skole.dk", "kim@skole", "kim@@skole.dk", "kim @skole.dk", "kim@skole.dk.", "kim@.dk", "kim\n@skole.dk",
        "kim\u{200B}@skole.dk", "\u{FEFF}kim@skole.dk",
        String(repeating: "k", count: 250) + "@x.dk",
    ])
    func badEmail(_ email: String) {
        #expect {
            try InviteUser(userId: Self.userId, email: email, name: "Kim", roles: [], at: Self.at).decide(user: .initial, groups: [:])
        } throws: { ($0 as? DomainError).map { if case .invalidInput(field: "email", _) = $0 { true } else { false } } ?? false }
    }

    @Test("each role names what it needs and nothing else", arguments: [
        (RoleGrant(role: .applicant), "roles[0].organisation"),
        (RoleGrant(role: .applicant, organisation: " "), "roles[0].organisation"),
        (RoleGrant(role: .applicant, organisation: "A", member: "bo"), "roles[0]"),
        (RoleGrant(role: .admin, organisation: "A"), "roles[0]"),
        (RoleGrant(role: .auditor, groupId: groupId), "roles[0]"),
        (RoleGrant(role: .steering, member: "bo"), "roles[0].groupId"),
        (RoleGrant(role: .steering, groupId: groupId), "roles[0].member"),
        (RoleGrant(role: .steering, organisation: "A", groupId: groupId, member: "bo"), "roles[0].organisation"),
    ])
    func grantsNameWhatTheyNeed(_ grant: RoleGrant, _ field: String) {
        #expect {
            try InviteUser(userId: Self.userId, email: "kim@skole.dk", name: "Kim", roles: [grant], at: Self.at)
                .decide(user: .initial, groups: [Self.groupId: Self.group])
        } throws: { ($0 as? DomainError).map { if case .invalidInput(field: field, _) = $0 { true } else { false } } ?? false }
    }

    @Test("a steering role needs a group that exists and a member of it")
    func steeringMembership() throws {
        let user = try Self.invited()
        #expect(throws: DomainError.notAMember(member: "zoe")) {
            try GrantRole(userId: Self.userId, grant: RoleGrant(role: .steering, groupId: Self.groupId, member: "zoe"), at: Self.at)
                .decide(user: user, group: Self.group)
        }
        let other = UUID()
        #expect(throws: DomainError.notFound(kind: "steering group", id: other.uuidString)) {
            try GrantRole(userId: Self.userId, grant: RoleGrant(role: .steering, groupId: other, member: "bo"), at: Self.at)
                .decide(user: user, group: .initial)
        }
    }

    @Test("a role is granted once, revoked only while held, and a revoked role can be granted again")
    func grantAndRevoke() throws {
        var user = try Self.invited()
        let admin = RoleGrant(role: .admin)
        #expect(throws: DomainError.notFound(kind: "user", id: Self.userId.uuidString)) {
            try GrantRole(userId: Self.userId, grant: admin, at: Self.at).decide(user: .initial, group: nil)
        }
        user = user.evolve(try GrantRole(userId: Self.userId, grant: admin, at: Self.at).decide(user: user, group: nil)[0])
        #expect(user.roles == [admin])
        #expect(throws: DomainError.alreadyExists(kind: "role", id: "admin")) {
            try GrantRole(userId: Self.userId, grant: admin, at: Self.at).decide(user: user, group: nil)
        }
        #expect(throws: DomainError.invalidInput(field: "role", reason: "the user does not hold the role auditor")) {
            try RevokeRole(userId: Self.userId, grant: RoleGrant(role: .auditor), at: Self.at).decide(user: user)
        }
        #expect {
            try RevokeRole(userId: Self.userId, grant: admin, reason: "left\u{0}", at: Self.at).decide(user: user)
        } throws: { ($0 as? DomainError).map { if case .invalidInput(field: "reason", _) = $0 { true } else { false } } ?? false }
        let revoked = try RevokeRole(userId: Self.userId, grant: admin, reason: "left the region", at: Self.at).decide(user: user)
        user = user.evolve(revoked[0])
        #expect(user.roles.isEmpty && (revoked[0] as? RoleRevoked)?.reason == "left the region")
        user = user.evolve(try GrantRole(userId: Self.userId, grant: admin, at: Self.at).decide(user: user, group: nil)[0])
        #expect(user.roles == [admin])
    }

    @Test("no more roles than the limit, and none twice in one invitation")
    func limits() throws {
        let many = (0...Limits.roles).map { RoleGrant(role: .applicant, organisation: "School \($0)") }
        #expect(throws: DomainError.invalidInput(field: "roles", reason: "at most \(Limits.roles) roles, got \(Limits.roles + 1)")) {
            try InviteUser(userId: Self.userId, email: "kim@skole.dk", name: "Kim", roles: many, at: Self.at).decide(user: .initial, groups: [:])
        }
        let twice = [RoleGrant(role: .auditor), RoleGrant(role: .auditor)]
        #expect(throws: DomainError.invalidInput(field: "roles[1]", reason: "auditor is listed twice")) {
            try InviteUser(userId: Self.userId, email: "kim@skole.dk", name: "Kim", roles: twice, at: Self.at).decide(user: .initial, groups: [:])
        }
        var user = try Self.invited(Array(many.prefix(Limits.roles)))
        #expect(user.roles.count == Limits.roles)
        #expect(throws: DomainError.invalidInput(field: "role", reason: "a user holds at most \(Limits.roles) roles; revoke one first")) {
            try GrantRole(userId: Self.userId, grant: RoleGrant(role: .admin), at: Self.at).decide(user: user, group: nil)
        }
        user = user.evolve(try RevokeRole(userId: Self.userId, grant: many[0], at: Self.at).decide(user: user)[0])
        #expect(try GrantRole(userId: Self.userId, grant: RoleGrant(role: .admin), at: Self.at).decide(user: user, group: nil).count == 1)
    }

    @Test("a sign-in link for a user with a password is made only as a reset asked for, and says so")
    func signInLinks() throws {
        let user = try Self.invited()
        let first = try IssueSignInLink(userId: Self.userId, hasPassword: false, reset: false, at: Self.at).decide(user: user)
        #expect((first.first as? SignInLinkIssued)?.reset == false)
        #expect(throws: DomainError.invalidInput(field: "reset", reason: "the user has a password: a link would let its holder replace it; ask for a reset on purpose")) {
            try IssueSignInLink(userId: Self.userId, hasPassword: true, reset: false, at: Self.at).decide(user: user)
        }
        let reset = try IssueSignInLink(userId: Self.userId, hasPassword: true, reset: true, at: Self.at).decide(user: user)
        #expect((reset.first as? SignInLinkIssued)?.reset == true)
        #expect(throws: DomainError.notFound(kind: "user", id: Self.userId.uuidString)) {
            try IssueSignInLink(userId: Self.userId, hasPassword: false, reset: false, at: Self.at).decide(user: .initial)
        }
    }
}
