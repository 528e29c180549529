import EventStore
import Foundation
import GrantCommands
import GrantDomain

/// Generates realistic grant histories from a seed, by running the deciders
/// in memory, and hands them out as appends of about `chunkEvents` events:
/// pools with their groups and calls, applications drafted and submitted,
/// meetings deciding them, grants paid in tranches against reports, some
/// reduced, cancelled or repaid. For tests and benchmarks that need large
/// histories fast; every event is one the domain could emit.
public struct HistoryGenerator: Sendable {
    public var seed: UInt64
    public var pools: Int
    public var applicationsPerPool: Int

    public init(seed: UInt64 = 42, pools: Int, applicationsPerPool: Int) {
        self.seed = seed
        self.pools = pools
        self.applicationsPerPool = applicationsPerPool
    }

    /// Generates the history, handing each chunk to `emit` in an order the
    /// store accepts; returns the number of events.
    public func generate(chunkEvents: Int = 1_000, _ emit: ([StreamWrite]) async throws -> Void) async throws -> Int {
        var builder = Builder(random: SeededRandom(seed: seed))
        for p in 0..<pools {
            try builder.pool(p, applications: applicationsPerPool)
            if builder.chunk.events >= chunkEvents { try await emit(builder.chunk.take()) }
            try await builder.applications(applicationsPerPool, chunkEvents: chunkEvents, emit)
        }
        if builder.chunk.events > 0 { try await emit(builder.chunk.take()) }
        return builder.total
    }
}

private struct Builder {
    var random: SeededRandom
    var chunk = Chunk()
    var total = 0
    var groups: [UUID: SteeringGroupState] = [:]
    var pools: [UUID: PoolState] = [:]
    var calls: [UUID: CallState] = [:]
    var applications: [UUID: ApplicationState] = [:]
    var meetings: [UUID: MeetingState] = [:]
    var grants: [UUID: GrantState] = [:]
    var paymentRequests: [UUID: PaymentRequestIdState] = [:]
    var current = (group: UUID(), pool: UUID(), call: UUID())

    static let base = Date(timeIntervalSince1970: 1_704_067_200)  // 2024-01-01
    static let members = (1...5).map { Member(id: "member-\($0)", name: "Member \($0)", affiliations: ["School \($0)"]) }
    static func day(_ n: Int) -> Date { base.addingTimeInterval(Double(n) * 86_400) }
    static func dkk(_ major: Int) -> Money { Money(minorUnits: Int64(major) * 100, currency: .dkk) }

    mutating func add<A: Aggregate>(_ states: WritableKeyPath<Builder, [UUID: A]>, _ id: UUID, _ events: [any DomainEvent]) throws {
        guard !events.isEmpty else { return }
        // Taken out of the dictionary so that evolving does not copy it.
        var state = self[keyPath: states].removeValue(forKey: id) ?? A.initial
        for event in events { state = (consume state).evolve(event) }
        self[keyPath: states][id] = state
        try chunk.add(stream: try StreamID(A.streamName(id)), events)
        total += events.count
    }

    mutating func pool(_ p: Int, applications: Int) throws {
        current = (random.uuid(), random.uuid(), random.uuid())
        let (groupId, poolId, callId) = current
        try add(\.groups, groupId, try CreateSteeringGroup(groupId: groupId, name: "Group \(p)", members: Self.members, at: Self.day(0)).decide(.initial))
        let budget = Self.dkk(applications * 120_000)
        try add(\.pools, poolId, try CreatePool(
            poolId: poolId, name: "Pool \(p)", owner: "Region \(p % 5)", currency: .dkk, carryOver: .carryOver,
            periods: [BudgetPeriodSpec(period: "2024", amount: budget), BudgetPeriodSpec(period: "2025", amount: budget)],
            sources: [FundingSourceSpec(id: "region", name: "Region", amount: budget), FundingSourceSpec(id: "eu", name: "EU", amount: budget, maxSharePercent: 60)],
            steeringGroupId: groupId, eligibility: EligibilityRules(), at: Self.day(0)).decide(pool: .initial, group: groups[groupId]!))
        try add(\.calls, callId, try OpenCall(callId: callId, poolId: poolId, title: "Call \(p)", opensAt: Self.day(0), closesAt: Self.day(60), cap: nil, at: Self.day(0))
            .decide(call: .initial, pool: pools[poolId]!))
    }

    /// Applications in rounds of 20, each round decided at one meeting.
    mutating func applications(_ count: Int, chunkEvents: Int, _ emit: ([StreamWrite]) async throws -> Void) async throws {
        var round: [UUID] = []
        for a in 0..<count {
            let id = random.uuid()
            let content = ApplicationContent(organisation: "School \(random.next(in: 1...40))", projectLeader: "leader-\(a)", title: "Project \(a)",
                                             description: "Generated", focusAreas: ["teaching content"], requested: Self.dkk(random.next(in: 20...200) * 1_000))
            try add(\.applications, id, try DraftApplication(applicationId: id, callId: current.call, content: content, at: Self.day(1))
                .decide(application: .initial, call: calls[current.call]!, pool: pools[current.pool]!))
            try add(\.applications, id, try SubmitApplication(applicationId: id, at: Self.day(2))
                .decide(application: applications[id]!, call: calls[current.call]!, pool: pools[current.pool]!, group: nil))
            round.append(id)
            if round.count == 20 || a == count - 1 {
                try decide(round)
                round = []
                if chunk.events >= chunkEvents { try await emit(chunk.take()) }
            }
        }
    }

