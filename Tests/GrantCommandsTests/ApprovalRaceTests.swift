import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Testing

@Suite("Command handling against PostgreSQL")
struct ApprovalRaceTests {
    static let at = Date(timeIntervalSince1970: 1_717_200_000)
    static func dkk(_ text: String) -> Money { try! Money(text, .dkk) }

    /// A group, a pool with one period of `budget`, a call, and `count`
    /// submitted applications of `requested` each, all on one meeting's agenda.
    static func setUp(_ handler: CommandHandler, budget: String, count: Int, requested: String) async throws -> (pool: UUID, meeting: UUID, applications: [UUID]) {
        let (group, pool, call) = try await openCall(handler, budget: budget)
        let meeting = UUID()
        var applications: [UUID] = []
        for index in 0..<count {
            let id = try await draft(handler, call: call, index: index, requested: requested)
            try await handler.submitApplication(SubmitApplication(applicationId: id, at: at.addingTimeInterval(120)), TestDatabase.admin())
            applications.append(id)
        }
        try await handler.holdMeeting(HoldMeeting(meetingId: meeting, groupId: group, date: at.addingTimeInterval(86_400 * 40), present: ["m1", "m2", "m3"], agenda: applications), TestDatabase.admin())
        return (pool, meeting, applications)
    }

    /// A group of three, a pool with one period of `budget`, and a call open on it.
    static func openCall(_ handler: CommandHandler, budget: String) async throws -> (group: UUID, pool: UUID, call: UUID) {
        let group = UUID(), pool = UUID(), call = UUID()
        let members = ["m1", "m2", "m3"].map { Member(id: $0, name: $0, affiliations: []) }
        try await handler.createSteeringGroup(CreateSteeringGroup(groupId: group, name: "Race group", members: members, at: at), TestDatabase.admin())
        try await handler.createPool(CreatePool(
            poolId: pool, name: "Race pool", owner: "Region", currency: .dkk, carryOver: .lapse,
            periods: [BudgetPeriodSpec(period: "2024", amount: dkk(budget))],
            sources: [FundingSourceSpec(id: "region", name: "Region", amount: dkk(budget))],
            steeringGroupId: group, eligibility: EligibilityRules(), at: at), TestDatabase.admin())
        try await handler.openCall(OpenCall(callId: call, poolId: pool, title: "Race call", opensAt: at, closesAt: at.addingTimeInterval(86_400 * 30), cap: nil, at: at), TestDatabase.admin())
        return (group, pool, call)
    }

    /// A drafted application in `call`.
    static func draft(_ handler: CommandHandler, call: UUID, index: Int, requested: String = "100000.00") async throws -> UUID {
        let id = UUID()
        let content = ApplicationContent(organisation: "School \(index)", projectLeader: "leader", title: "Project \(index)", description: "", requested: dkk(requested))
        let result = try await handler.draftApplication(DraftApplication(applicationId: id, callId: call, content: content, at: at.addingTimeInterval(60)), TestDatabase.admin())
        #expect(!result.replayed)
        return id
    }

    @Test("a decision commits only on the states it was made on: a pool changed elsewhere since is read and decided on again")
    func readStreamsAreChecked() async throws {
        try await TestDatabase.withHandler { here in
            let (_, pool, call) = try await Self.openCall(here, budget: "500000.00")
            _ = try await Self.draft(here, call: call, index: 0)
            // Another process changes the pool a draft only reads.
            let elsewhere = CommandHandler(store: here.store)
            try await elsewhere.adjustBudget(poolId: pool, .addPeriod(period: "2025", amount: Self.dkk("100000.00"), at: Self.at), TestDatabase.admin())
            let content = ApplicationContent(organisation: "School 1", projectLeader: "leader", title: "Project 1", description: "", requested: Self.dkk("100000.00"))
            let second = UUID()
            let result = try await here.draftApplication(DraftApplication(applicationId: second, callId: call, content: content, at: Self.at.addingTimeInterval(60)), TestDatabase.admin())
            // Decided first on the pool as this handler had folded it; the append found it changed.
            #expect(result.attempts == 2)
            #expect(try await TestDatabase.load(ApplicationState.self, second, here).state.status == .draft)
        }
    }

    @Test("what a command appended is what the next one on its streams decides on: each commits at its first attempt")
    func appendedStatesAreKept() async throws {
        try await TestDatabase.withHandler { handler in
            let (_, pool, _) = try await Self.openCall(handler, budget: "500000.00")
            // Each decided on the pool as the one before left it; decided on the pool as last read, each after the first clashed.
            for year in 2025...2027 {
                let result = try await handler.adjustBudget(poolId: pool, .addPeriod(period: "\(year)", amount: Self.dkk("100000.00"), at: Self.at),
                                                            TestDatabase.admin())
                #expect(result.attempts == 1, "\(year)")
            }
            #expect(try await TestDatabase.load(PoolState.self, pool, handler).state.periodOrder == ["2024", "2025", "2026", "2027"])
        }
    }

