import Foundation

/// An ISO 4217 currency the system pays in, with its number of minor-unit digits.
public struct Currency: Hashable, Sendable, Codable, CustomStringConvertible {
    public let code: String
    public let minorDigits: Int

    /// The currencies the programmes use; others are refused rather than guessed.
    public static let known: [String: Int] = [
        "DKK": 2, "NOK": 2, "SEK": 2, "EUR": 2, "ISK": 0, "GBP": 2, "USD": 2, "CHF": 2, "PLN": 2,
    ]

    public static let dkk = Currency(uncheckedCode: "DKK")
    public static let nok = Currency(uncheckedCode: "NOK")
    public static let eur = Currency(uncheckedCode: "EUR")

    public init(code: String) throws(DomainError) {
        guard let digits = Self.known[code] else {
            throw .invalidInput(field: "currency", reason: "\(code.prefix(10)) is not a supported ISO 4217 currency (\(Self.known.keys.sorted().joined(separator: ", ")))")
        }
        self.code = code
        self.minorDigits = digits
    }

    private init(uncheckedCode code: String) {
        self.code = code
        self.minorDigits = Self.known[code]!
    }

    /// An unknown code fails as a `DecodingError` at the field's path, so
    /// callers can name the field.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do {
            try self.init(code: try container.decode(String.self))
        } catch let error as DomainError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }

    public var description: String { code }

    var minorPerMajor: Int64 {
        var factor: Int64 = 1
        for _ in 0..<minorDigits { factor *= 10 }
        return factor
    }
}

/// An exact amount: integer minor units (øre) and a currency. Arithmetic
/// refuses to mix currencies or to overflow. JSON form:
/// `{"amount": "125000.00", "currency": "DKK"}`.
public struct Money: Hashable, Sendable, Codable, CustomStringConvertible {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money { Money(minorUnits: 0, currency: currency) }

    /// Parses a decimal string such as "125000.00" or "-12.5" exactly: ASCII
    /// digits, an optional leading "-" and at most the currency's decimals.
    /// One pass over the bytes: every stored amount is parsed on every replay.
    public init(_ amount: String, _ currency: Currency, field: String = "amount") throws(DomainError) {
        var negative = false, sawPoint = false, wellFormed = true, overflowed = false
        var whole: Int64 = 0, wholeDigits = 0, fraction: Int64 = 0, fractionDigits = 0
        for (offset, byte) in amount.utf8.enumerated() {
            if offset == 0, byte == UInt8(ascii: "-") { negative = true; continue }
            if byte == UInt8(ascii: "."), !sawPoint { sawPoint = true; continue }
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { wellFormed = false; break }
            if sawPoint {
                fractionDigits += 1
                if fractionDigits <= currency.minorDigits { fraction = fraction * 10 + Int64(digit) }
            } else {
                wholeDigits += 1
                let (scaled, overflow1) = whole.multipliedReportingOverflow(by: 10)
                let (next, overflow2) = scaled.addingReportingOverflow(Int64(digit))
                overflowed = overflowed || overflow1 || overflow2
                whole = next
            }
        }
        guard wellFormed, wholeDigits > 0, !sawPoint || fractionDigits > 0 else {
            throw .invalidInput(field: field, reason: "\(amount.prefix(40).debugDescription) is not a decimal amount like \"125000.00\"")
        }
        guard fractionDigits <= currency.minorDigits else {
            throw .invalidInput(field: field, reason: "\(currency) has \(currency.minorDigits) decimals; \(amount.prefix(40)) has \(fractionDigits)")
        }
        for _ in fractionDigits..<currency.minorDigits { fraction *= 10 }
        let (scaled, overflow1) = whole.multipliedReportingOverflow(by: currency.minorPerMajor)
        let (total, overflow2) = scaled.addingReportingOverflow(fraction)
        guard !overflowed, !overflow1, !overflow2 else {
            throw .invalidInput(field: field, reason: "\(amount.prefix(40)) is too large")
        }
        self.minorUnits = negative ? -total : total
        self.currency = currency
    }

    /// The amount as a decimal string with the currency's number of decimals.
    public var amount: String { Self.decimal(Int128(minorUnits), currency) }

    /// `minorUnits` as a decimal string with `currency`'s number of decimals.
    static func decimal(_ minorUnits: Int128, _ currency: Currency) -> String {
        let factor = UInt128(currency.minorPerMajor)
        let magnitude = minorUnits.magnitude
        let major = magnitude / factor, minor = magnitude % factor
        let sign = minorUnits < 0 ? "-" : ""
        guard currency.minorDigits > 0 else { return "\(sign)\(major)" }
        let minorText = String(minor)
        return "\(sign)\(major).\(String(repeating: "0", count: currency.minorDigits - minorText.count))\(minorText)"
    }

    public var description: String { "\(amount) \(currency)" }

    public var isPositive: Bool { minorUnits > 0 }
    public var isNegative: Bool { minorUnits < 0 }

