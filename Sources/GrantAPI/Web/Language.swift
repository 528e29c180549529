import Foundation
import GrantDomain
import HTTPTypes
import Hummingbird

/// The languages the pages speak: Danish first (the programmes are
/// Danish), English for everyone else.
package enum Language: String, CaseIterable, Sendable {
    case da, en

    static let cookie = "grantledger_language"

    /// The reader's choice (the switch's cookie), else the first of
    /// `Accept-Language` we speak (q-values honoured), else Danish.
    init(_ request: Request) {
        if let chosen = request.cookies[Self.cookie].flatMap({ Language(rawValue: $0.value) }) {
            self = chosen
            return
        }
        let ranges = (request.headers[.acceptLanguage] ?? "").split(separator: ",").compactMap { part -> (String, Double)? in
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = pieces.first?.lowercased(), !tag.isEmpty else { return nil }
            let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (tag, quality)
        }
        for (tag, _) in ranges.filter({ $0.1 > 0 }).sorted(by: { $0.1 > $1.1 }) {
            let primary = String(tag.prefix { $0 != "-" })
            // Norwegian and Swedish readers read Danish more easily than English.
            if ["da", "nb", "nn", "no"].contains(primary) { self = .da; return }
            if primary == "en" { self = .en; return }
        }
        self = .da
    }

    /// A change in money, with its sign: `+1.000,00 kr.`, `−500,00 kr.`.
    func signedMoney(_ money: Money) -> String { money.minorUnits > 0 ? "+" + self.money(money) : self.money(money) }

    /// An amount as the language writes it: `1.234.567,00 kr.` and
    /// `DKK 1,234,567.00`; other currencies by code (`1.234.567,00 NOK`).
    package func money(_ money: Money) -> String {
        let decimal = money.amount
        let negative = decimal.hasPrefix("-")
        let digits = negative ? String(decimal.dropFirst()) : decimal
        let parts = digits.split(separator: ".", maxSplits: 1)
        let whole = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        let number = (negative ? "−" : "") + grouped(whole) + (fraction.isEmpty ? "" : (self == .da ? "," : ".") + fraction)
        let code = money.currency.description
        switch self {
        case .da: return code == "DKK" ? "\(number) kr." : "\(number) \(code)"
        case .en: return "\(code) \(number)"
        }
    }

    /// A count as the language writes it: `1.146.533`, `1,146,533`.
    package func count(_ count: Int64) -> String {
        count < 0 ? "−" + grouped(String(count.magnitude)) : grouped(String(count))
    }

    /// Digits in groups of three: `1.234.567`, `1,234,567`.
    private func grouped(_ digits: String) -> String {
        var grouped = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(self == .da ? "." : ",") }
            grouped.append(character)
        }
        return grouped
    }

    /// A day as the language writes it: `6. december 2026`, `6 December 2026`.
    package func day(_ date: Date) -> String {
        let parts = Calendar.copenhagen.dateComponents([.year, .month, .day], from: date)
        let month = months[(parts.month ?? 1) - 1]
        switch self {
        case .da: return "\(parts.day ?? 1). \(month) \(parts.year ?? 0)"
        case .en: return "\(parts.day ?? 1) \(month) \(parts.year ?? 0)"
        }
    }

    /// A moment: the day and the time in Copenhagen (`6. december 2026 kl. 14.30`, `6 December 2026, 14:30`).
    func moment(_ date: Date) -> String {
        let parts = Calendar.copenhagen.dateComponents([.hour, .minute], from: date)
        let hour = String(parts.hour ?? 0).leftPadded(to: 2), minute = String(parts.minute ?? 0).leftPadded(to: 2)
        switch self {
        case .da: return "\(day(date)) kl. \(hour).\(minute)"
        case .en: return "\(day(date)), \(hour):\(minute)"
        }
    }

    private var months: [String] {
        switch self {
        case .da: ["januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september", "oktober", "november", "december"]
        case .en: ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        }
    }

    /// The page's words in this language.
    var words: [String: String] { Words.table[self] ?? [:] }
}

extension Calendar {
    /// Programmes run on Danish time; pages show it whatever the server's zone.
    package static let copenhagen: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Copenhagen") ?? .gmt
        return calendar
    }()
}
