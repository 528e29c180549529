import EventStore
import Foundation
import Logging
import Metrics
import PostgresNIO
import Synchronization

/// Runs one worker per projection. Each worker first wins its projection's
/// advisory lock (a second process waits and takes over when the first
/// dies), then reads all events in commit order in large batches, applies
/// each batch and moves the checkpoint in one transaction on the connection
/// that holds the lock, then waits live for new events.
public struct ProjectionRuntime: Sendable {
    public let store: EventStore
    public let projections: [any Projection]
    public var batchSize: Int
    public var pollInterval: Duration
    /// Moves as this process's workers change the read models.
    public let changes = ReadModelChanges()
    let logger: Logger

    public init(store: EventStore, projections: [any Projection] = allProjections, batchSize: Int = 5_000,
                pollInterval: Duration = .milliseconds(500), logger: Logger) {
        for projection in projections { Generations.checkName(projection.name) }
        self.store = store
        self.projections = projections
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Creates each projection's first generation and its `read` views where
    /// missing, so readers find (empty) read models before any worker runs.
    public func prepare() async throws {
        try await store.client.withConnection { connection in
            for projection in projections { _ = try await Generations.live(projection, on: connection, logger: logger) }
        }
    }

    /// Runs every worker, and reports lag as metrics, until cancelled.
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for projection in projections {
                group.addTask { try await runWorker(projection) }
            }
            group.addTask { try await reportLag() }
            try await group.waitForAll()
        }
    }

    /// One projection's worker: waits for the lock, then projects until
    /// cancelled. An event it cannot apply stops it there (recorded, never
    /// skipped) until an operator, after a fix, rebuilds the projection
    /// (`grantledger rebuild NAME`): the worker then follows the new generation.
    ///
    /// A connection lost (a database restart, failover, network cut,
    /// `pg_terminate_backend`) ends the attempt at once, and the worker
    /// connects again after a pause that doubles while attempts keep
    /// failing (up to ``maximumBackoff``), then resumes from its checkpoint.
    public func runWorker(_ projection: any Projection) async throws {
        var named = logger
        named[metadataKey: "projection"] = "\(projection.name)"
        let logger = named
        var failures = 0
        while !Task.isCancelled {
            let attempt = ContinuousClock.now
            do {
                let failed = try await store.client.withConnection { connection in
                    try await connection.whileOpen { try await holdLockAndProject(projection, on: connection, logger: logger) }
                }
                failures = 0
                if failed { try await waitForRebuild(projection, logger: logger) }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                // An attempt that ran a while before failing starts the pauses again from the shortest.
                failures = ContinuousClock.now - attempt > Self.maximumBackoff ? 1 : failures + 1
                let pause = Self.backoff(afterFailures: failures)
                logger.error("projection worker stopped; connecting again", metadata: [
                    "error": "\(String(reflecting: error))", "retryIn": "\(pause)", "attempt": "\(failures)",
                ])
                try await Task.sleep(for: pause)
            }
        }
    }

    /// The longest pause between a worker's attempts to connect.
    public static let maximumBackoff = Duration.seconds(30)

    /// 0.5 s, 1 s, 2 s, ... up to ``maximumBackoff``.
    static func backoff(afterFailures failures: Int) -> Duration {
        min(.milliseconds(500) * (1 << min(max(failures - 1, 0), 10)), maximumBackoff)
    }

    /// Returns once the live generation is no longer a failed one: a rebuild swapped in a new generation.
    private func waitForRebuild(_ projection: any Projection, logger: Logger) async throws {
        logger.info("stopped at a failing event; waiting for a rebuild (grantledger rebuild \(projection.name))")
        while true {
            try await Task.sleep(for: max(pollInterval, .seconds(1)))
            let rows = try await store.client.query(
                "SELECT status FROM projection_checkpoints WHERE projection = \(projection.name) AND live", logger: logger)
            var status: String?
            for try await value in rows.decode(String.self) { status = value }
            if status != "failed" { return }
        }
    }

    /// True when the projection failed and the worker should stop.
    private func holdLockAndProject(_ projection: any Projection, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let key = Generations.workerLockKey(projection.name)
        var waiting = false
        while true {
            var acquired = false
            for try await locked in try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger).decode(Bool.self) {
                acquired = locked
            }
            if acquired { break }
            if !waiting { logger.info("another worker holds this projection; standing by") }
            waiting = true
            try await Task.sleep(for: .seconds(1))
        }
        logger.info("projecting")
        let outcome: Result<Bool, any Error>
        do {
            outcome = .success(try await project(projection, on: connection, logger: logger))
        } catch {
            outcome = .failure(error)
        }
        // Never hand a connection back to the pool still holding the lock, cancelled or not: the
        // pool may outlive this runtime, and an idle connection holding the lock kept every other
        // process's worker for this projection standing by until the pool closed it (60 s). If the
        // pool is closing, the unlock fails and the session's end releases the lock. In a task of its
        // own: a cancelled worker's statements may be refused before they are sent.
        await Task { try? await connection.run("SELECT pg_advisory_unlock(\(key))", logger: logger) }.value
        return try outcome.get()
    }

    private func project(_ projection: any Projection, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let start = try await Generations.live(projection, on: connection, logger: logger)
        let cursor = Cursor(start.checkpoint)
        changes.applying(projection.name, true)
        defer { changes.applying(projection.name, false) }
        do {
            do {
                try await store.tail(after: start.checkpoint, batchSize: batchSize, types: projection.typesToRead,
                                     pollInterval: pollInterval) { page in
                    try await applyLive(page, of: projection, after: cursor, on: connection, logger: logger)
                }
            } catch let wrapped as PostgresTransactionError {
                // withTransaction wraps what the batch threw.
                throw wrapped.closureError ?? wrapped
            }
        } catch let failure as ProjectionFailure {
            logger.error("projection stopped at a failing event", metadata: [
                "position": "\(failure.position)", "type": "\(failure.eventType)", "error": "\(failure.error)",
            ])
            try await connection.query("""
                UPDATE projection_checkpoints SET status = 'failed', failed_position = \(failure.position),
                       error = \(failure.description), updated_at = clock_timestamp()
                WHERE projection = \(projection.name) AND live
                """, logger: logger)
            return true
        } catch is CheckpointMoved {
            // A rebuild swapped generations: start again from the new one.
            logger.info("live generation changed; following it")
        }
        return false
    }

    /// Applies a batch read by the tail to the live generation, if the live
    /// checkpoint is exactly where the tail stood; otherwise (a rebuild
    /// swapped generations) the worker restarts from the live checkpoint.
    /// A batch with no event to apply only moves the checkpoint: one
    /// statement, no transaction around it.
    private func applyLive(_ page: EventPage, of projection: any Projection, after cursor: Cursor,
                           on connection: PostgresConnection, logger: Logger) async throws {
        let after = cursor.checkpoint
        let apply: (PostgresConnection) async throws -> Void = { connection in
            guard try await Generations.apply(page, of: projection, to: nil, after: after, on: connection, logger: logger) else { throw CheckpointMoved() }
        }
        if page.events.isEmpty { try await apply(connection) } else { try await connection.withTransaction(logger: logger) { try await apply($0) } }
        changes.committed(projection.name)
        if let through = page.through { cursor.checkpoint = through }
    }

    // MARK: Lag

    /// Lag is counted exactly up to this many events.
    public static let behindCap = 100_000

    /// Every projection's position, lag (events behind, up to ``behindCap``; seconds since the oldest unapplied event was recorded) and state.
    public func status() async throws -> [ProjectionStatus] {
        // Both lookups walk the commit-order index from the checkpoint; the
        // count stops at a cap so a far-behind projection stays cheap to ask.
        let rows = try await store.client.query("""
            SELECT c.projection, c.generation, c.status, c.transaction_id, c.position, c.events_applied, c.failed_position, c.error,
                   h.head, b.behind, extract(epoch FROM clock_timestamp() - f.first_recorded)::float8,
                   extract(epoch FROM clock_timestamp() - c.updated_at)::float8
            FROM projection_checkpoints c
            CROSS JOIN (SELECT coalesce(max(global_position), 0) AS head FROM events) h
            CROSS JOIN LATERAL (
                SELECT count(*) AS behind FROM (
                    SELECT 1 FROM events e
                    WHERE (e.transaction_id, e.global_position) > (c.transaction_id::text::xid8, c.position)
                    ORDER BY e.transaction_id, e.global_position LIMIT \(Self.behindCap)) pending) b
            LEFT JOIN LATERAL (
                SELECT e.recorded_at AS first_recorded FROM events e
                WHERE (e.transaction_id, e.global_position) > (c.transaction_id::text::xid8, c.position)
                ORDER BY e.transaction_id, e.global_position LIMIT 1) f ON true
            WHERE c.live ORDER BY c.projection
            """, logger: logger)
        var statuses: [ProjectionStatus] = []
        for try await (name, generation, state, transaction, position, applied, failedAt, error, head, behind, seconds, sinceMoved)
            in rows.decode((String, Int, String, Int64, Int64, Int64, Int64?, String?, Int64, Int64, Double?, Double).self) {
            // Not advancing while events wait: the oldest has waited, and the checkpoint has not moved, past the threshold.
            let waited = seconds ?? 0
            let stalled = state == "running" && behind > 0 && waited > Self.stallThreshold && sinceMoved > Self.stallThreshold
            statuses.append(ProjectionStatus(
                name: name, generation: generation, state: stalled ? "stalled" : state,
                checkpoint: Checkpoint(transactionId: transaction, position: position),
                eventsApplied: applied, headPosition: head, eventsBehind: behind, secondsBehind: waited,
                stalledSeconds: stalled ? min(waited, sinceMoved) : nil, failedPosition: failedAt, error: error))
        }
        return statuses
    }

    /// How long a projection may wait with events pending and its checkpoint still before it counts as stalled.
    public static let stallThreshold: Double = 15

    /// Records each projection's lag as gauges, every few seconds, until cancelled.
    public func reportLag(every interval: Duration = .seconds(5)) async throws {
        while !Task.isCancelled {
            do {
                for status in try await status() {
                    let dimensions = [("projection", status.name)]
                    Gauge(label: "grantledger_projection_lag_events", dimensions: dimensions).record(status.eventsBehind)
                    Gauge(label: "grantledger_projection_lag_seconds", dimensions: dimensions).record(status.secondsBehind)
                    Gauge(label: "grantledger_projection_failed", dimensions: dimensions).record(status.state == "failed" ? 1 : 0)
                    Gauge(label: "grantledger_projection_stalled_seconds", dimensions: dimensions).record(status.stalledSeconds ?? 0)
                }
            } catch {
                logger.warning("could not measure projection lag", metadata: ["error": "\(String(reflecting: error))"])
            }
            try await Task.sleep(for: interval)
        }
    }
}

/// Where a projection stands.
public struct ProjectionStatus: Sendable, Hashable, Codable {
    public var name: String
    public var generation: Int
    public var state: String
    public var checkpoint: Checkpoint
    public var eventsApplied: Int64
    public var headPosition: Int64
    public var eventsBehind: Int64
    public var secondsBehind: Double
    /// How long it has not advanced while events waited; set when `state` is "stalled".
    public var stalledSeconds: Double?
    public var failedPosition: Int64?
    public var error: String?
}

/// The checkpoint a worker's tail has reached.
final class Cursor: Sendable {
    private let state: Mutex<Checkpoint>
    init(_ checkpoint: Checkpoint) { state = Mutex(checkpoint) }
    var checkpoint: Checkpoint {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}
