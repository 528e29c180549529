import EventStore
import Foundation
import GrantCommands
import GrantDomain

/// Loads the programmes of DOMAIN.md through the commands, with applications
/// in every stage. Ids are derived from names and every step carries an
/// idempotency key, so running it again changes nothing.
public struct Demo: Sendable {
    public let handler: CommandHandler
    public let progress: @Sendable (String) -> Void
    /// Where the demo's documents go; nil: none are attached.
    public let documents: DemoDocuments?

    public init(handler: CommandHandler, documents: DemoDocuments? = nil, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.documents = documents
        self.handler = handler
        self.progress = progress
    }

    public static let nordjyllandPool = UUID.named("pool/teknologipagt")
    public static let stemProjectPool = UUID.named("pool/stem-projektet")
    public static let schoolFundPool = UUID.named("pool/stem-skolefond")
    public static let transportPool = UUID.named("pool/elevtransport")

    static func date(_ text: String) -> Date { try! Date(text + "T10:00:00Z", strategy: .iso8601) }
    static func dkk(_ amount: String) -> Money { try! Money(amount, .dkk) }
    static func nok(_ amount: String) -> Money { try! Money(amount, .nok) }

    /// What the demo did.
    public struct Summary: Sendable {
        public var commands = 0
        public var replayed = 0
    }

    public func load() async throws -> Summary {
        var summary = Summary()
        func step(_ name: String, _ run: (CommandContext) async throws -> CommandResult) async throws {
            let context = CommandContext(actor: "demo", role: "admin", actingAs: .unrestricted,
                                         idempotency: Idempotency(key: "demo:\(name)", fingerprint: CommandContext.fingerprint(name)))
            let result = try await run(context)
            summary.commands += 1
            if result.replayed { summary.replayed += 1 }
        }
        let parts: [(String, (Step) async throws -> Void)] = [
            ("steering groups", loadGroups), ("pools and calls", loadPools),
            ("applications, decisions and payments: Den Nordjyske Teknologipagt", loadTeknologipagt),
            ("applications, decisions and payments: STEM-projektet", loadStemProject),
            ("applications, decisions and payments: Norway", loadNorway), ("users, one per role", loadUsers),
        ]
        for (name, load) in parts {
            progress(name)
            try await load(step)
        }
        return summary
    }

    /// One user per role, to sign in as: an applicant whose grant (two
    /// tranches paid) waits for its final report, a steering member, two
    /// administrators (four eyes), an auditor.
    public static let users: [(email: String, name: String, grant: RoleGrant)] = [
        ("jens.kristensen@demo.grantledger.dk", "Jens Kristensen", RoleGrant(role: .applicant, organisation: "Aalborg Tekniske Gymnasium")),
        ("line.poulsen@demo.grantledger.dk", "Line Poulsen", RoleGrant(role: .steering, groupId: stemINord, member: "line-poulsen")),
        ("maria.admin@demo.grantledger.dk", "Maria Sørensen", RoleGrant(role: .admin)),
        // A second administrator: a payment one requests, the other approves.
        ("bo.admin@demo.grantledger.dk", "Bo Vestergaard", RoleGrant(role: .admin)),
        ("revisor@demo.grantledger.dk", "Rigsrevisionen (demo)", RoleGrant(role: .auditor)),
    ]

    func loadUsers(_ step: Step) async throws {
        for user in Self.users {
            try await step("user/\(user.email)") { try await handler.inviteUser(
                InviteUser(userId: CommandHandler.userId(email: user.email), email: user.email, name: user.name, roles: [user.grant],
                           at: Self.date("2026-11-02")), $0) }
        }
    }

    typealias Step = (String, (CommandContext) async throws -> CommandResult) async throws -> Void

    static let stemINord = UUID.named("group/stem-i-nord")
    static let strategicGroup = UUID.named("group/stem-projektet-strategisk")
    static let norwayGroup = UUID.named("group/stem-okosystemet-i-nord")

