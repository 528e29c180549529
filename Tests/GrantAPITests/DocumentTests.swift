import Audit
import Crypto
import Documents
import Foundation
import GrantAPI
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Testing
import ZIPFoundation

/// ClamAV with one signature, made by sigtool from a text of this test's
/// own (no signatures can be downloaded here): that text is "infected".
enum TestVirus {
    static let text = "GRANTLEDGER-TEST-VIRUS \(UUID().uuidString): not a virus, found by a test signature\n"

    static func scanner() async throws -> ClamAVScanner {
        try await ClamAVScanner(command: ["clamscan", "-d", try database().path])
    }

    /// A ClamAV database holding the test signature alone.
    static func database() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-clamav-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let sample = folder.appendingPathComponent("test-virus.txt")
        try Data(text.utf8).write(to: sample)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sigtool", "--sha256", sample.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let signature = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "sigtool failed: install clamav (ops/test does)")
        let database = folder.appendingPathComponent("grantledger-test.hsb")
        try signature.write(to: database)
        return database
    }
}

/// A multipart/form-data body with one file part (and any text fields before it).
struct Upload {
    static let boundary = "gl-boundary-7f3a9c"

    static func body(_ bytes: [UInt8], fileName: String = "budget.txt", fields: [String: String] = [:], close: Bool = true) -> ByteBuffer {
        var buffer = ByteBuffer()
        for (name, value) in fields {
            buffer.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n")
        }
        buffer.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(fileName)\"\r\n")
        buffer.writeString("Content-Type: application/octet-stream\r\n\r\n")
        buffer.writeBytes(bytes)
        if close { buffer.writeString("\r\n--\(boundary)--\r\n") }
        return buffer
    }

    static func post(_ api: API, _ path: String, _ token: String, _ body: ByteBuffer, contentType: String? = nil) async throws -> TestResponse {
        try await api.client.execute(uri: path, method: .post, headers: [
            .authorization: "Bearer \(token)", .contentType: contentType ?? "multipart/form-data; boundary=\(boundary)",
        ], body: body)
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}

@Suite("Documents: uploaded, scanned, downloaded, verified")
struct DocumentTests {
    static let pdf = Array("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".utf8)

    @Test("a document uploaded is scanned, listed and downloaded byte for byte; the same bytes twice are stored once")
    func uploadScanDownload() async throws {
        let scanner = try await TestVirus.scanner()
        try await Harness.with(virusScanner: scanner) { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            // Two chunks and a bit: the bytes cross the store's chunk boundary.
            var bytes = Self.pdf
            bytes += (0..<(2 * DocumentIntake.chunkSize + 1234)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let attached = try await Upload.post(api, "/v1/applications/\(application)/documents", token,
                                                 Upload.body(bytes, fileName: "Budget 2026 – endelig.pdf")).ok()
            #expect(attached["sha256"] as? String == Upload.sha256(bytes))
            #expect(attached["mediaType"] as? String == "application/pdf", "sniffed, not the client's application/octet-stream")
            #expect(attached["scan"] as? String == "clean")
            #expect(attached["fileName"] as? String == "Budget 2026 – endelig.pdf")

            let download = try await api.get("/v1/applications/\(application)/documents/\(Upload.sha256(bytes))", token)
            #expect(download.status == .ok)
            #expect(Array(download.body.readableBytesView) == bytes)
            #expect(download.headers[.contentType] == "application/pdf")
            #expect(download.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(download.headers[.contentDisposition]?.hasPrefix("attachment;") == true)

            // The same bytes attached to another application: stored once.
            let other = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "50000.00", title: "Second")
            _ = try await Upload.post(api, "/v1/applications/\(other)/documents", token, Upload.body(bytes, fileName: "copy.pdf")).ok()
            #expect(try await count(api, "SELECT count(*) FROM document_contents") == 1)
            #expect(try await count(api, "SELECT count(*) FROM document_chunks") == 3)
            // Attached twice to one application: refused, nothing added.
            let again = try await Upload.post(api, "/v1/applications/\(other)/documents", token, Upload.body(bytes, fileName: "again.pdf"))
            #expect(again.status == .conflict, "\(again.text)")
            #expect(try await count(api, "SELECT count(*) FROM document_chunks") == 3)

            let listed = try await api.get("/v1/applications/\(application)/documents", token).ok()["documents"] as? [[String: Any]] ?? []
            #expect(listed.map { $0["fileName"] as? String } == ["Budget 2026 – endelig.pdf"])

            // Another organisation neither reads nor attaches.
            let stranger = try await programme.applicantToken("Hjørring Gymnasium")
            #expect(try await api.get("/v1/applications/\(application)/documents/\(Upload.sha256(bytes))", stranger).status == .forbidden)
            let refused = try await Upload.post(api, "/v1/applications/\(application)/documents", stranger, Upload.body(Array("hello\n".utf8)))
            #expect(refused.status == .forbidden)
            let report = try await Verifier(store: api.store).verify()
            #expect(report.ok && report.documentsChecked == 1, "\(report.brokenLinks)")
        }
    }

