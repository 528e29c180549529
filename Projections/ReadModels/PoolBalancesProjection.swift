import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Pool balances per budget period and per funding source: budget (or
/// amount), committed, paid; available is budget minus committed. Amounts
/// are minor units of the pool's currency.
public struct PoolBalancesProjection: Projection {
    public init() {}
    public let name = ReadModelName.poolBalances.rawValue
    public let tables = ["pools", "pool_periods", "pool_sources"]
    public let eventTypes = Self.budgetTypes.union(Self.moneyTypes)
    public let schema = """
        CREATE TABLE pools (
            pool_id uuid PRIMARY KEY, name text NOT NULL, owner text NOT NULL, currency text NOT NULL,
            carry_over text NOT NULL, steering_group_id uuid NOT NULL, created_at timestamptz NOT NULL,
            last_position bigint NOT NULL
        );
        CREATE TABLE pool_periods (
            pool_id uuid NOT NULL, period text NOT NULL, ordinal integer NOT NULL,
            budget bigint NOT NULL, committed bigint NOT NULL DEFAULT 0, paid bigint NOT NULL DEFAULT 0,
            closed boolean NOT NULL DEFAULT false,
            PRIMARY KEY (pool_id, period)
        );
        CREATE TABLE pool_sources (
            pool_id uuid NOT NULL, source_id text NOT NULL, ordinal integer NOT NULL, name text NOT NULL,
            amount bigint NOT NULL, period text, earmarked_for text[], max_share_percent integer,
            committed bigint NOT NULL DEFAULT 0, paid bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (pool_id, source_id)
        );
        """

    /// Budget events, applied one by one in order: they create periods and
    /// sources and change budgets.
    static let budgetTypes: Set<String> = [
        PoolCreated.eventType, BudgetPeriodAdded.eventType, BudgetMoved.eventType, BudgetPeriodClosed.eventType,
    ]
    /// Money events only add to committed and paid, and additions commute.
    static let moneyTypes: Set<String> = [
        MoneyCommitted.eventType, CommitmentReleased.eventType, PaymentDisbursed.eventType, RepaymentReceived.eventType,
    ]

    /// Budget events first, in order; then the batch's money movements
    /// summed per period and per source, one statement each. Reordering is
    /// safe: a movement's period and sources exist before its event (the
    /// pool decides nothing against a period it does not have), and no
    /// budget event reads committed or paid.
    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        var movements = Movements()
        try await forEach(events) { event in
            let pool = try streamUUID(event.streamId)
            switch event.type {
            case MoneyCommitted.eventType:
                let committed = try decode(MoneyCommitted.self, event)
                try movements.add(pool, committed.period, committed.sources, committed: 1, paid: 0)
            case CommitmentReleased.eventType:
                let released = try decode(CommitmentReleased.self, event)
                try movements.add(pool, released.period, released.sources, committed: -1, paid: 0)
            case PaymentDisbursed.eventType:
                let paid = try decode(PaymentDisbursed.self, event)
                try movements.add(pool, paid.period, paid.sources, committed: 0, paid: 1)
            case RepaymentReceived.eventType:
                let repaid = try decode(RepaymentReceived.self, event)
                try movements.add(pool, repaid.period, repaid.sources, committed: -1, paid: -1)
            default:
                try await applyBudgetEvent(event, pool, connection, logger)
            }
        }
        guard !movements.periods.isEmpty else { return }
        let periods = Array(movements.periods), sources = Array(movements.sources)
        try await connection.query("""
            UPDATE pool_periods p SET committed = p.committed + m.committed, paid = p.paid + m.paid
            FROM unnest(\(periods.map(\.key.pool)), \(periods.map(\.key.name)), \(periods.map(\.value.committed)), \(periods.map(\.value.paid)))
                 AS m(pool_id, period, committed, paid)
            WHERE p.pool_id = m.pool_id AND p.period = m.period
            """, logger: logger)
        try await connection.query("""
            UPDATE pool_sources s SET committed = s.committed + m.committed, paid = s.paid + m.paid
            FROM unnest(\(sources.map(\.key.pool)), \(sources.map(\.key.name)), \(sources.map(\.value.committed)), \(sources.map(\.value.paid)))
                 AS m(pool_id, source_id, committed, paid)
            WHERE s.pool_id = m.pool_id AND s.source_id = m.source_id
            """, logger: logger)
    }

    private func applyBudgetEvent(_ event: RecordedEvent, _ pool: UUID, _ connection: PostgresConnection, _ logger: Logger) async throws {
        switch event.type {
        case PoolCreated.eventType:
            let created = try decode(PoolCreated.self, event)
            try await connection.query("""
                INSERT INTO pools VALUES (\(created.poolId), \(created.name), \(created.owner), \(created.currency.code),
                    \(created.carryOver.rawValue), \(created.steeringGroupId), \(created.occurredAt), \(event.position))
                """, logger: logger)
            for (ordinal, period) in created.periods.enumerated() {
                try await connection.query("""
                    INSERT INTO pool_periods (pool_id, period, ordinal, budget) VALUES (\(pool), \(period.period), \(ordinal + 1), \(period.amount.minorUnits))
                    """, logger: logger)
            }
            for (ordinal, source) in created.sources.enumerated() {
                try await connection.query("""
                    INSERT INTO pool_sources (pool_id, source_id, ordinal, name, amount, period, earmarked_for, max_share_percent)
                    VALUES (\(pool), \(source.id), \(ordinal + 1), \(source.name), \(source.amount.minorUnits), \(source.period),
                            \(source.earmarkedFor), \(source.maxSharePercent))
                    """, logger: logger)
            }
        case BudgetPeriodAdded.eventType:
            let added = try decode(BudgetPeriodAdded.self, event)
            try await connection.query("""
                INSERT INTO pool_periods (pool_id, period, ordinal, budget)
                SELECT \(pool), \(added.period), coalesce(max(ordinal), 0) + 1, \(added.amount.minorUnits) FROM pool_periods WHERE pool_id = \(pool)
                """, logger: logger)
        case BudgetMoved.eventType:
            let moved = try decode(BudgetMoved.self, event)
            try await addBudget(-moved.amount.minorUnits, pool, moved.fromPeriod, connection, logger)
            try await addBudget(moved.amount.minorUnits, pool, moved.toPeriod, connection, logger)
        case BudgetPeriodClosed.eventType:
            let closed = try decode(BudgetPeriodClosed.self, event)
            try await connection.query("""
                UPDATE pool_periods SET closed = true, budget = budget - \(closed.unspent.minorUnits)
                WHERE pool_id = \(pool) AND period = \(closed.period)
                """, logger: logger)
            if let next = closed.carriedOverTo { try await addBudget(closed.unspent.minorUnits, pool, next, connection, logger) }
        default:
            break
        }
    }

    private func addBudget(_ minorUnits: Int64, _ pool: UUID, _ period: String, _ connection: PostgresConnection, _ logger: Logger) async throws {
        try await connection.query("UPDATE pool_periods SET budget = budget + \(minorUnits) WHERE pool_id = \(pool) AND period = \(period)", logger: logger)
    }
}

