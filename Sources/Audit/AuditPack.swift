import Crypto
import Documents
import EventStore
import Foundation
import GrantDomain
import ZIPFoundation

/// What an audit pack holds: each file's SHA-256 and size, and for each
/// document the events that attached it (position, stream, version and the
/// event's hash, which the history's chain and signed checkpoints vouch for).
public struct AuditPackManifest: Codable, Sendable {
    public struct RecordedBy: Codable, Sendable, Hashable {
        public var position: Int64
        public var streamId: String
        public var streamVersion: Int64
        public var eventHash: String
        public var fileName: String
    }
    public struct File: Codable, Sendable {
        public var path: String
        public var sha256: String
        public var size: Int64
        public var mediaType: String?
        /// For a document: the events that attached it.
        public var recordedBy: [RecordedBy]?
        /// For a document: its last virus scan's verdict (`clean`), or `not-scanned`.
        public var scan: String?
    }
    public static let formatName = "grantledger-audit-pack/1"
    public var format = Self.formatName
    public var grantId: UUID
    public var applicationId: UUID
    public var createdAt: Date
    public var files: [File]
    /// Documents attached but left out: a scan found them infected.
    public var withheld: [File] = []
}

public enum AuditPackError: Error, CustomStringConvertible {
    case documentChanged(sha256: String, fileName: String)

    public var description: String {
        switch self {
        case .documentChanged(let sha256, let fileName):
            "the stored bytes of \(fileName) no longer hash to \(sha256), which its attachment recorded: run grantledger verify"
        }
    }
}

/// One grant's evidence in a ZIP for an auditor: its decision trail (JSON
/// and a readable page), its money movements (CSV), every document attached
/// to its application, to the meetings that decided on it, and to it, and `manifest.json`, which
/// ``AuditPack/verify(packAt:)`` (`grantledger verify-pack`) checks offline.
public struct AuditPack: Sendable {
    public let store: EventStore
    public let documents: any DocumentStore

    public init(store: EventStore, documents: (any DocumentStore)? = nil) {
        self.store = store
        self.documents = documents ?? PostgresDocumentStore(client: store.client, logger: store.logger)
    }

