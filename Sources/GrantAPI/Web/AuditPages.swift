import Audit
import Foundation
import GrantDomain
import Hummingbird

/// The auditor's pages (administrators may read them too). Reading only:
/// nothing here changes the history.
func addAuditPages(to routes: Routes, _ services: Services, pages: Pages) {
    /// Who held which role at an instant, and who gave it to them: the
    /// same replay as `GET /v1/audit/roles`. A query, so a GET form: the
    /// address can be kept and sent on.
    routes.page("GET", "/audit/roles") { request, _ in
        try await services.page(request, pages: pages) {
            let page = try await services.pageContext(request, pages: pages)
            _ = try await services.auth.require(request, [.auditor, .admin], to: "replay who held which role", signedIn: page.user)
            let language = page.language
            let query = request.uri.queryParameters
            let day = query["day"].map(String.init) ?? "", time = query["time"].map(String.init) ?? ""
            let basis = TimeBasis(rawValue: query["basis"].map(String.init) ?? "") ?? .recorded
            let role = query["role"].flatMap { UserRole(rawValue: String($0)) }
            var errors = FieldErrors()
            let asOf = asOfInstant(day: day, time: time, language: language, errors: &errors)
            var values: [String: Any] = [
                "title": language.word("rolesAsOfTitle"), "day": day, "time": time,
                "recorded": basis == .recorded, "occurred": basis == .occurred,
                "roleChoices": [["value": "", "label": language.word("allRoles"), "selected": role == nil] as [String: Any]]
                    + UserRole.allCases.map { ["value": $0.rawValue, "label": language.word("role.\($0.rawValue)"), "selected": role == $0] },
                "errors": errors.entries.map { ["field": FieldErrors.anchor($0.field), "message": $0.message] }, "hasErrors": !errors.isEmpty,
            ]
            if let error = errors["day"] { values["dayError"] = error }
            if let error = errors["time"] { values["timeError"] = error }
            guard let asOf else { return pages.render("audit-roles", values, page, status: .unprocessableContent) }
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
