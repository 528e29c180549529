import Accounts
import Foundation
import GrantAPI
import GrantCommands
import GrantDomain
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Testing

@Suite("Web pages: languages, forms and who may see what")
struct WebPageTests {
    @Test("Money and days as each language writes them; no word left empty in either language")
    func languages() throws {
        let million = Money(minorUnits: 123_456_700, currency: .dkk)
        #expect(Language.da.money(million) == "1.234.567,00 kr.")
        #expect(Language.en.money(million) == "DKK 1,234,567.00")
        #expect(Language.da.money(Money(minorUnits: 123_456_700, currency: .nok)) == "1.234.567,00 NOK")
        #expect(Language.en.money(Money(minorUnits: 123_456_700, currency: .nok)) == "NOK 1,234,567.00")
        #expect(Language.da.money(Money(minorUnits: -5_000, currency: .dkk)) == "−50,00 kr.")
        #expect(Language.en.money(Money(minorUnits: 99, currency: .eur)) == "EUR 0.99")
        let day = try #require(Calendar.copenhagen.date(from: DateComponents(year: 2026, month: 3, day: 1, hour: 12)))
        #expect(Language.da.day(day) == "1. marts 2026")
        #expect(Language.en.day(day) == "1 March 2026")
        #expect(Words.table[.da]?.filter { $0.value.isEmpty }.keys.sorted() == [] && Words.table[.en]?.filter { $0.value.isEmpty }.keys.sorted() == [])
    }

    @Test("Templates get their words written in when the server starts; a word missing in a language stops it, naming the word")
    func translatedTemplates() throws {
        #expect(try Language.da.translate(template: "<a>{{t.signIn}}</a>{{> head}}{{title}}", named: "x") == "<a>Log ind</a>{{> head.da}}{{title}}")
        #expect(try Language.en.translate(template: "{{t.signIn}}{{>foot}}", named: "x") == "Sign in{{> foot.en}}")
        #expect(throws: Problem.self) { try Language.da.translate(template: "{{t.noSuchWord}}", named: "x") }
        // A word used any other way would render blank: refused too.
        #expect(throws: Problem.self) { try Language.da.translate(template: "{{#t.signIn}}x{{/t.signIn}}", named: "x") }
        #expect(throws: Problem.self) { try Language.da.translate(template: "{{ t.signIn }}", named: "x") }
        do {
            _ = try Language.en.translate(template: "{{t.noSuchWord}}", named: "broken")
        } catch let problem as Problem {
            #expect(problem.detail.contains("noSuchWord") && problem.detail.contains("broken"))
        }
    }

    @Test("The start page says which meeting's agenda an application is on, then every grant with what it waits for, and no other organisation's")
    func startPageStatuses() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let school = "Hjørring Gymnasium"
            let eva = try await Browser.user(api, programme, "eva@hjorring.dk", role: #"{"role": "applicant", "organisation": "Hjørring Gymnasium"}"#)
            let applications = [try await programme.submittedApplication(school, requested: "100000.00", title: "Robotter"),
                                try await programme.submittedApplication(school, requested: "50000.00", title: "Droner")]
            let waiting = try await Browser.get(api, "/?after=\(try await api.head())", eva)
            #expect(waiting.text.components(separatedBy: "Indsendt, venter på styregruppen").count == 3 && !waiting.text.contains("dagsordenen"))

            // One day for both the meeting and the words expected, so a run
            // across midnight (UTC or Copenhagen) still agrees with itself.
            let day = Programme.today()
            let meeting = try await programme.meeting(applications, on: day)
            let parts = day.split(separator: "-").compactMap { Int($0) }
            let noon = try #require(Calendar.copenhagen.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: 12)))
            let today = Language.da.day(noon)
            let onAgenda = try await Browser.get(api, "/?after=\(try await api.head())", eva)
            #expect(onAgenda.text.components(separatedBy: "På dagsordenen for mødet \(today)").count == 3, "\(onAgenda.text)")
            let page = try await Browser.get(api, "/applications/\(applications[0].lowercased())", eva)
            #expect(page.text.contains("Styregruppen behandler ansøgningen på mødet \(today)."))

            let bo = try await programme.steeringToken("bo")
            for application in applications {
                // Carl works for the school: he is recused.
                let decision = try await api.post("/v1/meetings/\(meeting)/decisions", bo,
                                                  Programme.approval(application, amount: "40000.00", votes: ["anna", "bo"]))
                #expect(decision.status == .created, "\(decision.text)")
            }
            let start = try await Browser.get(api, "/?after=\(try await api.head())", eva)
            #expect(start.status == .ok && !start.text.contains("dagsordenen"))
            for application in applications {
                #expect(start.text.contains("/grants/\(application.lowercased())#write-report"), "\(start.text)")
            }
            let kim = try await Browser.user(api, programme, "kim@aalborg.dk", role: #"{"role": "applicant", "organisation": "Aalborg Tekniske Gymnasium"}"#)
            let other = try await Browser.get(api, "/?after=\(try await api.head())", kim)
            #expect(other.status == .ok && !other.text.contains("Robotter") && !other.text.contains("/grants/"))
        }
    }