    /// Writes the pack of `grantId` to `url`, documents streamed through
    /// temporary files (never whole in memory), each checked against its
    /// digest on the way: a pack never vouches for changed bytes.
    public func write(grantId: UUID, to url: URL) async throws -> AuditPackManifest {
        let history = History(store: store)
        let grantEvents = try await history.everything(GrantState.streamName(grantId))
        guard let awarded = grantEvents.first(where: { $0.type == GrantAwarded.eventType }),
              let applicationId = awarded.data["applicationId"]?.stringValue.flatMap(UUID.init(uuidString:)),
              let poolId = awarded.data["poolId"]?.stringValue.flatMap(UUID.init(uuidString:)) else {
            throw AuditError.notFound(kind: "grant", id: grantId.uuidString)
        }
        let trail = try await history.decisionTrail(applicationId: applicationId)
        try? FileManager.default.removeItem(at: url)
        let archive = try Archive(url: url, accessMode: .create)
        var files: [AuditPackManifest.File] = []
        func add(_ path: String, _ data: Data, mediaType: String) throws {
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
            files.append(.init(path: path, sha256: DocumentDigest(bytes: SHA256.hash(data: data)).hex, size: Int64(data.count), mediaType: mediaType))
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try add("trail.json", try encoder.encode(trail), mediaType: "application/json")
        try add("trail.html", Data(TrailPage.html(trail, grantId: grantId).utf8), mediaType: "text/html")
        var csv = MoneyMovement.csvHeader
        try await FundingExport(store: store).forEachPage(pool: poolId) { page in
            for movement in page where movement.grantId == grantId { csv += movement.csvRow }
        }
        try add("movements.csv", Data(csv.utf8), mediaType: "text/csv")

        // Each document once, however often attached, with every attaching event.
        let applicationEvents = try await history.everything(ApplicationState.streamName(applicationId))
        var meetingEvents: [HistoryEntry] = []
        for meeting in trail.meetings { meetingEvents += try await history.everything(MeetingState.streamName(meeting.meetingId)) }
        var attachments: [(sha256: String, mediaType: String, recordedBy: [AuditPackManifest.RecordedBy])] = []
        for entry in applicationEvents + meetingEvents + grantEvents where entry.type == DocumentAttached.eventType {
            guard let document = entry.data["document"], let sha256 = document["sha256"]?.stringValue,
                  let fileName = document["fileName"]?.stringValue else { continue }
            let recorded = AuditPackManifest.RecordedBy(position: entry.position, streamId: entry.streamId, streamVersion: entry.streamVersion,
                                                        eventHash: entry.hash, fileName: fileName)
            if let index = attachments.firstIndex(where: { $0.sha256 == sha256 }) {
                attachments[index].recordedBy.append(recorded)
            } else {
                attachments.append((sha256, document["mediaType"]?.stringValue ?? "application/octet-stream", [recorded]))
            }
        }
        var withheld: [AuditPackManifest.File] = []
        for attachment in attachments {
            let digest = try DocumentDigest(hex: attachment.sha256)
            let scan = try await history.everything(DocumentState.streamName(digest.streamId)).last { $0.type == DocumentScanned.eventType }?
                .data["verdict"]?.stringValue
            guard scan != ScanVerdict.infected.rawValue else {
                withheld.append(.init(path: "", sha256: digest.hex, size: 0, mediaType: attachment.mediaType, recordedBy: attachment.recordedBy,
                                      scan: ScanVerdict.infected.rawValue))
                continue
            }
            let path = "documents/\(digest.hex)/\(attachment.recordedBy[0].fileName)"
            let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("grantledger-pack-\(UUID().uuidString)")
            FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600])
            defer { try? FileManager.default.removeItem(at: temporary) }
            let handle = try FileHandle(forWritingTo: temporary)
            var hasher = SHA256()
            var size: Int64 = 0
            _ = try await documents.read(digest) { chunk in
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                size += Int64(chunk.readableBytes)
                try handle.write(contentsOf: chunk.readableBytesView)
            }
            try handle.close()
            guard DocumentDigest(bytes: hasher.finalize()) == digest else {
                throw AuditPackError.documentChanged(sha256: digest.hex, fileName: attachment.recordedBy[0].fileName)
            }
            try archive.addEntry(with: path, fileURL: temporary, compressionMethod: .none)
            files.append(.init(path: path, sha256: digest.hex, size: size, mediaType: attachment.mediaType, recordedBy: attachment.recordedBy,
                               scan: scan ?? "not-scanned"))
        }
        let manifest = AuditPackManifest(grantId: grantId, applicationId: applicationId, createdAt: Date(), files: files, withheld: withheld)
        let manifestData = try encoder.encode(manifest)
        try archive.addEntry(with: "manifest.json", type: .file, uncompressedSize: Int64(manifestData.count), compressionMethod: .deflate) { position, size in
            manifestData.subdata(in: Int(position)..<Int(position) + size)
        }
        return manifest
    }

    /// What checking a pack found: each file listed, and every difference.
    public struct Check: Encodable, Sendable {
        public var filesChecked = 0
        public var documentsChecked = 0
        public var problems: [String] = []
        public var ok: Bool { problems.isEmpty }

        enum CodingKeys: String, CodingKey { case ok, filesChecked, documentsChecked, problems }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(ok, forKey: .ok)
            try container.encode(filesChecked, forKey: .filesChecked)
            try container.encode(documentsChecked, forKey: .documentsChecked)
            try container.encode(problems, forKey: .problems)
        }
    }

    /// Checks a pack offline: every file the manifest lists is there with its
    /// SHA-256 and size, each document's path names its digest and every
    /// attaching event recorded that digest, and nothing else is in the ZIP.
    public static func verify(packAt url: URL) throws -> Check {
        let archive = try Archive(url: url, accessMode: .read)
        guard let manifestEntry = archive["manifest.json"] else { return Check(problems: ["manifest.json is missing"]) }
        var manifestData = Data()
        _ = try archive.extract(manifestEntry) { manifestData.append($0) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let manifest: AuditPackManifest
        do { manifest = try decoder.decode(AuditPackManifest.self, from: manifestData) } catch {
            return Check(problems: ["manifest.json is not a manifest: \(error)"])
        }
        var check = Check()
        guard manifest.format == AuditPackManifest.formatName else { return Check(problems: ["unknown format \(manifest.format)"]) }
        for file in manifest.files {
            check.filesChecked += 1
            guard let entry = archive[file.path] else {
                check.problems.append("\(file.path): listed in the manifest, missing from the pack")
                continue
            }
            var hasher = SHA256()
            var size: Int64 = 0
            do {
                _ = try archive.extract(entry) { data in
                    hasher.update(data: data)
                    size += Int64(data.count)
                }
            } catch {
                check.problems.append("\(file.path): cannot be read (\(error))")
                continue
            }
            let actual = DocumentDigest(bytes: hasher.finalize()).hex
            if actual != file.sha256 || size != file.size {
                check.problems.append("\(file.path): \(size) bytes hashing to \(actual); the manifest lists \(file.size) bytes hashing to \(file.sha256)")
            }
            if let recordedBy = file.recordedBy {
                check.documentsChecked += 1
                if !file.path.hasPrefix("documents/\(file.sha256)/") {
                    check.problems.append("\(file.path): a document's path names another digest than \(file.sha256)")
                }
                if recordedBy.isEmpty { check.problems.append("\(file.path): no event recorded it") }
            }
        }
        let listed = Set(manifest.files.map(\.path) + ["manifest.json"])
        var seen: Set<String> = []
        for entry in archive {
            if !listed.contains(entry.path) { check.problems.append("\(entry.path): in the pack, not in the manifest") }
            // A second entry of one path is what an unzip program keeps: the first, checked, would not be what is read.
            if !seen.insert(entry.path).inserted { check.problems.append("\(entry.path): in the pack twice") }
        }
        return check
    }
}

