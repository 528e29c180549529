import Accounts
import EventStore
import Documents
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import Projections

/// The applicant's pages: their applications and grants, the open calls,
/// the application form, and the public list of awards. Every change is
/// the API's command, checked by its decider (whom the sender acts for
/// included); `requireOwner` keeps other organisations' work off the pages.
func addApplicantPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts) {
    let handler = services.commands

    routes.page("GET", "/") { request, _ in
        try await services.page(request, pages: pages) {
            let page = try await services.pageContext(request, pages: pages, flash: request.flash)
            guard let user = page.user else { return Pages.redirect("/sign-in") }
            // An administrator who is not also an applicant starts at the users; an auditor at the roles over time.
            if !user.roles.contains(where: { $0.role == .applicant }) {
                if user.roles.contains(where: { $0.role == .admin }) { return Pages.redirect("/admin/users") }
                if user.roles.contains(where: { $0.role == .auditor }) { return Pages.redirect("/audit/roles") }
                if user.roles.contains(where: { $0.role == .steering }) { return Pages.redirect("/steering") }
            }
            let identity = try await services.auth.require(request, [.applicant], to: "see an organisation's applications", signedIn: page.user)
            let organisation = identity.organisation ?? ""
            let language = page.language
            let (after, _) = try await services.waitForReadModels(request, [.applications, .grants, .agendas])
            // The lists are the same for everyone of the organisation until one of their read models changes: rendered once for all.
            let lists = try await services.cachedValue("\(organisation) \(language.rawValue)", from: [.applications, .grants, .agendas], after: after) {
                try await startPageLists(organisation, language, $0)
            }
            // Typing the domain has not taken yet: never lost, and found here.
            var kept: [[String: Any]] = []
            if let userId = identity.userId, user.hasKeptForms {
                for draft in try await accounts.formDrafts(userId: userId, prefix: "application-") where !lists.applications.contains(draft.key) {
                    let form = try? JSONDecoder().decode(ApplicationForm.self, from: Data(draft.fields.utf8))
                    let title = form?.title.isEmpty == false ? form!.title : language.word("untitled")
                    kept.append(["title": title, "href": "/applications/\(draft.key.dropFirst("application-".count))/edit"])
                }
            }
            return pages.render("home", ["title": language.word("myApplications"), "organisation": organisation,
                                         "kept": kept, "hasKept": !kept.isEmpty, "lists": lists.html], page)
        }
    }

    /// The start page's applications and grants, each with its status and next step.
    @Sendable func startPageLists(_ organisation: String, _ language: Language, _ reads: ReadModels) async throws -> StartPageLists {
        let applications = try await reads.applications(organisation: organisation, limit: 500)
        let grants = try await reads.grants(organisation: organisation, limit: 500, details: true)
        // A draft's next step names its call's deadline: worded once per call, not per draft.
        var draftSteps: [UUID: String] = [:]
        for (callId, deadline) in try await reads.callDeadlines(Array(Set(applications.filter { $0.status == "draft" }.map(\.callId)))) {
            draftSteps[callId] = language.nextStep("draft", deadline: deadline)
        }
        let meetings = try await reads.agendaMeetings(applications.filter { $0.status == "submitted" }.map(\.id))
        let applicationItems: [[String: Any]] = applications.map { application in
            let meeting = meetings[application.id]
            var item: [String: Any] = ["title": application.title, "href": "/applications/\(application.id.uuidString.lowercased())",
                                       "statusKey": application.status,
                                       "status": language.applicationStatus(application.status, requested: application.requested,
                                                                            granted: application.granted, meeting: meeting),
                                       "requested": language.money(application.requested)]
            if let granted = application.granted { item["granted"] = language.money(granted) }
            if let next = application.status == "draft" ? draftSteps[application.callId]
                : language.nextStep(application.status, deadline: nil, meeting: meeting) {
                item["next"] = next
                if ["draft", "returned-for-revision"].contains(application.status) {
                    item["nextHref"] = "/applications/\(application.id.uuidString.lowercased())/edit"
                }
            }
            return item
        }
        let grantItems: [[String: Any]] = grants.map { grant in
            var item: [String: Any] = ["title": grant.title, "href": "/grants/\(grant.id.uuidString.lowercased())", "statusKey": grant.status,
                                       "status": language.word("grant.\(grant.status)"), "amount": language.money(grant.granted),
                                       "paid": language.money(grant.paid)]
            if grant.status == "active", (grant.tranches ?? []).contains(where: { $0.status == "scheduled" && $0.trigger != "signing" }),
               !(grant.reports ?? []).contains(where: { $0.status == "filed" }) {
                item["next"] = language.word("next.report")
                item["nextHref"] = "/grants/\(grant.id.uuidString.lowercased())#write-report"
            }
            return item
        }
        let html = pages.fragment("home-lists", ["applications": applicationItems, "hasApplications": !applicationItems.isEmpty,
                                                 "grants": grantItems, "hasGrants": !grantItems.isEmpty], language: language)
        return StartPageLists(html: html, applications: Set(applications.map { formKey($0.id) }))
    }

    routes.page("GET", "/calls") { request, _ in
        try await services.page(request, pages: pages) {
            let page = try await services.pageContext(request, pages: pages)
            _ = try await services.auth.require(request, [.applicant], to: "apply", signedIn: page.user)
            let language = page.language
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            let now = Date()
            var items: [[String: Any]] = []
            for pool in try await reads.pools(nil) {
                let rules = try await handler.current(PoolState.self, pool.id).state.created?.eligibility ?? EligibilityRules()
                for call in try await reads.calls(pool: pool.id) where call.opensAt <= now && now < call.closesAt {
                    var item: [String: Any] = ["id": call.id.uuidString.lowercased(), "title": call.title, "programme": pool.name, "owner": pool.owner,
                                               "opens": language.day(call.opensAt), "closes": language.moment(call.closesAt),
                                               "budgetLeft": language.money(pool.totals.available), "rules": language.rules(rules)]
                    if let cap = call.cap { item["cap"] = language.money(cap) }
                    items.append(item)
                }
            }
            return pages.render("calls", ["title": language.word("openCalls"), "calls": items, "hasCalls": !items.isEmpty], page)
        }
    }

    routes.page("GET", "/applications/new") { request, _ in
        try await services.page(request, pages: pages) {
            _ = try await services.auth.require(request, [.applicant], to: "draft applications")
            guard let call = request.uri.queryParameters["call"].flatMap({ UUID(uuidString: String($0)) }) else {
                throw Problem.notFound("call", "")
            }
            // The new application's id is chosen now, so saving twice (a double click, Back and again) is one application.
            return Pages.redirect("/applications/\(UUID.random().uuidString.lowercased())/edit?call=\(call.uuidString.lowercased())")
        }
    }

    /// The form: as posted (`posted`), else as kept after a refusal, else the application as it stands, else empty for a new one.
    @Sendable func showForm(_ request: Request, _ id: UUID, posted: (form: ApplicationForm, errors: FieldErrors)? = nil) async throws -> Response {
        let page = try await services.pageContext(request, pages: pages, flash: request.flash,
                                                  showing: [ApplicationState.streamName(id)])
        let identity = try await services.auth.require(request, [.applicant], to: "draft applications", signedIn: page.user)
        let userId = try identity.pageUser()
        let loaded = try await handler.current(ApplicationState.self, id, known: page.user?.streamVersions[ApplicationState.streamName(id)])
        let application = loaded.state
        if application.drafted != nil { try await services.requireOwner(identity, applicationId: id, version: loaded.version) }
        var form = ApplicationForm()
        var errors = FieldErrors()
        var unsaved = false
        if let posted {
            (form, errors, unsaved) = (posted.form, posted.errors, true)
        } else if page.user?.hasKeptForms == true,
                  let kept = try await accounts.formDraft(userId: userId, key: formKey(id), as: ApplicationForm.self, errors: FieldErrors.self) {
            (form, errors, unsaved) = (kept.fields, kept.errors, true)
        } else if let content = application.content, let drafted = application.drafted {
            form = ApplicationForm(content, callId: drafted.callId, language: page.language)
        } else {
            form.callId = request.uri.queryParameters["call"].map(String.init) ?? ""
            form.projectLeader = page.user?.name ?? ""
        }
        guard let callId = application.drafted?.callId ?? UUID(uuidString: form.callId) else { throw Problem.notFound("call", form.callId) }
        let call = try await handler.current(CallState.self, callId).state
        guard let opened = call.opened else { throw Problem.notFound("call", form.callId) }
        let pool = try await handler.current(PoolState.self, opened.poolId).state
        var values = applicationFormValues(form, errors: errors, unsaved: unsaved && !errors.draftSaved, id: id, call: call, pool: pool,
                                           isNew: application.drafted == nil, language: page.language)
        values["isSubmitted"] = application.status == .submitted
        return pages.render("application-form", values, page, status: posted != nil ? .forbidden : errors.isEmpty ? .ok : .unprocessableContent)
    }

    routes.page("GET", "/applications/:applicationId/edit") { request, context in
        try await services.page(request, pages: pages) {
            try await showForm(request, try request.uuidParameter(context, "applicationId"))
        }
    }

    routes.page("POST", "/applications/:applicationId/edit") { request, context in
        try await services.page(request, pages: pages) {
            let id = try request.uuidParameter(context, "applicationId")
            let fields = try await FormFields.read(request, limit: services.bodyLimit)
            let language = Language(request)
            let form = ApplicationForm(fields)
            let identity: Identity
            do {
                identity = try await services.auth.require(request, [.applicant], to: "draft applications", csrf: fields["csrf"])
            } catch let problem as Problem where problem.rule == "csrf" {
                // Signed in again in another tab, say: the form comes back as typed, with this session's token, saved nowhere.
                var expired = FieldErrors()
                expired.add("application", language.word("formExpired"))
                return try await showForm(request, id, posted: (form, expired))
            }
            guard let userId = identity.userId, let organisation = identity.organisation else { throw Problem.forbidden("sign in as a user to use the pages") }
            let editPage = "/applications/\(id.uuidString.lowercased())/edit"
            let command = identity.commandContext

            /// Keeps what was typed with the errors, and shows the form again (by GET: a reload does not send it twice).
            /// `saved`: the draft itself was taken, only submitting was refused.
            func keep(_ errors: FieldErrors, saved: Bool) async throws -> Response {
                var errors = errors
                errors.draftSaved = saved
                try await accounts.keepFormDraft(userId: userId, key: formKey(id), fields: form, errors: errors)
                return Pages.redirect(editPage + "#error-summary")
            }

            let loaded = try await handler.current(ApplicationState.self, id)
            let application = loaded.state
            if application.drafted != nil { try await services.requireOwner(identity, applicationId: id, version: loaded.version) }
            // An application's call is its own, whatever the form says; a new one's is the form's.
            guard let callId = application.drafted?.callId ?? UUID(uuidString: form.callId),
                  let call = try await handler.current(CallState.self, callId).state.opened else {
                throw Problem.notFound("call", form.callId)
            }
            let pool = try await handler.current(PoolState.self, call.poolId).state
            let rules = pool.created?.eligibility
            let content: ApplicationContent
            switch form.content(organisation: organisation, currency: pool.currency, language: language) {
            case .failure(let errors): return try await keep(errors, saved: false)
            case .success(let read): content = read
            }
            do {
                if application.drafted == nil {
                    _ = try await handler.draftApplication(DraftApplication(applicationId: id, callId: callId, content: content, at: Date()), command)
                } else if let held = application.content, held != content {
                    _ = try await handler.amendApplication(AmendApplication(applicationId: id, content: content, at: Date()), command)
                }
            } catch {
                return try await keep(FieldErrors(error, language: language, content: content, rules: rules), saved: false)
            }
            try await accounts.dropFormDraft(userId: userId, key: formKey(id))
            if application.status == .submitted {
                return Pages.redirect("/applications/\(id.uuidString.lowercased())?flash=amended")
            }
            guard fields["action"] == "submit" else { return Pages.redirect(editPage + "?flash=draftSaved") }
            do {
                let result = try await handler.submitApplication(SubmitApplication(applicationId: id, at: Date()), command)
                return Pages.redirect("/applications/\(id.uuidString.lowercased())?flash=submitted&after=\(result.position)")
            } catch {
                return try await keep(FieldErrors(error, language: language, content: content, rules: rules), saved: true)
            }
        }
    }

    routes.page("GET", "/applications/:applicationId") { request, context in
        try await services.page(request, pages: pages) {
            let id = try request.uuidParameter(context, "applicationId")
            let page = try await services.pageContext(request, pages: pages, flash: request.flash,
                                                      showing: [ApplicationState.streamName(id)])
            let identity = try await services.auth.require(request, [.applicant], to: "read applications", signedIn: page.user)
            let application = try await services.requireOwner(identity, applicationId: id,
                                                              version: page.user?.streamVersions[ApplicationState.streamName(id)])
            guard let content = application.content, let drafted = application.drafted else { throw Problem.notFound("application", id.uuidString) }
            let (after, _) = try await services.waitForReadModels(request, [.applications, .grants, .agendas])
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            // The decision's reason and the meeting are the read model's; an undecided application is all in its stream.
            let decided: [ApplicationStatus] = [.approved, .rejected, .returnedForRevision]
            let view = decided.contains(application.status) ? try await reads.application(id) : nil
            let language = page.language
            let lowered = id.uuidString.lowercased()
            let open: [ApplicationStatus] = [.draft, .submitted, .returnedForRevision]
            // The call's deadline as it stands: kept while the calls' read model has not moved.
            let deadline: Date? = open.contains(application.status)
                ? try await services.cachedFragment("deadline \(drafted.callId)", versions: [], from: [.applications], after: after != nil) {
                    try await reads.callDeadlines([drafted.callId])[drafted.callId]
                } : nil
            var values: [String: Any] = [
                "title": content.title, "statusKey": application.status.rawValue, "organisation": content.organisation,
                "projectLeader": content.projectLeader, "requested": language.money(content.requested),
                "partners": content.partners.isEmpty ? "–" : content.partners.joined(separator: ", "),
                "focusAreas": content.focusAreas.isEmpty ? "–" : content.focusAreas.joined(separator: ", "),
                "version": String(application.version), "draftedAt": language.moment(drafted.occurredAt),
                "description": content.description.isEmpty ? "–" : content.description,
                "editHref": "/applications/\(lowered)/edit", "withdrawAction": "/applications/\(lowered)/withdraw",
                // A submitted application may be amended until the deadline (the domain's rule decides when it is sent).
                "canEdit": application.status == .draft || application.status == .returnedForRevision
                    || (application.status == .submitted && (deadline.map { Date() < $0 } ?? false)),
                "canWithdraw": [.draft, .submitted, .returnedForRevision].contains(application.status),
            ]
            let meeting = application.status == .submitted ? try await reads.agendaMeetings([id])[id] : nil
            values["status"] = language.applicationStatus(application.status.rawValue, requested: content.requested, granted: application.granted,
                                                          meeting: meeting)
            if let next = language.nextStep(application.status.rawValue, deadline: deadline, meeting: meeting) { values["next"] = next }
            if let reason = view?.decisionReason, !reason.isEmpty { values["decisionReason"] = reason }
            if let granted = application.granted { values["granted"] = language.money(granted) }
            if let students = content.studentsReached { values["studentsReached"] = String(students) }
            values["budget"] = content.budget.map { ["category": $0.category, "period": $0.period, "amount": language.money($0.amount)] }
            values["hasBudget"] = !content.budget.isEmpty
            if !content.expectedOutcomes.isEmpty { values["expectedOutcomes"] = content.expectedOutcomes }
            if let submitted = application.submittedAt { values["submittedAt"] = language.moment(submitted) }
            if application.status == .approved,
               let grant = try await reads.grants(organisation: content.organisation, limit: 500).first(where: { $0.applicationId == id }) {
                values["grantHref"] = "/grants/\(grant.id.uuidString.lowercased())"
            }
            let owner = DocumentOwner.application(id)
            values.merge(try await services.documentSection(application.documents, of: owner, language: language,
                                                            canAttach: open.contains(application.status),
                                                            refused: try await refusedUpload(identity, owner, page.user?.hasKeptForms == true))) { $1 }
            return pages.render("application", values, page)
        }
    }

    routes.page("POST", "/applications/:applicationId/withdraw") { request, context in
        try await services.form(request, pages: pages, [.applicant], to: "withdraw applications") { fields, identity in
            let id = try request.uuidParameter(context, "applicationId")
            let result = try await handler.withdrawApplication(WithdrawApplication(applicationId: id, reason: fields.text("reason"), at: Date()),
                                                               identity.commandContext)
            return Pages.redirect("/applications/\(id.uuidString.lowercased())?flash=withdrawnMessage&after=\(result.position)")
        }
    }

    routes.page("GET", "/grants/:grantId") { request, context in
        try await services.page(request, pages: pages) {
            let id = try request.uuidParameter(context, "grantId")
            let page = try await services.pageContext(request, pages: pages, flash: request.flash,
                                                      showing: [GrantState.streamName(id)])
            let identity = try await services.auth.require(request, [.applicant], to: "read grants", signedIn: page.user)
            try await services.requireOwner(identity, grantId: id, version: page.user?.streamVersions[GrantState.streamName(id)])
            _ = try await services.waitForReadModels(request, [.grants])
            guard let grant = try await ReadModels(client: services.store.client, logger: services.logger).grants(id: id, details: true).first else {
                throw Problem.notFound("grant", id.uuidString)
            }
            let language = page.language
            let payments = grant.paymentRequests ?? []
            var values: [String: Any] = [
                "title": grant.title, "statusKey": grant.status, "status": language.word("grant.\(grant.status)"), "organisation": grant.organisation,
                "granted": language.money(grant.granted), "paid": language.money(grant.paid), "remaining": language.money(grant.remaining),
                "period": grant.period, "awardedAt": language.day(grant.awardedAt), "conditions": grant.conditions,
                "tranches": (grant.tranches ?? []).map { tranche -> [String: Any] in
                    let paid = payments.last { $0.tranche == tranche.number && $0.status == "paid" }
                    var row: [String: Any] = ["number": tranche.number, "amount": language.money(tranche.amount),
                                              "trigger": language.word("trigger.\(tranche.trigger)"), "status": language.word("tranche.\(tranche.status)")]
                    if let paid, let reference = paid.reference {
                        row["reference"] = reference + (paid.paidAt.map { " (\(language.day($0)))" } ?? "")
                    }
                    return row
                },
                "reports": (grant.reports ?? []).map { report -> [String: Any] in
                    ["kind": language.word(report.kind == "final" ? "reportFinal" : "reportProgress"), "filedAt": language.day(report.filedAt),
                     "status": language.word("reportStatus.\(report.status)"), "summary": report.summary]
                },
                "hasReports": !(grant.reports ?? []).isEmpty,
                // One report at a time: while one waits for approval, the next cannot be written.
                "canReport": grant.status == "active" && !(grant.reports ?? []).contains { $0.status == "filed" },
                "reportWaiting": grant.status == "active" && (grant.reports ?? []).contains { $0.status == "filed" },
                // The report due: the final one once a progress report is in.
                "finalChosen": (grant.reports ?? []).contains { $0.kind == "progress" },
                "reportAction": "/grants/\(id.uuidString.lowercased())/reports",
                "reportId": UUID.random().uuidString.lowercased(),
            ]
            if grant.status == "active", (grant.tranches ?? []).contains(where: { $0.status == "scheduled" && $0.trigger != "signing" }),
               !(grant.reports ?? []).contains(where: { $0.status == "filed" }) {
                values["next"] = language.word("next.report")
            }
            let owner = DocumentOwner.grant(id)
            let documents = try await services.commands.current(GrantState.self, id).state.documents
            values.merge(try await services.documentSection(
                documents, of: owner, language: language, canAttach: grant.status == "active",
                reports: (grant.reports ?? []).map { report in
                    (report.id, language.word("documentForReport", ["kind": language.word(report.kind == "final" ? "reportFinal" : "reportProgress"),
                                                                    "day": language.day(report.filedAt)]))
                },
                refused: try await refusedUpload(identity, owner, page.user?.hasKeptForms == true))) { $1 }
            if let userId = identity.userId, page.user?.hasKeptForms == true,
               let (form, errors) = try await accounts.formDraft(userId: userId, key: reportKey(id), as: [String: String].self, errors: FieldErrors.self) {
                values["summary"] = form["summary"] ?? ""
                values["finalChosen"] = form["kind"] == "final"
                values["reportId"] = form["reportId"] ?? values["reportId"]!
                if let error = errors["summary"] { values["summaryError"] = error }
                values.merge(errors.summary) { $1 }
            }
            return pages.render("grant", values, page)
        }
    }

    routes.page("POST", "/grants/:grantId/reports") { request, context in
        try await services.form(request, pages: pages, [.applicant], to: "file reports") { fields, identity in
            let id = try request.uuidParameter(context, "grantId")
            let userId = try identity.pageUser()
            let grantPage = "/grants/\(id.uuidString.lowercased())"
            let reportId = UUID(uuidString: fields.text("reportId")) ?? .random()
            let kind = ReportKind(rawValue: fields.text("kind")) ?? .progress
            do {
                let result = try await handler.fileReport(FileReport(grantId: id, reportId: reportId, kind: kind, summary: fields.text("summary"), at: Date()),
                                                          identity.commandContext)
                try await accounts.dropFormDraft(userId: userId, key: reportKey(id))
                return Pages.redirect(grantPage + "?flash=reportFiled&after=\(result.position)")
            } catch let refusal as DomainError where refusal.rule == "not-owner" || refusal.rule == "not-found" {
                throw refusal  // another organisation's grant, or none: no form to keep for it
            } catch DomainError.alreadyExists {
                // The same form sent twice (a double click): the report is there.
                try await accounts.dropFormDraft(userId: userId, key: reportKey(id))
                return Pages.redirect(grantPage + "?flash=reportFiled")
            } catch {
                let kept = ["summary": fields.text("summary"), "kind": kind.rawValue, "reportId": reportId.uuidString.lowercased()]
                try await accounts.keepFormDraft(userId: userId, key: reportKey(id), fields: kept, errors: FieldErrors(error, language: Language(request)))
                return Pages.redirect(grantPage + "#write-report")
            }
        }
    }

    /// The reason the last upload to `owner` was refused, shown once.
    @Sendable func refusedUpload(_ identity: Identity, _ owner: DocumentOwner, _ hasKeptForms: Bool) async throws -> FieldErrors? {
        guard hasKeptForms, let userId = identity.userId,
              let (_, errors) = try await accounts.formDraft(userId: userId, key: owner.formKey, as: [String: String].self, errors: FieldErrors.self)
        else { return nil }
        try await accounts.dropFormDraft(userId: userId, key: owner.formKey)
        return errors
    }

    routes.page("GET", "/awarded") { request, _ in
        try await services.page(request, pages: pages) {
            let page = try await services.pageContext(request, pages: pages)
            _ = try await services.waitForReadModels(request, [.publicGrants])
            let language = page.language
            let grants = try await ReadModels(client: services.store.client, logger: services.logger).publicGrants()
            let items: [[String: Any]] = grants.map { grant in
                ["recipient": grant.recipient, "title": grant.title, "programme": grant.poolName, "amount": language.money(grant.amount),
                 "awardedOn": language.day(isoDay: grant.awardedOn)]
            }
            return pages.render("awarded", ["title": language.word("awardedGrants"), "grants": items, "hasGrants": !items.isEmpty], page)
        }
    }
}

