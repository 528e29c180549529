import Foundation
import GrantCommands
import GrantDomain
import Hummingbird

/// Steering-group members: the pack for their group's next meeting. Each
/// application waiting for a decision with its answers, the version that
/// will be decided, the pool's eligibility rules checked by the domain's
/// own check, and whether the member reading is recused from it (the
/// domain's rule, shown, not re-implemented); what the agenda asks for
/// against what each pool has left.
func addSteeringPages(to routes: Routes, _ services: Services, pages: Pages) {
    let handler = services.commands

    routes.page("GET", "/steering") { request, _ in
        try await services.page(request, pages: pages) {
            let page = try await services.pageContext(request, pages: pages)
            let identity = try await services.auth.require(request, [.steering], to: "read the meeting pack", signedIn: page.user)
            guard let user = page.user,
                  let seat = user.roles.first(where: { $0.role == .steering && $0.member == identity.member }), let groupId = seat.groupId,
                  let member = seat.member else {
                throw Problem.forbidden("sign in as a member of a steering group to read its pack")
            }
            let language = page.language
            _ = try await services.waitForReadModels(request, ["agendas", "pool_balances"])
            let reads = ReadModels(client: services.store.client, logger: services.logger)
            let group = try await handler.current(SteeringGroupState.self, groupId).state
            let agenda = try await reads.agenda(group: groupId)
            var items: [[String: Any]] = []
            var requestedByPool: [UUID: Int64] = [:]
            for entry in agenda {
                let application = try await handler.current(ApplicationState.self, entry.applicationId).state
                guard let content = application.content else { continue }
                let pool = try await handler.current(PoolState.self, entry.poolId).state
                requestedByPool[entry.poolId, default: 0] += content.requested.minorUnits
                var item: [String: Any] = [
                    "id": entry.applicationId.uuidString.lowercased(), "title": content.title, "organisation": content.organisation,
                    "projectLeader": content.projectLeader, "requested": language.money(content.requested), "version": String(application.version),
                    "submittedAt": application.submittedAt.map(language.moment) ?? "–",
                    "description": content.description.isEmpty ? "–" : content.description,
                    "partners": content.partners.isEmpty ? "–" : content.partners.joined(separator: ", "),
                    "focusAreas": content.focusAreas.isEmpty ? "–" : content.focusAreas.joined(separator: ", "),
                    "budget": content.budget.map { ["category": $0.category, "period": $0.period, "amount": language.money($0.amount)] },
                    "hasBudget": !content.budget.isEmpty,
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
                if let recusal = RecordDecision.recusals(present: [member], group: group, content: content).first {
                    item["recused"] = language.word("youAreRecused", ["affiliation": recusal.affiliation])
                }
                items.append(item)
            }
            var money: [[String: Any]] = []
            for (poolId, requested) in requestedByPool.sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
                guard let pool = try await reads.pools(poolId).first else { continue }
                let currency = try Currency(code: pool.currency)
                money.append(["pool": pool.name, "requested": language.money(Money(minorUnits: requested, currency: currency)),
                              "available": language.money(pool.totals.available),
                              "periods": pool.periods.map { ["period": $0.period, "available": language.money($0.available)] },
                              "sources": pool.sources.map { ["name": $0.name, "available": language.money($0.available)] }])
            }
            return pages.render("steering", [
                "title": language.word("packTitle", ["group": group.created?.name ?? ""]), "items": items, "hasItems": !items.isEmpty,
                "money": money, "memberName": group.members[member]?.name ?? member,
            ], page)
        }
    }
}
