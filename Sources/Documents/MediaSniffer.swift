import Foundation

/// A file's kind read from its first bytes, never taken from what the
/// client says: a PDF starts `%PDF-`, an Office Open XML file is a ZIP whose
/// parts are named `word/`, `xl/` or `ppt/`, an OpenDocument file a ZIP
/// whose first entry `mimetype` holds its type, and text is UTF-8 without
/// NUL bytes (CSV when it is named so: both are text, the name only picks which).
public enum MediaSniffer {
    /// How many first bytes are read: enough for a ZIP's first entries' names.
    public static let headLength = 8192
    public static let unknown = "application/octet-stream"

    public static func mediaType(of head: [UInt8], fileName: String) -> String {
        if head.starts(with: Array("%PDF-".utf8)) { return "application/pdf" }
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return zipKind(head) }
        if isText(head) { return fileName.lowercased().hasSuffix(".csv") ? "text/csv" : "text/plain" }
        return unknown
    }

    private static func zipKind(_ head: [UInt8]) -> String {
        // OpenDocument: the first entry is `mimetype`, stored uncompressed, its bytes the type.
        let nameLength = head.count > 28 ? Int(head[26]) | Int(head[27]) << 8 : 0
        let extraLength = head.count > 30 ? Int(head[28]) | Int(head[29]) << 8 : 0
        if head.count >= 30 + nameLength, String(decoding: head[30..<30 + nameLength], as: UTF8.self) == "mimetype" {
            let start = 30 + nameLength + extraLength
            let compressedSize = Int(head[18]) | Int(head[19]) << 8 | Int(head[20]) << 16 | Int(head[21]) << 24
            if start + compressedSize <= head.count {
                let type = String(decoding: head[start..<start + compressedSize], as: UTF8.self)
                if type.hasPrefix("application/vnd.oasis.opendocument.") { return type }
            }
            return unknown
        }
        let text = String(decoding: head, as: UTF8.self)
        guard text.contains("[Content_Types].xml") else { return "application/zip" }
        if text.contains("word/") { return "application/vnd.openxmlformats-officedocument.wordprocessingml.document" }
        if text.contains("xl/") { return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" }
        if text.contains("ppt/") { return "application/vnd.openxmlformats-officedocument.presentationml.presentation" }
        return "application/zip"
    }

    /// UTF-8 (a sequence cut at the end of the head aside) with no NUL and no control bytes but tab, CR, LF and form feed.
    private static func isText(_ head: [UInt8]) -> Bool {
        guard !head.isEmpty, !head.contains(where: { $0 < 0x20 && ![0x09, 0x0A, 0x0C, 0x0D].contains($0) || $0 == 0x7F }) else { return false }
        var bytes = head[...]
        // Drop an incomplete sequence the head may end in.
        for back in 1...3 where bytes.count >= back {
            let byte = bytes[bytes.endIndex - back]
            if byte & 0xC0 == 0xC0 {
                let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
                if back < length { bytes = bytes.dropLast(back) }
                break
            }
            if byte & 0x80 == 0 { break }
        }
        return String(validating: bytes, as: UTF8.self) != nil
    }
}
