import CivilCalendar
import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO

/// What an import wrote.
public struct ImportSummary: Sendable, Hashable {
    public var events: Int
    public var streams: Int
    /// The transaction that wrote them all: readers of all events see the
    /// whole history at once, after it.
    public var transactionId: Int64
}

extension EventStore {
    /// Loads a history, such as a programme's past years, in one transaction
    /// through `COPY`: `feed` hands the events to the ``HistoryImport`` stream
    /// by stream, each stream's events in order, as many batches as it likes.
    /// Events are hashed and chained here exactly as `append_events` chains
    /// them (recorded at the database's clock as the import begins, once for
    /// the whole import: refuse_misplaced_event refuses any other time), so `verify` checks them
    /// like any other. Only new streams can be imported; a stream the store
    /// already holds, a wrong expected version or an invalid event fails the
    /// whole import and leaves the store untouched.
    public func importHistory(_ feed: (HistoryImport) async throws -> Void) async throws -> ImportSummary {
        let summary = try await client.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                // Before anything is written, as every append: readers of all events wait for this transaction.
                var recordedMicros: Int64 = 0
                for try await now in try await connection.query(
                    "SELECT append_lock((extract(epoch FROM clock_timestamp()) * 1000000)::int8)", logger: logger
                ).decode(Int64.self) { recordedMicros = now }
                let history = HistoryImport(connection: connection, recordedMicros: recordedMicros, configuration: configuration, logger: logger)
                try await feed(history)
                let summary = try await history.finish()
                try await connection.query("COMMIT", logger: logger)
                // The planner's statistics still describe the store before the
                // import; refresh them now, not when autovacuum comes round.
                // The import has committed: a failure here only delays that.
                do {
                    try await connection.query("ANALYZE events", logger: logger)
                    try await connection.query("ANALYZE streams", logger: logger)
                } catch {
                    logger.warning("could not analyze after the import", metadata: ["error": "\(String(reflecting: error))"])
                }
                return summary
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
        appendSignal.signal()
        wakeups.wakeAll()
        Counter(label: "grantledger_events_appended_total").increment(by: summary.events)
        return summary
    }
}

/// A history being loaded by ``EventStore/importHistory(_:)``.
/// Not for use outside the closure it is handed to.
public final class HistoryImport {
    private let connection: PostgresConnection
    private let configuration: EventStore.Configuration
    private let logger: Logger
    private let recordedMicros: Int64
    private var heads: [String: (version: Int64, hash: [UInt8])] = [:]
    private var metadataText: (metadata: EventMetadata, text: [UInt8])?
    /// How much COPY text is rendered before it is sent.
    static let pieceBytes = 256 * 1024
    /// Events handed to the import so far.
    public private(set) var events = 0

    /// The columns an import writes, in the order of its COPY rows.
    public static let eventColumns = ["event_id", "stream_id", "stream_version", "event_type", "schema_version",
                               "data", "metadata", "occurred_at", "recorded_at", "previous_hash", "hash"]

    init(connection: PostgresConnection, recordedMicros: Int64, configuration: EventStore.Configuration, logger: Logger) {
        self.connection = connection
        self.configuration = configuration
        self.logger = logger
        self.recordedMicros = recordedMicros
    }

