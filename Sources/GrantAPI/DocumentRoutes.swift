import Crypto
import Documents
import Foundation
import GrantCommands
import GrantDomain
import HTTPTypes
import Hummingbird
import NIOCore

/// What documents are attached to.
enum DocumentOwner: Sendable {
    case application(UUID)
    case grant(UUID)
    case meeting(UUID)

    var kind: String {
        switch self {
        case .application: "application"
        case .grant: "grant"
        case .meeting: "meeting"
        }
    }

    /// Who may attach: an applicant to its own application or grant, a member to its group's meeting; an administrator to any.
    var attachers: Set<Role> {
        switch self {
        case .application, .grant: [.admin, .applicant]
        case .meeting: [.admin, .steering]
        }
    }
}

/// One attached document as the API shows it: the facts its event
/// recorded, and whether it may be downloaded yet.
struct DocumentView: Encodable, Sendable {
    var sha256: String
    var size: Int64
    var mediaType: String
    var fileName: String
    var reportId: UUID?
    var attachedBy: String
    var attachedAt: String
    /// `clean`, `infected`, `pending` (quarantined until a scan passes it) or `not-scanned` (scanning is off).
    var scan: String
    var signature: String?
    var scannedAt: String?
    var position: Int64?
}

/// A file the request carried, its bytes in the store (not yet filed).
struct ReceivedFile {
    var intake: DocumentIntake
    var fileName: String
    var fields: [String: String]
}

extension Services {
    /// Reads a multipart/form-data body into the store as it arrives; the
    /// bytes of the part named `file` are never held whole. `authorize`
    /// sees the fields sent before the file (a page's CSRF token) and runs
    /// before the file's first byte is stored.
    func receiveFile(_ request: Request, authorize: ([String: String]) async throws -> Identity) async throws -> (ReceivedFile, Identity) {
        guard let type = request.headers[.contentType], type.lowercased().hasPrefix("multipart/form-data"),
              let boundary = ContentDisposition.boundary(of: type) else {
            throw Problem(.unsupportedMediaType, rule: "unsupported-media-type", title: "A document is sent as multipart/form-data",
                          detail: "send the file as the part named file of a multipart/form-data body, with its boundary in Content-Type")
        }
        let declaredLength = request.headers[.contentLength].flatMap(Int64.init)
        var parser = FormDataParser(boundary: boundary)
        var intake = DocumentIntake(store: documents, limit: documentLimit)
        var identity: Identity?
        var received: Int64 = 0
        var inFile = false, fileComplete = false
        var fileName: String?, fieldName: String?
        var fields: [String: String] = [:]
        var field = ByteBuffer()
        do {
            for try await buffer in request.body {
                // Counted as it arrives: a chunked body has no Content-Length to judge first.
                received += Int64(buffer.readableBytes)
                guard received <= documentLimit + 65_536 else { throw Self.tooLarge(documentLimit) }
                let events: [FormDataParser.Event]
                do { events = try parser.feed(buffer) } catch {
                    throw Problem.badRequest(rule: "invalid-multipart", field: nil, "the multipart/form-data body is malformed: \(error.reason)")
                }
                for event in events {
                    switch event {
                    case .partStart(let name, let partFileName) where name == "file":
                        guard fileName == nil else { throw Problem.badRequest(rule: "invalid-multipart", field: "file", "one file per request") }
                        (fileName, inFile) = (partFileName ?? "", true)
                        if identity == nil {
                            identity = try await authorize(fields)
                            // Judged once the sender is known, so a page can show the refusal beside the field.
                            if let declaredLength, declaredLength > documentLimit + 65_536 { throw Self.tooLarge(documentLimit) }
                        }
                    case .partStart(let name, _):
                        (fieldName, field) = (name, ByteBuffer())
                    case .body(let bytes) where inFile:
                        try await intake.write(bytes)
                    case .body(var bytes):
                        guard field.readableBytes + bytes.readableBytes <= Self.fieldLimit else {
                            throw Problem.badRequest(rule: "invalid-multipart", field: fieldName,
                                                     "a form field other than the file holds at most \(Self.fieldLimit) bytes")
                        }
                        field.writeBuffer(&bytes)
                    case .partEnd where inFile:
                        (inFile, fileComplete) = (false, true)
                    case .partEnd:
                        if let fieldName { fields[fieldName] = String(buffer: field) }
                        fieldName = nil
                    }
                }
            }
            guard let fileName, let identity else {
                _ = try await authorize(fields)
                throw Problem.badRequest(rule: "invalid-multipart", field: "file", "the body holds no part named file")
            }
            guard fileComplete, parser.isComplete else {
                throw Problem.badRequest(rule: "invalid-multipart", field: "file", "the body ends before its closing boundary: the upload was cut off")
            }
            return (ReceivedFile(intake: intake, fileName: fileName.isEmpty ? "document" : fileName, fields: fields), identity)
        } catch let refusal as IntakeRefusal {
            throw Self.problem(refusal)
        } catch {
            await intake.abandon()
            throw error
        }
    }

