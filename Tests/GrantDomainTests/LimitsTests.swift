import EventCoding
import Foundation
import GrantDomain
import Testing

/// ``Limits`` is the one authority on sizes: what it allows, every event
/// can hold (under the store's 1 MiB), and one more is refused with the field named.
@Suite("Limits: the largest values the domain allows fit every event, and one more is refused")
struct LimitsTests {
    /// Four bytes of UTF-8 per scalar: the most a line can cost in JSON.
    static func text(_ scalars: Int) -> String { String(repeating: "😀", count: scalars) }
    static func pad(_ number: Int, _ width: Int) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    static func money(_ minor: Int64, _ currency: Currency = .dkk) -> Money { Money(minorUnits: minor, currency: currency) }
    static let storeLimit = 1 << 20
    static let at = Date(timeIntervalSince1970: 1_780_000_000)

    static func encodedSize(_ events: [any DomainEvent]) throws -> Int {
        try events.map { try EventCoding.encode($0).utf8.count }.max() ?? 0
    }

    static func largestGroup() throws -> (SteeringGroupState, UUID, [any DomainEvent]) {
        let id = UUID()
        let members = (0..<Limits.members).map { index in
            Member(id: Self.pad(index, 2) + text(Limits.identifier - 2), name: text(Limits.name),
                   affiliations: (0..<Limits.affiliations).map { String($0) + text(Limits.name - 1) })
        }
        let events = try CreateSteeringGroup(groupId: id, name: text(Limits.name), members: members, at: at).decide(.initial)
        return (SteeringGroupState.replay(events), id, events)
    }

    static func largestPool(group: UUID) -> CreatePool {
        let periods = (0..<Limits.periods).map { BudgetPeriodSpec(period: Self.pad($0, 3) + text(Limits.period - 3), amount: money(Limits.amount)) }
        let sources = (0..<Limits.sources).map { index in
            FundingSourceSpec(id: Self.pad(index, 2) + text(Limits.identifier - 2), name: text(Limits.name), amount: money(Limits.amount),
                              period: periods[index].period, earmarkedFor: (0..<Limits.earmarks).map { Self.pad($0, 2) + text(Limits.name - 2) },
                              maxSharePercent: 100)
        }
        // The first eligible organisation is the one the first source is earmarked for.
        let organisations = [sources[0].earmarkedFor![0]] + (1..<Limits.eligibleOrganisations).map { Self.pad($0, 3) + text(Limits.name - 3) }
        return CreatePool(poolId: UUID(), name: text(Limits.name), owner: text(Limits.name), currency: .dkk, carryOver: .carryOver,
                          periods: periods, sources: sources, steeringGroupId: group,
                          eligibility: EligibilityRules(organisations: organisations, minimumAmount: money(1), maximumAmount: money(Limits.amount)), at: at)
    }

    static func largestContent(organisation: String, periods: [String]) -> ApplicationContent {
        ApplicationContent(
            organisation: organisation, projectLeader: text(Limits.name),
            partners: (0..<Limits.partners).map { Self.pad($0, 3) + text(Limits.name - 3) },
            title: text(Limits.title), description: text(Limits.prose),
            focusAreas: (0..<Limits.focusAreas).map { Self.pad($0, 2) + text(Limits.name - 2) },
            requested: money(Int64(Limits.budgetLines)),
            budget: (0..<Limits.budgetLines).map { BudgetLine(category: text(Limits.name), period: periods[$0 % periods.count], amount: money(1)) },
            expectedOutcomes: text(Limits.prose), studentsReached: Limits.studentsReached.upperBound)
    }