private func reportKey(_ grantId: UUID) -> String { "report-\(grantId.uuidString.lowercased())" }

/// The start page's lists, rendered, and the form keys of the applications in them.
struct StartPageLists: Sendable {
    let html: String
    let applications: Set<String>
}

/// Where a user's unsaved typing for an application is kept.
private func formKey(_ applicationId: UUID) -> String { "application-\(applicationId.uuidString.lowercased())" }

/// The form's values for the template: each field with its label, hint, value and error.
private func applicationFormValues(_ form: ApplicationForm, errors: FieldErrors, unsaved: Bool, id: UUID, call: CallState, pool: PoolState,
                                   isNew: Bool, language: Language) -> [String: Any] {
    func field(_ name: String, _ value: String, hint: Bool = false, rows: Int = 0, inputmode: String? = nil) -> [String: Any] {
        var field: [String: Any] = ["name": name, "label": language.word(name == "title" ? "title" : name), "value": value,
                                    "errorPrefix": language.word("errorPrefix")]
        var describedBy: [String] = []
        if hint, let text = language.words["\(name)Hint"] {
            field["hint"] = text
            describedBy.append("\(name)-hint")
        }
        if let error = errors[name] {
            field["error"] = error
            describedBy.append("\(name)-error")
        }
        if !describedBy.isEmpty { field["describedBy"] = describedBy.joined(separator: " ") }
        if rows > 0 { field["rows"] = rows }
        if let inputmode { field["inputmode"] = inputmode }
        return field
    }
    let periods = pool.periodOrder
    let lineCount = min(form.budget.count + ApplicationForm.spareLines, Limits.budgetLines)
    let budget: [[String: Any]] = (0..<lineCount).map { index in
        let line = index < form.budget.count ? form.budget[index] : ApplicationForm.Line()
        var row: [String: Any] = ["index": index, "number": index + 1, "category": line.category, "amount": line.amount,
                                  "periods": periods.map { ["value": $0, "selected": $0 == line.period] as [String: Any] }]
        let lineErrors = ["category", "period", "amount"].compactMap { errors["budget[\(index)].\($0)"] }
        if let first = lineErrors.first { row["error"] = first }
        return row
    }
    var values: [String: Any] = [
        "title": language.word(isNew ? "newApplication" : "editTitle"),
        "heading": form.title.isEmpty ? language.word("newApplication") : form.title,
        "callTitle": call.opened?.title ?? "", "callId": call.opened?.callId.uuidString.lowercased() ?? "", "deadline": language.moment(call.closesAt),
        "action": "/applications/\(id.uuidString.lowercased())/edit", "currency": pool.currency.code,
        "f": [
            "title": field("title", form.title), "projectLeader": field("projectLeader", form.projectLeader),
            "description": field("description", form.description, rows: 6), "focusAreas": field("focusAreas", form.focusAreas, hint: true, rows: 3),
            "partners": field("partners", form.partners, hint: true, rows: 4),
            "studentsReached": field("studentsReached", form.studentsReached, hint: true, inputmode: "numeric"),
            "requested": field("requested", form.requested, hint: true, inputmode: "decimal"),
            "expectedOutcomes": field("expectedOutcomes", form.expectedOutcomes, rows: 5),
        ] as [String: Any],
        "budget": budget, "unsaved": unsaved,
    ]
    values.merge(errors.summary) { $1 }
    if let budgetError = errors["budget"] { values["budgetError"] = budgetError }
    return values
}

