import Audit
import EventCoding
import EventStore
import Foundation
import GrantDomain
import Hummingbird

/// A grant for auditors: its state as of any instant (as recorded then, or
/// as true then), what has changed since, and its money over time as a
/// chart beside the same figures in a table.
func addGrantAuditPage(to routes: Routes, _ services: Services, pages: Pages) {
    routes.page("GET", "/audit/grants/:grantId") { request, context in
        try await services.auditorsPage(request, pages: pages, to: "replay grants") { page in
            let id = try request.uuidParameter(context, "grantId")
            let language = page.language
            let form = AsOfForm(request, language: language)
            let lowered = id.uuidString.lowercased()
            let history = try await services.store.readStream(try StreamID(GrantState.streamName(id)))
            let events = try history.map { try EventCoding.decode(type: $0.type, schemaVersion: $0.schemaVersion, data: $0.data, among: GrantState.eventTypes) }
            guard let awarded = events.first as? GrantAwarded else { throw Problem.notFound("grant", id.uuidString) }
            var values = form.values.merging([
                "title": language.word("grantAuditTitle", ["title": awarded.title]), "action": "/audit/grants/\(lowered)",
                "trailHref": "/audit/decisions/\(awarded.applicationId.uuidString.lowercased())", "organisation": awarded.organisation,
                "packHref": "/v1/audit/grants/\(lowered)/pack",
            ]) { $1 }
            guard let asOf = form.instant else { return pages.render("audit-grant", values, page, status: .unprocessableContent) }
            let basis = form.basis
            let replay = AsOfReplay(store: services.store)
            let then = try await replay.grant(id, asOf: asOf, basis: basis)
            values["heading"] = language.word(basis == .recorded ? "grantAsRecorded" : "grantAsTrue", ["moment": language.moment(asOf)])
            values["eventsLine"] = language.word("poolEventsReplayed", ["count": language.count(Int64(then.eventsApplied))])

            // The grant's money after each of its events, as they happened (the chart draws what is true, with the instant marked).
            var state = GrantState.initial
            var steps: [MoneyStep] = []
            for (recorded, event) in zip(history, events).sorted(by: { ($0.0.occurredAt, $0.0.streamVersion) < ($1.0.occurredAt, $1.0.streamVersion) }) {
                state = state.evolve(event)
                steps.append(MoneyStep(at: recorded.occurredAt, granted: state.amount, paid: state.paid,
                                       what: language.word("event.\(recorded.type)", fallback: recorded.type)))
            }
            values["chart"] = MoneyStep.chart(steps, until: Date(), marker: asOf, language: language)
            values["steps"] = steps.map { ["day": language.day($0.at), "what": $0.what, "granted": language.money($0.granted), "paid": language.money($0.paid)] }

            guard then.exists else {
                values["notYet"] = language.word("grantNotYet")
                return pages.render("audit-grant", values, page)
            }
            values["facts"] = [["label": language.word("granted"), "value": language.money(then.granted)],
                               ["label": language.word("paid"), "value": language.money(then.paid)],
                               ["label": language.word("remaining"), "value": language.money(then.remaining)],
                               ["label": language.word("reportsApprovedOfFiled"),
                                "value": language.word("countOfCount", ["count": String(then.reportsApproved), "of": String(then.reportsFiled)])]]
            if then.cancelled { values["cancelled"] = language.word("grantCancelledThen") }
            values["tranches"] = then.tranches.map { tranche in
                ["number": String(tranche.number), "amount": language.money(tranche.amount), "trigger": language.word("trigger.\(tranche.trigger)"),
                 "status": language.word("tranche.\(tranche.status)")]
            }
            guard !form.isNow else { return pages.render("audit-grant", values, page) }
            let now = try await replay.grant(id, asOf: Date(), basis: basis)
            let later = now.eventsApplied - then.eventsApplied
            values["changedLine"] = language.word(later == 0 ? "nothingSince" : later == 1 ? "oneGrantEventSince" : "grantEventsSince",
                                                  ["count": language.count(Int64(later))])
            if later > 0 {
                let change = language.changeRow
                let statusThen = Dictionary(then.tranches.map { ($0.number, $0.status) }) { first, _ in first }
                values["changes"] = [change(language.word("granted"), then.granted, now.granted), change(language.word("paid"), then.paid, now.paid),
                                     change(language.word("remaining"), then.remaining, now.remaining)]
                values["trancheChanges"] = now.tranches.compactMap { tranche -> [String: Any]? in
                    guard let before = statusThen[tranche.number], before != tranche.status else { return nil }
                    return ["number": String(tranche.number), "then": language.word("tranche.\(before)"), "now": language.word("tranche.\(tranche.status)")]
                }
                values["hasChanges"] = true
            }
            return pages.render("audit-grant", values, page)
        }
    }
}