    @Test("the largest event of every kind the deciders can write encodes under the store's 1 MiB")
    func largestEventsFit() throws {
        let (group, groupId, groupEvents) = try Self.largestGroup()
        #expect(try Self.encodedSize(groupEvents) < Self.storeLimit)

        let command = Self.largestPool(group: groupId)
        let poolEvents = try command.decide(pool: .initial, group: group)
        #expect(try Self.encodedSize(poolEvents) < Self.storeLimit)
        let pool = PoolState.replay(poolEvents)

        let callId = UUID()
        let callEvents = try OpenCall(callId: callId, poolId: command.poolId, title: Self.text(Limits.name), opensAt: Self.at.addingTimeInterval(-86_400),
                                      closesAt: Self.at.addingTimeInterval(86_400 * 30), cap: Self.money(Limits.amount), at: Self.at)
            .decide(call: .initial, pool: pool)
        let call = CallState.replay(callEvents)

        let organisation = command.eligibility.organisations![0]
        let content = Self.largestContent(organisation: organisation, periods: command.periods.map(\.period))
        let applicationId = UUID()
        let drafted = try DraftApplication(applicationId: applicationId, callId: callId, content: content, at: Self.at)
            .decide(application: .initial, call: call, pool: pool)
        #expect(try Self.encodedSize(drafted) < Self.storeLimit)
        var application = ApplicationState.replay(drafted)
        let amended = try AmendApplication(applicationId: applicationId, content: content, at: Self.at).decide(application: application, call: call, pool: pool, group: group)
        #expect(try Self.encodedSize(amended) < Self.storeLimit)
        application = ApplicationState.replay(drafted + amended)

        let submitted = ApplicationState.replay(drafted + amended + (try SubmitApplication(applicationId: applicationId, at: Self.at)
            .decide(application: application, call: call, pool: pool, group: group)))

        let meetingId = UUID()
        let present = group.created!.members.map(\.id)
        // The longest agenda: as many submitted applications as it may hold (states only the decider reads, one shared).
        let agenda = [applicationId] + (1..<Limits.agenda).map { _ in UUID() }
        let held = try HoldMeeting(meetingId: meetingId, groupId: groupId, date: Self.at, present: present, agenda: agenda)
            .decide(meeting: .initial, group: group, applications: Dictionary(uniqueKeysWithValues: agenda.map { ($0, submitted) }),
                    pools: [command.poolId: pool])
        #expect(try Self.encodedSize(held) < Self.storeLimit)
        let votes = present.filter { member in !group.members[member]!.affiliations.contains(organisation) }.map { Vote(member: $0, vote: .for) }
        let approval = RecordDecision.Approval(
            amount: Self.money(100), period: command.periods[0].period,
            conditions: (0..<Limits.conditions).map { String($0) + Self.text(Limits.reason - 2) },
            tranches: (0..<Limits.tranches).map { TrancheSpec(percent: 5, trigger: $0 == 0 ? .signing : .progressReport) })
        let decision = try RecordDecision(meetingId: meetingId, applicationId: applicationId, applicationVersion: submitted.version, votes: votes,
                                          outcome: .approve(approval), at: Self.at)
            .decide(application: submitted, meeting: MeetingState.replay(held), group: group, pool: pool, call: call, grant: .initial)
        for events in [decision.application, decision.meeting, decision.pool, decision.grant] {
            #expect(try Self.encodedSize(events) < Self.storeLimit)
        }
        let grant = GrantState.replay(decision.grant)
        let report = try FileReport(grantId: applicationId, reportId: UUID(), kind: .progress, summary: Self.text(Limits.prose), at: Self.at).decide(grant: grant)
        #expect(try Self.encodedSize(report) < Self.storeLimit)

        let roles = (0..<Limits.roles).map { index in
            index.isMultiple(of: 2) ? RoleGrant(role: .applicant, organisation: String(index) + Self.text(Limits.name - 2))
                                    : RoleGrant(role: .steering, groupId: groupId, member: present[index])
        }
        let invited = try InviteUser(userId: UUID(), email: Self.text(Limits.email - 5) + "@x.dk", name: Self.text(Limits.name), roles: roles, at: Self.at)
            .decide(user: .initial, groups: [groupId: group])
        #expect(try Self.encodedSize(invited) < Self.storeLimit)
    }

