import Foundation

/// Every rejection the domain makes: a stable rule name (used as the
/// problem type over HTTP) and a message with the figures.
public enum DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidInput(field: String, reason: String)
    /// An applicant acting on another organisation's application or grant.
    case notOwner(kind: String, id: String)
    /// A steering member deciding in a meeting of a group it does not sit on.
    case notOnSteeringGroup(member: String, meeting: String)
    case currencyMismatch(expected: Currency, got: Currency)
    case amountOverflow
    case notFound(kind: String, id: String)
    case alreadyExists(kind: String, id: String)
    case invalidState(kind: String, id: String, status: String, action: String)
    /// Invariant 1, per budget period.
    case insufficientFunds(period: String, available: Money, requested: Money)
    /// Invariant 1, per funding source.
    case sourceInsufficient(source: String, available: Money, requested: Money)
    case sourceNotAvailable(source: String, reason: String)
    case periodClosed(period: String)
    case callCapExceeded(call: String, cap: Money, committed: Money, requested: Money)
    /// Invariant 2.
    case overpayment(grant: String, granted: Money, paid: Money, requested: Money)
    case trancheAlreadyPaid(tranche: Int)
    case trancheNotReady(tranche: Int, waitingFor: String)
    /// Invariant 3.
    case fourEyes(requester: String)
    /// Invariant 4.
    case notAMember(member: String)
    case memberAbsent(member: String)
    case memberRecused(member: String, affiliation: String)
    case duplicateVote(member: String)
    case quorumNotReached(eligible: Int, needed: Int, members: Int)
    case motionNotCarried(votesFor: Int, votesAgainst: Int)
    case notOnAgenda(application: String)
    /// Invariant 5.
    case callNotOpen(call: String, opensAt: Date, closesAt: Date, at: Date)
    case ineligible(rule: String, detail: String)
    /// Invariant 9.
    case applicationVersionMismatch(decidedOn: Int, current: Int)
    case alreadyFunded(application: String)
    /// A fact dated before a fact it depends on (DOMAIN.md: events carry two times).
    case datedBeforeDependency(fact: String, at: Date, dependency: String, since: Date)
    /// A decision recorded for a meeting whose date has not come.
    case meetingNotYetHeld(meeting: String, date: Date, now: Date)
    /// A back-dated commitment that needs money which came in after its date.
    case fundsArrivedLater(account: String, date: Date, availableThen: Money, requested: Money)

    /// A stable, URL-safe name of the rule that was broken.
    public var rule: String {
        switch self {
        case .invalidInput: "invalid-input"
        case .notOwner: "not-owner"
        case .notOnSteeringGroup: "not-on-steering-group"
        case .currencyMismatch: "currency-mismatch"
        case .amountOverflow: "amount-overflow"
        case .notFound: "not-found"
        case .alreadyExists: "already-exists"
        case .invalidState: "invalid-state"
        case .insufficientFunds: "insufficient-funds"
        case .sourceInsufficient: "source-insufficient"
        case .sourceNotAvailable: "source-not-available"
        case .periodClosed: "period-closed"
        case .callCapExceeded: "call-cap-exceeded"
        case .overpayment: "overpayment"
        case .trancheAlreadyPaid: "tranche-already-paid"
        case .trancheNotReady: "tranche-not-ready"
        case .fourEyes: "four-eyes"
        case .notAMember: "not-a-member"
        case .memberAbsent: "member-absent"
        case .memberRecused: "member-recused"
        case .duplicateVote: "duplicate-vote"
        case .quorumNotReached: "quorum-not-reached"
        case .motionNotCarried: "motion-not-carried"
        case .notOnAgenda: "not-on-agenda"
        case .callNotOpen: "call-not-open"
        case .ineligible: "ineligible"
        case .applicationVersionMismatch: "application-version-mismatch"
        case .alreadyFunded: "already-funded"
        case .datedBeforeDependency: "dated-before-dependency"
        case .meetingNotYetHeld: "meeting-not-yet-held"
        case .fundsArrivedLater: "funds-arrived-later"
        }
    }

    public var description: String {
        switch self {
        case .invalidInput(let field, let reason): "\(field): \(reason)"
        case .notOwner(let kind, let id): "\(kind) \(id) belongs to another organisation than the one you act for"
        case .notOnSteeringGroup(let member, let meeting) where member.isEmpty:
            "only members of the steering group that held meeting \(meeting) decide in it"
        case .notOnSteeringGroup(let member, let meeting): "\(member) is not a member of the steering group that held meeting \(meeting)"
        case .currencyMismatch(let expected, let got): "currency mismatch: expected \(expected), got \(got)"
        case .amountOverflow: "amount out of range"
        case .notFound(let kind, let id): "\(kind) \(id) not found"
        case .alreadyExists(let kind, let id): "\(kind) \(id) already exists"
        case .invalidState(let kind, let id, let status, let action): "\(kind) \(id) is \(status): cannot \(action)"
        case .insufficientFunds(let period, let available, let requested):
            "period \(period) has \(available.amount) \(available.currency) available, \(requested.amount) requested"
        case .sourceInsufficient(let source, let available, let requested):
            "funding source \(source) has \(available.amount) \(available.currency) available, \(requested.amount) requested"
        case .sourceNotAvailable(let source, let reason): "funding source \(source) cannot be used: \(reason)"
        case .periodClosed(let period): "budget period \(period) is closed"
        case .callCapExceeded(let call, let cap, let committed, let requested):
            "call \(call) is capped at \(cap); \(committed.amount) committed, \(requested.amount) requested"
        case .overpayment(let grant, let granted, let paid, let requested):
            "grant \(grant) granted \(granted), paid \(paid.amount); paying \(requested.amount) more would exceed it"
        case .trancheAlreadyPaid(let tranche): "tranche \(tranche) is already paid or requested"
        case .trancheNotReady(let tranche, let waitingFor): "tranche \(tranche) waits for \(waitingFor)"
        case .fourEyes(let requester): "a payment must be approved by someone other than its requester (\(requester))"
        case .notAMember(let member): "\(member) is not a member of the steering group"
        case .memberAbsent(let member): "\(member) was not present at the meeting"
        case .memberRecused(let member, let affiliation): "\(member) is recused: affiliated with \(affiliation)"
        case .duplicateVote(let member): "\(member) voted twice"
        case .quorumNotReached(let eligible, let needed, let members):
            "quorum not reached: \(eligible) of \(members) members present and not recused, \(needed) needed"
        case .motionNotCarried(let votesFor, let votesAgainst):
            "the motion was not carried: \(votesFor) for, \(votesAgainst) against"
        case .notOnAgenda(let application): "application \(application) is not on the meeting's agenda"
        case .callNotOpen(let call, let opensAt, let closesAt, let at):
            "call \(call) is open from \(opensAt.formatted(.iso8601)) to \(closesAt.formatted(.iso8601)); it is \(at.formatted(.iso8601))"
        case .ineligible(let rule, let detail): "eligibility rule \(rule) failed: \(detail)"
        case .applicationVersionMismatch(let decidedOn, let current):
            "the decision names application version \(decidedOn), but the application is at version \(current)"
        case .alreadyFunded(let application): "application \(application) is already funded"
        case .datedBeforeDependency(let fact, let at, let dependency, let since):
            "\(fact) is dated \(CivilTime.format(at)), before \(dependency) at \(CivilTime.format(since)): a fact cannot precede what it depends on"
        case .meetingNotYetHeld(let meeting, let date, let now):
            "meeting \(meeting) is dated \(CivilTime.format(date)); a decision cannot be recorded before it (now \(CivilTime.format(now)))"
        case .fundsArrivedLater(let account, let date, let availableThen, let requested):
            "\(account) had \(availableThen.amount) \(availableThen.currency) available from \(CivilTime.format(date)) on, \(requested.amount) requested: money that came in after the decision's date cannot fund it"
        }
    }
}
