import Accounts
import EventCoding
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import Projections

/// Steering-group members: what waits for their group, one page per
/// meeting with a form to record each decision, and the minutes. Recusal,
/// quorum, votes and money are the domain's rules, shown, not re-implemented:
/// the form sends what was chosen and a refusal is shown beside the field.
func addSteeringPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts) {
    let handler = services.commands

    routes.page("GET", "/steering") { request, _ in
        try await services.page(request, pages: pages) {
            let page = try await services.pageContext(request, pages: pages)
            let seat = try await services.steeringSeat(request, page, to: "read the meeting pack")
            let language = page.language
            _ = try await services.waitForReadModels(request, [.agendas, .poolBalances])
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            let agenda = try await reads.agenda(group: seat.groupId)
            let reader = handler.reader()
            try await reader.prefetch([SteeringGroupState.streamName(seat.groupId)] + agenda.map { ApplicationState.streamName($0.applicationId) }
                                      + Set(agenda.map(\.poolId)).map { PoolState.streamName($0) })
            let group = try await reader.load(SteeringGroupState.self, seat.groupId).state
            var pools: [UUID: PoolState] = [:]
            for poolId in Set(agenda.map(\.poolId)) { pools[poolId] = try await reader.load(PoolState.self, poolId).state }
            var items: [[String: Any]] = []
            var requested: [UUID: Int64] = [:]
            for entry in agenda {
                let application = try await reader.load(ApplicationState.self, entry.applicationId).state
                guard let pool = pools[entry.poolId],
                      let item = services.packItem(application, id: entry.applicationId, pool: pool, group: group, present: [seat.member],
                                                   reader: seat.member, language: language) else { continue }
                requested[entry.poolId, default: 0] += application.content?.requested.minorUnits ?? 0
                items.append(item)
            }
            let meetings: [[String: Any]] = try await reads.meetings(group: seat.groupId).map { meeting in
                ["id": meeting.id.uuidString.lowercased(), "date": language.day(meeting.heldAt), "present": String(meeting.present),
                 "agenda": String(meeting.agenda), "decided": String(meeting.decisions), "open": meeting.decisions < meeting.agenda]
            }
            return pages.render("steering", [
                "title": language.word("packTitle", ["group": group.created?.name ?? ""]), "items": items, "hasItems": !items.isEmpty,
                "money": try await services.moneyLeft(requested, language: language), "meetings": meetings, "hasMeetings": !meetings.isEmpty,
            ], page)
        }
    }

    routes.page("GET", "/steering/meetings/:meetingId") { request, context in
        try await services.page(request, pages: pages) {
            let meetingId = try request.uuidParameter(context, "meetingId")
            // The meeting, its group, every application on its agenda and their pools, as far as this process
            // folded them before (a meeting's group and an application's pool never change), have their versions
            // read with the session: when none has moved, the page costs that one round trip.
            let page = try await services.pageContext(request, pages: pages, flash: request.flash,
                                                      showing: packStreams(meetingId, folded: handler.reader()))
            let seat = try await services.steeringSeat(request, page, to: "read the meeting pack")
            let language = page.language
            _ = try await services.waitForReadModels(request, [.poolBalances])
            let reader = handler.reader(known: page.user?.streamVersions ?? [:])
            try await reader.prefetch(packStreams(meetingId, folded: reader))
            let loadedMeeting = try await reader.load(MeetingState.self, meetingId)
            let meeting = loadedMeeting.state
            guard let held = meeting.held, held.groupId == seat.groupId else { throw Problem.notFound("meeting", meetingId.uuidString) }
            try await reader.prefetch([SteeringGroupState.streamName(held.groupId)] + held.agenda.map { ApplicationState.streamName($0) })
            let group = try await reader.load(SteeringGroupState.self, held.groupId)
            var applications: [UUID: Loaded<ApplicationState>] = [:]
            for applicationId in held.agenda { applications[applicationId] = try await reader.load(ApplicationState.self, applicationId) }
            let poolIds = Set(applications.values.compactMap { $0.state.drafted?.poolId }).sorted { $0.uuidString < $1.uuidString }
            try await reader.prefetch(poolIds.map { PoolState.streamName($0) })
            var pools: [UUID: Loaded<PoolState>] = [:]
            for poolId in poolIds { pools[poolId] = try await reader.load(PoolState.self, poolId) }
            let pack = MeetingPack(meetingId: meetingId, meeting: meeting, held: held, group: group.state, applications: applications.mapValues(\.state),
                                   pools: pools.mapValues(\.state), member: seat.member, language: language)
            // Kept typing is looked for only when the session says there is some.
            // The fragment in pieces around the places of the session's token (Foundation's replacingOccurrences took a third of the time).
            let pieces: [Substring]
            if page.user?.hasKeptForms == true, let userId = page.user?.userId {
                pieces = try await pack.render(pages, services, kept: (accounts, userId))
            } else {
                // Without kept typing, the pack is the same for every reading of these versions (and of the balances):
                // rendered once, with the session's token put in afterwards.
                let versions = [loadedMeeting.version, group.version] + held.agenda.map { applications[$0]?.version ?? 0 } + poolIds.map { pools[$0]?.version ?? 0 }
                pieces = try await services.cachedFragment("meeting-pack \(meetingId) \(seat.member) \(language.rawValue)", versions: versions,
                                                          from: [.poolBalances], after: request.uri.queryParameters["after"] != nil) {
                    try await pack.render(pages, services, kept: nil)
                }
            }
            return pages.render("steering-meeting", [
                "title": language.word("meetingTitle", ["date": language.day(held.occurredAt), "group": group.state.created?.name ?? ""]),
                "meetingId": meetingId.uuidString.lowercased(),
                "present": held.present.map { group.state.members[$0]?.name ?? $0 }.joined(separator: ", "),
                "quorum": language.word("quorumLine", ["present": String(held.present.count), "members": String(group.state.members.count),
                                                        "quorum": String(group.state.quorum)]),
                "pack": pieces.joined(separator: page.csrf),
            ], page)
        }
    }

    routes.page("POST", "/steering/meetings/:meetingId/decisions/:applicationId") { request, context in
        try await services.form(request, pages: pages, [.steering], to: "record decisions") { fields, identity in
            let meetingId = try request.uuidParameter(context, "meetingId")
            let applicationId = try request.uuidParameter(context, "applicationId")
            let userId = try identity.pageUser()
            try await services.requireGroupMember(identity, meetingId: meetingId)
            let language = Language(request)
            let application = try await handler.current(ApplicationState.self, applicationId).state
            guard let content = application.content else { throw Problem.notFound("application", applicationId.uuidString) }
            var group: SteeringGroupState?
            if let held = try await handler.current(MeetingState.self, meetingId).state.held {
                group = try await handler.current(SteeringGroupState.self, held.groupId).state
            }
            let typed = DecisionFields(fields)
            let back = "/steering/meetings/\(meetingId.uuidString.lowercased())"
            let key = DecisionFields.key(meetingId, applicationId)
            var errors = FieldErrors()
            do {
                let command = try typed.command(meetingId: meetingId, applicationId: applicationId, currency: content.requested.currency,
                                                language: language, errors: &errors)
                if let command {
                    let result = try await handler.recordDecision(command, identity.commandContext)
                    try await accounts.dropFormDraft(userId: userId, key: key)
                    return Pages.redirect("\(back)?flash=decisionRecorded&after=\(result.position)#item-\(applicationId.uuidString.lowercased())")
                }
            } catch let error where Problem.from(error).map({ $0.status.code < 500 }) ?? false {
                let refusal = language.decisionRefusal(error, content: content) { group?.members[$0]?.name ?? $0 }
                // `conditions[2]` is the conditions field's, `sources[1].amount` the sources'; what no field holds is the whole form's.
                let field = refusal.field.hasPrefix("conditions[") ? "conditions" : refusal.field.hasPrefix("sources[") ? "sources" : refusal.field
                errors.add(DecisionFields.formFields.contains(field) ? field : "application", refusal.message)
            }
            try await accounts.keepFormDraft(userId: userId, key: key, fields: typed, errors: errors)
            return Pages.redirect("\(back)#decide-\(applicationId.uuidString.lowercased())")
        }
    }

    routes.page("GET", "/steering/meetings/:meetingId/minutes") { request, context in
        try await services.page(request, pages: pages) {
            let meetingId = try request.uuidParameter(context, "meetingId")
            let page = try await services.pageContext(request, pages: pages)
            let identity = try await services.auth.require(request, [.steering, .admin, .auditor], to: "read minutes", signedIn: page.user)
            let language = page.language
            let meeting = try await handler.current(MeetingState.self, meetingId).state
            guard let held = meeting.held else { throw Problem.notFound("meeting", meetingId.uuidString) }
            if identity.role == .steering { try await services.requireGroupMember(identity, meetingId: meetingId) }
            let group = try await handler.current(SteeringGroupState.self, held.groupId).state
            func name(_ member: String) -> String { group.members[member]?.name ?? member }
            let stream = try StreamID(MeetingState.streamName(meetingId))
            var decisions: [[String: Any]] = []
            for event in try await services.store.readStream(stream) where event.type == DecisionRecorded.eventType {
                let decision = try EventCoding.decode(DecisionRecorded.self, schemaVersion: event.schemaVersion, data: event.data)
                let application = try await handler.current(ApplicationState.self, decision.applicationId).state
                var entry: [String: Any] = [
                    "title": application.content?.title ?? decision.applicationId.uuidString, "organisation": application.content?.organisation ?? "",
                    "version": String(decision.applicationVersion), "outcome": language.word("outcome.\(decision.outcome.rawValue)"),
                    "votes": decision.votes.map { ["member": name($0.member), "vote": language.word("vote.\($0.vote.rawValue)")] },
                    "recused": decision.recused.map { ["member": name($0.member), "affiliation": $0.affiliation] },
                    "hasRecused": !decision.recused.isEmpty,
                    "tally": language.word("tally", [
                        "for": String(decision.votes.filter { $0.vote == .for }.count), "against": String(decision.votes.filter { $0.vote == .against }.count),
                        "abstain": String(decision.votes.filter { $0.vote == .abstain }.count), "eligible": String(decision.eligibleVoters),
                        "quorum": String(decision.quorum)]),
                    "decidedAt": language.moment(decision.occurredAt),
                ]
                if decision.outcome == .approve, let grant = try await handler.current(GrantState.self, decision.applicationId).state.awarded {
                    entry["amount"] = language.money(grant.amount)
                    entry["period"] = grant.period
                    let sources = try await handler.current(PoolState.self, grant.poolId).state.created?.sources ?? []
                    entry["sources"] = grant.sources.map { part in
                        "\(sources.first { $0.id == part.source }?.name ?? part.source): \(language.money(part.amount))"
                    }.joined(separator: "; ")
                    entry["conditions"] = grant.conditions
                    entry["hasConditions"] = !grant.conditions.isEmpty
                }
                decisions.append(entry)
            }
            var values: [String: Any] = [
                "title": language.word("minutesTitle", ["date": language.day(held.occurredAt), "group": group.created?.name ?? ""]),
                "present": held.present.map { member -> [String: Any] in
                    let affiliations = group.members[member]?.affiliations ?? []
                    return affiliations.isEmpty ? ["name": name(member)] : ["name": name(member), "affiliations": affiliations.joined(separator: ", ")]
                },
                "quorum": language.word("quorumLine", ["present": String(held.present.count), "members": String(group.members.count),
                                                        "quorum": String(group.quorum)]),
                "decisions": decisions, "hasDecisions": !decisions.isEmpty,
            ]
            values["attendanceChanges"] = meeting.attendanceChanges.map { change -> [String: Any] in
                ["at": language.moment(change.occurredAt), "present": change.present.map(name).joined(separator: ", "), "reason": change.reason]
            }
            values["hasAttendanceChanges"] = !meeting.attendanceChanges.isEmpty
            let absent = group.members.keys.sorted().filter { !held.present.contains($0) }.map(name)
            if !absent.isEmpty { values["absent"] = absent.joined(separator: ", ") }
            if held.agenda.count > decisions.count { values["undecided"] = String(held.agenda.count - decisions.count) }
            // The meeting's own documents (its minutes as signed, a presentation), to download.
            values.merge(try await services.documentSection(meeting.documents, of: .meeting(meetingId), language: language, canAttach: false,
                                                            refused: nil)) { $1 }
            return pages.render("steering-minutes", values, page)
        }
    }
}

