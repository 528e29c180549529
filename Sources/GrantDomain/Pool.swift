import Foundation
import HashTreeCollections

// MARK: Values

public enum CarryOverPolicy: String, Codable, Hashable, Sendable {
    /// Unspent money of a closed period is gone.
    case lapse
    /// Unspent money of a closed period moves to the next period.
    case carryOver = "carry-over"
}

public struct BudgetPeriodSpec: Codable, Hashable, Sendable {
    public var period: String
    public var amount: Money
    public init(period: String, amount: Money) { self.period = period; self.amount = amount }
}

/// Who puts money into a pool. An earmarked source pays only the named
/// beneficiaries; a source bound to a period pays only in it; a source may
/// cap its share of any one grant.
public struct FundingSourceSpec: Codable, Hashable, Sendable {
    public var id: String
    public var name: String
    public var amount: Money
    public var period: String?
    public var earmarkedFor: [String]?
    public var maxSharePercent: Int?

    public init(id: String, name: String, amount: Money, period: String? = nil, earmarkedFor: [String]? = nil, maxSharePercent: Int? = nil) {
        (self.id, self.name, self.amount, self.period, self.earmarkedFor, self.maxSharePercent) =
            (id, name, amount, period, earmarkedFor, maxSharePercent)
    }
}

/// The rules an application must meet when it is submitted.
public struct EligibilityRules: Codable, Hashable, Sendable {
    /// The project leader must be a member of this steering group.
    public var leaderMemberOfGroup: UUID?
    /// The applicant organisation must be one of these.
    public var organisations: [String]?
    public var minimumAmount: Money?
    public var maximumAmount: Money?

    public init(leaderMemberOfGroup: UUID? = nil, organisations: [String]? = nil, minimumAmount: Money? = nil, maximumAmount: Money? = nil) {
        (self.leaderMemberOfGroup, self.organisations, self.minimumAmount, self.maximumAmount) =
            (leaderMemberOfGroup, organisations, minimumAmount, maximumAmount)
    }
}

/// Part of a money movement drawn on (or returned to) one funding source.
public struct SourceAmount: Codable, Hashable, Sendable {
    public var source: String
    public var amount: Money
    public init(source: String, amount: Money) { self.source = source; self.amount = amount }
}

// MARK: Events

public struct PoolCreated: DomainEvent {
    public static let eventType = "PoolCreated"
    public var poolId: UUID
    public var name: String
    public var owner: String
    public var currency: Currency
    public var carryOver: CarryOverPolicy
    public var periods: [BudgetPeriodSpec]
    public var sources: [FundingSourceSpec]
    public var steeringGroupId: UUID
    public var eligibility: EligibilityRules
    public var occurredAt: Date
}

public struct BudgetPeriodAdded: DomainEvent {
    public static let eventType = "BudgetPeriodAdded"
    public var period: String
    public var amount: Money
    public var occurredAt: Date
}

public struct BudgetMoved: DomainEvent {
    public static let eventType = "BudgetMoved"
    public var fromPeriod: String
    public var toPeriod: String
    public var amount: Money
    public var reason: String
    public var occurredAt: Date
}

public struct BudgetPeriodClosed: DomainEvent {
    public static let eventType = "BudgetPeriodClosed"
    public var period: String
    public var unspent: Money
    /// The next period, when the pool carries unspent money over; else it lapsed.
    public var carriedOverTo: String?
    public var occurredAt: Date
}

public struct MoneyCommitted: DomainEvent {
    public static let eventType = "MoneyCommitted"
    public var grantId: UUID
    public var applicationId: UUID
    public var callId: UUID
    public var meetingId: UUID
    public var period: String
    public var amount: Money
    public var sources: [SourceAmount]
    public var occurredAt: Date

    package init(grantId: UUID, applicationId: UUID, callId: UUID, meetingId: UUID, period: String, amount: Money, sources: [SourceAmount], occurredAt: Date) {
        (self.grantId, self.applicationId, self.callId, self.meetingId, self.period, self.amount, self.sources, self.occurredAt) =
            (grantId, applicationId, callId, meetingId, period, amount, sources, occurredAt)
    }
}

