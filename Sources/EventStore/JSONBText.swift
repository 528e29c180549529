import JSONText

/// JSON text exactly as PostgreSQL prints the same value stored as `jsonb`:
/// object keys shorter first, then by bytes, the last of duplicate keys kept;
/// ", " and ": " between items; numbers as `numeric` prints them; strings
/// escaped as `jsonb` escapes them. The import path hashes events here rather
/// than in PostgreSQL and sends this text, which is stored as written
/// (`json`), so the hash covers what `event_hash` reads back; and an
/// imported history reads the same whatever the spacing or key order of
/// the file it came from.
enum JSONBText {
    struct Invalid: Error, CustomStringConvertible {
        var reason: String
        var offset: Int
        var description: String { "\(reason) at byte \(offset)" }
    }

    static func render(_ text: String) throws -> [UInt8] {
        var text = text
        return try text.withUTF8 { bytes in
            var parser = Parser(bytes: bytes)
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + 32)
            parser.skipSpace()
            try parser.value(into: &out)
            parser.skipSpace()
            guard parser.index == bytes.count else { throw parser.fail("unexpected characters after the value") }
            return out
        }
    }

    /// A string value as `jsonb` prints it, quotes included.
    static func appendString(_ raw: some Sequence<UInt8>, to out: inout [UInt8]) {
        out.append(quote)
        for byte in raw {
            switch byte {
            case quote: out += [backslash, quote]
            case backslash: out += [backslash, backslash]
            case 0x08: out += [backslash, UInt8(ascii: "b")]
            case 0x0C: out += [backslash, UInt8(ascii: "f")]
            case 0x0A: out += [backslash, UInt8(ascii: "n")]
            case 0x0D: out += [backslash, UInt8(ascii: "r")]
            case 0x09: out += [backslash, UInt8(ascii: "t")]
            case ..<0x20: out += [backslash, UInt8(ascii: "u"), zero, zero, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(quote)
    }

    static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), zero = UInt8(ascii: "0")
    static let hexDigits = Array("0123456789abcdef".utf8)
}

/// Renders as it parses. Strings without escapes, numbers without an
/// exponent and keys are copied from the text as they stand (jsonb prints
/// them the same), so a payload costs an allocation per object, not one per
/// value: the import renders every event it loads.
private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    func fail(_ reason: String) -> JSONBText.Invalid { JSONBText.Invalid(reason: reason, offset: index) }

    mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    mutating func expect(_ byte: UInt8) throws {
        guard peek == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
        index += 1
    }

    mutating func value(into out: inout [UInt8]) throws {
        switch peek {
        case UInt8(ascii: "{"): try object(into: &out)
        case UInt8(ascii: "["): try array(into: &out)
        case UInt8(ascii: "\""): try string(into: &out)
        case UInt8(ascii: "t"): try literal("true", into: &out)
        case UInt8(ascii: "f"): try literal("false", into: &out)
        case UInt8(ascii: "n"): try literal("null", into: &out)
        case .some: try number(into: &out)
        case nil: throw fail("unexpected end of JSON")
        }
    }

    mutating func literal(_ word: String, into out: inout [UInt8]) throws {
        for byte in word.utf8 { try expect(byte) }
        out += word.utf8
    }

    /// A member's key: where it stands in the text, or, if it has escapes,
    /// in the object's resolved keys; and its value as rendered.
    private struct Member {
        var keyInText: Bool
        var key: Range<Int>
        var value: Range<Int>
    }

    mutating func object(into out: inout [UInt8]) throws {
        index += 1
        var members: [Member] = []
        var values: [UInt8] = []
        var resolvedKeys: [UInt8] = []
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                guard peek == JSONBText.quote else { throw fail("expected a key") }
                var member = Member(keyInText: true, key: 0..<0, value: 0..<0)
                if let plain = plainString() {
                    member.key = plain
                } else {
                    let resolved = try string()
                    member.keyInText = false
                    member.key = resolvedKeys.count..<resolvedKeys.count + resolved.count
                    resolvedKeys += resolved
                }
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                let start = values.count
                try value(into: &values)
                member.value = start..<values.count
                members.append(member)
                skipSpace()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "}"))
                break
            }
        }
        let text = bytes
        resolvedKeys.withUnsafeBufferPointer { resolved in
            let key = { (member: Member) in
                UnsafeBufferPointer(rebasing: (member.keyInText ? text : resolved)[member.key])
            }
            let order = members.indices.sorted { a, b in
                let (left, right) = (key(members[a]), key(members[b]))
                if left.count != right.count { return left.count < right.count }
                return left.elementsEqual(right) ? a < b : left.lexicographicallyPrecedes(right)
            }
            out.append(UInt8(ascii: "{"))
            var first = true
            for (rank, member) in order.enumerated() {
                // Of duplicate keys jsonb keeps the last; they sort next to each other.
                if rank + 1 < order.count, key(members[order[rank + 1]]).elementsEqual(key(members[member])) { continue }
                if !first { out += [UInt8(ascii: ","), 0x20] }
                first = false
                if members[member].keyInText {
                    out.append(JSONBText.quote)
                    out += key(members[member])
                    out.append(JSONBText.quote)
                } else {
                    JSONBText.appendString(key(members[member]), to: &out)
                }
                out += [UInt8(ascii: ":"), 0x20]
                out += values[members[member].value]
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    mutating func array(into out: inout [UInt8]) throws {
        index += 1
        out.append(UInt8(ascii: "["))
        skipSpace()
        if peek == UInt8(ascii: "]") {
            index += 1
        } else {
            var first = true
            while true {
                skipSpace()
                if !first { out += [UInt8(ascii: ","), 0x20] }
                first = false
                try value(into: &out)
                skipSpace()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                try expect(UInt8(ascii: "]"))
                break
            }
        }
        out.append(UInt8(ascii: "]"))
    }

    /// The content of the string at `index`, if it has no escapes and no
    /// control characters (which jsonb would print escaped): then past it.
    mutating func plainString() -> Range<Int>? {
        let start = index + 1
        var end = start
        while end < bytes.count {
            let byte = bytes[end]
            if byte == JSONBText.quote {
                index = end + 1
                return start..<end
            }
            if byte == JSONBText.backslash || byte < 0x20 { return nil }
            end += 1
        }
        return nil
    }

    /// A string value as jsonb prints it.
    mutating func string(into out: inout [UInt8]) throws {
        if let plain = plainString() {
            out.append(JSONBText.quote)
            out += UnsafeBufferPointer(rebasing: bytes[plain])
            out.append(JSONBText.quote)
        } else {
            JSONBText.appendString(try string(), to: &out)
        }
    }

    /// A string's content with its escapes resolved, as UTF-8: then past it.
    mutating func string() throws -> [UInt8] {
        let start = index + 1
        var end = start
        while true {
            guard end < bytes.count else { throw fail("unterminated string") }
            if bytes[end] == JSONBText.quote { break }
            end += bytes[end] == JSONBText.backslash ? 2 : 1
        }
        var raw: [UInt8] = []
        do {
            try JSONString.unescape(bytes[start..<end], into: &raw)
        } catch {
            throw JSONBText.Invalid(reason: error.reason, offset: error.offset)
        }
        // PostgreSQL's text type cannot hold NUL, so jsonb refuses \u0000 (a raw NUL is a control character, refused above).
        guard !raw.contains(0) else { throw fail("\\u0000 cannot be stored") }
        index = end + 1
        return raw
    }

    /// The number at `index`, if it is valid JSON without an exponent: then past it.
    mutating func plainNumber() -> Range<Int>? {
        let (start, bytes) = (index, bytes)
        var end = index
        let isDigit = { (at: Int) in at < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[at]) }
        if end < bytes.count, bytes[end] == UInt8(ascii: "-") { end += 1 }
        guard isDigit(end) else { return nil }
        if bytes[end] == UInt8(ascii: "0") {
            end += 1
            if isDigit(end) { return nil }
        } else {
            while isDigit(end) { end += 1 }
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: ".") {
            end += 1
            guard isDigit(end) else { return nil }
            while isDigit(end) { end += 1 }
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: "e") || bytes[end] == UInt8(ascii: "E") { return nil }
        index = end
        return start..<end
    }

    /// A number as `numeric` prints it: the exponent applied, the scale
    /// written (fraction digits less the exponent), no sign on zero.
    mutating func number(into out: inout [UInt8]) throws {
        // Without an exponent numeric prints the number as written, but for the sign of a zero.
        if let plain = plainNumber() {
            let zero = UnsafeBufferPointer(rebasing: bytes[plain]).allSatisfy { $0 == JSONBText.zero || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
            out += UnsafeBufferPointer(rebasing: bytes[zero && bytes[plain.lowerBound] == UInt8(ascii: "-") ? plain.dropFirst() : plain])
            return
        }
        let negative = peek == UInt8(ascii: "-")
        if negative { index += 1 }
        let isDigit = { (byte: UInt8?) in byte.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? false }
        var digits: [UInt8] = []
        guard isDigit(peek) else { throw fail("invalid value") }
        if peek == UInt8(ascii: "0"), isDigit(index + 1 < bytes.count ? bytes[index + 1] : nil) { throw fail("leading zero in a number") }
        while isDigit(peek) { digits.append(bytes[index]); index += 1 }
        let integerDigits = digits.count
        if peek == UInt8(ascii: ".") {
            index += 1
            guard isDigit(peek) else { throw fail("a decimal point must be followed by digits") }
            while isDigit(peek) { digits.append(bytes[index]); index += 1 }
        }
        let fractionDigits = digits.count - integerDigits
        var exponent = 0
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { exponentNegative = peek == UInt8(ascii: "-"); index += 1 }
            guard isDigit(peek) else { throw fail("an exponent needs digits") }
            while isDigit(peek) {
                exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                guard exponent <= 1_000 else { throw fail("exponent out of range") }
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }
        let scale = max(0, fractionDigits - exponent)
        let point = integerDigits + exponent  // digits before the decimal point
        var integerPart: [UInt8] = point <= 0 ? [] : Array(digits.prefix(point))
        if point > digits.count { integerPart += repeatElement(JSONBText.zero, count: point - digits.count) }
        var fractionPart: [UInt8] = point < 0 ? Array(repeating: JSONBText.zero, count: -point) + digits : Array(digits.dropFirst(max(point, 0)))
        fractionPart = Array(fractionPart.prefix(scale)) + repeatElement(JSONBText.zero, count: max(0, scale - fractionPart.count))
        integerPart = Array(integerPart.drop { $0 == JSONBText.zero })
        if integerPart.isEmpty { integerPart = [JSONBText.zero] }
        let isZero = (integerPart + fractionPart).allSatisfy { $0 == JSONBText.zero }
        if negative && !isZero { out.append(UInt8(ascii: "-")) }
        out += integerPart
        if scale > 0 { out.append(UInt8(ascii: ".")); out += fractionPart }
    }
}