    /// A form field other than the file (a CSRF token, a report's id).
    static let fieldLimit = 1024

    static func tooLarge(_ limit: Int64) -> Problem {
        Problem(.contentTooLarge, rule: "document-too-large", title: "The document is too large",
                detail: "a document may be at most \(limit) bytes", field: "file", figures: [("limit", .int(limit))])
    }

    static func problem(_ refusal: IntakeRefusal) -> Problem {
        switch refusal {
        case .empty: Problem(.badRequest, rule: "empty-document", title: "The document is empty", detail: refusal.description, field: "file")
        case .tooLarge(let limit): tooLarge(limit)
        case .notAllowed(let type):
            Problem(.unsupportedMediaType, rule: "document-type-not-allowed", title: "This kind of file is not taken",
                    detail: refusal.description, field: "file", figures: [("mediaType", .string(type))])
        }
    }

    /// Receives a document, checks it may be attached, files its bytes,
    /// scans them, and attaches it. Refused (a bad file, a virus, a rule,
    /// a scanner that does not answer) it leaves no attachment and no bytes.
    /// `authorize` names the sender from the fields before the file.
    func attach(_ request: Request, to owner: DocumentOwner,
                authorize: ([String: String]) async throws -> Identity) async throws -> (view: DocumentView, identity: Identity) {
        var (received, identity) = try await receiveFile(request) { fields in
            let identity = try await authorize(fields)
            // Another organisation's sender is refused before a byte is stored.
            _ = try await documentsOf(owner, readBy: identity)
            return identity
        }
        let facts: DocumentFacts
        do { facts = try await received.intake.seal(fileName: received.fileName) } catch let refusal as IntakeRefusal { throw Self.problem(refusal) }
        let reportId: UUID?
        do {
            reportId = try received.fields["reportId"].flatMap { $0.isEmpty ? nil : $0 }.map { text in
                guard let id = UUID(uuidString: text) else { throw Problem.badRequest(rule: "invalid-value", field: "reportId", "reportId must be a UUID") }
                return id
            }
        } catch {
            await received.intake.abandon()
            throw error
        }
        var command = AttachDocument(document: facts, reportId: reportId, attachedBy: identity.subject, at: Date())
        let context = CommandContext(actor: identity.subject, role: identity.role.rawValue, actingAs: identity.actingAs)
        // Judged and scanned before the bytes are filed: refused or infected, they are dropped, not kept for ever.
        let scan: DocumentScanned?
        do {
            switch owner {
            case .application(let id):
                _ = try command.decide(application: try await commands.current(ApplicationState.self, id).state, applicationId: id, actingAs: identity.actingAs)
            case .grant(let id):
                _ = try command.decide(grant: try await commands.current(GrantState.self, id).state, grantId: id, actingAs: identity.actingAs)
            case .meeting(let id):
                let meeting = try await commands.current(MeetingState.self, id).state
                let group = try await commands.current(SteeringGroupState.self, meeting.held?.groupId ?? id).state
                _ = try command.decide(meeting: meeting, meetingId: id, group: group, actingAs: identity.actingAs)
            }
            scan = try await scanBeforeFiling(received.intake, facts.sha256, context)
            if let scan, scan.verdict == .infected {
                throw Problem(.unprocessableContent, rule: "document-infected", title: "The document holds a virus",
                              detail: "the virus scanner found \(scan.signature ?? "a virus") in \(facts.fileName); it was not attached",
                              field: "file", figures: [("signature", .string(scan.signature ?? ""))])
            }
        } catch {
            await received.intake.abandon()
            throw error
        }
        try await received.intake.file()
        // Dated when it is attached, after its scan.
        command.at = Date()
        let result: CommandResult
        switch owner {
        case .application(let id): result = try await commands.attachDocument(command, applicationId: id, context)
        case .grant(let id): result = try await commands.attachDocument(command, grantId: id, context)
        case .meeting(let id): result = try await commands.attachDocument(command, meetingId: id, context)
        }
        var view = Self.view(DocumentAttached(document: facts, reportId: reportId, attachedBy: identity.subject, occurredAt: command.at),
                             scan: scan, scanning: virusScanner != nil)
        view.position = result.position
        return (view, identity)
    }