public struct CommitmentReleased: DomainEvent {
    public static let eventType = "CommitmentReleased"
    public var grantId: UUID
    public var period: String
    public var amount: Money
    public var sources: [SourceAmount]
    public var reason: String
    public var occurredAt: Date

    package init(grantId: UUID, period: String, amount: Money, sources: [SourceAmount], reason: String, occurredAt: Date) {
        (self.grantId, self.period, self.amount, self.sources, self.reason, self.occurredAt) = (grantId, period, amount, sources, reason, occurredAt)
    }
}

public struct PaymentDisbursed: DomainEvent {
    public static let eventType = "PaymentDisbursed"
    public var grantId: UUID
    public var paymentRequestId: UUID
    public var period: String
    public var amount: Money
    public var sources: [SourceAmount]
    public var reference: String
    public var occurredAt: Date

    package init(grantId: UUID, paymentRequestId: UUID, period: String, amount: Money, sources: [SourceAmount], reference: String, occurredAt: Date) {
        (self.grantId, self.paymentRequestId, self.period, self.amount, self.sources, self.reference, self.occurredAt) =
            (grantId, paymentRequestId, period, amount, sources, reference, occurredAt)
    }
}

public struct RepaymentReceived: DomainEvent {
    public static let eventType = "RepaymentReceived"
    public var grantId: UUID
    public var period: String
    public var amount: Money
    public var sources: [SourceAmount]
    public var reference: String
    public var occurredAt: Date

    package init(grantId: UUID, period: String, amount: Money, sources: [SourceAmount], reference: String, occurredAt: Date) {
        (self.grantId, self.period, self.amount, self.sources, self.reference, self.occurredAt) =
            (grantId, period, amount, sources, reference, occurredAt)
    }
}

// MARK: State

/// A pool's money, per budget period and per funding source, in minor units
/// of the pool's currency.
public struct PoolState: Aggregate, Hashable {
    public struct Period: Hashable, Sendable {
        public var budget: Int64
        public var committed: Int64 = 0
        public var paid: Int64 = 0
        public var closed = false
        public var available: Int64 { budget &- committed }

        public init(budget: Int64, committed: Int64 = 0, paid: Int64 = 0, closed: Bool = false) {
            (self.budget, self.committed, self.paid, self.closed) = (budget, committed, paid, closed)
        }
    }

    public struct Source: Hashable, Sendable {
        public var spec: FundingSourceSpec
        public var committed: Int64 = 0
        public var paid: Int64 = 0
        public var available: Int64 { spec.amount.minorUnits &- committed }
    }

    /// What one grant holds of the pool: committed and paid, per source.
    public struct Commitment: Hashable, Sendable {
        public var period: String
        public var callId: UUID
        public var committed: [String: Int64]
        public var paid: [String: Int64] = [:]
    }

    public var created: PoolCreated?
    public var periodOrder: [String] = []
    public var periods: [String: Period] = [:]
    public var sourceOrder: [String] = []
    public var sources: [String: Source] = [:]
    /// A persistent map (a hash array mapped trie): a busy pool's state is
    /// shared by the state cache and the commands deciding on it, so each
    /// change copies it, and the state it replaces is released. With a
    /// `Dictionary` both touched every commitment.
    public var commitments: TreeDictionary<UUID, Commitment> = [:]
    public var committedByCall: [UUID: Int64] = [:]
    /// When each period came to be: the pool's creation, or its addition.
    public var periodOpenedAt: [String: Date] = [:]
    /// Money that came back into a period, a source or a call's room, with
    /// when: a commitment dated earlier (a decision of a past meeting,
    /// recorded now) must not rely on it. Rare: moves, carry-overs, releases, repayments.
    public var inflows: [Inflow] = []

    public enum Account: Hashable, Sendable {
        case period(String), source(String), call(UUID)
    }

    public struct Inflow: Hashable, Sendable {
        public var account: Account
        public var at: Date
        public var amount: Int64
    }

