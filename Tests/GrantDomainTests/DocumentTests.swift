import Foundation
import GrantDomain
import Testing

/// Who may attach what, to what, when: the deciders' rules on documents.
@Suite("Documents attached and scanned")
struct DocumentDeciderTests {
    static let school = "Aalborg Tekniske Gymnasium"
    static let digest = try! DocumentDigest(hex: String(repeating: "ab", count: 32))
    static let facts = DocumentFacts(sha256: digest, size: 1200, mediaType: "application/pdf", fileName: "budget.pdf")

    static func attach(_ facts: DocumentFacts = facts, report: UUID? = nil) -> AttachDocument {
        AttachDocument(document: facts, reportId: report, attachedBy: "leader@school", at: World.day(3))
    }

    @Test("an applicant attaches to its own undecided application; the event records digest, size, kind and name")
    func attachToApplication() throws {
        var world = try World()
        let id = try world.submitted(World.content(Self.school))
        given(ApplicationState.self).when { _ throws(DomainError) in
            try Self.attach().decide(application: world.applications[id]!, applicationId: id, actingAs: .applicant(organisation: Self.school))
        }.then(DocumentAttached(document: Self.facts, reportId: nil, attachedBy: "leader@school", occurredAt: World.day(3)))
        let attached = try Self.attach().decide(application: world.applications[id]!, applicationId: id)
        #expect(world.apply(attached, to: world.applications[id]!).documents.map(\.document) == [Self.facts])
    }

    @Test("another organisation, a steering member, an auditor: none attaches")
    func notOwners() throws {
        var world = try World()
        let id = try world.submitted(World.content(Self.school))
        for actor in [ActingAs.applicant(organisation: "Tech College"), .member("bo", group: world.groupId), .auditor] {
            given(ApplicationState.self).when { _ throws(DomainError) in
                try Self.attach().decide(application: world.applications[id]!, applicationId: id, actingAs: actor)
            }.then(refused: .notOwner(kind: "application", id: id.uuidString))
        }
    }

    @Test("a decided application takes no more documents; a missing one is not found")
    func decided() throws {
        var world = try World()
        let id = try world.approved(content: World.content(Self.school))
        given(ApplicationState.self).when { _ throws(DomainError) in
            try Self.attach().decide(application: world.applications[id]!, applicationId: id)
        }.then(refused: .invalidState(kind: "application", id: id.uuidString, status: "approved", action: "attach documents"))
        let unknown = UUID()
        given(ApplicationState.self).when { state throws(DomainError) in try Self.attach().decide(application: state, applicationId: unknown) }
            .then(refused: .notFound(kind: "application", id: unknown.uuidString))
    }

    @Test("the same bytes twice to one application are refused, naming the first name")
    func sameTwice() throws {
        var world = try World()
        let id = try world.submitted(World.content(Self.school))
        let once = world.apply(try Self.attach().decide(application: world.applications[id]!, applicationId: id), to: world.applications[id]!)
        var renamed = Self.facts
        renamed.fileName = "copy.pdf"
        given(ApplicationState.self).when { _ throws(DomainError) in try Self.attach(renamed).decide(application: once, applicationId: id) }
            .then(refused: .alreadyExists(kind: "document", id: "\(Self.digest) (attached as budget.pdf)"))
    }

    @Test("empty, too large, a kind not taken, a path for a name, a control character: refused by field", arguments: [
        (DocumentFacts(sha256: digest, size: 0, mediaType: "application/pdf", fileName: "a.pdf"), "file"),
        (DocumentFacts(sha256: digest, size: Limits.documentBytes + 1, mediaType: "application/pdf", fileName: "a.pdf"), "file"),
        (DocumentFacts(sha256: digest, size: 10, mediaType: "application/x-msdownload", fileName: "a.exe"), "file"),
        (DocumentFacts(sha256: digest, size: 10, mediaType: "application/pdf", fileName: "../../etc/passwd"), "fileName"),
        (DocumentFacts(sha256: digest, size: 10, mediaType: "application/pdf", fileName: "..\\boot.ini"), "fileName"),
        (DocumentFacts(sha256: digest, size: 10, mediaType: "application/pdf", fileName: ".."), "fileName"),
        (DocumentFacts(sha256: digest, size: 10, mediaType: "application/pdf", fileName: "a\r\nSet-Cookie: x.pdf"), "fileName"),
        (DocumentFacts(sha256: digest, size: 10, mediaType: "application/pdf", fileName: String(repeating: "a", count: 256)), "fileName"),
        (DocumentFacts(sha256: digest, size: 10, mediaType: "application/pdf", fileName: "   "), "fileName"),
        (DocumentFacts(sha256: digest, size: 10, mediaType: "text/plain", fileName: "page.html"), "fileName"),
    ])
    func badFacts(_ facts: DocumentFacts, _ field: String) throws {
        var world = try World()
        let id = try world.submitted(World.content(Self.school))
        do {
            _ = try Self.attach(facts).decide(application: world.applications[id]!, applicationId: id)
            Issue.record("taken: \(facts)")
        } catch {
            guard case .invalidInput(let named, _) = error else { Issue.record("\(error)"); return }
            #expect(named == field)
        }
    }

    @Test("a name keeps its kind's extension, or has it added: no text file is kept as a program or a page")
    func names() {
        #expect(DocumentKinds.fileName("page.html", for: "text/plain") == "page.html.txt")
        #expect(DocumentKinds.fileName("run.BAT", for: "text/plain") == "run.BAT.txt")
        #expect(DocumentKinds.fileName("Budget.PDF", for: "application/pdf") == "Budget.PDF")
        #expect(DocumentKinds.fileName("photo.jpeg", for: "image/jpeg") == "photo.jpeg")
        #expect(DocumentKinds.fileName("macro.docm", for: "application/vnd.openxmlformats-officedocument.wordprocessingml.document") == "macro.docm.docx")
    }

