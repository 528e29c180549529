import Foundation
import GrantDomain
import Testing

/// Who may act on what: an applicant only on its organisation's applications
/// and grants, a steering member only in its own group's meetings. The
/// deciders hold these rules, so the API and the pages cannot differ on them.
@Suite("Acting for an organisation, sitting on a group")
struct ActingAsTests {
    static let school = "Aalborg Tekniske Gymnasium"
    static let ownSchool = ActingAs.applicant(organisation: school)
    static let otherSchool = ActingAs.applicant(organisation: "Tech College")

    @Test("an applicant drafts for its own organisation only")
    func drafting() throws {
        let world = try World()
        let id = UUID()
        let draft = DraftApplication(applicationId: id, callId: world.callId, content: World.content(Self.school), at: World.day(1))
        given(ApplicationState.self).when { state throws(DomainError) in
            try draft.decide(application: state, call: world.call, pool: world.pool, actingAs: Self.otherSchool)
        }
            .then(refused: .notOwner(kind: "application", id: id.uuidString))
        given(ApplicationState.self).when { state throws(DomainError) in try draft.decide(application: state, call: world.call, pool: world.pool, actingAs: .auditor) }
            .then(refused: .notOwner(kind: "application", id: id.uuidString))
        #expect(try draft.decide(application: .initial, call: world.call, pool: world.pool, actingAs: Self.ownSchool).count == 1)
    }

    @Test("another organisation's application cannot be amended, submitted or withdrawn, and learns nothing of its state")
    func applicationsOfOthers() throws {
        var world = try World()
        let id = try world.draft(World.content(Self.school))
        let application = world.applications[id]!
        let refusal = DomainError.notOwner(kind: "application", id: id.uuidString)
        given(ApplicationState.self).when { _ throws(DomainError) in
            try AmendApplication(applicationId: id, content: World.content("Tech College"), at: World.day(2))
                .decide(application: application, call: world.call, pool: world.pool, group: world.group, actingAs: Self.otherSchool)
        }.then(refused: refusal)
        given(ApplicationState.self).when { _ throws(DomainError) in
            try SubmitApplication(applicationId: id, at: World.day(2))
                .decide(application: application, call: world.call, pool: world.pool, group: world.group, actingAs: Self.otherSchool)
        }.then(refused: refusal)
        given(ApplicationState.self).when { _ throws(DomainError) in
            try WithdrawApplication(applicationId: id, reason: "", at: World.day(2)).decide(application: application, actingAs: Self.otherSchool)
        }.then(refused: refusal)
        // Withdrawn already: the owner is told so, another organisation only that it is not theirs.
        let withdrawn = world.apply(try WithdrawApplication(applicationId: id, reason: "", at: World.day(3)).decide(application: application), to: application)
        given(ApplicationState.self).when { _ throws(DomainError) in
            try WithdrawApplication(applicationId: id, reason: "", at: World.day(4)).decide(application: withdrawn, actingAs: Self.otherSchool)
        }.then(refused: refusal)
        given(ApplicationState.self).when { _ throws(DomainError) in
            try WithdrawApplication(applicationId: id, reason: "", at: World.day(4)).decide(application: withdrawn, actingAs: Self.ownSchool)
        }.then(refused: .invalidState(kind: "application", id: id.uuidString, status: "withdrawn", action: "withdraw"))
        // Its own organisation and an administrator may.
        #expect(try SubmitApplication(applicationId: id, at: World.day(2))
            .decide(application: application, call: world.call, pool: world.pool, group: world.group, actingAs: Self.ownSchool).count == 1)
        #expect(try WithdrawApplication(applicationId: id, reason: "", at: World.day(2)).decide(application: application, actingAs: .unrestricted).count == 1)
    }

    @Test("a report is filed on one's own organisation's grant only")
    func reports() throws {
        var world = try World()
        let id = try world.approved(content: World.content(Self.school))
        let report = FileReport(grantId: id, reportId: UUID(), kind: .progress, summary: "Halfway", at: World.day(60))
        given(GrantState.self).when { _ throws(DomainError) in try report.decide(grant: world.grants[id]!, actingAs: Self.otherSchool) }
            .then(refused: .notOwner(kind: "grant", id: id.uuidString))
        given(GrantState.self).when { _ throws(DomainError) in try report.decide(grant: world.grants[id]!, actingAs: .member("bo", group: world.groupId)) }
            .then(refused: .notOwner(kind: "grant", id: id.uuidString))
        #expect(try report.decide(grant: world.grants[id]!, actingAs: Self.ownSchool).count == 1)
    }

    @Test("a decision is recorded by a member of the group that held the meeting: not by another group's member with the same id, nor by an applicant")
    func recordingDecisions() throws {
        var world = try World()
        let id = try world.submitted()
        try world.holdMeeting(agenda: [id])
        let command = RecordDecision(meetingId: world.meetingId, applicationId: id, applicationVersion: world.applications[id]!.version,
                                     votes: World.yes, outcome: World.approve("200000.00"), at: Date())
        func decide(_ actingAs: ActingAs) -> Result<RecordDecision.Events, DomainError> {
            Result { () throws(DomainError) -> RecordDecision.Events in
                try command.decide(application: world.applications[id]!, meeting: world.meeting, group: world.group, pool: world.pool,
                                   call: world.call, grant: .initial, actingAs: actingAs)
            }
        }
        let meeting = world.meetingId.uuidString
        #expect(throws: DomainError.notOnSteeringGroup(member: "bo", meeting: meeting)) { try decide(.member("bo", group: UUID())).get() }
        #expect(throws: DomainError.notOnSteeringGroup(member: "zoe", meeting: meeting)) { try decide(.member("zoe", group: world.groupId)).get() }
        #expect(throws: DomainError.notOnSteeringGroup(member: "", meeting: meeting)) { try decide(Self.ownSchool).get() }
        #expect(throws: DomainError.notOnSteeringGroup(member: "", meeting: meeting)) { try decide(.auditor).get() }
        #expect(throws: Never.self) { try decide(.member("bo", group: world.groupId)).get() }
    }
}
