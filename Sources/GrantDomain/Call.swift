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
}

public struct CallState: Aggregate, Hashable {
    public var opened: CallOpened?

    public static let initial = CallState()
    public static func streamName(_ id: UUID) -> String { "call-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [CallOpened.self]

    public consuming func evolve(_ event: any DomainEvent) -> CallState {
        var state = consume self
        if let event = event as? CallOpened { state.opened = event }
        return state
    }

    public func isOpen(at date: Date) -> Bool {
        guard let opened else { return false }
        return opened.opensAt <= date && date < opened.closesAt
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
        self.callId = callId
        self.poolId = poolId
        self.title = title
        self.opensAt = opensAt
        self.closesAt = closesAt
        self.cap = cap
        self.at = at
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
