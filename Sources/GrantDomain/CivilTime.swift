import CivilCalendar
import Foundation

/// The one reading of a time the system accepts, from a request, a query,
/// an imported file or a stored event: RFC 3339 (`2026-03-04T10:11:12.345Z`,
/// `2026-03-04T11:11:12+01:00`) or a bare day (`2026-03-04`), strictly: a
/// day that is not in its month (`2024-02-30`), `T24:00:00`, a leap second
/// or a year outside 1900-9999 is refused, never rolled over. The range
/// keeps every time inside what PostgreSQL's driver converts (it traps past
/// about year 294,276) and what people mean.
public enum CivilTime {
    public static let years: ClosedRange<Int64> = 1900...9999

    /// A time read from text, and whether the text named a whole day.
    public struct Parsed: Hashable, Sendable {
        public var date: Date
        public var isDay: Bool
    }

    /// Why a text is not a time, in words a client can act on.
    public struct Invalid: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public static func parse(_ text: String) -> Result<Parsed, Invalid> {
        var text = text
        return text.withUTF8 { parse($0[...]) }
    }

    /// Parses `bytes` in place: stored events' times are read this way on every replay.
    public static func parse(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Result<Parsed, Invalid> {
        let shown = String(decoding: bytes.prefix(40), as: UTF8.self).debugDescription
        func invalid(_ why: String) -> Result<Parsed, Invalid> { .failure(Invalid(reason: "\(shown) \(why)")) }
        let start = bytes.startIndex, count = bytes.count
        func digits(_ from: Int, _ length: Int) -> Int64? {
            guard from + length <= count else { return nil }
            var value: Int64 = 0
            for offset in from..<(from + length) {
                let digit = bytes[start + offset] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
            }
            return value
        }
        func at(_ offset: Int, _ characters: Unicode.Scalar...) -> Bool {
            offset < count && characters.contains { bytes[start + offset] == UInt8(ascii: $0) }
        }
        let form = "is not a date (2026-03-04) or an RFC 3339 time (2026-03-04T10:00:00Z)"
        guard count >= 10, at(4, "-"), at(7, "-"), let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2) else {
            return invalid(form)
        }
        guard years.contains(year) else { return invalid("is outside the years \(years.lowerBound)-\(years.upperBound)") }
        guard (1...12).contains(month) else { return invalid("has no month \(month)") }
        let monthDays = daysIn(month: month, year: year)
        guard day >= 1, day <= monthDays else { return invalid("has no day \(day): month \(month) of \(year) has \(monthDays) days") }
        let days = CivilDays.days(year: year, month: month, day: day)
        guard count > 10 else { return .success(Parsed(date: date(seconds: days * 86_400, fraction: 0, digits: 0), isDay: true)) }

        guard at(10, "T", "t"), at(13, ":"), at(16, ":"), let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2) else {
            return invalid(form)
        }
        guard hour < 24 else { return invalid("has hour \(hour): hours run 00-23") }
        guard minute < 60, second < 60 else { return invalid("has minute or second over 59") }
        var offset = 19
        var fraction: Int64 = 0, fractionDigits = 0
        if at(offset, ".") {
            offset += 1
            while offset < count, let digit = digits(offset, 1) {
                guard fractionDigits < 9 else { return invalid("has more than 9 fractional digits") }
                fraction = fraction * 10 + digit
                fractionDigits += 1
                offset += 1
            }
            guard fractionDigits > 0 else { return invalid(form) }
        }
        var zoneSeconds: Int64 = 0
        if at(offset, "Z", "z"), offset + 1 == count {
            offset += 1
        } else if at(offset, "+", "-"), offset + 6 == count, at(offset + 3, ":"),
                  let zoneHour = digits(offset + 1, 2), let zoneMinute = digits(offset + 4, 2) {
            guard zoneHour < 24, zoneMinute < 60 else { return invalid("has an offset out of range") }
            zoneSeconds = (zoneHour * 3_600 + zoneMinute * 60) * (at(offset, "-") ? -1 : 1)
        } else {
            return invalid("needs a time zone: Z or an offset such as +01:00")
        }
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - zoneSeconds
        guard seconds >= earliest, seconds < latest else { return invalid("is outside the years \(years.lowerBound)-\(years.upperBound) in UTC") }
        return .success(Parsed(date: date(seconds: seconds, fraction: fraction, digits: fractionDigits), isDay: false))
    }

    /// Seconds since 1970 of the first and just past the last instant accepted.
    static let earliest = CivilDays.days(year: years.lowerBound, month: 1, day: 1) * 86_400
    static let latest = CivilDays.days(year: years.upperBound + 1, month: 1, day: 1) * 86_400

    /// Whole seconds since 2001 plus the fraction in `Double`, as Foundation's
    /// own parser computes it, so a stored time decodes to the same bits.
    private static func date(seconds: Int64, fraction: Int64, digits: Int) -> Date {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        return Date(timeIntervalSinceReferenceDate: Double(seconds - 978_307_200) + Double(fraction) / scale)
    }

    /// True when `date` lies in the accepted years: what a time computed
    /// from accepted ones (a day's end, an offset) must still satisfy.
    public static func contains(_ date: Date) -> Bool {
        let seconds = date.timeIntervalSince1970
        return seconds >= Double(earliest) && seconds < Double(latest)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// RFC 3339 in UTC to the nearest millisecond, `2026-03-04T10:11:12.345Z`.
    public static func format(_ date: Date) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        write(date, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// ``format(_:)`` into a buffer, for the years 0-9999 (Foundation's
    /// formatter for others, which no accepted input reaches).
    package static func write(_ date: Date, into out: inout [UInt8]) {
        // Rounded from the reference date, as times have always been written here.
        let milliseconds = (date.timeIntervalSinceReferenceDate * 1000).rounded() + 978_307_200_000
        guard milliseconds >= -62_167_219_200_000, milliseconds < 253_402_300_800_000 else {
            out += Array(date.formatted(.iso8601).utf8)
            return
        }
        let total = Int64(milliseconds)
        let days = total >= 0 ? total / 86_400_000 : (total - 86_399_999) / 86_400_000
        let ofDay = total - days * 86_400_000
        let (year, month, day) = CivilDays.date(days)
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(year, 4); out.append(UInt8(ascii: "-")); digits(month, 2); out.append(UInt8(ascii: "-")); digits(day, 2)
        out.append(UInt8(ascii: "T"))
        digits(ofDay / 3_600_000, 2); out.append(UInt8(ascii: ":")); digits(ofDay / 60_000 % 60, 2); out.append(UInt8(ascii: ":"))
        digits(ofDay / 1000 % 60, 2); out.append(UInt8(ascii: ".")); digits(ofDay % 1000, 3)
        out.append(UInt8(ascii: "Z"))
    }

    /// The start of the UTC day holding `date`.
    public static func startOfDay(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
    }
}