    /// What came into `account` after `date`.
    func inflow(to account: Account, after date: Date) -> Int64 {
        inflows.reduce(0) { $1.account == account && $1.at > date ? $0 &+ $1.amount : $0 }
    }

    public static let initial = PoolState()
    public static func streamName(_ id: UUID) -> String { "pool-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [
        PoolCreated.self, BudgetPeriodAdded.self, BudgetMoved.self, BudgetPeriodClosed.self,
        MoneyCommitted.self, CommitmentReleased.self, PaymentDisbursed.self, RepaymentReceived.self,
    ]

    public var currency: Currency { created?.currency ?? .dkk }
    public func money(_ minorUnits: Int64) -> Money { Money(minorUnits: minorUnits, currency: currency) }

    public consuming func evolve(_ event: any DomainEvent) -> PoolState {
        var state = consume self
        switch event {
        case let event as PoolCreated:
            state.created = event
            for spec in event.periods {
                state.periodOrder.append(spec.period)
                state.periods[spec.period] = Period(budget: spec.amount.minorUnits)
                state.periodOpenedAt[spec.period] = event.occurredAt
            }
            for spec in event.sources {
                state.sourceOrder.append(spec.id)
                state.sources[spec.id] = Source(spec: spec)
            }
        case let event as BudgetPeriodAdded:
            state.periodOrder.append(event.period)
            state.periods[event.period] = Period(budget: event.amount.minorUnits)
            state.periodOpenedAt[event.period] = event.occurredAt
        case let event as BudgetMoved:
            state.periods[event.fromPeriod]?.budget &-= event.amount.minorUnits
            state.periods[event.toPeriod]?.budget &+= event.amount.minorUnits
            state.inflows.append(Inflow(account: .period(event.toPeriod), at: event.occurredAt, amount: event.amount.minorUnits))
        case let event as BudgetPeriodClosed:
            state.periods[event.period]?.budget &-= event.unspent.minorUnits
            state.periods[event.period]?.closed = true
            if let next = event.carriedOverTo {
                state.periods[next]?.budget &+= event.unspent.minorUnits
                state.inflows.append(Inflow(account: .period(next), at: event.occurredAt, amount: event.unspent.minorUnits))
            }
        case let event as MoneyCommitted:
            state.periods[event.period]?.committed &+= event.amount.minorUnits
            for part in event.sources { state.sources[part.source]?.committed &+= part.amount.minorUnits }
            state.commitments[event.grantId] = Commitment(
                period: event.period, callId: event.callId,
                committed: Dictionary(event.sources.map { ($0.source, $0.amount.minorUnits) }, uniquingKeysWith: &+))
            state.committedByCall[event.callId, default: 0] &+= event.amount.minorUnits
        case let event as CommitmentReleased:
            state.periods[event.period]?.committed &-= event.amount.minorUnits
            for part in event.sources {
                state.sources[part.source]?.committed &-= part.amount.minorUnits
                state.commitments[event.grantId]?.committed[part.source, default: 0] &-= part.amount.minorUnits
            }
            if let call = state.commitments[event.grantId]?.callId { state.committedByCall[call, default: 0] &-= event.amount.minorUnits }
            state.returned(event.amount, period: event.period, sources: event.sources, grantId: event.grantId, at: event.occurredAt)
        case let event as PaymentDisbursed:
            state.periods[event.period]?.paid &+= event.amount.minorUnits
            for part in event.sources {
                state.sources[part.source]?.paid &+= part.amount.minorUnits
                state.commitments[event.grantId]?.paid[part.source, default: 0] &+= part.amount.minorUnits
            }
        case let event as RepaymentReceived:
            // Repaid money returns to the pool: paid and committed both fall.
            state.periods[event.period]?.paid &-= event.amount.minorUnits
            state.periods[event.period]?.committed &-= event.amount.minorUnits
            for part in event.sources {
                state.sources[part.source]?.paid &-= part.amount.minorUnits
                state.sources[part.source]?.committed &-= part.amount.minorUnits
                state.commitments[event.grantId]?.paid[part.source, default: 0] &-= part.amount.minorUnits
                state.commitments[event.grantId]?.committed[part.source, default: 0] &-= part.amount.minorUnits
            }
            if let call = state.commitments[event.grantId]?.callId { state.committedByCall[call, default: 0] &-= event.amount.minorUnits }
            state.returned(event.amount, period: event.period, sources: event.sources, grantId: event.grantId, at: event.occurredAt)
        default:
            break
        }
        return state
    }

