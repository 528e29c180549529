import Foundation
import GrantDomain
import Testing

/// A meeting's attendance and agenda after it was scheduled: each rule of
/// ChangeAttendance and ChangeAgenda as given, when, then, and what a
/// decision at the meeting reads from them.
@Suite("Meetings: attendance and agenda changed")
struct MeetingTests {
    let first: UUID, second: UUID, drafted: UUID
    let world: World
    var group: SteeringGroupState { world.group }
    var meetingId: UUID { world.meetingId }
    /// Scheduled by the decider: Anne, Bo and Carla present, the first application on the agenda.
    let held: any DomainEvent
    func day(_ n: Int) -> Date { World.day(n) }

    init() throws {
        var world = try World()
        (first, second) = (try world.submitted(), try world.submitted(World.content("Tech College")))
        drafted = try world.draft()
        held = try HoldMeeting(meetingId: world.meetingId, groupId: world.groupId, date: World.day(40), present: ["anne", "bo", "carla"], agenda: [first])
            .decide(meeting: .initial, group: world.group, applications: world.applications, pools: [world.poolId: world.pool])[0]
        self.world = world
    }
    func attendance(_ present: [String], reason: String = "", at: Int = 40) -> (MeetingState) throws(DomainError) -> [any DomainEvent] {
        { [group] state throws(DomainError) in
            try ChangeAttendance(meetingId: meetingId, present: present, reason: reason, at: day(at)).decide(meeting: state, group: group)
        }
    }
    func agenda(_ agenda: [UUID], reason: String = "", pools: [UUID: PoolState]? = nil) -> (MeetingState) throws(DomainError) -> [any DomainEvent] {
        { [world] state throws(DomainError) in
            try ChangeAgenda(meetingId: world.meetingId, agenda: agenda, reason: reason, at: World.day(39))
                .decide(meeting: state, added: world.applications, pools: pools ?? [world.poolId: world.pool])
        }
    }
    func schedule(_ agenda: [UUID], pools: [UUID: PoolState]? = nil) -> (MeetingState) throws(DomainError) -> [any DomainEvent] {
        { [world] state throws(DomainError) in
            try HoldMeeting(meetingId: world.meetingId, groupId: world.groupId, date: World.day(40), present: ["anne"], agenda: agenda)
                .decide(meeting: state, group: world.group, applications: world.applications, pools: pools ?? [world.poolId: world.pool])
        }
    }

