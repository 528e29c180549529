import Foundation

/// A steering group's decision on one application at a meeting. Reads the
/// application, the meeting, the group and the pool; an approval writes to
/// the application, the meeting, the pool (the commitment) and a new grant.
public struct RecordDecision: Hashable, Sendable {
    public struct Approval: Hashable, Sendable {
        public var amount: Money
        public var period: String
        /// The sources drawn on; when nil, earmarked sources for the applicant
        /// first, then open sources, each within its cap.
        public var sources: [SourceAmount]?
        public var conditions: [String]
        public var tranches: [TrancheSpec]

        public init(amount: Money, period: String, sources: [SourceAmount]? = nil, conditions: [String] = [], tranches: [TrancheSpec] = TrancheSpec.standard) {
            (self.amount, self.period, self.sources, self.conditions, self.tranches) = (amount, period, sources, conditions, tranches)
        }
    }

    public enum Outcome: Hashable, Sendable {
        case approve(Approval)
        case reject(reason: String)
        case revise(reason: String)
    }

    public var meetingId: UUID
    public var applicationId: UUID
    public var applicationVersion: Int
    public var votes: [Vote]
    public var outcome: Outcome
    /// When the decision is recorded: on or after the meeting's date. The
    /// decision itself is dated at the meeting (see ``decisionDate(_:_:_:)``).
    public var at: Date

    public init(meetingId: UUID, applicationId: UUID, applicationVersion: Int, votes: [Vote], outcome: Outcome, at: Date) {
        (self.meetingId, self.applicationId, self.applicationVersion, self.votes, self.outcome, self.at) =
            (meetingId, applicationId, applicationVersion, votes, outcome, at)
    }

    public struct Events: Sendable {
        public var application: [any DomainEvent]
        public var meeting: [any DomainEvent]
        public var pool: [any DomainEvent]
        public var grant: [any DomainEvent]
    }

    /// Members present who are affiliated with the applicant or a partner.
    public static func recusals(present: [String], group: SteeringGroupState, content: ApplicationContent) -> [Recusal] {
        let parties = [content.organisation] + content.partners
        return present.compactMap { id in
            guard let member = group.members[id], let party = parties.first(where: member.affiliations.contains) else { return nil }
            return Recusal(member: id, affiliation: party)
        }
    }

