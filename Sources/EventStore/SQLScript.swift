import Foundation

/// Splits a SQL script into statements at top-level semicolons.
///
/// PostgresNIO speaks only the extended query protocol, which runs one
/// statement at a time. Semicolons inside quotes, quoted identifiers,
/// dollar-quoted bodies and comments do not split.
public enum SQLScript {
    public static func statements(_ script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var i = 0

        func flush() {
            let statement = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !statement.isEmpty && !isOnlyComments(statement) { statements.append(statement) }
            current = String.UnicodeScalarView()
        }
        func copy(until end: Int) {
            current.append(contentsOf: chars[i..<min(end, chars.count)])
            i = min(end, chars.count)
        }
        func index(of needle: [Unicode.Scalar], from start: Int) -> Int? {
            guard !needle.isEmpty, chars.count >= needle.count else { return nil }
            var j = start
            while j + needle.count <= chars.count {
                if Array(chars[j..<j + needle.count]) == needle { return j }
                j += 1
            }
            return nil
        }

        while i < chars.count {
            let c = chars[i]
            let next = i + 1 < chars.count ? chars[i + 1] : nil
            switch c {
            case ";":
                i += 1
                flush()
            case "'", "\"":
                var j = i + 1
                while j < chars.count {
                    if chars[j] == c {
                        if j + 1 < chars.count && chars[j + 1] == c { j += 2; continue }  // doubled quote
                        break
                    }
                    j += 1
                }
                copy(until: j + 1)
            case "-" where next == "-":
                copy(until: index(of: ["\n"], from: i) ?? chars.count)
            case "/" where next == "*":
                copy(until: (index(of: ["*", "/"], from: i + 2) ?? chars.count) + 2)
            case "$":
                // A dollar-quote tag: $$ or $name$, where name cannot start with a digit ($1 is a parameter).
                var j = i + 1
                while j < chars.count, chars[j] == "_" || chars[j].properties.isAlphabetic
                    || (j > i + 1 && ("0"..."9").contains(chars[j])) {
                    j += 1
                }
                if j < chars.count, chars[j] == "$" {
                    let tag = Array(chars[i...j])
                    let close = index(of: tag, from: j + 1) ?? chars.count
                    copy(until: close + tag.count)
                } else {
                    copy(until: i + 1)
                }
            default:
                copy(until: i + 1)
            }
        }
        flush()
        return statements
    }

    private static func isOnlyComments(_ statement: String) -> Bool {
        statement.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
    }
}
