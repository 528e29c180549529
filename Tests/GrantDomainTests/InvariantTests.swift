import Foundation
import GrantDomain
import Testing

@Suite("Invariant 1: commitments never exceed a period's budget or a source")
struct CommitmentInvariantTests {
    @Test("approving more than a period has left is refused with the figures")
    func insufficientFunds() throws {
        var world = try World(periods: [BudgetPeriodSpec(period: "2024", amount: World.dkk("320000.00"))])
        _ = try world.approved("200000.00")
        let second = try world.submitted(World.content("Tech College", requested: "300000.00"))
        try world.holdMeeting(agenda: [second])
        expectRejection(.insufficientFunds(period: "2024", available: World.dkk("120000.00"), requested: World.dkk("300000.00")),
                        message: "period 2024 has 120000.00 DKK available, 300000.00 requested") {
            try world.decide(second, votes: [Vote(member: "anne", vote: .for), Vote(member: "dan", vote: .for)], outcome: World.approve("300000.00"))
        }
        #expect(world.pool.periods["2024"]?.committed == 20_000_000)
    }

    @Test("a source cannot commit more than it holds")
    func sourceInsufficient() throws {
        var world = try World(sources: [
            FundingSourceSpec(id: "eu", name: "EU", amount: World.dkk("150000.00")),
            FundingSourceSpec(id: "region", name: "Region", amount: World.dkk("100000.00")),
        ])
        let id = try world.submitted()
        try world.holdMeeting(agenda: [id])
        expectRejection(.sourceInsufficient(source: "eu", available: World.dkk("150000.00"), requested: World.dkk("200000.00"))) {
            try world.decide(id, outcome: World.approve("200000.00", sources: [SourceAmount(source: "eu", amount: World.dkk("200000.00"))]))
        }
        // Without named sources the commitment is split across both.
        try world.decide(id, outcome: World.approve("200000.00"))
        #expect(world.pool.sources["eu"]?.committed == 15_000_000)
        #expect(world.pool.sources["region"]?.committed == 5_000_000)
    }

