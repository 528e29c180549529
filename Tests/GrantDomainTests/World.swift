import Foundation
import GrantDomain
import Testing

/// A small funding world built by running the deciders themselves, so every
/// test starts from states the domain could really reach.
struct World {
    static let start = Date(timeIntervalSince1970: 1_717_200_000)  // 2024-06-01
    static func day(_ n: Int) -> Date { start.addingTimeInterval(Double(n) * 86_400) }
    static func dkk(_ amount: String) -> Money { try! Money(amount, .dkk) }

    var group = SteeringGroupState.initial
    var pool = PoolState.initial
    var call = CallState.initial
    var meeting = MeetingState.initial
    var applications: [UUID: ApplicationState] = [:]
    var grants: [UUID: GrantState] = [:]

    let groupId = UUID(), poolId = UUID(), callId = UUID(), meetingId = UUID()

    /// Members: five, two of them affiliated with applicants.
    static let members = [
        Member(id: "anne", name: "Anne Madsen", affiliations: ["Aalborg Tekniske Gymnasium"]),
        Member(id: "bo", name: "Bo Jensen", affiliations: ["Region Nordjylland"]),
        Member(id: "carla", name: "Carla Holm", affiliations: ["Tech College"]),
        Member(id: "dan", name: "Dan Berg", affiliations: []),
        Member(id: "eva", name: "Eva Lund", affiliations: []),
    ]

    init(
        periods: [BudgetPeriodSpec] = [BudgetPeriodSpec(period: "2024", amount: dkk("500000.00")), BudgetPeriodSpec(period: "2025", amount: dkk("500000.00"))],
        sources: [FundingSourceSpec] = [FundingSourceSpec(id: "region", name: "Region Nordjylland", amount: dkk("1000000.00"))],
        carryOver: CarryOverPolicy = .carryOver,
        eligibility: EligibilityRules? = nil,
        cap: Money? = nil
    ) throws {
        group = apply(try CreateSteeringGroup(groupId: groupId, name: "STEM i Nord", members: Self.members, at: Self.start).decide(group), to: group)
        let rules = eligibility ?? EligibilityRules(leaderMemberOfGroup: groupId, minimumAmount: Self.dkk("10000.00"), maximumAmount: Self.dkk("400000.00"))
        pool = apply(try CreatePool(poolId: poolId, name: "Teknologipagt", owner: "Region Nordjylland", currency: .dkk, carryOver: carryOver,
                                    periods: periods, sources: sources, steeringGroupId: groupId, eligibility: rules, at: Self.start).decide(pool: pool, group: group), to: pool)
        call = apply(try OpenCall(callId: callId, poolId: poolId, title: "June round", opensAt: Self.day(0), closesAt: Self.day(30), cap: cap, at: Self.start)
            .decide(call: call, pool: pool), to: call)
    }

    func apply<A: Aggregate>(_ events: [any DomainEvent], to state: A) -> A { events.reduce(state) { $0.evolve($1) } }

    static func content(_ organisation: String = "Aalborg Tekniske Gymnasium", requested: String = "200000.00", leader: String = "dan",
                        partners: [String] = []) -> ApplicationContent {
        ApplicationContent(organisation: organisation, projectLeader: leader, partners: partners, title: "Robotics for 8th grade",
                           description: "Robot kits and teacher training", focusAreas: ["teaching content"], requested: dkk(requested),
                           expectedOutcomes: "300 pupils try robotics", studentsReached: 300)
    }

    mutating func draft(_ content: ApplicationContent = World.content(), at: Date = World.day(1)) throws -> UUID {
        let id = UUID()
        let events = try DraftApplication(applicationId: id, callId: callId, content: content, at: at).decide(application: .initial, call: call, pool: pool)
        applications[id] = apply(events, to: ApplicationState.initial)
        return id
    }

    mutating func submit(_ id: UUID, at: Date = World.day(2)) throws {
        let events = try SubmitApplication(applicationId: id, at: at).decide(application: applications[id]!, call: call, pool: pool, group: group)
        applications[id] = apply(events, to: applications[id]!)
    }