extension FieldErrors {
    /// A refusal as errors to show: next to the field the rule names (a
    /// domain rule, or the eligibility check's field), else at the top; in
    /// the reader's language where the rule is a common one, with the
    /// figures as the language writes them.
    init(_ error: any Error, language: Language, content: ApplicationContent? = nil, rules: EligibilityRules? = nil) {
        self.init()
        let (field, message) = language.refusal(error, content: content, rules: rules)
        add(field, message)
    }
}

extension Language {
    func refusal(_ error: any Error, content: ApplicationContent?, rules: EligibilityRules?) -> (field: String, message: String) {
        let da = self == .da
        switch error {
        case DomainError.invalidInput(let field, let reason):
            if reason == "must not be empty" { return (field, da ? "Skal udfyldes." : "Must be filled in.") }
            if reason.hasPrefix("lines add up to"), let content {
                let numbers = reason.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",")) }
                    .compactMap { try? Money($0, content.requested.currency) }
                if numbers.count == 2 {
                    return (field, word("budgetMismatch", ["total": money(numbers[0]), "requested": money(numbers[1])]))
                }
            }
            if reason.hasPrefix("must be positive") { return (field, da ? "Skal være mere end 0." : "Must be more than 0.") }
            if reason.contains("decimals;"), let digits = reason.split(separator: " ").compactMap({ Int($0) }).first {
                return (field, da ? "Højst \(digits) decimaler." : "At most \(digits) decimals.")
            }
            if reason.hasSuffix("is too large") || reason.contains("is over the limit") {
                return (field, da ? "Beløbet er for stort." : "The amount is too large.")
            }
            if reason.hasSuffix("is not a budget period of the pool") {
                return (field, da ? "Perioden er ikke en af puljens budgetperioder." : "The period is not one of the pool's budget periods.")
            }
            if reason.hasSuffix("appears twice") { return (field, da ? "Står der to gange." : "Appears twice.") }
            if reason.hasPrefix("must be an e-mail address") {
                return (field, da ? "Skal være en e-mailadresse, fx navn@skole.dk." : "Must be an e-mail address, e.g. name@school.dk.")
            }
            if reason.hasPrefix("an applicant acts for an organisation") {
                return (field, da ? "En ansøger søger for en organisation: skriv dens navn." : "An applicant applies for an organisation: name it.")
            }
            if reason.hasPrefix("a steering member sits on a group") || reason.hasPrefix("name the member of the group") {
                return (field, da ? "Vælg gruppen og medlemmet, brugeren er." : "Choose the group and the member the user is.")
            }
            if reason.hasPrefix("longer than"), let limit = reason.split(separator: " ").compactMap({ Int($0) }).first {
                return (field, da ? "Må højst have \(limit) tegn." : "At most \(limit) characters.")
            }
            if reason.hasPrefix("must be in the future") {
                return (field, da ? "Fristen skal ligge efter nu. Vil du lukke opslaget nu, så luk det." : "The deadline must be after now. To close the call now, close it.")
            }
            if reason.hasPrefix("must not be in the past") { return (field, da ? "Må ikke ligge før nu." : "Must not be before now.") }
            if reason.hasPrefix("must be after opensAt") { return (field, da ? "Skal ligge efter åbningen." : "Must be after the opening.") }
            if reason.hasPrefix("the call opened") {
                return (field, da ? "Opslaget er åbnet og beholder sin åbning." : "The call has opened and keeps its opening.")
            }
            if reason == "the window is unchanged" { return (field, da ? "Perioden er den samme som før." : "The window is as it was.") }
            if reason == "name the members present" { return (field, da ? "Sæt kryds ved mindst ét medlem." : "Tick at least one member.") }
            if reason == "a member is listed twice" { return (field, da ? "Et medlem står der to gange." : "A member is listed twice.") }
            if reason == "an application is listed twice" { return (field, da ? "En ansøgning står der to gange." : "An application is listed twice.") }
            if reason == "the same members are present already" {
                return (field, da ? "Det er de samme medlemmer, der er til stede nu." : "The same members are present already.")
            }
            if reason == "the agenda is unchanged" { return (field, da ? "Dagsordenen er den samme som før." : "The agenda is as it was.") }
            if reason.hasSuffix("was decided at this meeting and stays on its agenda") {
                return (field, da ? "En ansøgning, mødet har afgjort, bliver på dagsordenen." : "An application the meeting has decided stays on its agenda.")
            }
            if reason == "cannot move money to the same period" { return (field, da ? "Vælg en anden periode." : "Choose another period.") }
            return (field, reason.prefix(1).uppercased() + reason.dropFirst())
        case DomainError.insufficientFunds(let period, let available, let requested):
            return ("amount", sentence(da ? "Perioden \(period) har \(money(available)) til rådighed, ikke \(money(requested))"
                                          : "The period \(period) has \(money(available)) available, not \(money(requested))"))
        case DomainError.periodClosed(let period):
            return ("period", da ? "Perioden \(period) er lukket." : "The period \(period) is closed.")
        case DomainError.alreadyExists(let kind, let id) where kind == "budget period":
            return ("period", da ? "Puljen har allerede perioden \(id)." : "The pool has the period \(id) already.")
        case DomainError.invalidState(let kind, _, let status, _) where kind == "call" && status == "closed":
            return ("reason", da ? "Opslaget er allerede lukket." : "The call is closed already.")
        case DomainError.ineligible(let rule, let detail):
            let field = Eligibility.field(of: rule) ?? "application"
            switch (rule, content, rules) {
            case ("maximum-amount", let content?, let rules?) where rules.maximumAmount != nil:
                let (asked, most) = (money(content.requested), money(rules.maximumAmount!))
                return (field, sentence(da ? "Det ansøgte beløb, \(asked), er over programmets maksimum på \(most)"
                                           : "The amount requested, \(asked), is above the programme's maximum of \(most)"))
            case ("minimum-amount", let content?, let rules?) where rules.minimumAmount != nil:
                let (asked, least) = (money(content.requested), money(rules.minimumAmount!))
                return (field, sentence(da ? "Det ansøgte beløb, \(asked), er under programmets minimum på \(least)"
                                           : "The amount requested, \(asked), is below the programme's minimum of \(least)"))
            case ("project-leader-member-of-group", let content?, _):
                return (field, da ? "Projektlederen, \(content.projectLeader), er ikke medlem af programmets styregruppe. Skriv navnet, som styregruppen kender det."
                                  : "The project leader, \(content.projectLeader), is not a member of the programme's steering group. Write the name as the group knows it.")
            default:
                return (field, detail.prefix(1).uppercased() + detail.dropFirst())
            }
        case DomainError.alreadyExists(let kind, let id) where kind == "document":
            let name = id.split(separator: "(", maxSplits: 1).last.map { " (" + $0 } ?? ""
            return ("file", da ? "Den fil er allerede vedhæftet\(name.replacingOccurrences(of: "attached as", with: "som"))."
                              : "That file is attached already\(name).")
        case let problem as Problem where problem.field == "file" || problem.rule == "invalid-multipart":
            let figure = { (name: String) -> ProblemValue? in problem.figures.first { $0.0 == name }?.1 }
            switch problem.rule {
            case "empty-document": return ("file", da ? "Filen er tom." : "The file is empty.")
            case "document-too-large":
                let limit = if case .int(let bytes)? = figure("limit") { self.bytes(bytes) } else { "" }
                return ("file", da ? "Filen er større end de \(limit), der er plads til." : "The file is larger than the \(limit) allowed.")
            case "document-type-not-allowed":
                let kinds = DocumentKinds.allowed.values.sorted().map { $0.uppercased() }.joined(separator: ", ")
                return ("file", da ? "Den slags fil kan ikke vedhæftes. Vedhæft \(kinds)." : "That kind of file cannot be attached. Attach \(kinds).")
            case "document-infected":
                let signature = if case .string(let text)? = figure("signature") { text } else { "" }
                return ("file", da ? "Virusscanningen fandt \(signature) i filen. Den er ikke vedhæftet." : "The virus scan found \(signature) in the file. It is not attached.")
            case "scanner-unavailable":
                return ("file", da ? "Virusscanningen svarer ikke lige nu. Intet er gemt; prøv igen om lidt." : "The virus scan is not answering. Nothing was kept; try again shortly.")
            case "invalid-multipart": return ("file", da ? "Filen kom ikke helt frem. Prøv igen." : "The file did not arrive whole. Try again.")
            default: return ("file", problem.detail.prefix(1).uppercased() + problem.detail.dropFirst())
            }
        case DomainError.alreadyExists(let kind, _) where kind == "user":
            return ("email", da ? "Der er allerede en bruger med den e-mailadresse." : "A user with that e-mail address exists already.")
        case DomainError.notAMember(let member):
            return ("present", da ? "\(member) er ikke medlem af styregruppen." : "\(member) is not a member of the steering group.")
        case DomainError.callNotOpen(_, _, let closesAt, _):
            return ("application", da ? "Opslaget er lukket: fristen var \(moment(closesAt))." : "The call is closed: the deadline was \(moment(closesAt)).")
        default:
            guard let problem = Problem.from(error) else { return ("application", String(describing: error)) }
            return (problem.field ?? "application", problem.detail.prefix(1).uppercased() + problem.detail.dropFirst())
        }
    }
}