/// The money and the applications of one meeting's pack, with a decision
/// form for each still to be decided, as an HTML fragment.
struct MeetingPack {
    /// Stands for the session's CSRF token in a fragment kept for every reader.
    static let csrfMarker = "csrf-\(UUID.random().uuidString)"
    var meetingId: UUID
    var meeting: MeetingState
    var held: MeetingHeld
    var group: SteeringGroupState
    var applications: [UUID: ApplicationState]
    var pools: [UUID: PoolState]
    var member: String
    var language: Language

    /// `kept`: where to find and drop the member's kept typing, if there is any.
    func render(_ pages: Pages, _ services: Services, kept: (accounts: Accounts, userId: UUID)?) async throws -> [Substring] {
        var items: [[String: Any]] = []
        var requested: [UUID: Int64] = [:]
        for applicationId in held.agenda {
            guard let application = applications[applicationId], let content = application.content, let drafted = application.drafted,
                  let pool = pools[drafted.poolId],
                  var item = services.packItem(application, id: applicationId, pool: pool, group: group, present: held.present,
                                               reader: member, language: language) else { continue }
            let key = DecisionFields.key(meetingId, applicationId)
            if meeting.decided[applicationId] != nil || application.status != .submitted {
                if let outcome = meeting.decided[applicationId] {
                    item["decided"] = language.word("outcome.\(outcome.rawValue)")
                } else {
                    item["statusNow"] = language.applicationStatus(application.status.rawValue, requested: content.requested, granted: nil)
                }
                // Typing kept for a decision no longer to be made here is of no more use.
                if let kept { try await kept.accounts.dropFormDraft(userId: kept.userId, key: key) }
            } else {
                requested[drafted.poolId, default: 0] += content.requested.minorUnits
                var typed = DecisionFields(amount: language.plainAmount(content.requested), period: defaultPeriod(pool, at: held.occurredAt))
                var errors = FieldErrors()
                if let kept, let draft = try await kept.accounts.formDraft(userId: kept.userId, key: key, as: DecisionFields.self, errors: FieldErrors.self) {
                    (typed, errors) = draft
                }
                item["form"] = decisionForm(typed, errors, applicationId: applicationId, version: application.version, content: content, pool: pool,
                                            held: held, group: group, language: language)
            }
            items.append(item)
        }
        let money = try await services.moneyLeft(requested, language: language)
        return pages.fragment("steering-meeting-pack", [
            "meetingId": meetingId.uuidString.lowercased(), "csrf": Self.csrfMarker, "items": items, "hasItems": !items.isEmpty,
            "money": money, "hasMoney": !money.isEmpty,
        ], language: language).split(separator: Self.csrfMarker, omittingEmptySubsequences: false)
    }
}

