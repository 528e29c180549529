import Audit
import EventCoding
import EventStore
import Foundation
import GrantDomain
import Hummingbird
import Projections

/// The auditor's pages (administrators may read them too). Reading only:
/// nothing here changes the history.
func addAuditPages(to routes: Routes, _ services: Services, pages: Pages) {
    /// Who held which role at an instant, and who gave it to them: the
    /// same replay as `GET /v1/audit/roles`. A query, so a GET form: the
    /// address can be kept and sent on.
    routes.page("GET", "/audit/roles") { request, _ in
        try await services.auditorsPage(request, pages: pages, to: "replay who held which role") { page in
            let language = page.language
            let form = AsOfForm(request, language: language)
            let role = request.uri.queryParameters["role"].flatMap { UserRole(rawValue: String($0)) }
            var values = form.values.merging([
                "title": language.word("rolesAsOfTitle"),
                "roleChoices": [["value": "", "label": language.word("allRoles"), "selected": role == nil] as [String: Any]]
                    + UserRole.allCases.map { ["value": $0.rawValue, "label": language.word("role.\($0.rawValue)"), "selected": role == $0] },
            ]) { $1 }
            guard let asOf = form.instant else { return pages.render("audit-roles", values, page, status: .unprocessableContent) }
            let basis = form.basis
            let replayed = try await RoleReplay(store: services.store).roles(asOf: asOf, basis: basis, role: role)
            values["heading"] = language.word(basis == .recorded ? "rolesAsRecorded" : "rolesAsTrue", ["moment": language.moment(asOf)])
            values["usersLine"] = language.word("usersInvitedThen", ["count": String(replayed.users)])
            values["holdings"] = replayed.holdings.map { held -> [String: Any] in
                let grant = RoleGrant(role: held.role, organisation: held.organisation, groupId: held.groupId, member: held.member)
                return ["name": held.name, "email": held.email, "role": language.role(grant) + (held.member.map { " (\($0))" } ?? ""),
                        "grantedAt": language.moment(held.grantedAt), "grantedBy": held.grantedBy ?? "–",
                        "grantedByRole": held.grantedByRole.map { language.word("role.\($0)") } ?? "",
                        "recordedLater": held.grantedRecordedAt.timeIntervalSince(held.grantedAt) > 60,
                        "recordedAt": language.moment(held.grantedRecordedAt)]
            }
            values["hasHoldings"] = !replayed.holdings.isEmpty
            return pages.render("audit-roles", values, page)
        }
    }
}

/// Verification from a page: the same check as `grantledger verify`,
/// with its progress written into the page as it goes (the HTML is
/// streamed: no script), then the result: events, streams and ledger
/// entries checked, and the first broken link if any.
func addVerificationPage(to routes: Routes, _ services: Services, pages: Pages) {
    routes.page("GET", "/audit/verify") { request, _ in
        try await services.auditorsPage(request, pages: pages, to: "verify the history") { page in
            let language = page.language
            guard request.uri.queryParameters["run"] == "1" else {
                return pages.render("audit-verify", ["title": language.word("verifyTitle")], page)
            }
            return try pages.streamed("audit-verify", ["title": language.word("verifyTitle"), "running": true], slot: "progress", page) { write in
                let (ticks, ticking) = AsyncStream.makeStream(of: (Int64, Int64).self, bufferingPolicy: .bufferingNewest(1))
                let verification = Task {
                    defer { ticking.finish() }
                    return try await Verifier(store: services.store).verify { done, total in ticking.yield((done, total)) }
                }
                let report: VerificationReport
                do {
                    var shown: Int64 = 0
                    // A part that checked only the ledger moves no event count: one line per count reached.
                    for await (done, total) in ticks where done > shown {
                        shown = done
                        let line = language.word("verifyProgress", ["done": language.count(done), "total": language.count(total)])
                        try await write("<li>\(HTMLEscaping().escapeText(line))</li>\n")
                    }
                    report = try await verification.value
                } catch {
                    // The reader left, or the database failed: stop checking; say so if the page is still read.
                    verification.cancel()
                    services.logger.error("verification from the page failed", metadata: ["error": "\(String(reflecting: error))"])
                    return pages.fragment("audit-verify-result", ["summary": language.word("verifyError")], language: language)
                }
                var values: [String: Any] = [
                    "ok": report.ok,
                    "summary": language.word(report.ok ? "verifyPassed" : "verifyFailed",
                                             ["events": language.count(report.eventsChecked), "streams": language.count(report.streamsChecked),
                                              "entries": language.count(report.ledgerEntriesChecked), "broken": language.count(report.brokenLinkCount)]),
                ]
                if let link = report.firstBrokenLink {
                    values["firstBroken"] = ["position": String(link.position), "stream": link.streamId,
                                             "version": link.streamVersion.map(String.init) ?? "–", "check": link.check, "detail": link.detail]
                }
                return pages.fragment("audit-verify-result", values, language: language)
            }
        }
    }
}