extension Language {
    /// A row of a "changed since" table: a figure then, now, and the change with its sign.
    func changeRow(_ label: String, _ then: Money, _ now: Money) -> [String: Any] {
        ["label": label, "then": money(then), "now": money(now),
         "change": signedMoney(Money(minorUnits: now.minorUnits &- then.minorUnits, currency: now.currency))]
    }
}

/// A grant's money after one of its events: what is granted, what is paid.
struct MoneyStep {
    var at: Date
    var granted, paid: Money
    var what: String

    static let width = 720.0, height = 240.0, left = 130.0, right = 700.0, top = 12.0, bottom = 200.0

    /// An SVG's geometry for the grant-chart template: what is granted and
    /// what is paid as steps over time, from the award to `until`, with
    /// `marker` (the as-of instant) drawn where it falls.
    static func chart(_ steps: [MoneyStep], until: Date, marker: Date?, language: Language) -> [String: Any] {
        guard let first = steps.first else { return [:] }
        let start = first.at.timeIntervalSince1970
        let end = max(until.timeIntervalSince1970, steps.last!.at.timeIntervalSince1970, start + 86_400)
        let largest = Double(steps.map { max($0.granted.minorUnits, $0.paid.minorUnits) }.max() ?? 0)
        func x(_ date: Date) -> Double { left + (date.timeIntervalSince1970 - start) / (end - start) * (right - left) }
        func y(_ money: Money) -> Double { largest > 0 ? bottom - Double(money.minorUnits) / largest * (bottom - top) : bottom }
        func path(_ amount: (MoneyStep) -> Money) -> String {
            var d = "M \(svgNumber(x(first.at))) \(svgNumber(y(amount(first))))"
            for step in steps.dropFirst() { d += " H \(svgNumber(x(step.at))) V \(svgNumber(y(amount(step))))" }
            return d + " H \(svgNumber(right))"
        }
        var values: [String: Any] = [
            "title": language.word("grantChartTitle"), "width": String(Int(width)), "height": String(Int(height)),
            "left": svgNumber(left), "right": svgNumber(right), "top": svgNumber(top), "bottom": svgNumber(bottom), "labelX": svgNumber(left - 6),
            "axisLabelY": svgNumber(bottom + 18), "topLabelY": svgNumber(top + 4), "bottomLabelY": svgNumber(bottom + 4),
            "largest": language.money(Money(minorUnits: Int64(largest), currency: first.granted.currency)),
            "zero": language.money(.zero(first.granted.currency)), "from": language.day(first.at),
            "until": language.day(Date(timeIntervalSince1970: end)),
            "grantedPath": path(\.granted), "paidPath": path(\.paid),
        ]
        if let marker, marker.timeIntervalSince1970 >= start, marker.timeIntervalSince1970 <= end {
            // The label on the side with room for it.
            let onRight = x(marker) < (left + right) / 2
            values["marker"] = ["x": svgNumber(x(marker)), "label": language.day(marker), "labelY": svgNumber(top + 10),
                                "anchor": onRight ? "start" : "end", "dx": onRight ? "4" : "-4"]
        }
        return values
    }
}

/// An application's path through the process as stops on a line, in the
/// order they happened, each with its day: drafted, amended, submitted,
/// the meeting, the decision, the grant and its payments.
struct PathStop {
    var label: String
    var day: String

    static let spacing = 140.0, lineY = 40.0, first = 100.0

    static let shown: Set<String> = [
        ApplicationDrafted.eventType, ApplicationAmended.eventType, ApplicationSubmitted.eventType, ApplicationWithdrawn.eventType,
        MeetingHeld.eventType, ApplicationApproved.eventType, ApplicationRejected.eventType, ApplicationReturnedForRevision.eventType,
        GrantAwarded.eventType, ReportFiled.eventType, PaymentMarkedPaid.eventType, GrantReduced.eventType, GrantCancelled.eventType,
        RepaymentRecorded.eventType,
    ]

    /// Stops alternate their labels above and below the line, so that neighbours never overlap.
    static func chart(_ stops: [PathStop], title: String) -> [String: Any] {
        let rows: [[String: Any]] = stops.enumerated().map { index, stop in
            let x = first + Double(index) * spacing
            let above = index % 2 == 0
            return ["x": svgNumber(x), "label": stop.label, "day": stop.day,
                    "labelY": svgNumber(above ? lineY - 22 : lineY + 30), "dayY": svgNumber(above ? lineY - 8 : lineY + 44)]
        }
        let width = 2 * first + Double(max(stops.count - 1, 0)) * spacing
        return ["title": title, "stops": rows, "width": String(Int(width)), "height": "96", "lineY": svgNumber(lineY),
                "lineStart": svgNumber(first), "lineEnd": svgNumber(first + Double(max(stops.count - 1, 0)) * spacing), "hasStops": !stops.isEmpty]
    }
}
