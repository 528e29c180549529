import Accounts
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import PostgresNIO
import Projections

/// Administrators' payment queue: tranches that can be requested, requests
/// waiting for a second administrator (four eyes: the page names who may
/// approve; the domain refuses the requester), approved requests to mark
/// paid with the bank's reference, and reports waiting for approval.
func addPaymentPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts) {
    let handler = services.commands
    let refusalKey = "payments"

    routes.page("GET", "/admin/payments") { request, _ in
        try await services.page(request, pages: pages) {
            let page = try await services.pageContext(request, pages: pages, flash: request.flash)
            let identity = try await services.auth.require(request, [.admin], to: "run the payment queue", signedIn: page.user)
            let adminId = try identity.pageUser()
            _ = try await services.waitForReadModels(request, [.grants])
            let language = page.language
            let queue = PaymentQueue(client: services.store.client, logger: services.logger)
            var errors = FieldErrors()
            if let (_, kept) = try await accounts.formDraft(userId: adminId, key: refusalKey, as: [String: String].self, errors: FieldErrors.self) {
                errors = kept
                try await accounts.dropFormDraft(userId: adminId, key: refusalKey)
            }
            var waiting: [[String: Any]] = [], toPay: [[String: Any]] = []
            for payment in try await queue.inFlight() {
                let id = payment.id.uuidString.lowercased()
                var row: [String: Any] = [
                    "id": id, "grantId": payment.grantId.uuidString.lowercased(), "title": payment.title, "organisation": payment.organisation,
                    "tranche": String(payment.tranche), "amount": language.money(payment.amount), "requestedBy": payment.requestedBy,
                    "requestedAt": language.moment(payment.requestedAt), "approvedBy": payment.approvedBy ?? "",
                ]
                if let error = errors["row-\(id)"] { row["error"] = error }
                if payment.status == "requested" {
                    let own = payment.requestedBy == identity.subject
                    row["ownRequest"] = own
                    row["whoMay"] = language.word(own ? "fourEyesOwn" : "fourEyesOther", ["requester": payment.requestedBy])
                    waiting.append(row)
                } else {
                    toPay.append(row)
                }
            }
            var requestable: [[String: Any]] = []
            // Each grant's readiness is the domain's: every grant listed is read in one round trip, not one each.
            let due = try await queue.scheduledTranches(limit: 200)
            let grantIds = Array(Set(due.map(\.grantId)))
            let reader = handler.reader()
            try await reader.prefetch(grantIds.map { GrantState.streamName($0) })
            var grants: [UUID: GrantState] = [:]
            for grantId in grantIds { grants[grantId] = try await reader.load(GrantState.self, grantId).state }
            for tranche in due {
                guard let grant = grants[tranche.grantId] else { continue }
                guard let scheduled = grant.tranches.first(where: { $0.number == tranche.number }) else { continue }
                let readiness = grant.isReady(scheduled)
                let key = "row-\(tranche.grantId.uuidString.lowercased())-\(tranche.number)"
                var row: [String: Any] = [
                    "grantId": tranche.grantId.uuidString.lowercased(), "title": tranche.title, "organisation": tranche.organisation,
                    "tranche": String(tranche.number), "amount": language.money(tranche.amount), "trigger": language.word("trigger.\(tranche.trigger)"),
                    "ready": readiness.ready,
                    "waitingFor": readiness.ready ? "" : language.word("waitingFor", ["trigger": language.word("trigger.\(tranche.trigger)")]),
                ]
                if let error = errors[key] { row["error"] = error }
                requestable.append(row)
            }
            let reports: [[String: Any]] = try await queue.filedReports().map { report in
                var row: [String: Any] = [
                    "id": report.id.uuidString.lowercased(), "grantId": report.grantId.uuidString.lowercased(), "title": report.title,
                    "organisation": report.organisation, "kind": language.word(report.kind == "final" ? "reportFinal" : "reportProgress"),
                    "summary": report.summary, "filedAt": language.moment(report.filedAt)]
                if let error = errors["row-\(report.id.uuidString.lowercased())"] { row["error"] = error }
                return row
            }
            return pages.render("payments", [
                "title": language.word("paymentsTitle"), "waiting": waiting, "toPay": toPay, "requestable": requestable, "reports": reports,
                "hasWaiting": !waiting.isEmpty, "hasToPay": !toPay.isEmpty, "hasRequestable": !requestable.isEmpty, "hasReports": !reports.isEmpty,
                "errors": errors.entries.map { ["field": $0.field, "message": $0.message] }, "hasErrors": !errors.isEmpty,
            ], page)
        }
    }

    /// Runs one payment command from the queue's form: back to the queue,
    /// with the flash on success and the refusal beside the row otherwise.
    func action(_ path: String, _ what: String, flash: String,
                _ run: @escaping @Sendable (FormFields, Identity, CommandContext, AppRequestContext) async throws -> (row: String, CommandResult)) {
        routes.page("POST", path) { request, context in
            try await services.form(request, pages: pages, [.admin], to: what) { fields, identity in
                let adminId = try identity.pageUser()
                let language = Language(request)
                let command = identity.commandContext
                do {
                    let (_, result) = try await run(fields, identity, command, context)
                    return Pages.redirect("/admin/payments?flash=\(flash)&after=\(result.position)")
                } catch let refusal as RowRefusal {
                    var errors = FieldErrors()
                    errors.add(refusal.row, language.paymentRefusal(refusal.error))
                    try await accounts.keepFormDraft(userId: adminId, key: refusalKey, fields: [String: String](), errors: errors)
                    return Pages.redirect("/admin/payments#\(refusal.row)")
                }
            }
        }
    }

    action("/admin/payments/request", "request payments", flash: "paymentRequested") { fields, identity, command, _ in
        let grantId = try fields.uuid("grantId")
        guard let tranche = Int(fields.text("tranche")) else { throw Problem.badRequest(rule: "invalid-value", field: "tranche", "tranche must be a number") }
        let row = "row-\(grantId.uuidString.lowercased())-\(tranche)"
        return try await RowRefusal.on(row) {
            (row, try await handler.requestPayment(
                RequestPayment(grantId: grantId, paymentRequestId: UUID.random(), tranche: tranche, requestedBy: identity.subject, at: Date()), command))
        }
    }

    action("/admin/payments/:paymentRequestId/approve", "approve payments", flash: "paymentApproved") { fields, identity, command, context in
        let id = try context.parameters.require("paymentRequestId", as: UUID.self)
        let row = "row-\(id.uuidString.lowercased())"
        return try await RowRefusal.on(row) {
            (row, try await handler.approvePayment(
                ApprovePayment(grantId: try fields.uuid("grantId"), paymentRequestId: id, approvedBy: identity.subject, at: Date()), command))
        }
    }

    action("/admin/payments/:paymentRequestId/paid", "mark payments paid", flash: "paymentPaid") { fields, _, command, context in
        let id = try context.parameters.require("paymentRequestId", as: UUID.self)
        let row = "row-\(id.uuidString.lowercased())"
        return try await RowRefusal.on(row) {
            (row, try await handler.markPaymentPaid(
                MarkPaymentPaid(grantId: try fields.uuid("grantId"), paymentRequestId: id, reference: fields.text("reference"), at: Date()), command))
        }
    }

    action("/admin/reports/:reportId/approve", "approve reports", flash: "reportApproved") { fields, identity, command, context in
        let id = try context.parameters.require("reportId", as: UUID.self)
        let row = "row-\(id.uuidString.lowercased())"
        return try await RowRefusal.on(row) {
            (row, try await handler.approveReport(
                ApproveReport(grantId: try fields.uuid("grantId"), reportId: id, approvedBy: identity.subject, at: Date()), command))
        }
    }
}