/// The member's seat: the steering group and the member id the signed-in user holds.
struct SteeringSeat {
    var groupId: UUID
    var member: String
}

extension Services {
    func steeringSeat(_ request: Request, _ page: PageContext, to action: String) async throws -> SteeringSeat {
        let identity = try await auth.require(request, [.steering], to: action, signedIn: page.user)
        guard let seat = page.user?.roles.first(where: { $0.role == .steering && $0.member == identity.member }),
              let groupId = seat.groupId, let member = seat.member else {
            throw Problem.forbidden("sign in as a member of a steering group to read its pack")
        }
        return SteeringSeat(groupId: groupId, member: member)
    }

    /// One application as the pack shows it: answers, the version decided,
    /// the pool's rules checked by the domain, and the reader's recusal.
    func packItem(_ application: ApplicationState, id: UUID, pool: PoolState, group: SteeringGroupState, present: [String], reader: String,
                  language: Language) -> [String: Any]? {
        guard let content = application.content else { return nil }
        var item: [String: Any] = [
            "id": id.uuidString.lowercased(), "title": content.title, "organisation": content.organisation,
            "projectLeader": content.projectLeader, "requested": language.money(content.requested), "version": String(application.version),
            "submittedAt": application.submittedAt.map(language.moment) ?? "–",
            "description": content.description.isEmpty ? "–" : content.description,
            "partners": content.partners.isEmpty ? "–" : content.partners.joined(separator: ", "),
            "focusAreas": content.focusAreas.isEmpty ? "–" : content.focusAreas.joined(separator: ", "),
            "budget": content.budget.map { ["category": $0.category, "period": $0.period, "amount": language.money($0.amount)] },
            "hasBudget": !content.budget.isEmpty,
            // Attached only once a scan passed them (or with scanning off): each links to its download.
            "documents": application.documents.map { attached -> [String: Any] in
                let facts = attached.document
                return ["name": facts.fileName, "kind": (DocumentKinds.allowed[facts.mediaType] ?? facts.mediaType).uppercased(),
                        "size": language.bytes(facts.size), "href": "\(DocumentOwner.application(id).apiPath)/\(facts.sha256)"]
            },
            "hasDocuments": !application.documents.isEmpty,
        ]
        if let students = content.studentsReached { item["studentsReached"] = String(students) }
        let rules = pool.created?.eligibility ?? EligibilityRules()
        item["rules"] = language.rules(rules)
        do throws(DomainError) {
            _ = try Eligibility.check(content, rules: rules, group: group)
            item["eligible"] = true
        } catch {
            // Submitted, it met them; a rule changed since is named.
            if case .ineligible(let rule, _) = error { item["ineligibleRule"] = language.word("rule.\(rule)", fallback: rule) }
            else { item["ineligibleRule"] = error.description }
        }
        let recusals = RecordDecision.recusals(present: present, group: group, content: content)
        if let own = recusals.first(where: { $0.member == reader }) {
            item["recused"] = language.word("youAreRecused", ["affiliation": own.affiliation])
        }
        item["recusals"] = recusals.filter { $0.member != reader }.map {
            language.word("memberRecused", ["member": group.members[$0.member]?.name ?? $0.member, "affiliation": $0.affiliation])
        }
        return item
    }

