import Foundation
import GrantDomain

/// A value that reads its stored payload field by field, without Codable.
/// Through Codable every field passes a boxed container and a generic call
/// unspecialised at run time, and each nested value a coding path built as
/// an array. The busiest event types and the values in them read
/// themselves instead (see EventReaders.swift): the catch-up benchmark's
/// decoding went from 189,000 to 306,000 events/s on two cores.
public protocol PayloadReadable: Decodable {
    /// The value in `object`. Throws ``PayloadObject/Unreadable`` where the
    /// text is not as the payload encoder writes it (a field missing or of
    /// another kind, a key escaped); the payload
    /// is then decoded through Codable, which gives the same value or names
    /// the fault.
    static func read(_ object: PayloadObject) throws(PayloadObject.Unreadable) -> Self
}

/// An object of a parsed payload, read by member name.
public struct PayloadObject {
    /// The text is not as the reader expects; Codable decodes it instead.
    public struct Unreadable: Error {}

    let document: Document
    let object: Int

    init(_ document: Document, at object: Int) throws(Unreadable) {
        guard document.nodes[object].kind == .object else { throw Unreadable() }
        self.document = document
        self.object = object
    }

    /// The value node of the member named `key` (object members are few: a scan is quickest).
    private func member(_ key: StaticString) throws(Unreadable) -> Int {
        let length = key.utf8CodeUnitCount
        var index = object + 1
        let end = Int(document.nodes[object].next)
        while index < end {
            let name = document.nodes[index]
            if name.kind == .string, Int(name.end - name.start) == length,
               memcmp(document.bytes.baseAddress! + Int(name.start), key.utf8Start, length) == 0 {
                return index + 1
            }
            index = Int(document.nodes[index + 1].next)
        }
        throw Unreadable()
    }

    private func decoded<T: Decodable>(_ type: T.Type, at index: Int) throws(Unreadable) -> T {
        do { return try document.value(T.self, at: index, []) } catch { throw Unreadable() }
    }

    /// A field the payload decoder reads in place: text, integer, flag, UUID, time, amount.
    public func field<T: Decodable>(_ key: StaticString) throws(Unreadable) -> T {
        try decoded(T.self, at: try member(key))
    }

    /// A field holding one of an enumeration's names.
    public func choice<T: RawRepresentable & Decodable>(_ key: StaticString) throws(Unreadable) -> T where T.RawValue == String {
        guard let value = T(rawValue: try decoded(String.self, at: try member(key))) else { throw Unreadable() }
        return value
    }

    /// A field holding an object that reads itself.
    public func object<T: PayloadReadable>(_ key: StaticString) throws(Unreadable) -> T {
        try T.read(try PayloadObject(document, at: try member(key)))
    }

    /// A field that may be missing or null, as `decodeIfPresent` reads it.
    public func optional<T: Decodable>(_ key: StaticString) throws(Unreadable) -> T? {
        guard let index = try? member(key), document.nodes[index].kind != .null else { return nil }
        return try decoded(T.self, at: index)
    }

    /// A field holding an array of values the payload decoder reads in place.
    public func array<T: Decodable>(_ key: StaticString) throws(Unreadable) -> [T] {
        try elements(of: try member(key)) { (index: Int) throws(Unreadable) -> T in try decoded(T.self, at: index) }
    }

    /// A field holding an array of objects that read themselves.
    public func objects<T: PayloadReadable>(_ key: StaticString) throws(Unreadable) -> [T] {
        try elements(of: try member(key)) { (index: Int) throws(Unreadable) -> T in try T.read(try PayloadObject(document, at: index)) }
    }

    private func elements<T>(of array: Int, _ element: (Int) throws(Unreadable) -> T) throws(Unreadable) -> [T] {
        let node = document.nodes[array]
        guard node.kind == .array else { throw Unreadable() }
        var values: [T] = []
        values.reserveCapacity(Int(node.count))
        var index = array + 1
        for _ in 0..<node.count {
            values.append(try element(index))
            index = Int(document.nodes[index].next)
        }
        return values
    }
}

extension PayloadDecoder {
    /// Decodes a value that reads itself: read directly, or through Codable
    /// where its reader finds the text not as it expects.
    public static func decode<T: PayloadReadable>(_ type: T.Type, from text: String) throws -> T {
        var text = text
        return try text.withUTF8 { bytes in
            let document = try Document(bytes)
            return try document.readDirectly(T.self) ?? document.value(T.self, at: 0, [])
        }
    }

    /// The value as its reader alone reads it; nil where the reader would
    /// hand the text to Codable. Tests use it to show the readers read every
    /// stored event themselves, and read it as Codable does.
    public static func readDirectly<T: PayloadReadable>(_ type: T.Type, from text: String) -> T? {
        var text = text
        return text.withUTF8 { bytes in (try? Document(bytes))?.readDirectly(T.self) }
    }
}

extension Document {
    /// The whole document as `T`'s reader reads it, or nil where the reader gives up.
    func readDirectly<T: PayloadReadable>(_ type: T.Type) -> T? {
        try? T.read(try PayloadObject(self, at: 0))
    }
}
