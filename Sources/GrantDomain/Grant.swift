import Foundation

/// What releases a tranche for payment.
public enum TrancheTrigger: String, Codable, Hashable, Sendable {
    case signing
    case progressReport = "progress-report"
    case finalReport = "final-report"
}

/// A tranche as the steering group schedules it: a share of the grant and its trigger.
public struct TrancheSpec: Codable, Hashable, Sendable {
    public var percent: Int
    public var trigger: TrancheTrigger
    public init(percent: Int, trigger: TrancheTrigger) { self.percent = percent; self.trigger = trigger }

    /// 40 % on signing, 40 % on an approved progress report, 20 % on the approved final report.
    public static let standard = [
        TrancheSpec(percent: 40, trigger: .signing), TrancheSpec(percent: 40, trigger: .progressReport),
        TrancheSpec(percent: 20, trigger: .finalReport),
    ]
}

public struct Tranche: Codable, Hashable, Sendable {
    public var number: Int
    public var amount: Money
    public var trigger: TrancheTrigger

    package init(number: Int, amount: Money, trigger: TrancheTrigger) {
        (self.number, self.amount, self.trigger) = (number, amount, trigger)
    }
}

public enum ReportKind: String, Codable, Hashable, Sendable {
    case progress, final
}

// MARK: Events

public struct GrantAwarded: DomainEvent {
    public static let eventType = "GrantAwarded"
    public var grantId: UUID
    public var applicationId: UUID
    public var poolId: UUID
    public var callId: UUID
    public var meetingId: UUID
    public var organisation: String
    public var title: String
    public var amount: Money
    public var period: String
    public var sources: [SourceAmount]
    public var conditions: [String]
    public var tranches: [Tranche]
    public var occurredAt: Date

    package init(grantId: UUID, applicationId: UUID, poolId: UUID, callId: UUID, meetingId: UUID, organisation: String, title: String, amount: Money, period: String, sources: [SourceAmount], conditions: [String], tranches: [Tranche], occurredAt: Date) {
        (self.grantId, self.applicationId, self.poolId, self.callId, self.meetingId, self.organisation, self.title, self.amount, self.period, self.sources, self.conditions, self.tranches, self.occurredAt) =
            (grantId, applicationId, poolId, callId, meetingId, organisation, title, amount, period, sources, conditions, tranches, occurredAt)
    }
}

public struct ReportFiled: DomainEvent {
    public static let eventType = "ReportFiled"
    public var reportId: UUID
    public var kind: ReportKind
    public var summary: String
    public var occurredAt: Date

    package init(reportId: UUID, kind: ReportKind, summary: String, occurredAt: Date) {
        (self.reportId, self.kind, self.summary, self.occurredAt) = (reportId, kind, summary, occurredAt)
    }
}

public struct ReportApproved: DomainEvent {
    public static let eventType = "ReportApproved"
    public var reportId: UUID
    public var approvedBy: String
    public var occurredAt: Date

    package init(reportId: UUID, approvedBy: String, occurredAt: Date) {
        (self.reportId, self.approvedBy, self.occurredAt) = (reportId, approvedBy, occurredAt)
    }
}

public struct PaymentRequested: DomainEvent {
    public static let eventType = "PaymentRequested"
    public var paymentRequestId: UUID
    public var tranche: Int
    public var amount: Money
    public var requestedBy: String
    public var occurredAt: Date

    package init(paymentRequestId: UUID, tranche: Int, amount: Money, requestedBy: String, occurredAt: Date) {
        (self.paymentRequestId, self.tranche, self.amount, self.requestedBy, self.occurredAt) =
            (paymentRequestId, tranche, amount, requestedBy, occurredAt)
    }
}

public struct PaymentApproved: DomainEvent {
    public static let eventType = "PaymentApproved"
    public var paymentRequestId: UUID
    public var approvedBy: String
    public var occurredAt: Date

    package init(paymentRequestId: UUID, approvedBy: String, occurredAt: Date) {
        (self.paymentRequestId, self.approvedBy, self.occurredAt) = (paymentRequestId, approvedBy, occurredAt)
    }
}

public struct PaymentMarkedPaid: DomainEvent {
    public static let eventType = "PaymentMarkedPaid"
    public var paymentRequestId: UUID
    public var tranche: Int
    public var amount: Money
    public var reference: String
    public var occurredAt: Date

    package init(paymentRequestId: UUID, tranche: Int, amount: Money, reference: String, occurredAt: Date) {
        (self.paymentRequestId, self.tranche, self.amount, self.reference, self.occurredAt) =
            (paymentRequestId, tranche, amount, reference, occurredAt)
    }
}