/// The as-of fields of a GET form (as-of-fields.mustache): a day, a time
/// and the basis; the instant they name, or the errors to show beside them.
struct AsOfForm {
    let day, time: String
    let basis: TimeBasis
    let errors: FieldErrors
    let instant: Date?

    init(_ request: Request, language: Language) {
        let query = request.uri.queryParameters
        day = query["day"].map(String.init) ?? ""
        time = query["time"].map(String.init) ?? ""
        basis = TimeBasis(rawValue: query["basis"].map(String.init) ?? "") ?? .recorded
        var errors = FieldErrors()
        instant = asOfInstant(day: day, time: time, language: language, errors: &errors)
        self.errors = errors
    }

    /// Neither a day nor a time: the state now.
    var isNow: Bool { day.isEmpty && time.isEmpty }

    /// What the partial and the error summary show.
    var values: [String: Any] {
        var values: [String: Any] = ["day": day, "time": time, "recorded": basis == .recorded, "occurred": basis == .occurred]
        values.merge(errors.summary) { $1 }
        if let error = errors["day"] { values["dayError"] = error }
        if let error = errors["time"] { values["timeError"] = error }
        return values
    }
}

/// The instant a day (`2026-03-01`, from a date field) and a time of day
/// (`14:30`, optional: without it, the end of the day) name in Copenhagen;
/// now when both are empty; nil with the field's error when one is not.
func asOfInstant(day: String, time: String, language: Language, errors: inout FieldErrors) -> Date? {
    if day.isEmpty, time.isEmpty { return Date() }
    let dayParts = day.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
    let timeParts = time.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
    guard dayParts.count == 3, day.count == 10, let year = dayParts[0], let month = dayParts[1], let dayOfMonth = dayParts[2],
          (1...12).contains(month), (1...31).contains(dayOfMonth), (1...9999).contains(year) else {
        errors.add("day", language.word("asOfDayInvalid"))
        return nil
    }
    // 31 February is not a day: the calendar would roll it into March.
    guard let noon = Calendar.copenhagen.date(from: DateComponents(year: year, month: month, day: dayOfMonth, hour: 12)),
          Calendar.copenhagen.component(.day, from: noon) == dayOfMonth else {
        errors.add("day", language.word("asOfDayInvalid"))
        return nil
    }
    var components = DateComponents(year: year, month: month, day: dayOfMonth, hour: 23, minute: 59, second: 59, nanosecond: 999_000_000)
    if !time.isEmpty {
        guard timeParts.count == 2, time.count == 5, let hour = timeParts[0], let minute = timeParts[1], (0...23).contains(hour), (0...59).contains(minute) else {
            errors.add("time", language.word("asOfTimeInvalid"))
            return nil
        }
        // The whole minute named: 14:30 includes what was recorded at 14:30:59.
        (components.hour, components.minute) = (hour, minute)
    }
    guard let instant = Calendar.copenhagen.date(from: components) else {
        errors.add("day", language.word("asOfDayInvalid"))
        return nil
    }
    return instant
}