    @Test("an earmarked source pays only its named beneficiaries")
    func earmarks() throws {
        var world = try World(sources: [
            FundingSourceSpec(id: "midt", name: "Region Midtjylland", amount: World.dkk("300000.00"), earmarkedFor: ["Tradium", "Learnmark", "Mercantec"]),
            FundingSourceSpec(id: "eu", name: "EU", amount: World.dkk("1000000.00"), maxSharePercent: 50),
        ], eligibility: EligibilityRules())
        let outsider = try world.submitted(World.content("Tech College"))
        let tradium = try world.submitted(World.content("Tradium"))
        try world.holdMeeting(agenda: [outsider, tradium])
        expectRejection(.sourceNotAvailable(source: "midt", reason: "earmarked for Tradium, Learnmark, Mercantec, not Tech College")) {
            try world.decide(outsider, outcome: World.approve("100000.00", sources: [SourceAmount(source: "midt", amount: World.dkk("100000.00"))]))
        }
        expectRejection(.sourceNotAvailable(source: "eu", reason: "pays at most 50 % of a grant (50000.00)")) {
            try world.decide(outsider, outcome: World.approve("100000.00", sources: [SourceAmount(source: "eu", amount: World.dkk("100000.00"))]))
        }
        // The earmarked region pays first for its school; the EU tops up within its 50 % share.
        try world.decide(tradium, votes: [Vote(member: "anne", vote: .for), Vote(member: "dan", vote: .for)], outcome: World.approve("200000.00"))
        #expect(world.grants[tradium]?.awarded?.sources == [
            SourceAmount(source: "midt", amount: World.dkk("200000.00")),
        ])
    }

    @Test("a closed period commits nothing; carry-over moves its unspent money on, lapse drops it")
    func periodClosing() throws {
        var carrying = try World(carryOver: .carryOver)
        _ = try carrying.approved("200000.00")
        carrying.pool = carrying.apply(try AdjustBudget.closePeriod(period: "2024", at: World.day(365)).decide(pool: carrying.pool, poolId: carrying.poolId), to: carrying.pool)
        #expect(carrying.pool.periods["2024"]?.available == 0)
        #expect(carrying.pool.periods["2025"]?.budget == 80_000_000)

        var lapsing = try World(carryOver: .lapse)
        lapsing.pool = lapsing.apply(try AdjustBudget.closePeriod(period: "2024", at: World.day(365)).decide(pool: lapsing.pool, poolId: lapsing.poolId), to: lapsing.pool)
        #expect(lapsing.pool.periods["2025"]?.budget == 50_000_000)
        let id = try lapsing.submitted()
        try lapsing.holdMeeting(agenda: [id])
        expectRejection(.periodClosed(period: "2024"), message: "budget period 2024 is closed") {
            try lapsing.decide(id, outcome: World.approve("100000.00", period: "2024"))
        }
    }

    @Test("a budget move cannot take more than a period has available")
    func budgetMoves() throws {
        var world = try World()
        _ = try world.approved("200000.00")
        expectRejection(.insufficientFunds(period: "2024", available: World.dkk("300000.00"), requested: World.dkk("300000.01"))) {
            _ = try AdjustBudget.move(from: "2024", to: "2025", amount: World.dkk("300000.01"), reason: "shift", at: World.day(90)).decide(pool: world.pool, poolId: world.poolId)
        }
        world.pool = world.apply(try AdjustBudget.move(from: "2024", to: "2025", amount: World.dkk("300000.00"), reason: "shift", at: World.day(90))
            .decide(pool: world.pool, poolId: world.poolId), to: world.pool)
        #expect(world.pool.periods["2024"]?.available == 0)
        #expect(world.pool.periods["2025"]?.budget == 80_000_000)
        world.pool = world.apply(try AdjustBudget.addPeriod(period: "2026", amount: World.dkk("5000.00"), at: World.day(91))
            .decide(pool: world.pool, poolId: world.poolId), to: world.pool)
        #expect(world.pool.periods["2026"]?.budget == 500_000)
    }

    @Test("a call's cap limits what it commits in all")
    func callCap() throws {
        var world = try World(cap: World.dkk("250000.00"))
        _ = try world.approved("200000.00")
        let second = try world.submitted(World.content("Tech College", requested: "100000.00"))
        try world.holdMeeting(agenda: [second])
        expectRejection(.callCapExceeded(call: world.callId.uuidString, cap: World.dkk("250000.00"), committed: World.dkk("200000.00"), requested: World.dkk("100000.00"))) {
            try world.decide(second, votes: [Vote(member: "anne", vote: .for), Vote(member: "dan", vote: .for)], outcome: World.approve("100000.00"))
        }
    }

    @Test("cancelling and reducing a grant release its uncommitted money to the pool")
    func releases() throws {
        var world = try World()
        let id = try world.approved("200000.00")
        try world.pay(id, tranche: 1)  // 40 % = 80000.00
        world.grant(id, try AdjustGrant(grantId: id, kind: .reduce(by: World.dkk("50000.00")), reason: "smaller scope", at: World.day(70)).decide(grant: world.grants[id]!, pool: world.pool))
        #expect(world.grants[id]?.amount == World.dkk("150000.00"))
        // Taken from the last tranches not yet requested.
        #expect(world.grants[id]?.tranches.map(\.amount.amount) == ["80000.00", "70000.00", "0.00"])
        #expect(world.pool.periods["2024"]?.committed == 15_000_000)
        world.grant(id, try AdjustGrant(grantId: id, kind: .cancel, reason: "project stopped", at: World.day(80)).decide(grant: world.grants[id]!, pool: world.pool))
        #expect(world.pool.periods["2024"]?.committed == 8_000_000)
        #expect(world.pool.periods["2024"]?.paid == 8_000_000)
        expectRejection(.invalidState(kind: "grant", id: id.uuidString, status: "cancelled", action: "request a payment")) {
            _ = try RequestPayment(grantId: id, paymentRequestId: UUID(), tranche: 2, requestedBy: "admin-1", at: World.day(81)).decide(grant: world.grants[id]!, claim: .initial).grant
        }
        // Money paid but not spent can still be clawed back.
        world.grant(id, try AdjustGrant(grantId: id, kind: .repayment(amount: World.dkk("30000.00"), reference: "RET-1"), reason: "unspent", at: World.day(90))
            .decide(grant: world.grants[id]!, pool: world.pool))
        #expect(world.pool.periods["2024"]?.committed == 5_000_000)
        #expect(world.pool.periods["2024"]?.paid == 5_000_000)
        #expect(world.grants[id]?.paid == World.dkk("50000.00"))
    }
}

