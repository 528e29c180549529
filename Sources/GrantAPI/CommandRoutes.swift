import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import PostgresNIO

// MARK: Request bodies (the shapes openapi.yaml describes)

struct CreateSteeringGroupRequest: Decodable {
    var id: UUID?
    var name: String
    var members: [Member]
}

struct CreatePoolRequest: Decodable {
    var id: UUID?
    var name: String
    var owner: String
    var currency: Currency
    var carryOver: CarryOverPolicy?
    var periods: [BudgetPeriodSpec]
    var sources: [FundingSourceSpec]
    var steeringGroupId: UUID
    var eligibility: EligibilityRules?
}

struct BudgetAdjustmentRequest: Decodable {
    enum Kind: String, Decodable { case addPeriod = "add-period", move, closePeriod = "close-period" }
    var kind: Kind
    var period: String?
    var from: String?
    var to: String?
    var amount: Money?
    var reason: String?
}

struct OpenCallRequest: Decodable {
    var id: UUID?
    var title: String
    var opensAt: Date
    var closesAt: Date
    var cap: Money?
}

struct ChangeCallWindowRequest: Decodable {
    var opensAt: Date
    var closesAt: Date
    var reason: String?
}

struct CloseCallRequest: Decodable {
    var reason: String
}

/// The application's content, with the lists optional.
struct ApplicationContentRequest: Decodable {
    var organisation: String
    var projectLeader: String
    var partners: [String]?
    var title: String
    var description: String
    var focusAreas: [String]?
    var requested: Money
    var budget: [BudgetLine]?
    var expectedOutcomes: String?
    var studentsReached: Int?

    var content: ApplicationContent {
        ApplicationContent(organisation: organisation, projectLeader: projectLeader, partners: partners ?? [], title: title,
                           description: description, focusAreas: focusAreas ?? [], requested: requested, budget: budget ?? [],
                           expectedOutcomes: expectedOutcomes ?? "", studentsReached: studentsReached)
    }
}

struct DraftApplicationRequest: Decodable {
    var id: UUID?
    var callId: UUID
    var content: ApplicationContentRequest

    enum CodingKeys: String, CodingKey { case id, callId }
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(UUID.self, forKey: .id)
        callId = try container.decode(UUID.self, forKey: .callId)
        content = try ApplicationContentRequest(from: decoder)
    }
}

struct WithdrawRequest: Decodable { var reason: String? }

/// A command its path says all of: the body is `{}` or empty.
struct PathOnlyRequest: Decodable {}

struct HoldMeetingRequest: Decodable {
    var id: UUID?
    var date: GivenTime
    var present: [String]
    var agenda: [UUID]
}

struct AttendanceRequest: Decodable {
    var present: [String]
    var reason: String?
}

struct AgendaRequest: Decodable {
    var agenda: [UUID]
    var reason: String?
}

/// A time as the client wrote it: an instant, or a whole day (`2026-03-04`).
struct GivenTime: Decodable {
    var date: Date
    var isDay: Bool

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        switch CivilTime.parse(try container.decode(String.self)) {
        case .success(let parsed): (date, isDay) = (parsed.date, parsed.isDay)
        case .failure(let invalid): throw DecodingError.dataCorruptedError(in: container, debugDescription: invalid.reason)
        }
    }
}

struct DecisionRequest: Decodable {
    var applicationId: UUID
    var applicationVersion: Int
    var votes: [Vote]
    var outcome: DecisionOutcome
    var amount: Money?
    var period: String?
    var sources: [SourceAmount]?
    var conditions: [String]?
    var tranches: [TrancheSpec]?
    var reason: String?