    func loadGroups(_ step: Step) async throws {
        let nord: [Member] = [
            ("mette-larsen", "Mette Larsen", ["Region Nordjylland"]), ("jens-kristensen", "Jens Kristensen", ["Aalborg Tekniske Gymnasium"]),
            ("sofie-nielsen", "Sofie Nielsen", ["Hjørring Gymnasium"]), ("peter-hansen", "Peter Hansen", ["Aalborg Universitet"]),
            ("line-poulsen", "Line Poulsen", ["Frederikshavn Gymnasium"]), ("anders-moller", "Anders Møller", ["Grundfos"]),
            ("karen-thomsen", "Karen Thomsen", []), ("lars-christensen", "Lars Christensen", ["EUC Nord"]),
            ("hanne-jorgensen", "Hanne Jørgensen", []), ("ole-pedersen", "Ole Pedersen", ["Thisted Gymnasium"]),
            ("birgitte-rasmussen", "Birgitte Rasmussen", []), ("thomas-andersen", "Thomas Andersen", ["UCN"]),
        ].map { Member(id: $0.0, name: $0.1, affiliations: $0.2) }
        try await step("group/stem-i-nord") { try await handler.createSteeringGroup(
            CreateSteeringGroup(groupId: Self.stemINord, name: "STEM i Nord", members: nord, at: Self.date("2020-01-06")), $0) }
        let strategic: [Member] = [
            ("tc-director", "Tech College", ["Tech College"]), ("mercantec-director", "Mercantec", ["Mercantec"]),
            ("eucsyd-director", "EUC Syd", ["EUC Syd"]), ("zbc-director", "ZBC", ["ZBC"]),
            ("operator", "Operatør (Mercantec)", ["Mercantec"]),
        ].map { Member(id: $0.0, name: $0.1, affiliations: $0.2) }
        try await step("group/stem-projektet") { try await handler.createSteeringGroup(
            CreateSteeringGroup(groupId: Self.strategicGroup, name: "STEM-projektet strategisk styregruppe", members: strategic, at: Self.date("2019-01-07")), $0) }
        let norway: [Member] = [
            ("ingrid-berg", "Ingrid Berg", ["Tromsø kommune"]), ("ola-nordmann", "Ola Nordmann", ["STEM arbeidsliv"]),
            ("kari-hansen", "Kari Hansen", []),
        ].map { Member(id: $0.0, name: $0.1, affiliations: $0.2) }
        try await step("group/stem-okosystemet") { try await handler.createSteeringGroup(
            CreateSteeringGroup(groupId: Self.norwayGroup, name: "STEM-økosystemet i nord", members: norway, at: Self.date("2024-01-08")), $0) }
    }

    static let nordCall = UUID.named("call/teknologipagten-2024")
    /// STEM i Nord's meeting of 26 November 2026, with one application to decide.
    public static let nextNordMeeting = UUID.named("meeting/stem-i-nord/2026-11-26")
    /// Open from November 2026 to September 2027: the demo applicant applies here.
    public static let nordCall2027 = UUID.named("call/teknologipagten-2027")
    static let stemCall = UUID.named("call/stem-projektet-2019")
    static let schoolFundCall = UUID.named("call/klassesett-2024")
    static let transportCall = UUID.named("call/elevtransport-2024")
    static let partnerSchools = ["Tradium", "Learnmark", "Mercantec", "ZBC", "Roskilde Tekniske Skole", "Tech College", "EUC Syd", "Syddansk Erhvervsskole"]