    @Test("a refusal on states this handler folded before is checked against the store before it stands")
    func staleRefusalIsDecidedAgain() async throws {
        try await TestDatabase.withHandler { here in
            let (group, pool, call) = try await Self.openCall(here, budget: "500000.00")
            let application = try await Self.draft(here, call: call, index: 0)
            // Here the application is a draft; another process submits it and puts it on a meeting's agenda.
            let elsewhere = CommandHandler(store: here.store)
            try await elsewhere.submitApplication(SubmitApplication(applicationId: application, at: Self.at.addingTimeInterval(120)), TestDatabase.admin())
            let meeting = UUID()
            try await elsewhere.holdMeeting(HoldMeeting(meetingId: meeting, groupId: group, date: Self.at.addingTimeInterval(86_400 * 40), present: ["m1", "m2"], agenda: [application]), TestDatabase.admin())
            try await here.recordDecision(RecordDecision(
                meetingId: meeting, applicationId: application, applicationVersion: 1,
                votes: [Vote(member: "m1", vote: .for), Vote(member: "m2", vote: .for)],
                outcome: .approve(.init(amount: Self.dkk("100000.00"), period: "2024")), at: Date()), TestDatabase.admin())
            #expect(try await TestDatabase.load(ApplicationState.self, application, here).state.status == .approved)
            #expect(try await TestDatabase.load(PoolState.self, pool, here).state.commitments.count == 1)
        }
    }

    @Test("a refusal decided reading only the streams this handler never folded still stands only on what the store holds")
    func refusalOnFoldedStreamsIsDecidedOnTheStore() async throws {
        try await TestDatabase.withHandler { here in
            let (group, pool, call) = try await Self.openCall(here, budget: "500000.00")
            // Here the pool has one period, 2024. Another process adds 2025 and
            // brings an application this handler never saw to a meeting.
            let elsewhere = CommandHandler(store: here.store)
            try await elsewhere.adjustBudget(poolId: pool, .addPeriod(period: "2025", amount: Self.dkk("300000.00"), at: Self.at), TestDatabase.admin())
            let application = try await Self.draft(elsewhere, call: call, index: 0)
            try await elsewhere.submitApplication(SubmitApplication(applicationId: application, at: Self.at.addingTimeInterval(120)), TestDatabase.admin())
            let meeting = UUID()
            try await elsewhere.holdMeeting(HoldMeeting(meetingId: meeting, groupId: group, date: Self.at.addingTimeInterval(86_400 * 40), present: ["m1", "m2"], agenda: [application]), TestDatabase.admin())
            // Read the meeting and application, the pool as folded here has no
            // 2025: refused; read again in full, approved, in one attempt.
            let result = try await here.recordDecision(RecordDecision(
                meetingId: meeting, applicationId: application, applicationVersion: 1,
                votes: [Vote(member: "m1", vote: .for), Vote(member: "m2", vote: .for)],
                outcome: .approve(.init(amount: Self.dkk("100000.00"), period: "2025")), at: Date()), TestDatabase.admin())
            #expect(result.attempts == 1)
            #expect(try await TestDatabase.load(ApplicationState.self, application, here).state.status == .approved)
            #expect(try await TestDatabase.load(PoolState.self, pool, here).state.periods["2025"]?.committed == 10_000_000)
        }
    }