/// Decisions for auditors: the decided applications, and each decision's
/// trail as a timeline: the call, the application's versions, the meeting
/// with attendance, quorum, votes and recusals, the grant, every later
/// change and payment, and the pool's money movements, each with who did
/// it, in which role, by which command, when it happened and when it was
/// recorded. The same trail as `GET /v1/audit/decisions/{id}`.
func addDecisionPages(to routes: Routes, _ services: Services, pages: Pages) {
    routes.page("GET", "/audit/decisions") { request, _ in
        try await services.auditorsPage(request, pages: pages, to: "read decision trails") { page in
            let language = page.language
            _ = try await services.waitForReadModels(request, [.applications])
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            var decided: [ApplicationView] = []
            for status in ["approved", "rejected", "returned-for-revision"] {
                decided += try await reads.applications(status: status, limit: 1000)
            }
            decided.sort { ($0.decidedAt ?? .distantPast, $0.id.uuidString) > ($1.decidedAt ?? .distantPast, $1.id.uuidString) }
            let items: [[String: Any]] = decided.map { application in
                var item: [String: Any] = ["title": application.title, "organisation": application.organisation,
                                           "href": "/audit/decisions/\(application.id.uuidString.lowercased())",
                                           "status": language.applicationStatus(application.status, requested: application.requested, granted: application.granted),
                                           "requested": language.money(application.requested), "granted": application.granted.map { language.money($0) } ?? "–"]
                if let decidedAt = application.decidedAt { item["decidedAt"] = language.day(decidedAt) }
                return item
            }
            return pages.render("audit-decisions", ["title": language.word("decisionsTitle"), "decisions": items, "hasDecisions": !items.isEmpty], page)
        }
    }

    routes.page("GET", "/audit/decisions/:applicationId") { request, context in
        try await services.auditorsPage(request, pages: pages, to: "read decision trails") { page in
            let id = try request.uuidParameter(context, "applicationId")
            let language = page.language
            let trail = try await History(store: services.store).decisionTrail(applicationId: id)
            let drafted = trail.application.first { $0.type == ApplicationDrafted.eventType }
            let title = trail.application.last { $0.data["content"]?["title"] != nil }?.data["content"]?["title"]?.stringValue ?? id.uuidString
            let summary = trail.summary
            var facts: [[String: Any]] = [["label": language.word("status"), "value": language.word("trail.status.\(summary.status)", fallback: summary.status)]]
            func fact(_ key: String, _ value: String?) { if let value, !value.isEmpty { facts.append(["label": language.word(key), "value": value]) } }
            fact("organisation", drafted?.data["content"]?["organisation"]?.stringValue)
            fact("trail.outcome", summary.outcome?.stringValue.map { language.word("outcome.\($0)") })
            fact("trail.decidedAt", summary.decidedAt.map(language.moment))
            fact("trail.decidedBy", summary.decidedBy?.stringValue)
            fact("trail.present", summary.present?.strings.joined(separator: ", "))
            if let quorum = summary.quorum?.integer, let eligible = summary.eligibleVoters?.integer {
                fact("trail.quorum", language.word("trail.quorumOf", ["quorum": String(quorum), "eligible": String(eligible)]))
            }
            fact("trail.votes", summary.votes?.objects.map { "\($0["member"]?.stringValue ?? "?"): \(language.word("vote.\($0["vote"]?.stringValue ?? "")"))" }
                .joined(separator: "; "))
            fact("trail.recused", summary.recused?.objects.map { "\($0["member"]?.stringValue ?? "?") (\($0["affiliation"]?.stringValue ?? ""))" }
                .joined(separator: "; "))
            fact("granted", summary.amount.flatMap { language.money($0) })
            fact("trail.conditions", summary.conditions?.strings.joined(separator: "; "))

            let entries = (trail.call + trail.application + trail.meetings.flatMap { ($0.held.map { [$0] } ?? []) + $0.changes + $0.decisions } + trail.grant
                           + trail.poolMovements).sorted { $0.position < $1.position }
            var seen = Set<Int64>()
            let timeline: [[String: Any]] = entries.filter { seen.insert($0.position).inserted }.map { entry in
                var item: [String: Any] = ["event": language.word("event.\(entry.type)", fallback: entry.type), "type": entry.type,
                                           "occurredAt": language.moment(entry.occurredAt), "position": String(entry.position),
                                           "stream": entry.streamId, "version": String(entry.streamVersion), "hash": String(entry.hash.prefix(16)),
                                           "actor": entry.metadata["actor"]?.stringValue ?? "–"]
                if let role = entry.metadata["role"]?.stringValue { item["role"] = language.word("role.\(role)", fallback: role) }
                if let command = entry.metadata["command"]?.stringValue { item["command"] = command }
                // Recorded later than it happened (a meeting entered afterwards, a history imported): both times.
                if abs(entry.recordedAt.timeIntervalSince(entry.occurredAt)) > 60 { item["recordedAt"] = language.moment(entry.recordedAt) }
                return item
            }
            let stops = entries.filter { PathStop.shown.contains($0.type) }.reduce(into: [PathStop]()) { stops, entry in
                let stop = PathStop(label: language.word("event.\(entry.type)", fallback: entry.type), day: language.day(entry.occurredAt))
                if stops.last?.label != stop.label || stops.last?.day != stop.day { stops.append(stop) }
            }
            var values: [String: Any] = ["title": language.word("trailTitle", ["title": title]), "facts": facts, "timeline": timeline,
                                         "jsonHref": "/v1/audit/decisions/\(id.uuidString.lowercased())",
                                         "path": PathStop.chart(stops, title: language.word("pathTitle"))]
            if let grantStream = trail.grant.first?.streamId, let grantId = UUID(uuidString: String(grantStream.dropFirst("grant-".count))) {
                values["grantHref"] = "/audit/grants/\(grantId.uuidString.lowercased())"
            }
            return pages.render("audit-decision", values, page)
        }
    }
}