@Suite("Invariant 2: payments never exceed the grant; a tranche is paid once")
struct PaymentInvariantTests {
    @Test("a tranche is requested and paid once")
    func tranchePaidOnce() throws {
        var world = try World()
        let id = try world.approved()
        try world.pay(id, tranche: 1)
        expectRejection(.trancheAlreadyPaid(tranche: 1), message: "tranche 1 is already paid or requested") {
            _ = try RequestPayment(grantId: id, paymentRequestId: UUID(), tranche: 1, requestedBy: "admin-1", at: World.day(55)).decide(grant: world.grants[id]!, claim: .initial).grant
        }
        #expect(world.grants[id]?.paid == World.dkk("80000.00"))
    }

    @Test("a tranche waits for the report it depends on")
    func trancheWaitsForReport() throws {
        var world = try World()
        let id = try world.approved()
        expectRejection(.trancheNotReady(tranche: 2, waitingFor: "1 approved progress report(s), 0 so far")) {
            _ = try RequestPayment(grantId: id, paymentRequestId: UUID(), tranche: 2, requestedBy: "admin-1", at: World.day(55)).decide(grant: world.grants[id]!, claim: .initial).grant
        }
        try world.fileAndApproveReport(id, kind: .progress)
        try world.pay(id, tranche: 2)
        try world.fileAndApproveReport(id, kind: .final)
        try world.pay(id, tranche: 3)
        try world.pay(id, tranche: 1)
        #expect(world.grants[id]?.paid == World.dkk("200000.00"))
        #expect(world.pool.periods["2024"]?.paid == 20_000_000)
        #expect(world.grants[id]?.remaining == World.dkk("0.00"))
    }

    @Test("payment cannot exceed the granted amount, even after a reduction")
    func overpayment() throws {
        var world = try World()
        let id = try world.approved()
        let request = UUID()
        world.grant(id, try RequestPayment(grantId: id, paymentRequestId: request, tranche: 1, requestedBy: "admin-1", at: World.day(50)).decide(grant: world.grants[id]!, claim: .initial).grant)
        world.grant(id, try ApprovePayment(grantId: id, paymentRequestId: request, approvedBy: "admin-2", at: World.day(51)).decide(grant: world.grants[id]!))
        // Reduce the grant to less than the approved, unpaid tranche.
        expectRejection(.invalidInput(field: "amount", reason: "only 120000.00 DKK is in tranches not yet requested; cannot reduce by 150000.00 DKK")) {
            _ = try AdjustGrant(grantId: id, kind: .reduce(by: World.dkk("150000.00")), reason: "cut", at: World.day(52)).decide(grant: world.grants[id]!, pool: world.pool)
        }
        expectRejection(.invalidInput(field: "amount", reason: "repayment 1.00 DKK is more than the 0.00 DKK paid")) {
            _ = try AdjustGrant(grantId: id, kind: .repayment(amount: World.dkk("1.00"), reference: "R"), reason: "r", at: World.day(52)).decide(grant: world.grants[id]!, pool: world.pool)
        }
    }
}

@Suite("Invariant 3: four eyes")
struct FourEyesTests {
    @Test("a payment is approved by someone other than its requester")
    func fourEyes() throws {
        var world = try World()
        let id = try world.approved()
        let request = UUID()
        world.grant(id, try RequestPayment(grantId: id, paymentRequestId: request, tranche: 1, requestedBy: "admin-1", at: World.day(50)).decide(grant: world.grants[id]!, claim: .initial).grant)
        expectRejection(.fourEyes(requester: "admin-1"), message: "a payment must be approved by someone other than its requester (admin-1)") {
            _ = try ApprovePayment(grantId: id, paymentRequestId: request, approvedBy: "admin-1", at: World.day(51)).decide(grant: world.grants[id]!)
        }
        expectRejection(.invalidState(kind: "payment request", id: request.uuidString, status: "requested", action: "mark it paid")) {
            _ = try MarkPaymentPaid(grantId: id, paymentRequestId: request, reference: "X", at: World.day(52)).decide(grant: world.grants[id]!, pool: world.pool)
        }
    }
}