    /// Money a grant gave back (released or repaid) is an inflow to its period, sources and call.
    private mutating func returned(_ amount: Money, period: String, sources parts: [SourceAmount], grantId: UUID, at: Date) {
        inflows.append(Inflow(account: .period(period), at: at, amount: amount.minorUnits))
        for part in parts { inflows.append(Inflow(account: .source(part.source), at: at, amount: part.amount.minorUnits)) }
        if let call = commitments[grantId]?.callId { inflows.append(Inflow(account: .call(call), at: at, amount: amount.minorUnits)) }
    }

    /// Budget, committed, paid and available over all periods. The domain
    /// keeps these far inside 64 bits (``Limits/periods``); the sums wrap
    /// rather than trap on a history it could not have written.
    public var totals: (budget: Money, committed: Money, paid: Money, available: Money) {
        let values = periods.values
        return (money(values.map(\.budget).reduce(0, &+)), money(values.map(\.committed).reduce(0, &+)),
                money(values.map(\.paid).reduce(0, &+)), money(values.map(\.available).reduce(0, &+)))
    }
}

// MARK: Commands

func requirePositive(_ money: Money, field: String, currency: Currency) throws(DomainError) {
    guard money.currency == currency else { throw .currencyMismatch(expected: currency, got: money.currency) }
    guard money.minorUnits > 0 else { throw .invalidInput(field: field, reason: "must be positive, got \(money.amount)") }
    guard money.minorUnits <= Limits.amount else {
        throw .invalidInput(field: field, reason: "\(money.amount) is over the limit of \(Money(minorUnits: Limits.amount, currency: currency).amount)")
    }
}

public struct CreatePool: Hashable, Sendable {
    public var poolId: UUID
    public var name: String
    public var owner: String
    public var currency: Currency
    public var carryOver: CarryOverPolicy
    public var periods: [BudgetPeriodSpec]
    public var sources: [FundingSourceSpec]
    public var steeringGroupId: UUID
    public var eligibility: EligibilityRules
    public var at: Date

    public init(poolId: UUID, name: String, owner: String, currency: Currency, carryOver: CarryOverPolicy, periods: [BudgetPeriodSpec],
                sources: [FundingSourceSpec], steeringGroupId: UUID, eligibility: EligibilityRules, at: Date) {
        self.poolId = poolId
        self.name = name
        self.owner = owner
        self.currency = currency
        self.carryOver = carryOver
        self.periods = periods
        self.sources = sources
        self.steeringGroupId = steeringGroupId
        self.eligibility = eligibility
        self.at = at
    }

