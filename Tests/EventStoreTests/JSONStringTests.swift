import JSONText
import Testing

/// JSON's string escapes, as the payload decoder and the import both resolve them.
@Suite("JSON string escapes, resolved once")
struct JSONStringTests {
    static func unescaped(_ text: String) throws(JSONString.Invalid) -> String {
        var out: [UInt8] = []
        try JSONString.unescape(Array(text.utf8), into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("every escape JSON has, and letters beyond ASCII as written or escaped")
    func escapes() throws {
        #expect(try Self.unescaped(#"a\"b\\c\/d\be\ff\ng\rh\ti"#) == "a\"b\\c/d\u{8}e\u{c}f\ng\rh\ti")
        #expect(try Self.unescaped(#"Søren \u00f8 \u00F8"#) == "Søren ø ø")
        #expect(try Self.unescaped(#"\ud83d\ude80 🚀"#) == "🚀 🚀")
        #expect(try Self.unescaped("") == "")
    }

    @Test("half a surrogate pair, a cut-off or unknown escape and a raw control character are refused, each where it begins",
          arguments: [
            (#"ab\ud83d"#, JSONString.Invalid(#"a \u escape is half a surrogate pair"#, at: 8)),
            (#"\ud83dx"#, JSONString.Invalid(#"a \u escape is half a surrogate pair"#, at: 6)),
            (#"\ude80"#, JSONString.Invalid(#"a \u escape is half a surrogate pair"#, at: 2)),
            (#"\ud83d\u0041"#, JSONString.Invalid(#"a \u escape is half a surrogate pair"#, at: 8)),
            (#"\u12"#, JSONString.Invalid(#"a \u escape is cut short"#, at: 2)),
            (#"\u12g4"#, JSONString.Invalid(#"a \u escape has a non-hex digit"#, at: 4)),
            (#"x\q"#, JSONString.Invalid(#"unknown escape \q"#, at: 1)),
            ("x\\", JSONString.Invalid("a string ends in a backslash", at: 1)),
            ("tab\there", JSONString.Invalid("a control character in a string", at: 3)),
          ])
    func refusals(_ text: String, _ expected: JSONString.Invalid) {
        #expect(throws: expected) { try Self.unescaped(text) }
    }
}
