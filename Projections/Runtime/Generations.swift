import EventStore
import Foundation
import Logging
import PostgresNIO

/// One generation of a projection: its schema and checkpoint row.
struct Generation: Sendable, Hashable {
    var projection: String
    var number: Int
    var checkpoint: Checkpoint

    /// Also spelled out in ``MoveCheckpoint``'s SQL.
    var schema: String { "proj_\(projection)_\(number)" }
}

/// Where generations are created, found, swapped and dropped. Identifiers
/// come from projection names, which are checked, never from input.
enum Generations {
    static func checkName(_ name: String) {
        precondition(!name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") },
                     "projection names are lowercase letters, digits and _")
    }

    /// The live generation, creating generation 1 (and its views) if there is none.
    static func live(_ projection: any Projection, on connection: PostgresConnection, logger: Logger) async throws -> Generation {
        if let live = try await findLive(projection.name, on: connection, logger: logger) { return live }
        return try await connection.withTransaction(logger: logger) { connection in
            // Two processes starting at once: the second waits here, then finds the first's.
            try await connection.run("SELECT pg_advisory_xact_lock(\(generationsLockKey(projection.name)))", logger: logger)
            if let live = try await findLive(projection.name, on: connection, logger: logger) { return live }
            let generation = try await create(projection, number: 1, status: "running", live: true, on: connection, logger: logger)
            try await pointViews(of: projection, at: generation, on: connection, logger: logger)
            return generation
        }
    }

    /// The live generation, if there is one.
    static func findLive(_ name: String, on connection: PostgresConnection, logger: Logger) async throws -> Generation? {
        let rows = try await connection.query("""
            SELECT generation, transaction_id, position FROM projection_checkpoints WHERE projection = \(name) AND live
            """, logger: logger)
        for try await (number, transaction, position) in rows.decode((Int, Int64, Int64).self) {
            return Generation(projection: name, number: number, checkpoint: Checkpoint(transactionId: transaction, position: position))
        }
        return nil
    }

    /// A new, empty generation with its tables and a checkpoint at the start.
    static func create(_ projection: any Projection, number: Int, status: String, live: Bool,
                       on connection: PostgresConnection, logger: Logger) async throws -> Generation {
        let generation = Generation(projection: projection.name, number: number, checkpoint: .start)
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(generation.schema)"), logger: logger)
        try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path = \(generation.schema), public"), logger: logger)
        for statement in SQLScript.statements(projection.schema) {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        try await connection.query("SET LOCAL search_path = public", logger: logger)
        try await connection.query("""
            INSERT INTO projection_checkpoints (projection, generation, live, status)
            VALUES (\(projection.name), \(number), \(live), \(status))
            """, logger: logger)
        return generation
    }

    static func pointViews(of projection: any Projection, at generation: Generation, on connection: PostgresConnection, logger: Logger) async throws {
        for table in projection.tables {
            try await connection.query(PostgresQuery(unsafeSQL: "DROP VIEW IF EXISTS read.\(table)"), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE VIEW read.\(table) AS SELECT * FROM \(generation.schema).\(table)"), logger: logger)
        }
    }

    static func drop(_ generation: Generation, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(generation.schema) CASCADE"), logger: logger)
        try await connection.query("""
            DELETE FROM projection_checkpoints WHERE projection = \(generation.projection) AND generation = \(generation.number)
            """, logger: logger)
    }

    /// The advisory lock of a projection's worker: one active worker at a time.
    static func workerLockKey(_ name: String) -> Int64 { lockKey("projection-worker:\(name)") }

    /// The advisory lock a rebuild or verification holds for its whole run.
    static func rebuildLockKey(_ name: String) -> Int64 { lockKey("projection-rebuild:\(name)") }

    /// The advisory lock taken briefly to create a generation.
    static func generationsLockKey(_ name: String) -> Int64 { lockKey("projection-generations:\(name)") }

    private static func lockKey(_ text: String) -> Int64 {
        // FNV-1a, so every process derives the same key from the name.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    /// Applies a page to a generation and moves its checkpoint to the page's
    /// end, as a compare-and-set on `after`, the checkpoint the page was read
    /// after, in the caller's transaction: to the live generation, whichever
    /// it is, when `generation` is nil, as a worker does. False when the
    /// checkpoint had moved (another worker, or a rebuild swapped
    /// generations): nothing must be committed.
    ///
    /// The checkpoint moves first, in one statement that also points the
    /// search path at the generation's tables for the rest of the
    /// transaction: its row lock keeps a rebuild from swapping and dropping
    /// the generation under the batch, as the share lock of a separate look
    /// did, and a batch is then one round trip plus its projection's
    /// statements (three fewer than before).
    static func apply(
        _ page: EventPage, of projection: any Projection, to generation: Int?, after: Checkpoint,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        guard let through = page.through else { return true }
        // Pages are read with the projection's types (`typesToRead`): their events are the ones it applies.
        let handled = page.events
        var moved = false
        for try await _ in try await connection.execute(
            MoveCheckpoint(projection: projection.name, generation: generation, from: after, to: through, applied: handled.count), logger: logger
        ) { moved = true }
        guard moved else { return false }
        if !handled.isEmpty {
            try await projection.apply(handled, on: connection, logger: logger)
        }
        return true
    }
}

/// Moves a generation's checkpoint if it is still where the batch was read
/// after (the live generation's when no generation is named), and sets the
/// transaction's search path to the generation's schema (``Generation/schema``,
/// then public) and its commit to not wait for the WAL flush: read models can
/// lose only their last batches in a crash, together with their checkpoint
/// (same transaction), and the worker then applies them again from the events.
/// Alone in its transaction (a batch of no events to apply), it is one
/// statement in all.
struct MoveCheckpoint: PostgresPreparedStatement {
    static let sql = """
        UPDATE public.projection_checkpoints
        SET transaction_id = $5, position = $6, events_applied = events_applied + $7, updated_at = clock_timestamp()
        WHERE projection = $1 AND CASE WHEN $2::int IS NULL THEN live ELSE generation = $2::int END
          AND transaction_id = $3 AND position = $4
        RETURNING set_config('search_path', 'proj_' || projection || '_' || generation || ', public', true),
                  set_config('synchronous_commit', 'off', true)
        """
    typealias Row = Void

    var projection: String
    var generation: Int?
    var from: Checkpoint
    var to: Checkpoint
    var applied: Int

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 7)
        bindings.append(projection)
        bindings.append(generation.map(Int32.init))
        bindings.append(from.transactionId)
        bindings.append(from.position)
        bindings.append(to.transactionId)
        bindings.append(to.position)
        bindings.append(Int64(applied))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

/// Thrown to roll back a batch whose checkpoint moved underneath it.
struct CheckpointMoved: Error {}