    /// The steering group must exist: it decides the pool's grants.
    public func decide(pool: PoolState, group: SteeringGroupState) throws(DomainError) -> [any DomainEvent] {
        guard pool.created == nil else { throw .alreadyExists(kind: "pool", id: poolId.uuidString) }
        guard group.created != nil else { throw .notFound(kind: "steering group", id: steeringGroupId.uuidString) }
        try requireLine(name, field: "name")
        try requireLine(owner, field: "owner")
        try requireCount(periods, field: "periods", minimum: 1, maximum: Limits.periods, what: "budget periods")
        try requireCount(sources, field: "sources", minimum: 1, maximum: Limits.sources, what: "funding sources")
        var periodNames = Set<String>()
        for (index, spec) in periods.enumerated() {
            try requireLine(spec.period, field: "periods[\(index)].period", maximum: Limits.period)
            guard periodNames.insert(spec.period).inserted else {
                throw .invalidInput(field: "periods[\(index)].period", reason: "\(spec.period) appears twice")
            }
            try requirePositive(spec.amount, field: "periods[\(index)].amount", currency: currency)
        }
        var sourceIds = Set<String>()
        for (index, spec) in sources.enumerated() {
            try requireLine(spec.id, field: "sources[\(index)].id", maximum: Limits.identifier)
            try requireLine(spec.name, field: "sources[\(index)].name")
            guard sourceIds.insert(spec.id).inserted else { throw .invalidInput(field: "sources[\(index)].id", reason: "\(spec.id) appears twice") }
            try requirePositive(spec.amount, field: "sources[\(index)].amount", currency: currency)
            if let period = spec.period, !periodNames.contains(period) {
                throw .invalidInput(field: "sources[\(index)].period", reason: "\(period) is not a budget period of the pool")
            }
            if let share = spec.maxSharePercent, !(1...100).contains(share) {
                throw .invalidInput(field: "sources[\(index)].maxSharePercent", reason: "must be 1 to 100, got \(share)")
            }
            if let earmarks = spec.earmarkedFor {
                guard !earmarks.isEmpty else {
                    throw .invalidInput(field: "sources[\(index)].earmarkedFor", reason: "name at least one beneficiary, or leave it out")
                }
                try requireLines(earmarks, field: "sources[\(index)].earmarkedFor", count: Limits.earmarks, what: "beneficiaries")
            }
        }
        if let organisations = eligibility.organisations {
            try requireLines(organisations, field: "eligibility.organisations", count: Limits.eligibleOrganisations, what: "organisations")
        }
        for (field, limit) in [("eligibility.minimumAmount", eligibility.minimumAmount), ("eligibility.maximumAmount", eligibility.maximumAmount)] {
            if let limit { try requirePositive(limit, field: field, currency: currency) }
        }
        if let minimum = eligibility.minimumAmount, let maximum = eligibility.maximumAmount, try minimum.compare(maximum) > 0 {
            throw .invalidInput(field: "eligibility", reason: "minimum \(minimum.amount) is above maximum \(maximum.amount)")
        }
        return [PoolCreated(poolId: poolId, name: name, owner: owner, currency: currency, carryOver: carryOver, periods: periods,
                            sources: sources, steeringGroupId: steeringGroupId, eligibility: eligibility, occurredAt: at)]
    }
}

/// Reallocates money between periods, or adds a period.
public enum AdjustBudget: Hashable, Sendable {
    case addPeriod(period: String, amount: Money, at: Date)
    case move(from: String, to: String, amount: Money, reason: String, at: Date)
    case closePeriod(period: String, at: Date)

    public func decide(pool: PoolState, poolId: UUID) throws(DomainError) -> [any DomainEvent] {
        guard let created = pool.created else { throw .notFound(kind: "pool", id: poolId.uuidString) }
        switch self {
        case .addPeriod(let period, let amount, let at):
            try requireLine(period, field: "period", maximum: Limits.period)
            guard pool.periods[period] == nil else { throw .alreadyExists(kind: "budget period", id: period) }
            guard pool.periods.count < Limits.periods else {
                throw .invalidInput(field: "period", reason: "a pool has at most \(Limits.periods) budget periods")
            }
            try requirePositive(amount, field: "amount", currency: created.currency)
            return [BudgetPeriodAdded(period: period, amount: amount, occurredAt: at)]
        case .move(let given, let givenTarget, let amount, let reason, let at):
            guard let from = pool.storedPeriod(given), let source = pool.periods[from] else { throw .notFound(kind: "budget period", id: given) }
            guard let to = pool.storedPeriod(givenTarget), let target = pool.periods[to] else { throw .notFound(kind: "budget period", id: givenTarget) }
            try requireProse(reason, field: "reason", maximum: Limits.reason, required: false)
            guard from != to else { throw .invalidInput(field: "to", reason: "cannot move money to the same period") }
            guard !source.closed else { throw .periodClosed(period: from) }
            guard !target.closed else { throw .periodClosed(period: to) }
            try requirePositive(amount, field: "amount", currency: created.currency)
            guard amount.minorUnits <= source.available else {
                throw .insufficientFunds(period: from, available: pool.money(source.available), requested: amount)
            }
            return [BudgetMoved(fromPeriod: from, toPeriod: to, amount: amount, reason: reason, occurredAt: at)]
        case .closePeriod(let given, let at):
            guard let period = pool.storedPeriod(given), let ledger = pool.periods[period] else { throw .notFound(kind: "budget period", id: given) }
            guard !ledger.closed else { throw .periodClosed(period: period) }
            let next = pool.periodOrder.drop { $0 != period }.dropFirst().first { pool.periods[$0]?.closed == false }
            return [BudgetPeriodClosed(period: period, unspent: pool.money(ledger.available),
                                       carriedOverTo: created.carryOver == .carryOver ? next : nil, occurredAt: at)]
        }
    }
}

