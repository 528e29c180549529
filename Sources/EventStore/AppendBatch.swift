import Crypto
import Foundation
import PostgresNIO

/// An append checked against the store's limits and flattened into the
/// column arrays `append_events` takes, so it is one round trip whatever its size.
struct AppendBatch {
    let query: PostgresQuery

    init(writes: [StreamWrite], idempotency: Idempotency?, configuration: EventStore.Configuration) throws {
        let idempotencyKey = idempotency?.key
        try Self.validate(writes: writes, idempotencyKey: idempotencyKey, configuration: configuration)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]

        var streamIds: [String] = [], expected: [Int64] = []
        var eventIds: [UUID] = [], eventStreams: [Int32] = [], types: [String] = []
        var schemaVersions: [Int32] = [], data: [String] = [], metadata: [String] = [], occurredAt: [Date] = []
        for (index, write) in writes.enumerated() {
            streamIds.append(write.stream.rawValue)
            expected.append(write.expected.databaseValue)
            for event in write.events {
                eventIds.append(event.eventId)
                eventStreams.append(Int32(index + 1))
                types.append(event.type)
                schemaVersions.append(event.schemaVersion)
                data.append(event.data)
                metadata.append(String(decoding: try encoder.encode(event.metadata), as: UTF8.self))
                occurredAt.append(event.occurredAt)
            }
        }
        for (event, meta) in zip(writes.flatMap(\.events), metadata)
        where event.data.utf8.count + meta.utf8.count > configuration.maximumPayloadBytes {
            throw EventStoreError.payloadTooLarge(
                eventType: event.type, bytes: event.data.utf8.count + meta.utf8.count,
                limit: configuration.maximumPayloadBytes)
        }
        let fingerprint = idempotency.map { $0.fingerprint ?? Self.fingerprint(writes) }
        query = try """
            SELECT replayed, transaction_id, first_position, last_position, stream_versions
            FROM append_events(\(streamIds), \(expected), \(eventIds), \(eventStreams), \(types),
                               \(schemaVersions), \(data), \(metadata), \(occurredAt),
                               \(idempotencyKey), \(fingerprint))
            """
    }

    static func validate(writes: [StreamWrite], idempotencyKey: String?, configuration: EventStore.Configuration) throws {
        guard writes.contains(where: { !$0.events.isEmpty }) else { throw EventStoreError.emptyAppend }
        var seen = Set<StreamID>()
        for write in writes where !seen.insert(write.stream).inserted {
            throw EventStoreError.duplicateStream(write.stream.rawValue)
        }
        for event in writes.lazy.flatMap(\.events) {
            if event.type.isEmpty || event.type.count > EventStore.maximumEventTypeLength {
                throw EventStoreError.invalidEventType(
                    event.type, reason: "must be 1 to \(EventStore.maximumEventTypeLength) characters")
            }
            if !event.type.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_".unicodeScalars.contains($0)) }) {
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
