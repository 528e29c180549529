import Foundation

/// The one authority on how large a value may be. Every decider checks its
/// commands against these, every read model's columns hold what they allow,
/// `openapi.yaml` states them (`maxLength`, `maxItems`, `maximum`), and the
/// largest event they allow encodes well under the store's 1 MiB (a test
/// builds one of each). Texts are counted in Unicode scalars, as JSON
/// Schema's `maxLength` counts them: a count of characters as people see
/// them would let one "character" of many combining marks grow without end.
public enum Limits {
    /// Largest amount a command may name: ten trillion major units.
    public static let amount: Int64 = 1_000_000_000_000_000

    // MARK: Texts
    /// A name, an organisation, a call's title, a payment reference.
    public static let name = 200
    /// An application's title.
    public static let title = 300
    /// A member's or a funding source's id.
    public static let identifier = 80
    /// A budget period's name ("2026", "2019-2021").
    public static let period = 40
    /// A description, the expected outcomes, a report's summary.
    public static let prose = 20_000
    /// A reason, a condition of a grant.
    public static let reason = 2_000
    /// An e-mail address (RFC 5321's longest path).
    public static let email = 254
    /// A document's file name (what file systems hold).
    public static let fileName = 255

    // MARK: Lists
    /// A steering group's members (and so a meeting's present and votes).
    public static let members = 50
    /// Organisations one member is affiliated with.
    public static let affiliations = 10
    /// A pool's budget periods, added ones included: with ``amount`` each,
    /// every sum over one pool stays far inside 64 bits.
    public static let periods = 100
    /// A pool's funding sources.
    public static let sources = 20
    /// Beneficiaries one source is earmarked for.
    public static let earmarks = 20
    /// Organisations a pool's eligibility rules name.
    public static let eligibleOrganisations = 200
    /// An application's partners.
    public static let partners = 100
    /// An application's focus areas.
    public static let focusAreas = 20
    /// An application's budget lines.
    public static let budgetLines = 200
    /// Applications on one meeting's agenda.
    public static let agenda = 10_000
    /// Conditions of one grant.
    public static let conditions = 50
    /// Tranches of one grant.
    public static let tranches = 20
    /// Roles one user holds at once.
    public static let roles = 20
    /// Documents attached to one application or one grant.
    public static let documents = 200

    // MARK: Sizes
    /// The largest document any deployment may take (1 GiB); each sets its
    /// own cap below it (GRANTLEDGER_DOCUMENT_LIMIT, 25 MB unless set).
    public static let documentBytes: Int64 = 1 << 30

    // MARK: Counts
    /// Students one application says it reaches.
    public static let studentsReached: ClosedRange<Int> = 0...100_000_000
}

/// A text that must be there: not blank, at most `maximum` scalars, on one
/// line (no control characters: a name is shown in lists, CSV and headers).
func requireLine(_ text: String, field: String, maximum: Int = Limits.name) throws(DomainError) {
    guard !text.unicodeScalars.allSatisfy(\.properties.isWhitespace) else { throw .invalidInput(field: field, reason: "must not be empty") }
    try requireLength(text, field: field, maximum: maximum)
    if let control = text.unicodeScalars.first(where: isControl) {
        throw .invalidInput(field: field, reason: "must be one line without control characters (found U+\(hex(control)))")
    }
}

/// Free text: at most `maximum` scalars; line breaks and tabs allowed, other
/// control characters not; blank only when not `required`.
func requireProse(_ text: String, field: String, maximum: Int, required: Bool) throws(DomainError) {
    if required, text.unicodeScalars.allSatisfy(\.properties.isWhitespace) { throw .invalidInput(field: field, reason: "must not be empty") }
    try requireLength(text, field: field, maximum: maximum)
    if let control = text.unicodeScalars.first(where: { isControl($0) && !["\n", "\r", "\t"].contains($0) }) {
        throw .invalidInput(field: field, reason: "must not contain control characters (found U+\(hex(control)))")
    }
}

/// A list of at most `maximum` (and at least `minimum`) items.
func requireCount<C: Collection>(_ items: C, field: String, minimum: Int = 0, maximum: Int, what: String = "items") throws(DomainError) {
    guard items.count >= minimum else { throw .invalidInput(field: field, reason: "needs at least \(minimum) \(what)") }
    guard items.count <= maximum else { throw .invalidInput(field: field, reason: "at most \(maximum) \(what), got \(items.count)") }
}

/// Each of `items` a line of at most `maximum`, each once.
func requireLines(_ items: [String], field: String, maximum: Int = Limits.name, count: Int, what: String) throws(DomainError) {
    try requireCount(items, field: field, maximum: count, what: what)
    var seen = Set<String>()
    for (index, item) in items.enumerated() {
        try requireLine(item, field: "\(field)[\(index)]", maximum: maximum)
        guard seen.insert(item).inserted else { throw .invalidInput(field: "\(field)[\(index)]", reason: "\(item) appears twice") }
    }
}

private func requireLength(_ text: String, field: String, maximum: Int) throws(DomainError) {
    // Scalars, not characters: see ``Limits``. Counting stops at the limit.
    var scalars = 0
    for _ in text.unicodeScalars {
        scalars += 1
        if scalars > maximum { throw .invalidInput(field: field, reason: "longer than \(maximum) characters") }
    }
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
}

private func hex(_ scalar: Unicode.Scalar) -> String {
    let digits = String(scalar.value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

extension Limits {
    /// The most one account of a pool can hold: every period's budget moved into one.
    public static let heldAmount: Int64 = amount * Int64(periods)

    /// The first value in `event` outside what any event the deciders write
    /// can hold, as a field path and a reason; nil when all are inside. An
    /// imported history is checked with it: the deciders never saw it, and a
    /// count past an integer column or amounts past 64 bits would stop a
    /// read model or wrap a sum.
    public static func outOfRange(_ event: any DomainEvent) -> (field: String, reason: String)? {
        func check(_ value: Any, _ path: String) -> (field: String, reason: String)? {
            switch value {
            case let money as Money:
                return money.minorUnits.magnitude <= heldAmount.magnitude ? nil
                    : (path, "\(money.amount) is beyond the \(Money(minorUnits: heldAmount, currency: money.currency).amount) one pool can hold")
            case let number as Int:
                return (0...Int(Int32.max)).contains(number) ? nil : (path, "\(number) is outside 0-\(Int32.max)")
            case let text as String:
                if text.utf8.contains(0) { return (path, "contains the NUL character") }
                return text.unicodeScalars.count <= prose ? nil : (path, "longer than \(prose) characters")
            case is UUID, is Date, is Bool, is Currency:
                return nil
            default:
                let mirror = Mirror(reflecting: value)
                if mirror.displayStyle == .optional { return mirror.children.first.flatMap { check($0.value, path) } }
                if mirror.displayStyle == .collection || mirror.displayStyle == .set || mirror.displayStyle == .dictionary {
                    guard mirror.children.count <= agenda else { return (path, "more than \(agenda) items") }
                    for (index, child) in mirror.children.enumerated() {
                        if let found = check(child.value, "\(path)[\(index)]") { return found }
                    }
                    return nil
                }
                for child in mirror.children {
                    let name = child.label.map { path.isEmpty ? $0 : "\(path).\($0)" } ?? path
                    if let found = check(child.value, name) { return found }
                }
                return nil
            }
        }
        return check(event, "")
    }
}
