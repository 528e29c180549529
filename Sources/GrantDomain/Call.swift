import Foundation

public struct CallOpened: DomainEvent {
    public static let eventType = "CallOpened"
    public var callId: UUID
    public var poolId: UUID
    public var title: String
    public var opensAt: Date
    public var closesAt: Date
    /// The most the call may commit in all.
    public var cap: Money?
    public var occurredAt: Date

    public init(callId: UUID, poolId: UUID, title: String, opensAt: Date, closesAt: Date, cap: Money?, occurredAt: Date) {
        (self.callId, self.poolId, self.title, self.opensAt, self.closesAt, self.cap, self.occurredAt) = (callId, poolId, title, opensAt, closesAt, cap, occurredAt)
    }
}

/// A call's window moved: a later deadline, or an opening not yet reached.
public struct CallWindowChanged: DomainEvent {
    public static let eventType = "CallWindowChanged"
    public var callId: UUID
    public var opensAt: Date
    public var closesAt: Date
    public var reason: String
    public var occurredAt: Date

    public init(callId: UUID, opensAt: Date, closesAt: Date, reason: String, occurredAt: Date) {
        (self.callId, self.opensAt, self.closesAt, self.reason, self.occurredAt) = (callId, opensAt, closesAt, reason, occurredAt)
    }
}

/// A call closed before its deadline; nothing more is submitted to it.
public struct CallClosed: DomainEvent {
    public static let eventType = "CallClosed"
    public var callId: UUID
    public var reason: String
    public var occurredAt: Date

    public init(callId: UUID, reason: String, occurredAt: Date) {
        (self.callId, self.reason, self.occurredAt) = (callId, reason, occurredAt)
    }
}

public struct CallState: Aggregate, Hashable {
    /// The call as opened; its window as it stands now is ``opensAt`` to ``closesAt``.
    public var opened: CallOpened?
    public var opensAt = Date.distantPast
    public var closesAt = Date.distantPast
    /// When it was closed before its deadline, if it was.
    public var closedEarlyAt: Date?

    public static let initial = CallState()
    public static func streamName(_ id: UUID) -> String { "call-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [CallOpened.self, CallWindowChanged.self, CallClosed.self]

    public consuming func evolve(_ event: any DomainEvent) -> CallState {
        var state = consume self
        switch event {
        case let event as CallOpened:
            state.opened = event
            (state.opensAt, state.closesAt) = (event.opensAt, event.closesAt)
        case let event as CallWindowChanged:
            (state.opensAt, state.closesAt) = (event.opensAt, event.closesAt)
        case let event as CallClosed:
            state.closesAt = min(state.closesAt, event.occurredAt)
            state.closedEarlyAt = event.occurredAt
        default:
            break
        }
        return state
    }

    public func isOpen(at date: Date) -> Bool {
        opened != nil && opensAt <= date && date < closesAt
    }

    /// The refusal for acting on the call at `date` outside its window.
    func notOpen(at date: Date) -> DomainError {
        .callNotOpen(call: opened?.callId.uuidString ?? "", opensAt: opensAt, closesAt: closesAt, at: date)
    }
}

public struct OpenCall: Hashable, Sendable {
    public var callId: UUID
    public var poolId: UUID
    public var title: String
    public var opensAt: Date
    public var closesAt: Date
    public var cap: Money?
    public var at: Date

    public init(callId: UUID, poolId: UUID, title: String, opensAt: Date, closesAt: Date, cap: Money?, at: Date) {
        (self.callId, self.poolId, self.title, self.opensAt, self.closesAt, self.cap, self.at) = (callId, poolId, title, opensAt, closesAt, cap, at)
    }

    public func decide(call: CallState, pool: PoolState) throws(DomainError) -> [any DomainEvent] {
        guard call.opened == nil else { throw .alreadyExists(kind: "call", id: callId.uuidString) }
        guard let created = pool.created else { throw .notFound(kind: "pool", id: poolId.uuidString) }
        try requireLine(title, field: "title")
        guard opensAt < closesAt else {
            throw .invalidInput(field: "closesAt", reason: "must be after opensAt (\(opensAt.formatted(.iso8601)))")
        }
        if let cap { try requirePositive(cap, field: "cap", currency: created.currency) }
        return [CallOpened(callId: callId, poolId: poolId, title: title, opensAt: opensAt, closesAt: closesAt, cap: cap, occurredAt: at)]
    }
}

/// Moves a call's window: a deadline extended or brought forward (never
/// into the past: closing now is ``CloseCall``), or an opening not yet
/// reached moved. A call that has opened keeps its opening day, since
/// applicants may have drafted to it; a closed call stays closed.
public struct ChangeCallWindow: Hashable, Sendable {
    public var callId: UUID
    public var opensAt: Date
    public var closesAt: Date
    public var reason: String
    public var at: Date

    public init(callId: UUID, opensAt: Date, closesAt: Date, reason: String, at: Date) {
        (self.callId, self.opensAt, self.closesAt, self.reason, self.at) = (callId, opensAt, closesAt, reason, at)
    }

    public func decide(call: CallState) throws(DomainError) -> [any DomainEvent] {
        guard call.opened != nil else { throw .notFound(kind: "call", id: callId.uuidString) }
        // Closed early is closed for good, also for a change dated before the closing (a retry, another server's clock).
        guard at < call.closesAt, call.closedEarlyAt == nil else {
            throw .invalidState(kind: "call", id: callId.uuidString, status: "closed", action: "change the window of")
        }
        try requireProse(reason, field: "reason", maximum: Limits.reason, required: false)
        guard closesAt > at else {
            throw .invalidInput(field: "closesAt", reason: "must be in the future (\(at.formatted(.iso8601))); to close the call now, close it")
        }
        guard opensAt < closesAt else {
            throw .invalidInput(field: "closesAt", reason: "must be after opensAt (\(opensAt.formatted(.iso8601)))")
        }
        if call.opensAt <= at, opensAt != call.opensAt {
            throw .invalidInput(field: "opensAt", reason: "the call opened \(call.opensAt.formatted(.iso8601)) and keeps that opening")
        }
        if call.opensAt > at, opensAt < at {
            throw .invalidInput(field: "opensAt", reason: "must not be in the past (\(at.formatted(.iso8601)))")
        }
        guard opensAt != call.opensAt || closesAt != call.closesAt else {
            throw .invalidInput(field: "closesAt", reason: "the window is unchanged")
        }
        return [CallWindowChanged(callId: callId, opensAt: opensAt, closesAt: closesAt, reason: reason, occurredAt: at)]
    }
}

/// Closes a call before its deadline: what was submitted stays on its way
/// to the steering group; drafts can no longer be submitted.
public struct CloseCall: Hashable, Sendable {
    public var callId: UUID
    public var reason: String
    public var at: Date

    public init(callId: UUID, reason: String, at: Date) {
        (self.callId, self.reason, self.at) = (callId, reason, at)
    }

    public func decide(call: CallState) throws(DomainError) -> [any DomainEvent] {
        guard call.opened != nil else { throw .notFound(kind: "call", id: callId.uuidString) }
        guard at < call.closesAt, call.closedEarlyAt == nil else { throw .invalidState(kind: "call", id: callId.uuidString, status: "closed", action: "close") }
        try requireProse(reason, field: "reason", maximum: Limits.reason, required: true)
        return [CallClosed(callId: callId, reason: reason, occurredAt: at)]
    }
}
