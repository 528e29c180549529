import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Open data: every awarded grant with its recipient, amount, pool and
/// date, as published. Nothing personal, nothing unapproved.
public struct PublicGrantsProjection: Projection {
    public init() {}
    public let name = "public_grants"
    public let tables = ["public_pools", "public_grants"]
    public let eventTypes: Set<String> = [
        PoolCreated.eventType, GrantAwarded.eventType, GrantReduced.eventType, GrantCancelled.eventType, RepaymentRecorded.eventType,
    ]
    public let schema = """
        CREATE TABLE public_pools (pool_id uuid PRIMARY KEY, name text NOT NULL, owner text NOT NULL);
        CREATE TABLE public_grants (
            grant_id uuid PRIMARY KEY, recipient text NOT NULL, title text NOT NULL, pool_id uuid NOT NULL,
            pool_name text NOT NULL, pool_owner text NOT NULL, amount bigint NOT NULL, currency text NOT NULL,
            awarded_on date NOT NULL, status text NOT NULL
        );
        CREATE INDEX public_grants_by_date ON public_grants (awarded_on, grant_id);
        """

    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await forEach(events) { event in
            switch event.type {
            case PoolCreated.eventType:
                let pool = try decode(PoolCreated.self, event)
                try await connection.query("INSERT INTO public_pools VALUES (\(pool.poolId), \(pool.name), \(pool.owner))", logger: logger)
            case GrantAwarded.eventType:
                let grant = try decode(GrantAwarded.self, event)
                try await connection.query("""
                    INSERT INTO public_grants
                    SELECT \(grant.grantId), \(grant.organisation), \(grant.title), p.pool_id, p.name, p.owner, \(grant.amount.minorUnits),
                           \(grant.amount.currency.code), (\(grant.occurredAt) AT TIME ZONE 'UTC')::date, 'awarded'
                    FROM public_pools p WHERE p.pool_id = \(grant.poolId)
                    """, logger: logger)
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
}