public struct GrantReduced: DomainEvent {
    public static let eventType = "GrantReduced"
    public var reduction: Money
    public var newAmount: Money
    /// The unpaid tranches with their new amounts.
    public var tranches: [Tranche]
    public var reason: String
    public var occurredAt: Date

    package init(reduction: Money, newAmount: Money, tranches: [Tranche], reason: String, occurredAt: Date) {
        (self.reduction, self.newAmount, self.tranches, self.reason, self.occurredAt) = (reduction, newAmount, tranches, reason, occurredAt)
    }
}

public struct GrantCancelled: DomainEvent {
    public static let eventType = "GrantCancelled"
    public var released: Money
    public var reason: String
    public var occurredAt: Date

    package init(released: Money, reason: String, occurredAt: Date) {
        (self.released, self.reason, self.occurredAt) = (released, reason, occurredAt)
    }
}

public struct RepaymentRecorded: DomainEvent {
    public static let eventType = "RepaymentRecorded"
    public var amount: Money
    public var reference: String
    public var occurredAt: Date

    package init(amount: Money, reference: String, occurredAt: Date) {
        (self.amount, self.reference, self.occurredAt) = (amount, reference, occurredAt)
    }
}

// MARK: State

public struct GrantState: Aggregate, Hashable {
    public enum TrancheStatus: String, Codable, Hashable, Sendable { case scheduled, requested, approved, paid, cancelled }
    public enum PaymentStatus: String, Codable, Hashable, Sendable { case requested, approved, paid }

    public struct PaymentRequest: Hashable, Sendable {
        public var tranche: Int
        public var amount: Money
        public var requestedBy: String
        public var approvedBy: String?
        public var status: PaymentStatus
    }

    public struct Report: Hashable, Sendable {
        public var kind: ReportKind
        public var approved: Bool
    }

    public var awarded: GrantAwarded?
    public var amount = Money.zero(.dkk)
    public var paid = Money.zero(.dkk)
    public var tranches: [Tranche] = []
    public var trancheStatus: [Int: TrancheStatus] = [:]
    public var reports: [UUID: Report] = [:]
    public var paymentRequests: [UUID: PaymentRequest] = [:]
    public var cancelled = false
    /// Its documents (a report's evidence among them), in the order attached.
    public var documents: [DocumentAttached] = []

    public static let initial = GrantState()
    public static func streamName(_ id: UUID) -> String { "grant-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [
        GrantAwarded.self, ReportFiled.self, ReportApproved.self, PaymentRequested.self, PaymentApproved.self,
        PaymentMarkedPaid.self, GrantReduced.self, GrantCancelled.self, RepaymentRecorded.self, DocumentAttached.self,
    ]

    public var remaining: Money { Money(minorUnits: amount.minorUnits &- paid.minorUnits, currency: amount.currency) }

    public consuming func evolve(_ event: any DomainEvent) -> GrantState {
        var state = consume self
        switch event {
        case let event as GrantAwarded:
            state.awarded = event
            state.amount = event.amount
            state.paid = .zero(event.amount.currency)
            state.tranches = event.tranches
            for tranche in event.tranches { state.trancheStatus[tranche.number] = .scheduled }
        case let event as ReportFiled:
            state.reports[event.reportId] = Report(kind: event.kind, approved: false)
        case let event as ReportApproved:
            state.reports[event.reportId]?.approved = true
        case let event as PaymentRequested:
            state.paymentRequests[event.paymentRequestId] = PaymentRequest(
                tranche: event.tranche, amount: event.amount, requestedBy: event.requestedBy, status: .requested)
            state.trancheStatus[event.tranche] = .requested
        case let event as PaymentApproved:
            state.paymentRequests[event.paymentRequestId]?.approvedBy = event.approvedBy
            state.paymentRequests[event.paymentRequestId]?.status = .approved
            if let tranche = state.paymentRequests[event.paymentRequestId]?.tranche { state.trancheStatus[tranche] = .approved }
        case let event as PaymentMarkedPaid:
            state.paymentRequests[event.paymentRequestId]?.status = .paid
            state.trancheStatus[event.tranche] = .paid
            state.paid = Money(minorUnits: state.paid.minorUnits &+ event.amount.minorUnits, currency: state.paid.currency)
        case let event as GrantReduced:
            state.amount = event.newAmount
            for tranche in event.tranches {
                if let index = state.tranches.firstIndex(where: { $0.number == tranche.number }) { state.tranches[index] = tranche }
                if tranche.amount.minorUnits == 0 { state.trancheStatus[tranche.number] = .cancelled }
            }
        case is GrantCancelled:
            state.cancelled = true
            state.amount = state.paid
            for (number, status) in state.trancheStatus where status != .paid { state.trancheStatus[number] = .cancelled }
        case let event as RepaymentRecorded:
            state.amount = Money(minorUnits: state.amount.minorUnits &- event.amount.minorUnits, currency: state.amount.currency)
            state.paid = Money(minorUnits: state.paid.minorUnits &- event.amount.minorUnits, currency: state.paid.currency)
        case let event as DocumentAttached:
            state.documents.append(event)
        default:
            break
        }
        return state
    }

