import Crypto
import Foundation
import PostgresNIO

/// One append checked against the store's limits and flattened into the
/// column arrays `append_events` takes (db/functions/append_events.sql), so
/// it is one round trip whatever its size, alone or with others.
struct PreparedAppend: Sendable {
    let writes: [StreamWrite]
    let idempotencyKey: String?
    let fingerprint: Data?
    private(set) var streamIds: [String] = [], expected: [Int64] = []
    private(set) var eventIds: [UUID] = [], eventStreams: [Int32] = [], types: [String] = []
    private(set) var schemaVersions: [Int32] = [], data: [String] = [], metadata: [String] = [], occurredAt: [Date] = []

    init(writes: [StreamWrite], idempotency: Idempotency?, configuration: EventStore.Configuration) throws {
        try Self.validate(writes: writes, idempotencyKey: idempotency?.key, configuration: configuration)
        self.writes = writes
        idempotencyKey = idempotency?.key
        fingerprint = idempotency.map { $0.fingerprint ?? Self.fingerprint(writes) }
        var lastMetadata: (metadata: EventMetadata, text: String)?
        for (index, write) in writes.enumerated() {
            streamIds.append(write.stream.rawValue)
            expected.append(write.expected.databaseValue)
            for event in write.events {
                eventIds.append(event.eventId)
                eventStreams.append(Int32(index + 1))
                types.append(event.type)
                schemaVersions.append(event.schemaVersion)
                data.append(event.data)
                // A command's events share their metadata: encoded once.
                if let last = lastMetadata, last.metadata == event.metadata {
                    metadata.append(last.text)
                } else {
                    let text = event.metadata.json
                    lastMetadata = (event.metadata, text)
                    metadata.append(text)
                }
                occurredAt.append(event.occurredAt)
            }
        }
        for (event, meta) in zip(writes.flatMap(\.events), metadata)
        where event.data.utf8.count + meta.utf8.count > configuration.maximumPayloadBytes {
            throw EventStoreError.payloadTooLarge(
                eventType: event.type, bytes: event.data.utf8.count + meta.utf8.count,
                limit: configuration.maximumPayloadBytes)
        }
    }

    /// Several appends in one transaction, each all or nothing on its own:
    /// a row per append, with its result or the error that refused it.
    /// Chained appends were decided one after another (see `append_events`).
    static func together(_ appends: [PreparedAppend], chained: Bool) -> AppendTogether {
        var bindings = PostgresBindings(capacity: 14)
        bindings.append(appends.map { Int32($0.streamIds.count) })
        bindings.append(appends.map { Int32($0.eventIds.count) })
        bindings.append(appends.flatMap(\.streamIds))
        bindings.append(appends.flatMap(\.expected))
        bindings.append(appends.flatMap(\.eventIds))
        bindings.append(appends.flatMap(\.eventStreams))
        bindings.append(appends.flatMap(\.types))
        bindings.append(appends.flatMap(\.schemaVersions))
        bindings.append(appends.flatMap(\.data))
        bindings.append(appends.flatMap(\.metadata))
        bindings.append(appends.flatMap(\.occurredAt))
        // No key is an empty one: keys are never empty, and arrays of optionals do not encode.
        bindings.append(appends.map { $0.idempotencyKey ?? "" })
        bindings.append(appends.map { ByteBuffer(bytes: $0.fingerprint ?? Data()) })
        bindings.append(chained)
        return AppendTogether(bindings: bindings)
    }

    static func validate(writes: [StreamWrite], idempotencyKey: String?, configuration: EventStore.Configuration) throws {
        guard writes.contains(where: { !$0.events.isEmpty }) else { throw EventStoreError.emptyAppend }
        var seen = Set<StreamID>()
        for write in writes where !seen.insert(write.stream).inserted {
            throw EventStoreError.duplicateStream(write.stream.rawValue)
        }
        for event in writes.lazy.flatMap(\.events) {
            let plain = (1...EventStore.maximumEventTypeLength).contains(event.type.utf8.count) && event.type.utf8.allSatisfy(Self.isEventTypeByte)
            if !plain {
                if event.type.isEmpty || event.type.count > EventStore.maximumEventTypeLength {
                    throw EventStoreError.invalidEventType(
                        event.type, reason: "must be 1 to \(EventStore.maximumEventTypeLength) characters")
                }
                throw EventStoreError.invalidEventType(event.type, reason: "only letters, digits, '.', '-' and '_' are allowed")
            }
            if event.schemaVersion < 1 {
                throw EventStoreError.invalidEventType(event.type, reason: "schema version must be at least 1")
            }
            if event.data.utf8.count > configuration.maximumPayloadBytes {
                throw EventStoreError.payloadTooLarge(
                    eventType: event.type, bytes: event.data.utf8.count, limit: configuration.maximumPayloadBytes)
            }
        }
        if let key = idempotencyKey {
            if key.isEmpty || key.count > EventStore.maximumIdempotencyKeyLength {
                throw EventStoreError.invalidIdempotencyKey(
                    key, reason: "must be 1 to \(EventStore.maximumIdempotencyKeyLength) characters")
            }
        }
    }

    /// ASCII letters, digits, '.', '-' and '_'.
    static func isEventTypeByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    /// What makes two appends "the same" for an idempotency key: the streams,
    /// expected versions, event types, schema versions and payloads. Event ids,
    /// times and metadata differ between a request and its retry.
    static func fingerprint(_ writes: [StreamWrite]) -> Data {
        var hasher = SHA256()
        func add(_ string: String) {
            withUnsafeBytes(of: UInt64(string.utf8.count).bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(data: Data(string.utf8))
        }
        for write in writes {
            add(write.stream.rawValue)
            add(write.expected.description)
            for event in write.events {
                add(event.type)
                add(String(event.schemaVersion))
                add(event.data)
            }
        }
        return Data(hasher.finalize())
    }
}

// The append statements are prepared once per connection: PostgreSQL plans
// an unnamed statement at every call, and planning the outer SELECT over the
// function (its arguments are the whole batch) was about a sixth of the
// server's time under the hot pool benchmark.

struct AppendTogether: PostgresPreparedStatement {
    static let sql = """
        SELECT append_index, replayed, transaction_id, first_position, last_position, stream_versions,
               error_state, error_detail, error_message
        FROM append_events(append_lock($1), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        """
    typealias Row = (Int32, Bool?, Int64?, Int64?, Int64?, [Int64]?, String?, String?, String?)

    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