    func loadPools(_ step: Step) async throws {
        try await step("pool/teknologipagt") { try await handler.createPool(CreatePool(
            poolId: Self.nordjyllandPool, name: "Den Nordjyske Teknologipagt", owner: "Region Nordjylland", currency: .dkk, carryOver: .carryOver,
            periods: (2020...2028).map { BudgetPeriodSpec(period: String($0), amount: Self.dkk("5000000.00")) },
            sources: [FundingSourceSpec(id: "region-nordjylland", name: "Region Nordjylland", amount: Self.dkk("45000000.00"))],
            steeringGroupId: Self.stemINord,
            eligibility: EligibilityRules(leaderMemberOfGroup: Self.stemINord, minimumAmount: Self.dkk("25000.00"), maximumAmount: Self.dkk("750000.00")),
            at: Self.date("2020-01-06")), $0) }
        try await step("pool/stem-projektet") { try await handler.createPool(CreatePool(
            poolId: Self.stemProjectPool, name: "STEM-projektet", owner: "Mercantec (operatør)", currency: .dkk, carryOver: .lapse,
            periods: [BudgetPeriodSpec(period: "2019-2021", amount: Self.dkk("49000000.00"))],
            sources: [
                FundingSourceSpec(id: "eu", name: "EU (Socialfonden)", amount: Self.dkk("43000000.00")),
                FundingSourceSpec(id: "region-midtjylland", name: "Region Midtjylland", amount: Self.dkk("3000000.00"), earmarkedFor: ["Tradium", "Learnmark", "Mercantec"]),
                FundingSourceSpec(id: "region-sjaelland", name: "Region Sjælland", amount: Self.dkk("3000000.00"), earmarkedFor: ["ZBC", "Roskilde Tekniske Skole"]),
            ],
            steeringGroupId: Self.strategicGroup, eligibility: EligibilityRules(organisations: Self.partnerSchools),
            at: Self.date("2019-01-07")), $0) }
        try await step("pool/stem-skolefond") { try await handler.createPool(CreatePool(
            poolId: Self.schoolFundPool, name: "STEM skolefond", owner: "STEM-økosystemet i nord", currency: .nok, carryOver: .lapse,
            periods: [BudgetPeriodSpec(period: "2024", amount: Self.nok("500000.00"))],
            sources: [FundingSourceSpec(id: "stem-okosystemet", name: "STEM-økosystemet i nord", amount: Self.nok("500000.00"))],
            steeringGroupId: Self.norwayGroup, eligibility: EligibilityRules(maximumAmount: Self.nok("60000.00")), at: Self.date("2024-01-08")), $0) }
        try await step("pool/elevtransport") { try await handler.createPool(CreatePool(
            poolId: Self.transportPool, name: "Elevtransport til arbeidslivsaktiviteter", owner: "STEM arbeidsliv", currency: .nok, carryOver: .lapse,
            periods: [BudgetPeriodSpec(period: "2024", amount: Self.nok("200000.00"))],
            sources: [FundingSourceSpec(id: "stem-arbeidsliv", name: "STEM arbeidsliv", amount: Self.nok("200000.00"))],
            steeringGroupId: Self.norwayGroup, eligibility: EligibilityRules(maximumAmount: Self.nok("5000.00")), at: Self.date("2024-01-08")), $0) }

        try await step("call/teknologipagten-2024") { try await handler.openCall(OpenCall(
            callId: Self.nordCall, poolId: Self.nordjyllandPool, title: "Teknologipagten ansøgningsrunde juni 2024",
            opensAt: Self.date("2024-06-03"), closesAt: Self.date("2024-08-30"), cap: Self.dkk("3000000.00"), at: Self.date("2024-05-27")), $0) }
        try await step("call/teknologipagten-2027") { try await handler.openCall(OpenCall(
            callId: Self.nordCall2027, poolId: Self.nordjyllandPool, title: "Teknologipagten ansøgningsrunde 2027",
            opensAt: Self.date("2026-11-02"), closesAt: Self.date("2027-09-30"), cap: Self.dkk("3000000.00"), at: Self.date("2026-10-26")), $0) }
        try await step("call/stem-projektet-2019") { try await handler.openCall(OpenCall(
            callId: Self.stemCall, poolId: Self.stemProjectPool, title: "STEM-projektet partnerskoler", opensAt: Self.date("2019-02-01"),
            closesAt: Self.date("2019-10-31"), cap: nil, at: Self.date("2019-01-21")), $0) }
        try await step("call/klassesett-2024") { try await handler.openCall(OpenCall(
            callId: Self.schoolFundCall, poolId: Self.schoolFundPool, title: "Klassesett og utstyr 2024", opensAt: Self.date("2024-01-15"),
            closesAt: Self.date("2024-11-30"), cap: nil, at: Self.date("2024-01-10")), $0) }
        try await step("call/elevtransport-2024") { try await handler.openCall(OpenCall(
            callId: Self.transportCall, poolId: Self.transportPool, title: "Transportstøtte 2024", opensAt: Self.date("2024-01-15"),
            closesAt: Self.date("2024-12-15"), cap: nil, at: Self.date("2024-01-10")), $0) }
    }