    /// The verdict on an upload's bytes: the one recorded for the same bytes
    /// by this scanner's signatures, else a scan now, recorded as an event.
    /// Nil when scanning is off; a scanner that fails refuses the upload
    /// (503): the bytes are not filed until a scan passes them.
    func scanBeforeFiling(_ intake: DocumentIntake, _ digest: DocumentDigest, _ context: CommandContext) async throws -> DocumentScanned? {
        guard let scanner = virusScanner else { return nil }
        if let known = try await commands.current(DocumentState.self, digest.streamId).state.lastScan,
           known.scanner == scanner.version { return known }
        let result: ScanResult
        do { result = try await intake.scan(with: scanner) } catch {
            logger.error("virus scan failed; the upload is refused", metadata: ["sha256": "\(digest)", "error": "\(String(reflecting: error))"])
            throw Problem(.serviceUnavailable, rule: "scanner-unavailable", title: "The virus scanner is not answering",
                          detail: "documents are scanned before they are kept, and the scanner did not answer; nothing was kept, try again later",
                          field: "file")
        }
        let command = RecordScan(sha256: digest, verdict: result.verdict, signature: result.signature, scanner: result.scanner, at: Date())
        _ = try await commands.recordScan(command, context)
        return DocumentScanned(sha256: digest, verdict: result.verdict, signature: result.signature, scanner: result.scanner, occurredAt: command.at)
    }

    /// The documents of `owner` as the API and the pages show them, with their scans.
    func documentViews(_ attached: [DocumentAttached]) async throws -> [DocumentView] {
        guard !attached.isEmpty else { return [] }
        // Every document's scans in one round trip, not one each.
        let reader = commands.reader()
        // A set: the same file may be attached twice (to a grant and to one of its reports).
        try await reader.prefetch(Array(Set(attached.map { DocumentState.streamName($0.document.sha256.streamId) })))
        var views: [DocumentView] = []
        for document in attached {
            let scan = try await reader.load(DocumentState.self, document.document.sha256.streamId).state.lastScan
            views.append(Self.view(document, scan: scan, scanning: virusScanner != nil))
        }
        return views
    }

    /// The documents of `owner`, once the sender is known to be allowed to read it.
    func documentsOf(_ owner: DocumentOwner, readBy identity: Identity) async throws -> [DocumentAttached] {
        switch owner {
        case .application(let id):
            let application = try await requireOwner(identity, applicationId: id)
            guard application.content != nil else { throw Problem.notFound("application", id.uuidString) }
            return application.documents
        case .grant(let id):
            let grant = try await commands.current(GrantState.self, id).state
            guard let awarded = grant.awarded else { throw Problem.notFound("grant", id.uuidString) }
            guard identity.role != .applicant || awarded.organisation == identity.organisation else {
                throw Problem(.forbidden, rule: "not-owner", title: "Your role may not do this", detail: "grant \(id.uuidString) belongs to another organisation")
            }
            return grant.documents
        case .meeting(let id):
            let meeting = try await commands.current(MeetingState.self, id).state
            guard meeting.held != nil else { throw Problem.notFound("meeting", id.uuidString) }
            switch identity.role {
            case .admin, .auditor: break
            case .steering: try await requireGroupMember(identity, meetingId: id)
            case .applicant: throw Problem.forbidden("a meeting's documents are its steering group's")
            }
            return meeting.documents
        }
    }

    func listDocuments(_ request: Request, of owner: DocumentOwner) async throws -> Response {
        let identity = try await auth.require(request, Set(Role.allCases), to: "read documents")
        return try jsonResponse(["documents": try await documentViews(try await documentsOf(owner, readBy: identity))])
    }

    static func view(_ attached: DocumentAttached, scan: DocumentScanned?, scanning: Bool) -> DocumentView {
        let facts = attached.document
        return DocumentView(sha256: facts.sha256.hex, size: facts.size, mediaType: facts.mediaType, fileName: facts.fileName, reportId: attached.reportId,
                            attachedBy: attached.attachedBy, attachedAt: CivilTime.format(attached.occurredAt),
                            scan: scan?.verdict.rawValue ?? (scanning ? "pending" : "not-scanned"), signature: scan?.signature,
                            scannedAt: scan.map { CivilTime.format($0.occurredAt) })
    }

