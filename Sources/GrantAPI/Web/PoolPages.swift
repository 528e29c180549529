import Accounts
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import PostgresNIO
import Projections

/// Administrators run the programme's money: pools created with their
/// budget periods, funding sources and amount limits; money moved between
/// periods, periods added and closed, with the balances as a chart; calls
/// opened, their window moved or closed early, with their applications.
/// Every form is the API's command: the domain decides, and a refusal comes
/// back beside the field at fault with what was typed.
func addPoolAdminPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts) {
    let handler = services.commands
    let createKey = "admin-pool-new"
    @Sendable func poolKey(_ id: UUID) -> String { "admin-pool:\(id.uuidString.lowercased())" }

    routes.page("GET", "/admin/pools") { request, _ in
        try await services.administratorsPage(request, pages: pages, to: "run pools", reading: [.poolBalances]) { page, adminId in
            let language = page.language
            let pools: [[String: Any]] = try await ReadModels(client: services.store.client, logger: services.logger).pools(nil).map { pool in
                ["name": pool.name, "owner": pool.owner, "href": "/admin/pools/\(pool.id.uuidString.lowercased())",
                 "budget": language.money(pool.totals.budget), "committed": language.money(pool.totals.committed),
                 "paid": language.money(pool.totals.paid), "available": language.money(pool.totals.available)]
            }
            var typed: [String: String] = [:]
            var errors = FieldErrors()
            if page.user?.hasKeptForms == true,
               let kept = try await accounts.formDraft(userId: adminId, key: createKey, as: [String: String].self, errors: FieldErrors.self) {
                (typed, errors) = kept
            }
            func field(_ name: String, label: String, hint: String? = nil) -> [String: Any] {
                language.field(name, label: label, value: typed[name] ?? "", hint: hint, error: errors[name])
            }
            let currency = typed["currency"] ?? "DKK", carryOver = typed["carryOver"] ?? CarryOverPolicy.lapse.rawValue
            let groups = try await steeringGroups(services)
            var values: [String: Any] = [
                "title": language.word("poolsAdminTitle"), "pools": pools, "hasPools": !pools.isEmpty,
                "poolName": field("name", label: "poolName"), "owner": field("owner", label: "owner", hint: "poolOwnerHint"),
                "currencies": ["DKK", "NOK", "EUR"].map { ["value": $0, "selected": $0 == currency] as [String: Any] },
                "carryOverChoices": [CarryOverPolicy.lapse, .carryOver].map { policy in
                    ["value": policy.rawValue, "label": language.word("carryOver.\(policy.rawValue)"), "checked": policy.rawValue == carryOver] as [String: Any]
                },
                "groups": groups.map { ["id": $0.id.uuidString.lowercased(), "name": $0.name, "selected": $0.id.uuidString.lowercased() == typed["group"]] },
                "periodRows": (0..<3).map { index in
                    ["legend": language.word("periodNumber", ["number": String(index + 1)]),
                     "period": field("periods-\(index)-period", label: "periodName", hint: index == 0 ? "periodNameHint" : nil),
                     "amount": field("periods-\(index)-amount", label: "amount")] as [String: Any]
                },
                "sourceRows": (0..<2).map { index in
                    ["legend": language.word("sourceNumber", ["number": String(index + 1)]),
                     "sourceName": field("sources-\(index)-name", label: "sourceName"), "amount": field("sources-\(index)-amount", label: "amount"),
                     "earmark": field("sources-\(index)-earmarkedFor", label: "earmarkedFor", hint: "earmarkedForHint")] as [String: Any]
                },
                "minimum": field("minimumAmount", label: "minimumAmount", hint: "limitHint"),
                "maximum": field("maximumAmount", label: "maximumAmount", hint: "limitHint"),
                "errors": errors.entries.map { ["field": $0.field, "message": $0.message] }, "hasErrors": !errors.isEmpty,
            ]
            if let error = errors["group"] { values["groupError"] = error }
            return pages.render("admin-pools", values, page)
        }
    }

    routes.page("POST", "/admin/pools") { request, _ in
        try await services.form(request, pages: pages, [.admin], to: "create pools") { fields, identity in
            let adminId = try identity.pageUser()
            let language = Language(request)
            var names = ["name", "owner", "currency", "carryOver", "group", "minimumAmount", "maximumAmount"]
            names += (0..<3).flatMap { ["periods-\($0)-period", "periods-\($0)-amount"] }
            names += (0..<2).flatMap { ["sources-\($0)-name", "sources-\($0)-amount", "sources-\($0)-earmarkedFor"] }
            let typed = Dictionary(uniqueKeysWithValues: names.map { ($0, fields.text($0)) })
            var errors = FieldErrors()
            let currency = (try? Currency(code: typed["currency"] ?? "")) ?? .dkk
            // The domain numbers the rows it is given; a refusal is shown on the row it came from.
            var periods: [BudgetPeriodSpec] = [], periodRows: [Int] = []
            for row in 0..<3 {
                let period = typed["periods-\(row)-period"] ?? "", amount = typed["periods-\(row)-amount"] ?? ""
                guard !period.isEmpty || !amount.isEmpty else { continue }
                if period.isEmpty { errors.add("periods-\(row)-period", language.word("periodNameMissing")) }
                if let money = parsedAmount(amount, "periods-\(row)-amount", currency, language, &errors) {
                    periods.append(BudgetPeriodSpec(period: period, amount: money))
                    periodRows.append(row)
                }
            }
            if periods.isEmpty, errors.isEmpty { errors.add("periods-0-period", language.word("periodsMissing")) }
            var sources: [FundingSourceSpec] = [], sourceRows: [Int] = []
            for row in 0..<2 {
                let name = typed["sources-\(row)-name"] ?? "", amount = typed["sources-\(row)-amount"] ?? ""
                let earmarks = (typed["sources-\(row)-earmarkedFor"] ?? "").split(whereSeparator: { $0 == "," || $0 == ";" || $0.isNewline })
                    .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                guard !name.isEmpty || !amount.isEmpty || !earmarks.isEmpty else { continue }
                if name.isEmpty { errors.add("sources-\(row)-name", language.word("sourceNameMissing")) }
                if let money = parsedAmount(amount, "sources-\(row)-amount", currency, language, &errors) {
                    sources.append(FundingSourceSpec(id: sourceId(name, row: row), name: name, amount: money, earmarkedFor: earmarks.isEmpty ? nil : earmarks))
                    sourceRows.append(row)
                }
            }
            if sources.isEmpty, errors.isEmpty { errors.add("sources-0-name", language.word("sourcesMissing")) }
            let minimum = typed["minimumAmount", default: ""].isEmpty ? nil : parsedAmount(typed["minimumAmount", default: ""], "minimumAmount", currency, language, &errors)
            let maximum = typed["maximumAmount", default: ""].isEmpty ? nil : parsedAmount(typed["maximumAmount", default: ""], "maximumAmount", currency, language, &errors)
            let groupId = UUID(uuidString: typed["group"] ?? "")
            if groupId == nil { errors.add("group", language.word("chooseGroup")) }
            if let groupId, errors.isEmpty {
                let poolId = UUID.random()
                do {
                    let result = try await handler.createPool(
                        CreatePool(poolId: poolId, name: typed["name", default: ""], owner: typed["owner", default: ""], currency: currency,
                                   carryOver: CarryOverPolicy(rawValue: typed["carryOver"] ?? "") ?? .lapse, periods: periods, sources: sources,
                                   steeringGroupId: groupId, eligibility: EligibilityRules(minimumAmount: minimum, maximumAmount: maximum), at: Date()),
                        identity.commandContext)
                    try await accounts.dropFormDraft(userId: adminId, key: createKey)
                    return Pages.redirect("/admin/pools/\(poolId.uuidString.lowercased())?flash=poolCreated&after=\(result.position)")
                } catch let error where Problem.from(error).map({ $0.status.code < 500 }) ?? false {
                    let refusal = language.refusal(error, content: nil, rules: nil)
                    errors.add(poolFormField(refusal.field, periodRows: periodRows, sourceRows: sourceRows), refusal.message)
                }
            }
            try await accounts.keepFormDraft(userId: adminId, key: createKey, fields: typed, errors: errors)
            return Pages.redirect("/admin/pools#create")
        }
    }

    routes.page("GET", "/admin/pools/:poolId") { request, context in
        try await services.administratorsPage(request, pages: pages, to: "run pools", reading: [.poolBalances, .applications]) { page, adminId in
            let id = try request.uuidParameter(context, "poolId")
            let language = page.language
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            guard let pool = try await reads.pools(id).first else { throw Problem.notFound("pool", id.uuidString) }
            let group = try await handler.current(SteeringGroupState.self, pool.steeringGroupId).state.created
            var typed: [String: String] = [:]
            var errors = FieldErrors()
            if page.user?.hasKeptForms == true,
               let kept = try await accounts.formDraft(userId: adminId, key: poolKey(id), as: [String: String].self, errors: FieldErrors.self) {
                (typed, errors) = kept
            }
            func field(_ name: String, label: String, hint: String? = nil, hintValues: [String: String] = [:], value: String = "",
                       type: String? = nil) -> [String: Any] {
                var field = language.field(name, label: label, value: typed[name] ?? value, hint: hint, hintValues: hintValues, error: errors[name])
                if let type { field["inputType"] = type }
                return field
            }
            let currency = try Currency(code: pool.currency)
            let periods = pool.periods.map { BalanceBar(label: $0.period, budget: $0.budget, committed: $0.committed, paid: $0.paid) }
            let sources = pool.sources.map { BalanceBar(label: $0.name, budget: $0.amount, committed: $0.committed, paid: $0.paid) }
            let openPeriods = pool.periods.filter { !$0.closed }.map(\.period)
            func choices(_ name: String, otherwise: String? = nil) -> [[String: Any]] {
                openPeriods.map { ["value": $0, "selected": $0 == (typed[name] ?? otherwise)] }
            }
            let now = Date()
            var calls: [[String: Any]] = []
            var closedKeys = Set<String>()
            for call in try await reads.calls(pool: id) {
                let key = callKey(call.id.uuidString)
                // Closed first: a call closed before its opening never opened.
                let state = now >= call.closesAt ? "closed" : now < call.opensAt ? "upcoming" : "open"
                var row: [String: Any] = [
                    "id": call.id.uuidString.lowercased(), "title": call.title, "opens": language.moment(call.opensAt),
                    "closes": language.moment(call.closesAt), "state": language.word("callState.\(state)"),
                    "isClosed": state == "closed", "cap": call.cap.map { language.money($0) } ?? "–",
                    "counts": call.applications.isEmpty ? language.word("noApplicationsYet") : call.applications.sorted { $0.key < $1.key }
                        .map { language.word("status.\($0.key)", fallback: $0.key) + ": \($0.value)" }.joined(separator: ", "),
                    "opensDay": field("\(key)-opensDay", label: "opensDay", value: dayInput(call.opensAt), type: "date"),
                    "opensTime": field("\(key)-opensTime", label: "opensTime", value: timeInput(call.opensAt), type: "time"),
                    "closesDay": field("\(key)-closesDay", label: "closesDay", value: dayInput(call.closesAt), type: "date"),
                    "closesTime": field("\(key)-closesTime", label: "closesTime", value: timeInput(call.closesAt), type: "time"),
                    "windowReason": field("\(key)-windowReason", label: "windowReason"),
                    "closeReason": field("\(key)-closeReason", label: "closeReason", hint: "closeReasonHint"),
                    "hasError": errors.entries.contains { $0.field.hasPrefix(key) }, "hasOpened": state != "upcoming",
                ]
                // A refusal for a call that is closed now has no form left to stand beside: it stands in the call's section.
                if state == "closed", let refusal = errors.entries.first(where: { $0.field.hasPrefix(key) }) {
                    row["callError"] = refusal.message
                    closedKeys.insert(key)
                }
                row["applications"] = try await reads.applications(call: call.id, limit: 200).map { application in
                    ["title": application.title, "organisation": application.organisation, "status": language.word("status.\(application.status)"),
                     "requested": language.money(application.requested),
                     "trailHref": "/audit/decisions/\(application.id.uuidString.lowercased())"] as [String: Any]
                }
                calls.append(row)
            }
            let lowered = id.uuidString.lowercased()
            var values: [String: Any] = [
                "title": pool.name, "poolId": lowered, "owner": pool.owner, "currency": pool.currency,
                "carryOver": language.word("carryOver.\(pool.carryOver)"), "groupName": group?.name ?? "–",
                "totals": [["label": language.word("budget"), "value": language.money(pool.totals.budget)],
                           ["label": language.word("committed"), "value": language.money(pool.totals.committed)],
                           ["label": language.word("paid"), "value": language.money(pool.totals.paid)],
                           ["label": language.word("available"), "value": language.money(pool.totals.available)]],
                "periods": zip(periods, pool.periods).map { bar, period in
                    bar.row(language).merging(["closed": period.closed ? language.word("periodStateClosed") : language.word("periodStateOpen")]) { $1 }
                },
                "sources": zip(sources, pool.sources).map { bar, source in
                    bar.row(language).merging(["earmark": source.earmarkedFor?.joined(separator: ", ") ?? "–"]) { $1 }
                },
                "periodChart": BalanceBar.chart(periods, title: language.word("chartPeriods")),
                "sourceChart": BalanceBar.chart(sources, title: language.word("chartSources")),
                "auditHref": "/audit/pools/\(lowered)", "ledgerHref": "/audit/pools/\(lowered)/ledger",
                "addPeriod": field("addPeriod", label: "periodName"), "addAmount": field("addAmount", label: "amount"),
                "moveFromChoices": choices("moveFrom"), "moveToChoices": choices("moveTo", otherwise: openPeriods.dropFirst().first),
                "moveAmount": field("moveAmount", label: "amount"), "moveReason": field("moveReason", label: "moveReason"),
                "closeChoices": choices("closePeriod"), "hasOpenPeriods": !openPeriods.isEmpty,
                "closePeriodHint": language.word(pool.carryOver == CarryOverPolicy.carryOver.rawValue ? "closePeriodCarries" : "closePeriodLapses"),
                "calls": calls, "hasCalls": !calls.isEmpty,
                "callTitle": field("callTitle", label: "callTitle"),
                "callOpensDay": field("callOpensDay", label: "opensDay", type: "date"), "callOpensTime": field("callOpensTime", label: "opensTime", hint: "opensTimeHint", type: "time"),
                "callClosesDay": field("callClosesDay", label: "closesDay", type: "date"),
                "callClosesTime": field("callClosesTime", label: "closesTime", hint: "closesTimeHint", type: "time"),
                "callCap": field("callCap", label: "callCap", hint: "callCapHint", hintValues: ["currency": currency.code]),
                "errors": errors.entries.map { entry in
                    ["field": closedKeys.first { entry.field.hasPrefix($0) } ?? entry.field, "message": entry.message]
                }, "hasErrors": !errors.isEmpty,
            ]
            for name in ["moveFrom", "moveTo", "closePeriod"] { if let error = errors[name] { values["\(name)Error"] = error } }
            return pages.render("admin-pool", values, page)
        }
    }

    /// Runs one of the pool page's forms: back to the page, with the flash
    /// on success, and otherwise with what was typed and the refusal beside
    /// its field (`fields` maps the domain's field names to the form's).
    func poolForm(_ path: String, _ what: String, names: @escaping @Sendable (FormFields) -> [String],
                  _ run: @escaping @Sendable (_ poolId: UUID, _ typed: [String: String], _ language: Language, _ errors: inout FieldErrors,
                                              _ command: CommandContext) async throws -> (flash: String, anchor: String, result: CommandResult?)) {
        routes.page("POST", path) { request, context in
            try await services.form(request, pages: pages, [.admin], to: what) { fields, identity in
                let poolId = try request.uuidParameter(context, "poolId")
                let adminId = try identity.pageUser()
                let typed = Dictionary(names(fields).map { ($0, fields.text($0)) }) { $1 }
                var errors = FieldErrors()
                let (flash, anchor, result) = try await run(poolId, typed, Language(request), &errors,
                                                            identity.commandContext)
                let page = "/admin/pools/\(poolId.uuidString.lowercased())"
                if let result, errors.isEmpty {
                    try await accounts.dropFormDraft(userId: adminId, key: poolKey(poolId))
                    return Pages.redirect("\(page)?flash=\(flash)&after=\(result.position)")
                }
                try await accounts.keepFormDraft(userId: adminId, key: poolKey(poolId), fields: typed, errors: errors)
                return Pages.redirect("\(page)#\(anchor)")
            }
        }
    }

    /// The call a form names, if it is one of the pool's: another pool's call is, to this page, not there.
    @Sendable func poolCall(_ text: String, of poolId: UUID) async throws -> (UUID, CallState) {
        guard let callId = UUID(uuidString: text) else { throw Problem.badRequest(rule: "invalid-value", field: "call", "call must be an id") }
        let call = try await handler.current(CallState.self, callId).state
        guard call.opened?.poolId == poolId else { throw Problem.notFound("call", callId.uuidString) }
        return (callId, call)
    }

    /// Runs `command`; a refusal (a 4xx) goes beside the field the domain names, as `fields` maps it.
    @Sendable func refusing(_ language: Language, _ errors: inout FieldErrors, _ fields: [String: String], fallback: String,
                            _ command: () async throws -> CommandResult) async throws -> CommandResult? {
        do { return try await command() } catch let error where Problem.from(error).map({ $0.status.code < 500 }) ?? false {
            let refusal = language.refusal(error, content: nil, rules: nil)
            errors.add(fields[refusal.field] ?? fallback, refusal.message)
            return nil
        }
    }

    poolForm("/admin/pools/:poolId/periods", "adjust budgets", names: { _ in ["addPeriod", "addAmount"] }) { poolId, typed, language, errors, command in
        let pool = try await handler.current(PoolState.self, poolId).state
        guard let currency = pool.created?.currency else { throw Problem.notFound("pool", poolId.uuidString) }
        guard let amount = parsedAmount(typed["addAmount", default: ""], "addAmount", currency, language, &errors) else { return ("", "budget", nil) }
        let result = try await refusing(language, &errors, ["period": "addPeriod", "amount": "addAmount"], fallback: "addPeriod") {
            try await handler.adjustBudget(poolId: poolId, .addPeriod(period: typed["addPeriod", default: ""], amount: amount, at: Date()), command)
        }
        return ("periodAdded", "budget", result)
    }

    poolForm("/admin/pools/:poolId/moves", "adjust budgets", names: { _ in ["moveFrom", "moveTo", "moveAmount", "moveReason"] }) {
        poolId, typed, language, errors, command in
        let pool = try await handler.current(PoolState.self, poolId).state
        guard let currency = pool.created?.currency else { throw Problem.notFound("pool", poolId.uuidString) }
        guard let amount = parsedAmount(typed["moveAmount", default: ""], "moveAmount", currency, language, &errors) else { return ("", "budget", nil) }
        let result = try await refusing(language, &errors, ["from": "moveFrom", "to": "moveTo", "amount": "moveAmount", "reason": "moveReason"],
                                        fallback: "moveAmount") {
            try await handler.adjustBudget(poolId: poolId, .move(from: typed["moveFrom", default: ""], to: typed["moveTo", default: ""], amount: amount,
                                                                 reason: typed["moveReason", default: ""], at: Date()), command)
        }
        return ("budgetMoved", "budget", result)
    }

    poolForm("/admin/pools/:poolId/close-period", "adjust budgets", names: { _ in ["closePeriod"] }) { poolId, typed, language, errors, command in
        let result = try await refusing(language, &errors, [:], fallback: "closePeriod") {
            try await handler.adjustBudget(poolId: poolId, .closePeriod(period: typed["closePeriod", default: ""], at: Date()), command)
        }
        return ("periodClosed", "budget", result)
    }

    poolForm("/admin/pools/:poolId/calls", "open calls", names: { _ in
        ["callTitle", "callOpensDay", "callOpensTime", "callClosesDay", "callClosesTime", "callCap"]
    }) { poolId, typed, language, errors, command in
        let pool = try await handler.current(PoolState.self, poolId).state
        guard let currency = pool.created?.currency else { throw Problem.notFound("pool", poolId.uuidString) }
        let opens = minuteInstant(typed["callOpensDay", default: ""], typed["callOpensTime", default: ""], emptyTime: "00:00", day: "callOpensDay", time: "callOpensTime",
                                  language, &errors)
        let closes = minuteInstant(typed["callClosesDay", default: ""], typed["callClosesTime", default: ""], emptyTime: "23:59", day: "callClosesDay", time: "callClosesTime",
                                   language, &errors)
        let cap = typed["callCap", default: ""].isEmpty ? nil : parsedAmount(typed["callCap", default: ""], "callCap", currency, language, &errors)
        guard let opens, let closes, errors.isEmpty else { return ("", "open-call", nil) }
        let result = try await refusing(language, &errors, ["title": "callTitle", "opensAt": "callOpensDay", "closesAt": "callClosesDay", "cap": "callCap"],
                                        fallback: "callTitle") {
            try await handler.openCall(OpenCall(callId: UUID.random(), poolId: poolId, title: typed["callTitle", default: ""], opensAt: opens, closesAt: closes,
                                                cap: cap, at: Date()), command)
        }
        return ("callOpened", "open-call", result)
    }

    poolForm("/admin/pools/:poolId/calls/window", "change call windows", names: { fields in
        let key = callKey(fields.text("call"))
        return ["call", "\(key)-opensDay", "\(key)-opensTime", "\(key)-closesDay", "\(key)-closesTime", "\(key)-windowReason"]
    }) { poolId, typed, language, errors, command in
        let (callId, call) = try await poolCall(typed["call", default: ""], of: poolId)
        let key = callKey(callId.uuidString)
        // A call that has opened keeps its opening, to the millisecond: the form does not offer it.
        let opens = call.opensAt <= Date() ? call.opensAt
            : minuteInstant(typed["\(key)-opensDay", default: ""], typed["\(key)-opensTime", default: ""], emptyTime: "00:00", day: "\(key)-opensDay",
                            time: "\(key)-opensTime", language, &errors)
        let closes = minuteInstant(typed["\(key)-closesDay", default: ""], typed["\(key)-closesTime", default: ""], emptyTime: "23:59", day: "\(key)-closesDay",
                                   time: "\(key)-closesTime", language, &errors)
        guard let opens, let closes, errors.isEmpty else { return ("", key, nil) }
        let result = try await refusing(language, &errors, ["opensAt": "\(key)-opensDay", "closesAt": "\(key)-closesDay", "reason": "\(key)-windowReason"],
                                        fallback: "\(key)-closesDay") {
            try await handler.changeCallWindow(ChangeCallWindow(callId: callId, opensAt: opens, closesAt: closes, reason: typed["\(key)-windowReason", default: ""],
                                                                at: Date()), command)
        }
        return ("callWindowChanged", key, result)
    }

    poolForm("/admin/pools/:poolId/calls/close", "close calls", names: { fields in ["call", "\(callKey(fields.text("call")))-closeReason"] }) {
        poolId, typed, language, errors, command in
        let (callId, _) = try await poolCall(typed["call", default: ""], of: poolId)
        let key = callKey(callId.uuidString)
        let result = try await refusing(language, &errors, ["reason": "\(key)-closeReason"], fallback: "\(key)-closeReason") {
            try await handler.closeCall(CloseCall(callId: callId, reason: typed["\(key)-closeReason", default: ""], at: Date()), command)
        }
        return ("callClosed", key, result)
    }
}

