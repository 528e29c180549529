import Foundation
import GrantDomain
import Testing

@Suite("Invariant 6: money is exact")
struct MoneyTests {
    @Test("decimal strings parse to exact minor units and print back the same")
    func roundTrip() throws {
        #expect(try Money("125000.00", .dkk).minorUnits == 12_500_000)
        #expect(try Money("0.5", .dkk).amount == "0.50")
        #expect(try Money("-12.34", .nok).amount == "-12.34")
        #expect(try Money("7", .eur).amount == "7.00")
        #expect(try Money("1000", Currency(code: "ISK")).amount == "1000")
        let data = try JSONEncoder().encode(try Money("125000.00", .dkk))
        #expect(String(decoding: data, as: UTF8.self).contains(#""amount":"125000.00""#))
        #expect(try JSONDecoder().decode(Money.self, from: data) == (try Money("125000.00", .dkk)))
    }

    @Test("malformed, over-precise and absurd amounts are refused with the field named")
    func badAmounts() throws {
        for text in ["", "1,5", "1.", ".5", "12a", "1e6", "--1", " 1", "1.001", "١٢"] {
            #expect(throws: DomainError.self, "\(text)") { try Money(text, .dkk) }
        }
        #expect(throws: DomainError.invalidInput(field: "amount", reason: "99999999999999999999 is too large")) {
            try Money("99999999999999999999", .dkk)
        }
        #expect(throws: DomainError.invalidInput(field: "amount", reason: "92233720368547758.08 is too large")) {
            try Money("92233720368547758.08", .dkk)
        }
        #expect(try Money("92233720368547758.07", .dkk).minorUnits == .max)
    }

    @Test("a currency mismatch is an error, never a conversion")
    func currencyMismatch() throws {
        let dkk = try Money("100.00", .dkk), nok = try Money("100.00", .nok)
        #expect(throws: DomainError.currencyMismatch(expected: .dkk, got: .nok)) { try dkk + nok }
        #expect(throws: DomainError.currencyMismatch(expected: .dkk, got: .nok)) { try dkk.compare(nok) }
        #expect(throws: DomainError.self) { try Currency(code: "XXX") }
        #expect((try? JSONDecoder().decode(Money.self, from: Data(#"{"amount":"1.00","currency":"BTC"}"#.utf8))) == nil)
    }

    @Test("arithmetic does not overflow silently")
    func overflow() throws {
        let huge = Money(minorUnits: .max - 1, currency: .dkk)
        #expect(throws: DomainError.amountOverflow) { try huge + Money(minorUnits: 2, currency: .dkk) }
        #expect(throws: DomainError.amountOverflow) { try Money(minorUnits: .min, currency: .dkk) - Money(minorUnits: 1, currency: .dkk) }
    }

    @Test("splits add up exactly, whatever the weights")
    func split() throws {
        let amount = try Money("100.00", .dkk)
        #expect(amount.split(by: [1, 1, 1]).map(\.amount) == ["33.34", "33.33", "33.33"])
        #expect(amount.split(by: [40, 40, 20]).map(\.amount) == ["40.00", "40.00", "20.00"])
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let total = Money(minorUnits: Int64.random(in: -1_000_000_000...1_000_000_000, using: &generator), currency: .dkk)
            let weights = (0..<Int.random(in: 1...6)).map { _ in Int64.random(in: 0...1_000_000_000_000) }
            let parts = total.split(by: weights)
            #expect(parts.map(\.minorUnits).reduce(0, +) == total.minorUnits)
        }
    }
}
