import Foundation

/// A document's content address: the SHA-256 of its bytes, as 64 lowercase
/// hexadecimal digits. The event that attaches a document records it, so
/// the bytes an auditor opens can be checked against what was attached.
public struct DocumentDigest: Hashable, Sendable, Codable, CustomStringConvertible {
    public let hex: String

    public init(hex: String) throws(DomainError) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw .invalidInput(field: "sha256", reason: "must be 64 lowercase hexadecimal digits")
        }
        self.hex = hex
    }

    public init(bytes: some Sequence<UInt8>) {
        hex = bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try DocumentDigest(hex: text) } catch { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)")) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    public var description: String { hex }

    /// The id of the document's own stream (its scans): the digest's first
    /// 128 bits, marked as a version 8 UUID. The digest in the events is the
    /// authority; the id only names the stream.
    public var streamId: UUID {
        var bytes = stride(from: 0, to: 32, by: 2).map { UInt8(hex.utf8Slice($0, 2), radix: 16)! }
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
    func utf8Slice(_ start: Int, _ length: Int) -> Substring {
        let from = utf8.index(startIndex, offsetBy: start)
        return self[from..<utf8.index(from, offsetBy: length)]
    }
}

/// The kinds of file a programme takes, by media type as sniffed from the
/// bytes (never as the client names it): what applicants, steering groups
/// and auditors open in the software they have, and nothing that runs.
public enum DocumentKinds {
    public static let allowed: [String: String] = [
        "application/pdf": "pdf",
        "image/png": "png",
        "image/jpeg": "jpg",
        "text/plain": "txt",
        "text/csv": "csv",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
        "application/vnd.oasis.opendocument.text": "odt",
        "application/vnd.oasis.opendocument.spreadsheet": "ods",
    ]
}

extension DocumentKinds {
    /// `name` ending in its kind's extension, the extension added when it
    /// does not: a text file named `run.bat` or `page.html` is kept as
    /// `run.bat.txt` and `page.html.txt`, so no program opens it as what it is not.
    public static func fileName(_ name: String, for mediaType: String) -> String {
        guard let ext = allowed[mediaType], !hasExtension(name, ext) else { return name }
        return name + "." + ext
    }

    static func hasExtension(_ name: String, _ ext: String) -> Bool {
        let lowered = name.lowercased()
        return lowered.hasSuffix("." + ext) || (ext == "jpg" && lowered.hasSuffix(".jpeg"))
    }
}

/// What the store knows of a document's bytes once they are in: the facts an attachment records.
public struct DocumentFacts: Codable, Hashable, Sendable {
    public var sha256: DocumentDigest
    public var size: Int64
    public var mediaType: String
    public var fileName: String

    public init(sha256: DocumentDigest, size: Int64, mediaType: String, fileName: String) {
        (self.sha256, self.size, self.mediaType, self.fileName) = (sha256, size, mediaType, fileName)
    }

    func validated() throws(DomainError) {
        guard (1...Limits.documentBytes).contains(size) else {
            throw .invalidInput(field: "file", reason: size <= 0 ? "must not be empty" : "must be at most \(Limits.documentBytes) bytes, got \(size)")
        }
        guard DocumentKinds.allowed[mediaType] != nil else {
            throw .invalidInput(field: "file", reason: "is \(mediaType.prefix(Limits.name)), which is not among the kinds taken (\(DocumentKinds.allowed.values.sorted().joined(separator: ", ")))")
        }
        try requireLine(fileName, field: "fileName", maximum: Limits.fileName)
        guard !fileName.contains("/"), !fileName.contains("\\"), fileName != ".", fileName != ".." else {
            throw .invalidInput(field: "fileName", reason: "must be a file's name, not a path")
        }
        guard let ext = DocumentKinds.allowed[mediaType], DocumentKinds.hasExtension(fileName, ext) else {
            throw .invalidInput(field: "fileName", reason: "must end in .\(DocumentKinds.allowed[mediaType] ?? "") for its kind, \(mediaType)")
        }
    }
}

// MARK: Events

/// A document attached to an application or a grant (a report's evidence when `reportId` is set).
public struct DocumentAttached: DomainEvent {
    public static let eventType = "DocumentAttached"
    public var document: DocumentFacts
    public var reportId: UUID?
    /// Who attached it: the sender's subject.
    public var attachedBy: String
    public var occurredAt: Date

    package init(document: DocumentFacts, reportId: UUID?, attachedBy: String, occurredAt: Date) {
        (self.document, self.reportId, self.attachedBy, self.occurredAt) = (document, reportId, attachedBy, occurredAt)
    }
}

public enum ScanVerdict: String, Codable, Hashable, Sendable {
    case clean, infected
}

/// A virus scanner's verdict on a document's bytes. A document is
/// quarantined until one says clean; a later scan (with newer signatures) may say otherwise.
public struct DocumentScanned: DomainEvent {
    public static let eventType = "DocumentScanned"
    public var sha256: DocumentDigest
    public var verdict: ScanVerdict
    /// The signature found, when infected.
    public var signature: String?
    /// The scanner and its signatures' version, as it reports them.
    public var scanner: String
    public var occurredAt: Date

