import EventStore
import Foundation
import GrantDomain

/// Every command of the domain, each a plan: what to load, how to decide,
/// what to append. Names follow the API's verbs.
extension CommandHandler {
    public func createSteeringGroup(_ command: CreateSteeringGroup, _ context: CommandContext) async throws -> CommandResult {
        try await execute("CreateSteeringGroup", context, on: SteeringGroupState.self, command.groupId) { group in try command.decide(group) }
    }

    public func createPool(_ command: CreatePool, _ context: CommandContext) async throws -> CommandResult {
        try await execute("CreatePool", context) { session in
            let pool = try await session.load(PoolState.self, command.poolId)
            let group = try await session.load(SteeringGroupState.self, command.steeringGroupId)
            return [pool.write(try command.decide(pool: pool.state, group: group.state))]
        }
    }

    public func adjustBudget(poolId: UUID, _ command: AdjustBudget, _ context: CommandContext) async throws -> CommandResult {
        try await execute("AdjustBudget", context, on: PoolState.self, poolId) { pool in try command.decide(pool: pool, poolId: poolId) }
    }

    public func openCall(_ command: OpenCall, _ context: CommandContext) async throws -> CommandResult {
        try await execute("OpenCall", context) { session in
            try await session.prefetch(CallState.streamName(command.callId), PoolState.streamName(command.poolId))
            let call = try await session.load(CallState.self, command.callId)
            let pool = try await session.load(PoolState.self, command.poolId)
            return [call.write(try command.decide(call: call.state, pool: pool.state))]
        }
    }

    public func changeCallWindow(_ command: ChangeCallWindow, _ context: CommandContext) async throws -> CommandResult {
        try await execute("ChangeCallWindow", context, on: CallState.self, command.callId) { call in try command.decide(call: call) }
    }

    public func closeCall(_ command: CloseCall, _ context: CommandContext) async throws -> CommandResult {
        try await execute("CloseCall", context, on: CallState.self, command.callId) { call in try command.decide(call: call) }
    }

    public func draftApplication(_ command: DraftApplication, _ context: CommandContext) async throws -> CommandResult {
        try await execute("DraftApplication", context) { session in
            // A call's pool never changes: known from an earlier fold, it is read in the same round trip.
            let knownPool = session.peek(CallState.self, command.callId)?.opened.map { [PoolState.streamName($0.poolId)] } ?? []
            try await session.prefetch([ApplicationState.streamName(command.applicationId), CallState.streamName(command.callId)] + knownPool)
            let application = try await session.load(ApplicationState.self, command.applicationId)
            let call = try await session.load(CallState.self, command.callId)
            let pool = try await session.load(PoolState.self, call.state.opened?.poolId ?? command.callId)
            return [application.write(try command.decide(application: application.state, call: call.state, pool: pool.state,
                                                         actingAs: context.actingAs))]
        }
    }

    public func amendApplication(_ command: AmendApplication, _ context: CommandContext) async throws -> CommandResult {
        try await execute("AmendApplication", context) { session in
            let (application, call, pool, group) = try await loadForApplication(session, command.applicationId)
            return [application.write(try command.decide(application: application.state, call: call.state, pool: pool.state, group: group?.state,
                                                         actingAs: context.actingAs))]
                + (group.map { [$0.unchanged()] } ?? [])
        }
    }

    public func submitApplication(_ command: SubmitApplication, _ context: CommandContext) async throws -> CommandResult {
        try await execute("SubmitApplication", context) { session in
            let (application, call, pool, group) = try await loadForApplication(session, command.applicationId)
            // The membership rule was checked against this version of the group.
            return [application.write(try command.decide(application: application.state, call: call.state, pool: pool.state, group: group?.state,
                                                         actingAs: context.actingAs))]
                + (group.map { [$0.unchanged()] } ?? [])
        }
    }

    public func withdrawApplication(_ command: WithdrawApplication, _ context: CommandContext) async throws -> CommandResult {
        try await execute("WithdrawApplication", context, on: ApplicationState.self, command.applicationId) { application in
            try command.decide(application: application, actingAs: context.actingAs)
        }
    }

