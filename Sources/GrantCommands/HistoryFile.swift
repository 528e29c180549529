import EventCoding
import EventStore
import Foundation
import GrantDomain
import PostgresNIO

/// A programme's past years to load into the store, as JSON Lines: one
/// event per line, each stream's events in order,
///
///     {"stream": "pool-<uuid>", "type": "PoolCreated", "schemaVersion": 1,
///      "occurredAt": "2024-01-02T09:00:00Z", "data": {...}, "metadata": {"actor": "..."}}
///
/// `schemaVersion` may be left out (1), and `metadata` too. Every payload
/// must decode as the event type it names. The whole file goes in through
/// ``EventStore/importHistory(_:)``: one transaction, hashed and
/// chained like any append, only into streams the store does not hold yet;
/// any fault leaves the store as it was.
public enum HistoryFile {
    /// A line that is not an event, named by its number (from 1).
    public struct LineError: Error, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// Imports the file at `url`, handing the store `batchEvents` events at
    /// a time; `progress` gets the number of events read so far.
    public static func importFile(_ url: URL, into store: EventStore, batchEvents: Int = 2_000,
                                  progress: (Int) -> Void = { _ in }) async throws -> ImportSummary {
        guard let file = FileHandle(forReadingAtPath: url.path) else {
            throw LineError(line: 0, reason: "\(url.path) cannot be read")
        }
        defer { try? file.close() }
        return try await store.importHistory { history in
            var versions: [String: Int64] = [:]
            var batch = Batch()
            var lineNumber = 0
            for try await line in Lines(file) {
                lineNumber += 1
                guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) else { continue }
                let (stream, event) = try parse(line, number: lineNumber)
                batch.add(event, to: stream, at: versions[stream.rawValue] ?? 0, line: lineNumber)
                versions[stream.rawValue, default: 0] += 1
                if batch.events >= batchEvents {
                    try await batch.write(to: history)
                    batch = Batch()
                    progress(history.events)
                }
            }
            try await batch.write(to: history)
            progress(history.events)
        }
    }

    /// Events read but not yet handed to the import, gathered per stream:
    /// a file in commit order interleaves streams, and one append takes
    /// each stream once, its events in the order the file gives them.
    struct Batch {
        var writes: [StreamWrite] = []
        var index: [String: Int] = [:]
        /// The line each stream's first event of the batch came from.
        var lines: [String: Int] = [:]
        var events = 0

        mutating func add(_ event: NewEvent, to stream: StreamID, at version: Int64, line: Int) {
            if let at = index[stream.rawValue] {
                writes[at].events.append(event)
            } else {
                index[stream.rawValue] = writes.count
                lines[stream.rawValue] = line
                writes.append(StreamWrite(stream: stream, expected: version == 0 ? .noStream : .exactly(version), events: [event]))
            }
            events += 1
        }

        /// Hands the batch over; a fault the store finds in one stream is named by that stream's line.
        func write(to history: HistoryImport) async throws {
            do {
                try await history.add(writes)
            } catch let error as EventStoreError {
                switch error {
                case .wrongExpectedVersion(let stream, _, _), .duplicateStream(let stream), .invalidStreamID(let stream, _),
                     .precedingAppendNotWritten(let stream):
                    throw LineError(line: lines[stream] ?? 0, reason: "stream \(stream): \(error)")
                default:
                    throw LineError(line: lines.values.min() ?? 0, reason: "\(error)")
                }
            }
        }
    }

    static func parse(_ line: [UInt8], number: Int) throws -> (StreamID, NewEvent) {
        func fail(_ reason: String) -> LineError { LineError(line: number, reason: reason) }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        guard let name = object["stream"] as? String else { throw fail("stream: a stream name is required") }
        let stream: StreamID
        do { stream = try StreamID(name) } catch { throw fail("stream: \(error)") }
        guard let type = object["type"] as? String else { throw fail("type: an event type is required") }
        guard EventCoding.allEventTypes.contains(where: { $0.eventType == type }) else { throw fail("type: \(type.prefix(60)) is not an event type") }
        var schemaVersion: Int32 = 1
        if let version = object["schemaVersion"] {
            guard let number = version as? Int, let exact = Int32(exactly: number), exact >= 1 else {
                throw fail("schemaVersion: a positive integer is required")
            }
            schemaVersion = exact
        }
        guard let occurredText = object["occurredAt"] as? String else { throw fail("occurredAt: an RFC 3339 time is required") }
        let occurredAt: Date
        switch CivilTime.parse(occurredText) {
        case .success(let time): occurredAt = time.date
        case .failure(let invalid): throw fail("occurredAt: \(invalid.reason)")
        }
        guard let payload = object["data"] as? [String: Any] else { throw fail("data: a JSON object is required") }
        let data = String(decoding: try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys, .withoutEscapingSlashes]),
                          as: UTF8.self)
        do {
            let event = try EventCoding.decode(type: type, schemaVersion: schemaVersion, data: data, among: EventCoding.allEventTypes)
            if let (field, reason) = Limits.outOfRange(event) { throw fail("data.\(field): \(reason)") }
        } catch let error as LineError {
            throw error
        } catch let error as DecodingError {
            throw fail("data is not a \(type): \(describe(error))")
        } catch {
            throw fail("data is not a \(type): \(error)")
        }
        var metadata = EventMetadata()
        if let given = object["metadata"] {
            guard let fields = given as? [String: Any],
                  let decoded = try? JSONDecoder().decode(EventMetadata.self, from: JSONSerialization.data(withJSONObject: fields)) else {
                throw fail("metadata: an object of actor, role, command, correlationId, causationId is required")
            }
            metadata = decoded
        }
        return (stream, NewEvent(type: type, schemaVersion: schemaVersion, data: data, metadata: metadata, occurredAt: occurredAt))
    }

    /// Writes every event readable now to `output` in commit order, one line
    /// each, in the form ``importFile(_:into:batchEvents:progress:)`` reads:
    /// an empty store imports the file and verifies. Payloads and metadata
    /// go out exactly as stored; `occurredAt` is kept, the recording time
    /// becomes the import's. `progress` gets the number of events written.
    @discardableResult
    public static func export(from store: EventStore, to output: FileHandle, pageSize: Int = 5_000,
                              progress: (Int) -> Void = { _ in }) async throws -> Int {
        // Every transaction that had ended when the export began has an id
        // below this; the export ends once all of them are readable and read.
        let began = try await transactionBound(store, "pg_snapshot_xmax(pg_current_snapshot())")
        var checkpoint = Checkpoint.start
        var written = 0
        while true {
            let page = try await store.readPage(after: checkpoint, limit: pageSize)
            guard let through = page.through else {
                if try await nothingLeft(store, after: checkpoint, before: began) { break }
                try await Task.sleep(for: .milliseconds(100))  // older transactions still open hold readers back
                continue
            }
            var text = ""
            text.reserveCapacity(page.events.count * 512)
            for event in page.events {
                text += #"{"stream":"# + quoted(event.streamId) + #","type":"# + quoted(event.type)
                    + #","schemaVersion":\#(event.schemaVersion),"occurredAt":"\#(EventCoding.formatTime(event.occurredAt))","data":"#
                    + event.data + #","metadata":"# + event.metadata + "}\n"
            }
            try output.write(contentsOf: Data(text.utf8))
            written += page.events.count
            progress(written)
            checkpoint = through
        }
        return written
    }

    private static func transactionBound(_ store: EventStore, _ function: String) async throws -> Int64 {
        let rows = try await store.client.query(PostgresQuery(unsafeSQL: "SELECT \(function)::text::int8"), logger: store.logger)
        for try await bound in rows.decode(Int64.self) { return bound }
        return 0
    }

    /// True when no transaction older than `began` is still appending and none of their events lies after `checkpoint`.
    private static func nothingLeft(_ store: EventStore, after checkpoint: Checkpoint, before began: Int64) async throws -> Bool {
        let rows = try await store.client.query("""
            SELECT readable_horizon(pg_current_snapshot())::text::int8 >= \(began)
               AND NOT EXISTS (SELECT 1 FROM events WHERE (transaction_id, global_position) > (\(String(checkpoint.transactionId))::xid8, \(checkpoint.position))
                                                      AND transaction_id < \(String(began))::xid8)
            """, logger: store.logger)
        for try await done in rows.decode(Bool.self) { return done }
        return false
    }

    /// A JSON string of printable ASCII, as stream names and event types are.
    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// "amount.currency: DDK is not a supported ..." from a DecodingError.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingPrefix(".").description
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// The lines of a file as bytes, read a megabyte at a time.
private struct Lines: AsyncSequence {
    typealias Element = [UInt8]
    let file: FileHandle

    init(_ file: FileHandle) { self.file = file }

    struct AsyncIterator: AsyncIteratorProtocol {
        let file: FileHandle
        var buffer: [UInt8] = []
        var start = 0
        var ended = false

        mutating func next() async throws -> [UInt8]? {
            while true {
                if let newline = buffer[start...].firstIndex(of: 0x0A) {
                    defer { start = newline + 1 }
                    return Array(buffer[start..<newline])
                }
                if ended {
                    guard start < buffer.count else { return nil }
                    defer { start = buffer.count }
                    return Array(buffer[start...])
                }
                buffer.removeFirst(start)
                start = 0
                let chunk = try file.read(upToCount: 1 << 20) ?? Data()
                if chunk.isEmpty { ended = true } else { buffer.append(contentsOf: chunk) }
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(file: file) }
}