    /// What the applications on an agenda ask of each pool, against what it has left, per period and source.
    func moneyLeft(_ requestedByPool: [UUID: Int64], language: Language) async throws -> [[String: Any]] {
        let reads = ReadModels(client: store.client, logger: logger)
        var money: [[String: Any]] = []
        for (poolId, requested) in requestedByPool.sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
            guard let pool = try await reads.pools(poolId).first else { continue }
            let currency = try Currency(code: pool.currency)
            money.append(["pool": pool.name, "requested": language.money(Money(minorUnits: requested, currency: currency)),
                          "available": language.money(pool.totals.available),
                          "periods": pool.periods.map { ["period": $0.period, "available": language.money($0.available)] },
                          "sources": pool.sources.map { ["name": $0.name, "available": language.money($0.available)] }])
        }
        return money
    }
}

/// The period a decision at a meeting most likely draws on: the meeting's
/// year when the pool has it, else the pool's last open period.
private func defaultPeriod(_ pool: PoolState, at date: Date) -> String {
    let periods = pool.created?.periods.map(\.period) ?? []
    let year = String(Calendar(identifier: .gregorian).component(.year, from: date))
    return periods.contains(year) ? year : periods.last ?? ""
}

/// The decision form as the member filled it in: kept, with the refusal, until it is accepted.
struct DecisionFields: Codable, Sendable {
    var outcome = "approve"
    var amount = ""
    var period = ""
    var conditions = ""
    var reason = ""
    /// One of ``tranchePlans``.
    var tranches = "standard"
    /// Amounts typed per funding source; none: the domain's own allocation.
    var sources: [String: String] = [:]
    /// The version the page showed: sent with the form, never kept with the typing.
    var version = ""
    var votes: [String: String] = [:]

