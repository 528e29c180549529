import Documents
import Foundation
import Testing
import ZIPFoundation

/// A file's kind is read from its bytes, whatever its name or the client says.
@Suite("Kinds sniffed from the bytes")
struct MediaSnifferTests {
    static func sniff(_ bytes: [UInt8], _ name: String = "file") -> String { MediaSniffer.mediaType(of: bytes, fileName: name) }

    /// A real ZIP made by ZIPFoundation, its first entries as office suites write them.
    static func zip(_ entries: [(String, String, CompressionMethod)]) throws -> [UInt8] {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (path, text, method) in entries {
            let data = Data(text.utf8)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: method) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        return Array(archive.data!)
    }

    @Test("PDF, PNG and JPEG by their signatures; a name or extension changes nothing")
    func signatures() {
        #expect(Self.sniff(Array("%PDF-1.4\n".utf8), "photo.png") == "application/pdf")
        #expect(Self.sniff([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0], "x.pdf") == "image/png")
        #expect(Self.sniff([0xFF, 0xD8, 0xFF, 0xE0], "x.txt") == "image/jpeg")
        #expect(Self.sniff([0x4D, 0x5A, 0x90, 0x00], "report.pdf") == MediaSniffer.unknown, "a Windows program named .pdf")
        #expect(Self.sniff([0x7F, 0x45, 0x4C, 0x46], "budget.csv") == MediaSniffer.unknown, "an ELF program named .csv")
    }

    @Test("Office Open XML by its parts' names, OpenDocument by its mimetype entry, a bare ZIP as a ZIP")
    func containers() throws {
        #expect(Self.sniff(try Self.zip([("[Content_Types].xml", "<Types/>", .deflate), ("word/document.xml", "<w/>", .deflate)]), "a.xlsx")
            == "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        #expect(Self.sniff(try Self.zip([("[Content_Types].xml", "<Types/>", .deflate), ("xl/workbook.xml", "<x/>", .deflate)]))
            == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        #expect(Self.sniff(try Self.zip([("mimetype", "application/vnd.oasis.opendocument.text", .none), ("content.xml", "<c/>", .deflate)]))
            == "application/vnd.oasis.opendocument.text")
        #expect(Self.sniff(try Self.zip([("mimetype", "application/x-evil", .none)])) == MediaSniffer.unknown)
        #expect(Self.sniff(try Self.zip([("payload.exe", "MZ", .deflate)]), "a.docx") == "application/zip")
    }

    @Test("text is UTF-8 without NUL or control bytes; CSV when named so; a character cut at the head's end is still text")
    func text() {
        #expect(Self.sniff(Array("Budget 2026: 1.234,00 kr.\n".utf8), "notes") == "text/plain")
        #expect(Self.sniff(Array("date,amount\r\n2026-03-01,1200.00\r\n".utf8), "receipts.CSV") == "text/csv")
        #expect(Self.sniff(Array("plain\u{0}binary".utf8)) == MediaSniffer.unknown)
        #expect(Self.sniff([0xC3, 0x28]) == MediaSniffer.unknown, "not UTF-8")
        let head = Array((String(repeating: "a", count: MediaSniffer.headLength - 1) + "æ").utf8.prefix(MediaSniffer.headLength))
        #expect(Self.sniff(head) == "text/plain")
    }

    @Test("every prefix of every kind, and random bytes, are sniffed without a trap")
    func shortAndHostile() throws {
        let samples = [Array("%PDF-1.7".utf8), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
                       try Self.zip([("mimetype", "application/vnd.oasis.opendocument.spreadsheet", .none)]),
                       try Self.zip([("[Content_Types].xml", "<Types/>", .deflate), ("ppt/presentation.xml", "<p/>", .deflate)])]
        for sample in samples {
            for length in 0...sample.count { _ = Self.sniff(Array(sample.prefix(length))) }
        }
        // A ZIP header claiming a name and a mimetype entry longer than the head.
        var forged: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + Array(repeating: 0xFF, count: 26) + Array("mimetype".utf8)
        forged[26] = 8; forged[27] = 0
        #expect(Self.sniff(forged) == MediaSniffer.unknown)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = Self.sniff([0x50, 0x4B, 0x03, 0x04] + bytes)
        }
    }
}