/// One grant for administrators: its money, tranches and payments, and a
/// form to reduce it, cancel it (what is unpaid goes back to the pool) or
/// record a repayment. The domain decides what is allowed; a refusal comes
/// back beside the field with what was typed.
func addGrantAdminPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts) {
    let handler = services.commands
    @Sendable func draftKey(_ grantId: UUID) -> String { "admin-grant:\(grantId.uuidString)" }

    routes.page("GET", "/admin/grants/:grantId") { request, context in
        try await services.page(request, pages: pages) {
            let grantId = try request.uuidParameter(context, "grantId")
            let page = try await services.pageContext(request, pages: pages, flash: request.flash)
            let identity = try await services.auth.require(request, [.admin], to: "adjust grants", signedIn: page.user)
            _ = try await services.waitForReadModels(request, [.grants])
            let language = page.language
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            guard let grant = try await reads.grants(id: grantId, details: true).first else { throw Problem.notFound("grant", grantId.uuidString) }
            var typed = ["kind": "reduce"]
            var errors = FieldErrors()
            if let userId = identity.userId, page.user?.hasKeptForms == true,
               let kept = try await accounts.formDraft(userId: userId, key: draftKey(grantId), as: [String: String].self, errors: FieldErrors.self) {
                (typed, errors) = kept
            }
            func field(_ name: String, label: String, hint: String) -> [String: Any] {
                language.field(name, label: label, value: typed[name] ?? "", hint: hint, error: errors[name])
            }
            var values: [String: Any] = [
                "title": grant.title, "grantId": grantId.uuidString.lowercased(), "organisation": grant.organisation,
                "status": language.word("grant.\(grant.status)", fallback: grant.status), "active": grant.status == "active",
                "granted": language.money(grant.granted), "paid": language.money(grant.paid), "repaid": language.money(grant.repaid),
                "remaining": language.money(grant.remaining), "period": grant.period,
                "tranches": (grant.tranches ?? []).map { ["number": String($0.number), "amount": language.money($0.amount),
                                                          "trigger": language.word("trigger.\($0.trigger)"), "status": language.word("tranche.\($0.status)", fallback: $0.status)] },
                "payments": (grant.paymentRequests ?? []).map { payment -> [String: Any] in
                    ["tranche": String(payment.tranche), "amount": language.money(payment.amount), "requestedBy": payment.requestedBy,
                     "approvedBy": payment.approvedBy ?? "–", "reference": payment.reference ?? "–", "paidAt": payment.paidAt.map(language.moment) ?? "–"]
                },
                "kinds": ["reduce", "cancel", "repayment"].map { ["value": $0, "label": language.word("adjust.\($0)"), "checked": typed["kind"] == $0] },
                "amount": field("amount", label: "adjustAmount", hint: "adjustAmountHint"),
                "reference": field("reference", label: "paymentReference", hint: "repaymentReferenceHint"),
                "reason": field("reason", label: "decisionReason", hint: "adjustReasonHint"),
            ]
            values.merge(errors.summary) { $1 }
            if let error = errors["kind"] { values["kindError"] = error }
            return pages.render("admin-grant", values, page)
        }
    }

    routes.page("POST", "/admin/grants/:grantId/adjust") { request, context in
        try await services.form(request, pages: pages, [.admin], to: "adjust grants") { fields, identity in
            let grantId = try request.uuidParameter(context, "grantId")
            let adminId = try identity.pageUser()
            let language = Language(request)
            let grant = try await handler.current(GrantState.self, grantId).state
            guard let awarded = grant.awarded else { throw Problem.notFound("grant", grantId.uuidString) }
            let typed = ["kind": fields.text("kind"), "amount": fields.text("amount"), "reference": fields.text("reference"), "reason": fields.text("reason")]
            var errors = FieldErrors()
            func amount() -> Money? { parsedAmount(typed["amount"] ?? "", "amount", awarded.amount.currency, language, &errors) }
            var kind: AdjustGrant.Kind?
            switch typed["kind"] {
            case "reduce": kind = amount().map { .reduce(by: $0) }
            case "cancel": kind = .cancel
            case "repayment": kind = amount().map { .repayment(amount: $0, reference: typed["reference"] ?? "") }
            default: errors.add("kind", language.word("chooseAdjustment"))
            }
            if let kind, errors.isEmpty {
                do {
                    let result = try await handler.adjustGrant(AdjustGrant(grantId: grantId, kind: kind, reason: typed["reason"] ?? "", at: Date()),
                                                               identity.commandContext)
                    try await accounts.dropFormDraft(userId: adminId, key: draftKey(grantId))
                    return Pages.redirect("/admin/grants/\(grantId.uuidString.lowercased())?flash=grantAdjusted&after=\(result.position)")
                } catch let error where Problem.from(error).map({ $0.status.code < 500 }) ?? false {
                    let refusal = language.refusal(error, content: nil, rules: nil)
                    errors.add(["amount", "reference", "reason"].contains(refusal.field) ? refusal.field : "kind", refusal.message)
                }
            }
            try await accounts.keepFormDraft(userId: adminId, key: draftKey(grantId), fields: typed, errors: errors)
            return Pages.redirect("/admin/grants/\(grantId.uuidString.lowercased())#adjust")
        }
    }
}

