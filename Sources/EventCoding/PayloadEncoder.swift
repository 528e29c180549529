import Foundation
import GrantDomain

/// Encodes event payloads as compact JSON at a fraction of Foundation's
/// cost: its `JSONEncoder` builds a tree of boxed values before writing and
/// spent about 17% of a command's CPU. This one writes each value straight
/// into one buffer as `encode(to:)` hands it over, keys in the order the
/// type encodes them (the store keeps this text as written, and readers
/// take keys in any order), times as ``EventCoding/formatTime(_:)``
/// writes them. What it does not write (floating point, `Data`, `URL`,
/// nested and super encoders, which would interleave) throws
/// ``PayloadEncoder/Unsupported``, and ``EventCoding/encode(_:)`` falls back
/// to Foundation for that event.
public enum PayloadEncoder {
    public struct Unsupported: Error, CustomStringConvertible {
        public let what: String
        public var description: String { "the payload encoder does not write \(what)" }
    }

    public static func encode(_ value: some Encodable) throws -> String {
        let writer = Writer()
        try writer.write(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    static func writeInteger<T: BinaryInteger>(_ value: T, into out: inout [UInt8]) {
        out += String(value).utf8
    }

    /// A JSON string as Foundation writes it without escaping slashes.
    static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case ..<0x20:
                out += Array("\\u00".utf8)
                out += [HexDigits.lower[Int(byte >> 4)], HexDigits.lower[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// As `uuidString` writes it (upper case, quoted), without the sprintf
    /// that Foundation's goes through on Linux.
    static func writeUUID(_ uuid: UUID, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        UUIDText.write(uuid, digits: HexDigits.upper) { out.append($0) }
        out.append(UInt8(ascii: "\""))
    }

    static func writeTime(_ date: Date, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        CivilTime.write(date, into: &out)
        out.append(UInt8(ascii: "\""))
    }
}

/// The output, shared by every container of one encoding.
final class Writer {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(512) }

    /// One value: scalars directly, anything else through its `encode(to:)`.
    func write<T: Encodable>(_ value: T) throws {
        if T.self == String.self { return PayloadEncoder.writeString(value as! String, into: &bytes) }
        if T.self == UUID.self { return PayloadEncoder.writeUUID(value as! UUID, into: &bytes) }
        if T.self == Date.self { return PayloadEncoder.writeTime(value as! Date, into: &bytes) }
        if T.self == Int.self { return PayloadEncoder.writeInteger(value as! Int, into: &bytes) }
        if T.self == Int64.self { return PayloadEncoder.writeInteger(value as! Int64, into: &bytes) }
        if T.self == Int32.self { return PayloadEncoder.writeInteger(value as! Int32, into: &bytes) }
        if T.self == Bool.self { return bytes += (value as! Bool) ? Array("true".utf8) : Array("false".utf8) }
        if T.self == Double.self || T.self == Float.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
            throw PayloadEncoder.Unsupported(what: "\(T.self)")
        }
        let encoder = ValueEncoder(writer: self)
        try value.encode(to: encoder)
        switch encoder.opened {
        case .nothing: bytes += Array("{}".utf8)  // as Foundation writes a value that encoded nothing
        case .object: bytes.append(UInt8(ascii: "}"))
        case .array: bytes.append(UInt8(ascii: "]"))
        case .single: break
        }
    }
}

/// What one `encode(to:)` has opened in the output; it is closed when that returns.
private final class ValueEncoder: Encoder {
    enum Opened { case nothing, object, array, single }

    let writer: Writer
    var opened = Opened.nothing
    /// Members or elements written so far, for the commas.
    var count = 0
    let codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(writer: Writer) { self.writer = writer }

    func open(_ kind: Opened) throws {
        if opened == kind, kind != .single { return }
        guard opened == .nothing else { throw PayloadEncoder.Unsupported(what: "a value encoded as two kinds of container") }
        opened = kind
        switch kind {
        case .object: writer.bytes.append(UInt8(ascii: "{"))
        case .array: writer.bytes.append(UInt8(ascii: "["))
        case .single, .nothing: break
        }
    }

    /// The comma before every member or element but the first.
    func next() {
        if count > 0 { writer.bytes.append(UInt8(ascii: ",")) }
        count += 1
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(encoder: self, failure: Result { try open(.object) }.failure))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(encoder: self, failure: Result { try open(.array) }.failure)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValue(encoder: self) }
}

private extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: ValueEncoder
    /// Containers cannot throw where they are made; the first write does.
    let failure: (any Error)?
    var codingPath: [any CodingKey] { [] }

    private func key(_ key: Key) throws {
        if let failure { throw failure }
        encoder.next()
        PayloadEncoder.writeString(key.stringValue, into: &encoder.writer.bytes)
        encoder.writer.bytes.append(UInt8(ascii: ":"))
    }

    mutating func encodeNil(forKey key: Key) throws {
        try self.key(key)
        encoder.writer.bytes += Array("null".utf8)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try self.key(key)
        try encoder.writer.write(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedContainer<NestedKey>(encoder: encoder, failure: PayloadEncoder.Unsupported(what: "nested containers")))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedContainer(encoder: encoder, failure: PayloadEncoder.Unsupported(what: "nested containers"))
    }

    mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { UnsupportedEncoder() }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let encoder: ValueEncoder
    let failure: (any Error)?
    var codingPath: [any CodingKey] { [] }
    var count: Int { encoder.count }

    private func element() throws {
        if let failure { throw failure }
        encoder.next()
    }

    mutating func encodeNil() throws {
        try element()
        encoder.writer.bytes += Array("null".utf8)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try element()
        try encoder.writer.write(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedContainer<NestedKey>(encoder: encoder, failure: PayloadEncoder.Unsupported(what: "nested containers")))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedContainer(encoder: encoder, failure: PayloadEncoder.Unsupported(what: "nested containers"))
    }

    mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
}

private struct SingleValue: SingleValueEncodingContainer {
    let encoder: ValueEncoder
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws {
        try encoder.open(.single)
        encoder.writer.bytes += Array("null".utf8)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try encoder.open(.single)
        try encoder.writer.write(value)
    }
}

/// Handed out for super encoders, which have no place in a streamed output: using it throws.
private struct UnsupportedEncoder: Encoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    static let failure = PayloadEncoder.Unsupported(what: "super encoders")
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedContainer<Key>(encoder: ValueEncoder(writer: Writer()), failure: Self.failure))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { UnkeyedContainer(encoder: ValueEncoder(writer: Writer()), failure: Self.failure) }
    func singleValueContainer() -> any SingleValueEncodingContainer { ThrowingSingle() }
}

private struct ThrowingSingle: SingleValueEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    mutating func encodeNil() throws { throw UnsupportedEncoder.failure }
    mutating func encode<T: Encodable>(_ value: T) throws { throw UnsupportedEncoder.failure }
}
