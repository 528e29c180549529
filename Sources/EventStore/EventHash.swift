import Crypto
import Foundation

/// The hash that chains one stream's events: SHA-256 of the previous
/// event's hash and the event's content, as `event_hash()` makes it in SQL
/// (db/functions/event_hash.sql, which says what the content is). The
/// import chains with it, and a proof of one event is checked with it
/// offline; a test holds it equal to PostgreSQL's.
public enum EventHash {
    /// One event's hash. Times are microseconds since 1970, as the stored
    /// `timestamptz` holds them; `data` and `metadata` the text as stored.
    public static func compute(previous: some DataProtocol, eventId: UUID, stream: String, version: Int64, type: String,
                               schemaVersion: Int32, occurredMicros: Int64, recordedMicros: Int64,
                               data: some Collection<UInt8>, metadata: some Collection<UInt8>) -> [UInt8] {
        var content: [UInt8] = []
        content.reserveCapacity(data.count + metadata.count + stream.utf8.count + 120)
        for (index, field) in [eventId.uuidString.lowercased(), stream, String(version), type, String(schemaVersion),
                               String(occurredMicros), String(recordedMicros)].enumerated() {
            if index > 0 { content.append(UInt8(ascii: "\n")) }
            content += field.utf8
        }
        content.append(UInt8(ascii: "\n"))
        content += data
        content.append(UInt8(ascii: "\n"))
        content += metadata
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: content)
        return Array(hasher.finalize())
    }

    /// Microseconds since 1970 of a time as PostgreSQL stores it.
    public static func microseconds(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince(Date(timeIntervalSince1970: 946_684_800)) * 1_000_000) + 946_684_800_000_000
    }
}

extension Data {
    /// Lower-case hex, two digits a byte.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count * 2)
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes of lower- or upper-case hex; nil for anything else.
    public init?(hexEncoded text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        self.init(bytes)
    }
}