    @Test("one more than a limit is refused, naming the field")
    func overTheLimit() throws {
        let world = try World()
        func refused(_ field: String, _ body: () throws -> Any) {
            do {
                _ = try body()
                Issue.record("\(field): accepted")
            } catch let error as DomainError {
                guard case .invalidInput(let named, _) = error else { Issue.record("\(field): \(error)"); return }
                #expect(named == field)
            } catch {
                Issue.record("\(field): \(error)")
            }
        }
        func draft(_ change: (inout ApplicationContent) -> Void) throws -> [any DomainEvent] {
            var content = World.content()
            change(&content)
            return try DraftApplication(applicationId: UUID(), callId: world.callId, content: content, at: World.day(1))
                .decide(application: .initial, call: world.call, pool: world.pool)
        }
        refused("title") { try draft { $0.title = Self.text(Limits.title + 1) } }
        refused("description") { try draft { $0.description = String(repeating: "e\u{301}", count: Limits.prose / 2 + 1) } }
        refused("expectedOutcomes") { try draft { $0.expectedOutcomes = Self.text(Limits.prose + 1) } }
        refused("partners") { try draft { $0.partners = (0...Limits.partners).map { "Partner \($0)" } } }
        refused("partners[1]") { try draft { $0.partners = ["a", "a"] } }
        refused("focusAreas") { try draft { $0.focusAreas = (0...Limits.focusAreas).map { "Area \($0)" } } }
        refused("focusAreas[0]") { try draft { $0.focusAreas = ["two\nlines"] } }
        refused("organisation") { try draft { $0.organisation = "tab\there" } }
        refused("description") { try draft { $0.description = "bell \u{7}" } }
        refused("studentsReached") { try draft { $0.studentsReached = Limits.studentsReached.upperBound + 1 } }
        refused("studentsReached") { try draft { $0.studentsReached = 3_000_000_000 } }
        refused("budget[0].period") { try draft { $0.budget = [BudgetLine(category: "kits", period: "2031", amount: $0.requested)] } }
        refused("budget") {
            try draft { content in
                content.budget = (0...Limits.budgetLines).map { _ in BudgetLine(category: "kits", period: "2024", amount: World.dkk("1.00")) }
            }
        }
        refused("requested") { try draft { $0.requested = Self.money(Limits.amount + 1) } }

        let members = (0...Limits.members).map { Member(id: "m\($0)", name: "Member \($0)", affiliations: []) }
        refused("members") { try CreateSteeringGroup(groupId: UUID(), name: "Big", members: members, at: World.start).decide(.initial) }
        refused("members[0].affiliations") {
            try CreateSteeringGroup(groupId: UUID(), name: "G", members: [Member(id: "a", name: "A", affiliations: (0...Limits.affiliations).map { "Org \($0)" })],
                                    at: World.start).decide(.initial)
        }
        refused("members[0].id") {
            try CreateSteeringGroup(groupId: UUID(), name: "G", members: [Member(id: Self.text(Limits.identifier + 1), name: "A", affiliations: [])],
                                    at: World.start).decide(.initial)
        }

        func pool(_ change: (inout CreatePool) -> Void) throws -> [any DomainEvent] {
            var command = CreatePool(poolId: UUID(), name: "P", owner: "O", currency: .dkk, carryOver: .lapse,
                                     periods: [BudgetPeriodSpec(period: "2024", amount: World.dkk("1.00"))],
                                     sources: [FundingSourceSpec(id: "s", name: "S", amount: World.dkk("1.00"))],
                                     steeringGroupId: world.groupId, eligibility: EligibilityRules(), at: World.start)
            change(&command)
            return try command.decide(pool: .initial, group: world.group)
        }
        refused("periods") { try pool { $0.periods = (0...Limits.periods).map { BudgetPeriodSpec(period: "\($0)", amount: Self.money(Limits.amount)) } } }
        refused("sources") { try pool { $0.sources = (0...Limits.sources).map { FundingSourceSpec(id: "s\($0)", name: "S", amount: World.dkk("1.00")) } } }
        refused("sources[0].earmarkedFor") { try pool { $0.sources[0].earmarkedFor = (0...Limits.earmarks).map { "School \($0)" } } }
        refused("eligibility.organisations") { try pool { $0.eligibility.organisations = (0...Limits.eligibleOrganisations).map { "School \($0)" } } }
        refused("periods[0].period") { try pool { $0.periods[0].period = Self.text(Limits.period + 1) } }

        // A pool grows to at most Limits.periods periods, added ones counted.
        var big = PoolState.replay(try pool { $0.periods = (0..<Limits.periods).map { BudgetPeriodSpec(period: "\($0)", amount: Self.money(Limits.amount)) } })
        refused("period") { try AdjustBudget.addPeriod(period: "one more", amount: World.dkk("1.00"), at: World.start).decide(pool: big, poolId: UUID()) }
        #expect(big.totals.budget.minorUnits == Int64(Limits.periods) * Limits.amount)
        for event in try AdjustBudget.move(from: "0", to: "1", amount: Self.money(Limits.amount), reason: "", at: World.start).decide(pool: big, poolId: UUID()) {
            big = big.evolve(event)
        }
        refused("reason") {
            try AdjustBudget.move(from: "1", to: "2", amount: World.dkk("1.00"), reason: Self.text(Limits.reason + 1), at: World.start)
                .decide(pool: big, poolId: UUID())
        }

        var held = world
        let id = try held.draft()
        try held.submit(id)
        refused("agenda") {
            try HoldMeeting(meetingId: UUID(), groupId: world.groupId, date: World.day(2), present: ["anne"],
                            agenda: (0...Limits.agenda).map { _ in UUID() }).decide(meeting: .initial, group: world.group, applications: [:], pools: [:])
        }
    }

    @Test("a name spelled in another Unicode form is stored as the pool and the group spell it")
    func canonicalSpellings() throws {
        let composed = "R\u{E9}gion", decomposed = "Re\u{301}gion"
        #expect(composed == decomposed && Array(composed.utf8) != Array(decomposed.utf8))
        var world = try World(periods: [BudgetPeriodSpec(period: "\(composed) 2024", amount: World.dkk("500000.00"))],
                              sources: [FundingSourceSpec(id: composed, name: "Region", amount: World.dkk("500000.00"))])
        let moved = try AdjustBudget.addPeriod(period: "2025", amount: World.dkk("1.00"), at: World.day(1)).decide(pool: world.pool, poolId: world.poolId)
        world.pool = world.apply(moved, to: world.pool)
        let events = try AdjustBudget.move(from: "\(decomposed) 2024", to: "2025", amount: World.dkk("1.00"), reason: "", at: World.day(1))
            .decide(pool: world.pool, poolId: world.poolId)
        let move = try #require(events.first as? BudgetMoved)
        #expect(Array(move.fromPeriod.utf8) == Array("\(composed) 2024".utf8))
    }
}
