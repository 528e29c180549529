import Foundation
import GrantDomain
import JSONText

/// Decodes stored event payloads: JSON text as the encoder wrote it, or as
/// PostgreSQL prints `jsonb` (imported events).
/// Foundation's `JSONDecoder` spends about 8 µs on a five-field event here,
/// most of it in its containers rather than in parsing; a catch-up or a
/// rebuild of a million events waits on that.
/// This decoder parses the text once into a flat list of nodes and serves
/// `Decodable` from it, with `UUID` and `Date` read in place. It gives the
/// same values and the same kinds of `DecodingError` as Foundation's decoder
/// did (tests decode every field kind, and a generated history read back
/// from PostgreSQL, both ways); what it does not know (`Data`, `URL`,
/// `Decimal`) fails loudly rather than differently.
public enum PayloadDecoder {
    /// Decodes the payload in place: a stored event's `data` as read.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        var text = text
        return try text.withUTF8 { try decode(T.self, from: $0) }
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try data.withUnsafeBytes { try decode(T.self, from: $0.bindMemory(to: UInt8.self)) }
    }

    /// `bytes` must outlive the call only: decoded values copy what they keep.
    static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeBufferPointer<UInt8>) throws -> T {
        try Document(bytes).value(T.self, at: 0, [])
    }

    /// Decodes a request body that must mean one thing to every reader
    /// (I-JSON, RFC 7493): UTF-8, no object with a key twice, no NUL
    /// character in a string (no text column can hold it). Checked on the
    /// same parse the value is decoded from, so no check sees one member
    /// and the decoder another.
    public static func decodeRequest<T: Decodable>(_ type: T.Type, from data: [UInt8]) throws -> T {
        try data.withUnsafeBufferPointer { bytes in
            guard String(validating: bytes, as: UTF8.self) != nil else { throw AmbiguousJSON(rule: .invalidUTF8, field: nil) }
            let document = try Document(bytes)
            if let ambiguity = try document.ambiguity(at: 0, path: []) { throw ambiguity }
            return try document.value(T.self, at: 0, [])
        }
    }
}

/// A request body that readers could take differently, with the field at fault.
public struct AmbiguousJSON: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Rule: String, Sendable {
        case duplicateKey = "duplicate-key"
        case nulCharacter = "nul-character"
        case invalidUTF8 = "invalid-utf8"
    }

    public var rule: Rule
    /// The member's path, `periods[0].amount`; nil for the body as a whole.
    public var field: String?

    public var description: String {
        let place = field ?? "the body"
        switch rule {
        case .duplicateKey: return "\(place) appears twice in one object (RFC 7493: names must be unique)"
        case .nulCharacter: return "\(place) must not contain the NUL character (\\u0000)"
        case .invalidUTF8: return "\(place) is not valid UTF-8"
        }
    }
}

// MARK: Parsing

/// One JSON value in document order. Containers are followed by their
/// members (an object's as key, value, key, value); `next` is the index just
/// past a node's whole subtree, so a member is skipped in one step.
struct Node {
    enum Kind: UInt8 { case object, array, string, escapedString, number, `true`, `false`, null }
    var kind: Kind
    /// Byte range of a string's contents (without quotes) or of a number.
    var start: Int32
    var end: Int32
    var next: Int32
    /// Members of an object, elements of an array.
    var count: Int32
}

/// A parsed payload. It borrows the text's bytes for the length of one
/// `decode` call, which copies out every value it returns.
final class Document {
    let bytes: UnsafeBufferPointer<UInt8>
    let nodes: [Node]

    init(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        guard bytes.count < Int32.max else { throw Self.corrupted("the payload is too large") }
        var nodes: [Node] = []
        nodes.reserveCapacity(32)
        var parser = Parser(bytes: bytes)
        try parser.value(into: &nodes, depth: 0)
        parser.skipSpace()
        guard parser.offset == bytes.count else { throw Self.corrupted("unexpected text after the value at byte \(parser.offset)") }
        self.bytes = bytes
        self.nodes = nodes
    }