    @Test("An auditor sees who held which role on a day, and who gave it; a bad day is named next to its field; an applicant may not look")
    func auditorRoles() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let eva = try await Browser.user(api, programme, "eva@hjorring.dk", role: #"{"role": "applicant", "organisation": "Hjørring Gymnasium"}"#)
            let auditor = try await Browser.user(api, programme, "revisor@region.dk", role: #"{"role": "auditor"}"#)
            // An auditor starts at the roles.
            #expect(try await Browser.get(api, "/", auditor).headers[.location] == "/audit/roles")
            let now = try await Browser.get(api, "/audit/roles", auditor)
            #expect(now.status == .ok && now.text.contains("ansøger for Hjørring Gymnasium") && now.text.contains("admin:maria (Administrator)"), "\(now.text)")
            let before = try await Browser.get(api, "/audit/roles?day=2020-01-01&time=&basis=occurred&role=", auditor)
            #expect(before.text.contains("Ingen havde en rolle på det tidspunkt.") && before.text.contains("som det var da"))
            let onlyAuditors = try await Browser.get(api, "/audit/roles?role=auditor", auditor)
            #expect(onlyAuditors.text.contains("revisor@region.dk") && !onlyAuditors.text.contains("Hjørring"))
            let badDay = try await Browser.get(api, "/audit/roles?day=2026-02-31&time=25:00", auditor)
            #expect(badDay.status == .unprocessableContent && badDay.text.contains("id=\"day-error\"") && badDay.text.contains("error-summary"), "\(badDay.status) \(badDay.text)")
            #expect(try await Browser.get(api, "/audit/roles?day=2026-03-01&time=25:00", auditor).text.contains("id=\"time-error\""))
            #expect(try await Browser.get(api, "/audit/roles", eva).status == .forbidden)
        }
    }