    enum CodingKeys: String, CodingKey { case amount, currency }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let currency = try container.decode(Currency.self, forKey: .currency)
        do {
            try self.init(try container.decode(String.self, forKey: .amount), currency)
        } catch let error as DomainError {
            throw DecodingError.dataCorruptedError(forKey: .amount, in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
    }

    // MARK: Arithmetic

    public static func + (lhs: Money, rhs: Money) throws(DomainError) -> Money {
        try lhs.combine(rhs) { $0.addingReportingOverflow($1) }
    }

    public static func - (lhs: Money, rhs: Money) throws(DomainError) -> Money {
        try lhs.combine(rhs) { $0.subtractingReportingOverflow($1) }
    }

    private func combine(_ other: Money, _ operation: (Int64, Int64) -> (partialValue: Int64, overflow: Bool)) throws(DomainError) -> Money {
        guard currency == other.currency else {
            throw .currencyMismatch(expected: currency, got: other.currency)
        }
        let (value, overflow) = operation(minorUnits, other.minorUnits)
        guard !overflow else { throw .amountOverflow }
        return Money(minorUnits: value, currency: currency)
    }

    /// Same-currency comparison; a mismatch is an error, never a conversion.
    public func compare(_ other: Money) throws(DomainError) -> Int64 {
        guard currency == other.currency else { throw .currencyMismatch(expected: currency, got: other.currency) }
        return minorUnits < other.minorUnits ? -1 : (minorUnits == other.minorUnits ? 0 : 1)
    }

    /// Splits this amount in proportion to `weights` (largest remainder), so
    /// the parts add up exactly. Zero weights get zero; all-zero weights put
    /// everything on the first part.
    public func split(by weights: [Int64]) -> [Money] {
        guard !weights.isEmpty else { return [] }
        // Negative weights count as zero. Summed in 128 bits, so each
        // weight is at most the total and every quotient fits.
        let positive = weights.map { UInt64(max($0, 0)) }
        let total = positive.reduce(UInt128(0)) { $0 + UInt128($1) }
        guard total > 0 else {
            return weights.indices.map { Money(minorUnits: $0 == 0 ? minorUnits : 0, currency: currency) }
        }
        var parts: [Int64] = [], remainders: [(index: Int, remainder: UInt128)] = []
        let sign: Int64 = minorUnits < 0 ? -1 : 1
        let magnitude = UInt128(minorUnits.magnitude)
        for (index, weight) in positive.enumerated() {
            let product = magnitude * UInt128(weight)
            parts.append(Int64(truncatingIfNeeded: product / total))
            remainders.append((index, product % total))
        }
        var left = Int64(truncatingIfNeeded: minorUnits.magnitude) &- parts.reduce(0, &+)
        for entry in remainders.sorted(by: { ($0.remainder, -$0.index) > ($1.remainder, -$1.index) }) where left > 0 {
            if positive[entry.index] > 0 { parts[entry.index] &+= 1; left -= 1 }
        }
        return parts.map { Money(minorUnits: sign &* $0, currency: currency) }
    }

    /// `percent` of this amount, rounded down to the minor unit.
    public func percent(_ percent: Int) -> Money {
        // Clamped to 0-100, so the quotient fits (a stored share outside it cannot trap).
        let product = minorUnits.magnitude.multipliedFullWidth(by: UInt64(min(max(percent, 0), 100)))
        let (quotient, _) = UInt64(100).dividingFullWidth(product)
        return Money(minorUnits: (minorUnits < 0 ? -1 : 1) &* Int64(truncatingIfNeeded: quotient), currency: currency)
    }
}

/// A sum or difference of amounts of one currency, which may pass what one
/// amount can hold: every draft of a call at the largest amount adds up past
/// 64 bits. Kept in 128 bits (more than any count of 64-bit amounts needs)
/// and written as ``Money`` is, `{"amount": "...", "currency": "DKK"}`.
public struct MoneyTotal: Hashable, Sendable, Encodable, CustomStringConvertible {
    public let minorUnits: Int128
    public let currency: Currency

    public init(minorUnits: Int128, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    public init(_ money: Money) { self.init(minorUnits: Int128(money.minorUnits), currency: money.currency) }

    /// The sum of `amounts` in minor units.
    public init(summing amounts: some Sequence<Int64>, currency: Currency) {
        self.init(minorUnits: amounts.reduce(Int128(0)) { $0 + Int128($1) }, currency: currency)
    }

    /// A sum PostgreSQL computed as `numeric` and printed as an integer; nil if it is not one.
    public init?(numericText text: String, currency: Currency) {
        guard let value = Int128(text) else { return nil }
        self.init(minorUnits: value, currency: currency)
    }

    public var amount: String { Money.decimal(minorUnits, currency) }
    public var description: String { "\(amount) \(currency)" }

    public static func - (lhs: MoneyTotal, rhs: MoneyTotal) -> MoneyTotal {
        MoneyTotal(minorUnits: lhs.minorUnits - rhs.minorUnits, currency: lhs.currency)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Money.CodingKeys.self)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
    }
}