    mutating func decide(_ round: [UUID]) throws {
        let meetingId = random.uuid()
        let present = Self.members.map(\.id)
        try add(\.meetings, meetingId, try HoldMeeting(meetingId: meetingId, groupId: current.group, date: Self.day(70), present: present, agenda: round)
            .decide(meeting: .initial, group: groups[current.group]!, applications: applications, pools: pools))
        for id in round {
            let state = applications[id]!
            let recused = RecordDecision.recusals(present: present, group: groups[current.group]!, content: state.content!).map(\.member)
            let votes = present.filter { !recused.contains($0) }.map { Vote(member: $0, vote: .for) }
            let roll = random.next(in: 0...99)
            let requested = state.content!.requested.minorUnits
            let outcome: RecordDecision.Outcome = roll < 60
                ? .approve(.init(amount: Money(minorUnits: requested / 100 * Int64(random.next(in: 50...100)), currency: .dkk), period: roll < 30 ? "2024" : "2025"))
                : roll < 85 ? .reject(reason: "Outside the focus areas") : .revise(reason: "Clarify the budget")
            let decided = try RecordDecision(meetingId: meetingId, applicationId: id, applicationVersion: state.version, votes: votes, outcome: outcome,
                                         at: Self.day(70))
                .decide(application: state, meeting: meetings[meetingId]!, group: groups[current.group]!, pool: pools[current.pool]!,
                        call: calls[current.call]!, grant: grants[id] ?? .initial)
            try add(\.applications, id, decided.application)
            try add(\.meetings, meetingId, decided.meeting)
            try add(\.pools, current.pool, decided.pool)
            try add(\.grants, id, decided.grant)
            if grants[id]?.awarded != nil { try payOut(id) }
        }
    }

    /// Pays a grant's tranches as its reports come in; some grants end early.
    mutating func payOut(_ grant: UUID) throws {
        try pay(grant, tranche: 1)
        let roll = random.next(in: 0...99)
        if roll < 10 {
            try adjust(grant, .cancel)
        } else if roll < 20 {
            try adjust(grant, .reduce(by: Money(minorUnits: grants[grant]!.tranches[2].amount.minorUnits / 2, currency: .dkk)))
        } else if roll < 70 {
            try report(grant, .progress)
            try pay(grant, tranche: 2)
            if roll < 50 {
                try report(grant, .final)
                try pay(grant, tranche: 3)
                if roll < 25 { try adjust(grant, .repayment(amount: Self.dkk(1_000), reference: "RETURN")) }
            }
        }
    }

    mutating func pay(_ grant: UUID, tranche: Int) throws {
        let request = random.uuid()
        let requested = try RequestPayment(grantId: grant, paymentRequestId: request, tranche: tranche, requestedBy: "clerk", at: Self.day(80))
            .decide(grant: grants[grant]!, claim: .initial)
        try add(\.grants, grant, requested.grant)
        try add(\.paymentRequests, request, requested.claim)
        try add(\.grants, grant, try ApprovePayment(grantId: grant, paymentRequestId: request, approvedBy: "controller", at: Self.day(81))
            .decide(grant: grants[grant]!))
        let paid = try MarkPaymentPaid(grantId: grant, paymentRequestId: request, reference: "BANK-\(tranche)", at: Self.day(82))
            .decide(grant: grants[grant]!, pool: pools[current.pool]!)
        try add(\.grants, grant, paid.grant)
        try add(\.pools, current.pool, paid.pool)
    }

    mutating func report(_ grant: UUID, _ kind: ReportKind) throws {
        let id = random.uuid()
        try add(\.grants, grant, try FileReport(grantId: grant, reportId: id, kind: kind, summary: "Report", at: Self.day(90)).decide(grant: grants[grant]!))
        try add(\.grants, grant, try ApproveReport(grantId: grant, reportId: id, approvedBy: "officer", at: Self.day(91)).decide(grant: grants[grant]!))
    }

    mutating func adjust(_ grant: UUID, _ kind: AdjustGrant.Kind) throws {
        let adjusted = try AdjustGrant(grantId: grant, kind: kind, reason: "Adjusted", at: Self.day(100)).decide(grant: grants[grant]!, pool: pools[current.pool]!)
        try add(\.grants, grant, adjusted.grant)
        try add(\.pools, current.pool, adjusted.pool)
    }
}

/// Events gathered for one append: one write per stream, each expecting the
/// version the stream had before the chunk.
private struct Chunk {
    private var order: [StreamID] = []
    private var writes: [StreamID: StreamWrite] = [:]
    private var versions: [StreamID: Int64] = [:]
    private(set) var events = 0
    static let metadata = EventMetadata(actor: "generator", role: "admin", command: "Import")

    mutating func add(stream: StreamID, _ domainEvents: [any DomainEvent]) throws {
        let new = try domainEvents.map { try NewEvent($0, metadata: Self.metadata) }
        if writes[stream] == nil {
            order.append(stream)
            writes[stream] = StreamWrite(stream: stream, expected: versions[stream].map { .exactly($0) } ?? .noStream, events: [])
        }
        writes[stream]!.events += new
        versions[stream, default: 0] += Int64(new.count)
        events += new.count
    }

    mutating func take() -> [StreamWrite] {
        defer { order = []; writes = [:]; events = 0 }
        return order.map { writes[$0]! }
    }
}

/// SplitMix64: the same seed gives the same history on every machine.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func uuid() -> UUID {
        let a = next(), b = next()
        var bytes = withUnsafeBytes(of: a.bigEndian) { Array($0) } + withUnsafeBytes(of: b.bigEndian) { Array($0) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