    mutating func submitted(_ content: ApplicationContent = World.content()) throws -> UUID {
        let id = try draft(content)
        try submit(id)
        return id
    }

    mutating func holdMeeting(present: [String] = ["anne", "bo", "carla", "dan", "eva"], agenda: [UUID]) throws {
        meeting = apply(try HoldMeeting(meetingId: meetingId, groupId: groupId, date: World.day(40), present: present, agenda: agenda)
            .decide(meeting: .initial, group: group, applications: applications, pools: [poolId: pool]), to: MeetingState.initial)
    }

    static let yes = ["bo", "dan", "eva"].map { Vote(member: $0, vote: .for) }

    mutating func decide(_ id: UUID, votes: [Vote] = World.yes, outcome: RecordDecision.Outcome, version: Int? = nil) throws {
        let command = RecordDecision(meetingId: meetingId, applicationId: id, applicationVersion: version ?? applications[id]!.version, votes: votes, outcome: outcome, at: Date())
        let events = try command.decide(application: applications[id]!, meeting: meeting, group: group, pool: pool, call: call, grant: grants[id] ?? .initial)
        applications[id] = apply(events.application, to: applications[id]!)
        meeting = apply(events.meeting, to: meeting)
        pool = apply(events.pool, to: pool)
        if !events.grant.isEmpty { grants[id] = apply(events.grant, to: grants[id] ?? .initial) }
    }

    static func approve(_ amount: String, period: String = "2024", sources: [SourceAmount]? = nil, tranches: [TrancheSpec] = TrancheSpec.standard) -> RecordDecision.Outcome {
        .approve(.init(amount: dkk(amount), period: period, sources: sources, tranches: tranches))
    }

    /// A submitted application approved at a meeting, ready for payments.
    mutating func approved(_ amount: String = "200000.00", content: ApplicationContent = World.content()) throws -> UUID {
        let id = try submitted(content)
        try holdMeeting(agenda: [id])
        try decide(id, outcome: Self.approve(amount))
        return id
    }

    mutating func grant(_ id: UUID, _ events: [any DomainEvent]) { grants[id] = apply(events, to: grants[id]!) }

    mutating func grant(_ id: UUID, _ events: (grant: [any DomainEvent], pool: [any DomainEvent])) {
        grants[id] = apply(events.grant, to: grants[id]!)
        pool = apply(events.pool, to: pool)
    }

    /// Requests, approves (by another admin) and pays one tranche.
    mutating func pay(_ id: UUID, tranche: Int, requester: String = "admin-1", approver: String = "admin-2") throws {
        let request = UUID()
        grant(id, try RequestPayment(grantId: id, paymentRequestId: request, tranche: tranche, requestedBy: requester, at: World.day(50)).decide(grant: grants[id]!, claim: .initial).grant)
        grant(id, try ApprovePayment(grantId: id, paymentRequestId: request, approvedBy: approver, at: World.day(51)).decide(grant: grants[id]!))
        grant(id, try MarkPaymentPaid(grantId: id, paymentRequestId: request, reference: "BANK-\(tranche)", at: World.day(52)).decide(grant: grants[id]!, pool: pool))
    }

    mutating func fileAndApproveReport(_ id: UUID, kind: ReportKind) throws {
        let report = UUID()
        grant(id, try FileReport(grantId: id, reportId: report, kind: kind, summary: "Done what we said", at: World.day(60)).decide(grant: grants[id]!))
        grant(id, try ApproveReport(grantId: id, reportId: report, approvedBy: "admin-1", at: World.day(61)).decide(grant: grants[id]!))
    }
}

/// Expects `body` to throw exactly `expected`, and checks its message.
func expectRejection(_ expected: DomainError, message: String? = nil, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(expected.rule) but nothing was rejected", sourceLocation: sourceLocation)
    } catch let error as DomainError {
        #expect(error == expected, sourceLocation: sourceLocation)
        if let message { #expect(error.description == message, sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected \(expected.rule), got \(error)", sourceLocation: sourceLocation)
    }
}
