import Foundation

/// A line of an application's budget: a cost category in a period.
public struct BudgetLine: Codable, Hashable, Sendable {
    public var category: String
    public var period: String
    public var amount: Money
    public init(category: String, period: String, amount: Money) {
        (self.category, self.period, self.amount) = (category, period, amount)
    }
}

/// What an applicant writes; drafted, then amended until the deadline.
public struct ApplicationContent: Codable, Hashable, Sendable {
    public var organisation: String
    public var projectLeader: String
    public var partners: [String]
    public var title: String
    public var description: String
    public var focusAreas: [String]
    public var requested: Money
    public var budget: [BudgetLine]
    public var expectedOutcomes: String
    public var studentsReached: Int?

    public init(organisation: String, projectLeader: String, partners: [String] = [], title: String, description: String,
                focusAreas: [String] = [], requested: Money, budget: [BudgetLine] = [], expectedOutcomes: String = "", studentsReached: Int? = nil) {
        self.organisation = organisation
        self.projectLeader = projectLeader
        self.partners = partners
        self.title = title
        self.description = description
        self.focusAreas = focusAreas
        self.requested = requested
        self.budget = budget
        self.expectedOutcomes = expectedOutcomes
        self.studentsReached = studentsReached
    }

    /// The content as the pool will keep it: every field within ``Limits``,
    /// the budget's periods the pool's own, spelled as the pool spells them.
    func validated(for pool: PoolState) throws(DomainError) -> ApplicationContent {
        let currency = pool.currency
        try requireLine(organisation, field: "organisation")
        try requireLine(projectLeader, field: "projectLeader")
        try requireLines(partners, field: "partners", count: Limits.partners, what: "partners")
        try requireLine(title, field: "title", maximum: Limits.title)
        try requireProse(description, field: "description", maximum: Limits.prose, required: false)
        try requireLines(focusAreas, field: "focusAreas", count: Limits.focusAreas, what: "focus areas")
        try requireProse(expectedOutcomes, field: "expectedOutcomes", maximum: Limits.prose, required: false)
        try requirePositive(requested, field: "requested", currency: currency)
        if let students = studentsReached, !Limits.studentsReached.contains(students) {
            throw .invalidInput(field: "studentsReached", reason: "must be \(Limits.studentsReached.lowerBound) to \(Limits.studentsReached.upperBound), got \(students)")
        }
        var content = self
        if !budget.isEmpty {
            try requireCount(budget, field: "budget", maximum: Limits.budgetLines, what: "budget lines")
            var total = Money.zero(currency)
            for (index, line) in budget.enumerated() {
                try requireLine(line.category, field: "budget[\(index)].category")
                guard let period = pool.storedPeriod(line.period) else {
                    throw .invalidInput(field: "budget[\(index)].period", reason: "\(line.period.prefix(Limits.period)) is not a budget period of the pool")
                }
                content.budget[index].period = period
                try requirePositive(line.amount, field: "budget[\(index)].amount", currency: currency)
                total = try total + line.amount
            }
            guard total == requested else {
                throw .invalidInput(field: "budget", reason: "lines add up to \(total.amount), the request is \(requested.amount)")
            }
        }
        return content
    }
}

public enum ApplicationStatus: String, Codable, Hashable, Sendable, CaseIterable {
    case draft, submitted, withdrawn, approved, rejected
    case returnedForRevision = "returned-for-revision"
}

/// One eligibility rule as checked at submission, kept for the audit trail.
public struct EligibilityCheck: Codable, Hashable, Sendable {
    public var rule: String
    public var passed: Bool
    public var detail: String

    package init(rule: String, passed: Bool, detail: String) {
        (self.rule, self.passed, self.detail) = (rule, passed, detail)
    }
}

// MARK: Events

public struct ApplicationDrafted: DomainEvent {
    public static let eventType = "ApplicationDrafted"
    public var applicationId: UUID
    public var callId: UUID
    public var poolId: UUID
    public var content: ApplicationContent
    public var occurredAt: Date

    package init(applicationId: UUID, callId: UUID, poolId: UUID, content: ApplicationContent, occurredAt: Date) {
        (self.applicationId, self.callId, self.poolId, self.content, self.occurredAt) = (applicationId, callId, poolId, content, occurredAt)
    }
}

public struct ApplicationAmended: DomainEvent {
    public static let eventType = "ApplicationAmended"
    public var version: Int
    public var content: ApplicationContent
    public var occurredAt: Date
}

public struct ApplicationSubmitted: DomainEvent {
    public static let eventType = "ApplicationSubmitted"
    public var version: Int
    public var checks: [EligibilityCheck]
    public var occurredAt: Date

    package init(version: Int, checks: [EligibilityCheck], occurredAt: Date) {
        (self.version, self.checks, self.occurredAt) = (version, checks, occurredAt)
    }
}

public struct ApplicationWithdrawn: DomainEvent {
    public static let eventType = "ApplicationWithdrawn"
    public var reason: String
    public var occurredAt: Date

    package init(reason: String, occurredAt: Date) {
        self.reason = reason
        self.occurredAt = occurredAt
    }
}