    public func holdMeeting(_ command: HoldMeeting, _ context: CommandContext) async throws -> CommandResult {
        try await execute("HoldMeeting", context) { session in
            let meeting = try await session.load(MeetingState.self, command.meetingId)
            let group = try await session.load(SteeringGroupState.self, command.groupId)
            let (applications, pools) = try await loadAgendaItems(session, command.agenda)
            return [meeting.write(try command.decide(meeting: meeting.state, group: group.state, applications: applications, pools: pools))]
        }
    }

    public func changeAttendance(_ command: ChangeAttendance, _ context: CommandContext) async throws -> CommandResult {
        try await execute("ChangeAttendance", context) { session in
            let meeting = try await session.load(MeetingState.self, command.meetingId)
            let group = try await session.load(SteeringGroupState.self, meeting.state.held?.groupId ?? command.meetingId)
            return [meeting.write(try command.decide(meeting: meeting.state, group: group.state))]
        }
    }

    /// The append checks the applications added and their pools are unchanged since they were read.
    public func changeAgenda(_ command: ChangeAgenda, _ context: CommandContext) async throws -> CommandResult {
        try await execute("ChangeAgenda", context) { session in
            let meeting = try await session.load(MeetingState.self, command.meetingId)
            let (applications, pools) = try await loadAgendaItems(session, command.added(to: meeting.state))
            return [meeting.write(try command.decide(meeting: meeting.state, added: applications, pools: pools))]
        }
    }

    /// The applications an agenda takes up and the pools they were drafted
    /// to, in two round trips at most. The decider reads only a pool's
    /// steering group, which never changes: a pool this process has folded
    /// is taken as folded and not checked at the append, so payments and
    /// approvals on a busy pool do not make scheduling clash.
    private func loadAgendaItems(_ session: Session, _ ids: [UUID]) async throws -> ([UUID: ApplicationState], [UUID: PoolState]) {
        // Longer than any agenda may be: the decider refuses it by its length, with nothing read.
        guard ids.count <= Limits.agenda else { return ([:], [:]) }
        try await session.prefetch(ids.map(ApplicationState.streamName))
        var applications: [UUID: ApplicationState] = [:]
        for id in ids { applications[id] = try await session.load(ApplicationState.self, id).state }
        let poolIds = Set(applications.values.compactMap { $0.drafted?.poolId })
        var pools: [UUID: PoolState] = [:]
        for id in poolIds {
            if let folded = session.peek(PoolState.self, id), folded.created != nil { pools[id] = folded }
        }
        let unfolded = poolIds.filter { pools[$0] == nil }
        try await session.prefetch(unfolded.map(PoolState.streamName))
        for id in unfolded { pools[id] = try await session.load(PoolState.self, id).state }
        return (applications, pools)
    }

    /// An approval appends to the application, the meeting, the pool and the
    /// new grant in one append: a clash on the pool (another approval got
    /// there first) re-reads the pool and decides again.
    public func recordDecision(_ command: RecordDecision, _ context: CommandContext) async throws -> CommandResult {
        try await execute("RecordDecision", context) { session in
            // A meeting's group, an application's call and pool never change:
            // known from an earlier fold, they are read in the same round trip.
            var streams = [MeetingState.streamName(command.meetingId), ApplicationState.streamName(command.applicationId),
                           GrantState.streamName(command.applicationId)]
            if let held = session.peek(MeetingState.self, command.meetingId)?.held { streams.append(SteeringGroupState.streamName(held.groupId)) }
            if let drafted = session.peek(ApplicationState.self, command.applicationId)?.drafted {
                streams += [CallState.streamName(drafted.callId), PoolState.streamName(drafted.poolId)]
            }
            try await session.prefetch(streams)
            let meeting = try await session.load(MeetingState.self, command.meetingId)
            let groupId = meeting.state.held?.groupId ?? command.meetingId
            let (application, call, pool, _) = try await loadForApplication(session, command.applicationId,
                                                                             alsoReading: [SteeringGroupState.streamName(groupId)])
            let group = try await session.load(SteeringGroupState.self, groupId)
            let grant = try await session.load(GrantState.self, command.applicationId)
            let events = try command.decide(
                application: application.state, meeting: meeting.state, group: group.state, pool: pool.state, call: call.state, grant: grant.state,
                actingAs: context.actingAs)
            var writes = [application.write(events.application), meeting.write(events.meeting), group.unchanged()]
            if !events.pool.isEmpty { writes.append(pool.write(events.pool)) }
            if !events.grant.isEmpty { writes.append(grant.write(events.grant)) }
            return writes
        }
    }