    @Test("a scanner that does not answer refuses the upload with 503 and keeps nothing; a text named as a page is kept as text")
    func scannerDownAndNames() async throws {
        let database = try TestVirus.database()
        let scanner = try await ClamAVScanner(command: ["clamscan", "-d", database.path])
        try FileManager.default.removeItem(at: database)
        try await Harness.with(virusScanner: scanner) { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            let events = try await api.eventCount()
            let refused = try await Upload.post(api, "/v1/applications/\(application)/documents", token, Upload.body(Self.pdf, fileName: "budget.pdf"))
            #expect(refused.status == .serviceUnavailable && refused.string("type").hasSuffix("scanner-unavailable"), "\(refused.text)")
            #expect(try await api.eventCount() == events)
            #expect(try await count(api, "SELECT count(*) FROM document_chunks") == 0)
        }
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            let page = try await Upload.post(api, "/v1/applications/\(application)/documents", token,
                                             Upload.body(Array("<script>alert(1)</script>".utf8), fileName: "page.html")).ok()
            #expect(page["fileName"] as? String == "page.html.txt" && page["mediaType"] as? String == "text/plain")
        }
    }

    @Test("an infected file is refused, its verdict recorded, and it is never attached")
    func infected() async throws {
        let scanner = try await TestVirus.scanner()
        try await Harness.with(virusScanner: scanner) { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            let virus = Array(TestVirus.text.utf8)
            let answer = try await Upload.post(api, "/v1/applications/\(application)/documents", token, Upload.body(virus, fileName: "notes.txt"))
            #expect(answer.status == .unprocessableContent)
            #expect(answer.string("type") == "urn:grantledger:problem:document-infected")
            #expect((answer.json["signature"] as? String)?.hasSuffix(".UNOFFICIAL") == true, "\(answer.text)")
            let listed = try await api.get("/v1/applications/\(application)/documents", token).ok()["documents"] as? [[String: Any]] ?? []
            #expect(listed.isEmpty)
            #expect(try await count(api, "SELECT count(*) FROM events WHERE event_type = 'DocumentScanned' AND data->>'verdict' = 'infected'") == 1)
            let download = try await api.get("/v1/applications/\(application)/documents/\(Upload.sha256(virus))", token)
            #expect(download.status == .notFound)
        }
    }

    @Test("bad uploads answer problem+json naming the rule, and store nothing", arguments: [
        ("empty", Upload.body([]), nil, 400, "empty-document"),
        ("over the cap", Upload.body(Array(repeating: 0x41, count: 5000)), nil, 413, "document-too-large"),
        ("a type not taken", Upload.body([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00] + Array(repeating: 0, count: 100), fileName: "run.pdf"), nil,
         415, "document-type-not-allowed"),
        ("not multipart", ByteBuffer(string: "%PDF-1.7"), "application/pdf", 415, "unsupported-media-type"),
        ("a broken multipart body", ByteBuffer(string: "no boundary here at all"), nil, 400, "invalid-multipart"),
        ("a body cut off inside the file", Upload.body(Array("half a file".utf8), close: false), nil, 400, "invalid-multipart"),
        ("no file part", ByteBuffer(string: "--\(Upload.boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--\(Upload.boundary)--\r\n"),
         nil, 400, "invalid-multipart"),
    ] as [(String, ByteBuffer, String?, Int, String)])
    func badUploads(_ name: String, _ body: ByteBuffer, _ contentType: String?, _ status: Int, _ rule: String) async throws {
        try await Harness.with(documentLimit: 4096) { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            let events = try await api.eventCount()
            let answer = try await Upload.post(api, "/v1/applications/\(application)/documents", token, body, contentType: contentType)
            #expect(Int(answer.status.code) == status, "\(name): \(answer.text)")
            #expect(answer.string("type") == "urn:grantledger:problem:\(rule)", "\(name): \(answer.text)")
            #expect(answer.headers[.contentType] == "application/problem+json")
            #expect(try await api.eventCount() == events, "\(name): history untouched")
            #expect(try await count(api, "SELECT count(*) FROM document_chunks") == 0, "\(name): no bytes kept")
            #expect(try await count(api, "SELECT count(*) FROM document_contents") == 0, "\(name): nothing filed")
        }
    }

    @Test("bytes changed behind the store's back: the download is cut short, verify names the document, and SQL cannot change them")
    func tampered() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            let bytes = Self.pdf + Array(repeating: 0x20, count: 3 * DocumentIntake.chunkSize / 2)
            let attached = try await Upload.post(api, "/v1/applications/\(application)/documents", token, Upload.body(bytes, fileName: "budget.pdf")).ok()
            #expect(attached["scan"] as? String == "not-scanned", "scanning is off in this harness")

            // The triggers refuse a change through SQL, a chunk added included; the owner disables them to tamper.
            await #expect(throws: (any Error).self) {
                try await api.store.client.query("UPDATE document_chunks SET bytes = '\\x00'::bytea WHERE seq = 1", logger: Harness.logger)
            }
            await #expect(throws: (any Error).self) {
                try await api.store.client.query("INSERT INTO document_chunks (upload_id, seq, bytes) SELECT upload_id, 99, '\\x41'::bytea FROM document_contents",
                                                 logger: Harness.logger)
            }
            await #expect(throws: (any Error).self) {
                try await api.store.client.query("DELETE FROM document_chunks", logger: Harness.logger)
            }
            try await api.store.client.query("""
                ALTER TABLE document_chunks DISABLE TRIGGER document_chunks_filed_fixed;
                """, logger: Harness.logger)
            try await api.store.client.query("UPDATE document_chunks SET bytes = overlay(bytes placing '\\x41'::bytea from 10) WHERE seq = 1",
                                             logger: Harness.logger)
            #expect(try await cutShort(api, "/v1/applications/\(application)/documents/\(Upload.sha256(bytes))", token, whole: bytes.count),
                    "the last chunk is withheld: a client sees a short, failed download")

            var report = try await Verifier(store: api.store).verify()
            #expect(!report.ok && report.brokenLinks.map(\.check) == ["document-changed"], "\(report.brokenLinks)")
            #expect(report.brokenLinks.first?.detail.contains("budget.pdf") == true)
            #expect(report.brokenLinks.first?.streamId == "application-\(application.lowercased())")

            try await api.store.client.query("DELETE FROM document_chunks", logger: Harness.logger)
            report = try await Verifier(store: api.store).verify()
            #expect(report.brokenLinks.map(\.check) == ["document-missing"], "\(report.brokenLinks)")
            #expect(try await cutShort(api, "/v1/applications/\(application)/documents/\(Upload.sha256(bytes))", token, whole: bytes.count))
        }
    }

    @Test("a grant's report takes evidence; a report id the grant lacks is refused")
    func grantEvidence() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let meeting = try await programme.meeting([application])
            let bo = try await programme.steeringToken("bo")
            let grant = try await api.post("/v1/meetings/\(meeting)/decisions", bo, Programme.approval(application, amount: "100000.00", votes: ["bo", "carl"])).ok()["grantId"]
                as? String ?? ""
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            let csv = Array("date,amount\n2026-03-01,1200.00\n".utf8)
            let unknownReport = try await Upload.post(api, "/v1/grants/\(grant)/documents", token,
                                                      Upload.body(csv, fileName: "receipts.csv", fields: ["reportId": UUID().uuidString]))
            #expect(unknownReport.status == .notFound, "\(unknownReport.text)")
            let attached = try await Upload.post(api, "/v1/grants/\(grant)/documents", token, Upload.body(csv, fileName: "receipts.csv")).ok()
            #expect(attached["mediaType"] as? String == "text/csv")
            let download = try await api.get("/v1/grants/\(grant)/documents/\(Upload.sha256(csv))", programme.admin)
            #expect(Array(download.body.readableBytesView) == csv)
        }
    }

    @Test("a meeting takes its minutes from its group's members; an audit pack holds the trail, the movements and every document, and verify-pack finds a file swapped in it")
    func auditPack() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let token = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            _ = try await Upload.post(api, "/v1/applications/\(application)/documents", token, Upload.body(Self.pdf, fileName: "budget.pdf")).ok()
            let meeting = try await programme.meeting([application])
            let bo = try await programme.steeringToken("bo")
            let grant = try await api.post("/v1/meetings/\(meeting)/decisions", bo, Programme.approval(application, amount: "100000.00", votes: ["bo", "carl"]))
                .ok()["grantId"] as? String ?? ""
            let csv = Array("date,amount\n2026-03-01,1200.00\n".utf8)
            _ = try await Upload.post(api, "/v1/grants/\(grant)/documents", token, Upload.body(csv, fileName: "receipts.csv")).ok()
            // The meeting's minutes: by a member of its group; not by the applicant, who does not read them either.
            let minutes = Array("%PDF-1.4\nMinutes of the meeting\n".utf8)
            #expect(try await Upload.post(api, "/v1/meetings/\(meeting)/documents", token, Upload.body(minutes, fileName: "minutes.pdf")).status == .forbidden)
            _ = try await Upload.post(api, "/v1/meetings/\(meeting)/documents", bo, Upload.body(minutes, fileName: "minutes.pdf")).ok()
            #expect(try await api.get("/v1/meetings/\(meeting)/documents", token).status == .forbidden)
            let carl = try await programme.steeringToken("carl")
            let listed = try await api.get("/v1/meetings/\(meeting)/documents", carl).ok()["documents"] as? [[String: Any]] ?? []
            #expect(listed.map { $0["fileName"] as? String } == ["minutes.pdf"])

            #expect(try await api.get("/v1/audit/grants/\(grant)/pack", token).status == .forbidden, "an applicant downloads no pack")
            let auditor = try await api.token(.auditor, subject: "auditor:eva")
            let answer = try await api.get("/v1/audit/grants/\(grant)/pack", auditor)
            #expect(answer.status == .ok && answer.headers[.contentType] == "application/zip")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("pack-\(UUID().uuidString).zip")
            defer { try? FileManager.default.removeItem(at: file) }
            try Data(answer.body.readableBytesView).write(to: file)
            let check = try AuditPack.verify(packAt: file)
            #expect(check.ok && check.documentsChecked == 3 && check.filesChecked == 6, "\(check.problems)")
            let archive = try Archive(url: file, accessMode: .read)
            #expect(Set(archive.map(\.path)) == ["trail.json", "trail.html", "movements.csv", "manifest.json",
                                                  "documents/\(Upload.sha256(Self.pdf))/budget.pdf", "documents/\(Upload.sha256(csv))/receipts.csv",
                                                  "documents/\(Upload.sha256(minutes))/minutes.pdf"])
            var movements = Data()
            _ = try archive.extract(archive["movements.csv"]!) { movements.append($0) }
            #expect(String(decoding: movements, as: UTF8.self).contains(",commitment,2026,"), "the grant's commitment is among its movements")

            // A document swapped inside the pack is named.
            let swapped = try Archive(url: file, accessMode: .update)
            let path = "documents/\(Upload.sha256(csv))/receipts.csv"
            try swapped.remove(swapped[path]!)
            let forged = Data("date,amount\n2026-03-01,9999.00\n".utf8)
            try swapped.addEntry(with: path, type: .file, uncompressedSize: Int64(forged.count)) { position, size in
                forged.subdata(in: Int(position)..<Int(position) + size)
            }
            let broken = try AuditPack.verify(packAt: file)
            #expect(!broken.ok && broken.problems.count == 1 && broken.problems[0].hasPrefix(path), "\(broken.problems)")
        }
    }

    /// Whether a download ended before its whole: an error, or fewer bytes than the document's.
    func cutShort(_ api: API, _ path: String, _ token: String, whole: Int) async throws -> Bool {
        do { return try await api.get(path, token).body.readableBytes < whole } catch { return true }
    }

    func count(_ api: API, _ sql: String) async throws -> Int {
        for try await value in try await api.store.client.query(PostgresQuery(unsafeSQL: "SELECT (\(sql))::int8"), logger: Harness.logger).decode(Int.self) {
            return value
        }
        return -1
    }
}