/// A refusal of the domain's, for the row of the queue it concerns.
private struct RowRefusal: Error {
    var row: String
    var error: any Error

    /// Runs `body`; a refusal (a 4xx) becomes the row's, anything else goes on.
    static func on<T>(_ row: String, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error where Problem.from(error).map({ $0.status.code < 500 }) ?? false {
            throw RowRefusal(row: row, error: error)
        }
    }
}

extension FormFields {
    func uuid(_ name: String) throws -> UUID {
        guard let id = UUID(uuidString: text(name)) else { throw Problem.badRequest(rule: "invalid-value", field: name, "\(name) must be an id") }
        return id
    }
}

extension Language {
    func paymentRefusal(_ error: any Error) -> String {
        let da = self == .da
        switch error {
        case DomainError.fourEyes(let requester):
            return da ? "\(requester) bad om udbetalingen og kan ikke også godkende den: en anden administrator skal godkende."
                      : "\(requester) requested the payment and cannot approve it too: another administrator must."
        case DomainError.trancheNotReady(let tranche, _):
            return da ? "Rate \(tranche) venter på en godkendt rapport." : "Tranche \(tranche) is waiting for an approved report."
        case DomainError.trancheAlreadyPaid(let tranche):
            return da ? "Rate \(tranche) er allerede anmodet om eller udbetalt." : "Tranche \(tranche) is already requested or paid."
        case DomainError.invalidInput(let field, let reason) where field == "reference" && reason == "must not be empty":
            return da ? "Skriv betalingens reference fra banken." : "Write the payment's reference from the bank."
        default:
            return refusal(error, content: nil, rules: nil).message
        }
    }
}

