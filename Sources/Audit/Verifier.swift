import EventStore
import Foundation
import PostgresNIO

/// What verification found: how much it checked, and every broken link
/// (the first one first), each naming the position, stream and what differs.
public struct VerificationReport: Encodable, Sendable {
    public struct BrokenLink: Encodable, Sendable, Hashable {
        public var position: Int64
        public var streamId: String
        public var streamVersion: Int64?
        /// `content-hash`, `previous-hash`, `version-gap`, `stream-head`, `ledger-missing`, `ledger-orphan`, `ledger-hash`, `ledger-chain`.
        public var check: String
        public var detail: String
    }
    public var eventsChecked: Int64 = 0
    public var streamsChecked: Int64 = 0
    public var ledgerEntriesChecked: Int64 = 0
    public var ok: Bool { brokenLinks.isEmpty }
    public var firstBrokenLink: BrokenLink? { brokenLinks.min { ($0.position, $0.check) < ($1.position, $1.check) } }
    /// Up to `Verifier.reportLimit` of them.
    public var brokenLinks: [BrokenLink] = []
    public var brokenLinkCount: Int64 = 0

    enum CodingKeys: String, CodingKey { case ok, eventsChecked, streamsChecked, ledgerEntriesChecked, firstBrokenLink, brokenLinks, brokenLinkCount }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(eventsChecked, forKey: .eventsChecked)
        try container.encode(streamsChecked, forKey: .streamsChecked)
        try container.encode(ledgerEntriesChecked, forKey: .ledgerEntriesChecked)
        try container.encodeIfPresent(firstBrokenLink, forKey: .firstBrokenLink)
        try container.encode(brokenLinks.sorted { ($0.position, $0.check) < ($1.position, $1.check) }, forKey: .brokenLinks)
        try container.encode(brokenLinkCount, forKey: .brokenLinkCount)
    }

    mutating func merge(_ other: VerificationReport) {
        eventsChecked += other.eventsChecked
        brokenLinkCount += other.brokenLinkCount
        // Keep the earliest: the first broken link is what an auditor looks at first.
        brokenLinks = Array((brokenLinks + other.brokenLinks).sorted { ($0.position, $0.check) < ($1.position, $1.check) }.prefix(Verifier.reportLimit))
    }

    mutating func record(_ link: BrokenLink) {
        brokenLinkCount += 1
        // Rows arrive in no particular order; merge keeps the earliest of these.
        if brokenLinks.count < 10 * Verifier.reportLimit { brokenLinks.append(link) }
    }
}

/// Recomputes every event's hash from its stored columns, checks each
/// stream's chain and head, and checks the audit ledger (the chain over all
/// events in commit order) against the events: an UPDATE, DELETE or INSERT
/// made behind the event store's back breaks at least one link.
public struct Verifier: Sendable {
    public static let reportLimit = 100
    public let store: EventStore
    public var chunkSize: Int64

    public init(store: EventStore, chunkSize: Int64 = 50_000) {
        self.store = store
        self.chunkSize = chunkSize
    }

    /// Verifies everything; `progress` gets (events checked so far, events in all) after each chunk.
    /// Chunks run on as many connections as there are cores: hashing is PostgreSQL's CPU work.
    public func verify(progress: @Sendable (Int64, Int64) -> Void = { _, _ in }) async throws -> VerificationReport {
        let total = try await eventCount()
        // Chunks of whole streams, so each event's predecessor is in its chunk.
        var chunks: [(from: String, to: String)] = []
        var from = ""
        while let to = try await streamBoundary(after: from) {
            chunks.append((from, to))
            from = to
        }
        // The heads and the ledger are checked meanwhile, each in one statement.
        async let heads = checkStreamHeads()
        async let ledger = checkLedger()
        var report = VerificationReport()
        let parallel = max(1, ProcessInfo.processInfo.activeProcessorCount)
        try await withThrowingTaskGroup(of: VerificationReport.self) { group in
            var next = 0
            func start() {
                guard next < chunks.count else { return }
                let chunk = chunks[next]
                next += 1
                group.addTask {
                    var part = VerificationReport()
                    try await checkEvents(streamsAfter: chunk.from, upTo: chunk.to, into: &part)
                    return part
                }
            }
            for _ in 0..<parallel { start() }
            while let part = try await group.next() {
                report.merge(part)
                progress(report.eventsChecked, total)
                start()
            }
        }
        let (headsReport, ledgerReport) = try await (heads, ledger)
        report.merge(headsReport)
        report.merge(ledgerReport)
        report.streamsChecked = headsReport.streamsChecked
        report.ledgerEntriesChecked = ledgerReport.ledgerEntriesChecked
        return report
    }

