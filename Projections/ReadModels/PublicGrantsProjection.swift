import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Open data: every awarded grant with its recipient, amount, pool and
/// date, as published. Nothing personal, nothing unapproved.
public struct PublicGrantsProjection: Projection {
    public init() {}
    public let name = ReadModelName.publicGrants.rawValue
    public let tables = ["public_pools", "public_grants"]
    public let eventTypes = Set(Self.typeOrder)
    public let schema = """
        CREATE TABLE public_pools (pool_id uuid PRIMARY KEY, name text NOT NULL, owner text NOT NULL);
        CREATE TABLE public_grants (
            grant_id uuid PRIMARY KEY, recipient text NOT NULL, title text NOT NULL, pool_id uuid NOT NULL,
            pool_name text NOT NULL, pool_owner text NOT NULL, amount bigint NOT NULL, currency text NOT NULL,
            awarded_on date NOT NULL, status text NOT NULL
        );
        CREATE INDEX public_grants_by_date ON public_grants (awarded_on, grant_id);
        """

    /// Every type; pools first, as awards read them (see ``Rounds``).
    static let typeOrder = [
        PoolCreated.eventType, GrantAwarded.eventType, GrantReduced.eventType, GrantCancelled.eventType, RepaymentRecorded.eventType,
    ]

    /// Awards go set-based, a statement per round; the rest one by one.
    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await applyInRounds(events, typeOrder: Self.typeOrder) { type, events in
            guard type == GrantAwarded.eventType else {
                return try await forEach(events) { try await applyOne($0, connection, logger) }
            }
            let awards = try decodeEach(GrantAwarded.self, events)
            try await connection.query("""
                INSERT INTO public_grants
                SELECT g.id, g.recipient, g.title, p.pool_id, p.name, p.owner, g.amount, g.currency, (g.awarded_at AT TIME ZONE 'UTC')::date, 'awarded'
                FROM unnest(\(awards.map(\.grantId)), \(awards.map(\.organisation)), \(awards.map(\.title)), \(awards.map(\.poolId)),
                            \(awards.map(\.amount.minorUnits)), \(awards.map(\.amount.currency.code)), \(awards.map(\.occurredAt)))
                     AS g(id, recipient, title, pool_id, amount, currency, awarded_at)
                JOIN public_pools p ON p.pool_id = g.pool_id
                """, logger: logger)
        }
    }

    private func applyOne(_ event: RecordedEvent, _ connection: PostgresConnection, _ logger: Logger) async throws {
        switch event.type {
        case PoolCreated.eventType:
            let pool = try decode(PoolCreated.self, event)
            try await connection.query("INSERT INTO public_pools VALUES (\(pool.poolId), \(pool.name), \(pool.owner))", logger: logger)
        case GrantReduced.eventType:
            let reduced = try decode(GrantReduced.self, event)
            try await connection.query("""
                UPDATE public_grants SET amount = \(reduced.newAmount.minorUnits) WHERE grant_id = \(try streamUUID(event.streamId))
                """, logger: logger)
        case GrantCancelled.eventType:
            let cancelled = try decode(GrantCancelled.self, event)
            try await connection.query("""
                UPDATE public_grants SET status = 'cancelled', amount = amount - \(cancelled.released.minorUnits)
                WHERE grant_id = \(try streamUUID(event.streamId))
                """, logger: logger)
        case RepaymentRecorded.eventType:
            let repaid = try decode(RepaymentRecorded.self, event)
            try await connection.query("""
                UPDATE public_grants SET amount = amount - \(repaid.amount.minorUnits) WHERE grant_id = \(try streamUUID(event.streamId))
                """, logger: logger)
        default:
            break
        }
    }
}