    @Test("Verification from the page: progress as it goes, then the result; a changed event is named as the first broken link")
    func verificationPage() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            _ = try await programme.submittedApplication("Hjørring Gymnasium", requested: "100000.00")
            let auditor = try await Browser.user(api, programme, "revisor@region.dk", role: #"{"role": "auditor"}"#)
            let eva = try await Browser.user(api, programme, "eva@hjorring.dk", role: #"{"role": "applicant", "organisation": "Hjørring Gymnasium"}"#)
            let events = try await api.eventCount()

            let start = try await Browser.get(api, "/audit/verify", auditor)
            #expect(start.status == .ok && start.text.contains("Kontrollér nu") && !start.text.contains("verification-result"))
            let clean = try await Browser.get(api, "/audit/verify?run=1", auditor)
            #expect(clean.status == .ok && clean.text.contains("hændelser kontrolleret</li>"), "\(clean.text)")
            #expect(clean.text.contains("Historikken er intakt: \(events) hændelser"), "\(clean.text)")
            #expect(clean.text.hasSuffix("</html>\n"))

            // Behind the store's back: an amount changed in the history.
            for statement in ["ALTER TABLE events DISABLE TRIGGER events_append_only",
                              "UPDATE events SET data = (data::jsonb || '{\"forged\": true}')::json WHERE global_position = 3"] {
                try await api.store.client.query(PostgresQuery(unsafeSQL: statement), logger: api.store.logger)
            }
            let broken = try await Browser.get(api, "/audit/verify?run=1", auditor)
            #expect(broken.text.contains("Historikken er ændret") && broken.text.contains("Første brudte led") && broken.text.contains("content-hash"),
                    "\(broken.text)")
            #expect(broken.text.contains("<dt>Position</dt><dd>3</dd>"), "\(broken.text)")

            #expect(try await Browser.get(api, "/audit/verify?run=1", eva).status == .forbidden)
        }
    }

    @Test("An auditor lists the decisions and follows one's trail: meeting, attendance, votes, recusals, grant and money, each with who and when")
    func decisionTrail() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Hjørring Gymnasium", requested: "100000.00", title: "Robotter i Hjørring")
            let meeting = try await programme.meeting([application])
            // Carl works for the school: he is recused.
            let decision = try await api.post("/v1/meetings/\(meeting)/decisions", try await programme.steeringToken("bo"),
                                              Programme.approval(application, amount: "80000.00", votes: ["anna", "bo"]))
            #expect(decision.status == .created, "\(decision.text)")
            let auditor = try await Browser.user(api, programme, "revisor@region.dk", role: #"{"role": "auditor"}"#)
            let eva = try await Browser.user(api, programme, "eva@hjorring.dk", role: #"{"role": "applicant", "organisation": "Hjørring Gymnasium"}"#)
            let list = try await Browser.get(api, "/audit/decisions?after=\(try await api.head())", auditor)
            #expect(list.status == .ok && list.text.contains("href=\"/audit/decisions/\(application.lowercased())\"") && list.text.contains("80.000,00 kr."),
                    "\(list.text)")
            let trail = try await Browser.get(api, "/audit/decisions/\(application.lowercased())", auditor)
            #expect(trail.status == .ok)
            for expected in ["Beslutningens spor: Robotter i Hjørring", "<dd>Bevilling</dd>", "anna: for; bo: for", "carl (Hjørring Gymnasium)",
                             "<dd>anna, bo, carl</dd>", "Opslag åbnet", "Ansøgning indsendt", "Møde afholdt", "Beslutning registreret",
                             "Tilskud givet", "Midler bundet i puljen", "<dd>80.000,00 kr.</dd>", "Report by June", "admin:maria (Administrator)"] {
                #expect(trail.text.contains(expected), "\(expected)")
            }
            #expect(try await Browser.get(api, "/audit/decisions/\(UUID().uuidString.lowercased())", auditor).status == .notFound)
            #expect(try await Browser.get(api, "/audit/decisions/\(application.lowercased())", eva).status == .forbidden)
        }
    }

    @Test("An auditor sees a pool as of any instant, per period and source, as a chart and as tables; before it existed, it did not")
    func poolAsOf() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Hjørring Gymnasium", requested: "100000.00")
            let meeting = try await programme.meeting([application])
            #expect(try await api.post("/v1/meetings/\(meeting)/decisions", try await programme.steeringToken("bo"),
                                       Programme.approval(application, amount: "80000.00", votes: ["anna", "bo"])).status == .created)
            let auditor = try await Browser.user(api, programme, "revisor@region.dk", role: #"{"role": "auditor"}"#)

            let list = try await Browser.get(api, "/audit/pools?after=\(try await api.head())", auditor)
            #expect(list.status == .ok && list.text.contains("href=\"/audit/pools/\(programme.pool.lowercased())\""), "\(list.text)")
            let now = try await Browser.get(api, "/audit/pools/\(programme.pool.lowercased())", auditor)
            #expect(now.status == .ok)
            for expected in ["<dt>Bundet</dt><dd>80.000,00 kr.</dd>", "<dt>Til rådighed</dt><dd>920.000,00 kr.</dd>", "<svg class=\"chart\"",
                             "<th scope=\"row\">2026</th>", "<th scope=\"row\">region</th>", "format=csv"] {
                #expect(now.text.contains(expected), "\(expected)")
            }
            let before = try await Browser.get(api, "/audit/pools/\(programme.pool.lowercased())?day=2020-01-01&basis=occurred", auditor)
            #expect(before.text.contains("Puljen fandtes ikke endnu.") && !before.text.contains("<svg"))
            let bad = try await Browser.get(api, "/audit/pools/\(programme.pool.lowercased())?day=2026-13-01", auditor)
            #expect(bad.status == .unprocessableContent && bad.text.contains("id=\"day-error\""))
            // The ledger's "since" is an instant or nothing: text that is neither shows no rows as if it filtered them.
            let badSince = try await Browser.get(api, "/audit/pools/\(programme.pool.lowercased())/ledger?since=yesterday", auditor)
            #expect(badSince.status != .ok && !badSince.text.contains("<tbody>"))
            #expect(try await Browser.get(api, "/audit/pools/\(UUID().uuidString.lowercased())", auditor).status == .notFound)

            // The movements: the budget, then the commitment with the decision behind it; filtered by period and source.
            let ledger = try await Browser.get(api, "/audit/pools/\(programme.pool.lowercased())/ledger", auditor)
            #expect(ledger.status == .ok && ledger.text.contains("<td>Budget</td>") && ledger.text.contains("<td>Bundet</td>")
                    && ledger.text.contains("href=\"/audit/decisions/\(application.lowercased())\"") && ledger.text.contains("2 bevægelser vist.")
                    && ledger.text.hasSuffix("</html>\n"), "\(ledger.text)")
            let bySource = try await Browser.get(api, "/audit/pools/\(programme.pool.lowercased())/ledger?period=2026&source=region", auditor)
            #expect(bySource.text.contains("1 bevægelser vist.") && bySource.text.contains("<option value=\"region\" selected>"), "\(bySource.text)")
            let none = try await Browser.get(api, "/audit/pools/\(programme.pool.lowercased())/ledger?period=1999", auditor)
            #expect(none.text.contains("0 bevægelser vist."))
        }
    }

    @Test("A steering member's pack: each application waiting, its version and rules, money asked against left, and their own recusal marked")
    func steeringPack() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            _ = try await programme.submittedApplication("Hjørring Gymnasium", requested: "100000.00", title: "Droner i Hjørring")
            func seat(_ member: String) -> String { #"{"role": "steering", "groupId": "\#(programme.group)", "member": "\#(member)"}"# }
            let carl = try await Browser.user(api, programme, "carl@region.dk", role: seat("carl"))
            let bo = try await Browser.user(api, programme, "bo@region.dk", role: seat("bo"))
            #expect(try await Browser.get(api, "/", carl).headers[.location] == "/steering")
            let pack = try await Browser.get(api, "/steering?after=\(try await api.head())", carl)
            #expect(pack.status == .ok)
            for expected in ["Mødepakke: STEM i Nord", "Droner i Hjørring", "Opfylder puljens regler", "<dt>Version, der besluttes om</dt><dd>1</dd>",
                             "<dt>Ansøgt i alt på dagsordenen</dt><dd>100.000,00 kr.</dd>", "<dt>Til rådighed i puljen</dt><dd>1.000.000,00 kr.</dd>",
                             "Du er inhabil (Hjørring Gymnasium)"] {
                #expect(pack.text.contains(expected), "\(expected)")
            }
            let boPack = try await Browser.get(api, "/steering", bo)
            #expect(boPack.text.contains("Droner i Hjørring") && !boPack.text.contains("inhabil"))
            let eva = try await Browser.user(api, programme, "eva@hjorring.dk", role: #"{"role": "applicant", "organisation": "Hjørring Gymnasium"}"#)
            #expect(try await Browser.get(api, "/steering", eva).status == .forbidden)
        }
    }

    @Test("A decision from the meeting page: a recused member's vote is refused and nothing is written; another group's member cannot; the minutes show it")
    func decisionFromTheMeetingPage() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Hjørring Gymnasium", requested: "100000.00", title: "Droner i Hjørring").lowercased()
            let meeting = try await programme.meeting([application]).lowercased()
            func seat(_ group: String, _ member: String) -> String { #"{"role": "steering", "groupId": "\#(group)", "member": "\#(member)"}"# }
            let bo = try await Browser.user(api, programme, "bo@region.dk", role: seat(programme.group, "bo"))
            let page = try await Browser.get(api, "/steering/meetings/\(meeting)?after=\(try await api.head())", bo)
            #expect(page.status == .ok)
            for expected in ["Carl Berg er inhabil (Hjørring Gymnasium).", #"name="vote.carl" disabled"#, "3 af 3 medlemmer til stede; mindst 2",
                             #"name="amount" value="100.000,00""#] {
                #expect(page.text.contains(expected), "\(expected)")
            }
            // The recused member reads the same form: only their own vote is disabled.
            let carl = try await Browser.user(api, programme, "carl@region.dk", role: seat(programme.group, "carl"))
            let carlsPage = try await Browser.get(api, "/steering/meetings/\(meeting)", carl)
            #expect(carlsPage.text.contains("Du er inhabil (Hjørring Gymnasium)") && carlsPage.text.contains(#"name="vote.anna">"#)
                    && carlsPage.text.contains(#"name="vote.carl" disabled"#))
            let csrf = try #require(Browser.csrf(page))
            let path = "/steering/meetings/\(meeting)/decisions/\(application)"
            let cookie = "grantledger_session=\(bo.session)"
            func form(_ votes: [String]) -> String {
                "csrf=\(csrf)&version=1&outcome=approve&amount=80.000&period=2026&conditions=Rapport+i+juni" + votes.map { "&vote.\($0)=for" }.joined()
            }

            // Carl's vote, sent past the disabled field, is the domain's to refuse: nothing is appended, the choices are kept.
            let before = try await api.head()
            let refused = try await Browser.post(api, path, form(["anna", "bo", "carl"]), cookie: cookie)
            #expect(refused.status == .seeOther && refused.headers[.location] == "/steering/meetings/\(meeting)#decide-\(application)")
            #expect(try await api.head() == before)
            let shown = try await Browser.get(api, "/steering/meetings/\(meeting)", bo)
            #expect(shown.text.contains("Carl Berg er inhabil (Hjørring Gymnasium) og kan ikke stemme om denne ansøgning."))
            #expect(shown.text.contains(#"name="amount" value="80.000""#) && shown.text.contains(#"<option value="for" selected>For</option>"#))

            // A member of another group, with the same member id as one of this group's, may neither read this meeting nor decide in it.
            let other = try await Programme.create(api)
            let stranger = try await Browser.user(api, other, "anna@other.dk", role: seat(other.group, "anna"))
            let beforeStranger = try await api.head()
            #expect(try await Browser.get(api, "/steering/meetings/\(meeting)", stranger).status == .notFound)
            let strangerToken = try #require(Browser.csrf(try await Browser.get(api, "/steering", stranger)))
            let strangerPost = try await Browser.post(api, path, form(["anna", "bo"]).replacingOccurrences(of: csrf, with: strangerToken),
                                                      cookie: "grantledger_session=\(stranger.session)")
            #expect(strangerPost.status == .forbidden)
            #expect(try await api.head() == beforeStranger)

            let recorded = try await Browser.post(api, path, form(["anna", "bo"]), cookie: cookie)
            #expect(recorded.headers[.location]?.hasPrefix("/steering/meetings/\(meeting)?flash=decisionRecorded&after=") == true)
            let minutes = try await Browser.get(api, "/steering/meetings/\(meeting)/minutes", bo)
            for expected in ["Droner i Hjørring", "<dd>Bevilling</dd>", "80.000,00 kr. (Periode 2026)", "Regional midler: 80.000,00 kr.",
                             "<li>Rapport i juni</li>", "2 for, 0 imod, 0 undlod; 2 kunne stemme", "<td>Carl Berg</td><td>Inhabil (Hjørring Gymnasium)</td>"] {
                #expect(minutes.text.contains(expected), "\(expected)")
            }
            let eva = try await Browser.user(api, programme, "eva@hjorring.dk", role: #"{"role": "applicant", "organisation": "Hjørring Gymnasium"}"#)
            #expect(try await Browser.get(api, "/steering/meetings/\(meeting)/minutes", eva).status == .forbidden)
        }
    }

    @Test("A meeting's page for administrators: apologies and a late application are saved; a decided application stays on the agenda, beside the list")
    func meetingChanges() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let first = try await programme.submittedApplication("Frederikshavn Gymnasium", requested: "100000.00", title: "Droner i Frederikshavn").lowercased()
            let late = try await programme.submittedApplication("Skagen Skole", requested: "50000.00", title: "Robotter i Skagen").lowercased()
            let meeting = try await programme.meeting([first]).lowercased()
            let maria = try await Browser.user(api, programme, "maria@region.dk", role: #"{"role": "admin"}"#)
            let cookie = "grantledger_session=\(maria.session)"
            let list = try await Browser.get(api, "/admin/meetings?group=\(programme.group)&after=\(try await api.head())", maria)
            #expect(list.text.contains(#"href="/admin/meetings/\#(meeting)""#))
            let page = try await Browser.get(api, "/admin/meetings/\(meeting)", maria)
            #expect(page.status == .ok && page.text.contains(#"name="present.anna" checked"#) && page.text.contains(#"name="agenda.\#(first)" checked"#)
                    && page.text.contains(#"name="agenda.\#(late)">"#) && page.text.contains("Robotter i Skagen"))
            let csrf = try #require(Browser.csrf(page))

            let apologies = try await Browser.post(api, "/admin/meetings/\(meeting)/attendance", "csrf=\(csrf)&present.bo=on&present.carl=on&attendanceReason=Afbud+fra+Anna",
                                                   cookie: cookie)
            #expect(apologies.headers[.location]?.hasPrefix("/admin/meetings/\(meeting)?flash=attendanceChanged&after=") == true, "\(apologies.headers)")
            let added = try await Browser.post(api, "/admin/meetings/\(meeting)/agenda", "csrf=\(csrf)&agenda.\(first)=on&agenda.\(late)=on", cookie: cookie)
            #expect(added.headers[.location]?.hasPrefix("/admin/meetings/\(meeting)?flash=agendaChanged&after=") == true, "\(added.headers)")
            let changed = try await Browser.get(api, try #require(added.headers[.location]), maria)
            #expect(changed.text.contains(#"name="present.anna">"#) && changed.text.contains(#"name="present.bo" checked"#)
                    && changed.text.contains(#"name="agenda.\#(late)" checked"#) && changed.text.contains("Dagsordenen er gemt."))
            let counts = try await Browser.get(api, "/admin/meetings?group=\(programme.group)&after=\(try await api.head())", maria)
            #expect(counts.text.contains(#"<td class="num">2</td><td class="num">2</td><td class="num">0</td>"#), "the meetings read model follows")

            _ = try await api.post("/v1/meetings/\(meeting)/decisions", try await programme.steeringToken("bo"),
                                   Programme.approval(first, amount: "100000.00", votes: ["bo", "carl"])).ok()
            let minutes = try await Browser.get(api, "/steering/meetings/\(meeting)/minutes", maria)
            #expect(minutes.text.contains("Ændringer i fremmødet") && minutes.text.contains("herefter til stede: Bo Lund, Carl Berg (Afbud fra Anna)"))
            let decidedPage = try await Browser.get(api, "/admin/meetings/\(meeting)?after=\(try await api.head())", maria)
            #expect(decidedPage.text.contains(#"name="agenda.\#(first)" checked disabled"#) && decidedPage.text.contains("afgjort på mødet"))
            // Sent past the disabled box, the removal is the domain's to refuse: nothing is appended; the error stands beside the agenda.
            let before = try await api.head()
            let removed = try await Browser.post(api, "/admin/meetings/\(meeting)/agenda", "csrf=\(csrf)&agenda.\(late)=on", cookie: cookie)
            #expect(removed.headers[.location] == "/admin/meetings/\(meeting)#agenda")
            #expect(try await Browser.get(api, "/admin/meetings/\(meeting)", maria).text.contains("En ansøgning, mødet har afgjort, bliver på dagsordenen."))
            let stranger = try await Browser.post(api, "/admin/meetings/\(meeting)/attendance", "csrf=\(csrf)&present.zoe=on", cookie: cookie)
            #expect(stranger.headers[.location] == "/admin/meetings/\(meeting)#attendance")
            #expect(try await Browser.post(api, "/admin/meetings/\(UUID())/attendance", "csrf=\(csrf)&present.bo=on", cookie: cookie).status == .notFound)
            #expect(try await api.head() == before)
            let refused = try await Browser.get(api, "/admin/meetings/\(meeting)", maria)
            #expect(refused.text.contains("zoe er ikke medlem af styregruppen.")
                    && refused.text.contains(#"<fieldset id="present" class="invalid" aria-describedby="present-error">"#))
            // What is not an application id is refused beside the agenda; the same agenda sent again is what was asked for.
            let garbled = try await Browser.post(api, "/admin/meetings/\(meeting)/agenda", "csrf=\(csrf)&agenda.\(first)=on&agenda.x%27%3E=on", cookie: cookie)
            #expect(garbled.headers[.location] == "/admin/meetings/\(meeting)#agenda")
            let again = try await Browser.post(api, "/admin/meetings/\(meeting)/agenda", "csrf=\(csrf)&agenda.\(first.uppercased())=on&agenda.\(late)=on",
                                               cookie: cookie)
            #expect(again.headers[.location] == "/admin/meetings/\(meeting)?flash=agendaChanged")
            #expect(try await api.head() == before)
            let bo = try await Browser.user(api, programme, "bo@region.dk", role: #"{"role": "steering", "groupId": "\#(programme.group)", "member": "bo"}"#)
            #expect(try await Browser.get(api, "/admin/meetings/\(meeting)", bo).status == .forbidden)
        }
    }

    @Test("The payment queue: one administrator requests, cannot approve her own request, another approves, a reference is needed to mark it paid")
    func paymentQueueFourEyes() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Hjørring Gymnasium", requested: "100000.00", title: "Droner i Hjørring")
            let meeting = try await programme.meeting([application])
            _ = try await api.post("/v1/meetings/\(meeting)/decisions", try await programme.steeringToken("anna"),
                                   Programme.approval(application, amount: "100000.00", votes: ["anna", "bo"])).ok()
            let maria = try await Browser.user(api, programme, "maria@region.dk", role: #"{"role": "admin"}"#)
            let bent = try await Browser.user(api, programme, "bent@region.dk", role: #"{"role": "admin"}"#)
            let queue = try await Browser.get(api, "/admin/payments?after=\(try await api.head())", maria)
            #expect(queue.text.contains("Droner i Hjørring") && queue.text.contains("Anmod om udbetaling"))
            let mariaToken = try #require(Browser.csrf(queue))
            let requested = try await Browser.post(api, "/admin/payments/request", "csrf=\(mariaToken)&grantId=\(application)&tranche=1",
                                                   cookie: "grantledger_session=\(maria.session)")
            #expect(requested.headers[.location]?.hasPrefix("/admin/payments?flash=paymentRequested") == true)
            let waiting = try await Browser.get(api, "/admin/payments?after=\(try await api.head())", maria)
            #expect(waiting.text.contains("Du bad om den: en anden administrator end dig skal godkende den."))
            let approve = try #require(waiting.text.firstMatch(of: /action="(\/admin\/payments\/[0-9a-f-]{36}\/approve)"/)?.1)
            #expect(waiting.text.contains("disabled>Godkend"))

            let before = try await api.head()
            let own = try await Browser.post(api, String(approve), "csrf=\(mariaToken)&grantId=\(application)", cookie: "grantledger_session=\(maria.session)")
            #expect(own.headers[.location]?.hasPrefix("/admin/payments#row-") == true)
            #expect(try await api.head() == before)
            #expect(try await Browser.get(api, "/admin/payments", maria).text.contains("maria@region.dk bad om udbetalingen og kan ikke også godkende den"))

            let bentQueue = try await Browser.get(api, "/admin/payments", bent)
            #expect(bentQueue.text.contains("Enhver administrator undtagen maria@region.dk."))
            let approved = try await Browser.post(api, String(approve), "csrf=\(try #require(Browser.csrf(bentQueue)))&grantId=\(application)",
                                                  cookie: "grantledger_session=\(bent.session)")
            #expect(approved.headers[.location]?.hasPrefix("/admin/payments?flash=paymentApproved") == true)
            let paid = String(approve).replacingOccurrences(of: "/approve", with: "/paid")
            let noReference = try await Browser.post(api, paid, "csrf=\(mariaToken)&grantId=\(application)&reference=+", cookie: "grantledger_session=\(maria.session)")
            #expect(noReference.headers[.location]?.hasPrefix("/admin/payments#row-") == true)
            let marked = try await Browser.post(api, paid, "csrf=\(mariaToken)&grantId=\(application)&reference=NORD-2026-1",
                                                cookie: "grantledger_session=\(maria.session)")
            #expect(marked.headers[.location]?.hasPrefix("/admin/payments?flash=paymentPaid") == true)
            let grant = try await api.get("/v1/grants/\(application)?after=\(try await api.head())", programme.admin).ok()
            #expect((grant["paid"] as? [String: Any])?["amount"] as? String == "40000.00")
        }
    }

    @Test("A call's forms on the pool page: an id in capitals or a field left out is refused beside the form, another pool's call is not there, an opened call keeps its opening")
    func callForms() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let other = try await Programme.create(api)
            let maria = try await Browser.user(api, programme, "maria@region.dk", role: #"{"role": "admin"}"#)
            let cookie = "grantledger_session=\(maria.session)"
            let page = try await Browser.get(api, "/admin/pools/\(programme.pool)?after=\(try await api.head())", maria)
            #expect(page.status == .ok && page.text.contains("Teknologipagt 2026") && page.text.contains("beholder sin åbning"))
            let csrf = try #require(Browser.csrf(page))
            let window = "/admin/pools/\(programme.pool)/calls/window"
            let before = try await api.head()
            // The id in capitals, the fields missing: the form comes back with the error, the server stays up.
            let bare = try await Browser.post(api, window, "csrf=\(csrf)&call=\(programme.call.uppercased())", cookie: cookie)
            #expect(bare.status == .seeOther && bare.headers[.location] == "/admin/pools/\(programme.pool.lowercased())#call-\(programme.call.lowercased())")
            let shown = try await Browser.get(api, "/admin/pools/\(programme.pool)", maria)
            #expect(shown.text.contains("Vælg en dato."))
            // Another pool's call, through this pool's page: not there.
            let stranger = try await Browser.post(api, window, "csrf=\(csrf)&call=\(other.call)&call-\(other.call)-closesDay=2099-01-01", cookie: cookie)
            #expect(stranger.status == .notFound)
            let close = try await Browser.post(api, "/admin/pools/\(programme.pool)/calls/close", "csrf=\(csrf)&call=not-an-id", cookie: cookie)
            #expect(close.status == .notFound || close.status == .badRequest)
            #expect(try await api.head() == before)

            // The deadline moved: the opening, opened a day ago to the second, is kept as it was, not as the form could spell it.
            let key = "call-\(programme.call.lowercased())"
            let moved = try await Browser.post(api, window, "csrf=\(csrf)&call=\(programme.call)&\(key)-closesDay=2099-03-01&\(key)-closesTime=12:00", cookie: cookie)
            #expect(moved.headers[.location]?.hasPrefix("/admin/pools/\(programme.pool.lowercased())?flash=callWindowChanged") == true, "\(moved.headers)")
            let calls = try await api.get("/v1/pools/\(programme.pool)/calls?after=\(try await api.head())", programme.admin).ok()["calls"] as? [[String: Any]]
            #expect((calls?.first?["closesAt"] as? String)?.hasPrefix("2099-03-01T11:00:00") == true)
        }
    }

    @Test("Amounts are read as people type them in each language; what is not an amount is not guessed")
    func amounts() {
        let danish: [(String, String?)] = [
            ("250.000,00", "250000.00"), ("250000", "250000"), ("250.000", "250000"), ("1,5", "1.5"), ("250000.50", "250000.50"),
            ("1.500,5", "1500.5"), ("250 000 kr.", "250000"), ("DKK 1.234", "1234"), ("-12,50", "-12.50"), ("1.500.000,25", "1500000.25"), ("300.000,-", "300000"), ("300 000,-", "300000"),
            (String(repeating: "9", count: 40), String(repeating: "9", count: 40)),
            // Never misread: a trailing mark, two decimal marks, broken groups, another currency, letters or other digits
            // ("1.5" has no grouping reading, so it is a decimal; "1.500" in English is 1.5 with three decimals, which the domain refuses).
            ("250.000,00.", nil), ("12,50.", nil), ("1.2.3", nil), ("1,,5", nil), ("15.00.0", nil), ("1..2", nil), ("1.5", "1.5"),
            ("100 EUR", nil), ("5kr0kr", nil), ("12e3", nil), ("mange penge", nil), ("١٢٣", nil), ("", nil), (",50", nil), ("-", nil),
        ]
        for (typed, read) in danish { #expect(Language.da.parseAmount(typed) == read, "da \(typed)") }
        let english: [(String, String?)] = [("250,000.00", "250000.00"), ("1,500", "1500"), ("1.5", "1.5"), ("1,50", "1.50"), ("DKK 12", "12"),
                                            ("1,500.", nil), ("1.500", "1.500"), ("1,5000", nil)]
        for (typed, read) in english { #expect(Language.en.parseAmount(typed) == read, "en \(typed)") }
        #expect(Language.da.parseAmount("1.000 NOK", currency: .nok) == "1000")
        #expect(Language.da.parseAmount("1.000 NOK", currency: .dkk) == nil)
    }

    @Test("A page speaks the language asked for, a switch overrides it, and pages are neither framed, sniffed nor cached")
    func negotiation() async throws {
        try await Harness.with { api in
            func awarded(_ headers: HTTPFields) async throws -> TestResponse {
                try await api.client.execute(uri: "/awarded", method: .get, headers: headers)
            }
            let danish = try await awarded([.acceptLanguage: "da-DK,da;q=0.9,en;q=0.8"])
            #expect(danish.status == .ok && danish.text.contains("<html lang=\"da\">") && danish.text.contains("Bevilgede tilskud"))
            let english = try await awarded([.acceptLanguage: "en-GB,en;q=0.9"])
            #expect(english.text.contains("<html lang=\"en\">") && english.text.contains("Awarded grants"))
            // Norwegian readers get Danish, and the q-values count.
            #expect(try await awarded([.acceptLanguage: "nb-NO"]).text.contains("lang=\"da\""))
            #expect(try await awarded([.acceptLanguage: "de;q=1, en;q=0.8, da;q=0.5"]).text.contains("lang=\"en\""))
            #expect(try await awarded([.acceptLanguage: "en", .cookie: "grantledger_language=da"]).text.contains("lang=\"da\""))
            let switched = try await api.client.execute(uri: "/language/en?back=%2Fawarded", method: .get)
            #expect(switched.status == .seeOther && switched.headers[.location] == "/awarded")
            #expect(switched.headers[values: .setCookie].contains { $0.hasPrefix("grantledger_language=en") })
            // Back to this site only.
            let away = try await api.client.execute(uri: "/language/en?back=%2F%2Fevil.example", method: .get)
            #expect(away.headers[.location] == "/")
            #expect(danish.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("frame-ancestors 'none'") == true)
            #expect(danish.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(danish.headers[.cacheControl] == "no-store")
        }
    }

    @Test("The browser's session: signed in by the form with its token, every form needs the session's token, and an applicant sees only its own")
    func sessionsAndForms() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let accounts = Accounts(store: api.store, hasher: PasswordHasher(cost: 4))
            for (email, organisation) in [("kim@aalborg.dk", "Aalborg Tekniske Gymnasium"), ("eva@hjorring.dk", "Hjørring Gymnasium")] {
                #expect(try await api.post("/v1/users", programme.admin, """
                    {"email": "\(email)", "name": "\(email)", "roles": [{"role": "applicant", "organisation": "\(organisation)"}]}
                    """).status == .created)
                try await accounts.setPassword(userId: CommandHandler.userId(email: email), email: email, password: "a long enough password")
            }
            let kim = try await Browser.signIn(api, "kim@aalborg.dk", "a long enough password")
            let eva = try await Browser.signIn(api, "eva@hjorring.dk", "a long enough password")

            // The sign-in form's own token: without it, or with another, nothing happens.
            let form = try await api.client.execute(uri: "/sign-in", method: .get)
            let formCookie = try #require(Browser.cookie(form, "grantledger_form"))
            let noToken = try await Browser.post(api, "/sign-in", "email=kim%40aalborg.dk&password=a+long+enough+password", cookie: "grantledger_form=\(formCookie)")
            #expect(noToken.status == .forbidden && noToken.text.contains("Formularen er udløbet"))
            // A wrong password goes back to the form (by GET), saying only that something is wrong.
            let wrong = try await Browser.post(api, "/sign-in", "csrf=\(formCookie)&email=kim%40aalborg.dk&password=nope&next=%2F%2Fevil.example",
                                               cookie: "grantledger_form=\(formCookie)")
            #expect(wrong.status == .seeOther && wrong.headers[.location]?.hasPrefix("/sign-in?error=refused") == true)
            // After sign-in, back to this site only.
            let signedIn = try await Browser.post(api, "/sign-in", "csrf=\(formCookie)&email=kim%40aalborg.dk&password=a+long+enough+password&next=%2F%2Fevil.example",
                                                  cookie: "grantledger_form=\(formCookie)")
            #expect(signedIn.headers[.location] == "/")
            let setCookie = signedIn.headers[values: .setCookie].first { $0.hasPrefix("grantledger_session=") } ?? ""
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax") && setCookie.contains("Path=/"), "\(setCookie)")

            // Kim drafts through the API's command; Eva, of another school, can neither see nor change it.
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            let drafted = try await api.post("/v1/applications", token, """
                {"callId": "\(programme.call)", "organisation": "Aalborg Tekniske Gymnasium", "projectLeader": "anna", "title": "Robotter <script>alert('x')</script> & \\"co\\"",
                 "description": "", "requested": {"amount": "100000.00", "currency": "DKK"}}
                """)
            let id = drafted.string("id").lowercased()
            let own = try await Browser.get(api, "/applications/\(id)", kim)
            #expect(own.status == .ok)
            // What an applicant typed is text on the page, never markup.
            #expect(own.text.contains("Robotter &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;") && !own.text.contains("<script>"),
                    "\(own.text.prefix(2000))")
            // To a page, another organisation's work is not there: not even its existence shows.
            let foreign = try await Browser.get(api, "/applications/\(id)", eva)
            #expect(foreign.status == .notFound && !foreign.text.contains("another organisation") && !foreign.text.contains("Robotter"))
            #expect(try await Browser.get(api, "/applications/\(id)/edit", eva).status == .notFound)
            let evaToken = try #require(Browser.csrf(try await Browser.get(api, "/", eva)))
            let evaWithdraws = try await Browser.post(api, "/applications/\(id)/withdraw", "csrf=\(evaToken)&reason=x", cookie: "grantledger_session=\(eva.session)")
            #expect(evaWithdraws.status == .notFound)
            let evaEdits = try await Browser.post(api, "/applications/\(id)/edit", "csrf=\(evaToken)&call=\(programme.call)&title=Stolen&requested=1",
                                                  cookie: "grantledger_session=\(eva.session)")
            #expect(evaEdits.status == .notFound)
            // Kim's own form without Kim's token (Eva's, or none) is refused: another site cannot make Kim's browser act.
            let kimWithoutToken = try await Browser.post(api, "/applications/\(id)/withdraw", "reason=x", cookie: "grantledger_session=\(kim.session)")
            #expect(kimWithoutToken.status == .forbidden)
            let kimWithEvasToken = try await Browser.post(api, "/applications/\(id)/withdraw", "csrf=\(evaToken)", cookie: "grantledger_session=\(kim.session)")
            #expect(kimWithEvasToken.status == .forbidden)
            let stillDraft = try await api.get("/v1/applications/\(id)?after=\(drafted.position)", token).ok()
            #expect(stillDraft["status"] as? String == "draft")
            let kimToken = try #require(Browser.csrf(try await Browser.get(api, "/", kim)))
            let withdrawn = try await Browser.post(api, "/applications/\(id)/withdraw", "csrf=\(kimToken)&reason=Ikke+i+%C3%A5r",
                                                   cookie: "grantledger_session=\(kim.session)")
            #expect(withdrawn.status == .seeOther && withdrawn.headers[.location]?.hasPrefix("/applications/\(id)?flash=withdrawnMessage") == true)

            // A revoked role is gone from the pages at the next request.
            let kimId = CommandHandler.userId(email: "kim@aalborg.dk").uuidString
            #expect(try await api.post("/v1/users/\(kimId)/role-revocations", programme.admin,
                                       #"{"role": "applicant", "organisation": "Aalborg Tekniske Gymnasium"}"#).status == .created)
            #expect(try await Browser.get(api, "/", kim).status == .forbidden)
            // Signed out, the cookie is worth nothing.
            let out = try await Browser.post(api, "/sign-out", "csrf=\(try #require(Browser.csrf(try await Browser.get(api, "/awarded", eva))))",
                                             cookie: "grantledger_session=\(eva.session)")
            #expect(out.status == .seeOther)
            #expect(try await Browser.get(api, "/", eva).headers[.location]?.hasPrefix("/sign-in") == true)
        }
    }
}

/// A browser, reduced to its cookies.
enum Browser {
    struct Signed { let session: String }

    /// A user invited by the programme's administrator with `role` (as the API takes it), a password set, signed in.
    static func user(_ api: API, _ programme: Programme, _ email: String, role: String) async throws -> Signed {
        let invited = try await api.post("/v1/users", programme.admin, #"{"email": "\#(email)", "name": "\#(email)", "roles": [\#(role)]}"#)
        #expect(invited.status == .created, "\(invited.text)")
        try await Accounts(store: api.store, hasher: PasswordHasher(cost: 4))
            .setPassword(userId: CommandHandler.userId(email: email), email: email, password: "a long enough password")
        return try await signIn(api, email, "a long enough password")
    }

    static func signIn(_ api: API, _ email: String, _ password: String) async throws -> Signed {
        let form = try await api.client.execute(uri: "/sign-in", method: .get)
        let token = cookie(form, "grantledger_form") ?? ""
        let body = "csrf=\(token)&email=\(email.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&password=\(password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
        let answer = try await post(api, "/sign-in", body, cookie: "grantledger_form=\(token)")
        return Signed(session: cookie(answer, "grantledger_session") ?? "")
    }

    static func get(_ api: API, _ path: String, _ user: Signed) async throws -> TestResponse {
        try await api.client.execute(uri: path, method: .get, headers: [.cookie: "grantledger_session=\(user.session)"])
    }

    static func post(_ api: API, _ path: String, _ form: String, cookie: String) async throws -> TestResponse {
        try await api.client.execute(uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded", .cookie: cookie],
                                     body: ByteBuffer(string: form))
    }

    static func cookie(_ response: TestResponse, _ name: String) -> String? {
        response.headers[values: .setCookie].first { $0.hasPrefix("\(name)=") }
            .map { String($0.dropFirst(name.count + 1).prefix { $0 != ";" }) }
    }

    /// The CSRF token a page's forms carry.
    static func csrf(_ response: TestResponse) -> String? {
        guard let range = response.text.range(of: #"name="csrf" value=""#) else { return nil }
        return String(response.text[range.upperBound...].prefix { $0 != "\"" })
    }
}