/// The prefix of a call's fields on the pool page: `call-<id in lower case>`, whatever case the form sent.
private func callKey(_ id: String) -> String { "call-\(UUID(uuidString: id)?.uuidString.lowercased() ?? "unknown")" }

/// Every steering group, by name: a pool is created for one that may have no pool yet.
private func steeringGroups(_ services: Services) async throws -> [(id: UUID, name: String)] {
    let ids = try await services.store.streams(category: "steering-group").compactMap { UUID(uuidString: String($0.rawValue.dropFirst("steering-group-".count))) }
    let session = Session(store: services.store)
    try await session.prefetch(ids.map(SteeringGroupState.streamName))
    var groups: [(id: UUID, name: String)] = []
    for id in ids {
        if let created = try await session.load(SteeringGroupState.self, id).state.created { groups.append((id, created.name)) }
    }
    return groups.sorted { $0.name < $1.name }
}

/// A funding source's id from its name: `Region Nordjylland` is `region-nordjylland`.
private func sourceId(_ name: String, row: Int) -> String {
    let folded = name.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).lowercased()
    let slug = folded.unicodeScalars.map { $0.isASCII && CharacterSet.alphanumerics.contains($0) ? String($0) : "-" }.joined()
        .split(separator: "-").joined(separator: "-")
    return slug.isEmpty ? "source-\(row + 1)" : String(slug.prefix(60))
}