    /// The payment plans a decision chooses from, as shares of the grant and what releases each.
    static let tranchePlans: [(key: String, tranches: [TrancheSpec])] = [
        ("standard", TrancheSpec.standard),
        ("half", [TrancheSpec(percent: 50, trigger: .signing), TrancheSpec(percent: 50, trigger: .finalReport)]),
        ("whole", [TrancheSpec(percent: 100, trigger: .signing)]),
    ]

    static func key(_ meeting: UUID, _ application: UUID) -> String { "decision:\(meeting.uuidString):\(application.uuidString)" }
    /// The fields an error can stand beside; any other is the form's as a whole.
    static let formFields: Set<String> = ["outcome", "amount", "period", "conditions", "reason", "votes", "sources", "tranches"]

    init(amount: String, period: String) {
        self.amount = amount
        self.period = period
    }

    init(_ fields: FormFields) {
        outcome = fields.text("outcome")
        amount = fields.text("amount")
        period = fields.text("period")
        conditions = fields.text("conditions")
        reason = fields.text("reason")
        version = fields.text("version")
        tranches = fields.text("tranches").isEmpty ? "standard" : fields.text("tranches")
        for (name, value) in fields.values where name.hasPrefix("vote.") && !value.isEmpty {
            votes[String(name.dropFirst("vote.".count))] = value
        }
        for (name, _) in fields.values where name.hasPrefix("source.") && !fields.text(name).isEmpty {
            sources[String(name.dropFirst("source.".count))] = fields.text(name)
        }
    }