    public func fileReport(_ command: FileReport, _ context: CommandContext) async throws -> CommandResult {
        try await execute("FileReport", context, on: GrantState.self, command.grantId) { grant in
            try command.decide(grant: grant, actingAs: context.actingAs)
        }
    }

    public func approveReport(_ command: ApproveReport, _ context: CommandContext) async throws -> CommandResult {
        try await execute("ApproveReport", context, on: GrantState.self, command.grantId) { grant in try command.decide(grant: grant) }
    }

    public func requestPayment(_ command: RequestPayment, _ context: CommandContext) async throws -> CommandResult {
        try await execute("RequestPayment", context) { session in
            try await session.prefetch(GrantState.streamName(command.grantId), PaymentRequestIdState.streamName(command.paymentRequestId))
            let grant = try await session.load(GrantState.self, command.grantId)
            let claim = try await session.load(PaymentRequestIdState.self, command.paymentRequestId)
            let events = try command.decide(grant: grant.state, claim: claim.state)
            return [grant.write(events.grant), claim.write(events.claim)]
        }
    }

    /// The grant a payment request was claimed for, read from the claim's
    /// stream: a route that names the request alone needs no read model.
    public func grantOfPaymentRequest(_ paymentRequestId: UUID) async throws -> UUID {
        let claim = try await Session(store: store).load(PaymentRequestIdState.self, paymentRequestId)
        guard let grantId = claim.state.grantId else { throw DomainError.notFound(kind: "payment request", id: paymentRequestId.uuidString) }
        return grantId
    }

    public func approvePayment(_ command: ApprovePayment, _ context: CommandContext) async throws -> CommandResult {
        try await execute("ApprovePayment", context, on: GrantState.self, command.grantId) { grant in try command.decide(grant: grant) }
    }

    public func markPaymentPaid(_ command: MarkPaymentPaid, _ context: CommandContext) async throws -> CommandResult {
        try await execute("MarkPaymentPaid", context) { session in
            let grant = try await session.load(GrantState.self, command.grantId)
            let pool = try await session.load(PoolState.self, grant.state.awarded?.poolId ?? command.grantId)
            let events = try command.decide(grant: grant.state, pool: pool.state)
            return [grant.write(events.grant), pool.write(events.pool)]
        }
    }

    public func adjustGrant(_ command: AdjustGrant, _ context: CommandContext) async throws -> CommandResult {
        try await execute("AdjustGrant", context) { session in
            let grant = try await session.load(GrantState.self, command.grantId)
            let pool = try await session.load(PoolState.self, grant.state.awarded?.poolId ?? command.grantId)
            let events = try command.decide(grant: grant.state, pool: pool.state)
            return [grant.write(events.grant)] + (events.pool.isEmpty ? [] : [pool.write(events.pool)])
        }
    }

    /// A document whose bytes are stored already, attached to an application.
    public func attachDocument(_ command: AttachDocument, applicationId: UUID, _ context: CommandContext) async throws -> CommandResult {
        try await execute("AttachDocument", context, on: ApplicationState.self, applicationId) { application in
            try command.decide(application: application, applicationId: applicationId, actingAs: context.actingAs)
        }
    }

    /// A document whose bytes are stored already, attached to a grant (or one of its reports).
    public func attachDocument(_ command: AttachDocument, grantId: UUID, _ context: CommandContext) async throws -> CommandResult {
        try await execute("AttachDocument", context, on: GrantState.self, grantId) { grant in
            try command.decide(grant: grant, grantId: grantId, actingAs: context.actingAs)
        }
    }

    /// A document whose bytes are stored already, attached to a meeting (its minutes).
    public func attachDocument(_ command: AttachDocument, meetingId: UUID, _ context: CommandContext) async throws -> CommandResult {
        try await execute("AttachDocument", context) { session in
            let meeting = try await session.load(MeetingState.self, meetingId)
            let group = try await session.load(SteeringGroupState.self, meeting.state.held?.groupId ?? meetingId)
            return [meeting.write(try command.decide(meeting: meeting.state, meetingId: meetingId, group: group.state, actingAs: context.actingAs))]
        }
    }