    /// Drafts (and unless `submit` is false, submits) an application.
    func apply(_ step: Step, _ name: String, call: UUID, _ content: ApplicationContent, drafted: String, submit: Bool = true) async throws -> UUID {
        let id = UUID.named("application/\(name)")
        try await step("application/\(name)/draft") { try await handler.draftApplication(
            DraftApplication(applicationId: id, callId: call, content: content, at: Self.date(drafted)), $0) }
        if submit {
            try await step("application/\(name)/submit") { try await handler.submitApplication(SubmitApplication(applicationId: id, at: Self.date(drafted)), $0) }
        }
        return id
    }

    /// Requests, approves (four eyes) and pays one tranche.
    func pay(_ step: Step, _ grant: UUID, tranche: Int, on day: String, reference: String) async throws {
        let request = UUID.named("payment/\(grant)/\(tranche)")
        try await step("payment/\(grant)/\(tranche)/request") { try await handler.requestPayment(
            RequestPayment(grantId: grant, paymentRequestId: request, tranche: tranche, requestedBy: "bogholder-anna", at: Self.date(day)), $0) }
        try await step("payment/\(grant)/\(tranche)/approve") { try await handler.approvePayment(
            ApprovePayment(grantId: grant, paymentRequestId: request, approvedBy: "okonomichef-bent", at: Self.date(day)), $0) }
        try await step("payment/\(grant)/\(tranche)/paid") { try await handler.markPaymentPaid(
            MarkPaymentPaid(grantId: grant, paymentRequestId: request, reference: reference, at: Self.date(day)), $0) }
    }

    func report(_ step: Step, _ grant: UUID, _ kind: ReportKind, on day: String, summary: String) async throws {
        let report = UUID.named("report/\(grant)/\(kind.rawValue)")
        try await step("report/\(grant)/\(kind.rawValue)/file") { try await handler.fileReport(
            FileReport(grantId: grant, reportId: report, kind: kind, summary: summary, at: Self.date(day)), $0) }
        try await step("report/\(grant)/\(kind.rawValue)/approve") { try await handler.approveReport(
            ApproveReport(grantId: grant, reportId: report, approvedBy: "konsulent-camilla", at: Self.date(day)), $0) }
    }

    func content(_ organisation: String, leader: String, title: String, requested: Money, partners: [String] = [], focus: [String], students: Int) -> ApplicationContent {
        ApplicationContent(organisation: organisation, projectLeader: leader, partners: partners, title: title,
                           description: "\(title): \(organisation) og partnere.", focusAreas: focus, requested: requested,
                           expectedOutcomes: "\(students) elever når projektet", studentsReached: students)
    }