extension PoolState {
    /// The period named `given` as the pool spells it. Swift compares text
    /// by canonical equivalence and PostgreSQL byte by byte, so an event
    /// must carry the pool's own spelling, or a read model would miss the row.
    public func storedPeriod(_ given: String) -> String? { periodOrder.first { $0 == given } }

    /// The funding source `given` as the pool spells it; see ``storedPeriod(_:)``.
    public func storedSource(_ given: String) -> String? { sourceOrder.first { $0 == given } }

    /// Splits a commitment over the pool's sources for a beneficiary: the
    /// sources earmarked for it first, then the open ones, each up to its
    /// available money and its share cap. Explicit `requested` parts are
    /// checked instead.
    /// `dated`: the commitment's date; money that came into a source after it is not usable.
    func allocate(_ amount: Money, period: String, beneficiary: String, requested: [SourceAmount]?, dated: Date) throws(DomainError) -> [SourceAmount] {
        func availableThen(_ source: Source) -> Int64 {
            inflows.isEmpty ? source.available : source.available &- inflow(to: .source(source.spec.id), after: dated)
        }
        func usable(_ source: Source) -> String? {
            if let bound = source.spec.period, bound != period { return "bound to period \(bound)" }
            if let earmarks = source.spec.earmarkedFor, !earmarks.contains(beneficiary) {
                return "earmarked for \(earmarks.joined(separator: ", ")), not \(beneficiary)"
            }
            return nil
        }
        func cap(_ source: Source) -> Int64 {
            let shareCap = source.spec.maxSharePercent.map { amount.percent($0).minorUnits } ?? Int64.max
            return min(availableThen(source), shareCap)
        }
        if let requested {
            guard !requested.isEmpty else { throw .invalidInput(field: "sources", reason: "name at least one source, or leave it out") }
            var total = Money.zero(currency)
            var seen = Set<String>()
            try requireCount(requested, field: "sources", maximum: Limits.sources, what: "sources")
            var stored: [SourceAmount] = []
            for (index, part) in requested.enumerated() {
                guard let id = storedSource(part.source), let source = sources[id] else { throw .notFound(kind: "funding source", id: part.source) }
                stored.append(SourceAmount(source: id, amount: part.amount))
                guard seen.insert(part.source).inserted else { throw .invalidInput(field: "sources[\(index)]", reason: "\(part.source) appears twice") }
                try requirePositive(part.amount, field: "sources[\(index)].amount", currency: currency)
                if let reason = usable(source) { throw .sourceNotAvailable(source: part.source, reason: reason) }
                if let share = source.spec.maxSharePercent, part.amount.minorUnits > amount.percent(share).minorUnits {
                    throw .sourceNotAvailable(source: part.source, reason: "pays at most \(share) % of a grant (\(amount.percent(share).amount))")
                }
                guard part.amount.minorUnits <= source.available else {
                    throw .sourceInsufficient(source: part.source, available: money(source.available), requested: part.amount)
                }
                guard part.amount.minorUnits <= availableThen(source) else {
                    throw .fundsArrivedLater(account: "funding source \(id)", date: dated, availableThen: money(availableThen(source)), requested: part.amount)
                }
                total = try total + part.amount
            }
            guard total == amount else {
                throw .invalidInput(field: "sources", reason: "parts add up to \(total.amount), the amount is \(amount.amount)")
            }
            return stored
        }
        let ordered = sourceOrder.compactMap { sources[$0] }.filter { usable($0) == nil }
        let preferred = ordered.filter { $0.spec.earmarkedFor != nil } + ordered.filter { $0.spec.earmarkedFor == nil }
        var left = amount.minorUnits
        var parts: [SourceAmount] = []
        for source in preferred where left > 0 {
            let take = min(left, cap(source))
            if take > 0 {
                parts.append(SourceAmount(source: source.spec.id, amount: money(take)))
                left -= take
            }
        }
        guard left == 0 else {
            let reachable = amount.minorUnits &- left
            throw .sourceInsufficient(source: preferred.map(\.spec.id).joined(separator: "+").isEmpty ? "none usable" : preferred.map(\.spec.id).joined(separator: "+"),
                                      available: money(reachable), requested: amount)
        }
        return parts
    }

