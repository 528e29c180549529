import Foundation
import GrantDomain

/// RFC 4180 fields for the CSV the system writes (open data, exports).
public enum CSV {
    /// Quoted when needed; text a spreadsheet would run as a formula is prefixed with '.
    public static func field(_ text: String) -> String {
        var value = text
        if let first = value.first, "=+@\t".contains(first) || (first == "-" && !(value.dropFirst().first?.isNumber ?? false)) {
            value = "'" + value
        }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// The instant an as-of question names.
public enum AsOfInstant {
    /// An RFC 3339 time (fractional seconds allowed), or a date meaning the
    /// end of that day (UTC); refused as ``CivilTime`` refuses, with the reason.
    public static func parse(_ text: String) -> Result<Date, CivilTime.Invalid> {
        CivilTime.parse(text).map { $0.isDay ? $0.date.addingTimeInterval(86_400 - 0.001) : $0.date }
    }
}
