import EventStore
import Foundation
import GrantDomain

/// A programme's past years to load into the store, as JSON Lines: one
/// event per line, each stream's events in order,
///
///     {"stream": "pool-<uuid>", "type": "PoolCreated", "schemaVersion": 1,
///      "occurredAt": "2024-01-02T09:00:00Z", "data": {...}, "metadata": {"actor": "..."}}
///
/// `schemaVersion` may be left out (1), and `metadata` too. Every payload
/// must decode as the event type it names. The whole file goes in through
/// ``EventStore/importHistory(recordedAt:_:)``: one transaction, hashed and
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
            var batch: [StreamWrite] = []
            var batched = 0
            var lineNumber = 0
            for try await line in Lines(file) {
                lineNumber += 1
                guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) else { continue }
                let (stream, event) = try parse(line, number: lineNumber)
                if let last = batch.last, last.stream == stream {
                    batch[batch.count - 1].events.append(event)
                } else {
                    let version = versions[stream.rawValue] ?? 0
                    batch.append(StreamWrite(stream: stream, expected: version == 0 ? .noStream : .exactly(version), events: [event]))
                }
                versions[stream.rawValue, default: 0] += 1
                batched += 1
                if batched >= batchEvents {
                    try await history.add(batch)
                    batch = []
                    batched = 0
                    progress(history.events)
                }
            }
            try await history.add(batch)
            progress(history.events)
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