    /// The commitment an approval makes, or the rule it breaks. `at` is the
    /// decision's date, which may be earlier than now (a past meeting's
    /// decision recorded today): what the pool had then must cover it, so
    /// that replayed in the order things happened, no state is one the
    /// domain could not have reached.
    func commit(
        _ amount: Money, period: String, sources requested: [SourceAmount]?, beneficiary: String,
        grantId: UUID, applicationId: UUID, callId: UUID, callCap: Money?, meetingId: UUID, at: Date
    ) throws(DomainError) -> MoneyCommitted {
        guard let created else { throw .notFound(kind: "pool", id: "of the application") }
        guard let period = storedPeriod(period), let ledger = periods[period] else { throw .notFound(kind: "budget period", id: period) }
        guard !ledger.closed else { throw .periodClosed(period: period) }
        guard commitments[grantId] == nil else { throw .alreadyFunded(application: applicationId.uuidString) }
        try requirePositive(amount, field: "amount", currency: currency)
        guard amount.minorUnits <= ledger.available else {
            throw .insufficientFunds(period: period, available: money(ledger.available), requested: amount)
        }
        guard at >= created.occurredAt else {
            throw .datedBeforeDependency(fact: "the decision", at: at, dependency: "the pool was created", since: created.occurredAt)
        }
        if let opened = periodOpenedAt[period], at < opened {
            throw .datedBeforeDependency(fact: "the decision", at: at, dependency: "budget period \(period) was added", since: opened)
        }
        let periodThen = ledger.available &- inflow(to: .period(period), after: at)
        guard amount.minorUnits <= periodThen else {
            throw .fundsArrivedLater(account: "budget period \(period)", date: at, availableThen: money(periodThen), requested: amount)
        }
        if let cap = callCap {
            let committed = committedByCall[callId, default: 0]
            guard committed &+ amount.minorUnits <= cap.minorUnits else {
                throw .callCapExceeded(call: callId.uuidString, cap: cap, committed: money(committed), requested: amount)
            }
            let roomThen = cap.minorUnits &- committed &- inflow(to: .call(callId), after: at)
            guard amount.minorUnits <= roomThen else {
                throw .fundsArrivedLater(account: "call \(callId.uuidString) (capped at \(cap))", date: at, availableThen: money(roomThen), requested: amount)
            }
        }
        let parts = try allocate(amount, period: period, beneficiary: beneficiary, requested: requested, dated: at)
        return MoneyCommitted(grantId: grantId, applicationId: applicationId, callId: callId, meetingId: meetingId,
                              period: period, amount: amount, sources: parts, occurredAt: at)
    }

    /// Splits `amount` over a grant's sources in proportion to `weights` per source.
    func parts(of amount: Money, weights: [String: Int64]) -> [SourceAmount] {
        let ids = sourceOrder.filter { (weights[$0] ?? 0) > 0 }
        return zip(ids, amount.split(by: ids.map { weights[$0]! }))
            .filter { $0.1.minorUnits != 0 }
            .map { SourceAmount(source: $0.0, amount: $0.1) }
    }

    func unpaidCommitment(_ grantId: UUID) -> [String: Int64] {
        guard let commitment = commitments[grantId] else { return [:] }
        return commitment.committed.merging(commitment.paid.mapValues { 0 &- $0 }, uniquingKeysWith: &+)
    }
}
