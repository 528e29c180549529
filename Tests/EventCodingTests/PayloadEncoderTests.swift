import EventCoding
import Foundation
import GrantDomain
import Programmes
import Testing

/// The payload encoder stands in for Foundation's `JSONEncoder` when events
/// are appended: each test holds its output against Foundation's, read back.
@Suite("Payloads encode to what Foundation encodes")
struct PayloadEncoderTests {
    struct Everything: Codable, Hashable {
        enum Kind: String, Codable { case first, second }
        struct Line: Codable, Hashable { var label: String; var amount: Money }
        var text: String
        var count: Int
        var version: Int32
        var big: Int64
        var flag: Bool
        var kind: Kind
        var missing: String?
        var present: UUID?
        var lines: [Line]
        var matrix: [[Int]]
        var counts: [String: Int]
        var byId: [UUID: String]
        var when: Date
        var empty: [String]
    }

    static let foundation: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(EventCoding.formatTime(date))
        }
        return encoder
    }()

    /// Both texts parsed and written again with sorted keys: the same text means the same `jsonb`.
    static func sameJSON(_ fast: String, _ foundation: Data) throws -> Bool {
        func canonical(_ data: Data) throws -> Data {
            try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed),
                                       options: [.sortedKeys, .fragmentsAllowed])
        }
        return try canonical(Data(fast.utf8)) == canonical(foundation)
    }

    @Test("every kind of field the domain uses, with escapes, reads back as Foundation's output does")
    func everyKindOfField() throws {
        let value = Everything(
            text: "quote \" back \\ slash / tab \t nl \n cr \r ctl \u{1}\u{1F} æøå 🚀 \u{2028}", count: -42, version: 3, big: .max, flag: true,
            kind: .second, missing: nil, present: UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF"),
            lines: [.init(label: "a", amount: try Money("12.50", .dkk)), .init(label: "", amount: try Money("-0.01", .eur))],
            matrix: [[], [1], [2, 3]], counts: ["2024": 3, "æ": 0], byId: [UUID(): "x"], when: Date(timeIntervalSince1970: 1_709_251_199.125),
            empty: [])
        let fast = try PayloadEncoder.encode(value)
        let theirs = try Self.foundation.encode(value)
        #expect(try Self.sameJSON(fast, theirs), "\(fast)\n\(String(decoding: theirs, as: UTF8.self))")
        #expect(try PayloadDecoder.decode(Everything.self, from: fast) == value)
        #expect(!fast.contains("missing"), "an absent optional is left out, as Foundation leaves it out")
    }

    @Test("times are written as formatTime writes them, 1970-9999, between milliseconds too")
    func timesAsFormatTime() throws {
        var random = SeededRandom(seed: 5)
        var dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 951_782_400), Date(timeIntervalSince1970: 253_402_300_799.999),
                     Date(timeIntervalSinceReferenceDate: 0), Date(timeIntervalSince1970: -1), Date(timeIntervalSince1970: 253_402_300_800)]
        for _ in 0..<20_000 {
            let milliseconds = Double(Int64.random(in: 0...253_402_300_799_999, using: &random))
            let nudge = [0, 0.0004, 0.4999, 0.5, 0.5001, 0.9999][Int.random(in: 0..<6, using: &random)]
            dates.append(Date(timeIntervalSince1970: (milliseconds + nudge) / 1000))
        }
        for date in dates {
            #expect(try PayloadEncoder.encode(date) == "\"\(EventCoding.formatTime(date))\"", "\(date.timeIntervalSinceReferenceDate)")
        }
    }

    @Test("UUIDs are written as uuidString writes them, and stream names' lower-case text as uuidString lower-cased")
    func uuids() throws {
        var ids = [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                   UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))]
        for _ in 0..<10_000 { ids.append(UUID()) }
        for id in ids {
            #expect(try PayloadEncoder.encode(id) == "\"\(id.uuidString)\"")
            #expect(id.lowercasedText == id.uuidString.lowercased())
        }
    }

    @Test("floating point and nested containers are refused (EventCoding.encode then falls back to Foundation)")
    func unsupported() throws {
        struct Measured: Codable { var ratio: Double }
        #expect(throws: PayloadEncoder.Unsupported.self) { try PayloadEncoder.encode(Measured(ratio: 0.5)) }
        struct Inherited: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(1, forKey: .a)
                var nested = container.nestedContainer(keyedBy: CodingKeys.self, forKey: .b)
                try nested.encode(2, forKey: .a)
            }
            enum CodingKeys: CodingKey { case a, b }
        }
        #expect(throws: PayloadEncoder.Unsupported.self) { try PayloadEncoder.encode(Inherited()) }
    }
}
