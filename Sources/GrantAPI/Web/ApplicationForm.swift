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
            guard let canonical = language.parseAmount(text, currency: currency) else {
                errors.add(field, language.word("amountUnreadable", ["example": language.plainAmount(Money(minorUnits: 25_000_000, currency: currency))]))
                return nil
            }
            do { return try Money(canonical, currency, field: field) } catch {
                errors.add(field, language.refusal(error, content: nil, rules: nil).message)
                return nil
            }
        }
        let requestedMoney = requested.isEmpty ? Money.zero(currency) : amount(requested, field: "requested")
        var students: Int?
        if !studentsReached.isEmpty {
            if let number = language.parseCount(studentsReached) { students = number } else {
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

    /// The values of a page's error summary: each error, linked to its field.
    var summary: [String: Any] {
        ["errors": entries.map { ["field": Self.anchor($0.field), "message": $0.message] }, "hasErrors": !isEmpty]
    }

    /// The element a field's error links to: `budget[2].amount` is `budget-2-amount`.
    static func anchor(_ field: String) -> String {
        field.replacingOccurrences(of: "[", with: "-").replacingOccurrences(of: "].", with: "-").replacingOccurrences(of: "]", with: "")
    }
}

extension Language {
    /// A field's values as the field-text and field-area partials read them:
    /// its label and hint (`hintValues` filled in) in this language, what was
    /// typed, and its error, if any.
    func field(_ name: String, label: String, value: String, hint: String? = nil, hintValues: [String: String] = [:], error: String?) -> [String: Any] {
        var field: [String: Any] = ["name": name, "label": word(label), "value": value, "errorPrefix": word("errorPrefix"), "rows": "3"]
        var describedBy: [String] = []
        if let hint {
            field["hint"] = word(hint, hintValues)
            describedBy.append("\(name)-hint")
        }
        if let error {
            field["error"] = error
            describedBy.append("\(name)-error")
        }
        if !describedBy.isEmpty { field["describedBy"] = describedBy.joined(separator: " ") }
        return field
    }

    /// An amount as typed in this language, without the currency: `250.000,00`, `250,000.00`.
    func plainAmount(_ money: Money) -> String {
        let formatted = self.money(money)
        return formatted.replacingOccurrences(of: " kr.", with: "").replacingOccurrences(of: " \(money.currency.code)", with: "")
            .replacingOccurrences(of: "\(money.currency.code) ", with: "").replacingOccurrences(of: "−", with: "-")
    }

    /// An amount typed as people type them, as the domain reads amounts
    /// (`250000.50`), or nil. Strict, so that nothing is misread: digits in
    /// groups of three between this language's grouping marks (`.` in
    /// Danish, `,` in English; a space also), one decimal mark after them;
    /// the other mark only as a decimal with one or two digits after
    /// (`250000.50` typed in Danish). The currency may stand at either end,
    /// as its code or, for krone, `kr.`; another currency is refused.
    package func parseAmount(_ typed: String, currency: Currency = .dkk) -> String? {
        var text = typed.trimmingCharacters(in: .whitespaces)
        // "300.000,-": whole kroner, as Danes write them.
        if text.hasSuffix(",-") || text.hasSuffix(".-") { text.removeLast(2) }
        let names = [currency.code] + (["DKK", "NOK", "SEK"].contains(currency.code) ? ["kr.", "kr"] : [])
        for name in names {
            if text.hasSuffix(name) { text.removeLast(name.count); break }
            if text.hasPrefix(name) { text.removeFirst(name.count); break }
        }
        text = text.trimmingCharacters(in: .whitespaces)
        var negative = false
        if text.hasPrefix("-") || text.hasPrefix("−") {
            negative = true
            text.removeFirst()
        }
        let (decimalMark, groupMark): (Character, Character) = self == .da ? (",", ".") : (".", ",")
        guard !text.isEmpty, text.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == decimalMark || $0 == groupMark || $0 == " " }) else {
            return nil
        }
        var whole = text, fraction = ""
        let decimals = text.filter { $0 == decimalMark }.count
        if decimals == 1, let mark = text.firstIndex(of: decimalMark) {
            whole = String(text[..<mark])
            fraction = String(text[text.index(after: mark)...])
        } else if decimals == 0, !text.contains(" "), text.filter({ $0 == groupMark }).count == 1, let mark = text.firstIndex(of: groupMark),
                  (1...2).contains(text.distance(from: mark, to: text.endIndex) - 1) {
            // The other language's decimal mark: never a grouping mark with one or two digits after it.
            whole = String(text[..<mark])
            fraction = String(text[text.index(after: mark)...])
        } else if decimals > 1 {
            return nil
        }
        guard fraction.allSatisfy({ $0.isASCII && $0.isNumber }), decimals == 0 || !fraction.isEmpty else { return nil }
        let groups = whole.split(whereSeparator: { $0 == groupMark || $0 == " " }).map(String.init)
        let separators = whole.filter { $0 == groupMark || $0 == " " }.count
        guard !groups.isEmpty, groups.count == separators + 1, groups.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return nil }
        if groups.count > 1 {
            guard (1...3).contains(groups[0].count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
        }
        return (negative ? "-" : "") + groups.joined() + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// A whole number typed with or without grouping marks (`1.200`), or nil.
    func parseCount(_ typed: String) -> Int? {
        guard let read = parseAmount(typed), !read.contains("."), !read.hasPrefix("-") else { return nil }
        return Int(read)
    }
}