    func requireActive(_ grantId: UUID, action: String) throws(DomainError) -> GrantAwarded {
        guard let awarded else { throw .notFound(kind: "grant", id: grantId.uuidString) }
        guard !cancelled else { throw .invalidState(kind: "grant", id: grantId.uuidString, status: "cancelled", action: action) }
        return awarded
    }

    /// Whether a tranche's trigger has happened: the n-th tranche waiting on
    /// a kind of report needs n approved reports of that kind.
    public func isReady(_ tranche: Tranche) -> (ready: Bool, waitingFor: String) {
        let kind: ReportKind
        switch tranche.trigger {
        case .signing: return (true, "")
        case .progressReport: kind = .progress
        case .finalReport: kind = .final
        }
        let needed = tranches.filter { $0.trigger == tranche.trigger && $0.number <= tranche.number }.count
        let approved = reports.values.filter { $0.kind == kind && $0.approved }.count
        return (approved >= needed, "\(needed) approved \(kind.rawValue) report(s), \(approved) so far")
    }
}

// MARK: Payment request ids

/// A payment request's id, claimed for one grant. The id is chosen by the
/// client or derived from its idempotency key, and names the request alone
/// (`/v1/payment-requests/{id}`) and in the grants read model, so it must
/// be unique across the programme, not only within its grant: the claim's
/// stream exists once.
public struct PaymentRequestIdClaimed: DomainEvent {
    public static let eventType = "PaymentRequestIdClaimed"
    public var paymentRequestId: UUID
    public var grantId: UUID
    public var occurredAt: Date

    package init(paymentRequestId: UUID, grantId: UUID, occurredAt: Date) {
        (self.paymentRequestId, self.grantId, self.occurredAt) = (paymentRequestId, grantId, occurredAt)
    }
}

public struct PaymentRequestIdState: Aggregate, Hashable {
    /// The grant the request belongs to, once claimed.
    public var grantId: UUID?

    public static let initial = PaymentRequestIdState()
    public static func streamName(_ id: UUID) -> String { "payment-request-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [PaymentRequestIdClaimed.self]

    public consuming func evolve(_ event: any DomainEvent) -> PaymentRequestIdState {
        var state = consume self
        if let event = event as? PaymentRequestIdClaimed { state.grantId = event.grantId }
        return state
    }
}

// MARK: Commands

public struct FileReport: Hashable, Sendable {
    public var grantId: UUID, reportId: UUID, kind: ReportKind, summary: String, at: Date
    public init(grantId: UUID, reportId: UUID, kind: ReportKind, summary: String, at: Date) {
        self.grantId = grantId; self.reportId = reportId; self.kind = kind; self.summary = summary; self.at = at
    }

    public func decide(grant: GrantState, actingAs: ActingAs = .unrestricted) throws(DomainError) -> [any DomainEvent] {
        guard let awarded = grant.awarded else { throw .notFound(kind: "grant", id: grantId.uuidString) }
        try actingAs.requireOwner(of: "grant", grantId, organisation: awarded.organisation)
        _ = try grant.requireActive(grantId, action: "file a report")
        guard grant.reports[reportId] == nil else { throw .alreadyExists(kind: "report", id: reportId.uuidString) }
        try requireProse(summary, field: "summary", maximum: Limits.prose, required: true)
        return [ReportFiled(reportId: reportId, kind: kind, summary: summary, occurredAt: at)]
    }
}

public struct ApproveReport: Hashable, Sendable {
    public var grantId: UUID, reportId: UUID, approvedBy: String, at: Date
    public init(grantId: UUID, reportId: UUID, approvedBy: String, at: Date) {
        self.grantId = grantId; self.reportId = reportId; self.approvedBy = approvedBy; self.at = at
    }

