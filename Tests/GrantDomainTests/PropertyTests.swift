import Foundation
import GrantDomain
import Programmes
import Testing

@Suite("Property: no command sequence breaks invariants 1-4")
struct PropertyTests {
    static let organisations = ["Aalborg Tekniske Gymnasium", "Tech College", "Tradium", "Mercantec", "EUC Syd"]
    static let admins = ["admin-1", "admin-2", "admin-3"]

    @Test("random valid and invalid commands keep every invariant", arguments: 0..<60)
    func randomSequences(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        var world = try World(
            periods: [BudgetPeriodSpec(period: "2024", amount: World.dkk("600000.00")), BudgetPeriodSpec(period: "2025", amount: World.dkk("400000.00"))],
            sources: [
                FundingSourceSpec(id: "eu", name: "EU", amount: World.dkk("700000.00"), maxSharePercent: 60),
                FundingSourceSpec(id: "midt", name: "Region Midtjylland", amount: World.dkk("150000.00"), earmarkedFor: ["Tradium", "Mercantec"]),
                FundingSourceSpec(id: "region", name: "Region Nordjylland", amount: World.dkk("300000.00"), period: "2025"),
            ],
            eligibility: EligibilityRules(leaderMemberOfGroup: nil, minimumAmount: World.dkk("1000.00")))
        var emitted: [any DomainEvent] = []
        var requests: [UUID: UUID] = [:]  // payment request -> grant
        var reports: [UUID: UUID] = [:]   // report -> grant
        let memberIds = World.members.map(\.id) + ["outsider"]

        func money(_ rng: inout SeededRandom, upTo major: Int) -> Money { Money(minorUnits: Int64.random(in: -100...Int64(major) * 100, using: &rng), currency: .dkk) }

        for step in 0..<120 {
            let before = emitted.count
            do {
                switch Int.random(in: 0..<12, using: &rng) {
                case 0, 1:
                    let content = ApplicationContent(organisation: Self.organisations.randomElement(using: &rng)!, projectLeader: "dan",
                                                     partners: Bool.random(using: &rng) ? [Self.organisations.randomElement(using: &rng)!] : [],
                                                     title: "Project \(step)", description: "", requested: money(&rng, upTo: 300_000))
                    let id = UUID()
                    let events = try DraftApplication(applicationId: id, callId: world.callId, content: content, at: World.day(1)).decide(application: .initial, call: world.call, pool: world.pool)
                    world.applications[id] = world.apply(events, to: ApplicationState.initial)
                    emitted += events
                    // Submitting is a command of its own: its rejection leaves the draft.
                    if let submitted = try? SubmitApplication(applicationId: id, at: World.day(Int.random(in: 0...35, using: &rng)))
                        .decide(application: world.applications[id]!, call: world.call, pool: world.pool, group: world.group) {
                        world.applications[id] = world.apply(submitted, to: world.applications[id]!)
                        emitted += submitted
                    }
                case 2:
                    let present = World.members.map(\.id).filter { _ in Int.random(in: 0..<10, using: &rng) < 8 }
                    let agenda = world.applications.filter { $0.value.status == .submitted }.map(\.key)
                    let events = try HoldMeeting(meetingId: UUID(), groupId: world.groupId, date: World.day(40), present: present, agenda: agenda)
                        .decide(meeting: .initial, group: world.group, applications: world.applications, pools: [world.poolId: world.pool])
                    world.meeting = world.apply(events, to: MeetingState.initial)
                    emitted += events
                case 3, 4, 5:
                    guard let held = world.meeting.held, let id = held.agenda.randomElement(using: &rng), let application = world.applications[id] else { continue }
                    // Mostly the eligible members voting for; sometimes anyone, anyhow.
                    let recused = RecordDecision.recusals(present: held.present, group: world.group, content: application.content!).map(\.member)
                    let votes = Int.random(in: 0..<10, using: &rng) < 7
                        ? held.present.filter { !recused.contains($0) }.map { Vote(member: $0, vote: .for) }
                        : (0..<Int.random(in: 0...5, using: &rng)).map { _ in
                            Vote(member: memberIds.randomElement(using: &rng)!, vote: [.for, .for, .against, .abstain].randomElement(using: &rng)!)
                        }
                    let outcome: RecordDecision.Outcome
                    switch Int.random(in: 0..<5, using: &rng) {
                    case 0: outcome = .reject(reason: "no")
                    case 1: outcome = .revise(reason: "more detail")
                    default:
                        let sources: [SourceAmount]? = Bool.random(using: &rng) ? nil
                            : [SourceAmount(source: ["eu", "midt", "region", "nope"].randomElement(using: &rng)!, amount: money(&rng, upTo: 300_000))]
                        let requested = application.content!.requested.minorUnits
                        let amount = Int.random(in: 0..<10, using: &rng) < 8
                            ? Money(minorUnits: Int64.random(in: 1...max(1, requested), using: &rng), currency: .dkk) : money(&rng, upTo: 300_000)
                        outcome = .approve(.init(amount: amount, period: ["2024", "2024", "2025", "2026"].randomElement(using: &rng)!, sources: sources))
                    }
                    let version = Int.random(in: 0..<10, using: &rng) == 0 ? application.version + 1 : application.version
                    let events = try RecordDecision(meetingId: held.meetingId, applicationId: id, applicationVersion: version, votes: votes, outcome: outcome, at: Date())
                        .decide(application: application, meeting: world.meeting, group: world.group, pool: world.pool, call: world.call, grant: world.grants[id] ?? .initial)
                    world.applications[id] = world.apply(events.application, to: application)
                    world.meeting = world.apply(events.meeting, to: world.meeting)
                    world.pool = world.apply(events.pool, to: world.pool)
                    if !events.grant.isEmpty { world.grants[id] = world.apply(events.grant, to: world.grants[id] ?? .initial) }
                    emitted += events.application + events.meeting + events.pool + events.grant
                case 6:
                    guard let id = world.grants.keys.randomElement(using: &rng) else { continue }
                    let request = UUID()
                    let events = try RequestPayment(grantId: id, paymentRequestId: request, tranche: Int.random(in: 0..<10, using: &rng) < 8 ? Int.random(in: 1...3, using: &rng) : Int.random(in: -1...5, using: &rng),
                                                    requestedBy: Self.admins.randomElement(using: &rng)!, at: World.day(50)).decide(grant: world.grants[id]!, claim: .initial).grant
                    requests[request] = id
                    world.grant(id, events)
                    emitted += events
                case 7:
                    guard let (request, id) = requests.randomElement(using: &rng) else { continue }
                    let events = try ApprovePayment(grantId: id, paymentRequestId: request, approvedBy: Self.admins.randomElement(using: &rng)!, at: World.day(51))
                        .decide(grant: world.grants[id]!)
                    world.grant(id, events)
                    emitted += events
                case 8:
                    guard let (request, id) = requests.randomElement(using: &rng) else { continue }
                    let events = try MarkPaymentPaid(grantId: id, paymentRequestId: request, reference: "B-\(step)", at: World.day(52)).decide(grant: world.grants[id]!, pool: world.pool)
                    world.grant(id, events)
                    emitted += events.grant + events.pool
                case 9:
                    guard let id = world.grants.keys.randomElement(using: &rng) else { continue }
                    let report = reports.filter { $0.value == id }.keys.randomElement(using: &rng)
                    if let report, Bool.random(using: &rng) {
                        let events = try ApproveReport(grantId: id, reportId: report, approvedBy: "admin-1", at: World.day(60)).decide(grant: world.grants[id]!)
                        world.grant(id, events)
                        emitted += events
                    } else {
                        let new = UUID()
                        let events = try FileReport(grantId: id, reportId: new, kind: Bool.random(using: &rng) ? .progress : .final, summary: "r", at: World.day(59)).decide(grant: world.grants[id]!)
                        reports[new] = id
                        world.grant(id, events)
                        emitted += events
                    }
                case 10:
                    guard let id = world.grants.keys.randomElement(using: &rng) else { continue }
                    let kind: AdjustGrant.Kind = [.reduce(by: money(&rng, upTo: 100_000)), .cancel,
                                                 .repayment(amount: money(&rng, upTo: 100_000), reference: "R")].randomElement(using: &rng)!
                    let events = try AdjustGrant(grantId: id, kind: kind, reason: "adjusted", at: World.day(70)).decide(grant: world.grants[id]!, pool: world.pool)
                    world.grant(id, events)
                    emitted += events.grant + events.pool
                default:
                    let command: AdjustBudget = Int.random(in: 0..<6, using: &rng) > 0
                        ? .move(from: ["2024", "2025"].randomElement(using: &rng)!, to: ["2024", "2025"].randomElement(using: &rng)!, amount: money(&rng, upTo: 400_000), reason: "move", at: World.day(80))
                        : .closePeriod(period: ["2024", "2025"].randomElement(using: &rng)!, at: World.day(90))
                    let events = try command.decide(pool: world.pool, poolId: world.poolId)
                    world.pool = world.apply(events, to: world.pool)
                    emitted += events
                }
            } catch {
                // Every call above throws only DomainError. A rejection
                // changes nothing: that is the point of deciding first.
                #expect(emitted.count == before)
            }
            Self.checkInvariants(world, emitted, seed: seed, step: step)
        }
    }