    /// The first key repeated in an object, or string holding NUL, under
    /// node `index`, in document order.
    func ambiguity(at index: Int, path: [String]) throws -> AmbiguousJSON? {
        func place(_ path: [String]) -> String { path.joined().trimmingPrefix(".").description }
        let node = nodes[index]
        switch node.kind {
        case .escapedString:
            return try string(node).utf8.contains(0) ? AmbiguousJSON(rule: .nulCharacter, field: place(path)) : nil
        case .object:
            // The object's own keys first: a key given twice is the fault, whatever its values hold.
            var keys = Set<String>()
            var members: [(key: String, value: Int)] = []
            var member = index + 1
            for _ in 0..<node.count {
                let key = try string(nodes[member])
                if key.utf8.contains(0) { return AmbiguousJSON(rule: .nulCharacter, field: place(path + [".\(key)"])) }
                guard keys.insert(key).inserted else { return AmbiguousJSON(rule: .duplicateKey, field: place(path + [".\(key)"])) }
                members.append((key, member + 1))
                member = Int(nodes[member + 1].next)
            }
            for (key, value) in members {
                if let found = try ambiguity(at: value, path: path + [".\(key)"]) { return found }
            }
            return nil
        case .array:
            var element = index + 1
            for offset in 0..<Int(node.count) {
                if let found = try ambiguity(at: element, path: path + ["[\(offset)]"]) { return found }
                element = Int(nodes[element].next)
            }
            return nil
        default:
            return nil
        }
    }

    static func corrupted(_ reason: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: [], debugDescription: "The given data was not valid JSON: \(reason)"))
    }

    func string(_ node: Node) throws -> String {
        let range = Int(node.start)..<Int(node.end)
        if node.kind == .string { return String(decoding: bytes[range], as: UTF8.self) }
        return try Self.unescape(bytes[range])
    }

    /// True when a string node holds exactly `text`.
    func stringEquals(_ node: Node, _ text: String) -> Bool {
        guard node.kind == .string else { return (try? string(node)) == text }
        var text = text
        return text.withUTF8 { key in
            key.count == Int(node.end - node.start) && (key.count == 0 || memcmp(bytes.baseAddress! + Int(node.start), key.baseAddress!, key.count) == 0)
        }
    }

    static func unescape(_ escaped: Slice<UnsafeBufferPointer<UInt8>>) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(escaped.count)
        do {
            try JSONString.unescape(escaped, into: &out)
        } catch {
            throw corrupted(error.reason)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func skipSpace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    func fail(_ what: String) -> DecodingError { Document.corrupted("\(what) at byte \(offset)") }

    mutating func value(into nodes: inout [Node], depth: Int) throws {
        guard depth < 512 else { throw fail("nesting deeper than 512") }
        skipSpace()
        guard offset < bytes.count else { throw fail("a value is missing") }
        switch bytes[offset] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let isObject = bytes[offset] == UInt8(ascii: "{")
            let close = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let index = nodes.count
            nodes.append(Node(kind: isObject ? .object : .array, start: Int32(offset), end: 0, next: 0, count: 0))
            offset += 1
            skipSpace()
            var count: Int32 = 0
            if offset < bytes.count, bytes[offset] == close {
                offset += 1
            } else {
                while true {
                    if isObject {
                        skipSpace()
                        guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw fail("an object key is not a string") }
                        try string(into: &nodes)
                        skipSpace()
                        guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw fail("':' is missing") }
                        offset += 1
                    }
                    try value(into: &nodes, depth: depth + 1)
                    count += 1
                    skipSpace()
                    guard offset < bytes.count else { throw fail(isObject ? "an object is not closed" : "an array is not closed") }
                    if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                    guard bytes[offset] == close else { throw fail("',' or '\(Character(Unicode.Scalar(close)))' is missing") }
                    offset += 1
                    break
                }
            }
            nodes[index].end = Int32(offset)
            nodes[index].next = Int32(nodes.count)
            nodes[index].count = count
        case UInt8(ascii: "\""):
            try string(into: &nodes)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = offset
            offset += 1
            scan: while offset < bytes.count {
                switch bytes[offset] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                     UInt8(ascii: "+"), UInt8(ascii: "-"): offset += 1
                default: break scan
                }
            }
            nodes.append(Node(kind: .number, start: Int32(start), end: Int32(offset), next: Int32(nodes.count + 1), count: 0))
        case UInt8(ascii: "t"): try literal("true", .true, into: &nodes)
        case UInt8(ascii: "f"): try literal("false", .false, into: &nodes)
        case UInt8(ascii: "n"): try literal("null", .null, into: &nodes)
        default: throw fail("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString, _ kind: Node.Kind, into nodes: inout [Node]) throws {
        let length = word.utf8CodeUnitCount
        guard offset + length <= bytes.count,
              memcmp(bytes.baseAddress! + offset, word.utf8Start, length) == 0 else { throw fail("unexpected word") }
        nodes.append(Node(kind: kind, start: Int32(offset), end: Int32(offset + length), next: Int32(nodes.count + 1), count: 0))
        offset += length
    }

    /// A string starting at the opening quote.
    private mutating func string(into nodes: inout [Node]) throws {
        offset += 1
        let start = offset
        var escaped = false
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                nodes.append(Node(kind: escaped ? .escapedString : .string, start: Int32(start), end: Int32(offset),
                                  next: Int32(nodes.count + 1), count: 0))
                offset += 1
                return
            }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                offset += 2
                continue
            }
            guard byte >= 0x20 else { throw fail("a control character in a string") }
            offset += 1
        }
        throw fail("a string is not closed")
    }
}