public struct ApplicationApproved: DomainEvent {
    public static let eventType = "ApplicationApproved"
    public var meetingId: UUID
    public var grantId: UUID
    public var version: Int
    public var amount: Money
    public var occurredAt: Date

    package init(meetingId: UUID, grantId: UUID, version: Int, amount: Money, occurredAt: Date) {
        (self.meetingId, self.grantId, self.version, self.amount, self.occurredAt) = (meetingId, grantId, version, amount, occurredAt)
    }
}

public struct ApplicationRejected: DomainEvent {
    public static let eventType = "ApplicationRejected"
    public var meetingId: UUID
    public var version: Int
    public var reason: String
    public var occurredAt: Date

    package init(meetingId: UUID, version: Int, reason: String, occurredAt: Date) {
        (self.meetingId, self.version, self.reason, self.occurredAt) = (meetingId, version, reason, occurredAt)
    }
}

public struct ApplicationReturnedForRevision: DomainEvent {
    public static let eventType = "ApplicationReturnedForRevision"
    public var meetingId: UUID
    public var version: Int
    public var reason: String
    public var occurredAt: Date

    package init(meetingId: UUID, version: Int, reason: String, occurredAt: Date) {
        (self.meetingId, self.version, self.reason, self.occurredAt) = (meetingId, version, reason, occurredAt)
    }
}

// MARK: State

public struct ApplicationState: Aggregate, Hashable {
    public var drafted: ApplicationDrafted?
    public var content: ApplicationContent?
    /// 1 when drafted, one more for each amendment; a decision names it.
    public var version = 0
    public var status = ApplicationStatus.draft
    public var granted: Money?
    /// When the version a decision would take was submitted.
    public var submittedAt: Date?
    /// Its documents, in the order attached.
    public var documents: [DocumentAttached] = []

    public static let initial = ApplicationState()
    public static func streamName(_ id: UUID) -> String { "application-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [
        ApplicationDrafted.self, ApplicationAmended.self, ApplicationSubmitted.self, ApplicationWithdrawn.self,
        ApplicationApproved.self, ApplicationRejected.self, ApplicationReturnedForRevision.self, DocumentAttached.self,
    ]

    public consuming func evolve(_ event: any DomainEvent) -> ApplicationState {
        var state = consume self
        switch event {
        case let event as ApplicationDrafted:
            state.drafted = event
            state.content = event.content
            state.version = 1
        case let event as ApplicationAmended:
            state.content = event.content
            state.version = event.version
        case let event as ApplicationSubmitted:
            state.status = .submitted
            state.submittedAt = event.occurredAt
        case is ApplicationWithdrawn: state.status = .withdrawn
        case let event as ApplicationApproved:
            state.status = .approved
            state.granted = event.amount
        case is ApplicationRejected: state.status = .rejected
        case is ApplicationReturnedForRevision: state.status = .returnedForRevision
        case let event as DocumentAttached: state.documents.append(event)
        default: break
        }
        return state
    }
}

// MARK: Commands

public struct DraftApplication: Hashable, Sendable {
    public var applicationId: UUID
    public var callId: UUID
    public var content: ApplicationContent
    public var at: Date

    public init(applicationId: UUID, callId: UUID, content: ApplicationContent, at: Date) {
        (self.applicationId, self.callId, self.content, self.at) = (applicationId, callId, content, at)
    }

    public func decide(application: ApplicationState, call: CallState, pool: PoolState,
                       actingAs: ActingAs = .unrestricted) throws(DomainError) -> [any DomainEvent] {
        try actingAs.requireOwner(of: "application", applicationId, organisation: content.organisation)
        guard application.drafted == nil else { throw .alreadyExists(kind: "application", id: applicationId.uuidString) }
        guard let opened = call.opened else { throw .notFound(kind: "call", id: callId.uuidString) }
        guard at < call.closesAt else { throw call.notOpen(at: at) }
        return [ApplicationDrafted(applicationId: applicationId, callId: callId, poolId: opened.poolId,
                                   content: try content.validated(for: pool), occurredAt: at)]
    }
}

public struct AmendApplication: Hashable, Sendable {
    public var applicationId: UUID
    public var content: ApplicationContent
    public var at: Date

    public init(applicationId: UUID, content: ApplicationContent, at: Date) {
        (self.applicationId, self.content, self.at) = (applicationId, content, at)
    }

    /// A draft or a returned application may be amended at any time; a
    /// submitted one only until the call closes, and it is checked again.
    public func decide(application: ApplicationState, call: CallState, pool: PoolState, group: SteeringGroupState?,
                       actingAs: ActingAs = .unrestricted) throws(DomainError) -> [any DomainEvent] {
        guard let owned = application.content, call.opened != nil else { throw .notFound(kind: "application", id: applicationId.uuidString) }
        try actingAs.requireOwner(of: "application", applicationId, organisation: owned.organisation)
        switch application.status {
        case .draft, .returnedForRevision: break
        case .submitted:
            guard call.isOpen(at: at) else { throw call.notOpen(at: at) }
        default:
            throw .invalidState(kind: "application", id: applicationId.uuidString, status: application.status.rawValue, action: "amend")
        }
        guard content.organisation == application.content?.organisation else {
            throw .invalidInput(field: "organisation", reason: "an application cannot change applicant organisation")
        }
        let content = try self.content.validated(for: pool)
        var events: [any DomainEvent] = [ApplicationAmended(version: application.version + 1, content: content, occurredAt: at)]
        if application.status == .submitted {
            let checks = try Eligibility.check(content, rules: pool.created?.eligibility ?? EligibilityRules(), group: group)
            events.append(ApplicationSubmitted(version: application.version + 1, checks: checks, occurredAt: at))
        }
        return events
    }
}

