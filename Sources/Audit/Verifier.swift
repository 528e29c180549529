import Crypto
import Documents
import EventStore
import GrantDomain
import Foundation
import PostgresNIO

/// What verification found: how much it checked, and every broken link
/// (the first one first), each naming the position, stream and what differs.
public struct VerificationReport: Encodable, Sendable {
    public struct BrokenLink: Encodable, Sendable, Hashable {
        public var position: Int64
        public var streamId: String
        public var streamVersion: Int64?
        /// `content-hash`, `previous-hash`, `version-gap`, `stream-head`, `ledger-missing`, `ledger-orphan`, `ledger-hash`, `ledger-chain`,
        /// `document-missing`, `document-changed`.
        public var check: String
        public var detail: String
    }
    public var eventsChecked: Int64 = 0
    public var streamsChecked: Int64 = 0
    public var ledgerEntriesChecked: Int64 = 0
    /// Distinct documents attached, each re-hashed from the store.
    public var documentsChecked: Int64 = 0
    public var ok: Bool { brokenLinks.isEmpty }
    public var firstBrokenLink: BrokenLink? { brokenLinks.min { ($0.position, $0.check) < ($1.position, $1.check) } }
    /// Up to `Verifier.reportLimit` of them.
    public var brokenLinks: [BrokenLink] = []
    public var brokenLinkCount: Int64 = 0