    /// The domain's command, or nil with `errors` naming what could not be read.
    func command(meetingId: UUID, applicationId: UUID, currency: Currency, language: Language, errors: inout FieldErrors) throws -> RecordDecision? {
        guard let version = Int(version) else { throw Problem.badRequest(rule: "invalid-value", field: "version", "version must be the version the page showed") }
        var votes: [Vote] = []
        for (member, choice) in self.votes.sorted(by: { $0.key < $1.key }) {
            guard let vote = VoteChoice(rawValue: choice) else {
                throw Problem.badRequest(rule: "invalid-value", field: "votes", "a vote is for, against or abstain")
            }
            votes.append(Vote(member: member, vote: vote))
        }
        let decided: RecordDecision.Outcome
        switch DecisionOutcome(rawValue: outcome) {
        case .approve:
            guard let canonical = language.parseAmount(amount, currency: currency) else {
                errors.add("amount", language.word("amountUnreadable", ["example": language.plainAmount(Money(minorUnits: 25_000_000, currency: currency))]))
                return nil
            }
            let lines = conditions.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            var parts: [SourceAmount] = []
            for (source, typed) in sources.sorted(by: { $0.key < $1.key }) {
                guard let part = language.parseAmount(typed, currency: currency) else {
                    errors.add("sources", language.word("sourceAmountUnreadable", ["source": source]))
                    return nil
                }
                parts.append(SourceAmount(source: source, amount: try Money(part, currency, field: "sources")))
            }
            guard let plan = Self.tranchePlans.first(where: { $0.key == tranches }) else {
                errors.add("tranches", language.word("chooseTranches"))
                return nil
            }
            decided = .approve(.init(amount: try Money(canonical, currency, field: "amount"), period: period, sources: parts.isEmpty ? nil : parts,
                                     conditions: lines, tranches: plan.tranches))
        case .reject: decided = .reject(reason: reason)
        case .revise: decided = .revise(reason: reason)
        case nil:
            errors.add("outcome", language.word("chooseOutcome"))
            return nil
        }
        return RecordDecision(meetingId: meetingId, applicationId: applicationId, applicationVersion: version, votes: votes, outcome: decided, at: Date())
    }
}

