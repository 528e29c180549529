/// JSON's string escapes (RFC 8259, section 7), resolved in one place for
/// every reader of stored payloads: the domain's payload decoder and the
/// store's import, which prints payloads as PostgreSQL's `jsonb` would.
public enum JSONString {
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        /// Where in the bytes given the fault begins.
        public var offset: Int
        public var description: String { reason }

        public init(_ reason: String, at offset: Int) {
            self.reason = reason
            self.offset = offset
        }
    }

    /// Appends to `out` the UTF-8 of a string whose text between its quotes
    /// is `escaped`: escapes resolved, surrogate pairs joined. Refuses a
    /// control character, an unknown or cut-off escape, and half a pair.
    @inlinable
    public static func unescape<Bytes: RandomAccessCollection>(_ escaped: Bytes, into out: inout [UInt8]) throws(Invalid)
    where Bytes.Element == UInt8, Bytes.Index == Int {
        var index = escaped.startIndex
        while index < escaped.endIndex {
            let byte = escaped[index]
            index += 1
            if byte < 0x20 { throw Invalid("a control character in a string", at: index - 1) }
            guard byte == UInt8(ascii: "\\") else { out.append(byte); continue }
            guard index < escaped.endIndex else { throw Invalid("a string ends in a backslash", at: index - 1) }
            let escape = escaped[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(escaped, at: &index)
                if (0xD800..<0xDC00).contains(scalar) {
                    guard index + 1 < escaped.endIndex, escaped[index] == UInt8(ascii: "\\"), escaped[index + 1] == UInt8(ascii: "u") else {
                        throw Invalid("a \\u escape is half a surrogate pair", at: index)
                    }
                    index += 2
                    let low = try hex4(escaped, at: &index)
                    guard (0xDC00..<0xE000).contains(low) else { throw Invalid("a \\u escape is half a surrogate pair", at: index - 4) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                // A low surrogate alone is no scalar.
                guard let unicode = Unicode.Scalar(scalar) else { throw Invalid("a \\u escape is half a surrogate pair", at: index - 4) }
                out.append(contentsOf: UTF8.encode(unicode)!)
            default:
                throw Invalid("unknown escape \\\(Character(Unicode.Scalar(escape)))", at: index - 2)
            }
        }
    }

    @inlinable
    static func hex4<Bytes: RandomAccessCollection>(_ bytes: Bytes, at index: inout Int) throws(Invalid) -> UInt32
    where Bytes.Element == UInt8, Bytes.Index == Int {
        guard index + 4 <= bytes.endIndex else { throw Invalid("a \\u escape is cut short", at: index) }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw Invalid("a \\u escape has a non-hex digit", at: index + offset)
            }
            value = value << 4 | UInt32(digit)
        }
        index += 4
        return value
    }
}
