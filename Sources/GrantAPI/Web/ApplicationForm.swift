import Foundation
import GrantDomain

/// An application's fields as typed into the form: text, kept as it is
/// until the domain accepts it, so nothing a user wrote is lost to an error.
struct ApplicationForm: Codable, Sendable, Equatable {
    struct Line: Codable, Sendable, Equatable {
        var category = "", period = "", amount = ""
        var isEmpty: Bool { category.isEmpty && period.isEmpty && amount.isEmpty }
    }

    var callId = ""
    var title = "", projectLeader = "", description = "", focusAreas = "", partners = ""
    var studentsReached = "", requested = "", expectedOutcomes = ""
    var budget: [Line] = []

    /// Empty lines offered below the filled ones.
    static let spareLines = 3

    init() {}

    init(_ form: FormFields) {
        callId = form.text("call")
        title = form.text("title")
        projectLeader = form.text("projectLeader")
        description = form.text("description")
        focusAreas = form.text("focusAreas")
        partners = form.text("partners")
        studentsReached = form.text("studentsReached")
        requested = form.text("requested")
        expectedOutcomes = form.text("expectedOutcomes")
        var index = 0
        while index < Limits.budgetLines + Self.spareLines, form["budget[\(index)].category"] != nil || form["budget[\(index)].amount"] != nil {
            let line = Line(category: form.text("budget[\(index)].category"), period: form.text("budget[\(index)].period"),
                            amount: form.text("budget[\(index)].amount"))
            if !line.isEmpty { budget.append(line) }
            index += 1
        }
    }

    init(_ content: ApplicationContent, callId: UUID, language: Language) {
        self.callId = callId.uuidString
        title = content.title
        projectLeader = content.projectLeader
        description = content.description
        focusAreas = content.focusAreas.joined(separator: "\n")
        partners = content.partners.joined(separator: "\n")
        studentsReached = content.studentsReached.map(String.init) ?? ""
        requested = language.plainAmount(content.requested)
        expectedOutcomes = content.expectedOutcomes
        budget = content.budget.map { Line(category: $0.category, period: $0.period, amount: language.plainAmount($0.amount)) }
    }

    /// The content the domain is asked to accept, or the fields that could
    /// not even be read (an amount that is not one, a count that is not a number).
    func content(organisation: String, currency: Currency, language: Language) -> Result<ApplicationContent, FieldErrors> {
        var errors = FieldErrors()
        func amount(_ text: String, field: String) -> Money? {
            guard let canonical = language.parseAmount(text) else {
                errors.add(field, language.word("amountUnreadable", ["example": language.plainAmount(Money(minorUnits: 25_000_000, currency: currency))]))
                return nil
            }
            do { return try Money(canonical, currency, field: field) } catch {
                errors.add(field, error.description)
                return nil
            }
        }
        let requestedMoney = requested.isEmpty ? Money.zero(currency) : amount(requested, field: "requested")
        var students: Int?
        if !studentsReached.isEmpty {
            if let number = Int(studentsReached.filter { !$0.isWhitespace && $0 != "." && $0 != "," }) { students = number } else {
                errors.add("studentsReached", language.word("numberUnreadable"))
            }
        }
        var budgetLines: [BudgetLine] = []
        for (index, line) in budget.enumerated() {
            if let money = amount(line.amount, field: "budget[\(index)].amount") {
                budgetLines.append(BudgetLine(category: line.category, period: line.period, amount: money))
            }
        }
        guard errors.isEmpty, let requestedMoney else { return .failure(errors) }
        func lines(_ text: String) -> [String] {
            text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return .success(ApplicationContent(organisation: organisation, projectLeader: projectLeader, partners: lines(partners), title: title,
                                           description: description, focusAreas: lines(focusAreas), requested: requestedMoney, budget: budgetLines,
                                           expectedOutcomes: expectedOutcomes, studentsReached: students))
    }
}

/// Errors to show next to fields, in the order of the form, each once.
struct FieldErrors: Error, Codable, Sendable, Equatable {
    struct Entry: Codable, Sendable, Equatable {
        /// The domain's name for the field: `requested`, `budget[2].amount`.
        var field: String
        var message: String
    }

    var entries: [Entry] = []
    /// The draft was taken; what was refused came after it (submitting).
    var draftSaved = false
    var isEmpty: Bool { entries.isEmpty }

    mutating func add(_ field: String, _ message: String) {
        guard !entries.contains(where: { $0.field == field }) else { return }
        entries.append(Entry(field: field, message: message))
    }

    subscript(_ field: String) -> String? { entries.first { $0.field == field }?.message }

    /// The element a field's error links to: `budget[2].amount` is `budget-2-amount`.
    static func anchor(_ field: String) -> String {
        field.replacingOccurrences(of: "[", with: "-").replacingOccurrences(of: "].", with: "-").replacingOccurrences(of: "]", with: "")
    }
}

extension Language {
    /// An amount as typed in this language, without the currency: `250.000,00`, `250,000.00`.
    func plainAmount(_ money: Money) -> String {
        let formatted = self.money(money)
        return formatted.replacingOccurrences(of: " kr.", with: "").replacingOccurrences(of: " \(money.currency.code)", with: "")
            .replacingOccurrences(of: "\(money.currency.code) ", with: "").replacingOccurrences(of: "−", with: "-")
    }

    /// An amount typed as people type them, as the domain reads amounts
    /// (`250000.50`): thousands marks dropped, the decimal mark a point. A
    /// mark followed by exactly three digits is a thousands mark unless it
    /// is this language's decimal mark; any other last mark is the decimal one.
    func parseAmount(_ text: String) -> String? {
        var text = text.trimmingCharacters(in: .whitespaces)
        for suffix in ["kr.", "kr", "DKK", "NOK", "EUR", "SEK"] where text.hasSuffix(suffix) || text.hasPrefix(suffix) {
            text = text.replacingOccurrences(of: suffix, with: "")
        }
        text = text.filter { !$0.isWhitespace && $0 != "'" }
        let negative = text.hasPrefix("-") || text.hasPrefix("−")
        if negative { text.removeFirst() }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == ",") }), text.first?.isNumber == true else { return nil }
        let decimalMark: Character = self == .da ? "," : "."
        var whole = text, fraction = ""
        if let last = text.lastIndex(where: { $0 == "." || $0 == "," }) {
            let after = text[text.index(after: last)...]
            if text[last] == decimalMark || after.count != 3 {
                whole = String(text[..<last])
                fraction = String(after)
            }
        }
        whole.removeAll { $0 == "." || $0 == "," }
        guard !whole.isEmpty, fraction.allSatisfy(\.isNumber) else { return nil }
        return (negative ? "-" : "") + whole + (fraction.isEmpty ? "" : "." + fraction)
    }
}