@Suite("Invariant 4: votes and quorum")
struct VotingTests {
    func world() throws -> (World, UUID) {
        var world = try World()
        let id = try world.submitted(World.content("Aalborg Tekniske Gymnasium", partners: ["Tech College"]))
        try world.holdMeeting(present: ["anne", "bo", "carla", "dan"], agenda: [id])
        return (world, id)
    }

    @Test("a member affiliated with the applicant or a partner is recused automatically")
    func recusedMemberCannotVote() throws {
        var (world, id) = try world()
        expectRejection(.memberRecused(member: "anne", affiliation: "Aalborg Tekniske Gymnasium"),
                        message: "anne is recused: affiliated with Aalborg Tekniske Gymnasium") {
            try world.decide(id, votes: [Vote(member: "anne", vote: .for)], outcome: World.approve("100000.00"))
        }
        expectRejection(.memberRecused(member: "carla", affiliation: "Tech College")) {
            try world.decide(id, votes: [Vote(member: "carla", vote: .for)], outcome: World.approve("100000.00"))
        }
    }

    @Test("absent members and outsiders cannot vote; nobody votes twice")
    func absentAndOutsiders() throws {
        var (world, id) = try world()
        expectRejection(.memberAbsent(member: "eva"), message: "eva was not present at the meeting") {
            try world.decide(id, votes: [Vote(member: "eva", vote: .for)], outcome: World.approve("100000.00"))
        }
        expectRejection(.notAMember(member: "mallory"), message: "mallory is not a member of the steering group") {
            try world.decide(id, votes: [Vote(member: "mallory", vote: .for)], outcome: World.approve("100000.00"))
        }
        expectRejection(.duplicateVote(member: "bo")) {
            try world.decide(id, votes: [Vote(member: "bo", vote: .for), Vote(member: "bo", vote: .for)], outcome: World.approve("100000.00"))
        }
    }

    @Test("no decision without quorum, counting only members present and not recused")
    func quorum() throws {
        var (world, id) = try world()
        // 4 of 5 present, 2 recused: 2 eligible, 3 needed.
        expectRejection(.quorumNotReached(eligible: 2, needed: 3, members: 5),
                        message: "quorum not reached: 2 of 5 members present and not recused, 3 needed") {
            try world.decide(id, votes: [Vote(member: "bo", vote: .for), Vote(member: "dan", vote: .for)], outcome: World.approve("100000.00"))
        }
        #expect(world.applications[id]?.status == .submitted)
    }

    @Test("a motion needs more votes for than against")
    func motionCarried() throws {
        var world = try World()
        let id = try world.submitted()
        try world.holdMeeting(agenda: [id])
        expectRejection(.motionNotCarried(votesFor: 1, votesAgainst: 1)) {
            try world.decide(id, votes: [Vote(member: "bo", vote: .for), Vote(member: "dan", vote: .against), Vote(member: "eva", vote: .abstain)],
                             outcome: World.approve("100000.00"))
        }
        try world.decide(id, outcome: .reject(reason: "Outside the focus areas"))
        #expect(world.applications[id]?.status == .rejected)
    }

    @Test("an application not on the agenda cannot be decided")
    func agenda() throws {
        var world = try World()
        let listed = try world.submitted(), other = try world.submitted()
        try world.holdMeeting(agenda: [listed])
        expectRejection(.notOnAgenda(application: other.uuidString)) { try world.decide(other, outcome: World.approve("1000.00")) }
    }
}