    public func decide(grant: GrantState) throws(DomainError) -> [any DomainEvent] {
        _ = try grant.requireActive(grantId, action: "approve a report")
        guard let report = grant.reports[reportId] else { throw .notFound(kind: "report", id: reportId.uuidString) }
        guard !report.approved else { throw .invalidState(kind: "report", id: reportId.uuidString, status: "approved", action: "approve it again") }
        return [ReportApproved(reportId: reportId, approvedBy: approvedBy, occurredAt: at)]
    }
}

public struct RequestPayment: Hashable, Sendable {
    public var grantId: UUID, paymentRequestId: UUID, tranche: Int, requestedBy: String, at: Date
    public init(grantId: UUID, paymentRequestId: UUID, tranche: Int, requestedBy: String, at: Date) {
        self.grantId = grantId; self.paymentRequestId = paymentRequestId; self.tranche = tranche; self.requestedBy = requestedBy; self.at = at
    }

    /// Invariant 2: a tranche is requested, and so paid, once. The request's
    /// id is claimed for this grant (see ``PaymentRequestIdClaimed``).
    public func decide(grant: GrantState, claim: PaymentRequestIdState) throws(DomainError) -> (grant: [any DomainEvent], claim: [any DomainEvent]) {
        _ = try grant.requireActive(grantId, action: "request a payment")
        guard grant.paymentRequests[paymentRequestId] == nil, claim.grantId == nil else {
            throw .alreadyExists(kind: "payment request", id: paymentRequestId.uuidString)
        }
        guard let scheduled = grant.tranches.first(where: { $0.number == tranche }) else { throw .notFound(kind: "tranche", id: String(tranche)) }
        guard grant.trancheStatus[tranche] == .scheduled, scheduled.amount.isPositive else { throw .trancheAlreadyPaid(tranche: tranche) }
        let readiness = grant.isReady(scheduled)
        guard readiness.ready else { throw .trancheNotReady(tranche: tranche, waitingFor: readiness.waitingFor) }
        return ([PaymentRequested(paymentRequestId: paymentRequestId, tranche: tranche, amount: scheduled.amount, requestedBy: requestedBy, occurredAt: at)],
                [PaymentRequestIdClaimed(paymentRequestId: paymentRequestId, grantId: grantId, occurredAt: at)])
    }
}

public struct ApprovePayment: Hashable, Sendable {
    public var grantId: UUID, paymentRequestId: UUID, approvedBy: String, at: Date
    public init(grantId: UUID, paymentRequestId: UUID, approvedBy: String, at: Date) {
        self.grantId = grantId; self.paymentRequestId = paymentRequestId; self.approvedBy = approvedBy; self.at = at
    }

    /// Invariant 3: four eyes.
    public func decide(grant: GrantState) throws(DomainError) -> [any DomainEvent] {
        _ = try grant.requireActive(grantId, action: "approve a payment")
        guard let request = grant.paymentRequests[paymentRequestId] else { throw .notFound(kind: "payment request", id: paymentRequestId.uuidString) }
        guard request.status == .requested else {
            throw .invalidState(kind: "payment request", id: paymentRequestId.uuidString, status: request.status.rawValue, action: "approve it")
        }
        guard request.requestedBy != approvedBy else { throw .fourEyes(requester: request.requestedBy) }
        return [PaymentApproved(paymentRequestId: paymentRequestId, approvedBy: approvedBy, occurredAt: at)]
    }
}

public struct MarkPaymentPaid: Hashable, Sendable {
    public var grantId: UUID, paymentRequestId: UUID, reference: String, at: Date
    public init(grantId: UUID, paymentRequestId: UUID, reference: String, at: Date) {
        self.grantId = grantId; self.paymentRequestId = paymentRequestId; self.reference = reference; self.at = at
    }

