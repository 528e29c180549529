import Foundation
import GrantDomain

// Readers of the event types a programme's history is made of (payments,
// applications, decisions, grants, pool movements) and of the values in
// them; see ``PayloadReadable``. The rest (pools, calls, groups, meetings:
// a few per programme) are decoded through Codable. Tests read every event
// of a stored history both ways and compare.

// MARK: Values

extension SourceAmount: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(source: payload.field("source"), amount: payload.field("amount"))
    }
}

extension Tranche: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(number: payload.field("number"), amount: payload.field("amount"), trigger: payload.choice("trigger"))
    }
}

extension BudgetLine: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(category: payload.field("category"), period: payload.field("period"), amount: payload.field("amount"))
    }
}

extension ApplicationContent: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(organisation: payload.field("organisation"), projectLeader: payload.field("projectLeader"), partners: payload.array("partners"),
                 title: payload.field("title"), description: payload.field("description"), focusAreas: payload.array("focusAreas"),
                 requested: payload.field("requested"), budget: payload.objects("budget"), expectedOutcomes: payload.field("expectedOutcomes"),
                 studentsReached: payload.optional("studentsReached"))
    }
}

extension EligibilityCheck: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(rule: payload.field("rule"), passed: payload.field("passed"), detail: payload.field("detail"))
    }
}

extension Vote: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(member: payload.field("member"), vote: payload.choice("vote"))
    }
}

extension Recusal: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(member: payload.field("member"), affiliation: payload.field("affiliation"))
    }
}

// MARK: Applications

extension ApplicationDrafted: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(applicationId: payload.field("applicationId"), callId: payload.field("callId"), poolId: payload.field("poolId"),
                 content: payload.object("content"), occurredAt: payload.field("occurredAt"))
    }
}

extension ApplicationSubmitted: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(version: payload.field("version"), checks: payload.objects("checks"), occurredAt: payload.field("occurredAt"))
    }
}

extension ApplicationWithdrawn: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(reason: payload.field("reason"), occurredAt: payload.field("occurredAt"))
    }
}

extension ApplicationApproved: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(meetingId: payload.field("meetingId"), grantId: payload.field("grantId"), version: payload.field("version"),
                 amount: payload.field("amount"), occurredAt: payload.field("occurredAt"))
    }
}

extension ApplicationRejected: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(meetingId: payload.field("meetingId"), version: payload.field("version"), reason: payload.field("reason"), occurredAt: payload.field("occurredAt"))
    }
}

extension ApplicationReturnedForRevision: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(meetingId: payload.field("meetingId"), version: payload.field("version"), reason: payload.field("reason"), occurredAt: payload.field("occurredAt"))
    }
}

// MARK: Decisions

extension DecisionRecorded: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(meetingId: payload.field("meetingId"), applicationId: payload.field("applicationId"), applicationVersion: payload.field("applicationVersion"),
                 outcome: payload.choice("outcome"), votes: payload.objects("votes"), recused: payload.objects("recused"), quorum: payload.field("quorum"),
                 eligibleVoters: payload.field("eligibleVoters"), occurredAt: payload.field("occurredAt"))
    }
}

// MARK: Grants

extension GrantAwarded: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(grantId: payload.field("grantId"), applicationId: payload.field("applicationId"), poolId: payload.field("poolId"), callId: payload.field("callId"),
                 meetingId: payload.field("meetingId"), organisation: payload.field("organisation"), title: payload.field("title"), amount: payload.field("amount"),
                 period: payload.field("period"), sources: payload.objects("sources"), conditions: payload.array("conditions"), tranches: payload.objects("tranches"),
                 occurredAt: payload.field("occurredAt"))
    }
}

extension ReportFiled: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(reportId: payload.field("reportId"), kind: payload.choice("kind"), summary: payload.field("summary"), occurredAt: payload.field("occurredAt"))
    }
}

extension ReportApproved: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(reportId: payload.field("reportId"), approvedBy: payload.field("approvedBy"), occurredAt: payload.field("occurredAt"))
    }
}

extension PaymentRequested: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(paymentRequestId: payload.field("paymentRequestId"), tranche: payload.field("tranche"), amount: payload.field("amount"),
                 requestedBy: payload.field("requestedBy"), occurredAt: payload.field("occurredAt"))
    }
}

extension PaymentRequestIdClaimed: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(paymentRequestId: payload.field("paymentRequestId"), grantId: payload.field("grantId"), occurredAt: payload.field("occurredAt"))
    }
}

extension PaymentApproved: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(paymentRequestId: payload.field("paymentRequestId"), approvedBy: payload.field("approvedBy"), occurredAt: payload.field("occurredAt"))
    }
}

extension PaymentMarkedPaid: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(paymentRequestId: payload.field("paymentRequestId"), tranche: payload.field("tranche"), amount: payload.field("amount"),
                 reference: payload.field("reference"), occurredAt: payload.field("occurredAt"))
    }
}

extension GrantReduced: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(reduction: payload.field("reduction"), newAmount: payload.field("newAmount"), tranches: payload.objects("tranches"),
                 reason: payload.field("reason"), occurredAt: payload.field("occurredAt"))
    }
}

extension GrantCancelled: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(released: payload.field("released"), reason: payload.field("reason"), occurredAt: payload.field("occurredAt"))
    }
}

extension RepaymentRecorded: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(amount: payload.field("amount"), reference: payload.field("reference"), occurredAt: payload.field("occurredAt"))
    }
}

// MARK: Pools

extension MoneyCommitted: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(grantId: payload.field("grantId"), applicationId: payload.field("applicationId"), callId: payload.field("callId"),
                 meetingId: payload.field("meetingId"), period: payload.field("period"), amount: payload.field("amount"), sources: payload.objects("sources"),
                 occurredAt: payload.field("occurredAt"))
    }
}

extension CommitmentReleased: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(grantId: payload.field("grantId"), period: payload.field("period"), amount: payload.field("amount"), sources: payload.objects("sources"),
                 reason: payload.field("reason"), occurredAt: payload.field("occurredAt"))
    }
}

extension PaymentDisbursed: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(grantId: payload.field("grantId"), paymentRequestId: payload.field("paymentRequestId"), period: payload.field("period"),
                 amount: payload.field("amount"), sources: payload.objects("sources"), reference: payload.field("reference"), occurredAt: payload.field("occurredAt"))
    }
}

extension RepaymentReceived: PayloadReadable {
    public static func read(_ payload: PayloadObject) throws(PayloadObject.Unreadable) -> Self {
        try Self(grantId: payload.field("grantId"), period: payload.field("period"), amount: payload.field("amount"), sources: payload.objects("sources"),
                 reference: payload.field("reference"), occurredAt: payload.field("occurredAt"))
    }
}
