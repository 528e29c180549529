import Foundation
import GrantDomain
import PostgresNIO

/// Pools with their periods and sources as arrays in ordinal order: one
/// round trip per read. Sources' optional fields come as values and
/// "present" flags, and earmarks as JSON text, since PostgreSQL arrays
/// cannot nest or hold PostgresNIO optionals.
enum PoolRows {
    static let select = """
        SELECT p.pool_id, p.name, p.owner, p.currency, p.carry_over, p.steering_group_id, p.created_at,
               pp.periods, pp.budgets, pp.committed, pp.paid, pp.closed,
               ps.ids, ps.names, ps.amounts, ps.committed, ps.paid, ps.periods, ps.has_period, ps.earmarks, ps.shares, ps.has_share
        FROM read.pools p
        CROSS JOIN LATERAL (
            SELECT coalesce(array_agg(period ORDER BY ordinal), '{}') AS periods, coalesce(array_agg(budget ORDER BY ordinal), '{}') AS budgets,
                   coalesce(array_agg(committed ORDER BY ordinal), '{}') AS committed, coalesce(array_agg(paid ORDER BY ordinal), '{}') AS paid,
                   coalesce(array_agg(closed ORDER BY ordinal), '{}') AS closed
            FROM read.pool_periods WHERE pool_id = p.pool_id) pp
        CROSS JOIN LATERAL (
            SELECT coalesce(array_agg(source_id ORDER BY ordinal), '{}') AS ids, coalesce(array_agg(name ORDER BY ordinal), '{}') AS names,
                   coalesce(array_agg(amount ORDER BY ordinal), '{}') AS amounts, coalesce(array_agg(committed ORDER BY ordinal), '{}') AS committed,
                   coalesce(array_agg(paid ORDER BY ordinal), '{}') AS paid,
                   coalesce(array_agg(coalesce(period, '') ORDER BY ordinal), '{}') AS periods,
                   coalesce(array_agg(period IS NOT NULL ORDER BY ordinal), '{}') AS has_period,
                   coalesce(array_agg(coalesce(array_to_json(earmarked_for)::text, '') ORDER BY ordinal), '{}') AS earmarks,
                   coalesce(array_agg(coalesce(max_share_percent, 0) ORDER BY ordinal), '{}') AS shares,
                   coalesce(array_agg(max_share_percent IS NOT NULL ORDER BY ordinal), '{}') AS has_share
            FROM read.pool_sources WHERE pool_id = p.pool_id) ps
        """

    static func decode(_ row: PostgresRow) throws -> PoolView {
        let cells = row.makeRandomAccess()
        func column<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T { try cells[index].decode(T.self) }
        let currency: String = try column(3)
        let code = try Currency(code: currency)
        func amount(_ minorUnits: Int64) -> Money { Money(minorUnits: minorUnits, currency: code) }
        // Sums and differences in 128 bits: no figure a read model holds can trap them.
        func total(_ amounts: [Int64]) -> MoneyTotal { MoneyTotal(summing: amounts, currency: code) }
        func difference(_ left: Int64, _ right: Int64) -> MoneyTotal { MoneyTotal(minorUnits: Int128(left) - Int128(right), currency: code) }

        let (periods, budgets, committed, paid, closed) =
            (try column(7, [String].self), try column(8, [Int64].self), try column(9, [Int64].self), try column(10, [Int64].self), try column(11, [Bool].self))
        var periodViews: [PoolView.Period] = []
        for index in periods.indices {
            periodViews.append(.init(period: periods[index], budget: amount(budgets[index]), committed: amount(committed[index]),
                                     paid: amount(paid[index]), available: difference(budgets[index], committed[index]), closed: closed[index]))
        }

        let ids = try column(12, [String].self), names = try column(13, [String].self), amounts = try column(14, [Int64].self)
        let sourceCommitted = try column(15, [Int64].self), sourcePaid = try column(16, [Int64].self)
        let sourcePeriods = try column(17, [String].self), hasPeriod = try column(18, [Bool].self)
        let earmarks = try column(19, [String].self), shares = try column(20, [Int].self), hasShare = try column(21, [Bool].self)
        var sourceViews: [PoolView.Source] = []
        for index in ids.indices {
            sourceViews.append(.init(
                id: ids[index], name: names[index], amount: amount(amounts[index]), committed: amount(sourceCommitted[index]),
                paid: amount(sourcePaid[index]), available: difference(amounts[index], sourceCommitted[index]),
                period: hasPeriod[index] ? sourcePeriods[index] : nil,
                earmarkedFor: earmarks[index].isEmpty ? nil : try JSONDecoder().decode([String].self, from: Data(earmarks[index].utf8)),
                maxSharePercent: hasShare[index] ? shares[index] : nil))
        }

        return PoolView(
            id: try column(0), name: try column(1), owner: try column(2), currency: currency, carryOver: try column(4),
            steeringGroupId: try column(5), createdAt: try column(6),
            totals: .init(budget: total(budgets), committed: total(committed), paid: total(paid), available: total(budgets) - total(committed)),
            periods: periodViews, sources: sourceViews)
    }
}

/// One pool. A statement of its own: with "$1 IS NULL OR pool_id = $1"
/// PostgreSQL found no generic plan as good as a custom one and planned
/// every execution again (0.2 ms planning for 0.1 ms of work).
struct PoolByID: PostgresPreparedStatement {
    static let sql = PoolRows.select + "\nWHERE p.pool_id = $1"
    typealias Row = PoolView

    var id: UUID

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PoolView { try PoolRows.decode(row) }
}

/// Every pool, oldest first.
struct AllPools: PostgresPreparedStatement {
    static let sql = PoolRows.select + "\nORDER BY p.created_at, p.pool_id"
    typealias Row = PoolView

    func makeBindings() -> PostgresBindings { PostgresBindings() }

    func decodeRow(_ row: PostgresRow) throws -> PoolView { try PoolRows.decode(row) }
}
