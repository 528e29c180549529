import Documents
import NIOCore
import Testing

/// The upload's parser: the same parts however the bytes are split, and a
/// refusal with its reason (never a trap, never unbounded memory) for the rest.
@Suite("multipart/form-data parsed as it streams")
struct FormDataParserTests {
    static let boundary = "XyZ-7f3a"

    static func body(_ file: [UInt8], fields: [(String, String)] = [("csrf", "t0ken")]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (name, value) in fields { bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8) }
        bytes += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\\\Users\\\\kim\\\\budget.pdf\"\r\nContent-Type: application/pdf\r\n\r\n".utf8)
        return bytes + file + Array("\r\n--\(boundary)--\r\n".utf8)
    }

    /// The parts as (name, file name, bytes), the body fed in pieces of `size`.
    static func parse(_ body: [UInt8], in size: Int) throws -> (parts: [(String?, String?, [UInt8])], complete: Bool) {
        var parser = FormDataParser(boundary: boundary)
        var parts: [(String?, String?, [UInt8])] = []
        var offset = 0
        while offset < body.count {
            for event in try parser.feed(ByteBuffer(bytes: body[offset..<min(offset + size, body.count)])) {
                switch event {
                case .partStart(let name, let fileName): parts.append((name, fileName, []))
                case .body(let bytes): parts[parts.count - 1].2 += Array(bytes.readableBytesView)
                case .partEnd: break
                }
            }
            offset += size
        }
        return (parts, parser.isComplete)
    }

    @Test("the same fields and file, split at every size from one byte; a file holding near-boundaries keeps them")
    func everySplit() throws {
        let file = Array("%PDF-1.7\r\n--XyZ-7f3\r\n-\r\n--XyZ-7f3 is not it either\r\n--XyZ".utf8) + (0..<300).map { UInt8($0 % 256) }
        let body = Self.body(file)
        for size in 1...body.count {
            let (parts, complete) = try Self.parse(body, in: size)
            #expect(complete, "split \(size)")
            #expect(parts.count == 2 && parts[0].0 == "csrf" && parts[0].2 == Array("t0ken".utf8), "split \(size)")
            #expect(parts[1].0 == "file" && parts[1].1 == "budget.pdf" && parts[1].2 == file, "split \(size)")
        }
    }

    @Test("a body cut before its closing boundary is not complete")
    func cutOff() throws {
        let body = Self.body(Array("whole".utf8))
        for cut in [body.count - 3, body.count - 10, 60] {
            #expect(try !Self.parse(Array(body.prefix(cut)), in: 7).complete)
        }
    }

    @Test("hostile bodies are refused with a reason", arguments: [
        ("a header name with a byte over 127", Array("--XyZ-7f3a\r\nX\u{C3}: y\r\n\r\nz\r\n--XyZ-7f3a--".utf8)),
        ("a header without a colon", Array("--XyZ-7f3a\r\nContent-Disposition form-data\r\n\r\nz\r\n--XyZ-7f3a--".utf8)),
        ("headers without end", Array("--XyZ-7f3a\r\n".utf8) + Array(repeating: UInt8(ascii: "a"), count: 20_000)),
        ("a preamble without end", Array(repeating: UInt8(ascii: "p"), count: 40_000)),
        ("an epilogue without end", Array("--XyZ-7f3a--\r\n".utf8) + Array(repeating: UInt8(ascii: "e"), count: 40_000)),
        ("a boundary followed by text", Array("--XyZ-7f3a junk\r\n\r\n".utf8)),
        ("more parts than allowed", Array(String(repeating: "--XyZ-7f3a\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n", count: 40).utf8)),
    ] as [(String, [UInt8])])
    func hostile(_ name: String, _ body: [UInt8]) {
        for size in [1, 13, body.count] {
            var parser = FormDataParser(boundary: Self.boundary)
            #expect(throws: FormDataParser.Malformed.self, "\(name), split \(size)") {
                var offset = 0
                while offset < body.count {
                    _ = try parser.feed(ByteBuffer(bytes: body[offset..<min(offset + size, body.count)]))
                    offset += size
                }
            }
        }
    }

    @Test("random bytes after a valid start never trap")
    func random() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            var parser = FormDataParser(boundary: Self.boundary)
            let start = Array("--XyZ-7f3a\r\n".utf8)
            let noise = (0..<Int.random(in: 0...200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? parser.feed(ByteBuffer(bytes: start + noise))
        }
    }

    @Test("Content-Disposition: quoted, RFC 5987, and a path sent as a name")
    func dispositions() {
        #expect(ContentDisposition(parsing: #"form-data; name="file"; filename="a \"b\".pdf""#).fileName == #"a "b".pdf"#)
        #expect(ContentDisposition(parsing: "form-data; name=file; filename*=UTF-8''Bilag%20%C3%A6%C3%B8%C3%A5.pdf; filename=\"x.pdf\"").fileName == "Bilag æøå.pdf")
        #expect(ContentDisposition(parsing: #"form-data; name="file"; filename="../../etc/passwd""#).fileName == "passwd")
        #expect(ContentDisposition.boundary(of: "multipart/form-data; boundary=\"abc def\"") == "abc def")
        #expect(ContentDisposition.boundary(of: "multipart/form-data; boundary=" + String(repeating: "x", count: 71)) == nil)
        #expect(ContentDisposition.boundary(of: "multipart/form-data") == nil)
    }
}