/// The create form's field for a refusal of the domain's, which numbers only the rows filled in.
private func poolFormField(_ field: String, periodRows: [Int], sourceRows: [Int]) -> String {
    func row(_ prefix: String, _ rows: [Int]) -> String? {
        guard field.hasPrefix("\(prefix)["), let close = field.firstIndex(of: "]"),
              let index = Int(field[field.index(field.startIndex, offsetBy: prefix.count + 1)..<close]), rows.indices.contains(index) else { return nil }
        let rest = field[field.index(after: close)...].dropFirst()
        return "\(prefix)-\(rows[index])-\(rest == "id" ? "name" : rest)"
    }
    if let periodField = row("periods", periodRows) { return periodField }
    if let sourceField = row("sources", sourceRows) { return ["name", "amount", "earmarkedFor"].contains { sourceField.hasSuffix("-\($0)") } ? sourceField
        : "sources-\(sourceRows.first ?? 0)-name" }
    switch field {
    case "name", "owner": return field
    case "periods": return "periods-0-period"
    case "sources": return "sources-0-name"
    case "eligibility.maximumAmount": return "maximumAmount"
    case let other where other.hasPrefix("eligibility"): return "minimumAmount"
    default: return "name"
    }
}

/// An amount typed in `language`, or nil with the field's error.
func parsedAmount(_ typed: String, _ field: String, _ currency: Currency, _ language: Language, _ errors: inout FieldErrors) -> Money? {
    guard let canonical = language.parseAmount(typed, currency: currency), let money = try? Money(canonical, currency, field: field) else {
        errors.add(field, language.word("amountUnreadable", ["example": language.plainAmount(Money(minorUnits: 25_000_000, currency: currency))]))
        return nil
    }
    return money
}