/// The form's values: the outcome, money, period, votes, each with its error.
private func decisionForm(_ kept: DecisionFields, _ errors: FieldErrors, applicationId: UUID, version: Int, content: ApplicationContent, pool: PoolState,
                          held: MeetingHeld, group: SteeringGroupState, language: Language) -> [String: Any] {
    let recused = Dictionary(RecordDecision.recusals(present: held.present, group: group, content: content).map { ($0.member, $0.affiliation) },
                             uniquingKeysWith: { first, _ in first })
    func field(_ name: String, label: String, value: String, hint: String? = nil) -> [String: Any] {
        language.field(name, label: label, value: value, hint: hint, hintValues: ["requested": language.money(content.requested)], error: errors[name])
    }
    let id = applicationId.uuidString.lowercased()
    // The version shown now, never a kept one: after "the application changed", a reload decides on the new version.
    var form: [String: Any] = [
        "applicationId": id, "version": String(version),
        "outcomes": ["approve", "reject", "revise"].map { ["value": $0, "label": language.word("outcome.\($0)"), "checked": kept.outcome == $0] },
        "amount": field("amount", label: "amountGranted", value: kept.amount, hint: "amountGrantedHint"),
        "periods": (pool.created?.periods.map(\.period) ?? []).map { ["value": $0, "selected": $0 == kept.period] },
        "conditions": field("conditions", label: "conditions", value: kept.conditions, hint: "conditionsHint"),
        "reason": field("reason", label: "decisionReason", value: kept.reason, hint: "decisionReasonHint"),
        "tranchePlans": DecisionFields.tranchePlans.map { plan in
            ["value": plan.key, "label": language.tranchePlan(plan.tranches), "checked": plan.key == kept.tranches] as [String: Any]
        },
        "sourceFields": (pool.created?.sources ?? []).enumerated().map { index, source in
            let available = pool.sources[source.id].map { pool.money($0.available) }
            return ["id": source.id, "index": String(index), "name": source.name, "value": kept.sources[source.id] ?? "",
                    "available": available.map { language.word("sourceLeft", ["amount": language.money($0)]) } ?? "",
                    "earmark": source.earmarkedFor.map { language.word("earmarkedForList", ["names": $0.joined(separator: ", ")]) } ?? ""] as [String: Any]
        },
        "voters": held.present.map { member -> [String: Any] in
            // Every voter has its own `isRecused`: a missing key would be looked up on the card, which says whether the reader is.
            var voter: [String: Any] = ["member": member, "name": group.members[member]?.name ?? member, "isRecused": recused[member] != nil]
            if let affiliation = recused[member] {
                voter["recusal"] = language.word("recusedFrom", ["affiliation": affiliation])
            }
            voter["choices"] = ["for", "against", "abstain"].map { (choice: String) -> [String: Any] in ["value": choice, "label": language.word("choice.\(choice)"), "selected": kept.votes[member] == choice] }
            return voter
        },
        "errors": errors.entries.map { ["field": DecisionFields.formFields.contains($0.field) ? "\($0.field)-\(id)" : "decide-\(id)", "message": $0.message] },
        "hasErrors": !errors.isEmpty,
    ]
    // A section shows for any value, even "": only the errors there are.
    if let error = errors["outcome"] { form["outcomeError"] = error }
    if let error = errors["period"] { form["periodError"] = error }
    if let error = errors["votes"] { form["votesError"] = error }
    if let error = errors["sources"] { form["sourcesError"] = error }
    if let error = errors["tranches"] { form["tranchesError"] = error }
    if let error = errors["application"] { form["formError"] = error }
    return form
}

/// The streams a meeting's pack reads, as far as the states this process
/// folded before tell: the meeting, and its group, applications and their pools.
private func packStreams(_ meetingId: UUID, folded reader: Session) -> [String] {
    var streams = [MeetingState.streamName(meetingId)]
    guard let held = reader.peek(MeetingState.self, meetingId)?.held else { return streams }
    streams.append(SteeringGroupState.streamName(held.groupId))
    var pools = Set<UUID>()
    for applicationId in held.agenda {
        streams.append(ApplicationState.streamName(applicationId))
        if let poolId = reader.peek(ApplicationState.self, applicationId)?.drafted?.poolId, pools.insert(poolId).inserted {
            streams.append(PoolState.streamName(poolId))
        }
    }
    return streams
}

extension Language {
    /// A payment plan in words: `40 % efter underskrift, 40 % efter godkendt statusrapport, …`.
    func tranchePlan(_ tranches: [TrancheSpec]) -> String {
        tranches.map { word("trancheShare", ["percent": String($0.percent), "trigger": word("trigger.\($0.trigger.rawValue)")]) }.joined(separator: ", ")
    }