    enum CodingKeys: String, CodingKey { case ok, eventsChecked, streamsChecked, ledgerEntriesChecked, documentsChecked, firstBrokenLink, brokenLinks, brokenLinkCount }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        try container.encode(eventsChecked, forKey: .eventsChecked)
        try container.encode(streamsChecked, forKey: .streamsChecked)
        try container.encode(ledgerEntriesChecked, forKey: .ledgerEntriesChecked)
        try container.encode(documentsChecked, forKey: .documentsChecked)
        try container.encodeIfPresent(firstBrokenLink, forKey: .firstBrokenLink)
        try container.encode(brokenLinks.sorted { ($0.position, $0.check) < ($1.position, $1.check) }, forKey: .brokenLinks)
        try container.encode(brokenLinkCount, forKey: .brokenLinkCount)
    }

    mutating func merge(_ other: VerificationReport) {
        eventsChecked += other.eventsChecked
        streamsChecked += other.streamsChecked
        ledgerEntriesChecked += other.ledgerEntriesChecked
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
    public let documents: any DocumentStore
    public var chunkSize: Int64

    public init(store: EventStore, documents: (any DocumentStore)? = nil, chunkSize: Int64 = 50_000) {
        self.store = store
        self.documents = documents ?? PostgresDocumentStore(client: store.client, logger: store.logger)
        self.chunkSize = chunkSize
    }

    /// Verifies everything; `progress` gets (events checked so far, events in all) after each chunk.
    /// Chunks run on as many connections as there are cores: hashing is PostgreSQL's CPU work.
    public func verify(progress: @Sendable (Int64, Int64) -> Void = { _, _ in }) async throws -> VerificationReport {
        let (streamChunks, total) = try await chunksOfStreams()
        let work = streamChunks.map { Work.events(streamsAfter: $0.after, through: $0.through) } + (try await ledgerChunks())
        var report = VerificationReport()
        let parallel = max(1, ProcessInfo.processInfo.activeProcessorCount)
        try await withThrowingTaskGroup(of: VerificationReport.self) { group in
            var next = 0
            func start() {
                guard next < work.count else { return }
                let chunk = work[next]
                next += 1
                group.addTask { try await check(chunk) }
            }
            for _ in 0..<parallel { start() }
            while let part = try await group.next() {
                report.merge(part)
                progress(report.eventsChecked, max(total, report.eventsChecked))
                start()
            }
        }
        try await checkDocuments(into: &report)
        return report
    }

    /// Every document attached, once per digest, re-hashed from the store
    /// against the digest and size its first attaching event recorded.
    private func checkDocuments(into report: inout VerificationReport) async throws {
        // As text, checked here: a payload changed behind the store's back is a broken link, not a failed verification.
        let rows = try await store.client.query("""
            SELECT DISTINCT ON (data->'document'->>'sha256') global_position, stream_id, stream_version,
                   data->'document'->>'sha256', data->'document'->>'size', data->'document'->>'fileName'
            FROM events WHERE event_type = 'DocumentAttached'
            ORDER BY data->'document'->>'sha256', transaction_id, global_position
            """, logger: store.logger)
        var attached: [(position: Int64, stream: String, version: Int64, sha256: String, size: Int64, fileName: String)] = []
        for try await (position, stream, version, sha256, size, fileName) in rows.decode((Int64, String, Int64, String?, String?, String?).self) {
            attached.append((position, stream, version, sha256 ?? "", size.flatMap { Int64($0) } ?? -1, fileName ?? "(no name)"))
        }
        for document in attached {
            report.documentsChecked += 1
            func broken(_ check: String, _ detail: String) {
                report.record(.init(position: document.position, streamId: document.stream, streamVersion: document.version, check: check,
                                    detail: "document \(document.fileName) (sha256 \(document.sha256)): \(detail)"))
            }
            guard let digest = try? DocumentDigest(hex: document.sha256) else {
                broken("document-changed", "the event's digest is not a SHA-256")
                continue
            }
            var hasher = SHA256()
            var size: Int64 = 0
            let found = try await documents.read(digest) { chunk in
                size += Int64(chunk.readableBytes)
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            }
            guard found, size > 0 else {
                broken("document-missing", "no bytes are stored under it")
                continue
            }
            let actual = DocumentDigest(bytes: hasher.finalize())
            if actual != digest || size != document.size {
                broken("document-changed", "the stored bytes (\(size) bytes) hash to \(actual), not to what was attached (\(document.size) bytes)")
            }
        }
    }

    /// A part of the work, each checked in one statement on a connection of its own.
    enum Work {
        /// The events of whole streams (after one stream id or from the first, through another or to the last), their chains and heads.
        case events(streamsAfter: String?, through: String?)
        /// The ledger's chain over these sequence numbers.
        case ledgerChain(sequences: ClosedRange<Int64>)
        /// The ledger's entries against the events at these positions, up to the ledger's checkpoint.
        case ledgerEntries(positions: ClosedRange<Int64>, reached: Checkpoint)
    }

    private func check(_ work: Work) async throws -> VerificationReport {
        try await store.client.withConnection { connection in
            // The events are read in stream order through the (stream_id,
            // stream_version) index: estimating a chunk as a few percent of
            // a big table, the planner would otherwise scan the whole table
            // for every chunk and sort the chunk's wide rows on disk. JIT
            // compiling costs more than it saves on a chunk.
            try await connection.query("BEGIN READ ONLY", logger: store.logger)
            do {
                try await connection.query("""
                    SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true), set_config('jit', 'off', true)
                    """, logger: store.logger)
                var part = VerificationReport()
                switch work {
                case .events(let after, let through): try await checkEvents(streamsAfter: after, through: through, on: connection, into: &part)
                case .ledgerChain(let sequences): try await checkLedgerChain(sequences, on: connection, into: &part)
                case .ledgerEntries(let positions, let reached): try await checkLedgerEntries(positions, reached: reached, on: connection, into: &part)
                }
                try await connection.query("COMMIT", logger: store.logger)
                return part
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: store.logger)
                throw error
            }
        }
    }

    /// Ranges of whole streams of about `chunkSize` events each, by the
    /// stream heads' versions (one statement), so each event's predecessor
    /// and head are in its chunk; the first and last ranges are open so that
    /// events of streams without a head are checked too, wherever they sort. Also the events in all, as
    /// the heads count them, for progress.
    private func chunksOfStreams() async throws -> (chunks: [(after: String?, through: String?)], total: Int64) {
        let rows = try await store.client.query("""
            SELECT max(stream_id), max(running) FROM (SELECT stream_id, (sum(version) OVER (ORDER BY stream_id))::bigint AS running FROM streams) heads
            GROUP BY (running - 1) / \(chunkSize) ORDER BY 1
            """, logger: store.logger)
        var chunks: [(after: String?, through: String?)] = []
        var after: String?, total: Int64 = 0
        for try await (through, running) in rows.decode((String, Int64).self) {
            chunks.append((after, through))
            after = through
            total = running
        }
        chunks.append((after, nil))
        return (chunks, total)
    }

    /// What a checked row found, as bits.
    private struct Problems: OptionSet {
        let rawValue: Int32
        static let content = Problems(rawValue: 1), versionGap = Problems(rawValue: 2), previousHash = Problems(rawValue: 4)
        static let head = Problems(rawValue: 8), noHead = Problems(rawValue: 16)
    }

    /// Each event's hash against its content, its previous hash against its
    /// predecessor in the stream (which must be one version below), and each
    /// stream's head (version and last hash) against its newest event.
    private func checkEvents(streamsAfter after: String?, through: String?, on connection: PostgresConnection,
                             into report: inout VerificationReport) async throws {
        // One pass: the chain in stream order merged with the heads of the
        // same streams; one row comes back, with the counts and the rows
        // found broken.
        let rows = try await connection.query("""
            WITH chain AS (
                SELECT global_position, stream_id, stream_version, hash,
                       hash = event_hash(previous_hash, event_id, stream_id, stream_version, event_type,
                                         schema_version, occurred_at, recorded_at, data, metadata) AS content_ok,
                       stream_version = coalesce(lag(stream_version) OVER stream, 0) + 1 AS predecessor_ok,
                       previous_hash = coalesce(lag(hash) OVER stream, ''::bytea) AS link_ok,
                       lead(stream_version) OVER stream IS NULL AS newest
                FROM events
                WHERE (\(after)::text IS NULL OR stream_id > \(after)) AND (\(through)::text IS NULL OR stream_id <= \(through))
                WINDOW stream AS (PARTITION BY stream_id ORDER BY stream_version)),
            heads AS (
                SELECT stream_id, version, last_hash FROM streams
                WHERE (\(after)::text IS NULL OR stream_id > \(after)) AND (\(through)::text IS NULL OR stream_id <= \(through))),
            checked AS (
                SELECT e.global_position, coalesce(e.stream_id, h.stream_id) AS stream_id, e.stream_version, e.newest,
                       h.version AS head_version,
                       CASE WHEN e.content_ok IS NOT FALSE THEN 0 ELSE \(Problems.content.rawValue) END
                       | CASE WHEN e.predecessor_ok IS NOT FALSE THEN 0 ELSE \(Problems.versionGap.rawValue) END
                       | CASE WHEN e.predecessor_ok AND e.link_ok IS FALSE THEN \(Problems.previousHash.rawValue) ELSE 0 END
                       | CASE WHEN h.stream_id IS NULL THEN \(Problems.noHead.rawValue)
                              -- A head at version 0 with no events is a stream a command only checked.
                              WHEN e.stream_id IS NULL THEN CASE WHEN h.version = 0 THEN 0 ELSE \(Problems.head.rawValue) END
                              WHEN e.newest AND (h.version <> e.stream_version OR h.last_hash <> e.hash) THEN \(Problems.head.rawValue)
                              ELSE 0 END AS problems
                FROM chain e FULL JOIN heads h ON h.stream_id = e.stream_id)
            SELECT count(global_position), count(head_version) FILTER (WHERE newest IS NOT FALSE),
                   coalesce(array_agg(coalesce(global_position, 0)) FILTER (WHERE problems <> 0), '{}'),
                   coalesce(array_agg(stream_id) FILTER (WHERE problems <> 0), '{}'),
                   coalesce(array_agg(coalesce(stream_version, 0)) FILTER (WHERE problems <> 0), '{}'),
                   coalesce(array_agg(coalesce(head_version, 0)) FILTER (WHERE problems <> 0), '{}'),
                   coalesce(array_agg(problems) FILTER (WHERE problems <> 0), '{}')
            FROM checked
            """, logger: store.logger)
        for try await (events, streams, positions, streamIds, versions, headVersions, problems)
            in rows.decode((Int64, Int64, [Int64], [String], [Int64], [Int64], [Int32]).self) {
            report.eventsChecked += events
            report.streamsChecked += streams
            for index in positions.indices {
                let (position, stream, version, found) = (positions[index], streamIds[index], versions[index], Problems(rawValue: problems[index]))
                if found.contains(.content) {
                    report.record(.init(position: position, streamId: stream, streamVersion: version, check: "content-hash",
                                        detail: "the stored hash does not match the event's data, metadata and times: the row was altered"))
                }
                if found.contains(.versionGap) {
                    report.record(.init(position: position, streamId: stream, streamVersion: version, check: "version-gap",
                                        detail: "the version before \(version) of \(stream) is missing: an event was deleted"))
                }
                if found.contains(.previousHash) {
                    report.record(.init(position: position, streamId: stream, streamVersion: version, check: "previous-hash",
                                        detail: "the previous hash does not match version \(version - 1)'s hash: an event was replaced or inserted"))
                }
                if found.contains(.head) {
                    let headVersion = headVersions[index]
                    report.record(.init(position: position, streamId: stream, streamVersion: version, check: "stream-head",
                                        detail: "the stream's head says version \(headVersion), its newest event is version \(version)"
                                            + (headVersion == version ? " with another hash" : "") + ": events were deleted or inserted"))
                }
                if found.contains(.noHead) {
                    report.record(.init(position: position, streamId: stream, streamVersion: version, check: "stream-head",
                                        detail: "no stream head for \(stream): the event was inserted behind the store's back"))
                }
            }
        }
    }

    /// The audit ledger up to its checkpoint: one entry per event with the
    /// event's hash, each chained to the one before. Its chain is checked in
    /// ranges of sequence numbers, its entries against the events in ranges
    /// of positions. No ledger before its projection has first run: the
    /// chains alone are checked then.
    private func ledgerChunks() async throws -> [Work] {
        for try await exists in try await store.client.query("SELECT to_regclass('read.ledger') IS NOT NULL", logger: store.logger).decode(Bool.self) {
            guard exists else { return [] }
        }
        let rows = try await store.client.query("""
            SELECT (SELECT min(sequence) FROM read.ledger), (SELECT max(sequence) FROM read.ledger),
                   least((SELECT min(global_position) FROM read.ledger), (SELECT min(global_position) FROM events)),
                   greatest((SELECT max(global_position) FROM read.ledger), (SELECT max(global_position) FROM events)),
                   (SELECT transaction_id FROM projection_checkpoints WHERE projection = 'audit_ledger' AND live),
                   (SELECT position FROM projection_checkpoints WHERE projection = 'audit_ledger' AND live)
            """, logger: store.logger)
        var work: [Work] = []
        for try await (firstSequence, lastSequence, firstPosition, lastPosition, transaction, position)
            in rows.decode((Int64?, Int64?, Int64?, Int64?, Int64?, Int64?).self) {
            if let firstSequence, let lastSequence {
                work += stride(from: firstSequence, through: lastSequence, by: Int(chunkSize)).map {
                    .ledgerChain(sequences: $0...min($0 + chunkSize - 1, lastSequence))
                }
            }
            if let firstPosition, let lastPosition {
                // Without a live checkpoint no event counts as passed.
                let reached = if let transaction, let position { Checkpoint(transactionId: transaction, position: position) } else { Checkpoint.start }
                work += stride(from: firstPosition, through: lastPosition, by: Int(chunkSize)).map {
                    .ledgerEntries(positions: $0...min($0 + chunkSize - 1, lastPosition), reached: reached)
                }
            }
        }
        return work
    }

    /// Each entry's hash chained from the one before, with no sequence number left out.
    private func checkLedgerChain(_ sequences: ClosedRange<Int64>, on connection: PostgresConnection,
                                  into report: inout VerificationReport) async throws {
        // The entry before the range is read for its hash.
        let rows = try await connection.query("""
            SELECT count(*) FILTER (WHERE sequence >= \(sequences.lowerBound)),
                   coalesce(array_agg(global_position) FILTER (WHERE broken), '{}'), coalesce(array_agg(stream_id) FILTER (WHERE broken), '{}')
            FROM (SELECT global_position, stream_id, sequence,
                         sequence >= \(sequences.lowerBound)
                         AND (ledger_hash <> sha256(coalesce(lag(ledger_hash) OVER chain, ''::bytea) || event_hash)
                              OR sequence <> coalesce(lag(sequence) OVER chain, 0) + 1) AS broken
                  FROM read.ledger WHERE sequence >= \(sequences.lowerBound - 1) AND sequence <= \(sequences.upperBound)
                  WINDOW chain AS (ORDER BY sequence)) entries
            """, logger: store.logger)
        for try await (checked, positions, streams) in rows.decode((Int64, [Int64], [String]).self) {
            report.ledgerEntriesChecked += checked
            for (position, stream) in zip(positions, streams) {
                report.record(.init(position: position, streamId: stream, streamVersion: nil, check: "ledger-chain",
                                    detail: "the ledger's chain breaks here: the ledger was altered"))
            }
        }
    }

    /// Each entry against the event at its position: every event the ledger
    /// had passed when verification began is in it, with the event's hash,
    /// and nothing else is. (Entries the ledger writes meanwhile are left
    /// for the next verification.)
    private func checkLedgerEntries(_ positions: ClosedRange<Int64>, reached: Checkpoint, on connection: PostgresConnection,
                                    into report: inout VerificationReport) async throws {
        let rows = try await connection.query("""
            SELECT coalesce(l.global_position, e.global_position), coalesce(l.stream_id, e.stream_id),
                   CASE WHEN e.global_position IS NULL THEN 'ledger-orphan' WHEN l.global_position IS NULL THEN 'ledger-missing' ELSE 'ledger-hash' END
            FROM (SELECT global_position, stream_id, event_hash FROM read.ledger
                  WHERE global_position BETWEEN \(positions.lowerBound) AND \(positions.upperBound)
                    AND (transaction_id, global_position) <= (\(reached.transactionId), \(reached.position))) l
            FULL JOIN (SELECT global_position, stream_id, hash FROM events
                       WHERE global_position BETWEEN \(positions.lowerBound) AND \(positions.upperBound)
                         AND (transaction_id, global_position) <= (\(reached.transactionId)::text::xid8, \(reached.position))) e
              ON e.global_position = l.global_position
            WHERE e.global_position IS NULL OR l.global_position IS NULL OR l.event_hash <> e.hash
            """, logger: store.logger)
        for try await (position, stream, problem) in rows.decode((Int64, String, String).self) {
            let detail = switch problem {
            case "ledger-orphan": "the ledger records an event that is no longer in the store: it was deleted"
            case "ledger-missing": "an event the ledger has passed is not in it: it was inserted behind the store's back"
            default: "the event's hash differs from the one the ledger recorded: the event was altered"
            }
            report.record(.init(position: position, streamId: stream, streamVersion: nil, check: problem, detail: detail))
        }
    }
}