// MARK: Decoding

/// Reading one node; `path` is built only when it fails or a nested
/// decoder needs it, since building it for every field cost more than parsing.
extension Document {
    func value<T: Decodable>(_ type: T.Type, at index: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> T {
        if T.self == String.self { return try string(at: index, path()) as! T }
        if T.self == Int.self { return try integer(Int.self, at: index, path()) as! T }
        if T.self == Bool.self { return try bool(at: index, path()) as! T }
        if T.self == UUID.self {
            if nodes[index].kind == .string, let uuid = uuid(nodes[index]) { return uuid as! T }
            guard let uuid = UUID(uuidString: try string(at: index, path())) else {
                throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: "Attempted to decode UUID from invalid UUID string."))
            }
            return uuid as! T
        }
        if T.self == Date.self { return try date(at: index, path()) as! T }
        if T.self == Money.self, let money = money(at: index) { return money as! T }
        return try T(from: ValueDecoder(document: self, node: index, codingPath: path()))
    }

    /// An amount as stored, `{"amount": "12.50", "currency": "DKK"}`, read
    /// in place: every grant event carries one or more, and a keyed
    /// container for each cost 8% of a catch-up read. Nil sends anything
    /// else, and every error, through `Money`'s own decoding.
    func money(at index: Int) -> Money? {
        guard nodes[index].kind == .object, nodes[index].count == 2 else { return nil }
        var amount: String?, currency: Currency?
        var member = index + 1
        for _ in 0..<2 {
            let key = nodes[member], value = nodes[member + 1]
            guard value.kind == .string else { return nil }
            if stringEquals(key, "amount") {
                amount = String(decoding: bytes[Int(value.start)..<Int(value.end)], as: UTF8.self)
            } else if stringEquals(key, "currency") {
                currency = try? Currency(code: String(decoding: bytes[Int(value.start)..<Int(value.end)], as: UTF8.self))
            }
            member = Int(value.next)
        }
        guard let amount, let currency else { return nil }
        return try? Money(amount, currency)
    }

    /// A UUID in its usual 36-character form; nil sends others to Foundation.
    /// (Foundation's parser on Linux goes through `sscanf`, 0.6 µs a UUID.)
    func uuid(_ node: Node) -> UUID? {
        guard node.end - node.start == 36 else { return nil }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &uuid) { out in
            var offset = Int(node.start)
            for byteIndex in 0..<16 {
                if byteIndex == 4 || byteIndex == 6 || byteIndex == 8 || byteIndex == 10 {
                    guard bytes[offset] == UInt8(ascii: "-") else { return false }
                    offset += 1
                }
                guard let high = Self.hexValue(bytes[offset]), let low = Self.hexValue(bytes[offset + 1]) else { return false }
                out[byteIndex] = high << 4 | low
                offset += 2
            }
            return true
        }
        return parsed ? UUID(uuid: uuid) : nil
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A time as ``CivilTime`` reads it; an escaped string (no time has
    /// an escape) goes through the unescaped text.
    func date(at index: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Date {
        let node = nodes[index]
        let parsed: Result<CivilTime.Parsed, CivilTime.Invalid>
        switch node.kind {
        case .string: parsed = CivilTime.parse(bytes[Int(node.start)..<Int(node.end)])
        case .escapedString: parsed = CivilTime.parse(try string(node))
        default: throw mismatch(Date.self, node, path())
        }
        switch parsed {
        case .success(let time): return time.date
        case .failure(let invalid): throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: invalid.reason))
        }
    }

    func string(at index: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> String {
        let node = nodes[index]
        guard node.kind == .string || node.kind == .escapedString else { throw mismatch(String.self, node, path()) }
        return try string(node)
    }

    func integer<T: FixedWidthInteger>(_ type: T.Type, at index: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> T {
        let node = nodes[index]
        guard node.kind == .number else { throw mismatch(T.self, node, path()) }
        let text = bytes[Int(node.start)..<Int(node.end)]
        if let parsed = Self.parseInteger(T.self, text) { return parsed }
        // Foundation accepts an integral number written with a fraction or exponent ("3.0", "1e3").
        if let double = Double(String(decoding: text, as: UTF8.self)), let exact = T(exactly: double) { return exact }
        throw DecodingError.dataCorrupted(.init(codingPath: path(),
            debugDescription: "Parsed JSON number <\(String(decoding: text, as: UTF8.self))> does not fit in \(T.self)."))
    }

    static func parseInteger<T: FixedWidthInteger>(_ type: T.Type, _ text: Slice<UnsafeBufferPointer<UInt8>>) -> T? {
        var index = text.startIndex
        let negative = index < text.endIndex && text[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < text.endIndex else { return nil }
        var result: T = 0
        while index < text.endIndex {
            let digit = text[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, overflowed) = result.multipliedReportingOverflow(by: 10)
            let (next, carried) = negative ? shifted.subtractingReportingOverflow(T(digit)) : shifted.addingReportingOverflow(T(digit))
            guard !overflowed, !carried else { return nil }
            result = next
            index += 1
        }
        return result
    }

    func floatingPoint<T: LosslessStringConvertible>(_ type: T.Type, at index: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> T {
        let node = nodes[index]
        guard node.kind == .number else { throw mismatch(T.self, node, path()) }
        let text = String(decoding: bytes[Int(node.start)..<Int(node.end)], as: UTF8.self)
        guard let parsed = T(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: "Parsed JSON number <\(text)> does not fit in \(T.self)."))
        }
        return parsed
    }

    func bool(at index: Int, _ path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        let node = nodes[index]
        switch node.kind {
        case .true: return true
        case .false: return false
        default: throw mismatch(Bool.self, node, path())
        }
    }
}

private func mismatch(_ expected: Any.Type, _ value: Node, _ path: [any CodingKey]) -> DecodingError {
    let found: String
    switch value.kind {
    case .null:
        return .valueNotFound(expected, .init(codingPath: path, debugDescription: "Expected \(expected) value but found null instead."))
    case .object: found = "a dictionary"
    case .array: found = "an array"
    case .string, .escapedString: found = "a string"
    case .number: found = "number"
    case .true, .false: found = "bool"
    }
    return .typeMismatch(expected, .init(codingPath: path, debugDescription: "Expected to decode \(expected) but found \(found) instead."))
}

struct ValueDecoder: Decoder {
    let document: Document
    let node: Int
    let codingPath: [any CodingKey]

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let value = document.nodes[node]
        guard value.kind == .object else { throw mismatch([String: Any].self, value, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(document: document, object: node, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let value = document.nodes[node]
        guard value.kind == .array else { throw mismatch([Any].self, value, codingPath) }
        return UnkeyedContainer(document: document, array: node, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(decoder: self) }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let document: Document
    let object: Int
    let codingPath: [any CodingKey]

    var allKeys: [Key] {
        var keys: [Key] = []
        var index = object + 1
        let end = Int(document.nodes[object].next)
        while index < end {
            if let text = try? document.string(document.nodes[index]), let key = Key(stringValue: text) { keys.append(key) }
            index = Int(document.nodes[index + 1].next)
        }
        return keys
    }

    /// The node of the value named `key`; members are few, so a scan is quickest.
    func find(_ key: Key) -> Int? {
        let name = key.stringValue
        var index = object + 1
        let end = Int(document.nodes[object].next)
        while index < end {
            if document.stringEquals(document.nodes[index], name) { return index + 1 }
            index = Int(document.nodes[index + 1].next)
        }
        return nil
    }

    func value(_ key: Key) throws -> Int {
        guard let index = find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath,
                                                       debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return index
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { document.nodes[try value(key)].kind == .null }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try document.bool(at: try value(key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try document.string(at: try value(key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try document.floatingPoint(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try document.floatingPoint(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try document.integer(type, at: try value(key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try document.integer(type, at: try value(key), codingPath + [key]) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try document.value(T.self, at: try value(key), codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(document: document, node: try value(key), codingPath: codingPath + [key]).container(keyedBy: NestedKey.self)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(document: document, node: try value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(forKey: Key(stringValue: "super")!)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(document: document, node: try value(key), codingPath: codingPath + [key])
    }
}

private struct ArrayIndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let document: Document
    let array: Int
    let codingPath: [any CodingKey]
    private(set) var currentIndex = 0
    private var cursor: Int

    init(document: Document, array: Int, codingPath: [any CodingKey]) {
        self.document = document
        self.array = array
        self.codingPath = codingPath
        cursor = array + 1
    }

    var count: Int? { Int(document.nodes[array].count) }
    var isAtEnd: Bool { currentIndex >= Int(document.nodes[array].count) }

    /// The next element's node, stepping past it.
    private mutating func next(_ type: Any.Type) throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [ArrayIndexKey(currentIndex)],
                                                          debugDescription: "Unkeyed container is at end."))
        }
        let index = cursor
        cursor = Int(document.nodes[index].next)
        currentIndex += 1
        return index
    }

    private var elementPath: [any CodingKey] { codingPath + [ArrayIndexKey(currentIndex - 1)] }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw DecodingError.valueNotFound(Any?.self, .init(codingPath: codingPath, debugDescription: "Unkeyed container is at end.")) }
        guard document.nodes[cursor].kind == .null else { return false }
        _ = try next(Any?.self)
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try document.bool(at: try next(type), elementPath) }
    mutating func decode(_ type: String.Type) throws -> String { try document.string(at: try next(type), elementPath) }
    mutating func decode(_ type: Double.Type) throws -> Double { try document.floatingPoint(type, at: try next(type), elementPath) }
    mutating func decode(_ type: Float.Type) throws -> Float { try document.floatingPoint(type, at: try next(type), elementPath) }
    mutating func decode(_ type: Int.Type) throws -> Int { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(type, at: try next(type), elementPath) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(type, at: try next(type), elementPath) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let index = try next(type)
        return try document.value(T.self, at: index, elementPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let index = try next([String: Any].self)
        return try ValueDecoder(document: document, node: index, codingPath: elementPath).container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let index = try next([Any].self)
        return try ValueDecoder(document: document, node: index, codingPath: elementPath).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let index = try next(Any.self)
        return ValueDecoder(document: document, node: index, codingPath: elementPath)
    }
}

private struct SingleValue: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    private var document: Document { decoder.document }
    private var node: Int { decoder.node }

    init(decoder: ValueDecoder) { self.decoder = decoder }

    func decodeNil() -> Bool { document.nodes[node].kind == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try document.bool(at: node, codingPath) }
    func decode(_ type: String.Type) throws -> String { try document.string(at: node, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try document.floatingPoint(type, at: node, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try document.floatingPoint(type, at: node, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try document.integer(type, at: node, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(type, at: node, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(type, at: node, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(type, at: node, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(type, at: node, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try document.integer(type, at: node, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(type, at: node, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(type, at: node, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(type, at: node, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(type, at: node, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try document.value(T.self, at: node, codingPath) }
}