public struct SubmitApplication: Hashable, Sendable {
    public var applicationId: UUID
    public var at: Date

    public init(applicationId: UUID, at: Date) {
        self.applicationId = applicationId
        self.at = at
    }

    /// Invariant 5: only while the call is open (a returned application may
    /// be resubmitted after, as the steering group asked for it), and only if
    /// every eligibility rule passes.
    public func decide(application: ApplicationState, call: CallState, pool: PoolState, group: SteeringGroupState?,
                       actingAs: ActingAs = .unrestricted) throws(DomainError) -> [any DomainEvent] {
        guard let content = application.content, call.opened != nil else { throw .notFound(kind: "application", id: applicationId.uuidString) }
        try actingAs.requireOwner(of: "application", applicationId, organisation: content.organisation)
        guard application.status == .draft || application.status == .returnedForRevision else {
            throw .invalidState(kind: "application", id: applicationId.uuidString, status: application.status.rawValue, action: "submit")
        }
        if application.status == .draft && !call.isOpen(at: at) { throw call.notOpen(at: at) }
        let checks = try Eligibility.check(content, rules: pool.created?.eligibility ?? EligibilityRules(), group: group)
        return [ApplicationSubmitted(version: application.version, checks: checks, occurredAt: at)]
    }
}

public struct WithdrawApplication: Hashable, Sendable {
    public var applicationId: UUID
    public var reason: String
    public var at: Date

    public init(applicationId: UUID, reason: String, at: Date) {
        (self.applicationId, self.reason, self.at) = (applicationId, reason, at)
    }

    public func decide(application: ApplicationState, actingAs: ActingAs = .unrestricted) throws(DomainError) -> [any DomainEvent] {
        guard let content = application.content else { throw .notFound(kind: "application", id: applicationId.uuidString) }
        try actingAs.requireOwner(of: "application", applicationId, organisation: content.organisation)
        guard [.draft, .submitted, .returnedForRevision].contains(application.status) else {
            throw .invalidState(kind: "application", id: applicationId.uuidString, status: application.status.rawValue, action: "withdraw")
        }
        try requireProse(reason, field: "reason", maximum: Limits.reason, required: false)
        return [ApplicationWithdrawn(reason: reason, occurredAt: at)]
    }
}

/// The eligibility rules of DOMAIN.md, checked in a fixed order.
public enum Eligibility {
    /// The field of the application a rule judges, to show a refusal next to it.
    public static func field(of rule: String) -> String? {
        switch rule {
        case "minimum-amount", "maximum-amount": "requested"
        case "organisation-allowed": "organisation"
        case "project-leader-member-of-group": "projectLeader"
        default: nil
        }
    }

    public static func check(_ content: ApplicationContent, rules: EligibilityRules, group: SteeringGroupState?) throws(DomainError) -> [EligibilityCheck] {
        var checks: [EligibilityCheck] = []
        func record(_ rule: String, _ passed: Bool, _ detail: String) throws(DomainError) {
            guard passed else { throw .ineligible(rule: rule, detail: detail) }
            checks.append(EligibilityCheck(rule: rule, passed: true, detail: detail))
        }
        if let groupId = rules.leaderMemberOfGroup {
            let name = group?.created?.name ?? groupId.uuidString
            // People write the leader's name; the group knows members by id and name.
            let leader = content.projectLeader.trimmingCharacters(in: .whitespaces)
            let isMember = group?.members[leader] != nil
                || group?.created?.members.contains { $0.name.compare(leader, options: [.caseInsensitive]) == .orderedSame } == true
            try record("project-leader-member-of-group", isMember,
                       "project leader \(content.projectLeader) \(isMember ? "is" : "is not") a member of \(name)")
        }
        if let organisations = rules.organisations {
            let allowed = organisations.contains(content.organisation)
            try record("organisation-allowed", allowed,
                       "\(content.organisation) \(allowed ? "is" : "is not") among the eligible organisations (\(organisations.joined(separator: ", ")))")
        }
        if let minimum = rules.minimumAmount {
            let passes = try content.requested.compare(minimum) >= 0
            try record("minimum-amount", passes, "requested \(content.requested) \(passes ? "meets" : "is below") the minimum \(minimum)")
        }
        if let maximum = rules.maximumAmount {
            let passes = try content.requested.compare(maximum) <= 0
            try record("maximum-amount", passes, "requested \(content.requested) \(passes ? "is within" : "is above") the maximum \(maximum)")
        }
        return checks
    }
}