/// The minute a date field and a time field name in Copenhagen (`emptyTime`
/// when the time is left empty), or nil with the field's error.
func minuteInstant(_ day: String, _ time: String, emptyTime: String, day dayField: String, time timeField: String,
                   _ language: Language, _ errors: inout FieldErrors) -> Date? {
    guard !day.isEmpty else {
        errors.add(dayField, language.word("dayMissing"))
        return nil
    }
    var found = FieldErrors()
    guard let instant = asOfInstant(day: day, time: time.isEmpty ? emptyTime : time, language: language, errors: &found) else {
        for entry in found.entries { errors.add(entry.field == "day" ? dayField : timeField, entry.message) }
        return nil
    }
    return Date(timeIntervalSince1970: (instant.timeIntervalSince1970 / 60).rounded(.down) * 60)
}

/// A date field's value for an instant, in Copenhagen: `2026-03-01`.
func dayInput(_ date: Date) -> String {
    let parts = Calendar.copenhagen.dateComponents([.year, .month, .day], from: date)
    return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
}

/// A time field's value for an instant, in Copenhagen: `14:30`.
func timeInput(_ date: Date) -> String {
    let parts = Calendar.copenhagen.dateComponents([.hour, .minute], from: date)
    return String(format: "%02d:%02d", parts.hour ?? 0, parts.minute ?? 0)
}
