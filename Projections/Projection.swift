import EventStore
import PostgresNIO

/// A read model: a name, the event types it reads, and how a batch of those
/// events changes its tables. The runtime applies a batch and advances the
/// projection's checkpoint in one transaction, so an event is applied once.
public protocol Projection: Sendable {
    /// Unique, stable: it names the checkpoint row and the tables.
    var name: String { get }
    /// The event types `apply` reads; other events only advance the checkpoint.
    var eventTypes: Set<String> { get }
    /// Applies events, in commit order, on the given connection inside the
    /// runtime's transaction.
    func apply(_ events: [RecordedEvent], on connection: PostgresConnection) async throws
}
