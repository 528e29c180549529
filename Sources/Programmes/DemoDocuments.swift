import Documents
import Foundation
import GrantCommands
import GrantDomain
import NIOCore

/// Where the demo keeps its documents' bytes, and the scanner that passes
/// them (nil: scanning is off, and they stay unscanned).
public struct DemoDocuments: Sendable {
    public let store: any DocumentStore
    public let scanner: (any VirusScanner)?

    public init(store: any DocumentStore, scanner: (any VirusScanner)?) {
        (self.store, self.scanner) = (store, scanner)
    }
}

extension Demo {
    /// Stores `bytes` (once, by their digest), scans them when a scanner is
    /// set, and attaches them to the application or grant, each step once.
    func attach(_ step: Step, _ name: String, _ bytes: [UInt8], to owner: UUID, grant: Bool = false, on day: String) async throws {
        guard let documents else { return }
        var intake = DocumentIntake(store: documents.store, limit: Limits.documentBytes)
        try await intake.write(ByteBuffer(bytes: bytes))
        let facts = try await intake.seal(fileName: name)
        if let scanner = documents.scanner {
            let result = try await intake.scan(with: scanner)
            try await step("scan/\(facts.sha256)/\(result.scanner)") { try await handler.recordScan(RecordScan(
                sha256: facts.sha256, verdict: result.verdict, signature: result.signature, scanner: result.scanner, at: Date()), $0) }
        }
        try await intake.file()
        let command = AttachDocument(document: facts, attachedBy: "demo", at: Self.date(day))
        try await step("document/\(owner)/\(name)") {
            grant ? try await handler.attachDocument(command, grantId: owner, $0) : try await handler.attachDocument(command, applicationId: owner, $0)
        }
    }

    /// A one-page PDF saying `lines`, as a reader opens it: the objects, and the cross-reference table at their offsets.
    static func pdf(_ lines: [String]) -> [UInt8] {
        let text = lines.enumerated().map { index, line in
            let escaped = line.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "(", with: "\\(").replacingOccurrences(of: ")", with: "\\)")
            return "BT /F1 \(index == 0 ? 18 : 12) Tf 72 \(760 - index * 24) Td (\(escaped)) Tj ET"
        }.joined(separator: "\n")
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            "<< /Length \(text.unicodeScalars.count) >>\nstream\n\(text)\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        ]
        // Latin-1, as WinAnsiEncoding reads Danish letters: one byte per character, so offsets count characters.
        var pdf = "%PDF-1.4\n"
        var offsets: [Int] = []
        for (index, object) in objects.enumerated() {
            offsets.append(pdf.unicodeScalars.count)
            pdf += "\(index + 1) 0 obj\n\(object)\nendobj\n"
        }
        let xref = pdf.unicodeScalars.count
        pdf += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n" + offsets.map { String(format: "%010d 00000 n \n", $0) }.joined()
        pdf += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R >>\nstartxref\n\(xref)\n%%EOF\n"
        return Array(pdf.data(using: .isoLatin1, allowLossyConversion: true) ?? Data())
    }
}