    @Test("a member who sends apologies or arrives late changes who is present, with the reason")
    func attendanceChanges() {
        given(MeetingState.self, held).when(attendance(["anne", "bo", "dan"], reason: "Carla sent apologies; Dan stood in"))
            .then(MeetingAttendanceChanged(meetingId: meetingId, present: ["anne", "bo", "dan"], reason: "Carla sent apologies; Dan stood in",
                                           occurredAt: day(40)))
        #expect(MeetingState.replay([held, MeetingAttendanceChanged(meetingId: meetingId, present: ["bo"], reason: "", occurredAt: day(40))])
            .held?.present == ["bo"])
    }

    @Test("only the group's members, each once, at least one, and a change")
    func attendanceRules() {
        given(MeetingState.self, held).when(attendance(["anne", "zoe"])).then(refused: .notAMember(member: "zoe"))
        given(MeetingState.self, held).when(attendance(["anne", "anne"])).then(refused: .invalidInput(field: "present", reason: "a member is listed twice"))
        given(MeetingState.self, held).when(attendance([])).then(refused: .invalidInput(field: "present", reason: "name the members present"))
        given(MeetingState.self, held).when(attendance(["carla", "anne", "bo"]))
            .then(refused: .invalidInput(field: "present", reason: "the same members are present already"))
        given(MeetingState.self).when(attendance(["anne"])).then(refused: .notFound(kind: "meeting", id: meetingId.uuidString))
    }

    @Test("an application comes onto the agenda, another goes to a later meeting")
    func agendaChanges() {
        given(MeetingState.self, held).when(agenda([first, second], reason: "submitted after the agenda was sent"))
            .then(MeetingAgendaChanged(meetingId: meetingId, agenda: [first, second], reason: "submitted after the agenda was sent", occurredAt: day(39)))
        given(MeetingState.self, held).when(agenda([])).then(MeetingAgendaChanged(meetingId: meetingId, agenda: [], reason: "", occurredAt: day(39)))
        given(MeetingState.self, held).when(agenda([second, second]))
            .then(refused: .invalidInput(field: "agenda", reason: "an application is listed twice"))
        given(MeetingState.self, held).when(agenda([first])).then(refused: .invalidInput(field: "agenda", reason: "the agenda is unchanged"))
    }

    @Test("only a submitted application, to a pool the meeting's group decides, is scheduled or comes onto the agenda")
    func onlySubmittedOfTheGroup() throws {
        // The same pool, as if another group decided it.
        let otherGroupId = UUID()
        let otherGroup = SteeringGroupState.replay(try CreateSteeringGroup(groupId: otherGroupId, name: "Other", members: World.members, at: World.start)
            .decide(.initial))
        let elsewhere = PoolState.replay(try CreatePool(
            poolId: world.poolId, name: "Other pool", owner: "Other", currency: .dkk, carryOver: .lapse,
            periods: [BudgetPeriodSpec(period: "2024", amount: World.dkk("1000.00"))],
            sources: [FundingSourceSpec(id: "o", name: "O", amount: World.dkk("1000.00"))], steeringGroupId: otherGroupId,
            eligibility: EligibilityRules(), at: World.start).decide(pool: .initial, group: otherGroup))
        let unknown = UUID()
        given(MeetingState.self, held).when(agenda([first, drafted]))
            .then(refused: .invalidState(kind: "application", id: drafted.uuidString, status: "draft", action: "put on an agenda"))
        given(MeetingState.self, held).when(agenda([first, unknown])).then(refused: .notFound(kind: "application", id: unknown.uuidString))
        given(MeetingState.self, held).when(agenda([first, second], pools: [world.poolId: elsewhere]))
            .then(refused: .invalidInput(field: "agenda", reason: "application \(second.uuidString) is not for a pool this meeting's steering group decides"))
        // Scheduling the meeting holds its first agenda to the same rules.
        given(MeetingState.self).when(schedule([first, drafted]))
            .then(refused: .invalidState(kind: "application", id: drafted.uuidString, status: "draft", action: "put on an agenda"))
        given(MeetingState.self).when(schedule([unknown])).then(refused: .notFound(kind: "application", id: unknown.uuidString))
        given(MeetingState.self).when(schedule([second], pools: [world.poolId: elsewhere]))
            .then(refused: .invalidInput(field: "agenda", reason: "application \(second.uuidString) is not for a pool this meeting's steering group decides"))
        #expect((try schedule([second, first])(.initial).first as? MeetingHeld)?.agenda == [second, first])
    }

    @Test("what the meeting has decided stays on its agenda")
    func decidedStays() {
        let decided = DecisionRecorded(meetingId: meetingId, applicationId: first, applicationVersion: 1, outcome: .reject, votes: [], recused: [],
                                       quorum: 3, eligibleVoters: 3, occurredAt: day(40))
        given(MeetingState.self, held, decided).when(agenda([second]))
            .then(refused: .invalidInput(field: "agenda", reason: "application \(first.uuidString) was decided at this meeting and stays on its agenda"))
    }

    @Test("a decision reads the attendance and agenda as they stand: who left cannot vote, who arrived is recused if affiliated")
    func decisionReadsTheChanges() throws {
        var world = try World()
        let id = try world.submitted()  // from Aalborg Tekniske Gymnasium, where Anne is affiliated
        try world.holdMeeting(present: ["bo", "dan", "eva"], agenda: [])
        let lateItem = try ChangeAgenda(meetingId: world.meetingId, agenda: [id], reason: "", at: Date())
            .decide(meeting: world.meeting, added: world.applications, pools: [world.poolId: world.pool])
        world.meeting = world.apply(lateItem, to: world.meeting)
        let arrivals = try ChangeAttendance(meetingId: world.meetingId, present: ["anne", "bo", "carla", "dan"], reason: "Eva left; Anne and Carla arrived", at: Date())
            .decide(meeting: world.meeting, group: world.group)
        world.meeting = world.apply(arrivals, to: world.meeting)
        expectRejection(.memberAbsent(member: "eva")) {
            try world.decide(id, votes: ["bo", "dan", "eva"].map { Vote(member: $0, vote: .for) }, outcome: .reject(reason: "no"))
        }
        expectRejection(.memberRecused(member: "anne", affiliation: "Aalborg Tekniske Gymnasium")) {
            try world.decide(id, votes: ["anne", "bo", "dan"].map { Vote(member: $0, vote: .for) }, outcome: .reject(reason: "no"))
        }
        try world.decide(id, votes: ["bo", "dan"].map { Vote(member: $0, vote: .for) }, outcome: .reject(reason: "not this round"))
        #expect(world.meeting.decided[id] == .reject)
    }
}