    static func checkInvariants(_ world: World, _ events: [any DomainEvent], seed: UInt64, step: Int) {
        let context = "seed \(seed), step \(step)"
        // 1. Commitments within budget, per period and per source; per-grant ledgers add up.
        for (name, period) in world.pool.periods {
            #expect(period.committed <= period.budget, "\(context): period \(name) over-committed")
            #expect(period.committed >= 0 && period.paid >= 0 && period.paid <= period.committed, "\(context)")
        }
        for (name, source) in world.pool.sources {
            #expect(source.committed <= source.spec.amount.minorUnits, "\(context): source \(name) over-committed")
            #expect(source.committed >= 0 && source.paid >= 0, "\(context)")
        }
        let byGrant = world.pool.commitments.values.map { $0.committed.values.reduce(0, +) }.reduce(0, +)
        #expect(byGrant == world.pool.periods.values.map(\.committed).reduce(0, +), "\(context)")
        // 2. Payments never exceed the grant; each tranche is paid at most once.
        for (id, grant) in world.grants {
            #expect(grant.paid.minorUnits <= grant.amount.minorUnits && grant.paid.minorUnits >= 0, "\(context): grant \(id) overpaid")
            #expect(grant.tranches.map(\.amount.minorUnits).reduce(0, +) >= grant.amount.minorUnits - grant.paid.minorUnits || grant.cancelled, "\(context)")
        }
        let paidTranches = events.compactMap { $0 as? PaymentMarkedPaid }.map { "\($0.paymentRequestId)" }
        #expect(Set(paidTranches).count == paidTranches.count, "\(context)")
        // 3. Four eyes on every approved payment.
        let requested = Dictionary(events.compactMap { $0 as? PaymentRequested }.map { ($0.paymentRequestId, $0.requestedBy) }, uniquingKeysWith: { a, _ in a })
        for approval in events.compactMap({ $0 as? PaymentApproved }) {
            #expect(requested[approval.paymentRequestId] != approval.approvedBy, "\(context)")
        }
        // 4. Every recorded decision had quorum, and only present, non-recused members voted.
        for decision in events.compactMap({ $0 as? DecisionRecorded }) {
            let held = world.meeting.held
            #expect(decision.eligibleVoters >= decision.quorum, "\(context)")
            for vote in decision.votes {
                #expect(world.group.members[vote.member] != nil, "\(context)")
                #expect(!decision.recused.contains { $0.member == vote.member }, "\(context)")
                if held?.meetingId == decision.meetingId { #expect(held?.present.contains(vote.member) == true, "\(context)") }
            }
        }
    }
}