extension JSONValue {
    var strings: [String] {
        if case .array(let values) = self { return values.compactMap(\.stringValue) }
        return []
    }

    var objects: [[String: JSONValue]] {
        guard case .array(let values) = self else { return [] }
        return values.compactMap { if case .object(let object) = $0 { object } else { nil } }
    }

    var integer: Int? {
        if case .number(let number) = self, number == number.rounded(), abs(number) < 1e15 { return Int(number) }
        return nil
    }
}

extension Language {
    /// An amount as the history holds it (`{"amount": "250000.00", "currency": "DKK"}`), as the language writes it.
    func money(_ value: JSONValue) -> String? {
        guard let amount = value["amount"]?.stringValue, let code = value["currency"]?.stringValue,
              let currency = try? Currency(code: code), let parsed = try? Money(amount, currency) else { return nil }
        return money(parsed)
    }

    /// A word, or `fallback` when the language has none for `key`.
    func word(_ key: String, fallback: String) -> String { words[key] ?? fallback }
}

/// Pools for auditors: each pool's balances as of any instant (replayed
/// from its stream, as recorded then or as true then), per budget period
/// and per funding source, as a chart and as the same figures in tables;
/// and its money movements as CSV (the streamed funding export).
func addPoolPages(to routes: Routes, _ services: Services, pages: Pages) {
    routes.page("GET", "/audit/pools") { request, _ in
        try await services.auditorsPage(request, pages: pages, to: "replay pools") { page in
            let language = page.language
            _ = try await services.waitForReadModels(request, [.poolBalances])
            let pools: [[String: Any]] = try await ReadModels(client: services.store.client, logger: services.logger).pools(nil).map { pool in
                ["name": pool.name, "owner": pool.owner, "href": "/audit/pools/\(pool.id.uuidString.lowercased())",
                 "budget": language.money(pool.totals.budget), "committed": language.money(pool.totals.committed),
                 "paid": language.money(pool.totals.paid), "available": language.money(pool.totals.available)]
            }
            return pages.render("audit-pools", ["title": language.word("poolsTitle"), "pools": pools, "hasPools": !pools.isEmpty], page)
        }
    }

    routes.page("GET", "/audit/pools/:poolId") { request, context in
        try await services.auditorsPage(request, pages: pages, to: "replay pools") { page in
            let id = try request.uuidParameter(context, "poolId")
            let language = page.language
            let form = AsOfForm(request, language: language)
            let lowered = id.uuidString.lowercased()
            guard let name = try await poolCreated(id, services)?.name else { throw Problem.notFound("pool", id.uuidString) }
            var values = form.values.merging([
                "title": name, "action": "/audit/pools/\(lowered)",
                "csvHref": "/v1/audit/export?pool=\(lowered)&format=csv", "ledgerHref": "/audit/pools/\(lowered)/ledger",
            ]) { $1 }
            guard let asOf = form.instant else { return pages.render("audit-pool", values, page, status: .unprocessableContent) }
            let basis = form.basis
            let pool = try await AsOfReplay(store: services.store).pool(id, asOf: asOf, basis: basis)
            values["heading"] = language.word(basis == .recorded ? "poolAsRecorded" : "poolAsTrue", ["moment": language.moment(asOf)])
            values["eventsLine"] = language.word("poolEventsReplayed", ["count": language.count(Int64(pool.eventsApplied))])
            guard pool.exists else {
                values["notYet"] = language.word("poolNotYet")
                return pages.render("audit-pool", values, page)
            }
            values["totals"] = [["label": language.word("budget"), "value": language.money(pool.budget)],
                                ["label": language.word("committed"), "value": language.money(pool.committed)],
                                ["label": language.word("paid"), "value": language.money(pool.paid)],
                                ["label": language.word("available"), "value": language.money(pool.available)]]
            let periods = pool.periods.map { BalanceBar(label: $0.period, budget: $0.budget, committed: $0.committed, paid: $0.paid) }
            let sources = pool.sources.map { BalanceBar(label: $0.id, budget: $0.amount, committed: $0.committed, paid: $0.paid) }
            values["periods"] = periods.map { $0.row(language) }
            values["sources"] = sources.map { $0.row(language) }
            values["periodChart"] = BalanceBar.chart(periods, title: language.word("chartPeriods"))
            values["sourceChart"] = BalanceBar.chart(sources, title: language.word("chartSources"))
            values["hasPeriods"] = !periods.isEmpty
            values["hasSources"] = !sources.isEmpty
            // What changed since: the same replay now, figure by figure, and the movements after the instant
            // (not asked for "now", the form's default: a pool of 100,000 movements would be replayed twice for nothing).
            guard !form.isNow else { return pages.render("audit-pool", values, page) }
            let now = try await AsOfReplay(store: services.store).pool(id, asOf: Date(), basis: basis)
            let later = now.eventsApplied - pool.eventsApplied
            values["changedLine"] = language.word(later == 0 ? "nothingSince" : later == 1 ? "oneEventSince" : "eventsSince",
                                                  ["count": language.count(Int64(later))])
            if later > 0 {
                let change = language.changeRow
                let before = Dictionary(pool.periods.map { ($0.period, $0) }) { first, _ in first }
                values["changes"] = [change(language.word("budget"), pool.budget, now.budget), change(language.word("committed"), pool.committed, now.committed),
                                     change(language.word("paid"), pool.paid, now.paid), change(language.word("available"), pool.available, now.available)]
                    + now.periods.map { period in
                        let then = before[period.period]
                        return change(language.word("periodAvailable", ["period": period.period]), then?.available ?? .zero(period.available.currency),
                                      period.available)
                    }
                values["sinceHref"] = "/audit/pools/\(lowered)/ledger?since=\(CivilTime.format(asOf))&basis=\(basis.rawValue)"
            }
            return pages.render("audit-pool", values, page)
        }
    }
}