    func command(meetingId: UUID) throws -> RecordDecision {
        let decided: RecordDecision.Outcome
        switch outcome {
        case .approve:
            guard let amount else { throw DomainError.invalidInput(field: "amount", reason: "an approval needs the amount granted") }
            guard let period else { throw DomainError.invalidInput(field: "period", reason: "an approval needs the budget period it draws on") }
            decided = .approve(.init(amount: amount, period: period, sources: sources, conditions: conditions ?? [],
                                     tranches: tranches ?? TrancheSpec.standard))
        case .reject: decided = .reject(reason: reason ?? "")
        case .revise: decided = .revise(reason: reason ?? "")
        }
        return RecordDecision(meetingId: meetingId, applicationId: applicationId, applicationVersion: applicationVersion, votes: votes,
                              outcome: decided, at: Date())
    }
}

struct FileReportRequest: Decodable {
    var id: UUID?
    var kind: ReportKind
    var summary: String
}

struct PaymentRequestRequest: Decodable {
    var id: UUID?
    var tranche: Int
}

struct PaidRequest: Decodable {
    var grantId: UUID?
    var reference: String
}

struct ApprovePaymentRequest: Decodable { var grantId: UUID? }

struct GrantAdjustmentRequest: Decodable {
    enum Kind: String, Decodable { case reduce, cancel, repayment }
    var kind: Kind
    var amount: Money?
    var reference: String?
    var reason: String

    var adjustment: AdjustGrant.Kind {
        get throws {
            switch kind {
            case .cancel: return .cancel
            case .reduce:
                guard let amount else { throw DomainError.invalidInput(field: "amount", reason: "a reduction names the amount") }
                return .reduce(by: amount)
            case .repayment:
                guard let amount else { throw DomainError.invalidInput(field: "amount", reason: "a repayment names the amount") }
                guard let reference else { throw DomainError.invalidInput(field: "reference", reason: "a repayment names its payment reference") }
                return .repayment(amount: amount, reference: reference)
            }
        }
    }
}

// MARK: Routes

extension Services {
    /// Reads the body, checks the role, and runs `handle` with the decoded
    /// request and the sender's idempotency scope.
    func command<Body: Decodable>(
        _ request: Request, _ roles: Set<Role>, _ action: String, _ type: Body.Type,
        _ handle: @Sendable (Body, IdempotencyScope) async throws -> Response
    ) async throws -> Response {
        let identity = try await auth.require(request, roles, to: action)
        let body = try await CommandBody.read(request, limit: bodyLimit)
        let scope = try IdempotencyScope(request, identity, body)
        return try await handle(try body.decode(Body.self), scope)
    }

    /// 403 unless the applicant acts for the organisation that owns the
    /// application; the application as it stands, read for the check. For
    /// reads: a command's own decider checks whom its sender acts for.
    /// `version`: the application stream's version, when the caller has read it.
    @discardableResult
    func requireOwner(_ identity: Identity, applicationId: UUID, version: Int64? = nil) async throws -> ApplicationState {
        let application = try await commands.current(ApplicationState.self, applicationId, known: version)
        guard identity.role == .applicant else { return application.state }
        guard let content = application.state.content else { throw DomainError.notFound(kind: "application", id: applicationId.uuidString) }
        guard content.organisation == identity.organisation else {
            throw Problem(.forbidden, rule: "not-owner", title: "Your role may not do this",
                          detail: "application \(applicationId.uuidString) belongs to another organisation")
        }
        return application.state
    }

    func requireOwner(_ identity: Identity, grantId: UUID, version: Int64? = nil) async throws {
        guard identity.role == .applicant else { return }
        let grant = try await commands.current(GrantState.self, grantId, known: version)
        guard let awarded = grant.state.awarded else { throw DomainError.notFound(kind: "grant", id: grantId.uuidString) }
        guard awarded.organisation == identity.organisation else {
            throw Problem(.forbidden, rule: "not-owner", title: "Your role may not do this", detail: "grant \(grantId.uuidString) belongs to another organisation")
        }
    }