    package init(sha256: DocumentDigest, verdict: ScanVerdict, signature: String?, scanner: String, occurredAt: Date) {
        (self.sha256, self.verdict, self.signature, self.scanner, self.occurredAt) = (sha256, verdict, signature, scanner, occurredAt)
    }
}

// MARK: State

/// One document's bytes, wherever attached: the scans of them.
public struct DocumentState: Aggregate, Hashable {
    public var lastScan: DocumentScanned?

    public static let initial = DocumentState()
    public static func streamName(_ id: UUID) -> String { "document-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [DocumentScanned.self]

    public consuming func evolve(_ event: any DomainEvent) -> DocumentState {
        var state = consume self
        if let event = event as? DocumentScanned { state.lastScan = event }
        return state
    }
}

// MARK: Commands

public struct AttachDocument: Hashable, Sendable {
    public var document: DocumentFacts
    public var reportId: UUID?
    public var attachedBy: String
    public var at: Date

    public init(document: DocumentFacts, reportId: UUID? = nil, attachedBy: String, at: Date) {
        (self.document, self.reportId, self.attachedBy, self.at) = (document, reportId, attachedBy, at)
    }

    /// Evidence for an application: by its organisation, until a decision is taken on it.
    public func decide(application: ApplicationState, applicationId: UUID, actingAs: ActingAs = .unrestricted) throws(DomainError) -> [any DomainEvent] {
        guard let content = application.content else { throw .notFound(kind: "application", id: applicationId.uuidString) }
        try actingAs.requireOwner(of: "application", applicationId, organisation: content.organisation)
        guard [.draft, .submitted, .returnedForRevision].contains(application.status) else {
            throw .invalidState(kind: "application", id: applicationId.uuidString, status: application.status.rawValue, action: "attach documents")
        }
        guard reportId == nil else { throw .invalidInput(field: "reportId", reason: "reports belong to grants, not applications") }
        return try attach(to: application.documents)
    }

    /// A grant's documents (the signed agreement, a report's evidence): by its organisation, while the grant stands.
    public func decide(grant: GrantState, grantId: UUID, actingAs: ActingAs = .unrestricted) throws(DomainError) -> [any DomainEvent] {
        let awarded = try grant.requireActive(grantId, action: "attach documents")
        try actingAs.requireOwner(of: "grant", grantId, organisation: awarded.organisation)
        if let reportId, grant.reports[reportId] == nil { throw .notFound(kind: "report", id: reportId.uuidString) }
        return try attach(to: grant.documents)
    }

    /// A meeting's documents (its minutes): by a member of the group that held it, or an administrator.
    public func decide(meeting: MeetingState, meetingId: UUID, group: SteeringGroupState, actingAs: ActingAs = .unrestricted) throws(DomainError) -> [any DomainEvent] {
        guard let held = meeting.held else { throw .notFound(kind: "meeting", id: meetingId.uuidString) }
        try actingAs.requireSeat(on: group, held.groupId, meeting: meetingId)
        guard reportId == nil else { throw .invalidInput(field: "reportId", reason: "reports belong to grants, not meetings") }
        return try attach(to: meeting.documents)
    }

    private func attach(to documents: [DocumentAttached]) throws(DomainError) -> [any DomainEvent] {
        try document.validated()
        try requireLine(attachedBy, field: "attachedBy", maximum: Limits.name)
        if let same = documents.first(where: { $0.document.sha256 == document.sha256 && $0.reportId == reportId }) {
            throw .alreadyExists(kind: "document", id: "\(document.sha256) (attached as \(same.document.fileName))")
        }
        guard documents.count < Limits.documents else {
            throw .invalidInput(field: "file", reason: "at most \(Limits.documents) documents may be attached to one application, grant or meeting")
        }
        return [DocumentAttached(document: document, reportId: reportId, attachedBy: attachedBy, occurredAt: at)]
    }
}

public struct RecordScan: Hashable, Sendable {
    public var sha256: DocumentDigest
    public var verdict: ScanVerdict
    public var signature: String?
    public var scanner: String
    public var at: Date

    public init(sha256: DocumentDigest, verdict: ScanVerdict, signature: String?, scanner: String, at: Date) {
        (self.sha256, self.verdict, self.signature, self.scanner, self.at) = (sha256, verdict, signature, scanner, at)
    }

    public func decide(document: DocumentState) throws(DomainError) -> [any DomainEvent] {
        try requireLine(scanner, field: "scanner", maximum: Limits.name)
        switch (verdict, signature) {
        case (.infected, let signature?): try requireLine(signature, field: "signature", maximum: Limits.name)
        case (.infected, nil): throw .invalidInput(field: "signature", reason: "an infected verdict names the signature found")
        case (.clean, nil): break
        case (.clean, _?): throw .invalidInput(field: "signature", reason: "a clean verdict names no signature")
        }
        return [DocumentScanned(sha256: sha256, verdict: verdict, signature: signature, scanner: scanner, occurredAt: at)]
    }
}