    public func recordScan(_ command: RecordScan, _ context: CommandContext) async throws -> CommandResult {
        try await execute("RecordScan", context, on: DocumentState.self, command.sha256.streamId) { document in
            try command.decide(document: document)
        }
    }

    /// A command that reads and writes one stream.
    private func execute<A: Aggregate>(_ command: String, _ context: CommandContext, on _: A.Type, _ id: UUID,
                                       _ decide: @escaping @Sendable (A) throws -> [any DomainEvent]) async throws -> CommandResult {
        try await execute(command, context) { session in
            let loaded = try await session.load(A.self, id)
            return [loaded.write(try decide(loaded.state))]
        }
    }

    /// An application with the call, pool and (when the pool's rules name
    /// one) the steering group its eligibility is checked against. The call
    /// and pool are read in one round trip, with `alsoReading` streams the
    /// command loads next; in the application's too when an earlier fold
    /// names them.
    private func loadForApplication(_ session: Session, _ applicationId: UUID, alsoReading: [String] = []) async throws
        -> (Loaded<ApplicationState>, Loaded<CallState>, Loaded<PoolState>, Loaded<SteeringGroupState>?) {
        if let drafted = session.peek(ApplicationState.self, applicationId)?.drafted {
            try await session.prefetch([ApplicationState.streamName(applicationId), CallState.streamName(drafted.callId),
                                        PoolState.streamName(drafted.poolId)] + alsoReading)
        }
        let application = try await session.load(ApplicationState.self, applicationId)
        guard let drafted = application.state.drafted else { throw DomainError.notFound(kind: "application", id: applicationId.uuidString) }
        try await session.prefetch([CallState.streamName(drafted.callId), PoolState.streamName(drafted.poolId)] + alsoReading)
        let call = try await session.load(CallState.self, drafted.callId)
        let pool = try await session.load(PoolState.self, drafted.poolId)
        var group: Loaded<SteeringGroupState>?
        if let groupId = pool.state.created?.eligibility.leaderMemberOfGroup {
            group = try await session.load(SteeringGroupState.self, groupId)
        }
        return (application, call, pool, group)
    }
}

/// Users and their roles: the people behind the identities the API checks.
extension CommandHandler {
    /// A user's id: derived from their e-mail address, so one address is one user.
    public static func userId(email: String) -> UUID { UUID.named("user/\(UserState.normalisedEmail(email))") }

    public func inviteUser(_ command: InviteUser, _ context: CommandContext) async throws -> CommandResult {
        guard command.userId == Self.userId(email: command.email) else {
            throw DomainError.invalidInput(field: "id", reason: "a user's id is the one their e-mail address gives: \(Self.userId(email: command.email))")
        }
        return try await execute("InviteUser", context) { session in
            let user = try await session.load(UserState.self, command.userId)
            var groups: [UUID: Loaded<SteeringGroupState>] = [:]
            for id in Set(command.roles.compactMap(\.groupId)).prefix(Limits.roles) {
                groups[id] = try await session.load(SteeringGroupState.self, id)
            }
            // The membership each steering role names was checked against these versions of the groups.
            return [user.write(try command.decide(user: user.state, groups: groups.mapValues(\.state)))] + groups.values.map { $0.unchanged() }
        }
    }

    public func grantRole(_ command: GrantRole, _ context: CommandContext) async throws -> CommandResult {
        try await execute("GrantRole", context) { session in
            let user = try await session.load(UserState.self, command.userId)
            var group: Loaded<SteeringGroupState>?
            if let id = command.grant.groupId { group = try await session.load(SteeringGroupState.self, id) }
            return [user.write(try command.decide(user: user.state, group: group?.state))] + (group.map { [$0.unchanged()] } ?? [])
        }
    }

    public func issueSignInLink(_ command: IssueSignInLink, _ context: CommandContext) async throws -> CommandResult {
        try await execute("IssueSignInLink", context, on: UserState.self, command.userId) { user in try command.decide(user: user) }
    }

    public func revokeRole(_ command: RevokeRole, _ context: CommandContext) async throws -> CommandResult {
        try await execute("RevokeRole", context, on: UserState.self, command.userId) { user in try command.decide(user: user) }
    }
}
