import EventCoding
import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// A read model: a name, the event types it reads, its tables, and how a
/// batch of events changes them. The runtime knows nothing of grants: it
/// applies a batch and advances the projection's checkpoint in one
/// transaction, so an event is applied exactly once.
public protocol Projection: Sendable {
    /// Stable, lowercase letters, digits and `_`: it names the checkpoint,
    /// the schemas and the advisory lock.
    var name: String { get }
    /// The event types `apply` reads; other events only advance the checkpoint.
    var eventTypes: Set<String> { get }
    /// The tables readers see, as `read.<table>` views. Unique across projections.
    var tables: [String] { get }
    /// Creates the tables, unqualified: the runtime sets the search path to
    /// the generation's schema. Every column must be derived from events
    /// alone (no clock), so a rebuild gives the same rows.
    var schema: String { get }
    /// Applies events of `eventTypes`, in commit order, inside the runtime's
    /// transaction on `connection`.
    func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws
}

/// An event a projection could not apply; the worker stops there.
public struct ProjectionFailure: Error, CustomStringConvertible {
    public var position: Int64
    public var eventType: String
    public var error: String

    public init(_ event: RecordedEvent, _ error: any Error) {
        self.position = event.position
        self.eventType = event.type
        self.error = String(reflecting: error)
    }

    public var description: String { "event \(position) (\(eventType)): \(error)" }
}

extension Projection {
    /// Runs `body` for each event, naming the event that failed.
    public func forEach(_ events: [RecordedEvent], _ body: (RecordedEvent) async throws -> Void) async throws {
        for event in events {
            do { try await body(event) } catch let failure as ProjectionFailure { throw failure } catch { throw ProjectionFailure(event, error) }
        }
    }

    /// The types to read whole: nil (every event) when `eventTypes` is empty.
    public var typesToRead: Set<String>? { eventTypes.isEmpty ? nil : eventTypes }

    /// Decodes an event's payload as the domain event it names.
    public func decode<E: DomainEvent>(_ type: E.Type, _ event: RecordedEvent) throws -> E {
        try EventCoding.decode(E.self, schemaVersion: event.schemaVersion, data: event.data)
    }
}

/// All read models, in the order they are listed by `status`.
public let allProjections: [any Projection] = [
    PoolBalancesProjection(), ApplicationsProjection(), AgendasProjection(), GrantsProjection(),
    PublicGrantsProjection(), AuditLedgerProjection(), UsersProjection(),
]
