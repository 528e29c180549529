import EventStore
import Foundation

/// One event as an auditor sees it: where it sits, what it says, who caused
/// it (actor, role, command, correlation and causation), and both times.
public struct HistoryEntry: Encodable, Sendable {
    public var position: Int64
    public var transactionId: Int64
    public var eventId: UUID
    public var streamId: String
    public var streamVersion: Int64
    public var type: String
    public var schemaVersion: Int32
    public var occurredAt: Date
    public var recordedAt: Date
    public var data: JSONValue
    public var metadata: JSONValue
    public var hash: String

    public init(_ event: RecordedEvent) {
        position = event.position
        transactionId = event.transactionId
        eventId = event.eventId
        streamId = event.streamId
        streamVersion = event.streamVersion
        type = event.type
        schemaVersion = event.schemaVersion
        occurredAt = event.occurredAt
        recordedAt = event.recordedAt
        data = JSONValue(json: event.data)
        metadata = JSONValue(json: event.metadata)
        hash = event.hash.map { String(format: "%02x", $0) }.joined()
    }
}

/// Pages of history: one stream by version, or everything in commit order.
public struct History: Sendable {
    public let store: EventStore

    public init(store: EventStore) { self.store = store }

    /// A stream's events after `version`.
    public func stream(_ stream: StreamID, after version: Int64, limit: Int) async throws -> [HistoryEntry] {
        try await store.readStream(stream, from: version + 1, limit: limit).map(HistoryEntry.init)
    }

    /// Events in commit order after the event at `position` (0: from the start).
    public func all(after position: Int64, limit: Int) async throws -> [HistoryEntry] {
        let checkpoint = try await checkpoint(of: position)
        return try await store.readAll(after: checkpoint, limit: limit).map(HistoryEntry.init)
    }

    /// Where the event at `position` sits in commit order.
    func checkpoint(of position: Int64) async throws -> Checkpoint {
        guard position > 0 else { return .start }
        let rows = try await store.client.query(
            "SELECT transaction_id::text::int8 FROM events WHERE global_position = \(position)", logger: store.logger)
        for try await transaction in rows.decode(Int64.self) { return Checkpoint(transactionId: transaction, position: position) }
        throw AuditError.unknownPosition(position)
    }
}

public enum AuditError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownPosition(Int64)
    case notFound(kind: String, id: String)

    public var description: String {
        switch self {
        case .unknownPosition(let position): "no event at position \(position)"
        case .notFound(let kind, let id): "\(kind) \(id) not found"
        }
    }
}