    /// `group` is the group that held the meeting; `actingAs`, who records the decision.
    public func decide(
        application: ApplicationState, meeting: MeetingState, group: SteeringGroupState, pool: PoolState, call: CallState, grant: GrantState,
        actingAs: ActingAs = .unrestricted
    ) throws(DomainError) -> Events {
        guard let held = meeting.held else { throw .notFound(kind: "meeting", id: meetingId.uuidString) }
        try actingAs.requireSeat(on: group, held.groupId, meeting: meetingId)
        guard let drafted = application.drafted, let content = application.content else { throw .notFound(kind: "application", id: applicationId.uuidString) }
        guard held.agenda.contains(applicationId) else { throw .notOnAgenda(application: applicationId.uuidString) }
        guard pool.created?.steeringGroupId == held.groupId else {
            throw .invalidInput(field: "meetingId", reason: "the meeting's steering group does not decide this pool's grants")
        }
        guard application.status == .submitted else {
            if application.status == .approved { throw .alreadyFunded(application: applicationId.uuidString) }
            throw .invalidState(kind: "application", id: applicationId.uuidString, status: application.status.rawValue, action: "decide on it")
        }
        // Invariant 9: the decision covers exactly the version the group read.
        guard applicationVersion == application.version else {
            throw .applicationVersionMismatch(decidedOn: applicationVersion, current: application.version)
        }

        // Invariant 4: only present, non-recused members vote, once each, with quorum.
        let recused = Self.recusals(present: held.present, group: group, content: content)
        try requireCount(votes, field: "votes", maximum: Limits.members, what: "votes")
        var voters = Set<String>()
        var votes = votes
        for (index, vote) in votes.enumerated() {
            guard let member = group.storedMember(vote.member) else { throw .notAMember(member: vote.member) }
            votes[index].member = member
            guard held.present.contains(vote.member) else { throw .memberAbsent(member: vote.member) }
            if let recusal = recused.first(where: { $0.member == vote.member }) {
                throw .memberRecused(member: vote.member, affiliation: recusal.affiliation)
            }
            guard voters.insert(vote.member).inserted else { throw .duplicateVote(member: vote.member) }
        }
        let eligible = held.present.count - recused.count
        guard eligible >= group.quorum else {
            throw .quorumNotReached(eligible: eligible, needed: group.quorum, members: group.members.count)
        }
        let votesFor = votes.filter { $0.vote == .for }.count, votesAgainst = votes.filter { $0.vote == .against }.count
        guard votesFor > votesAgainst else { throw .motionNotCarried(votesFor: votesFor, votesAgainst: votesAgainst) }

        var dependencies = [("application \(applicationId.uuidString) was submitted", application.submittedAt ?? drafted.occurredAt)]
        if case .approve(let approval) = outcome, let created = pool.created {
            dependencies.append(("the pool was created", created.occurredAt))
            if let period = pool.storedPeriod(approval.period), let opened = pool.periodOpenedAt[period] {
                dependencies.append(("budget period \(period) was added", opened))
            }
        }
        let at = try Self.decisionDate(held, recordedAt: self.at, dependencies)
        let outcomeName: DecisionOutcome
        var events = Events(application: [], meeting: [], pool: [], grant: [])
        switch outcome {
        case .approve(let approval):
            outcomeName = .approve
            guard grant.awarded == nil else { throw .alreadyFunded(application: applicationId.uuidString) }
            guard try approval.amount.compare(content.requested) <= 0 else {
                throw .invalidInput(field: "amount", reason: "\(approval.amount) is more than the \(content.requested) requested")
            }
            let tranches = try Self.schedule(approval.amount, approval.tranches)
            try requireCount(approval.conditions, field: "conditions", maximum: Limits.conditions, what: "conditions")
            for (index, condition) in approval.conditions.enumerated() {
                try requireProse(condition, field: "conditions[\(index)]", maximum: Limits.reason, required: true)
            }
            let grantId = applicationId
            let commitment = try pool.commit(
                approval.amount, period: approval.period, sources: approval.sources, beneficiary: content.organisation,
                grantId: grantId, applicationId: applicationId, callId: drafted.callId, callCap: call.opened?.cap, meetingId: meetingId, at: at)
            events.pool = [commitment]
            events.application = [ApplicationApproved(meetingId: meetingId, grantId: grantId, version: application.version, amount: approval.amount, occurredAt: at)]
            events.grant = [GrantAwarded(
                grantId: grantId, applicationId: applicationId, poolId: drafted.poolId, callId: drafted.callId, meetingId: meetingId,
                organisation: content.organisation, title: content.title, amount: approval.amount, period: commitment.period,
                sources: commitment.sources, conditions: approval.conditions, tranches: tranches, occurredAt: at)]
        case .reject(let reason):
            outcomeName = .reject
            try requireProse(reason, field: "reason", maximum: Limits.reason, required: true)
            events.application = [ApplicationRejected(meetingId: meetingId, version: application.version, reason: reason, occurredAt: at)]
        case .revise(let reason):
            outcomeName = .revise
            try requireProse(reason, field: "reason", maximum: Limits.reason, required: true)
            events.application = [ApplicationReturnedForRevision(meetingId: meetingId, version: application.version, reason: reason, occurredAt: at)]
        }
        events.meeting = [DecisionRecorded(
            meetingId: meetingId, applicationId: applicationId, applicationVersion: application.version, outcome: outcomeName,
            votes: votes, recused: recused, quorum: group.quorum, eligibleVoters: eligible, occurredAt: at)]
        return events
    }

    /// The instant a decision at `held` happened: the meeting's, once it
    /// has begun. A meeting dated to the instant must come after every fact
    /// the decision depends on; one dated by day may decide what came
    /// earlier that day, and its decision is then dated at the latest of
    /// those facts, so that nothing precedes what it depends on.
    static func decisionDate(_ held: MeetingHeld, recordedAt: Date, _ dependencies: [(String, Date)]) throws(DomainError) -> Date {
        guard held.occurredAt <= recordedAt else {
            throw .meetingNotYetHeld(meeting: held.meetingId.uuidString, date: held.occurredAt, now: recordedAt)
        }
        var date = held.occurredAt
        for (dependency, since) in dependencies where since > date {
            guard since <= held.latestInstant, since <= recordedAt else {
                throw .datedBeforeDependency(fact: "the meeting", at: held.occurredAt, dependency: dependency, since: since)
            }
            date = since
        }
        return date
    }

    /// Tranche amounts from percentages that add up to 100; the parts add up
    /// to the amount exactly.
    static func schedule(_ amount: Money, _ specs: [TrancheSpec]) throws(DomainError) -> [Tranche] {
        try requireCount(specs, field: "tranches", minimum: 1, maximum: Limits.tranches, what: "tranches")
        guard specs.allSatisfy({ (1...100).contains($0.percent) }), specs.map(\.percent).reduce(0, +) == 100 else {
            throw .invalidInput(field: "tranches", reason: "percentages must each be 1 to 100 and add up to 100, got \(specs.map(\.percent))")
        }
        return zip(specs, amount.split(by: specs.map { Int64($0.percent) })).enumerated().map { index, pair in
            Tranche(number: index + 1, amount: pair.1, trigger: pair.0.trigger)
        }
    }
}