extension Language {
    /// A sentence ends with one full stop, also after "kr.".
    func sentence(_ text: String) -> String { text.hasSuffix(".") ? text : text + "." }

    /// `meeting`: the day of the meeting whose agenda a submitted application is on.
    func applicationStatus(_ status: String, requested: Money, granted: Money?, meeting: Date? = nil) -> String {
        if status == "approved", let granted, granted != requested { return word("status.partly") }
        if status == "submitted", let meeting { return word("status.onAgenda", ["date": day(meeting)]) }
        return word("status.\(status)")
    }

    func nextStep(_ status: String, deadline: Date?, meeting: Date? = nil) -> String? {
        switch status {
        case "draft": deadline.map { word("next.draft", ["date": moment($0)]) }
        case "returned-for-revision": word("next.returned-for-revision")
        case "submitted": meeting.map { word("next.onAgenda", ["date": day($0)]) } ?? word("next.submitted")
        default: nil
        }
    }

    /// A pool's eligibility rules in words.
    func rules(_ rules: EligibilityRules) -> [String] {
        var lines: [String] = []
        if let organisations = rules.organisations {
            lines.append((self == .da ? "Ansøgeren er en af: " : "The applicant is one of: ") + organisations.joined(separator: ", "))
        }
        if let minimum = rules.minimumAmount { lines.append((self == .da ? "Mindst " : "At least ") + money(minimum)) }
        if let maximum = rules.maximumAmount { lines.append((self == .da ? "Højst " : "At most ") + money(maximum)) }
        if rules.leaderMemberOfGroup != nil {
            lines.append(self == .da ? "Projektlederen er medlem af programmets styregruppe." : "The project leader is a member of the programme's steering group.")
        }
        return lines
    }

    /// `2026-03-01` as the language writes a day.
    func day(isoDay text: String) -> String {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, let date = Calendar.copenhagen.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: 12))
        else { return text }
        return day(date)
    }

    func money(_ total: MoneyTotal) -> String {
        guard let minor = Int64(exactly: total.minorUnits) else { return total.description }
        return money(Money(minorUnits: minor, currency: total.currency))
    }
}