    func loadTeknologipagt(_ step: Step) async throws {
        let call = Self.nordCall
        let robots = try await apply(step, "robotteknologi", call: call, content("Aalborg Tekniske Gymnasium", leader: "jens-kristensen",
            title: "Robotteknologi i 8. klasse", requested: Self.dkk("400000.00"), partners: ["Aalborg Universitet"], focus: ["undervisningsindhold"], students: 600), drafted: "2024-06-10")
        let marathon = try await apply(step, "naturfagsmaraton", call: call, content("Hjørring Gymnasium", leader: "sofie-nielsen",
            title: "Naturfagsmaraton", requested: Self.dkk("250000.00"), focus: ["overgang fra grundskole"], students: 300), drafted: "2024-06-20")
        let girls = try await apply(step, "girls-in-stem", call: call, content("Frederikshavn Gymnasium", leader: "karen-thomsen",
            title: "Girls in STEM", requested: Self.dkk("200000.00"), focus: ["flere i STEM-uddannelser"], students: 150), drafted: "2024-07-01")
        _ = try await apply(step, "makerspace-thisted", call: call, content("Thisted Gymnasium", leader: "ole-pedersen",
            title: "Makerspace Thisted", requested: Self.dkk("180000.00"), focus: ["undervisningsindhold"], students: 200), drafted: "2024-08-01", submit: false)
        let mentors = try await apply(step, "matematikvejledere", call: call, content("EUC Nord", leader: "hanne-jorgensen",
            title: "Matematikvejledere", requested: Self.dkk("150000.00"), focus: ["opkvalificering af lærere"], students: 400), drafted: "2024-08-05")
        let tech = try await apply(step, "teknologiforstaaelse", call: call, content("UCN", leader: "birgitte-rasmussen",
            title: "Teknologiforståelse for lærerstuderende", requested: Self.dkk("320000.00"), focus: ["opkvalificering af lærere"], students: 250), drafted: "2024-08-20")

        try await attach(step, "Budget Teknologiforståelse 2027.pdf", Self.pdf([
            "Teknologiforståelse for lærerstuderende: budget", "UCN, projektleder Birgitte Rasmussen",
            "Undervisningsforløb og materialer: 180.000,00 kr.", "Frikøb af undervisere: 100.000,00 kr.", "Evaluering: 40.000,00 kr.",
            "I alt: 320.000,00 kr.",
        ]), to: tech, on: "2024-08-20")
        let meeting = UUID.named("meeting/stem-i-nord/2024-09-12")
        let decidedAt = Self.date("2024-09-12")
        let present = ["mette-larsen", "jens-kristensen", "sofie-nielsen", "peter-hansen", "line-poulsen", "anders-moller", "karen-thomsen", "lars-christensen", "hanne-jorgensen"]
        try await step("meeting/stem-i-nord/2024-09-12") { try await handler.holdMeeting(HoldMeeting(
            meetingId: meeting, groupId: Self.stemINord, date: Self.date("2024-09-12"), present: present, agenda: [robots, marathon, girls, mentors]), $0) }
        func votes(except recused: [String]) -> [Vote] {
            present.filter { !recused.contains($0) }.enumerated().map { Vote(member: $0.element, vote: $0.offset == 0 ? .abstain : .for) }
        }
        try await step("decision/robotteknologi") { try await handler.recordDecision(RecordDecision(
            meetingId: meeting, applicationId: robots, applicationVersion: 1, votes: votes(except: ["jens-kristensen", "peter-hansen"]),
            outcome: .approve(.init(amount: Self.dkk("300000.00"), period: "2024", conditions: ["Evaluering med Aalborg Universitet"])), at: decidedAt), $0) }
        try await step("decision/naturfagsmaraton") { try await handler.recordDecision(RecordDecision(
            meetingId: meeting, applicationId: marathon, applicationVersion: 1, votes: votes(except: ["sofie-nielsen"]),
            outcome: .reject(reason: "Overlapper med eksisterende regionale aktiviteter"), at: decidedAt), $0) }
        try await step("decision/girls-in-stem") { try await handler.recordDecision(RecordDecision(
            meetingId: meeting, applicationId: girls, applicationVersion: 1, votes: votes(except: ["line-poulsen"]),
            outcome: .approve(.init(amount: Self.dkk("200000.00"), period: "2024")), at: decidedAt), $0) }
        try await step("decision/matematikvejledere") { try await handler.recordDecision(RecordDecision(
            meetingId: meeting, applicationId: mentors, applicationVersion: 1, votes: votes(except: ["lars-christensen"]),
            outcome: .approve(.init(amount: Self.dkk("150000.00"), period: "2024")), at: decidedAt), $0) }
        // The next meeting: it has begun and decides Teknologiforståelse, from
        // which Thomas Andersen (UCN) is recused; the demo's steering member records it.
        try await step("meeting/stem-i-nord/2026-11-26") { try await handler.holdMeeting(HoldMeeting(
            meetingId: Self.nextNordMeeting, groupId: Self.stemINord, date: Self.date("2026-11-26"),
            present: ["mette-larsen", "sofie-nielsen", "peter-hansen", "line-poulsen", "anders-moller", "karen-thomsen", "hanne-jorgensen",
                      "birgitte-rasmussen", "thomas-andersen"],
            agenda: [tech]), $0) }

        // Robotteknologi: paid on signing and on the approved progress report.
        try await pay(step, robots, tranche: 1, on: "2024-10-01", reference: "NORD-2024-0117")
        try await report(step, robots, .progress, on: "2025-03-15", summary: "14 klasser har gennemført forløbet")
        try await attach(step, "Regnskab 1. rate.csv", Array("dato,post,beløb\r\n2024-10-15,Robotsæt (14 klasser),84000.00\r\n2024-11-02,Kursus for lærere,31500.00\r\n".utf8),
                         to: robots, grant: true, on: "2025-03-15")
        try await pay(step, robots, tranche: 2, on: "2025-03-20", reference: "NORD-2025-0032")
        // Girls in STEM: first tranche paid, then the project stopped: the rest is released.
        try await pay(step, girls, tranche: 1, on: "2024-10-01", reference: "NORD-2024-0118")
        try await step("adjust/girls-in-stem/cancel") { try await handler.adjustGrant(AdjustGrant(
            grantId: girls, kind: .cancel, reason: "Projektleder fratrådt; projektet stoppes", at: Self.date("2025-01-20")), $0) }
        // Matematikvejledere: paid in full, then unspent money repaid.
        try await pay(step, mentors, tranche: 1, on: "2024-10-01", reference: "NORD-2024-0119")
        try await report(step, mentors, .progress, on: "2025-02-01", summary: "Vejledere uddannet på 6 skoler")
        try await pay(step, mentors, tranche: 2, on: "2025-02-10", reference: "NORD-2025-0011")
        try await report(step, mentors, .final, on: "2025-06-30", summary: "Slutrapport: 410 elever nået")
        try await pay(step, mentors, tranche: 3, on: "2025-07-05", reference: "NORD-2025-0078")
        try await step("adjust/matematikvejledere/repayment") { try await handler.adjustGrant(AdjustGrant(
            grantId: mentors, kind: .repayment(amount: Self.dkk("20000.00"), reference: "EUC-RETUR-2025-3"), reason: "Ubrugte midler til kursusgebyrer",
            at: Self.date("2025-08-15")), $0) }
    }

