import EventStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Progress of a long rebuild, for the terminal.
public struct RebuildProgress: Sendable {
    public var projection: String
    public var eventsDone: Int
    public var eventsTotal: Int
    public var elapsed: Duration

    public var rate: Double { Double(eventsDone) / max(elapsed.seconds, 0.001) }
    public var remaining: Duration { .seconds(Double(max(eventsTotal - eventsDone, 0)) / max(rate, 1)) }
}

public struct RebuildSummary: Sendable {
    public var projection: String
    public var generation: Int
    public var events: Int
    public var elapsed: Duration
    /// Rows that differ from the live model, per table (verification only).
    public var drift: [String: Int]
}

/// The newest progress of each projection being rebuilt.
private final class Latest: Sendable {
    private let state = Mutex<[String: RebuildProgress]>([:])
    func update(_ progress: RebuildProgress) -> [String: RebuildProgress] {
        state.withLock { $0[progress.projection] = progress; return $0 }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Builds a projection afresh into a new generation beside the live one,
/// while writers and the live worker carry on, then either swaps it in
/// (rebuild) or compares it with the live one row for row (verify).
public struct Rebuilder: Sendable {
    public let store: EventStore
    public var batchSize: Int
    let logger: Logger

    public init(store: EventStore, batchSize: Int = 5_000, logger: Logger) {
        self.store = store
        self.batchSize = batchSize
        self.logger = logger
    }

    /// Rebuilds (or, with `verify`, checks) several projections at once, each
    /// on a connection of its own: one projection's work is mostly waiting on
    /// round trips, which the others fill. `progress` gets every projection's
    /// latest progress; summaries come in the order the projections finish.
    public func rebuildAll(_ projections: [any Projection], verify: Bool = false,
                           progress: @escaping @Sendable ([String: RebuildProgress]) -> Void = { _ in },
                           finished: @escaping @Sendable (RebuildSummary) -> Void = { _ in }) async throws -> [RebuildSummary] {
        let latest = Latest()
        return try await withThrowingTaskGroup(of: RebuildSummary.self) { group in
            for projection in projections {
                group.addTask {
                    let report: @Sendable (RebuildProgress) -> Void = { progress(latest.update($0)) }
                    let summary = verify ? try await self.verify(projection, progress: report) : try await rebuild(projection, progress: report)
                    finished(summary)
                    return summary
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    /// Rebuilds and swaps atomically; readers see the old model until the swap, then the new.
    public func rebuild(_ projection: any Projection, progress: @escaping @Sendable (RebuildProgress) -> Void = { _ in }) async throws -> RebuildSummary {
        let clock = ContinuousClock(), started = clock.now
        // A connection lost mid-way fails the rebuild at once (the next one clears what it left).
        return try await store.client.withConnection { connection in try await connection.whileOpen {
            _ = try await Generations.live(projection, on: connection, logger: logger)
            try await claim(projection, on: connection)
            var building: Generation
            do { building = try await createNext(projection, on: connection) } catch { await release(projection, on: connection); throw error }
            do {
                let total = try await eventCount(on: connection)
                var done = 0
                // Catch up outside any long transaction, batch by batch.
                var reader = PageReader(store: store, pageSize: batchSize, types: projection.typesToRead)
                while let advanced = try await catchUp(projection, &building, until: nil, reading: &reader, on: connection) {
                    done += advanced
                    progress(RebuildProgress(projection: projection.name, eventsDone: done, eventsTotal: max(total, done), elapsed: clock.now - started))
                }
                // Swap: hold the live row so the worker pauses, apply the last events, switch.
                let old = try await connection.withTransaction(logger: logger) { connection in
                    guard let live = try await lockLive(projection, on: connection) else { throw CheckpointMoved() }
                    // A fresh reader: a page fetched ahead, before the lock, may end too soon.
                    var reader = PageReader(store: store, pageSize: batchSize, types: projection.typesToRead)
                    while let advanced = try await catchUp(projection, &building, until: nil, reading: &reader, on: connection,
                                                           inTransaction: true) { done += advanced }
                    try await connection.query("""
                        UPDATE projection_checkpoints SET live = false, status = 'retired' WHERE projection = \(projection.name) AND generation = \(live.number);
                        """, logger: logger)
                    try await connection.query("""
                        UPDATE projection_checkpoints SET live = true, status = 'running', updated_at = clock_timestamp()
                        WHERE projection = \(projection.name) AND generation = \(building.number)
                        """, logger: logger)
                    try await Generations.pointViews(of: projection, at: building, on: connection, logger: logger)
                    return live
                }
                try await Generations.drop(old, on: connection, logger: logger)
                await release(projection, on: connection)
                return RebuildSummary(projection: projection.name, generation: building.number, events: done, elapsed: clock.now - started, drift: [:])
            } catch {
                _ = try? await Generations.drop(building, on: connection, logger: logger)
                await release(projection, on: connection)
                throw error
            }
        } }
    }

    /// Builds beside the live model up to exactly the live checkpoint and
    /// compares every table row for row; swaps nothing and drops what it built.
    public func verify(_ projection: any Projection, progress: @escaping @Sendable (RebuildProgress) -> Void = { _ in }) async throws -> RebuildSummary {
        let clock = ContinuousClock(), started = clock.now
        // A connection lost mid-way fails the rebuild at once (the next one clears what it left).
        return try await store.client.withConnection { connection in try await connection.whileOpen {
            let start = try await Generations.live(projection, on: connection, logger: logger)
            try await claim(projection, on: connection)
            var building: Generation
            do { building = try await createNext(projection, on: connection) } catch { await release(projection, on: connection); throw error }
            do {
                let total = try await eventCount(on: connection)
                var done = 0
                var reader = PageReader(store: store, pageSize: batchSize, types: projection.typesToRead)
                while let advanced = try await catchUp(projection, &building, until: start.checkpoint, reading: &reader, on: connection) {
                    done += advanced
                    progress(RebuildProgress(projection: projection.name, eventsDone: done, eventsTotal: max(total, done), elapsed: clock.now - started))
                }
                // Hold the live row still, bring the copy to its exact checkpoint, compare.
                let drift = try await connection.withTransaction(logger: logger) { connection in
                    guard let live = try await lockLive(projection, on: connection) else { throw CheckpointMoved() }
                    var reader = PageReader(store: store, pageSize: batchSize, types: projection.typesToRead)
                    while let advanced = try await catchUp(projection, &building, until: live.checkpoint, reading: &reader, on: connection,
                                                           inTransaction: true) { done += advanced }
                    var drift: [String: Int] = [:]
                    for table in projection.tables {
                        drift[table] = try await differences(table, live: live, copy: building, on: connection)
                    }
                    return drift
                }
                try await Generations.drop(building, on: connection, logger: logger)
                await release(projection, on: connection)
                return RebuildSummary(projection: projection.name, generation: building.number, events: done, elapsed: clock.now - started, drift: drift)
            } catch {
                _ = try? await Generations.drop(building, on: connection, logger: logger)
                await release(projection, on: connection)
                throw error
            }
        } }
    }

    /// One rebuild or verification of a projection at a time, by a session
    /// lock that a killed one's end releases. Holding it, what killed ones
    /// left is dropped: generations still `building`, and schemas of the
    /// projection that no checkpoint row names.
    private func claim(_ projection: any Projection, on connection: PostgresConnection) async throws {
        try await connection.run("SELECT pg_advisory_lock(\(Generations.rebuildLockKey(projection.name)))", logger: logger)
        var leftovers: [Int] = []
        for try await number in try await connection.query("""
            SELECT generation FROM projection_checkpoints WHERE projection = \(projection.name) AND status = 'building' AND NOT live
            UNION
            SELECT substring(nspname FROM '_([0-9]+)$')::int FROM pg_namespace
            WHERE nspname ~ ('^proj_' || \(projection.name) || '_[0-9]+$')
              AND substring(nspname FROM '_([0-9]+)$')::int NOT IN (SELECT generation FROM projection_checkpoints WHERE projection = \(projection.name))
            """, logger: logger).decode(Int.self) { leftovers.append(number) }
        for number in leftovers {
            try await Generations.drop(Generation(projection: projection.name, number: number, checkpoint: .start), on: connection, logger: logger)
        }
        if !leftovers.isEmpty {
            logger.notice("removed what interrupted rebuilds left", metadata: ["projection": "\(projection.name)", "generations": "\(leftovers.sorted())"])
        }
    }

    /// In a task of its own: a cancelled rebuild's statements may be refused before they are sent.
    private func release(_ projection: any Projection, on connection: PostgresConnection) async {
        let key = Generations.rebuildLockKey(projection.name)
        await Task { [logger] in try? await connection.run("SELECT pg_advisory_unlock(\(key))", logger: logger) }.value
    }

    private func createNext(_ projection: any Projection, on connection: PostgresConnection) async throws -> Generation {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.run("SELECT pg_advisory_xact_lock(\(Generations.generationsLockKey(projection.name)))", logger: logger)
            var next = 1
            for try await highest in try await connection.query(
                "SELECT coalesce(max(generation), 0) FROM projection_checkpoints WHERE projection = \(projection.name)", logger: logger
            ).decode(Int.self) { next = highest + 1 }
            return try await Generations.create(projection, number: next, status: "building", live: false, on: connection, logger: logger)
        }
    }

    private func lockLive(_ projection: any Projection, on connection: PostgresConnection) async throws -> Generation? {
        let rows = try await connection.query("""
            SELECT generation, transaction_id, position FROM projection_checkpoints
            WHERE projection = \(projection.name) AND live FOR UPDATE
            """, logger: logger)
        for try await (number, transaction, position) in rows.decode((Int, Int64, Int64).self) {
            return Generation(projection: projection.name, number: number, checkpoint: Checkpoint(transactionId: transaction, position: position))
        }
        return nil
    }

    /// Applies the next batch (up to `until`, if given) to the generation
    /// being built; nil when there was nothing left to apply.
    private func catchUp(_ projection: any Projection, _ generation: inout Generation, until limit: Checkpoint?,
                         reading reader: inout PageReader, on connection: PostgresConnection, inTransaction: Bool = false) async throws -> Int? {
        var page = try await reader.page(after: generation.checkpoint)
        if let limit, let through = page.through, through > limit {
            page.events.removeAll { $0.checkpoint > limit }
            page.through = generation.checkpoint < limit ? limit : nil
        }
        guard let through = page.through else { return nil }
        let (target, batch) = (generation, page)
        let apply: (PostgresConnection) async throws -> Void = { connection in
            guard try await Generations.apply(batch, of: projection, to: target.number, after: target.checkpoint, on: connection, logger: logger) else {
                throw CheckpointMoved()
            }
        }
        if inTransaction {
            try await apply(connection)
            // The swap goes on in this transaction, with its own statements.
            try await connection.query("SET LOCAL search_path = public", logger: logger)
        } else {
            try await connection.withTransaction(logger: logger) { try await apply($0) }
        }
        generation.checkpoint = through
        return page.rowsRead
    }

    private func eventCount(on connection: PostgresConnection) async throws -> Int {
        for try await count in try await connection.query("SELECT count(*) FROM events", logger: logger).decode(Int.self) { return count }
        return 0
    }

    /// Rows in one table but not the other, both ways (duplicates counted).
    private func differences(_ table: String, live: Generation, copy: Generation, on connection: PostgresConnection) async throws -> Int {
        let sql = """
            SELECT (SELECT count(*) FROM (SELECT * FROM \(live.schema).\(table) EXCEPT ALL SELECT * FROM \(copy.schema).\(table)) a)
                 + (SELECT count(*) FROM (SELECT * FROM \(copy.schema).\(table) EXCEPT ALL SELECT * FROM \(live.schema).\(table)) b)
            """
        for try await count in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self) { return count }
        return 0
    }
}