@Suite("Invariant 5: submission while the call is open, with eligibility rules")
struct SubmissionTests {
    @Test("submission outside the call window is refused")
    func callWindow() throws {
        var world = try World()
        let id = try world.draft()
        expectRejection(.callNotOpen(call: world.callId.uuidString, opensAt: World.day(0), closesAt: World.day(30), at: World.day(31))) {
            try world.submit(id, at: World.day(31))
        }
        #expect(throws: DomainError.self) { _ = try world.draft(at: World.day(30)) }
    }

    @Test("a deadline extended lets a submission after the old one in; one brought forward holds")
    func movingTheWindow() throws {
        var world = try World()
        let id = try world.draft()
        func change(closes: Date) throws -> [any DomainEvent] {
            try ChangeCallWindow(callId: world.callId, opensAt: World.day(0), closesAt: closes, reason: "", at: World.day(10)).decide(call: world.call)
        }
        world.call = world.apply(try change(closes: World.day(45)), to: world.call)
        try world.submit(id, at: World.day(40))
        #expect(world.applications[id]!.status == .submitted)
        world.call = world.apply(try change(closes: World.day(20)), to: world.call)
        let late = try world.draft(at: World.day(15))
        expectRejection(.callNotOpen(call: world.callId.uuidString, opensAt: World.day(0), closesAt: World.day(20), at: World.day(21))) {
            try world.submit(late, at: World.day(21))
        }
    }

    @Test("a call closed early takes no more submissions and keeps what was submitted")
    func closingEarly() throws {
        var world = try World()
        let submitted = try world.submitted(), draft = try world.draft()
        world.call = world.apply(try CloseCall(callId: world.callId, reason: "the pool is spent", at: World.day(10)).decide(call: world.call), to: world.call)
        #expect(world.call.closedEarlyAt == World.day(10) && world.call.closesAt == World.day(10))
        expectRejection(.callNotOpen(call: world.callId.uuidString, opensAt: World.day(0), closesAt: World.day(10), at: World.day(11))) {
            try world.submit(draft, at: World.day(11))
        }
        #expect(world.applications[submitted]!.status == .submitted)
    }

    @Test("the project leader must be a member of the named group")
    func leaderRule() throws {
        var world = try World()
        let id = try world.draft(World.content(leader: "zoe"))
        expectRejection(.ineligible(rule: "project-leader-member-of-group", detail: "project leader zoe is not a member of STEM i Nord"),
                        message: "eligibility rule project-leader-member-of-group failed: project leader zoe is not a member of STEM i Nord") {
            try world.submit(id)
        }
        // The leader as people write them: the member's name, in any case, counts as the member; a near miss does not.
        let named = try world.draft(World.content(leader: "anne madsen"))
        try world.submit(named)
        let nearMiss = try world.draft(World.content(leader: "Anne Madse"))
        #expect(throws: DomainError.self) { try world.submit(nearMiss) }
    }

    @Test("the organisation must be one of the eligible ones")
    func organisationRule() throws {
        var world = try World(eligibility: EligibilityRules(organisations: ["Tradium", "Mercantec"]))
        let id = try world.draft(World.content("Tech College"))
        expectRejection(.ineligible(rule: "organisation-allowed", detail: "Tech College is not among the eligible organisations (Tradium, Mercantec)")) {
            try world.submit(id)
        }
    }

    @Test("the amount must be within the minimum and maximum")
    func amountRules() throws {
        var world = try World()
        let small = try world.draft(World.content(requested: "9999.99"))
        expectRejection(.ineligible(rule: "minimum-amount", detail: "requested 9999.99 DKK is below the minimum 10000.00 DKK")) { try world.submit(small) }
        let large = try world.draft(World.content(requested: "400000.01"))
        expectRejection(.ineligible(rule: "maximum-amount", detail: "requested 400000.01 DKK is above the maximum 400000.00 DKK")) { try world.submit(large) }
        let passing = try world.draft()
        let events = try SubmitApplication(applicationId: passing, at: World.day(2))
            .decide(application: world.applications[passing]!, call: world.call, pool: world.pool, group: world.group)
        // The checks that passed are kept with the submission, for the audit trail.
        #expect((events.first as? ApplicationSubmitted)?.checks.map(\.rule) == ["project-leader-member-of-group", "minimum-amount", "maximum-amount"])
    }