    /// Folded: through the handler that took the submissions; else through
    /// one that never saw them, as after a restart, which reads each.
    @Test("50 concurrent approvals on a pool that fits 7: exactly 7 succeed, the rest are refused for insufficient funds",
          arguments: [true, false])
    func approvalRace(folded: Bool) async throws {
        try await TestDatabase.withHandler { submitter in
            let (pool, meeting, applications) = try await Self.setUp(submitter, budget: "750000.00", count: 50, requested: "100000.00")
            let handler = folded ? submitter : CommandHandler(store: submitter.store)
            enum Outcome: Sendable { case approved, insufficientFunds, other(String) }
            let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
                for application in applications {
                    group.addTask {
                        do {
                            try await handler.recordDecision(RecordDecision(
                                meetingId: meeting, applicationId: application, applicationVersion: 1,
                                votes: [Vote(member: "m1", vote: .for), Vote(member: "m2", vote: .for)],
                                outcome: .approve(.init(amount: Self.dkk("100000.00"), period: "2024")), at: Date()), TestDatabase.admin())
                            return .approved
                        } catch DomainError.insufficientFunds(let period, let available, let requested) {
                            #expect(period == "2024" && requested == Self.dkk("100000.00") && available.minorUnits < 10_000_000)
                            return .insufficientFunds
                        } catch {
                            return .other(String(describing: error))
                        }
                    }
                }
                return try await group.reduce(into: [Outcome]()) { $0.append($1) }
            }
            let approved = outcomes.filter { if case .approved = $0 { true } else { false } }.count
            let refused = outcomes.filter { if case .insufficientFunds = $0 { true } else { false } }.count
            let others = outcomes.compactMap { if case .other(let text) = $0 { text } else { nil } }
            #expect(others.isEmpty, "unexpected outcomes: \(others.prefix(3))")
            #expect(approved == 7)
            #expect(refused == 43)

            let state = try await TestDatabase.load(PoolState.self, pool, handler).state
            #expect(state.periods["2024"]?.committed == 70_000_000)
            #expect(state.periods["2024"]?.available == 5_000_000)
            #expect(state.sources["region"]?.committed == 70_000_000)
            #expect(state.commitments.count == 7)
        }
    }

    @Test("approvals clashing on one pool are decided together: each sees the ones before it, several share a commit")
    func approvalsDecidedTogether() async throws {
        try await TestDatabase.withHandler { handler in
            let (pool, meeting, applications) = try await Self.setUp(handler, budget: "2000000.00", count: 24, requested: "100000.00")
            let outcomes = try await withThrowingTaskGroup(of: CommandResult?.self) { group in
                for application in applications {
                    group.addTask {
                        do {
                            return try await handler.recordDecision(RecordDecision(
                                meetingId: meeting, applicationId: application, applicationVersion: 1,
                                votes: [Vote(member: "m1", vote: .for), Vote(member: "m2", vote: .for)],
                                outcome: .approve(.init(amount: Self.dkk("100000.00"), period: "2024")), at: Date()), TestDatabase.admin())
                        } catch DomainError.insufficientFunds {
                            return nil
                        }
                    }
                }
                return try await group.reduce(into: [CommandResult?]()) { $0.append($1) }
            }
            let approved = outcomes.compactMap { $0 }
            #expect(approved.count == 20)
            #expect(Set(approved.map(\.transactionId)).count < approved.count)
            let state = try await TestDatabase.load(PoolState.self, pool, handler).state
            #expect(state.periods["2024"]?.committed == 200_000_000)
            #expect(state.periods["2024"]?.available == 0)
            #expect(state.commitments.count == 20)
            // The meeting's stream was written by the same appends: 20 decisions, and nothing for the 4 refused.
            #expect(try await TestDatabase.load(MeetingState.self, meeting, handler).state.decided.count == 20)
        }
    }

    @Test("approvals on one pool from two processes at once: the pool never commits more than it holds, and every record agrees")
    func approvalRaceAcrossProcesses() async throws {
        try await TestDatabase.withHandler { here in
            let (pool, meeting, applications) = try await Self.setUp(here, budget: "2500000.00", count: 40, requested: "300000.00")
            // This process decides its approvals of 100,000 together, in batches; the other approves 300,000 one at a
            // time, so its commits move the pool and the meeting by one event each, as the appends of a batch expect
            // of each other: a batch's append that clashed must not leave the next decided on its commitment.
            let elsewhere = CommandHandler(store: here.store)
            @Sendable func approve(_ handler: CommandHandler, _ application: UUID, _ amount: String) async throws -> Bool {
                do {
                    try await handler.recordDecision(RecordDecision(
                        meetingId: meeting, applicationId: application, applicationVersion: 1,
                        votes: [Vote(member: "m1", vote: .for), Vote(member: "m2", vote: .for)],
                        outcome: .approve(.init(amount: Self.dkk(amount), period: "2024")), at: Date()), TestDatabase.admin())
                    return true
                } catch DomainError.insufficientFunds {
                    return false
                }
            }
            let outcomes = try await withThrowingTaskGroup(of: [(UUID, Int64?)].self) { group in
                group.addTask {
                    var outcomes: [(UUID, Int64?)] = []
                    for application in applications[..<10] {
                        outcomes.append((application, try await approve(elsewhere, application, "300000.00") ? 30_000_000 : nil))
                    }
                    return outcomes
                }
                for application in applications[10...] {
                    group.addTask { [(application, try await approve(here, application, "100000.00") ? 10_000_000 : nil)] }
                }
                return try await group.reduce(into: [UUID: Int64?]()) { for (id, amount) in $1 { $0[id] = amount } }
            }
            let approved = Set(outcomes.filter { $0.value != nil }.keys)
            let committed = outcomes.values.compactMap { $0 }.reduce(0, +)
            let fresh = CommandHandler(store: here.store)
            let state = try await TestDatabase.load(PoolState.self, pool, fresh).state
            let available = try #require(state.periods["2024"]?.available)
            #expect(state.periods["2024"]?.committed == committed)
            #expect(available >= 0)
            // A refusal stands only if the pool could not take it: commitments only grew after it.
            if outcomes.values.contains(where: { $0 == nil }) { #expect(available < 10_000_000) }
            #expect(state.commitments.count == approved.count)
            #expect(Set(try await TestDatabase.load(MeetingState.self, meeting, fresh).state.decided.keys) == approved)
            for application in applications {
                let status = try await TestDatabase.load(ApplicationState.self, application, fresh).state.status
                #expect((status == .approved) == approved.contains(application))
            }
        }
    }

    @Test("a handler that has folded a pool before sees what another process committed since")
    func cachedStateFollowsOtherWriters() async throws {
        try await TestDatabase.withHandler { here in
            let (pool, meeting, applications) = try await Self.setUp(here, budget: "250000.00", count: 3, requested: "100000.00")
            let elsewhere = CommandHandler(store: here.store)
            func approve(_ handler: CommandHandler, _ application: UUID) async throws {
                try await handler.recordDecision(RecordDecision(
                    meetingId: meeting, applicationId: application, applicationVersion: 1,
                    votes: [Vote(member: "m1", vote: .for), Vote(member: "m2", vote: .for)],
                    outcome: .approve(.init(amount: Self.dkk("100000.00"), period: "2024")), at: Date()), TestDatabase.admin())
            }
            try await approve(here, applications[0])
            try await approve(elsewhere, applications[1])
            await #expect(throws: DomainError.insufficientFunds(period: "2024", available: Self.dkk("50000.00"), requested: Self.dkk("100000.00"))) {
                try await approve(here, applications[2])
            }
            #expect(try await TestDatabase.load(PoolState.self, pool, here).state.commitments.count == 2)
        }
    }

    @Test("a retried command has the effect of one; the same key for another command is refused")
    func idempotentCommand() async throws {
        try await TestDatabase.withHandler { handler in
            let (pool, meeting, applications) = try await Self.setUp(handler, budget: "500000.00", count: 1, requested: "100000.00")
            let streams = [pool, meeting, applications[0]]
            let decision = RecordDecision(meetingId: meeting, applicationId: applications[0], applicationVersion: 1,
                                          votes: [Vote(member: "m1", vote: .for), Vote(member: "m3", vote: .for)],
                                          outcome: .approve(.init(amount: Self.dkk("80000.00"), period: "2024")), at: Date())
            let key = "decision-\(UUID())"
            let first = try await handler.recordDecision(decision, TestDatabase.admin(key))
            let events = try await TestDatabase.count(handler, streamsOf: streams)
            let retry = try await handler.recordDecision(decision, TestDatabase.admin(key))
            #expect(!first.replayed && retry.replayed)
            #expect(retry.position == first.position)
            #expect(try await TestDatabase.count(handler, streamsOf: streams) == events)

            let other = CommandContext(actor: "admin-1", role: "admin", actingAs: .unrestricted, idempotency: Idempotency(key: key, fingerprint: CommandContext.fingerprint("something else")))
            await #expect(throws: CommandError.idempotencyKeyReused(key: key)) {
                try await handler.withdrawApplication(WithdrawApplication(applicationId: applications[0], reason: "x", at: Self.at), other)
            }
            #expect(try await TestDatabase.count(handler, streamsOf: streams) == events)
        }
    }

    @Test("a domain rejection appends nothing")
    func rejectionAppendsNothing() async throws {
        try await TestDatabase.withHandler { handler in
            let (_, meeting, applications) = try await Self.setUp(handler, budget: "500000.00", count: 1, requested: "100000.00")
            await #expect(throws: DomainError.notAMember(member: "m4")) {
                try await handler.recordDecision(RecordDecision(meetingId: meeting, applicationId: applications[0], applicationVersion: 1,
                                                                votes: [Vote(member: "m4", vote: .for)], outcome: .reject(reason: "no"), at: Date()), TestDatabase.admin())
            }
            // Other tests append meanwhile, so count this application's stream, not all events.
            let application = try await TestDatabase.load(ApplicationState.self, applications[0], handler)
            #expect(application.state.status == .submitted && application.version == 2)
        }
    }
}
