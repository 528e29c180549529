import Foundation

/// An event of the domain: a stable type name, a schema version, and when it
/// happened in the world. Encoded as JSON into the event store's `data` by
/// the EventCoding target: the domain knows nothing of its wire format.
/// The `package` inits of events and of the values in them are for
/// EventCoding's payload readers, which build the busiest field by field.
public protocol DomainEvent: Codable, Hashable, Sendable {
    static var eventType: String { get }
    static var schemaVersion: Int32 { get }
    var occurredAt: Date { get }
}

extension DomainEvent {
    public static var schemaVersion: Int32 { 1 }
}

/// One aggregate's history folded into its state: the *evolve* half of a
/// decider. Deciding lives in the command types, which may read several
/// aggregates (a decision reads the application, meeting, group and pool).
public protocol Aggregate: Sendable {
    /// The stream of the aggregate with this id, e.g. `pool-<uuid>`.
    static func streamName(_ id: UUID) -> String
    /// The event types of this aggregate, decoded by type name.
    static var eventTypes: [any DomainEvent.Type] { get }
    static var initial: Self { get }
    /// The state after `event`. Consuming, so a fold that hands its state
    /// over (`state = state.evolve(event)`) changes it in place instead of
    /// copying its collections at every event.
    consuming func evolve(_ event: any DomainEvent) -> Self
}

extension Aggregate {
    /// Folds a history into a state, in time linear in its length.
    public static func replay(_ events: some Sequence<any DomainEvent>) -> Self {
        var state = initial
        for event in events { state = (consume state).evolve(event) }
        return state
    }
}
