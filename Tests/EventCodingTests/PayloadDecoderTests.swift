import EventCoding
import Foundation
import GrantDomain
import Programmes
import Testing
import TestSupport

/// The payload decoder stands in for Foundation's `JSONDecoder` on stored
/// events, so each test holds it against Foundation on the same text.
@Suite("Stored payloads decode as Foundation decodes them")
struct PayloadDecoderTests {
    static let foundation = FoundationDecoding.decoder

    static func both<T: Decodable>(_ type: T.Type, _ json: String) -> (fast: Result<T, any Error>, foundation: Result<T, any Error>) {
        (Result { try PayloadDecoder.decode(T.self, from: json) },
         Result { try foundation.decode(T.self, from: Data(json.utf8)) })
    }

    struct Everything: Codable, Hashable {
        enum Kind: String, Codable { case first, second }
        struct Line: Codable, Hashable { var label: String; var amount: Money }
        var text: String
        var count: Int
        var small: Int8
        var big: UInt64
        var ratio: Double
        var flag: Bool
        var kind: Kind
        var missing: String?
        var null: Int?
        var present: UUID?
        var lines: [Line]
        var matrix: [[Int]]
        var counts: [String: Int]
        var byId: [UUID: String]
        var when: Date
    }

    @Test("every kind of field, in jsonb's layout and in the encoder's, with escapes")
    func everyKindOfField() throws {
        let jsonb = #"""
        {"big": 18446744073709551615, "flag": true, "kind": "second", "null": null, "text": "quote \" back \\ slash \/ tab \t nl \n ctl \u0001 æøå 🚀 \u2028 \ud83d\ude80", "byId": ["6f9619ff-8b86-d011-b42d-00c04fc964ff", "x"], "count": -42, "lines": [{"label": "a", "amount": {"amount": "12.50", "currency": "DKK"}}, {"label": "", "amount": {"amount": "-0.01", "currency": "EUR"}}], "small": -128, "ratio": 0.1, "counts": {"2024": 3, "æ": 0}, "matrix": [[], [1], [2, 3]], "present": "6F9619FF-8B86-D011-B42D-00C04FC964FF", "when": "2024-02-29T23:59:59.125Z"}
        """#
        let (fast, foundation) = Self.both(Everything.self, jsonb)
        let decoded = try fast.get()
        #expect(decoded == (try foundation.get()))
        #expect(decoded.text.hasPrefix("quote \" back \\ slash / tab \t") && decoded.text.contains("\u{1}") && decoded.text.hasSuffix("\u{2028} 🚀"))
        #expect(decoded.missing == nil && decoded.null == nil)

        // Foundation prints a parsed .999 as .998 (it truncates), so the
        // encoder's round trip is shown with a time it prints back unchanged.
        let compact = String(decoding: try JSONEncoder.sortedWithDates.encode(decoded), as: UTF8.self)
        let again = Self.both(Everything.self, compact)
        #expect(try again.fast.get() == decoded)
        #expect(try again.foundation.get() == decoded)
    }

    @Test("times as the event encoder writes them are Foundation's to the bit, 1971-2100")
    func timesAgreeBitForBit() throws {
        var random = SeededRandom(seed: 7)
        let style = Date.ISO8601FormatStyle.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        for _ in 0..<20_000 {
            let milliseconds = Int64.random(in: 31_536_000_000...4_102_444_799_999, using: &random)
            let text = Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(style)
            let fast = try PayloadDecoder.decode(Date.self, from: "\"\(text)\"")
            let foundation = try Date(text, strategy: style)
            #expect(fast.timeIntervalSinceReferenceDate.bitPattern == foundation.timeIntervalSinceReferenceDate.bitPattern, "\(text)")
        }
    }

    @Test("a stored time prints back as it was stored, where Foundation's formatter drops a millisecond")
    func timesRoundTrip() throws {
        var random = SeededRandom(seed: 11)
        let style = Date.ISO8601FormatStyle.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        var foundationSlips = 0
        for _ in 0..<20_000 {
            let milliseconds = Int64.random(in: 31_536_000_000...4_102_444_799_999, using: &random)
            let text = EventCoding.formatTime(Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            let parsed = try PayloadDecoder.decode(Date.self, from: "\"\(text)\"")
            #expect(EventCoding.formatTime(parsed) == text)
            #expect(abs(parsed.timeIntervalSince1970 * 1000 - Double(milliseconds)) < 0.001, "\(text)")
            if parsed.formatted(style) != text { foundationSlips += 1 }
        }
        #expect(foundationSlips > 0, "Foundation's formatter no longer truncates: formatTime's nudge can go")
    }

    @Test("other time forms read as CivilTime reads them; a day that does not exist is refused, never rolled over")
    func oddTimes() throws {
        let accepted: [(String, TimeInterval)] = [
            ("2024-06-01T12:00:00Z", 1_717_243_200), ("2024-06-01T14:00:00.250+02:00", 1_717_243_200.25),
            ("2024-06-01T10:00:00.25-02:00", 1_717_243_200.25), ("2001-01-01T00:00:00.500Z", 978_307_200.5),
            ("2024-02-29T00:00:00.000Z", 1_709_164_800), ("2024-06-01", 1_717_200_000), ("1900-01-01T00:00:00Z", -2_208_988_800),
            ("9999-12-31T23:59:59.999Z", 253_402_300_799.999), ("2024-06-01t12:00:00z", 1_717_243_200),
        ]
        for (text, seconds) in accepted {
            let date = try PayloadDecoder.decode(Date.self, from: "\"\(text)\"")
            #expect(abs(date.timeIntervalSince1970 - seconds) < 0.0005, "\(text)")
        }
        for text in ["2024-02-30T00:00:00.000Z", "2023-02-29T00:00:00.000Z", "2026-04-31", "2024-06-01T24:00:00.000Z", "2024-06-01T23:59:60.000Z",
                     "2024-13-01T00:00:00.000Z", "2024-00-10", "2024-06-00", "2024-06-01 12:00:00.000Z", "2024-06-01T12:00:00.0000000000Z",
                     "+024-06-01T12:00:00.000Z", "0000-01-01", "1899-12-31T23:59:59Z", "1900-01-01T00:30:00+01:00", "10000-01-01",
                     "300000-01-01T00:00:00Z", "2024-06-01T12:00:00", "2024-06-01T12:00:00+0200", "2024-06-01T12:00Z", "2024-06-01T12:00:00.Z",
                     "2024-6-1", "not a time", ""] {
            #expect(throws: DecodingError.self, "\(text)") { try PayloadDecoder.decode(Date.self, from: "\"\(text)\"") }
            guard case .failure(let invalid) = CivilTime.parse(text) else { Issue.record("\(text) parsed"); continue }
            #expect(!invalid.reason.isEmpty)
        }
    }

    @Test("every millisecond CivilTime writes, 1900-9999, reads back to the same text")
    func civilTimesRoundTrip() throws {
        var random = SeededRandom(seed: 5)
        for _ in 0..<20_000 {
            let milliseconds = Int64.random(in: -2_208_988_800_000...253_402_300_799_999, using: &random)
            let text = CivilTime.format(Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            let parsed = try CivilTime.parse(text).get()
            #expect(!parsed.isDay && CivilTime.format(parsed.date) == text, "\(text)")
            // Double holds a time near 9999 to about 0.03 ms.
            #expect(abs(parsed.date.timeIntervalSince1970 * 1000 - Double(milliseconds)) < 0.1, "\(text)")
        }
    }

    @Test("UUIDs in any case agree with Foundation; malformed ones are refused")
    func uuids() {
        for text in ["6f9619ff-8b86-d011-b42d-00c04fc964ff", "6F9619FF-8B86-D011-B42D-00C04FC964FF", "6f9619FF-8b86-D011-b42d-00C04FC964FF",
                     "00000000-0000-0000-0000-000000000000", "6f9619ff-8b86-d011-b42d-00c04fc964fg", "6f9619ff8-b86-d011-b42d-00c04fc964ff",
                     "6f9619ff-8b86-d011-b42d-00c04fc964f", "{6f9619ff-8b86-d011-b42d-00c04fc964ff}", ""] {
            let (fast, foundation) = Self.both(UUID.self, "\"\(text)\"")
            switch (fast, foundation) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(text)")
            case (.failure, .failure): break
            default: Issue.record("\(text): fast \(fast), Foundation \(foundation)")
            }
        }
    }

    struct Small: Codable { var id: UUID; var amount: Money; var items: [Int] }

    @Test("a missing key, a wrong type and a null are the same DecodingError, at the same path")
    func errorsNameTheField() {
        let cases = [
            #"{"amount": {"amount": "1.00", "currency": "DKK"}, "items": []}"#,
            #"{"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "amount": {"amount": "1.00", "currency": "DKK"}, "items": [1, "2"]}"#,
            #"{"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "amount": {"amount": 1, "currency": "DKK"}, "items": []}"#,
            #"{"id": null, "amount": {"amount": "1.00", "currency": "DKK"}, "items": []}"#,
            #"{"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "amount": {"amount": "1.00", "currency": "XXX"}, "items": []}"#,
        ]
        for json in cases {
            let (fast, foundation) = Self.both(Small.self, json)
            guard case .failure(let fastError as DecodingError) = fast, case .failure(let foundationError as DecodingError) = foundation else {
                Issue.record("\(json): fast \(fast), Foundation \(foundation)")
                continue
            }
            #expect(Self.kind(fastError) == Self.kind(foundationError), "\(json)")
            #expect(Self.path(fastError) == Self.path(foundationError), "\(json)")
        }
    }

    /// Decoded as an event: through its reader, or through Codable where the reader gives up.
    static func asEvent(_ json: String) -> (fast: Result<GrantReduced, any Error>, foundation: Result<GrantReduced, any Error>) {
        (Result { try PayloadDecoder.decode(GrantReduced.self, from: json) },
         Result { try foundation.decode(GrantReduced.self, from: Data(json.utf8)) })
    }

    @Test("an event its reader cannot read is decoded through Codable: the same value, or the same error at the same path")
    func readersHandOddTextToCodable() throws {
        func event(tranche number: String = "1", key: String = "reason", trigger: String = #""signing""#, amount: String = #"{"amount": "10.00", "currency": "DKK"}"#) -> String {
            #"{"\#(key)": "late", "reduction": {"amount": "5.00", "currency": "DKK"}, "newAmount": {"amount": "10.00", "currency": "DKK"}, "tranches": [{"number": \#(number), "amount": \#(amount), "trigger": \#(trigger)}], "occurredAt": "2024-06-01T12:00:00.000Z"}"#
        }
        let plain = event()
        #expect(PayloadDecoder.readDirectly(GrantReduced.self, from: plain) == (try PayloadDecoder.decode(GrantReduced.self, from: plain)))
        #expect(try Self.asEvent(plain).foundation.get() == Self.asEvent(plain).fast.get())

        // An integer written with a fraction reads as Foundation reads it.
        let fraction = event(tranche: "1.0")
        #expect(PayloadDecoder.readDirectly(GrantReduced.self, from: fraction) == (try Self.asEvent(fraction).foundation.get()))
        // An escaped key: the reader gives up, Codable reads it.
        for odd in [event(key: #"re\u0061son"#)] {
            #expect(PayloadDecoder.readDirectly(GrantReduced.self, from: odd) == nil, "\(odd)")
            let (fast, foundation) = Self.asEvent(odd)
            #expect(try fast.get() == foundation.get(), "\(odd)")
        }
        // A missing key, an unknown trigger, a number for an amount, an element of the wrong kind: Foundation's error.
        for broken in [event(key: "cause"), event(trigger: #""later""#), event(amount: "10"), event(trigger: "null"),
                       plain.replacingOccurrences(of: #""tranches": [{"#, with: #""tranches": [7, {"#)] {
            #expect(PayloadDecoder.readDirectly(GrantReduced.self, from: broken) == nil, "\(broken)")
            let (fast, foundation) = Self.asEvent(broken)
            guard case .failure(let fastError as DecodingError) = fast, case .failure(let foundationError as DecodingError) = foundation else {
                Issue.record("\(broken): fast \(fast), Foundation \(foundation)")
                continue
            }
            #expect(Self.kind(fastError) == Self.kind(foundationError) && Self.path(fastError) == Self.path(foundationError),
                    "\(broken): fast \(fastError), Foundation \(foundationError)")
        }
    }

    @Test("amounts read in place agree with Foundation, odd and broken ones included")
    func amounts() {
        let cases = [
            #"{"amount": "12.50", "currency": "DKK"}"#, #"{"currency": "ISK", "amount": "-7"}"#, #"{"amount": "0.5", "currency": "EUR"}"#,
            #"{"amount": "1\u002e00", "currency": "DKK"}"#, #"{"amount": "1.00", "curr\u0065ncy": "DKK"}"#,
            #"{"amount": "1.00", "currency": "DKK", "note": "x"}"#, #"{"amount": "1.00", "amount": "2.00", "currency": "DKK"}"#,
            #"{"amount": "1.00", "note": "DKK"}"#, #"{"amount": "1.001", "currency": "DKK"}"#, #"{"amount": "1.00", "currency": "XXX"}"#,
            #"{"amount": 1, "currency": "DKK"}"#, #"{"amount": "1.00", "currency": null}"#, #"{"amount": "99999999999999999999", "currency": "DKK"}"#,
            #"["1.00", "DKK"]"#, #""1.00 DKK""#,
        ]
        for json in cases {
            let (fast, foundation) = Self.both(Money.self, json)
            switch (fast, foundation) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(json)")
            case (.failure(let a as DecodingError), .failure(let b as DecodingError)):
                #expect(Self.kind(a) == Self.kind(b) && Self.path(a) == Self.path(b), "\(json): fast \(a), Foundation \(b)")
            default: Issue.record("\(json): fast \(fast), Foundation \(foundation)")
            }
        }
    }

    @Test("a number too large for its field is refused, naming the field (Foundation names none)")
    func numberTooLarge() throws {
        let json = #"{"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "amount": {"amount": "1.00", "currency": "DKK"}, "items": [99999999999999999999]}"#
        let (fast, foundation) = Self.both(Small.self, json)
        guard case .failure(let fastError as DecodingError) = fast, case .failure(let foundationError as DecodingError) = foundation else {
            Issue.record("fast \(fast), Foundation \(foundation)")
            return
        }
        #expect(Self.kind(fastError) == "dataCorrupted" && Self.kind(foundationError) == "dataCorrupted")
        #expect(Self.path(fastError) == ["items", "0"])
    }

    @Test("malformed text is refused without a crash")
    func malformed() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        for json in ["", "{", #"{"id": }"#, #"{"id" "x"}"#, #"{"id": "x",}"#, #"{"id": "x"} trailing"#, #"{"id": "unclosed}"#,
                     #"{"id": "bad \q escape"}"#, #"{"id": "cut \u12"}"#, #"{"id": "half \ud83d pair"}"#, "[1, 2", "tru", "nul", deep] {
            #expect(throws: DecodingError.self, "\(json.prefix(40))") { try PayloadDecoder.decode([String: String].self, from: json) }
        }
    }

    static func kind(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound: "keyNotFound"
        case .typeMismatch: "typeMismatch"
        case .valueNotFound: "valueNotFound"
        case .dataCorrupted: "dataCorrupted"
        @unknown default: "unknown"
        }
    }

    static func path(_ error: DecodingError) -> [String] {
        let context: DecodingError.Context
        switch error {
        case .keyNotFound(let key, let c): return c.codingPath.map(\.stringValue) + [key.stringValue]
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): context = c
        @unknown default: return []
        }
        return context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
    }
}

extension JSONEncoder {
    static var sortedWithDates: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)))
        }
        return encoder
    }
}