/// A batch's money movements summed per pool period and per pool source.
private struct Movements {
    struct Key: Hashable { var pool: UUID; var name: String }
    struct Sums { var committed: Int64 = 0; var paid: Int64 = 0 }
    var periods: [Key: Sums] = [:]
    var sources: [Key: Sums] = [:]

    /// Adds the parts, times the signs (-1, 0 or 1), to the period and to
    /// each source. Far inside 64 bits for any history the domain writes; a
    /// sum past them (an imported history it could not have written) stops
    /// the projection at that event, named, rather than the process.
    mutating func add(_ pool: UUID, _ period: String, _ parts: [SourceAmount], committed: Int64, paid: Int64) throws {
        func add(_ sum: inout Int64, _ sign: Int64, _ amount: Int64) throws {
            let (value, overflow) = sum.addingReportingOverflow(sign == 0 ? 0 : (sign < 0 ? 0 &- amount : amount))
            guard !overflow else { throw DomainError.amountOverflow }
            sum = value
        }
        for part in parts {
            let amount = part.amount.minorUnits
            try add(&periods[Key(pool: pool, name: period), default: Sums()].committed, committed, amount)
            try add(&periods[Key(pool: pool, name: period), default: Sums()].paid, paid, amount)
            try add(&sources[Key(pool: pool, name: part.source), default: Sums()].committed, committed, amount)
            try add(&sources[Key(pool: pool, name: part.source), default: Sums()].paid, paid, amount)
        }
    }
}

/// The aggregate id at the end of a stream name such as `pool-<uuid>`.
func streamUUID(_ streamId: String) throws -> UUID {
    guard let id = UUID(uuidString: String(streamId.suffix(36))) else {
        throw DomainError.invalidInput(field: "stream", reason: "\(streamId) does not end in an id")
    }
    return id
}