    /// Pays an approved request: the grant records it, the pool disburses it
    /// from the grant's sources in proportion to what each still holds.
    public func decide(grant: GrantState, pool: PoolState) throws(DomainError) -> (grant: [any DomainEvent], pool: [any DomainEvent]) {
        let awarded = try grant.requireActive(grantId, action: "pay")
        guard let request = grant.paymentRequests[paymentRequestId] else { throw .notFound(kind: "payment request", id: paymentRequestId.uuidString) }
        guard request.status == .approved else {
            throw .invalidState(kind: "payment request", id: paymentRequestId.uuidString, status: request.status.rawValue, action: "mark it paid")
        }
        try requireLine(reference, field: "reference")
        guard grant.paid.minorUnits &+ request.amount.minorUnits <= grant.amount.minorUnits else {
            throw .overpayment(grant: grantId.uuidString, granted: grant.amount, paid: grant.paid, requested: request.amount)
        }
        let parts = pool.parts(of: request.amount, weights: pool.unpaidCommitment(grantId))
        return ([PaymentMarkedPaid(paymentRequestId: paymentRequestId, tranche: request.tranche, amount: request.amount, reference: reference, occurredAt: at)],
                [PaymentDisbursed(grantId: grantId, paymentRequestId: paymentRequestId, period: awarded.period, amount: request.amount,
                                  sources: parts, reference: reference, occurredAt: at)])
    }
}

/// Reduces or cancels a grant (releasing uncommitted money to the pool), or
/// records a repayment of money paid but not spent.
public struct AdjustGrant: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case reduce(by: Money)
        case cancel
        case repayment(amount: Money, reference: String)
    }

    public var grantId: UUID, kind: Kind, reason: String, at: Date
    public init(grantId: UUID, kind: Kind, reason: String, at: Date) {
        self.grantId = grantId; self.kind = kind; self.reason = reason; self.at = at
    }

    public func decide(grant: GrantState, pool: PoolState) throws(DomainError) -> (grant: [any DomainEvent], pool: [any DomainEvent]) {
        guard let awarded = grant.awarded else { throw .notFound(kind: "grant", id: grantId.uuidString) }
        if case .repayment = kind {
            // Money may be clawed back from a cancelled grant too.
        } else {
            _ = try grant.requireActive(grantId, action: "reduce or cancel")
        }
        try requireProse(reason, field: "reason", maximum: Limits.reason, required: true)
        let unpaid = pool.unpaidCommitment(grantId)
        switch kind {
        case .reduce(let reduction):
            try requirePositive(reduction, field: "amount", currency: grant.amount.currency)
            let open = grant.tranches.filter { grant.trancheStatus[$0.number] == .scheduled }
            let reducible = open.map(\.amount.minorUnits).reduce(0, &+)
            guard reduction.minorUnits <= reducible else {
                throw .invalidInput(field: "amount", reason: "only \(Money(minorUnits: reducible, currency: reduction.currency)) is in tranches not yet requested; cannot reduce by \(reduction)")
            }
            // Take the reduction from the last unrequested tranches first.
            var left = reduction.minorUnits
            var changed: [Tranche] = []
            for var tranche in open.reversed() where left > 0 {
                let take = min(left, tranche.amount.minorUnits)
                tranche.amount = Money(minorUnits: tranche.amount.minorUnits - take, currency: tranche.amount.currency)
                left -= take
                changed.append(tranche)
            }
            let newAmount = try grant.amount - reduction
            return ([GrantReduced(reduction: reduction, newAmount: newAmount, tranches: changed.reversed(), reason: reason, occurredAt: at)],
                    [CommitmentReleased(grantId: grantId, period: awarded.period, amount: reduction,
                                        sources: pool.parts(of: reduction, weights: unpaid), reason: reason, occurredAt: at)])
        case .cancel:
            let inFlight = grant.paymentRequests.values.filter { $0.status != .paid }
            guard inFlight.isEmpty else {
                throw .invalidState(kind: "grant", id: grantId.uuidString, status: "awaiting \(inFlight.count) payment(s)", action: "cancel before they are paid or withdrawn")
            }
            let released = grant.remaining
            var poolEvents: [any DomainEvent] = []
            if released.isPositive {
                poolEvents.append(CommitmentReleased(grantId: grantId, period: awarded.period, amount: released,
                                                     sources: pool.parts(of: released, weights: unpaid), reason: reason, occurredAt: at))
            }
            return ([GrantCancelled(released: released, reason: reason, occurredAt: at)], poolEvents)
        case .repayment(let amount, let reference):
            try requirePositive(amount, field: "amount", currency: grant.amount.currency)
            try requireLine(reference, field: "reference")
            guard amount.minorUnits <= grant.paid.minorUnits else {
                throw .invalidInput(field: "amount", reason: "repayment \(amount) is more than the \(grant.paid) paid")
            }
            let paidBySource = pool.commitments[grantId]?.paid ?? [:]
            return ([RepaymentRecorded(amount: amount, reference: reference, occurredAt: at)],
                    [RepaymentReceived(grantId: grantId, period: awarded.period, amount: amount,
                                       sources: pool.parts(of: amount, weights: paidBySource), reference: reference, occurredAt: at)])
        }
    }
}