/// The queue's reads: payments in flight, tranches not yet requested, reports not yet approved.
struct PaymentQueue {
    let client: PostgresClient
    let logger: Logger

    struct Payment {
        var id, grantId: UUID
        var title, organisation: String
        var tranche: Int
        var amount: Money
        var status, requestedBy: String
        var requestedAt: Date
        var approvedBy: String?
    }

    func inFlight() async throws -> [Payment] {
        var payments: [Payment] = []
        for try await (id, grantId, title, organisation, tranche, amount, currency, status, requestedBy, requestedAt, approvedBy) in try await client.query("""
            SELECT p.payment_request_id, p.grant_id, g.title, g.organisation, p.tranche, p.amount, g.currency, p.status, p.requested_by,
                   p.requested_at, p.approved_by
            FROM read.payment_requests p JOIN read.grants g USING (grant_id)
            WHERE p.status IN ('requested', 'approved') ORDER BY p.requested_at, p.payment_request_id
            """, logger: logger).decode((UUID, UUID, String, String, Int, Int64, String, String, String, Date, String?).self) {
            payments.append(Payment(id: id, grantId: grantId, title: title, organisation: organisation, tranche: tranche,
                                    amount: try money(amount, currency), status: status, requestedBy: requestedBy, requestedAt: requestedAt,
                                    approvedBy: approvedBy))
        }
        return payments
    }

    struct ScheduledTranche {
        var grantId: UUID
        var title, organisation: String
        var number: Int
        var amount: Money
        var trigger: String
    }

    /// Tranches of active grants not yet requested, the oldest grants first.
    func scheduledTranches(limit: Int) async throws -> [ScheduledTranche] {
        var tranches: [ScheduledTranche] = []
        for try await (grantId, title, organisation, number, amount, currency, trigger) in try await client.query("""
            SELECT t.grant_id, g.title, g.organisation, t.number, t.amount, g.currency, t.trigger
            FROM read.grant_tranches t JOIN read.grants g USING (grant_id)
            WHERE t.status = 'scheduled' AND g.status = 'active' AND t.amount > 0
            ORDER BY g.awarded_at, t.grant_id, t.number LIMIT \(limit)
            """, logger: logger).decode((UUID, String, String, Int, Int64, String, String).self) {
            tranches.append(ScheduledTranche(grantId: grantId, title: title, organisation: organisation, number: number,
                                             amount: try money(amount, currency), trigger: trigger))
        }
        return tranches
    }

    struct FiledReport {
        var id, grantId: UUID
        var title, organisation, kind, summary: String
        var filedAt: Date
    }

    func filedReports() async throws -> [FiledReport] {
        var reports: [FiledReport] = []
        for try await (id, grantId, title, organisation, kind, summary, filedAt) in try await client.query("""
            SELECT r.report_id, r.grant_id, g.title, g.organisation, r.kind, r.summary, r.filed_at
            FROM read.grant_reports r JOIN read.grants g USING (grant_id) WHERE r.status = 'filed' ORDER BY r.filed_at, r.report_id
            """, logger: logger).decode((UUID, UUID, String, String, String, String, Date).self) {
            reports.append(FiledReport(id: id, grantId: grantId, title: title, organisation: organisation, kind: kind, summary: summary, filedAt: filedAt))
        }
        return reports
    }
}
