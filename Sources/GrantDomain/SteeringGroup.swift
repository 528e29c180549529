import Foundation

/// A member of a steering group, with the organisations they are affiliated
/// with: a member is recused from any decision on an application by one of them.
public struct Member: Codable, Hashable, Sendable {
    public var id: String
    public var name: String
    public var affiliations: [String]
    public init(id: String, name: String, affiliations: [String]) {
        (self.id, self.name, self.affiliations) = (id, name, affiliations)
    }
}

// MARK: Steering group

public struct SteeringGroupCreated: DomainEvent {
    public static let eventType = "SteeringGroupCreated"
    public var groupId: UUID
    public var name: String
    public var members: [Member]
    public var occurredAt: Date
}

public struct SteeringGroupState: Aggregate, Hashable {
    public var created: SteeringGroupCreated?
    public var members: [String: Member] = [:]

    public static let initial = SteeringGroupState()
    public static func streamName(_ id: UUID) -> String { "steering-group-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [SteeringGroupCreated.self]

    public consuming func evolve(_ event: any DomainEvent) -> SteeringGroupState {
        var state = consume self
        if let event = event as? SteeringGroupCreated {
            state.created = event
            state.members = Dictionary(event.members.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
        return state
    }

    /// The member `given` names, as the group spells the id (see ``PoolState/storedPeriod(_:)``).
    public func storedMember(_ given: String) -> String? { created?.members.first { $0.id == given }?.id }

    /// Quorum: a majority of all members, counting those present and not recused.
    public var quorum: Int { members.count / 2 + 1 }
}

public struct CreateSteeringGroup: Hashable, Sendable {
    public var groupId: UUID
    public var name: String
    public var members: [Member]
    public var at: Date

    public init(groupId: UUID, name: String, members: [Member], at: Date) {
        (self.groupId, self.name, self.members, self.at) = (groupId, name, members, at)
    }

    public func decide(_ group: SteeringGroupState) throws(DomainError) -> [any DomainEvent] {
        guard group.created == nil else { throw .alreadyExists(kind: "steering group", id: groupId.uuidString) }
        try requireLine(name, field: "name")
        try requireCount(members, field: "members", minimum: 1, maximum: Limits.members, what: "members")
        var ids = Set<String>()
        for (index, member) in members.enumerated() {
            try requireLine(member.id, field: "members[\(index)].id", maximum: Limits.identifier)
            try requireLine(member.name, field: "members[\(index)].name")
            guard ids.insert(member.id).inserted else { throw .invalidInput(field: "members[\(index)].id", reason: "\(member.id) appears twice") }
            try requireLines(member.affiliations, field: "members[\(index)].affiliations", count: Limits.affiliations, what: "affiliations")
        }
        return [SteeringGroupCreated(groupId: groupId, name: name, members: members, occurredAt: at)]
    }
}

// MARK: Meeting

public struct MeetingHeld: DomainEvent {
    public static let eventType = "MeetingHeld"
    /// 2: `attendees` renamed `present` (see `EventCoding.upcasters`).
    public static let schemaVersion: Int32 = 2
    public var meetingId: UUID
    public var groupId: UUID
    public var present: [String]
    public var agenda: [UUID]
    /// True when the meeting was dated by day (`2026-03-04`), as people date
    /// meetings: `occurredAt` is then the day's start, and the meeting may
    /// decide what was submitted later that day. Absent: dated to the instant.
    public var datedByDay: Bool?
    /// The meeting's date.
    public var occurredAt: Date

    /// The last instant the meeting's date covers.
    public var latestInstant: Date { datedByDay == true ? occurredAt.addingTimeInterval(86_400 - 0.001) : occurredAt }
}

/// Who is present from now on: a member who arrives late, leaves early or
/// sends apologies before the day. Decisions recorded before keep the votes
/// and recusals they were recorded with.
public struct MeetingAttendanceChanged: DomainEvent {
    public static let eventType = "MeetingAttendanceChanged"
    public var meetingId: UUID
    public var present: [String]
    public var reason: String
    public var occurredAt: Date

    public init(meetingId: UUID, present: [String], reason: String, occurredAt: Date) {
        (self.meetingId, self.present, self.reason, self.occurredAt) = (meetingId, present, reason, occurredAt)
    }
}

/// The applications the meeting decides from now on: one added that came
/// in after the meeting was scheduled, or one taken off to a later meeting.
public struct MeetingAgendaChanged: DomainEvent {
    public static let eventType = "MeetingAgendaChanged"
    public var meetingId: UUID
    public var agenda: [UUID]
    public var reason: String
    public var occurredAt: Date

    public init(meetingId: UUID, agenda: [UUID], reason: String, occurredAt: Date) {
        (self.meetingId, self.agenda, self.reason, self.occurredAt) = (meetingId, agenda, reason, occurredAt)
    }
}

public enum VoteChoice: String, Codable, Hashable, Sendable {
    case `for`, against, abstain
}

public struct Vote: Codable, Hashable, Sendable {
    public var member: String
    public var vote: VoteChoice
    public init(member: String, vote: VoteChoice) { self.member = member; self.vote = vote }
}

public struct Recusal: Codable, Hashable, Sendable {
    public var member: String
    public var affiliation: String

    package init(member: String, affiliation: String) {
        self.member = member
        self.affiliation = affiliation
    }
}

public enum DecisionOutcome: String, Codable, Hashable, Sendable {
    case approve, reject, revise
}

/// The minutes of one decision: who could vote, who was recused and why, how each voted.
public struct DecisionRecorded: DomainEvent {
    public static let eventType = "DecisionRecorded"
    public var meetingId: UUID
    public var applicationId: UUID
    public var applicationVersion: Int
    public var outcome: DecisionOutcome
    public var votes: [Vote]
    public var recused: [Recusal]
    public var quorum: Int
    public var eligibleVoters: Int
    public var occurredAt: Date

    package init(meetingId: UUID, applicationId: UUID, applicationVersion: Int, outcome: DecisionOutcome, votes: [Vote], recused: [Recusal], quorum: Int, eligibleVoters: Int, occurredAt: Date) {
        (self.meetingId, self.applicationId, self.applicationVersion, self.outcome, self.votes, self.recused, self.quorum, self.eligibleVoters, self.occurredAt) =
            (meetingId, applicationId, applicationVersion, outcome, votes, recused, quorum, eligibleVoters, occurredAt)
    }
}

public struct MeetingState: Aggregate, Hashable {
    /// The meeting as scheduled, with its attendance and agenda as they stand now.
    public var held: MeetingHeld?
    /// Each change of who is present, in order: the minutes say when who came or went.
    public var attendanceChanges: [MeetingAttendanceChanged] = []
    public var decided: [UUID: DecisionOutcome] = [:]
    /// Its documents (minutes, a presentation), in the order attached.
    public var documents: [DocumentAttached] = []

    public static let initial = MeetingState()
    public static func streamName(_ id: UUID) -> String { "meeting-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [
        MeetingHeld.self, MeetingAttendanceChanged.self, MeetingAgendaChanged.self, DecisionRecorded.self, DocumentAttached.self,
    ]

    public consuming func evolve(_ event: any DomainEvent) -> MeetingState {
        var state = consume self
        switch event {
        case let event as MeetingHeld: state.held = event
        case let event as MeetingAttendanceChanged:
            state.held?.present = event.present
            state.attendanceChanges.append(event)
        case let event as MeetingAgendaChanged: state.held?.agenda = event.agenda
        case let event as DecisionRecorded: state.decided[event.applicationId] = event.outcome
        case let event as DocumentAttached: state.documents.append(event)
        default: break
        }
        return state
    }
}

public struct HoldMeeting: Hashable, Sendable {
    public var meetingId: UUID
    public var groupId: UUID
    public var date: Date
    /// The date names a whole day (see ``MeetingHeld/datedByDay``).
    public var datedByDay: Bool
    public var present: [String]
    public var agenda: [UUID]

    public init(meetingId: UUID, groupId: UUID, date: Date, datedByDay: Bool = false, present: [String], agenda: [UUID]) {
        self.meetingId = meetingId
        self.groupId = groupId
        self.date = datedByDay ? CivilTime.startOfDay(date) : date
        self.datedByDay = datedByDay
        self.present = present
        self.agenda = agenda
    }

    /// `applications` holds the agenda's applications, `pools` the pools they were drafted to.
    public func decide(meeting: MeetingState, group: SteeringGroupState, applications: [UUID: ApplicationState], pools: [UUID: PoolState])
        throws(DomainError) -> [any DomainEvent] {
        guard meeting.held == nil else { throw .alreadyExists(kind: "meeting", id: meetingId.uuidString) }
        guard let created = group.created else { throw .notFound(kind: "steering group", id: groupId.uuidString) }
        let members = try presentMembers(present, of: group)
        try requireAgenda(agenda)
        try requireWaiting(agenda, applications: applications, pools: pools, groupId: groupId)
        let held = MeetingHeld(meetingId: meetingId, groupId: groupId, present: [], agenda: [], datedByDay: datedByDay ? true : nil, occurredAt: date)
        guard held.latestInstant >= created.occurredAt else {
            throw .datedBeforeDependency(fact: "the meeting", at: date, dependency: "steering group \(groupId.uuidString) was created", since: created.occurredAt)
        }
        return [MeetingHeld(meetingId: meetingId, groupId: groupId, present: members, agenda: agenda, datedByDay: held.datedByDay, occurredAt: date)]
    }
}

/// The members present as the group stores them: at least one, each a member, none twice.
private func presentMembers(_ present: [String], of group: SteeringGroupState) throws(DomainError) -> [String] {
    guard !present.isEmpty else { throw .invalidInput(field: "present", reason: "name the members present") }
    try requireCount(present, field: "present", maximum: Limits.members, what: "members")
    var members: [String] = []
    for given in present {
        guard let member = group.storedMember(given) else { throw .notAMember(member: given) }
        members.append(member)
    }
    guard Set(members).count == members.count else { throw .invalidInput(field: "present", reason: "a member is listed twice") }
    return members
}

private func requireAgenda(_ agenda: [UUID]) throws(DomainError) {
    try requireCount(agenda, field: "agenda", maximum: Limits.agenda, what: "applications")
    guard Set(agenda).count == agenda.count else { throw .invalidInput(field: "agenda", reason: "an application is listed twice") }
}

/// Each application an agenda takes up waits for this group: it is submitted, to a pool the group decides.
private func requireWaiting(_ ids: [UUID], applications: [UUID: ApplicationState], pools: [UUID: PoolState], groupId: UUID) throws(DomainError) {
    for id in ids {
        guard let application = applications[id], let drafted = application.drafted else { throw .notFound(kind: "application", id: id.uuidString) }
        guard application.status == .submitted else {
            throw .invalidState(kind: "application", id: id.uuidString, status: application.status.rawValue, action: "put on an agenda")
        }
        guard pools[drafted.poolId]?.created?.steeringGroupId == groupId else {
            throw .invalidInput(field: "agenda", reason: "application \(id.uuidString) is not for a pool this meeting's steering group decides")
        }
    }
}

/// Records who is present from `at` on. The same members again is no change.
public struct ChangeAttendance: Hashable, Sendable {
    public var meetingId: UUID
    public var present: [String]
    public var reason: String
    public var at: Date

    public init(meetingId: UUID, present: [String], reason: String, at: Date) {
        (self.meetingId, self.present, self.reason, self.at) = (meetingId, present, reason, at)
    }

    /// `group` is the group that holds the meeting.
    public func decide(meeting: MeetingState, group: SteeringGroupState) throws(DomainError) -> [any DomainEvent] {
        guard let held = meeting.held else { throw .notFound(kind: "meeting", id: meetingId.uuidString) }
        try requireProse(reason, field: "reason", maximum: Limits.reason, required: false)
        let members = try presentMembers(present, of: group)
        guard Set(members) != Set(held.present) else { throw .invalidInput(field: "present", reason: "the same members are present already") }
        return [MeetingAttendanceChanged(meetingId: meetingId, present: members, reason: reason, occurredAt: at)]
    }
}

/// Sets the applications the meeting decides. What the meeting has decided
/// stays on its agenda: the minutes must show what it was decided at. An
/// application added must be submitted to a pool this meeting's group decides.
public struct ChangeAgenda: Hashable, Sendable {
    public var meetingId: UUID
    public var agenda: [UUID]
    public var reason: String
    public var at: Date

    public init(meetingId: UUID, agenda: [UUID], reason: String, at: Date) {
        (self.meetingId, self.agenda, self.reason, self.at) = (meetingId, agenda, reason, at)
    }

    /// The applications ``added(to:)`` names, and the pools they were drafted to.
    public func decide(meeting: MeetingState, added applications: [UUID: ApplicationState], pools: [UUID: PoolState]) throws(DomainError)
        -> [any DomainEvent] {
        guard let held = meeting.held else { throw .notFound(kind: "meeting", id: meetingId.uuidString) }
        try requireProse(reason, field: "reason", maximum: Limits.reason, required: false)
        try requireAgenda(agenda)
        let chosen = Set(agenda)
        if let decided = held.agenda.first(where: { meeting.decided[$0] != nil && !chosen.contains($0) }) {
            throw .invalidInput(field: "agenda", reason: "application \(decided.uuidString) was decided at this meeting and stays on its agenda")
        }
        guard chosen != Set(held.agenda) else { throw .invalidInput(field: "agenda", reason: "the agenda is unchanged") }
        try requireWaiting(added(to: meeting), applications: applications, pools: pools, groupId: held.groupId)
        return [MeetingAgendaChanged(meetingId: meetingId, agenda: agenda, reason: reason, occurredAt: at)]
    }

    /// The applications this change puts on the meeting's agenda.
    public func added(to meeting: MeetingState) -> [UUID] {
        let current = Set(meeting.held?.agenda ?? [])
        return agenda.filter { !current.contains($0) }
    }
}
