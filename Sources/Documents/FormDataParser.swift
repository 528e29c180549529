import NIOCore

/// A multipart/form-data body (RFC 7578) parsed as it streams in: each
/// part's start with its name and file name, its bytes as they come, its
/// end. Everything but a part's bytes is bounded: the preamble and epilogue,
/// a part's headers, the number of parts. A body that breaks the format or a
/// bound is refused with the reason, never trapped on.
public struct FormDataParser {
    public enum Event: Equatable {
        case partStart(name: String?, fileName: String?)
        case body(ByteBuffer)
        case partEnd
    }

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// Bytes before the first boundary or after the last.
    public static let outsideLimit = 16_384
    /// One part's header block.
    public static let headerLimit = 8_192
    public static let partLimit = 32

    private enum State { case preamble, afterDelimiter, headers, body, epilogue }

    private let delimiter: [UInt8]
    private var state = State.preamble
    private var pending = ByteBuffer()
    private var outside = 0
    private var parts = 0

    /// `boundary`: the Content-Type's, 1 to 70 characters.
    public init(boundary: String) {
        // The first boundary has no line break before it: one is supplied, so every delimiter reads alike.
        delimiter = Array("\r\n--\(boundary)".utf8)
        pending.writeString("\r\n")
    }

    /// Takes the next bytes of the body; returns what they complete.
    public mutating func feed(_ bytes: ByteBuffer) throws(Malformed) -> [Event] {
        var bytes = bytes
        pending.writeBuffer(&bytes)
        var events: [Event] = []
        while true {
            switch state {
            case .preamble:
                guard let at = find(delimiter) else {
                    try skipOutside(keeping: delimiter.count - 1)
                    return events
                }
                try skipOutside(at)
                pending.moveReaderIndex(forwardBy: delimiter.count)
                state = .afterDelimiter
            case .afterDelimiter:
                // `--` ends the body; otherwise optional blanks, then a line break, then a part's headers.
                guard pending.readableBytes >= 2 else { return events }
                let view = pending.readableBytesView
                if view.starts(with: [0x2D, 0x2D]) {
                    pending.moveReaderIndex(forwardBy: 2)
                    state = .epilogue
                    continue
                }
                guard let lineEnd = find([0x0D, 0x0A]) else {
                    guard pending.readableBytes <= 256 else { throw Malformed(reason: "a boundary line goes on without end") }
                    return events
                }
                guard view.prefix(lineEnd).allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
                    throw Malformed(reason: "a boundary is followed by something other than a line break")
                }
                pending.moveReaderIndex(forwardBy: lineEnd + 2)
                parts += 1
                guard parts <= Self.partLimit else { throw Malformed(reason: "more than \(Self.partLimit) parts") }
                state = .headers
            case .headers:
                let end: Int
                if pending.readableBytesView.starts(with: [0x0D, 0x0A]) {
                    end = 0
                } else if let found = find([0x0D, 0x0A, 0x0D, 0x0A]) {
                    end = found + 2
                } else {
                    guard pending.readableBytes <= Self.headerLimit else { throw Malformed(reason: "a part's headers are over \(Self.headerLimit) bytes") }
                    return events
                }
                guard end <= Self.headerLimit else { throw Malformed(reason: "a part's headers are over \(Self.headerLimit) bytes") }
                let block = pending.readBytes(length: end) ?? []
                pending.moveReaderIndex(forwardBy: 2)
                events.append(try Self.partStart(block))
                state = .body
            case .body:
                if let at = find(delimiter) {
                    if at > 0 { events.append(.body(pending.readSlice(length: at)!)) }
                    pending.moveReaderIndex(forwardBy: delimiter.count)
                    events.append(.partEnd)
                    state = .afterDelimiter
                } else {
                    // All but what may be the start of a delimiter cut by the buffer's end.
                    let safe = pending.readableBytes - (delimiter.count - 1)
                    if safe > 0 { events.append(.body(pending.readSlice(length: safe)!)) }
                    pending.discardReadBytes()
                    return events
                }
            case .epilogue:
                try skipOutside(pending.readableBytes)
                return events
            }
        }
    }

    /// Whether the body ended where a whole body ends: after its closing boundary.
    public var isComplete: Bool { state == .epilogue }

    private mutating func skipOutside(_ count: Int) throws(Malformed) {
        outside += count
        guard outside <= Self.outsideLimit else { throw Malformed(reason: "over \(Self.outsideLimit) bytes outside the parts") }
        pending.moveReaderIndex(forwardBy: count)
        pending.discardReadBytes()
    }

    private mutating func skipOutside(keeping tail: Int) throws(Malformed) {
        try skipOutside(max(0, pending.readableBytes - tail))
    }

    /// The offset of `needle` in the unread bytes, if there.
    private func find(_ needle: [UInt8]) -> Int? {
        pending.withUnsafeReadableBytes { haystack -> Int? in
            guard haystack.count >= needle.count, let first = needle.first else { return nil }
            var index = 0
            let last = haystack.count - needle.count
            while index <= last {
                guard let hit = haystack[index...last].firstIndex(of: first) else { return nil }
                if needle.indices.allSatisfy({ haystack[hit + $0] == needle[$0] }) { return hit }
                index = hit + 1
            }
            return nil
        }
    }

    /// A part's header lines (`Name: value`, CRLF after each) to its name and file name.
    private static func partStart(_ block: [UInt8]) throws(Malformed) -> Event {
        var name: String?, fileName: String?
        var lines = block[...]
        while !lines.isEmpty {
            let lineEnd = lines.firstIndex(of: 0x0D) ?? lines.endIndex
            let line = lines[lines.startIndex..<lineEnd]
            lines = lines[min(lineEnd + 2, lines.endIndex)...]
            guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex,
                  line[line.startIndex..<colon].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw Malformed(reason: "a part's header is not `Name: value`")
            }
            let field = String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased()
            guard field == "content-disposition" else { continue }
            let disposition = ContentDisposition(parsing: String(decoding: line[(colon + 1)...], as: UTF8.self))
            (name, fileName) = (disposition.name, disposition.fileName)
        }
        return .partStart(name: name, fileName: fileName)
    }
}

/// `form-data; name="file"; filename="budget.pdf"` (or `filename*=UTF-8''…`).
public struct ContentDisposition {
    public var name: String?
    public var fileName: String?

    public init(parsing value: String) {
        for parameter in value.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            var text = pair[1]
            if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 {
                text = String(text.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
            }
            switch pair[0].lowercased() {
            case "name": name = text
            case "filename": fileName = fileName ?? text
            case "filename*":
                if text.lowercased().hasPrefix("utf-8''"), let decoded = String(text.dropFirst(7)).removingPercentEncoding { fileName = decoded }
            default: break
            }
        }
        // Some browsers send the path the file was picked from.
        if let full = fileName, let last = full.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last { fileName = String(last) }
    }

    /// The boundary parameter of a multipart Content-Type, 1 to 70 characters.
    public static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            let value = pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2 ? String(pair[1].dropFirst().dropLast()) : pair[1]
            return (1...70).contains(value.utf8.count) ? value : nil
        }
        return nil
    }
}
