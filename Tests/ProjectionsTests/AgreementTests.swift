import EventStore
import Foundation
import GrantCommands
import GrantDomain
import PostgresNIO
import Programmes
import Projections
import Testing

/// The read models say what replaying the streams through the deciders says.
@Suite("Read models agree with the streams", .serialized)
struct AgreementTests {
    @Test("every pool's and grant's balance in the read model equals its replayed state", .timeLimit(.minutes(3)), arguments: [0, 1, 2])
    func agreement(seed: UInt64) async throws {
        do { try await check(seed: seed) } catch {
            Issue.record("\(String(reflecting: error))")
        }
    }

    func check(seed: UInt64) async throws {
        try await FreshDatabase.with { store, url in
            if seed == 0 {
                _ = try await Demo(handler: CommandHandler(store: store)).load()
            } else {
                try await FreshDatabase.generate(store, seed: 100 + seed, pools: 3, applicationsPerPool: 60)
            }
            try await WorkerTests.withWorkers(url) { _ = try await FreshDatabase.waitUntilCaughtUp(store) }
            let session = Session(store: store)

            var pools = 0
            for try await id in try await store.client.query("SELECT pool_id FROM read.pools").decode(UUID.self) {
                pools += 1
                let state = try await session.load(PoolState.self, id).state
                var periods: [String: PoolState.Period] = [:]
                for try await (period, budget, committed, paid, closed) in try await store.client.query(
                    "SELECT period, budget, committed, paid, closed FROM read.pool_periods WHERE pool_id = \(id)"
                ).decode((String, Int64, Int64, Int64, Bool).self) {
                    periods[period] = PoolState.Period(budget: budget, committed: committed, paid: paid, closed: closed)
                }
                #expect(periods == state.periods, "pool \(id) periods")
                for try await (source, committed, paid) in try await store.client.query(
                    "SELECT source_id, committed, paid FROM read.pool_sources WHERE pool_id = \(id)"
                ).decode((String, Int64, Int64).self) {
                    #expect(state.sources[source]?.committed == committed && state.sources[source]?.paid == paid, "pool \(id) source \(source)")
                }
            }
            #expect(pools > 0)

            var grants = 0
            for try await (id, amount, paid, status) in try await store.client.query(
                "SELECT grant_id, amount, paid, status FROM read.grants"
            ).decode((UUID, Int64, Int64, String).self) {
                grants += 1
                let state = try await session.load(GrantState.self, id).state
                #expect(state.amount.minorUnits == amount && state.paid.minorUnits == paid, "grant \(id)")
                #expect((status == "cancelled") == state.cancelled, "grant \(id) status")
                var tranches: [Int: (Int64, String)] = [:]
                for try await (number, trancheAmount, trancheStatus) in try await store.client.query(
                    "SELECT number, amount, status FROM read.grant_tranches WHERE grant_id = \(id)"
                ).decode((Int, Int64, String).self) {
                    tranches[number] = (trancheAmount, trancheStatus)
                }
                for tranche in state.tranches {
                    #expect(tranches[tranche.number]?.0 == tranche.amount.minorUnits, "grant \(id) tranche \(tranche.number) amount")
                    #expect(tranches[tranche.number]?.1 == state.trancheStatus[tranche.number]?.rawValue, "grant \(id) tranche \(tranche.number) status")
                }
            }
            #expect(grants > 0)
        }
    }
}