/// A pool's money movements as a page: every budget, move, commitment,
/// release, payment and repayment, oldest first, with the decision or
/// payment behind it, filtered by budget period and funding source. The
/// rows are streamed a page of the history at a time (the funding
/// export's pages), so a pool of 100,000 movements is shown in flat memory.
func addLedgerPage(to routes: Routes, _ services: Services, pages: Pages) {
    routes.page("GET", "/audit/pools/:poolId/ledger") { request, context in
        try await services.auditorsPage(request, pages: pages, to: "read a pool's ledger") { page in
            let id = try request.uuidParameter(context, "poolId")
            let language = page.language
            guard let created = try await poolCreated(id, services) else { throw Problem.notFound("pool", id.uuidString) }
            // Periods added later are the read model's; a pool it has not reached yet has those it was created with.
            _ = try await services.waitForReadModels(request, [.poolBalances])
            let periods = try await ReadModels(client: services.store.client, logger: services.logger).pools(id).first?.periods.map(\.period)
                ?? created.periods.map(\.period)
            let query = request.uri.queryParameters
            let period = query["period"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            let source = query["source"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            // Only what happened (or was recorded) after an instant: the pool page's "what changed since".
            let since = try query["since"].map(String.init).flatMap { text -> Date? in
                guard !text.isEmpty else { return nil }
                guard case .success(let parsed) = CivilTime.parse(text) else {
                    throw Problem.badRequest(rule: "invalid-value", field: "since", "since must be an instant such as 2026-03-01T12:00:00Z")
                }
                return parsed.date
            }
            let sinceBasis = TimeBasis(rawValue: query["basis"].map(String.init) ?? "") ?? .recorded
            let lowered = id.uuidString.lowercased()
            var values: [String: Any] = [
                "title": language.word("ledgerTitle", ["pool": created.name]), "action": "/audit/pools/\(lowered)/ledger",
                "poolHref": "/audit/pools/\(lowered)", "csvHref": "/v1/audit/export?pool=\(lowered)&format=csv",
                "periods": [["value": "", "label": language.word("allPeriods"), "selected": period == nil] as [String: Any]]
                    + periods.map { ["value": $0, "label": $0, "selected": $0 == period] },
                "sources": [["value": "", "label": language.word("allSources"), "selected": source == nil] as [String: Any]]
                    + created.sources.map { ["value": $0.id, "label": $0.name, "selected": $0.id == source] },
            ]
            if let since {
                values["sinceLine"] = language.word(sinceBasis == .recorded ? "movementsRecordedSince" : "movementsSince", ["moment": language.moment(since)])
                values["since"] = CivilTime.format(since)
                values["sinceBasis"] = sinceBasis.rawValue
            }
            return try pages.streamed("audit-ledger", values, slot: "rows", page) { write in
                var shown = 0
                do {
                    try await FundingExport(store: services.store).forEachPage(pool: id) { movements in
                        let rows: [[String: Any]] = movements.filter { movement in
                            (period == nil || movement.period == period || movement.toPeriod == period)
                                && (source == nil || movement.sources.contains { $0.source == source })
                                && (since.map { (sinceBasis == .recorded ? movement.recordedAt : movement.occurredAt) > $0 } ?? true)
                        }.map { ledgerRow($0, language) }
                        shown += rows.count
                        if !rows.isEmpty { try await write(pages.fragment("audit-ledger-rows", ["rows": rows], language: language)) }
                    }
                } catch {
                    services.logger.error("ledger page failed", metadata: ["error": "\(String(reflecting: error))"])
                    return pages.fragment("audit-ledger-end", ["failed": language.word("ledgerFailed")], language: language)
                }
                let count = language.word("ledgerCount", ["count": language.count(Int64(shown))])
                return pages.fragment("audit-ledger-end", ["count": count, "empty": shown == 0], language: language)
            }
        }
    }
}

/// A pool as created, from the first event of its stream: what a page
/// names it by, without folding (and caching) a history that may hold
/// 100,000 movements.
private func poolCreated(_ id: UUID, _ services: Services) async throws -> PoolCreated? {
    guard let first = try await services.store.readStream(try StreamID(PoolState.streamName(id)), from: 1, limit: 1).first else { return nil }
    return try EventCoding.decode(type: first.type, schemaVersion: first.schemaVersion, data: first.data, among: PoolState.eventTypes) as? PoolCreated
}

private func ledgerRow(_ movement: MoneyMovement, _ language: Language) -> [String: Any] {
    var row: [String: Any] = ["day": language.day(movement.occurredAt), "kind": language.word("movement.\(movement.kind)", fallback: movement.kind),
                              "period": movement.period + (movement.toPeriod.map { " → \($0)" } ?? ""), "amount": language.money(movement.amount),
                              "sources": movement.sources.map { "\($0.source): \(language.money($0.amount))" }.joined(separator: "; "),
                              "actor": movement.actor ?? "–", "position": String(movement.position)]
    if let application = movement.applicationId { row["decisionHref"] = "/audit/decisions/\(application.uuidString.lowercased())" }
    if let reference = movement.reference { row["reference"] = reference }
    if let reason = movement.reason { row["reason"] = reason }
    return row
}

/// A coordinate in an SVG the pages draw: a tenth of a pixel is enough.
func svgNumber(_ value: Double) -> String { String(format: "%.1f", value) }

/// One bar of a balance chart: a budget, of which committed, of which paid.
struct BalanceBar {
    var label: String
    var budget, committed, paid: Money

    func row(_ language: Language) -> [String: Any] {
        ["label": label, "budget": language.money(budget), "committed": language.money(committed), "paid": language.money(paid),
         "available": language.money(Money(minorUnits: budget.minorUnits &- committed.minorUnits, currency: budget.currency))]
    }

    static let width = 720.0, labelWidth = 140.0, rowHeight = 34.0, barHeight = 22.0

    /// An SVG's geometry for the template: each bar split into paid,
    /// committed but not paid, and still available, to one scale (the
    /// largest budget, or what was committed past it).
    static func chart(_ bars: [BalanceBar], title: String) -> [String: Any] {
        let largest = Double(bars.map { max($0.budget.minorUnits, $0.committed.minorUnits) }.max() ?? 0)
        let scale = largest > 0 ? (width - labelWidth - 10) / largest : 0
        let rows: [[String: Any]] = bars.enumerated().map { index, bar in
            let paid = Double(max(0, bar.paid.minorUnits)) * scale
            let open = Double(max(0, bar.committed.minorUnits &- bar.paid.minorUnits)) * scale
            let free = Double(max(0, bar.budget.minorUnits &- bar.committed.minorUnits)) * scale
            let y = Double(index) * rowHeight
            return ["label": bar.label, "y": svgNumber(y), "textY": svgNumber(y + barHeight * 0.75), "barX": svgNumber(labelWidth),
                    "paidWidth": svgNumber(paid), "openX": svgNumber(labelWidth + paid), "openWidth": svgNumber(open),
                    "freeX": svgNumber(labelWidth + paid + open), "freeWidth": svgNumber(free), "height": svgNumber(barHeight)]
        }
        return ["title": title, "rows": rows, "width": String(Int(width)), "height": String(Int(Double(bars.count) * rowHeight + 4)),
                "hasRows": !rows.isEmpty]
    }
}
