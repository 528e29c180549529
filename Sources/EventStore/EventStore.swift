import Crypto
import Foundation
import Logging
import Metrics
import PostgresNIO

/// The PostgreSQL event store: atomic multi-stream appends with expected
/// versions and idempotency keys, stream reads, and reads of all events in
/// commit order that never skip an event committed late.
///
/// Row loops run in nonisolated functions: iterating rows on an actor costs an
/// executor hop per row.
public struct EventStore: Sendable {
    public struct Configuration: Sendable {
        /// The largest payload plus metadata of one event, in bytes.
        public var maximumPayloadBytes: Int
        /// The channel appends are announced on.
        public var notificationChannel: String

        public init(maximumPayloadBytes: Int = 1 << 20, notificationChannel: String = "grantledger_events") {
            self.maximumPayloadBytes = maximumPayloadBytes
            self.notificationChannel = notificationChannel
        }
    }

    /// The longest event type name the store accepts.
    public static let maximumEventTypeLength = 100
    /// The longest idempotency key the store accepts.
    public static let maximumIdempotencyKeyLength = 200

    public let client: PostgresClient
    public let configuration: Configuration
    public let logger: Logger
    let appendSignal: AppendSignal
    let wakeups: Wakeups

    public init(client: PostgresClient, configuration: Configuration = Configuration(), logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.appendSignal = AppendSignal()
        self.wakeups = Wakeups()
    }

    // MARK: Append

    /// Appends to one or more streams atomically. Every stream's expected
    /// version is checked before anything is written; a clash on any stream
    /// writes nothing and throws ``EventStoreError/wrongExpectedVersion(stream:expected:actual:)``.
    ///
    /// With an idempotency key, a second append with the same key and content
    /// writes nothing and returns the first result; other content under the
    /// same key throws ``EventStoreError/idempotencyKeyReused(key:)``.
    @discardableResult
    public func append(_ writes: [StreamWrite], idempotencyKey: String? = nil) async throws -> AppendResult {
        try await append(writes, idempotency: idempotencyKey.map { Idempotency(key: $0) })
    }

    /// Appends with an idempotency key whose fingerprint the caller may
    /// supply: a command handler fingerprints the command, not the events it
    /// decided, since a retry decides against newer state.
    @discardableResult
    public func append(_ writes: [StreamWrite], idempotency: Idempotency?) async throws -> AppendResult {
        // One statement in autocommit: one round trip, no BEGIN/COMMIT.
        let result = try await client.withConnection { connection in
            try await append(writes, idempotency: idempotency, on: connection)
        }
        if !result.replayed {
            // Looked up per append, not cached: a counter made before the metrics system is bootstrapped would stay a no-op.
            Counter(label: "grantledger_events_appended_total").increment(by: writes.reduce(0) { $0 + $1.events.count })
        }
        return result
    }

    /// Appends inside a transaction the caller holds on `connection`, to
    /// write other tables atomically with the events. The caller commits;
    /// readers of all events see the events once it has.
    @discardableResult
    public func append(_ writes: [StreamWrite], idempotency: Idempotency? = nil, on connection: PostgresConnection) async throws -> AppendResult {
        let batch = try AppendBatch(writes: writes, idempotency: idempotency, configuration: configuration)
        do {
            for try await (replayed, transactionId, first, last, versions)
                in try await connection.query(batch.query, logger: logger).decode((Bool, Int64, Int64, Int64, [Int64]).self) {
                appendSignal.signal()
                wakeups.wakeAll()
                return AppendResult(
                    replayed: replayed, transactionId: transactionId, firstPosition: first, lastPosition: last,
                    streamVersions: Dictionary(uniqueKeysWithValues: zip(writes.map(\.stream), versions)))
            }
        } catch let error as PSQLError {
            throw try mapAppendError(error, writes: writes)
        }
        preconditionFailure("append_events returned no row")
    }


    /// Appends events to a single stream.
    @discardableResult
    public func append(
        to stream: StreamID, expected: ExpectedVersion, events: [NewEvent], idempotencyKey: String? = nil
    ) async throws -> AppendResult {
        try await append([StreamWrite(stream: stream, expected: expected, events: events)], idempotencyKey: idempotencyKey)
    }

    private func mapAppendError(_ error: PSQLError, writes: [StreamWrite]) throws -> any Error {
        guard let state = error.serverInfo?[.sqlState] else { return error }
        let detail = error.serverInfo?[.detail] ?? ""
        switch state {
        case "GL001":
            struct Clash: Decodable { var stream: String; var actual: Int64 }
            let clash = try JSONDecoder().decode(Clash.self, from: Data(detail.utf8))
            let expected = writes.first { $0.stream.rawValue == clash.stream }?.expected ?? .any
            return EventStoreError.wrongExpectedVersion(stream: clash.stream, expected: expected, actual: clash.actual)
        case "GL002":
            return EventStoreError.idempotencyKeyReused(key: detail)
        case "23505" where error.serverInfo?[.constraintName] == "streams_pkey":
            // Two appends created the same stream at once; this one lost.
            let stream = writes.first { $0.expected != .any }?.stream.rawValue ?? writes[0].stream.rawValue
            let expected = writes.first { $0.stream.rawValue == stream }?.expected ?? .any
            return EventStoreError.wrongExpectedVersion(stream: stream, expected: expected, actual: nil)
        case "22P02", "22P05", "22032":
            return EventStoreError.invalidPayload(reason: error.serverInfo?[.message] ?? "rejected by PostgreSQL")
        default:
            return error
        }
    }