    /// 403 unless the steering member sits on the group that held the meeting: for pages that show it.
    func requireGroupMember(_ identity: Identity, meetingId: UUID) async throws {
        let session = Session(store: store)
        let meeting = try await session.load(MeetingState.self, meetingId)
        guard let held = meeting.state.held else { throw DomainError.notFound(kind: "meeting", id: meetingId.uuidString) }
        let group = try await session.load(SteeringGroupState.self, held.groupId)
        guard identity.sits(on: group.state, held.groupId) else {
            throw Problem.forbidden("\(identity.member ?? identity.subject) is not a member of the steering group that held meeting \(meetingId.uuidString)")
        }
    }
}

func addCommandRoutes(to routes: Routes, _ services: Services) {
    let handler = services.commands

    routes.post("/v1/steering-groups") { request, _ in
        try await services.command(request, [.admin], "create steering groups", CreateSteeringGroupRequest.self) { body, scope in
            let id = scope.id(body.id, "steering-group")
            let result = try await handler.createSteeringGroup(
                CreateSteeringGroup(groupId: id, name: body.name, members: body.members, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString], result, created: true)
        }
    }

    routes.post("/v1/pools") { request, _ in
        try await services.command(request, [.admin], "create pools", CreatePoolRequest.self) { body, scope in
            let id = scope.id(body.id, "pool")
            let command = CreatePool(poolId: id, name: body.name, owner: body.owner, currency: body.currency, carryOver: body.carryOver ?? .lapse,
                                     periods: body.periods, sources: body.sources, steeringGroupId: body.steeringGroupId,
                                     eligibility: body.eligibility ?? EligibilityRules(), at: Date())
            let result = try await handler.createPool(command, scope.context)
            return try commandResponse(["id": id.uuidString], result, created: true)
        }
    }

    routes.post("/v1/pools/:poolId/budget-adjustments") { request, context in
        let poolId = try request.uuidParameter(context, "poolId")
        return try await services.command(request, [.admin], "adjust budgets", BudgetAdjustmentRequest.self) { body, scope in
            func required<T>(_ value: T?, _ field: String) throws -> T {
                guard let value else { throw DomainError.invalidInput(field: field, reason: "required for \(body.kind.rawValue)") }
                return value
            }
            let adjustment: AdjustBudget
            switch body.kind {
            case .addPeriod: adjustment = .addPeriod(period: try required(body.period, "period"), amount: try required(body.amount, "amount"), at: Date())
            case .move:
                adjustment = .move(from: try required(body.from, "from"), to: try required(body.to, "to"), amount: try required(body.amount, "amount"),
                                   reason: body.reason ?? "", at: Date())
            case .closePeriod: adjustment = .closePeriod(period: try required(body.period, "period"), at: Date())
            }
            let result = try await handler.adjustBudget(poolId: poolId, adjustment, scope.context)
            return try commandResponse(["poolId": poolId.uuidString, "kind": body.kind.rawValue], result, created: false)
        }
    }

    routes.post("/v1/pools/:poolId/calls") { request, context in
        let poolId = try request.uuidParameter(context, "poolId")
        return try await services.command(request, [.admin], "open calls", OpenCallRequest.self) { body, scope in
            let id = scope.id(body.id, "call")
            let result = try await handler.openCall(
                OpenCall(callId: id, poolId: poolId, title: body.title, opensAt: body.opensAt, closesAt: body.closesAt, cap: body.cap, at: Date()),
                scope.context)
            return try commandResponse(["id": id.uuidString, "poolId": poolId.uuidString], result, created: true)
        }
    }

    routes.post("/v1/calls/:callId/window") { request, context in
        let callId = try request.uuidParameter(context, "callId")
        return try await services.command(request, [.admin], "change call windows", ChangeCallWindowRequest.self) { body, scope in
            let result = try await handler.changeCallWindow(
                ChangeCallWindow(callId: callId, opensAt: body.opensAt, closesAt: body.closesAt, reason: body.reason ?? "", at: Date()), scope.context)
            return try commandResponse(["id": callId.uuidString], result, created: false)
        }
    }

    routes.post("/v1/calls/:callId/close") { request, context in
        let callId = try request.uuidParameter(context, "callId")
        return try await services.command(request, [.admin], "close calls", CloseCallRequest.self) { body, scope in
            let result = try await handler.closeCall(CloseCall(callId: callId, reason: body.reason, at: Date()), scope.context)
            return try commandResponse(["id": callId.uuidString], result, created: false)
        }
    }

    routes.post("/v1/applications") { request, _ in
        try await services.command(request, [.applicant], "draft applications", DraftApplicationRequest.self) { body, scope in
            let id = scope.id(body.id, "application")
            let result = try await handler.draftApplication(
                DraftApplication(applicationId: id, callId: body.callId, content: body.content.content, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString, "status": ApplicationStatus.draft.rawValue], result, created: true)
        }
    }

    routes.post("/v1/applications/:applicationId/amendments") { request, context in
        let id = try request.uuidParameter(context, "applicationId")
        return try await services.command(request, [.applicant], "amend applications", ApplicationContentRequest.self) { body, scope in
            let result = try await handler.amendApplication(AmendApplication(applicationId: id, content: body.content, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString], result, created: false)
        }
    }

    routes.post("/v1/applications/:applicationId/submit") { request, context in
        let id = try request.uuidParameter(context, "applicationId")
        return try await services.command(request, [.applicant], "submit applications", PathOnlyRequest.self) { _, scope in
            let result = try await handler.submitApplication(SubmitApplication(applicationId: id, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString, "status": ApplicationStatus.submitted.rawValue], result, created: false)
        }
    }

    routes.post("/v1/applications/:applicationId/withdraw") { request, context in
        let id = try request.uuidParameter(context, "applicationId")
        return try await services.command(request, [.applicant], "withdraw applications", WithdrawRequest.self) { body, scope in
            let result = try await handler.withdrawApplication(WithdrawApplication(applicationId: id, reason: body.reason ?? "", at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString, "status": ApplicationStatus.withdrawn.rawValue], result, created: false)
        }
    }

    routes.post("/v1/steering-groups/:groupId/meetings") { request, context in
        let groupId = try request.uuidParameter(context, "groupId")
        return try await services.command(request, [.admin], "hold meetings", HoldMeetingRequest.self) { body, scope in
            let id = scope.id(body.id, "meeting")
            let result = try await handler.holdMeeting(
                HoldMeeting(meetingId: id, groupId: groupId, date: body.date.date, datedByDay: body.date.isDay, present: body.present,
                            agenda: body.agenda), scope.context)
            return try commandResponse(["id": id.uuidString, "steeringGroupId": groupId.uuidString], result, created: true)
        }
    }

    routes.post("/v1/meetings/:meetingId/attendance") { request, context in
        let meetingId = try request.uuidParameter(context, "meetingId")
        return try await services.command(request, [.admin], "change who is present at meetings", AttendanceRequest.self) { body, scope in
            let result = try await handler.changeAttendance(
                ChangeAttendance(meetingId: meetingId, present: body.present, reason: body.reason ?? "", at: Date()), scope.context)
            return try commandResponse(["id": meetingId.uuidString], result, created: false)
        }
    }

    routes.post("/v1/meetings/:meetingId/agenda") { request, context in
        let meetingId = try request.uuidParameter(context, "meetingId")
        return try await services.command(request, [.admin], "change meeting agendas", AgendaRequest.self) { body, scope in
            let result = try await handler.changeAgenda(ChangeAgenda(meetingId: meetingId, agenda: body.agenda, reason: body.reason ?? "", at: Date()),
                                                        scope.context)
            return try commandResponse(["id": meetingId.uuidString], result, created: false)
        }
    }

    routes.post("/v1/meetings/:meetingId/decisions") { request, context in
        let meetingId = try request.uuidParameter(context, "meetingId")
        return try await services.command(request, [.steering], "record decisions", DecisionRequest.self) { body, scope in
            let result = try await handler.recordDecision(try body.command(meetingId: meetingId), scope.context)
            var fields = ["meetingId": meetingId.uuidString, "applicationId": body.applicationId.uuidString, "outcome": body.outcome.rawValue]
            // A grant takes its application's id.
            if body.outcome == .approve { fields["grantId"] = body.applicationId.uuidString }
            return try commandResponse(fields, result, created: true)
        }
    }

    routes.post("/v1/grants/:grantId/reports") { request, context in
        let grantId = try request.uuidParameter(context, "grantId")
        return try await services.command(request, [.applicant], "file reports", FileReportRequest.self) { body, scope in
            let id = scope.id(body.id, "report")
            let result = try await handler.fileReport(
                FileReport(grantId: grantId, reportId: id, kind: body.kind, summary: body.summary, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString, "grantId": grantId.uuidString], result, created: true)
        }
    }

    routes.post("/v1/grants/:grantId/reports/:reportId/approve") { request, context in
        let grantId = try request.uuidParameter(context, "grantId")
        let reportId = try request.uuidParameter(context, "reportId")
        return try await services.command(request, [.admin], "approve reports", ApprovePaymentRequest.self) { _, scope in
            let result = try await handler.approveReport(
                ApproveReport(grantId: grantId, reportId: reportId, approvedBy: scope.identity.subject, at: Date()), scope.context)
            return try commandResponse(["id": reportId.uuidString, "grantId": grantId.uuidString, "status": "approved"], result, created: false)
        }
    }

    routes.post("/v1/grants/:grantId/payment-requests") { request, context in
        let grantId = try request.uuidParameter(context, "grantId")
        return try await services.command(request, [.admin], "request payments", PaymentRequestRequest.self) { body, scope in
            let id = scope.id(body.id, "payment-request")
            let result = try await handler.requestPayment(
                RequestPayment(grantId: grantId, paymentRequestId: id, tranche: body.tranche, requestedBy: scope.identity.subject, at: Date()),
                scope.context)
            return try commandResponse(["id": id.uuidString, "grantId": grantId.uuidString, "status": "requested"], result, created: true)
        }
    }

    routes.post("/v1/payment-requests/:paymentRequestId/approve") { request, context in
        let id = try request.uuidParameter(context, "paymentRequestId")
        return try await services.command(request, [.admin], "approve payments", ApprovePaymentRequest.self) { body, scope in
            let grantId = if let given = body.grantId { given } else { try await handler.grantOfPaymentRequest(id) }
            let result = try await handler.approvePayment(
                ApprovePayment(grantId: grantId, paymentRequestId: id, approvedBy: scope.identity.subject, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString, "grantId": grantId.uuidString, "status": "approved"], result, created: false)
        }
    }

    routes.post("/v1/payment-requests/:paymentRequestId/paid") { request, context in
        let id = try request.uuidParameter(context, "paymentRequestId")
        return try await services.command(request, [.admin], "mark payments paid", PaidRequest.self) { body, scope in
            let grantId = if let given = body.grantId { given } else { try await handler.grantOfPaymentRequest(id) }
            let result = try await handler.markPaymentPaid(
                MarkPaymentPaid(grantId: grantId, paymentRequestId: id, reference: body.reference, at: Date()), scope.context)
            return try commandResponse(["id": id.uuidString, "grantId": grantId.uuidString, "status": "paid"], result, created: false)
        }
    }

    routes.post("/v1/grants/:grantId/adjustments") { request, context in
        let grantId = try request.uuidParameter(context, "grantId")
        return try await services.command(request, [.admin], "adjust grants", GrantAdjustmentRequest.self) { body, scope in
            let result = try await handler.adjustGrant(
                AdjustGrant(grantId: grantId, kind: try body.adjustment, reason: body.reason, at: Date()), scope.context)
            return try commandResponse(["grantId": grantId.uuidString, "kind": body.kind.rawValue], result, created: false)
        }
    }
}
