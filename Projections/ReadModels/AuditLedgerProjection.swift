import Crypto
import EventStore
import Foundation
import Logging
import PostgresNIO

/// The audit ledger: every event in commit order, each entry's hash
/// chaining the previous entry's and the event's own hash, so removing,
/// inserting or reordering anything in the history breaks the chain.
public struct AuditLedgerProjection: Projection {
    public init() {}
    public let name = ReadModelName.auditLedger.rawValue
    public let tables = ["ledger"]
    /// Every event, whatever its type.
    public let eventTypes: Set<String> = []
    public let schema = """
        CREATE TABLE ledger (
            sequence bigint PRIMARY KEY, global_position bigint NOT NULL UNIQUE, transaction_id bigint NOT NULL,
            event_id uuid NOT NULL, stream_id text NOT NULL, stream_version bigint NOT NULL, event_type text NOT NULL,
            event_hash bytea NOT NULL, ledger_hash bytea NOT NULL
        );
        """

    /// `sha256(previous ledger hash || event hash)`; the first entry chains from nothing.
    public static func chain(_ previous: Data, _ eventHash: Data) -> Data {
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: eventHash)
        return Data(hasher.finalize())
    }

    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        var sequence: Int64 = 0
        var previous = Data()
        for try await (last, hash) in try await connection.query(
            "SELECT sequence, ledger_hash FROM ledger ORDER BY sequence DESC LIMIT 1", logger: logger
        ).decode((Int64, Data).self) {
            sequence = last
            previous = hash
        }
        var sequences: [Int64] = [], hashes: [Data] = []
        sequences.reserveCapacity(events.count)
        hashes.reserveCapacity(events.count)
        for event in events {
            sequence += 1
            previous = Self.chain(previous, event.hash)
            sequences.append(sequence)
            hashes.append(previous)
        }
        // One statement per batch: this projection sees every event.
        // Hashes travel as hex: PostgresNIO has no bytea[] encoding.
        try await connection.query("""
            INSERT INTO ledger
            SELECT s, p, t, i, st, v, ty, decode(eh, 'hex'), decode(lh, 'hex')
            FROM unnest(\(sequences), \(events.map(\.position)), \(events.map(\.transactionId)), \(events.map(\.eventId)),
                        \(events.map(\.streamId)), \(events.map(\.streamVersion)), \(events.map(\.type)),
                        \(events.map { $0.hash.hexString }), \(hashes.map(\.hexString))) AS e(s, p, t, i, st, v, ty, eh, lh)
            """, logger: logger)
    }
}