    /// A refused decision, in words, on the field it concerns.
    /// `name`: a member's name from their id.
    func decisionRefusal(_ error: any Error, content: ApplicationContent, name: (String) -> String) -> (field: String, message: String) {
        let da = self == .da
        switch error {
        case DomainError.memberRecused(let member, let affiliation):
            return ("votes", da ? "\(name(member)) er inhabil (\(affiliation)) og kan ikke stemme om denne ansøgning."
                                : "\(name(member)) is recused (\(affiliation)) and cannot vote on this application.")
        case DomainError.memberAbsent(let member):
            return ("votes", da ? "\(name(member)) var ikke til stede og kan ikke stemme." : "\(name(member)) was not present and cannot vote.")
        case DomainError.notAMember:
            return ("votes", refusal(error, content: content, rules: nil).message)
        case DomainError.quorumNotReached(let eligible, let needed, let members):
            return ("votes", da ? "Mødet er ikke beslutningsdygtigt: \(eligible) kan stemme, der skal \(needed) af \(members) til."
                                : "No quorum: \(eligible) can vote, \(needed) of \(members) are needed.")
        case DomainError.motionNotCarried(let votesFor, let votesAgainst):
            return ("votes", da ? "Forslaget har ikke flertal: \(votesFor) for, \(votesAgainst) imod."
                                : "The motion is not carried: \(votesFor) for, \(votesAgainst) against.")
        case DomainError.insufficientFunds(let period, let available, let requested):
            return ("amount", da ? "Der er \(money(available)) tilbage i \(period); beslutningen binder \(money(requested))."
                                 : "\(money(available)) is left in \(period); the decision commits \(money(requested)).")
        case DomainError.callCapExceeded(_, let cap, let committed, let requested):
            return ("amount", da ? "Opslaget uddeler højst \(money(cap)); \(money(committed)) er bevilget, og \(money(requested)) mere er for meget."
                                 : "The call awards at most \(money(cap)); \(money(committed)) is committed and \(money(requested)) more is too much.")
        case DomainError.meetingNotYetHeld(_, let date, _):
            return ("application", da ? "Mødet er først \(moment(date)); beslutningen kan registreres fra da."
                                      : "The meeting is not until \(moment(date)); the decision can be recorded from then.")
        case DomainError.applicationVersionMismatch(let decidedOn, let current):
            return ("application", da ? "Ansøgningen er ændret (version \(current)) siden siden viste version \(decidedOn). Indlæs siden igen."
                                      : "The application changed (version \(current)) since the page showed version \(decidedOn). Reload the page.")
        case DomainError.invalidInput(let field, let reason) where field == "amount" && reason.contains("more than"):
            return ("amount", da ? "Mere end de \(money(content.requested)), der er ansøgt om." : "More than the \(money(content.requested)) requested.")
        case DomainError.invalidInput(let field, let reason) where field == "reason" && reason == "must not be empty":
            return ("reason", word("reasonRequired"))
        case DomainError.invalidInput(let field, let reason) where field == "sources" && reason.hasPrefix("parts add up to"):
            let parts = reason.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",")) }
                .compactMap { try? Money($0, content.requested.currency) }
            guard parts.count == 2 else { return ("sources", reason) }
            return ("sources", sentence(word("sourcesMismatch", ["parts": money(parts[0]), "amount": money(parts[1])])))
        case DomainError.sourceInsufficient(let source, let available, let requested):
            return ("sources", sentence(word("sourceInsufficient", ["source": source, "available": money(available), "requested": money(requested)])))
        case DomainError.sourceNotAvailable(let source, let reason):
            return ("sources", word("sourceNotAvailable", ["source": source, "reason": reason]))
        case DomainError.notFound(let kind, let id) where kind == "funding source":
            return ("sources", word("sourceUnknown", ["source": id]))
        case DomainError.fundsArrivedLater(let account, let date, let availableThen, let requested) where account.hasPrefix("funding source "):
            return ("sources", sentence(word("sourceLaterFunds", ["source": String(account.dropFirst("funding source ".count)), "date": day(date),
                                                                  "available": money(availableThen), "requested": money(requested)])))
        default:
            return refusal(error, content: content, rules: nil)
        }
    }
}