    func loadStemProject(_ step: Step) async throws {
        let tradium = try await apply(step, "tradium-overgang", call: Self.stemCall, content("Tradium", leader: "projektleder-tradium",
            title: "Fra grundskole til EUX", requested: Self.dkk("600000.00"), focus: ["overgang fra grundskole"], students: 900), drafted: "2019-03-01")
        let zbc = try await apply(step, "zbc-laerepladser", call: Self.stemCall, content("ZBC", leader: "projektleder-zbc",
            title: "Flere lærepladser i teknologifag", requested: Self.dkk("500000.00"), partners: ["Roskilde Tekniske Skole"], focus: ["flere lærepladser"], students: 350), drafted: "2019-03-05")
        let meeting = UUID.named("meeting/stem-projektet/2019-04-02")
        let decidedAt = Self.date("2019-04-02")
        try await step("meeting/stem-projektet/2019-04-02") { try await handler.holdMeeting(HoldMeeting(
            meetingId: meeting, groupId: Self.strategicGroup, date: Self.date("2019-04-02"),
            present: ["tc-director", "mercantec-director", "eucsyd-director", "zbc-director", "operator"], agenda: [tradium, zbc]), $0) }
        try await step("decision/tradium-overgang") { try await handler.recordDecision(RecordDecision(
            meetingId: meeting, applicationId: tradium, applicationVersion: 1,
            votes: ["tc-director", "mercantec-director", "eucsyd-director", "zbc-director", "operator"].map { Vote(member: $0, vote: .for) },
            outcome: .approve(.init(amount: Self.dkk("600000.00"), period: "2019-2021")), at: decidedAt), $0) }
        try await step("decision/zbc-laerepladser") { try await handler.recordDecision(RecordDecision(
            meetingId: meeting, applicationId: zbc, applicationVersion: 1,
            votes: ["tc-director", "mercantec-director", "eucsyd-director", "operator"].map { Vote(member: $0, vote: .for) },
            outcome: .approve(.init(amount: Self.dkk("500000.00"), period: "2019-2021")), at: decidedAt), $0) }
        try await pay(step, tradium, tranche: 1, on: "2019-05-01", reference: "STEM-2019-001")
    }

