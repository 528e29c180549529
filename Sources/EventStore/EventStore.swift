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
    let appendQueue: AppendQueue

    public init(client: PostgresClient, configuration: Configuration = Configuration(), logger: Logger) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.appendSignal = AppendSignal()
        self.wakeups = Wakeups()
        self.appendQueue = AppendQueue()
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
        let prepared = try PreparedAppend(writes: writes, idempotency: idempotency, configuration: configuration)
        return try await appendQueue.append(prepared) { batch in await write(batch) }
    }

    /// Appends in order in one transaction, each all or nothing on its own:
    /// one that fails (a version clash, a reused key) leaves the others to
    /// commit. For appends decided one after another, each on the states the
    /// ones before it leave: a command handler deciding a queue of commands
    /// on one busy stream commits them together. An append that loaded a
    /// stream an append before it would have written, but did not, is
    /// refused with ``EventStoreError/precedingAppendNotWritten(stream:)``:
    /// it was decided on events that do not exist.
    public func appendTogether(_ appends: [(writes: [StreamWrite], idempotency: Idempotency?)]) async -> [Result<AppendResult, any Error>] {
        var results = [Result<AppendResult, any Error>?](repeating: nil, count: appends.count)
        var prepared: [(index: Int, append: PreparedAppend)] = []
        var unwritten = UnwrittenStreams()
        for (index, append) in appends.enumerated() {
            do {
                if let stream = unwritten.loadedBy(append.writes) { throw EventStoreError.precedingAppendNotWritten(stream: stream) }
                prepared.append((index, try PreparedAppend(writes: append.writes, idempotency: append.idempotency, configuration: configuration)))
            } catch {
                results[index] = .failure(error)
                unwritten.add(append.writes)
            }
        }
        for (place, result) in zip(prepared, await write(prepared.map(\.append), chained: true)) { results[place.index] = result }
        return results.map { $0! }
    }

    /// Appends inside a transaction the caller holds on `connection`, to
    /// write other tables atomically with the events. The caller commits;
    /// readers of all events see the events once it has.
    @discardableResult
    public func append(_ writes: [StreamWrite], idempotency: Idempotency? = nil, on connection: PostgresConnection) async throws -> AppendResult {
        let prepared = try PreparedAppend(writes: writes, idempotency: idempotency, configuration: configuration)
        do {
            let result = try await appendAlone(prepared, on: connection)
            announce()
            return result
        } catch let race as RacedAnotherAppend {
            throw race.refusal(of: writes)
        }
    }

    /// One batch of the append queue (or of ``appendTogether(_:)``,
    /// `chained`): a lone append as itself, several in one transaction. If
    /// the batch fails as a whole (a lost connection, a deadlock with
    /// another process's batch, a trigger refusing one append's event), each
    /// append is tried alone, so its error is its own.
    private func write(_ batch: [PreparedAppend], chained: Bool = false) async -> [Result<AppendResult, any Error>] {
        guard !batch.isEmpty else { return [] }
        var results = [Result<AppendResult, any Error>?](repeating: nil, count: batch.count)
        // A statement written to a connection the server has just closed (a restart) never completes in
        // PostgresNIO 1.33; the append fails soon after instead, and is tried again alone on a fresh connection.
        if batch.count > 1, let together = try? await client.withConnection({ connection in
            try await connection.statement { try await appendTogether(batch, chained: chained, on: connection) }
        }) {
            results = together
        }
        var unwritten = UnwrittenStreams()
        for index in batch.indices {
            if results[index] == nil {
                do {
                    if chained, let stream = unwritten.loadedBy(batch[index].writes) {
                        throw EventStoreError.precedingAppendNotWritten(stream: stream)
                    }
                    results[index] = .success(try await appendOnItsOwn(batch[index]))
                } catch {
                    results[index] = .failure(error)
                }
            }
            if chained, !results[index]!.wroteEvents { unwritten.add(batch[index].writes) }
        }
        let written = zip(batch, results).reduce(0) { sum, pair in pair.1!.wroteEvents ? sum + pair.0.eventIds.count : sum }
        if written > 0 {
            announce()
            // Looked up per batch, not cached: a counter made before the metrics system is bootstrapped would stay a no-op.
            Counter(label: "grantledger_events_appended_total").increment(by: written)
        }
        // Their ratio is the mean batch: how many appends a commit serves.
        Counter(label: "grantledger_append_batches_total").increment()
        Counter(label: "grantledger_append_batched_appends_total").increment(by: batch.count)
        return results.map { $0! }
    }

    /// Wakes this process's readers and the notifier: events were committed.
    private func announce() {
        appendSignal.signal()
        wakeups.wakeAll()
    }

    /// An append on a connection of its own. A stream it creates that
    /// another append created meanwhile fails the statement (the head or the
    /// first versions are taken); sent again, it finds the head and queues
    /// behind that append like any writer of the stream. Two lone appends
    /// creating two streams in opposite order may deadlock: PostgreSQL ends
    /// one, and it too is sent again.
    private func appendOnItsOwn(_ append: PreparedAppend) async throws -> AppendResult {
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { connection in
                    try await connection.statement { try await appendAlone(append, on: connection) }
                }
            } catch is RacedAnotherAppend where attempt < 4 {
                attempt += 1
            } catch let race as RacedAnotherAppend {
                throw race.refusal(of: append.writes)
            }
        }
    }

    /// An append as a batch of its own, its refusal thrown: a version clash,
    /// a reused key or a payload PostgreSQL does not take comes as its row;
    /// a failure of the statement (a race with another append, a lost
    /// connection) as an error.
    private func appendAlone(_ append: PreparedAppend, on connection: PostgresConnection) async throws -> AppendResult {
        let results: [Result<AppendResult, any Error>?]
        do {
            results = try await appendTogether([append], chained: false, on: connection)
        } catch let error as PSQLError where RacedAnotherAppend.isRace(error) {
            throw RacedAnotherAppend()
        } catch let error as PSQLError {
            // Refused for what it holds (an operator's trigger or constraint): named by its SQLSTATE, not PSQLError's
            // generic text. A shutdown, a lost or cancelled statement and the like stay PostgresNIO's errors.
            guard let state = error.serverInfo?[.sqlState], UnnamedAppendRefusal.isRefusal(state) else { throw error }
            throw UnnamedAppendRefusal(state: state, message: error.serverInfo?[.message], detail: error.serverInfo?[.detail])
        }
        guard let result = results[0] else { throw AppendWithoutOutcome() }
        return try result.get()
    }

    /// PostgreSQL refused an append with an error the store has no name
    /// for (a trigger of the operator's, a constraint added by hand): its
    /// SQLSTATE and words as the server gave them, whether append_events
    /// answered it as the append's row or the statement failed (in a batch,
    /// the append is then tried alone before it is the writer's).
    struct UnnamedAppendRefusal: Error, CustomStringConvertible {
        var state: String
        var message: String?
        var detail: String?

        /// Data (22), integrity (23), access or syntax (42) and PL/pgSQL (P0)
        /// errors, and states of a class of one's own: what the append held or
        /// the schema forbids, not the connection's or the server's state.
        static func isRefusal(_ state: String) -> Bool {
            let stateClass = String(state.prefix(2))
            if ["22", "23", "42", "P0"].contains(stateClass) { return true }
            // Every other standard class (all digits, or F0, HV, XX) is the connection's or the server's state.
            return !(stateClass.allSatisfy(\.isNumber) || ["F0", "HV", "XX"].contains(stateClass))
        }

        var description: String {
            "PostgreSQL refused the append with SQLSTATE \(state): \(message ?? "no message")" + (detail.map { " (\($0))" } ?? "")
        }
    }

    /// Streams are created by the append that writes their first events, at
    /// its end: another append creating one meanwhile fails the statement,
    /// and so may a deadlock between two such appends.
    private struct RacedAnotherAppend: Error {
        static func isRace(_ error: PSQLError) -> Bool {
            let constraint = error.serverInfo?[.constraintName]
            return switch error.serverInfo?[.sqlState] {
            case "23505": constraint == "streams_pkey" || constraint == "events_stream_version_unique"
            case "40P01": true
            default: false
            }
        }

        /// To the writer whose transaction this was: its stream was not where it expected.
        func refusal(of writes: [StreamWrite]) -> EventStoreError {
            let stream = writes.first { $0.expected != .any }?.stream.rawValue ?? writes[0].stream.rawValue
            let expected = writes.first { $0.stream.rawValue == stream }?.expected ?? .any
            return .wrongExpectedVersion(stream: stream, expected: expected, actual: nil)
        }
    }

    private struct AppendWithoutOutcome: Error, CustomStringConvertible {
        var description: String { "append_events answered without this append's row" }
    }

    /// Each append's result or error; nil for an append with no row.
    private func appendTogether(_ batch: [PreparedAppend], chained: Bool, on connection: PostgresConnection) async throws -> [Result<AppendResult, any Error>?] {
        var results = [Result<AppendResult, any Error>?](repeating: nil, count: batch.count)
        for try await (index, replayed, transactionId, first, last, versions, state, detail, message)
            in try await connection.execute(PreparedAppend.together(batch, chained: chained), logger: logger) {
            let append = batch[Int(index) - 1]
            if let replayed, let transactionId, let first, let last, let versions {
                results[Int(index) - 1] = .success(AppendResult(
                    replayed: replayed, transactionId: transactionId, firstPosition: first, lastPosition: last,
                    streamVersions: Dictionary(uniqueKeysWithValues: zip(append.writes.map(\.stream), versions))))
            } else if let state {
                results[Int(index) - 1] = .failure(try Self.appendError(state: state, detail: detail, message: message, writes: append.writes))
            }
        }
        return results
    }

    /// Appends events to a single stream.
    @discardableResult
    public func append(
        to stream: StreamID, expected: ExpectedVersion, events: [NewEvent], idempotencyKey: String? = nil
    ) async throws -> AppendResult {
        try await append([StreamWrite(stream: stream, expected: expected, events: events)], idempotencyKey: idempotencyKey)
    }

    /// The store's error for what PostgreSQL refused an append with.
    private static func appendError(state: String, detail: String?, message: String?, writes: [StreamWrite]) throws -> any Error {
        switch state {
        case "GL001":
            struct Clash: Decodable { var stream: String; var actual: Int64 }
            let clash = try JSONDecoder().decode(Clash.self, from: Data((detail ?? "").utf8))
            let expected = writes.first { $0.stream.rawValue == clash.stream }?.expected ?? .any
            return EventStoreError.wrongExpectedVersion(stream: clash.stream, expected: expected, actual: clash.actual)
        case "GL002":
            return EventStoreError.idempotencyKeyReused(key: detail ?? "")
        case "GL003":
            return EventStoreError.precedingAppendNotWritten(stream: detail ?? "")
        case "22P02", "22P05", "22032":
            return EventStoreError.invalidPayload(reason: message ?? "rejected by PostgreSQL")
        default:
            return UnnamedAppendRefusal(state: state, message: message, detail: detail)
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
        try await client.collect(ReadStream(stream: stream.rawValue, fromVersion: version, limit: Int64(limit)), logger: logger)
    }

    /// Several streams' events, each from its own version on, in one round
    /// trip: keyed by stream, each in stream order (streams without events
    /// from there are absent).
    public func readStreams(_ streams: [(stream: StreamID, from: Int64)]) async throws -> [String: [RecordedEvent]] {
        var events: [String: [RecordedEvent]] = [:]
        guard !streams.isEmpty else { return events }
        let statement = ReadStreams(streams: streams.map(\.stream.rawValue), fromVersions: streams.map(\.from))
        for event in try await client.collect(statement, logger: logger) {
            events[event.streamId, default: []].append(event)
        }
        return events
    }

    /// The streams of a category (`user` for `user-…`), by name: a scan
    /// of the stream heads, for audit questions across a category, not for
    /// a hot path. A category must not be another's prefix with `-`.
    public func streams(category: String) async throws -> [StreamID] {
        var streams: [StreamID] = []
        for try await name in try await client.query("""
            SELECT stream_id FROM streams WHERE starts_with(stream_id, \(category + "-")) ORDER BY stream_id
            """, logger: logger).decode(String.self) {
            streams.append(try StreamID(name))
        }
        return streams
    }

    /// Up to `limit` events after `checkpoint`, in commit order. Only events
    /// of transactions older than every transaction still running are
    /// returned, so an event that commits later can never land behind a
    /// checkpoint a reader already passed.
    public func readAll(after checkpoint: Checkpoint, limit: Int) async throws -> [RecordedEvent] {
        try await client.collect(ReadAll(after: checkpoint, limit: Int64(limit)), logger: logger)
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
        for (place, event) in try await client.collect(ReadAllOfTypes(after: checkpoint, limit: Int64(limit), types: types.sorted()), logger: logger) {
            if let event { page.events.append(event) }
            page.through = place
            page.rowsRead += 1
        }
        return page
    }

    /// The newest position in the store, and how far readers of all events
    /// are held back by transactions still running.
    public func head() async throws -> (position: Int64, readable: Checkpoint?) {
        let rows = try await client.query("""
            SELECT coalesce((SELECT max(global_position) FROM events), 0),
                   (SELECT transaction_id::text::int8 FROM events
                     WHERE transaction_id < (SELECT readable_horizon(pg_current_snapshot()))
                     ORDER BY transaction_id DESC, global_position DESC LIMIT 1),
                   (SELECT global_position FROM events
                     WHERE transaction_id < (SELECT readable_horizon(pg_current_snapshot()))
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

/// Appends decided one after another: the streams that appends before were
/// to write but did not.
private struct UnwrittenStreams {
    private var streams: Set<StreamID> = []

    /// A stream of `writes` (written or only checked) that is one of them.
    func loadedBy(_ writes: [StreamWrite]) -> String? {
        streams.isEmpty ? nil : writes.first { streams.contains($0.stream) }?.stream.rawValue
    }

    mutating func add(_ writes: [StreamWrite]) {
        for write in writes where !write.events.isEmpty { streams.insert(write.stream) }
    }
}
