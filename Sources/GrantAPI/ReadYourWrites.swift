import Crypto
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Projections

/// Where a read answered from: the projections' common checkpoint, and
/// whether it had not reached the position the client asked for.
struct ReadConsistency {
    var stale: Bool

    func apply(to response: inout Response, after: Int64?) {
        if let after { response.headers[.readPosition] = String(after) }
        if stale { response.headers[.readStale] = "true" }
    }
}

extension Services {
    /// Waits, up to the configured bound, until every projection in
    /// `projections` has applied the event at `?after=` (or the
    /// `Consistent-After` header). Answers stale rather than failing.
    func waitForReadModels(_ request: Request, _ projections: [ReadModelName]) async throws -> (after: Int64?, ReadConsistency) {
        let text = request.uri.queryParameters["after"].map(String.init) ?? request.headers[.consistentAfter]
        guard let text else { return (nil, ReadConsistency(stale: false)) }
        guard let after = Int64(text), after >= 0 else {
            throw Problem.badRequest(rule: "invalid-position", field: "after", "after must be a position: a non-negative integer")
        }
        return (after, ReadConsistency(stale: !(try await waitUntil(after, appliedBy: projections))))
    }

    /// Waits, up to the configured bound, until each projection has applied
    /// the event at `position`; false if they have not by then. A position
    /// that holds no committed event (beyond the head, or one a rolled-back
    /// append never filled) answers at once: nothing anyone was told can be
    /// waited for there, and no caller, signed in or not, can make a
    /// request wait on it.
    func waitUntil(_ position: Int64, appliedBy projections: [ReadModelName]) async throws -> Bool {
        let deadline = ContinuousClock.now + consistencyWait
        var pause = Duration.milliseconds(2)
        while true {
            switch try await readModels(projections.map(\.rawValue), at: position) {
            case .applied: return true
            case .noSuchEvent: return false
            case .behind: break
            }
            let now = ContinuousClock.now
            if now >= deadline { return false }
            try await Task.sleep(until: min(now + pause, deadline), clock: .continuous)
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    private enum Progress { case applied, behind, noSuchEvent }

    /// Whether the event at `position` exists and each named projection's
    /// checkpoint is at or past it in commit order.
    private func readModels(_ projections: [String], at position: Int64) async throws -> Progress {
        guard position > 0 else { return .applied }
        let rows = try await store.client.query("""
            SELECT e.global_position IS NOT NULL,
                   count(*) FILTER (WHERE c.projection IS NULL
                                       OR (c.transaction_id::text::xid8, c.position) < (e.transaction_id, e.global_position))
            FROM unnest(\(projections)::text[]) AS wanted(name)
            LEFT JOIN events e ON e.global_position = \(position)
            LEFT JOIN projection_checkpoints c ON c.projection = wanted.name AND c.live
            GROUP BY 1
            """, logger: logger)
        for try await (exists, behind) in rows.decode((Bool, Int64).self) {
            return !exists ? .noSuchEvent : behind == 0 ? .applied : .behind
        }
        return .noSuchEvent
    }
}