    private func eventCount() async throws -> Int64 {
        for try await count in try await store.client.query("SELECT count(*) FROM events", logger: store.logger).decode(Int64.self) { return count }
        return 0
    }

    /// The stream id about `chunkSize` events past `from`, or the last one; nil when none is left.
    private func streamBoundary(after from: String) async throws -> String? {
        let rows = try await store.client.query("""
            SELECT coalesce(
                (SELECT stream_id FROM events WHERE stream_id > \(from) ORDER BY stream_id, stream_version OFFSET \(chunkSize) LIMIT 1),
                (SELECT max(stream_id) FROM events WHERE stream_id > \(from)))
            """, logger: store.logger)
        for try await boundary in rows.decode(String?.self) { return boundary }
        return nil
    }

    /// Each event's hash against its content, and its previous hash against
    /// its predecessor in the stream (which must be one version below).
    private func checkEvents(streamsAfter from: String, upTo to: String, into report: inout VerificationReport) async throws {
        // Only the broken rows come back, then one row with the count (position -1).
        // The chunk is read in stream order through the (stream_id,
        // stream_version) index: estimating a chunk as a few percent of a
        // big table, the planner would otherwise scan the whole table for
        // every chunk and sort the chunk's wide rows on disk.
        report.merge(try await store.client.withConnection { connection in
            try await connection.query("BEGIN READ ONLY", logger: store.logger)
            do {
                try await connection.query("""
                    SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)
                    """, logger: store.logger)
                var part = VerificationReport()
                try await checkEvents(streamsAfter: from, upTo: to, on: connection, into: &part)
                try await connection.query("COMMIT", logger: store.logger)
                return part
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: store.logger)
                throw error
            }
        })
    }

    private func checkEvents(streamsAfter from: String, upTo to: String, on connection: PostgresConnection,
                             into report: inout VerificationReport) async throws {
        let rows = try await connection.query("""
            WITH checked AS MATERIALIZED (
                SELECT global_position, stream_id, stream_version,
                       hash = sha256(previous_hash || event_content(event_id, stream_id, stream_version, event_type,
                                                                    schema_version, occurred_at, recorded_at, data, metadata)) AS content_ok,
                       stream_version = coalesce(lag(stream_version) OVER stream, 0) + 1 AS predecessor_ok,
                       previous_hash = coalesce(lag(hash) OVER stream, ''::bytea) AS link_ok
                FROM events
                WHERE stream_id > \(from) AND stream_id <= \(to)
                WINDOW stream AS (PARTITION BY stream_id ORDER BY stream_version))
            SELECT global_position, stream_id, stream_version, content_ok, predecessor_ok, link_ok FROM checked
            WHERE NOT (content_ok AND predecessor_ok AND link_ok)
            UNION ALL
            SELECT -1, '', count(*), true, true, true FROM checked
            """, logger: store.logger)
        for try await (position, stream, version, contentOK, predecessorOK, linkOK) in rows.decode((Int64, String, Int64, Bool, Bool, Bool).self) {
            if position == -1 {
                report.eventsChecked += version
                continue
            }
            if !contentOK {
                report.record(.init(position: position, streamId: stream, streamVersion: version, check: "content-hash",
                                    detail: "the stored hash does not match the event's data, metadata and times: the row was altered"))
            }
            if !predecessorOK {
                report.record(.init(position: position, streamId: stream, streamVersion: version, check: "version-gap",
                                    detail: "the version before \(version) of \(stream) is missing: an event was deleted"))
            } else if !linkOK {
                report.record(.init(position: position, streamId: stream, streamVersion: version, check: "previous-hash",
                                    detail: "the previous hash does not match version \(version - 1)'s hash: an event was replaced or inserted"))
            }
        }
    }

    /// Each stream's recorded head (version and last hash) against its newest event.
    private func checkStreamHeads() async throws -> VerificationReport {
        var report = VerificationReport()
        let rows = try await store.client.query("""
            SELECT s.stream_id, s.version, coalesce(last.version, 0), coalesce(last.position, 0), s.last_hash = last.hash, count(*) OVER ()
            FROM streams s
            LEFT JOIN LATERAL (SELECT stream_version AS version, global_position AS position, hash FROM events e
                               WHERE e.stream_id = s.stream_id ORDER BY stream_version DESC LIMIT 1) last ON true
            """, logger: store.logger)
        for try await (stream, headVersion, lastVersion, lastPosition, hashOK, total) in rows.decode((String, Int64, Int64, Int64, Bool?, Int64).self) {
            report.streamsChecked = total
            // A head at version 0 with no events is a stream a command only checked.
            if headVersion != lastVersion || (lastVersion > 0 && hashOK != true) {
                report.record(.init(position: lastPosition, streamId: stream, streamVersion: lastVersion, check: "stream-head",
                                    detail: "the stream's head says version \(headVersion), its newest event is version \(lastVersion)"
                                        + (headVersion == lastVersion ? " with another hash" : "") + ": events were deleted or inserted"))
            }
        }
        // Events of a stream the heads table does not know.
        let orphans = try await store.client.query("""
            SELECT e.global_position, e.stream_id, e.stream_version FROM events e
            WHERE NOT EXISTS (SELECT 1 FROM streams s WHERE s.stream_id = e.stream_id) ORDER BY e.global_position LIMIT 100
            """, logger: store.logger)
        for try await (position, stream, version) in orphans.decode((Int64, String, Int64).self) {
            report.record(.init(position: position, streamId: stream, streamVersion: version, check: "stream-head",
                                detail: "no stream head for \(stream): the event was inserted behind the store's back"))
        }
        return report
    }

    /// The audit ledger up to its checkpoint: one entry per event with the
    /// event's hash, each chained to the one before.
    private func checkLedger() async throws -> VerificationReport {
        var report = VerificationReport()
        // No ledger before its projection has first run: the chains alone are checked.
        for try await exists in try await store.client.query("SELECT to_regclass('read.ledger') IS NOT NULL", logger: store.logger).decode(Bool.self) {
            guard exists else { return report }
        }
        let rows = try await store.client.query("""
            WITH ledger AS (
                SELECT l.*, lag(l.ledger_hash) OVER (ORDER BY l.sequence) AS previous, lag(l.sequence) OVER (ORDER BY l.sequence) AS previous_sequence
                FROM read.ledger l),
            reached AS (SELECT transaction_id, position FROM projection_checkpoints WHERE projection = 'audit_ledger' AND live),
            checked AS MATERIALIZED (
                SELECT coalesce(l.global_position, e.global_position) AS position, coalesce(l.stream_id, e.stream_id) AS stream_id,
                       CASE WHEN e.global_position IS NULL THEN 'ledger-orphan'
                            WHEN l.global_position IS NULL THEN 'ledger-missing'
                            WHEN l.event_hash <> e.hash THEN 'ledger-hash'
                            WHEN l.ledger_hash <> sha256(coalesce(l.previous, ''::bytea) || l.event_hash)
                              OR l.sequence <> coalesce(l.previous_sequence, 0) + 1 THEN 'ledger-chain'
                       END AS problem
                FROM ledger l
                FULL JOIN (SELECT e.global_position, e.stream_id, e.hash FROM events e, reached r
                           WHERE (e.transaction_id, e.global_position) <= (r.transaction_id::text::xid8, r.position)) e
                  ON e.global_position = l.global_position)
            SELECT position, stream_id, problem FROM checked WHERE problem IS NOT NULL
            UNION ALL
            SELECT count(*), '', NULL FROM checked
            """, logger: store.logger)
        var checked: Int64 = 0
        for try await (position, stream, problem) in rows.decode((Int64, String, String?).self) {
            guard let problem else {
                checked = position
                continue
            }
            let detail = switch problem {
            case "ledger-orphan": "the ledger records an event that is no longer in the store: it was deleted"
            case "ledger-missing": "an event the ledger has passed is not in it: it was inserted behind the store's back"
            case "ledger-hash": "the event's hash differs from the one the ledger recorded: the event was altered"
            default: "the ledger's chain breaks here: the ledger was altered"
            }
            report.record(.init(position: position, streamId: stream, streamVersion: nil, check: problem, detail: detail))
        }
        report.ledgerEntriesChecked = checked
        return report
    }
}