/// The decision trail as a page to read, on its own (no stylesheet or script to fetch).
enum TrailPage {
    static func html(_ trail: DecisionTrail, grantId: UUID) -> String {
        var page = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Decision trail of grant \(grantId.uuidString)</title>
            <style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}table{border-collapse:collapse;width:100%}
            td,th{border:1px solid #999;padding:.3rem;text-align:left;vertical-align:top}pre{white-space:pre-wrap;margin:0;font-size:.85rem}</style>
            </head><body><h1>Decision trail of grant \(grantId.uuidString)</h1>
            <p>Application \(trail.applicationId.uuidString): \(escape(trail.summary.status))</p>
            """
        func section(_ title: String, _ entries: [HistoryEntry]) {
            guard !entries.isEmpty else { return }
            page += "<h2>\(escape(title))</h2><table><thead><tr><th>Position</th><th>When</th><th>What</th><th>Event hash</th></tr></thead><tbody>"
            for entry in entries {
                page += "<tr><td>\(entry.position)</td><td>\(escape(entry.occurredAt.formatted(.iso8601)))</td><td><strong>\(escape(entry.type))</strong>"
                page += "<pre>\(escape(entry.data.prettyText))</pre></td><td><code>\(escape(entry.hash))</code></td></tr>"
            }
            page += "</tbody></table>"
        }
        section("Call", trail.call)
        section("Application", trail.application)
        for meeting in trail.meetings {
            section("Meeting \(meeting.meetingId.uuidString)", (meeting.held.map { [$0] } ?? []) + meeting.changes + meeting.decisions)
        }
        section("Grant", trail.grant)
        section("Pool movements", trail.poolMovements)
        return page + "</body></html>\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension JSONValue {
    /// Indented JSON, keys sorted: an event's payload as a person reads it.
    var prettyText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