    /// The result of the append that used `key`, with the fingerprint it was
    /// used with, if any append did.
    public func idempotentResult(for key: String) async throws -> (fingerprint: Data, result: AppendResult)? {
        let rows = try await client.query("""
            SELECT fingerprint, (result ->> 'transactionId')::int8, (result ->> 'firstPosition')::int8,
                   (result ->> 'lastPosition')::int8
            FROM idempotency_keys WHERE key = \(key) AND result IS NOT NULL
            """, logger: logger)
        for try await (fingerprint, transaction, first, last) in rows.decode((Data, Int64, Int64, Int64).self) {
            return (fingerprint, AppendResult(replayed: true, transactionId: transaction, firstPosition: first, lastPosition: last, streamVersions: [:]))
        }
        return nil
    }

    // MARK: Read

    /// A stream's events from `version` on, in stream order.
    public func readStream(_ stream: StreamID, from version: Int64 = 1, limit: Int = Int(Int32.max)) async throws -> [RecordedEvent] {
        try await collect(client.execute(ReadStream(stream: stream.rawValue, fromVersion: version, limit: Int64(limit)), logger: logger))
    }

    /// Several streams' events, each from its own version on, in one round
    /// trip: keyed by stream, each in stream order (streams without events
    /// from there are absent).
    public func readStreams(_ streams: [(stream: StreamID, from: Int64)]) async throws -> [String: [RecordedEvent]] {
        var events: [String: [RecordedEvent]] = [:]
        guard !streams.isEmpty else { return events }
        let statement = ReadStreams(streams: streams.map(\.stream.rawValue), fromVersions: streams.map(\.from))
        for try await event in try await client.execute(statement, logger: logger) {
            events[event.streamId, default: []].append(event)
        }
        return events
    }

    /// Up to `limit` events after `checkpoint`, in commit order. Only events
    /// of transactions older than every transaction still running are
    /// returned, so an event that commits later can never land behind a
    /// checkpoint a reader already passed.
    public func readAll(after checkpoint: Checkpoint, limit: Int) async throws -> [RecordedEvent] {
        try await collect(client.execute(ReadAll(after: checkpoint, limit: Int64(limit)), logger: logger))
    }

    /// Up to `limit` events after `checkpoint` in commit order, as
    /// ``readAll(after:limit:)`` reads them, but only events of `types` come
    /// back (nil: all); the others only move the page's end.
    public func readPage(after checkpoint: Checkpoint, limit: Int, types: Set<String>? = nil) async throws -> EventPage {
        guard let types else {
            let events = try await readAll(after: checkpoint, limit: limit)
            return EventPage(events: events, through: events.last?.checkpoint, rowsRead: events.count)
        }
        var page = EventPage(events: [], through: nil, rowsRead: 0)
        for try await (place, event) in try await client.execute(
            ReadAllOfTypes(after: checkpoint, limit: Int64(limit), types: types.sorted()), logger: logger
        ) {
            if let event { page.events.append(event) }
            page.through = place
            page.rowsRead += 1
        }
        return page
    }

    private func collect<Rows: AsyncSequence>(_ rows: Rows) async throws -> [RecordedEvent] where Rows.Element == RecordedEvent {
        var events: [RecordedEvent] = []
        for try await event in rows {
            events.append(event)
        }
        return events
    }

    /// The newest position in the store, and how far readers of all events
    /// are held back by transactions still running.
    public func head() async throws -> (position: Int64, readable: Checkpoint?) {
        let rows = try await client.query("""
            SELECT coalesce((SELECT max(global_position) FROM events), 0),
                   (SELECT transaction_id::text::int8 FROM events
                     WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                     ORDER BY transaction_id DESC, global_position DESC LIMIT 1),
                   (SELECT global_position FROM events
                     WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                     ORDER BY transaction_id DESC, global_position DESC LIMIT 1)
            """, logger: logger)
        for try await (position, transaction, readable) in rows.decode((Int64, Int64?, Int64?).self) {
            let checkpoint = transaction.flatMap { tx in readable.map { Checkpoint(transactionId: tx, position: $0) } }
            return (position, checkpoint)
        }
        return (0, nil)
    }

    // MARK: Notifications

    /// Announces appends on the notification channel, at most one
    /// notification in flight, until cancelled. Appends do not notify inside
    /// their own transaction: PostgreSQL makes every notifying transaction
    /// commit one at a time, which would serialise all writers.
    public func runNotifier() async {
        for await _ in appendSignal.signals {
            do {
                try await client.run("SELECT pg_notify(\(configuration.notificationChannel), '')", logger: logger)
            } catch {
                logger.warning("could not notify readers of new events; they will poll", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// Reads all events after `checkpoint` in commit order, page by page (the
    /// next read while `handle` works on one; only `types` whole, see
    /// ``readPage(after:limit:types:)``), then waits for new ones, until
    /// cancelled. Wakes on an append in this process, on a notification from
    /// another (when ``runListener(_:retryAfter:)`` runs), and polls, so a
    /// lost notification only delays.
    public func tail(
        after checkpoint: Checkpoint,
        batchSize: Int = 5_000,
        types: Set<String>? = nil,
        pollInterval: Duration = .milliseconds(500),
        _ handle: @escaping @Sendable (EventPage) async throws -> Void
    ) async throws {
        let (id, wakeups, wake) = self.wakeups.subscribe()
        defer { self.wakeups.unsubscribe(id) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: pollInterval)
                    wake.yield()
                }
            }
            group.addTask {
                var position = checkpoint
                var reader = PageReader(store: self, pageSize: batchSize, types: types)
                wake.yield()
                for await _ in wakeups {
                    while true {
                        let page = try await reader.page(after: position)
                        guard let through = page.through else { break }
                        try await handle(page)
                        position = through
                    }
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

/// Coalesces "something was appended" into at most one pending signal.
final class AppendSignal: Sendable {
    let signals: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (signals, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func signal() { continuation.yield() }
}
