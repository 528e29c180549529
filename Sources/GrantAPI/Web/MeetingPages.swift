import Accounts
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import Projections

/// Administrators schedule a steering group's meetings: the day (and, if
/// known, the time), who is present, and which waiting applications are on
/// the agenda. A meeting dated ahead is scheduled; its decisions can be
/// recorded from its date (the domain's rule). Afterwards, its page changes
/// who is present and what is on the agenda.
func addMeetingPages(to routes: Routes, _ services: Services, pages: Pages, accounts: Accounts) {
    let handler = services.commands
    let draftKey = "admin-meeting"

    routes.page("GET", "/admin/meetings") { request, _ in
        try await services.administratorsPage(request, pages: pages, to: "schedule meetings", reading: [.agendas, .poolBalances]) { page, adminId in
            let language = page.language
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            var groups: [(id: UUID, name: String)] = []
            for groupId in Set(try await reads.pools(nil).map(\.steeringGroupId)) {
                if let created = try await handler.current(SteeringGroupState.self, groupId).state.created { groups.append((groupId, created.name)) }
            }
            groups.sort { $0.name < $1.name }
            var kept: [String: String] = [:]
            var errors = FieldErrors()
            if let draft = try await accounts.formDraft(userId: adminId, key: draftKey, as: [String: String].self, errors: FieldErrors.self) {
                (kept, errors) = draft
            }
            let chosen = request.uri.queryParameters["group"].flatMap { UUID(uuidString: String($0)) }
                ?? kept["group"].flatMap(UUID.init(uuidString:)) ?? groups.first?.id
            var values: [String: Any] = [
                "title": language.word("meetingsAdminTitle"),
                "groups": groups.map { ["id": $0.id.uuidString.lowercased(), "name": $0.name, "selected": $0.id == chosen] },
            ]
            if let chosen, let group = try await handler.current(SteeringGroupState.self, chosen).state.created {
                let typed = kept["group"] == chosen.uuidString.lowercased() ? kept : [:]
                values["groupId"] = chosen.uuidString.lowercased()
                values["groupName"] = group.name
                values["meetings"] = try await reads.meetings(group: chosen).map { meeting in
                    ["id": meeting.id.uuidString.lowercased(), "date": language.moment(meeting.heldAt), "present": String(meeting.present),
                     "href": "/admin/meetings/\(meeting.id.uuidString.lowercased())",
                     "agenda": String(meeting.agenda), "decided": String(meeting.decisions)]
                }
                values["members"] = group.members.map { member in
                    ["id": member.id, "name": member.name, "checked": typed.isEmpty || typed["present.\(member.id)"] != nil]
                }
                let waiting = try await reads.agenda(group: chosen)
                values["waiting"] = waiting.map { item in
                    let id = item.applicationId.uuidString.lowercased()
                    return ["id": id, "title": item.title, "organisation": item.organisation, "requested": language.money(item.requested),
                            "checked": typed.isEmpty || typed["agenda.\(id)"] != nil] as [String: Any]
                }
                values["hasWaiting"] = !waiting.isEmpty
                func field(_ name: String, label: String, hint: String) -> [String: Any] {
                    language.field(name, label: label, value: typed[name] ?? "", hint: hint, error: errors[name])
                }
                values["day"] = field("day", label: "meetingDay", hint: "meetingDayHint")
                values["time"] = field("time", label: "meetingTime", hint: "meetingTimeHint")
                if let error = errors["present"] { values["presentError"] = error }
                if let error = errors["agenda"] { values["agendaError"] = error }
                values.merge(errors.summary) { $1 }
            }
            return pages.render("meetings", values, page)
        }
    }

    routes.page("POST", "/admin/meetings") { request, _ in
        try await services.form(request, pages: pages, [.admin], to: "schedule meetings") { fields, identity in
            let adminId = try identity.pageUser()
            let language = Language(request)
            let groupId = try fields.uuid("group")
            let group = groupId.uuidString.lowercased()
            var errors = FieldErrors()
            let present = fields.values.keys.filter { $0.hasPrefix("present.") }.map { String($0.dropFirst("present.".count)) }.sorted()
            let agenda = fields.values.keys.filter { $0.hasPrefix("agenda.") }.compactMap { UUID(uuidString: String($0.dropFirst("agenda.".count))) }
                .sorted { $0.uuidString < $1.uuidString }
            var date: (Date, Bool)?
            let day = fields.text("day"), time = fields.text("time")
            if day.isEmpty {
                errors.add("day", language.word("meetingDayMissing"))
            } else if let instant = asOfInstant(day: day, time: time, language: language, errors: &errors) {
                if time.isEmpty, case .success(let parsed) = CivilTime.parse(day) {
                    date = (parsed.date, true)  // a whole day, as the API reads one
                } else {
                    // The minute named in Copenhagen (the check above gives its last instant): the meeting starts at its beginning.
                    date = (Date(timeIntervalSince1970: (instant.timeIntervalSince1970 / 60).rounded(.down) * 60), false)
                }
            }
            if let (at, byDay) = date, errors.isEmpty {
                do {
                    let result = try await handler.holdMeeting(
                        HoldMeeting(meetingId: UUID.random(), groupId: groupId, date: at, datedByDay: byDay, present: present, agenda: agenda),
                        identity.commandContext)
                    try await accounts.dropFormDraft(userId: adminId, key: draftKey)
                    return Pages.redirect("/admin/meetings?group=\(group)&flash=meetingScheduled&after=\(result.position)")
                } catch let error where Problem.from(error).map({ $0.status.code < 500 }) ?? false {
                    let refusal = language.refusal(error, content: nil, rules: nil)
                    // An application the agenda may not take (unknown, a draft, another group's) is the agenda's error.
                    let aboutAnApplication = switch error as? DomainError {
                    case .invalidState("application", _, _, _)?, .notFound("application", _)?: true
                    default: false
                    }
                    errors.add(["present", "agenda", "day"].first { refusal.field.hasPrefix($0) } ?? (aboutAnApplication ? "agenda" : "day"),
                               refusal.message)
                }
            }
            var typed = ["group": group, "day": day, "time": time]
            for member in present { typed["present.\(member)"] = "on" }
            for application in agenda { typed["agenda.\(application.uuidString.lowercased())"] = "on" }
            try await accounts.keepFormDraft(userId: adminId, key: draftKey, fields: typed, errors: errors)
            return Pages.redirect("/admin/meetings?group=\(group)#schedule")
        }
    }

    /// One meeting: who is present and what is on the agenda, each a form of its own.
    routes.page("GET", "/admin/meetings/:meetingId") { request, context in
        try await services.administratorsPage(request, pages: pages, to: "change meetings", reading: [.agendas]) { page, adminId in
            let meetingId = try request.uuidParameter(context, "meetingId")
            let language = page.language
            let meeting = try await handler.current(MeetingState.self, meetingId).state
            guard let held = meeting.held else { throw Problem.notFound("meeting", meetingId.uuidString) }
            let group = try await handler.current(SteeringGroupState.self, held.groupId).state
            var typed: [String: String] = [:]
            var errors = FieldErrors()
            if let draft = try await accounts.formDraft(userId: adminId, key: meetingDraftKey(meetingId), as: [String: String].self,
                                                        errors: FieldErrors.self) {
                (typed, errors) = draft
            }
            let keptForm = typed["form"]
            let title = language.word("meetingTitle", ["date": held.datedByDay == true ? language.day(held.occurredAt) : language.moment(held.occurredAt),
                                                       "group": group.created?.name ?? ""])
            var values: [String: Any] = [
                "title": title, "meetingId": meetingId.uuidString.lowercased(), "groupId": held.groupId.uuidString.lowercased(),
                "members": group.members.values.sorted { $0.name < $1.name }.map { member -> [String: Any] in
                    ["id": member.id, "name": member.name,
                     "checked": keptForm == "attendance" ? typed["present.\(member.id)"] != nil : held.present.contains(member.id)]
                },
                "attendanceReason": language.field("attendanceReason", label: "changeReason", value: keptForm == "attendance" ? typed["attendanceReason"] ?? "" : "",
                                                   hint: "changeReasonHint", error: errors["attendanceReason"]),
                "agendaReason": language.field("agendaReason", label: "changeReason", value: keptForm == "agenda" ? typed["agendaReason"] ?? "" : "",
                                               hint: "changeReasonHint", error: errors["agendaReason"]),
            ]
            // On the agenda first, in its order, then what waits for the group; decided items stay and cannot be unticked.
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            let onAgenda = Set(held.agenda)
            let waiting = try await reads.agenda(group: held.groupId).filter { !onAgenda.contains($0.applicationId) }
            var items: [[String: Any]] = []
            let reader = handler.reader()
            try await reader.prefetch(held.agenda.map(ApplicationState.streamName))
            for applicationId in held.agenda {
                let content = try await reader.load(ApplicationState.self, applicationId).state.content
                items.append(agendaChoice(applicationId, title: content?.title, organisation: content?.organisation, requested: content?.requested,
                                          decided: meeting.decided[applicationId] != nil, onAgenda: true, typed: keptForm == "agenda" ? typed : nil, language))
            }
            for item in waiting {
                items.append(agendaChoice(item.applicationId, title: item.title, organisation: item.organisation, requested: item.requested,
                                          decided: false, onAgenda: false, typed: keptForm == "agenda" ? typed : nil, language))
            }
            values["items"] = items
            values["hasItems"] = !items.isEmpty
            if let error = errors["present"] { values["presentError"] = error }
            if let error = errors["agenda"] { values["agendaError"] = error }
            values.merge(errors.summary) { $1 }
            // The minutes and the meeting's other documents.
            let owner = DocumentOwner.meeting(meetingId)
            var refused: FieldErrors?
            if let (_, kept) = try await accounts.formDraft(userId: adminId, key: owner.formKey, as: [String: String].self, errors: FieldErrors.self) {
                refused = kept
                try await accounts.dropFormDraft(userId: adminId, key: owner.formKey)
            }
            values.merge(try await services.documentSection(meeting.documents, of: owner, language: language, canAttach: true, refused: refused)) { $1 }
            return pages.render("meeting-admin", values, page)
        }
    }

    /// A form on the meeting's page: the ticked boxes named `prefix<id>` and
    /// a reason. A refusal goes beside the list or the reason, with what was ticked kept.
    func meetingForm(_ name: String, _ what: String, prefix: String, reasonField: String,
                     _ run: @escaping @Sendable (UUID, [String], String, CommandContext) async throws -> CommandResult) {
        routes.page("POST", "/admin/meetings/:meetingId/\(name)") { request, context in
            try await services.form(request, pages: pages, [.admin], to: what) { fields, identity in
                let meetingId = try request.uuidParameter(context, "meetingId")
                let adminId = try identity.pageUser()
                let language = Language(request)
                let chosen = fields.values.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }.sorted()
                let reason = fields.text(reasonField)
                let page = "/admin/meetings/\(meetingId.uuidString.lowercased())"
                var errors = FieldErrors()
                do {
                    let result = try await run(meetingId, chosen, reason, identity.commandContext)
                    try await accounts.dropFormDraft(userId: adminId, key: meetingDraftKey(meetingId))
                    return Pages.redirect("\(page)?flash=\(name == "agenda" ? "agendaChanged" : "attendanceChanged")&after=\(result.position)")
                } catch DomainError.invalidInput(_, let reason) where ["the same members are present already", "the agenda is unchanged"].contains(reason) {
                    // Sent twice (a double click, Back and send again): what was asked for holds already.
                    try await accounts.dropFormDraft(userId: adminId, key: meetingDraftKey(meetingId))
                    return Pages.redirect("\(page)?flash=\(name == "agenda" ? "agendaChanged" : "attendanceChanged")")
                } catch let error where Problem.from(error).map({ $0.status.code < 500 && $0.status.code != 404 }) ?? false {
                    let refusal = language.refusal(error, content: nil, rules: nil)
                    errors.add(refusal.field == "reason" ? reasonField : prefix == "present." ? "present" : "agenda", refusal.message)
                }
                var typed = ["form": name, reasonField: reason]
                for id in chosen { typed[prefix + (UUID(uuidString: id)?.uuidString.lowercased() ?? id)] = "on" }
                try await accounts.keepFormDraft(userId: adminId, key: meetingDraftKey(meetingId), fields: typed, errors: errors)
                return Pages.redirect("\(page)#\(name)")
            }
        }
    }

    meetingForm("attendance", "change who is present at meetings", prefix: "present.", reasonField: "attendanceReason") { meetingId, chosen, reason, command in
        try await handler.changeAttendance(ChangeAttendance(meetingId: meetingId, present: chosen, reason: reason, at: Date()), command)
    }

    // What stays keeps its place on the agenda; what is added follows.
    meetingForm("agenda", "change meeting agendas", prefix: "agenda.", reasonField: "agendaReason") { meetingId, chosen, reason, command in
        var ticked: [UUID] = [], seen = Set<UUID>()
        for text in chosen {
            guard let id = UUID(uuidString: text) else { throw Problem.badRequest(rule: "invalid-value", field: "agenda", "an agenda item is not an application id") }
            if seen.insert(id).inserted { ticked.append(id) }
        }
        let current = try await handler.current(MeetingState.self, meetingId).state.held?.agenda ?? []
        let staying = Set(current)
        let agenda = current.filter(seen.contains) + ticked.filter { !staying.contains($0) }
        return try await handler.changeAgenda(ChangeAgenda(meetingId: meetingId, agenda: agenda, reason: reason, at: Date()), command)
    }
}

private func meetingDraftKey(_ meetingId: UUID) -> String { "admin-meeting-\(meetingId.uuidString.lowercased())" }

/// One application as a box on the agenda form. A decided one stays ticked,
/// disabled, and sent by a hidden field: the domain keeps it on the agenda anyway.
private func agendaChoice(_ id: UUID, title: String?, organisation: String?, requested: Money?, decided: Bool, onAgenda: Bool, typed: [String: String]?,
                          _ language: Language) -> [String: Any] {
    let key = id.uuidString.lowercased()
    var choice: [String: Any] = ["id": key, "title": title ?? key, "organisation": organisation ?? "", "decided": decided,
                                 "checked": decided || (typed.map { $0["agenda.\(key)"] != nil } ?? onAgenda)]
    if let requested { choice["requested"] = language.money(requested) }
    return choice
}