    /// Streams a document's bytes as an attachment, checking them against
    /// the digest its event recorded as they go: bytes that differ lose
    /// their last chunk and the connection, so no client takes them for whole.
    func download(_ request: Request, of owner: DocumentOwner, _ text: String) async throws -> Response {
        let identity = try await auth.require(request, Set(Role.allCases), to: "read documents")
        let digest: DocumentDigest
        do { digest = try DocumentDigest(hex: text) } catch { throw Problem.badRequest(rule: "invalid-value", field: "sha256", "\(error)") }
        guard let attached = try await documentsOf(owner, readBy: identity).first(where: { $0.document.sha256 == digest }) else {
            throw Problem.notFound("document", "\(digest) of \(owner.kind)")
        }
        let scan = try await commands.current(DocumentState.self, digest.streamId).state.lastScan
        switch scan?.verdict {
        case .infected:
            throw Problem(.forbidden, rule: "document-infected", title: "The document holds a virus",
                          detail: "the scan of \(scan.map { CivilTime.format($0.occurredAt) } ?? "") found \(scan?.signature ?? "a virus")")
        case nil where virusScanner != nil:
            throw Problem(.conflict, rule: "document-quarantined", title: "The document waits for its virus scan",
                          detail: "no scan has passed \(attached.document.fileName) yet; try again later")
        case .clean, nil: break
        }
        guard try await documents.size(of: digest) != nil else {
            throw Problem(.internalServerError, rule: "document-missing", title: "The document's bytes are missing",
                          detail: "nothing is stored under \(digest), which the attachment recorded; run grantledger verify")
        }
        let facts = attached.document
        let store = documents
        let logger = logger
        let body = ResponseBody(contentLength: Int(facts.size)) { writer in
            var hasher = SHA256()
            var held: ByteBuffer?
            var read: Int64 = 0
            _ = try await store.read(digest) { chunk in
                read += Int64(chunk.readableBytes)
                // Never past the Content-Length promised: that would be read as the next response.
                guard read <= facts.size else { throw DocumentAltered(digest: digest) }
                if let previous = held { try await writer.write(previous) }
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                held = chunk
            }
            guard read == facts.size, DocumentDigest(bytes: hasher.finalize()) == digest, let last = held else {
                logger.error("a stored document differs from its attachment; download cut off", metadata: ["sha256": "\(digest)"])
                throw DocumentAltered(digest: digest)
            }
            try await writer.write(last)
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [
            .contentType: facts.mediaType,
            .contentDisposition: ContentDisposition.attachment(facts.fileName),
            .xContentTypeOptions: "nosniff",
            .cacheControl: "private, no-cache",
        ]
        headers[.reprDigest] = "sha-256=:\(Data(stride(from: 0, to: 64, by: 2).map { UInt8(digest.hex.dropFirst($0).prefix(2), radix: 16)! }).base64EncodedString()):"
        return Response(status: .ok, headers: headers, body: body)
    }
}

struct DocumentAltered: Error, CustomStringConvertible {
    let digest: DocumentDigest
    var description: String { "the bytes stored under \(digest) no longer hash to it" }
}

extension ContentDisposition {
    /// `attachment`, with the name as ASCII for old clients and as UTF-8 (RFC 6266) for the rest.
    static func attachment(_ fileName: String) -> String {
        let ascii = String(fileName.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
        let encoded = fileName.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ascii
        return "attachment; filename=\"\(ascii)\"; filename*=UTF-8''\(encoded)"
    }
}

extension HTTPField.Name {
    /// RFC 9530: the digest of the whole document, for a client to check what it received.
    static let reprDigest = Self("Repr-Digest")!
}

func addDocumentRoutes(to routes: Routes, _ services: Services) {
    @Sendable func attach(_ request: Request, _ owner: DocumentOwner) async throws -> Response {
        let identity = try await services.auth.require(request, owner.attachers, to: "attach documents")
        return try jsonResponse(try await services.attach(request, to: owner) { _ in identity }.view, status: .created)
    }
    routes.post("/v1/applications/:applicationId/documents") { request, context in
        try await attach(request, .application(try request.uuidParameter(context, "applicationId")))
    }
    routes.get("/v1/applications/:applicationId/documents") { request, context in
        try await services.listDocuments(request, of: .application(try request.uuidParameter(context, "applicationId")))
    }
    routes.get("/v1/applications/:applicationId/documents/:sha256") { request, context in
        try await services.download(request, of: .application(try request.uuidParameter(context, "applicationId")),
                                    context.parameters.get("sha256") ?? "")
    }
    routes.post("/v1/grants/:grantId/documents") { request, context in
        try await attach(request, .grant(try request.uuidParameter(context, "grantId")))
    }
    routes.get("/v1/grants/:grantId/documents") { request, context in
        try await services.listDocuments(request, of: .grant(try request.uuidParameter(context, "grantId")))
    }
    routes.post("/v1/meetings/:meetingId/documents") { request, context in
        try await attach(request, .meeting(try request.uuidParameter(context, "meetingId")))
    }
    routes.get("/v1/meetings/:meetingId/documents") { request, context in
        try await services.listDocuments(request, of: .meeting(try request.uuidParameter(context, "meetingId")))
    }
    routes.get("/v1/meetings/:meetingId/documents/:sha256") { request, context in
        try await services.download(request, of: .meeting(try request.uuidParameter(context, "meetingId")), context.parameters.get("sha256") ?? "")
    }
    routes.get("/v1/grants/:grantId/documents/:sha256") { request, context in
        try await services.download(request, of: .grant(try request.uuidParameter(context, "grantId")), context.parameters.get("sha256") ?? "")
    }
}