    @Test("a submitted application can be amended until the deadline, then not")
    func amendments() throws {
        var world = try World()
        let id = try world.submitted()
        let amended = try AmendApplication(applicationId: id, content: World.content(requested: "150000.00"), at: World.day(10))
            .decide(application: world.applications[id]!, call: world.call, pool: world.pool, group: world.group)
        world.applications[id] = world.apply(amended, to: world.applications[id]!)
        #expect(world.applications[id]?.version == 2)
        #expect(world.applications[id]?.status == .submitted)
        expectRejection(.callNotOpen(call: world.callId.uuidString, opensAt: World.day(0), closesAt: World.day(30), at: World.day(31))) {
            _ = try AmendApplication(applicationId: id, content: World.content(requested: "100000.00"), at: World.day(31))
                .decide(application: world.applications[id]!, call: world.call, pool: world.pool, group: world.group)
        }
    }

    @Test("a withdrawn application cannot be submitted")
    func withdrawal() throws {
        var world = try World()
        let id = try world.draft()
        world.applications[id] = world.apply(try WithdrawApplication(applicationId: id, reason: "merged with another", at: World.day(3)).decide(application: world.applications[id]!), to: world.applications[id]!)
        expectRejection(.invalidState(kind: "application", id: id.uuidString, status: "withdrawn", action: "submit")) { try world.submit(id) }
    }
}

@Suite("Invariant 9: a decision is bound to the version it names; a grant is funded once")
struct DecisionBindingTests {
    @Test("a decision naming an older version is refused")
    func staleVersion() throws {
        var world = try World()
        let id = try world.submitted()
        let amended = try AmendApplication(applicationId: id, content: World.content(requested: "150000.00"), at: World.day(10))
            .decide(application: world.applications[id]!, call: world.call, pool: world.pool, group: world.group)
        world.applications[id] = world.apply(amended, to: world.applications[id]!)
        try world.holdMeeting(agenda: [id])
        expectRejection(.applicationVersionMismatch(decidedOn: 1, current: 2),
                        message: "the decision names application version 1, but the application is at version 2") {
            try world.decide(id, outcome: World.approve("100000.00"), version: 1)
        }
    }

    @Test("an approved application cannot be approved again")
    func fundedOnce() throws {
        var world = try World()
        let id = try world.approved("100000.00")
        expectRejection(.alreadyFunded(application: id.uuidString)) { try world.decide(id, outcome: World.approve("100000.00")) }
        #expect(world.pool.periods["2024"]?.committed == 10_000_000)
    }

    @Test("a partial approval is at most the amount requested")
    func partialApproval() throws {
        var world = try World()
        let id = try world.submitted()
        try world.holdMeeting(agenda: [id])
        expectRejection(.invalidInput(field: "amount", reason: "200000.01 DKK is more than the 200000.00 DKK requested")) {
            try world.decide(id, outcome: World.approve("200000.01"))
        }
        try world.decide(id, outcome: World.approve("120000.00", tranches: [TrancheSpec(percent: 50, trigger: .signing), TrancheSpec(percent: 50, trigger: .finalReport)]))
        #expect(world.grants[id]?.tranches.map(\.amount) == [World.dkk("60000.00"), World.dkk("60000.00")])
        #expect(world.applications[id]?.granted == World.dkk("120000.00"))
    }

    @Test("an application returned for revision can be amended and resubmitted")
    func revision() throws {
        var world = try World()
        let id = try world.submitted()
        try world.holdMeeting(agenda: [id])
        try world.decide(id, outcome: .revise(reason: "Add a budget for teacher hours"))
        #expect(world.applications[id]?.status == .returnedForRevision)
        let amended = try AmendApplication(applicationId: id, content: World.content(requested: "180000.00"), at: World.day(45))
            .decide(application: world.applications[id]!, call: world.call, pool: world.pool, group: world.group)
        world.applications[id] = world.apply(amended, to: world.applications[id]!)
        try world.submit(id, at: World.day(46))  // after the deadline: the group asked for it
        #expect(world.applications[id]?.status == .submitted)
        #expect(world.applications[id]?.version == 2)
    }
}