    @Test("a digest is 64 lowercase hexadecimal digits; its stream id is stable and a version 8 UUID")
    func digests() throws {
        for bad in ["", String(repeating: "a", count: 63), String(repeating: "A", count: 64), String(repeating: "g", count: 64), String(repeating: "é", count: 32)] {
            #expect(throws: DomainError.self) { try DocumentDigest(hex: bad) }
        }
        let digest = DocumentDigest(bytes: Array(0..<32))
        #expect(digest.hex == "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        #expect(digest.streamId == (try DocumentDigest(hex: digest.hex)).streamId)
        #expect(digest.streamId.uuidString.lowercased().hasPrefix("00010203-0405-8607-8809-"))
    }

    @Test("a grant takes documents while it stands, for a report it has; a cancelled one takes none")
    func grants() throws {
        var world = try World()
        let id = try world.approved(content: World.content(Self.school))
        let grant = world.grants[id]!
        let report = UUID()
        given(GrantState.self).when { _ throws(DomainError) in try Self.attach(report: report).decide(grant: grant, grantId: id) }
            .then(refused: .notFound(kind: "report", id: report.uuidString))
        given(GrantState.self).when { _ throws(DomainError) in
            try Self.attach().decide(grant: grant, grantId: id, actingAs: .applicant(organisation: "Tech College"))
        }.then(refused: .notOwner(kind: "grant", id: id.uuidString))
        #expect(try Self.attach().decide(grant: grant, grantId: id, actingAs: .applicant(organisation: Self.school)).count == 1)
        try world.fileAndApproveReport(id, kind: .progress)
        let filed = try #require(world.grants[id]!.reports.keys.first)
        #expect(try Self.attach(report: filed).decide(grant: world.grants[id]!, grantId: id).count == 1)
        let cancelled = world.apply([GrantCancelled(released: World.dkk("0.00"), reason: "fraud", occurredAt: World.day(9))], to: world.grants[id]!)
        given(GrantState.self).when { _ throws(DomainError) in try Self.attach().decide(grant: cancelled, grantId: id) }
            .then(refused: .invalidState(kind: "grant", id: id.uuidString, status: "cancelled", action: "attach documents"))
    }

    @Test("a meeting takes documents from the members of the group that held it, and an administrator")
    func meetings() throws {
        var world = try World()
        let id = try world.submitted(World.content(Self.school))
        try world.holdMeeting(agenda: [id])
        let meeting = world.meeting, group = world.group, meetingId = world.meetingId, groupId = world.groupId
        #expect(try Self.attach().decide(meeting: meeting, meetingId: meetingId, group: group, actingAs: .member("bo", group: groupId)).count == 1)
        #expect(try Self.attach().decide(meeting: meeting, meetingId: meetingId, group: group).count == 1)
        for actor in [ActingAs.applicant(organisation: Self.school), .auditor] {
            given(MeetingState.self).when { _ throws(DomainError) in
                try Self.attach().decide(meeting: meeting, meetingId: meetingId, group: group, actingAs: actor)
            }.then(refused: .notOnSteeringGroup(member: "", meeting: meetingId.uuidString))
        }
        given(MeetingState.self).when { _ throws(DomainError) in
            try Self.attach().decide(meeting: meeting, meetingId: meetingId, group: group, actingAs: .member("zoe", group: groupId))
        }.then(refused: .notOnSteeringGroup(member: "zoe", meeting: meetingId.uuidString))
        // "bo" is a member's id in this group only: bound to another group, the same id is refused.
        given(MeetingState.self).when { _ throws(DomainError) in
            try Self.attach().decide(meeting: meeting, meetingId: meetingId, group: group, actingAs: .member("bo", group: UUID()))
        }.then(refused: .notOnSteeringGroup(member: "bo", meeting: meetingId.uuidString))
        given(MeetingState.self).when { state throws(DomainError) in try Self.attach().decide(meeting: state, meetingId: meetingId, group: group) }
            .then(refused: .notFound(kind: "meeting", id: meetingId.uuidString))
    }

    @Test("a scan's verdict: infected names its signature, clean names none")
    func scans() throws {
        given(DocumentState.self).when { state throws(DomainError) in
            try RecordScan(sha256: Self.digest, verdict: .infected, signature: nil, scanner: "ClamAV 1.4.6", at: World.day(1)).decide(document: state)
        }.then(refused: .invalidInput(field: "signature", reason: "an infected verdict names the signature found"))
        given(DocumentState.self).when { state throws(DomainError) in
            try RecordScan(sha256: Self.digest, verdict: .clean, signature: "Eicar", scanner: "ClamAV 1.4.6", at: World.day(1)).decide(document: state)
        }.then(refused: .invalidInput(field: "signature", reason: "a clean verdict names no signature"))
        let infected = try RecordScan(sha256: Self.digest, verdict: .infected, signature: "Eicar-Test", scanner: "ClamAV 1.4.6", at: World.day(1))
            .decide(document: .initial)
        // A later scan with newer signatures may change the verdict; the last one stands.
        let clean = try RecordScan(sha256: Self.digest, verdict: .clean, signature: nil, scanner: "ClamAV 1.4.7", at: World.day(2))
            .decide(document: DocumentState.replay(infected))
        #expect(DocumentState.replay(infected + clean).lastScan?.verdict == .clean)
    }
}
