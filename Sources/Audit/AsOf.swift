import EventCoding
import EventStore
import Foundation
import GrantDomain

/// Which clock an as-of question is asked on.
public enum TimeBasis: String, Codable, Sendable, CaseIterable {
    /// What the system showed at the time: events recorded by then.
    case recorded
    /// What was true at the time: events that occurred by then, including those recorded later.
    case occurred
}

/// A pool's balances as of an instant, rebuilt by replaying its stream
/// through the domain's own `evolve`.
public struct PoolAsOf: Encodable, Sendable {
    public struct Period: Encodable, Sendable {
        public var period: String
        public var budget, committed, paid, available: Money
        public var closed: Bool
    }
    public struct Source: Encodable, Sendable {
        public var id: String
        public var amount, committed, paid, available: Money
    }
    public var poolId: UUID
    public var asOf: Date
    public var basis: TimeBasis
    /// Events replayed, and the newest of them.
    public var eventsApplied: Int
    public var lastPosition: Int64?
    public var exists: Bool
    public var budget, committed, paid, available: Money
    public var periods: [Period]
    public var sources: [Source]

    init(poolId: UUID, asOf: Date, basis: TimeBasis, replayed: Replayed, state: PoolState) {
        self.poolId = poolId
        self.asOf = asOf
        self.basis = basis
        eventsApplied = replayed.events
        lastPosition = replayed.lastPosition
        exists = state.created != nil
        let totals = state.totals
        (budget, committed, paid, available) = (totals.budget, totals.committed, totals.paid, totals.available)
        let currency = state.currency
        periods = state.periodOrder.compactMap { name in
            state.periods[name].map {
                Period(period: name, budget: Money(minorUnits: $0.budget, currency: currency), committed: Money(minorUnits: $0.committed, currency: currency),
                       paid: Money(minorUnits: $0.paid, currency: currency), available: Money(minorUnits: $0.available, currency: currency), closed: $0.closed)
            }
        }
        sources = state.sourceOrder.compactMap { id in
            state.sources[id].map {
                Source(id: id, amount: $0.spec.amount, committed: Money(minorUnits: $0.committed, currency: currency),
                       paid: Money(minorUnits: $0.paid, currency: currency), available: Money(minorUnits: $0.available, currency: currency))
            }
        }
    }
}

/// A grant as of an instant.
public struct GrantAsOf: Encodable, Sendable {
    public struct Tranche: Encodable, Sendable {
        public var number: Int
        public var amount: Money
        public var trigger: String
        public var status: String
    }
    public var grantId: UUID
    public var asOf: Date
    public var basis: TimeBasis
    public var eventsApplied: Int
    public var lastPosition: Int64?
    public var exists: Bool
    public var organisation: String?
    public var granted, paid, remaining: Money
    public var cancelled: Bool
    public var tranches: [Tranche]
    public var reportsFiled: Int
    public var reportsApproved: Int

    init(grantId: UUID, asOf: Date, basis: TimeBasis, replayed: Replayed, state: GrantState) {
        self.grantId = grantId
        self.asOf = asOf
        self.basis = basis
        eventsApplied = replayed.events
        lastPosition = replayed.lastPosition
        exists = state.awarded != nil
        organisation = state.awarded?.organisation
        granted = state.amount
        paid = state.paid
        remaining = state.remaining
        cancelled = state.cancelled
        tranches = state.tranches.map {
            Tranche(number: $0.number, amount: $0.amount, trigger: $0.trigger.rawValue, status: (state.trancheStatus[$0.number] ?? .scheduled).rawValue)
        }
        reportsFiled = state.reports.count
        reportsApproved = state.reports.values.filter(\.approved).count
    }
}

/// Replays one aggregate's stream as of an instant.
public struct AsOfReplay: Sendable {
    public let store: EventStore

    public init(store: EventStore) { self.store = store }

    public func pool(_ id: UUID, asOf: Date, basis: TimeBasis) async throws -> PoolAsOf {
        let (replayed, state) = try await replay(PoolState.self, id, asOf: asOf, basis: basis)
        return PoolAsOf(poolId: id, asOf: asOf, basis: basis, replayed: replayed, state: state)
    }

    public func grant(_ id: UUID, asOf: Date, basis: TimeBasis) async throws -> GrantAsOf {
        let (replayed, state) = try await replay(GrantState.self, id, asOf: asOf, basis: basis)
        return GrantAsOf(grantId: id, asOf: asOf, basis: basis, replayed: replayed, state: state)
    }

    /// The stream's events that count as of `asOf`, folded in the order they
    /// happened: by version when recorded, by occurrence (then version) when
    /// occurred. Each page is decoded while the next is read, and, recorded,
    /// folded and let go: a pool's long history is never held whole.
    public func replay<A: Aggregate>(_ type: A.Type, _ id: UUID, asOf: Date, basis: TimeBasis) async throws -> (Replayed, A) {
        let stream = try StreamID(A.streamName(id))
        let (store, pageSize) = (store, 5_000)
        var replayed = Replayed()
        var state = A.initial
        // Occurred: held, decoded, until all are read, then folded in order.
        var occurred: [(at: Date, version: Int64, event: any DomainEvent)] = []
        var reading: Task<[RecordedEvent], any Error>? = Task { try await store.readStream(stream, from: 1, limit: pageSize) }
        defer { reading?.cancel() }
        while let page = try await reading?.value {
            reading = page.count == pageSize ? Task { [after = page[page.count - 1].streamVersion] in
                try await store.readStream(stream, from: after + 1, limit: pageSize)
            } : nil
            let counted = page.filter { (basis == .recorded ? $0.recordedAt : $0.occurredAt) <= asOf }
            let events = try await EventCoding.decodeInParallel(counted, among: A.eventTypes) { ($0.type, $0.schemaVersion, $0.data) }
            replayed.count(counted)
            switch basis {
            case .recorded: for event in events { state = (consume state).evolve(event) }
            case .occurred: occurred += zip(counted, events).map { ($0.occurredAt, $0.streamVersion, $1) }
            }
        }
        if basis == .occurred {
            occurred.sort { ($0.at, $0.version) < ($1.at, $1.version) }
            state = A.replay(occurred.lazy.map(\.event))
        }
        return (replayed, state)
    }
}

/// How many events an as-of replay folded, and the newest of them.
public struct Replayed: Sendable {
    public var events = 0
    public var lastPosition: Int64?

    mutating func count(_ recorded: [RecordedEvent]) {
        events += recorded.count
        if let newest = recorded.lazy.map(\.position).max() { lastPosition = max(lastPosition ?? newest, newest) }
    }
}
