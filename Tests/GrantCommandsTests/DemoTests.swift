import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Programmes
import Testing

/// The demo's pool balances, replayed from their streams, against totals
/// worked out by hand from the demo's story.
@Suite("The demo data")
struct DemoTests {
    static func dkk(_ text: String) -> Money { try! Money(text, .dkk) }
    static func nok(_ text: String) -> Money { try! Money(text, .nok) }

    @Test("balances replayed from the streams match the hand-computed totals, and a second run adds nothing")
    func demoBalances() async throws {
        try await TestDatabase.withHandler { handler in
            let first = try await Demo(handler: handler).load()
            let again = try await Demo(handler: handler).load()
            #expect(again.commands == first.commands)
            #expect(again.replayed == again.commands)

            // Den Nordjyske Teknologipagt, 2024: robots 300,000 (paid 120,000 + 120,000);
            // Girls in STEM 200,000, paid 80,000, cancelled (120,000 released);
            // Matematikvejledere 150,000 paid in full, 20,000 repaid.
            let nord = try await TestDatabase.load(PoolState.self, Demo.nordjyllandPool, handler).state
            #expect(nord.money(nord.periods["2024"]!.committed) == Self.dkk("510000.00"))
            #expect(nord.money(nord.periods["2024"]!.paid) == Self.dkk("450000.00"))
            #expect(nord.money(nord.periods["2024"]!.available) == Self.dkk("4490000.00"))
            #expect(nord.totals.budget == Self.dkk("45000000.00"))
            #expect(nord.totals.available == Self.dkk("44490000.00"))
            #expect(nord.money(nord.sources["region-nordjylland"]!.paid) == Self.dkk("450000.00"))

            // STEM-projektet: each school's earmarked region pays its grant; Tradium got 40 % on signing.
            let stem = try await TestDatabase.load(PoolState.self, Demo.stemProjectPool, handler).state
            #expect(stem.money(stem.periods["2019-2021"]!.committed) == Self.dkk("1100000.00"))
            #expect(stem.money(stem.periods["2019-2021"]!.paid) == Self.dkk("240000.00"))
            #expect(stem.money(stem.sources["region-midtjylland"]!.committed) == Self.dkk("600000.00"))
            #expect(stem.money(stem.sources["region-midtjylland"]!.paid) == Self.dkk("240000.00"))
            #expect(stem.money(stem.sources["region-sjaelland"]!.committed) == Self.dkk("500000.00"))
            #expect(stem.sources["eu"]!.committed == 0)

            // Norway, in NOK: one class set, three transport claims, all paid.
            let fund = try await TestDatabase.load(PoolState.self, Demo.schoolFundPool, handler).state
            #expect(fund.totals.paid == Self.nok("45000.00"))
            #expect(fund.totals.available == Self.nok("455000.00"))
            let transport = try await TestDatabase.load(PoolState.self, Demo.transportPool, handler).state
            #expect(transport.totals.committed == Self.nok("7900.00"))
            #expect(transport.totals.paid == Self.nok("7900.00"))

            // Every stage is present.
            var statuses: [ApplicationStatus] = []
            for name in ["robotteknologi", "naturfagsmaraton", "girls-in-stem", "makerspace-thisted", "teknologiforstaaelse", "matematikvejledere"] {
                statuses.append(try await TestDatabase.load(ApplicationState.self, UUID.named("application/\(name)"), handler).state.status)
            }
            #expect(statuses == [.approved, .rejected, .approved, .draft, .submitted, .approved])
            let girls = try await TestDatabase.load(GrantState.self, UUID.named("application/girls-in-stem"), handler).state
            #expect(girls.cancelled && girls.paid == Self.dkk("80000.00"))
            let robots = try await TestDatabase.load(GrantState.self, UUID.named("application/robotteknologi"), handler).state
            #expect(robots.amount == Self.dkk("300000.00") && robots.paid == Self.dkk("240000.00"))
        }
    }
}