    func loadNorway(_ step: Step) async throws {
        let classSet = try await apply(step, "tromso-klassesett", call: Self.schoolFundCall, content("Tromsø skole", leader: "rektor-tromso",
            title: "Klassesett mikro:bit og sensorer", requested: Self.nok("45000.00"), focus: ["utstyr"], students: 120), drafted: "2024-02-01")
        var claims: [UUID] = []
        for (index, (school, amount)) in [("Kvaløya skole", "2400.00"), ("Hamna skole", "3500.00"), ("Tromsdalen skole", "2000.00")].enumerated() {
            claims.append(try await apply(step, "transport-\(index + 1)", call: Self.transportCall, content(school, leader: "laerer-\(index + 1)",
                title: "Busstur til bedriftsbesøk", requested: Self.nok(amount), focus: ["arbeidsliv"], students: 25), drafted: "2024-03-0\(index + 1)"))
        }
        let meeting = UUID.named("meeting/norge/2024-03-20")
        let decidedAt = Self.date("2024-03-20")
        try await step("meeting/norge/2024-03-20") { try await handler.holdMeeting(HoldMeeting(
            meetingId: meeting, groupId: Self.norwayGroup, date: Self.date("2024-03-20"), present: ["ingrid-berg", "ola-nordmann", "kari-hansen"],
            agenda: [classSet] + claims), $0) }
        let oneTranche = [TrancheSpec(percent: 100, trigger: .signing)]
        try await step("decision/tromso-klassesett") { try await handler.recordDecision(RecordDecision(
            meetingId: meeting, applicationId: classSet, applicationVersion: 1, votes: [Vote(member: "ola-nordmann", vote: .for), Vote(member: "kari-hansen", vote: .for)],
            outcome: .approve(.init(amount: Self.nok("45000.00"), period: "2024", tranches: oneTranche)), at: decidedAt), $0) }
        try await pay(step, classSet, tranche: 1, on: "2024-04-02", reference: "NO-SKOLE-2024-14")
        for (index, claim) in claims.enumerated() {
            let requested = [Self.nok("2400.00"), Self.nok("3500.00"), Self.nok("2000.00")][index]
            try await step("decision/transport-\(index + 1)") { try await handler.recordDecision(RecordDecision(
                meetingId: meeting, applicationId: claim, applicationVersion: 1, votes: ["ingrid-berg", "ola-nordmann", "kari-hansen"].map { Vote(member: $0, vote: .for) },
                outcome: .approve(.init(amount: requested, period: "2024", tranches: oneTranche)), at: decidedAt), $0) }
            try await pay(step, claim, tranche: 1, on: "2024-04-0\(index + 3)", reference: "NO-TRANSPORT-2024-\(index + 1)")
        }
    }
}