    /// Writes a batch: each write's stream is new to the store or continues
    /// from an earlier batch of this import, at the version it expects.
    public func add(_ writes: [StreamWrite]) async throws {
        guard !writes.isEmpty else { return }
        try PreparedAppend.validate(writes: writes, idempotencyKey: nil, configuration: configuration)
        try await refuseStoredStreams(writes.map(\.stream.rawValue).filter { heads[$0] == nil })
        do {
            // Rows go out in pieces as they are rendered and hashed, so
            // PostgreSQL parses and inserts one piece while the next is made.
            try await connection.copyFrom(table: "events", columns: Self.eventColumns, logger: logger) { writer in
                var rows = ByteBuffer()
                rows.reserveCapacity(Self.pieceBytes + 64 * 1024)
                for write in writes {
                    try appendRows(of: write, to: &rows)
                    if rows.readableBytes >= Self.pieceBytes {
                        try await writer.write(rows)
                        rows.clear()
                    }
                }
                if rows.readableBytes > 0 { try await writer.write(rows) }
            }
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
    }

    func finish() async throws -> ImportSummary {
        var rows = ByteBuffer()
        for (stream, head) in heads {
            Self.appendCopyText(stream, to: &rows)
            rows.writeString("\t\(head.version)\t")
            Self.appendBytea(head.hash, to: &rows)
            rows.writeInteger(UInt8(ascii: "\n"))
        }
        do {
            try await connection.copyFrom(table: "streams", columns: ["stream_id", "version", "last_hash"], logger: logger) { writer in
                if rows.readableBytes > 0 { try await writer.write(rows) }
            }
        } catch let error as PSQLError {
            throw Self.mapped(error)
        }
        var transaction: Int64 = 0
        for try await id in try await connection.query("SELECT pg_current_xact_id()::text::int8", logger: logger).decode(Int64.self) {
            transaction = id
        }
        return ImportSummary(events: events, streams: heads.count, transactionId: transaction)
    }

    /// One COPY text line per event, chained from the stream's head.
    private func appendRows(of write: StreamWrite, to rows: inout ByteBuffer) throws {
        let stream = write.stream.rawValue
        var (version, previous) = heads[stream] ?? (0, [])
        switch write.expected {
        case .any: break
        case .noStream where version == 0: break
        case .exactly(let expected) where expected == version: break
        default: throw EventStoreError.wrongExpectedVersion(stream: stream, expected: write.expected, actual: version)
        }
        for event in write.events {
            version += 1
            let data: [UInt8]
            do {
                data = try JSONBText.render(event.data)
            } catch {
                throw EventStoreError.invalidPayload(reason: "event \(event.type) of \(stream): \(error)")
            }
            let metadata = try renderedMetadata(event.metadata)
            if data.count + metadata.count > configuration.maximumPayloadBytes {
                throw EventStoreError.payloadTooLarge(eventType: event.type, bytes: data.count + metadata.count, limit: configuration.maximumPayloadBytes)
            }
            let eventId = event.eventId.uuidString.lowercased()
            let occurred = Self.microseconds(event.occurredAt)
            let hash = EventHash.compute(previous: previous, eventId: event.eventId, stream: stream, version: version, type: event.type,
                                         schemaVersion: event.schemaVersion, occurredMicros: occurred, recordedMicros: recordedMicros,
                                         data: data, metadata: metadata)

            rows.writeString("\(eventId)\t")
            Self.appendCopyText(stream, to: &rows)
            rows.writeString("\t\(version)\t\(event.type)\t\(event.schemaVersion)\t")
            Self.appendCopyText(data, to: &rows)
            rows.writeInteger(UInt8(ascii: "\t"))
            Self.appendCopyText(metadata, to: &rows)
            rows.writeInteger(UInt8(ascii: "\t"))
            try Self.appendTimestamp(occurred, to: &rows)
            rows.writeInteger(UInt8(ascii: "\t"))
            try Self.appendTimestamp(recordedMicros, to: &rows)
            rows.writeInteger(UInt8(ascii: "\t"))
            Self.appendBytea(previous, to: &rows)
            rows.writeInteger(UInt8(ascii: "\t"))
            Self.appendBytea(hash, to: &rows)
            rows.writeInteger(UInt8(ascii: "\n"))
            previous = hash
        }
        heads[stream] = (version, previous)
        events += write.events.count
    }

    /// Metadata as jsonb prints it; consecutive events mostly share theirs.
    private func renderedMetadata(_ metadata: EventMetadata) throws -> [UInt8] {
        if let cached = metadataText, cached.metadata == metadata { return cached.text }
        let text = try JSONBText.render(metadata.json)
        metadataText = (metadata, text)
        return text
    }

    private func refuseStoredStreams(_ streams: [String]) async throws {
        guard !streams.isEmpty else { return }
        let rows = try await connection.query("SELECT stream_id, version FROM streams WHERE stream_id = ANY(\(streams)) LIMIT 1", logger: logger)
        for try await (stream, version) in rows.decode((String, Int64).self) {
            throw EventStoreError.wrongExpectedVersion(stream: stream, expected: .noStream, actual: version)
        }
    }

    private static func mapped(_ error: PSQLError) -> any Error {
        if error.serverInfo?[.sqlState] == "23505" {
            return EventStoreError.importConflict(error.serverInfo?[.detail] ?? "an event or stream is already stored")
        }
        return error
    }

    // MARK: COPY text

    /// Microseconds since 1970 as PostgresNIO sends a `Date`: truncated
    /// microseconds since 2000, so an imported event keeps the instant an
    /// appended one would.
    static func microseconds(_ date: Date) -> Int64 { EventHash.microseconds(date) }

    /// COPY's text format: a backslash is the escape character. Control
    /// characters cannot occur (stream ids refuse them, jsonb escapes them).
    private static func appendCopyText(_ text: some StringProtocol, to rows: inout ByteBuffer) {
        appendCopyText(Array(text.utf8), to: &rows)
    }

    private static func appendCopyText(_ bytes: [UInt8], to rows: inout ByteBuffer) {
        guard bytes.contains(JSONBText.backslash) else { rows.writeBytes(bytes); return }
        for byte in bytes {
            if byte == JSONBText.backslash { rows.writeInteger(byte) }
            rows.writeInteger(byte)
        }
    }

    /// A bytea in hex, its backslash escaped for COPY.
    private static func appendBytea(_ bytes: [UInt8], to rows: inout ByteBuffer) {
        rows.writeWithUnsafeMutableBytes(minimumWritableBytes: 3 + 2 * bytes.count) { out in
            out[0] = JSONBText.backslash
            out[1] = JSONBText.backslash
            out[2] = UInt8(ascii: "x")
            JSONBText.hexDigits.withUnsafeBufferPointer { hex in
                for (index, byte) in bytes.enumerated() {
                    out[3 + 2 * index] = hex[Int(byte >> 4)]
                    out[4 + 2 * index] = hex[Int(byte & 0xF)]
                }
            }
            return 3 + 2 * bytes.count
        }
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00` from microseconds since 1970.
    private static func appendTimestamp(_ micros: Int64, to rows: inout ByteBuffer) throws {
        let (days, dayMicros) = micros.quotientAndRemainder(dividingBy: 86_400_000_000)
        let (day, inDay) = dayMicros < 0 ? (days - 1, dayMicros + 86_400_000_000) : (days, dayMicros)
        let (year, month, dayOfMonth) = CivilDays.date(day)
        guard (1...9_999).contains(year) else { throw EventStoreError.invalidPayload(reason: "time outside the years 1 to 9999") }
        let seconds = inDay / 1_000_000
        let text: StaticString = "0000-00-00 00:00:00.000000+00"
        rows.writeWithUnsafeMutableBytes(minimumWritableBytes: text.utf8CodeUnitCount) { out in
            out.copyMemory(from: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
            // Each field's digits, right-aligned over the zeros, ending before `end`.
            func put(_ value: Int64, endingBefore end: Int) {
                var (rest, at) = (value, end)
                while rest > 0 {
                    at -= 1
                    out[at] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
            }
            put(year, endingBefore: 4)
            put(month, endingBefore: 7)
            put(dayOfMonth, endingBefore: 10)
            put(seconds / 3_600, endingBefore: 13)
            put(seconds / 60 % 60, endingBefore: 16)
            put(seconds % 60, endingBefore: 19)
            put(inDay % 1_000_000, endingBefore: 26)
            return text.utf8CodeUnitCount
        }
    }
}
