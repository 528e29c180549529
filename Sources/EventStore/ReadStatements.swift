import Foundation
import PostgresNIO

/// The columns every read returns, decoded into a ``RecordedEvent``.
private let eventColumns = """
    global_position, transaction_id::text::int8 AS transaction, event_id, stream_id, stream_version,
    event_type, schema_version, data::text, metadata::text, occurred_at, recorded_at, hash
    """

/// Column by column rather than as one tuple: decoding a 12-column tuple
/// instantiates its generic metadata at run time for every row, which cost
/// about as much as reading the row.
private func decodeEvent(_ row: PostgresRow) throws -> RecordedEvent {
    var cells = Cells(row)
    return try cells.event(position: try cells.next(Int64.self), transactionId: try cells.next(Int64.self), eventId: try cells.next(UUID.self))
}

/// A row's cells, decoded one after another.
private struct Cells {
    var iterator: PostgresRow.Iterator

    init(_ row: PostgresRow) { iterator = row.makeIterator() }

    mutating func next<T: PostgresDecodable>(_ type: T.Type) throws -> T {
        guard let cell = iterator.next() else { throw PostgresDecodingError.Code.missingData }
        return try cell.decode(T.self)
    }

    /// The event whose columns after `event_id` come next.
    mutating func event(position: Int64, transactionId: Int64, eventId: UUID) throws -> RecordedEvent {
        RecordedEvent(
            position: position, transactionId: transactionId, eventId: eventId, streamId: try next(String.self),
            streamVersion: try next(Int64.self), type: try next(String.self), schemaVersion: try next(Int32.self), data: try next(String.self),
            metadata: try next(String.self), occurredAt: try next(Date.self), recordedAt: try next(Date.self), hash: try next(Data.self))
    }
}

/// A page of all events in commit order. `ORDER BY events.transaction_id`
/// names the table column: the output alias of the same name would defeat
/// the `(transaction_id, global_position)` index.
struct ReadAll: PostgresPreparedStatement {
    static let sql = """
        SELECT \(eventColumns) FROM events
        WHERE (events.transaction_id, global_position) > ($1::text::xid8, $2)
          AND events.transaction_id < (SELECT readable_horizon(pg_current_snapshot()))
        ORDER BY events.transaction_id, global_position
        LIMIT $3
        """
    typealias Row = RecordedEvent

    var after: Checkpoint
    var limit: Int64

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(String(after.transactionId))
        bindings.append(after.position)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> RecordedEvent { try decodeEvent(row) }
}

/// A stream's events from a version on. A stream's versions run 1, 2, 3...
/// without gaps (both the append functions and the import number them so),
/// so a page of `limit` from version v lies in [v, v + limit). Saying so
/// keeps PostgreSQL from reading and sorting the stream's whole rest for
/// every page: for a pool of 96,661 events it estimated a fifteenth of the
/// rows, chose a bitmap scan and an on-disk sort of everything after v, and
/// a page took 220 ms instead of 27.
struct ReadStream: PostgresPreparedStatement {
    static let sql = """
        SELECT \(eventColumns) FROM events
        WHERE stream_id = $1 AND stream_version >= $2 AND stream_version < $2 + $3
        ORDER BY stream_version
        LIMIT $3
        """
    typealias Row = RecordedEvent

    var stream: String
    var fromVersion: Int64
    var limit: Int64

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(stream)
        bindings.append(fromVersion)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> RecordedEvent { try decodeEvent(row) }
}

/// A page of all events in commit order like ``ReadAll``, where only events
/// of the types asked for come whole; of the others only their place, so a
/// reader that needs few types does not pay for every payload.
struct ReadAllOfTypes: PostgresPreparedStatement {
    static let sql = """
        SELECT global_position, transaction_id::text::int8, \(
            ["event_id", "stream_id", "stream_version", "event_type", "schema_version", "data::text", "metadata::text",
             "occurred_at", "recorded_at", "hash"].map { "CASE WHEN event_type = ANY($4) THEN \($0) END" }.joined(separator: ", "))
        FROM events
        WHERE (events.transaction_id, global_position) > ($1::text::xid8, $2)
          AND events.transaction_id < (SELECT readable_horizon(pg_current_snapshot()))
        ORDER BY events.transaction_id, global_position
        LIMIT $3
        """
    /// A place in commit order, and the event if it is of a wanted type.
    typealias Row = (checkpoint: Checkpoint, event: RecordedEvent?)

    var after: Checkpoint
    var limit: Int64
    var types: [String]

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(String(after.transactionId))
        bindings.append(after.position)
        bindings.append(limit)
        bindings.append(types)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        var cells = Cells(row)
        let position = try cells.next(Int64.self), transaction = try cells.next(Int64.self)
        let place = Checkpoint(transactionId: transaction, position: position)
        // Events of other types come as their place only: every other column is NULL.
        guard let eventId = try cells.next(UUID?.self) else { return (place, nil) }
        return (place, try cells.event(position: position, transactionId: transaction, eventId: eventId))
    }
}

/// Several streams' events, each from a version on, in one round trip, in
/// stream order. `read_streams` reads each stream by an index range scan
/// planned once per connection: see db/functions/read_streams.sql
/// for why not a join here.
struct ReadStreams: PostgresPreparedStatement {
    static let sql = "SELECT \(eventColumns) FROM read_streams($1, $2)"
    typealias Row = RecordedEvent

    var streams: [String]
    var fromVersions: [Int64]

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(streams)
        bindings.append(fromVersions)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> RecordedEvent { try decodeEvent(row) }
}
