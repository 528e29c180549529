import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import NIOCore
import PostgresNIO

// The read models' shapes as the API answers them (openapi.yaml describes each).

struct PoolView: Encodable {
    struct Totals: Encodable { var budget, committed, paid, available: MoneyTotal }
    struct Period: Encodable {
        var period: String
        var budget, committed, paid: Money
        var available: MoneyTotal
        var closed: Bool
    }
    struct Source: Encodable {
        var id, name: String
        var amount, committed, paid: Money
        var available: MoneyTotal
        var period: String?
        var earmarkedFor: [String]?
        var maxSharePercent: Int?
    }
    var id: UUID
    var name, owner, currency, carryOver: String
    var steeringGroupId: UUID
    var createdAt: Date
    var totals: Totals
    var periods: [Period]
    var sources: [Source]
}

struct CallView: Encodable {
    var id, poolId: UUID
    var title: String
    var opensAt, closesAt: Date
    var cap: Money?
    var applications: [String: Int]
    var requested, granted: MoneyTotal?
}

struct ApplicationView: Encodable {
    var id, callId, poolId: UUID
    var organisation, projectLeader, title, description, status: String
    var partners, focusAreas: [String]
    var requested: Money
    var granted: Money?
    var studentsReached: Int?
    var version: Int
    var draftedAt: Date
    var submittedAt, decidedAt: Date?
    var meetingId: UUID?
    var decisionReason: String?
}

struct AgendaItemView: Encodable {
    var applicationId, poolId, callId: UUID
    var organisation, title: String
    var requested: Money
    var applicationVersion: Int
    var submittedAt: Date
}

struct GrantView: Encodable {
    struct Tranche: Encodable {
        var number: Int
        var amount: Money
        var trigger, status: String
    }
    struct Report: Encodable {
        var id: UUID
        var kind, summary, status: String
        var filedAt: Date
        var approvedAt: Date?
        var approvedBy: String?
    }
    struct PaymentRequest: Encodable {
        var id: UUID
        var tranche: Int
        var amount: Money
        var status, requestedBy: String
        var requestedAt: Date
        var approvedBy: String?
        var approvedAt: Date?
        var reference: String?
        var paidAt: Date?
    }
    var id, applicationId, poolId, callId, meetingId: UUID
    var organisation, title, period, status: String
    var granted, paid, repaid: Money
    var remaining: MoneyTotal
    var conditions: [String]
    var awardedAt: Date
    var tranches: [Tranche]?
    var reports: [Report]?
    var paymentRequests: [PaymentRequest]?
}

struct PublicGrantView: Encodable {
    var grantId, poolId: UUID
    var recipient, title, poolName, poolOwner, status: String
    var amount: Money
    var awardedOn: String
}

/// A page of a list, with the cursor for the next one.
struct Page<Item: Encodable>: Encodable {
    var items: [Item]
    var nextCursor: String?
}

func money(_ minorUnits: Int64, _ code: String) throws -> Money {
    Money(minorUnits: minorUnits, currency: try Currency(code: code))
}
