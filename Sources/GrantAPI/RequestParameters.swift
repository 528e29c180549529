import Crypto
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Projections

extension Request {
    func uuidParameter(_ context: some RequestContext, _ name: String) throws -> UUID {
        let text = context.parameters.get(name) ?? ""
        guard let id = UUID(uuidString: text) else {
            throw Problem.badRequest(rule: "invalid-id", field: name, "\(name) must be a UUID, got \(text.prefix(40).debugDescription)")
        }
        return id
    }

    func uuidQuery(_ name: String) throws -> UUID? {
        guard let text = uri.queryParameters[Substring(name)] else { return nil }
        guard let id = UUID(uuidString: String(text)) else {
            throw Problem.badRequest(rule: "invalid-id", field: name, "\(name) must be a UUID")
        }
        return id
    }

    /// A text query parameter; PostgreSQL's text cannot hold NUL, so one is refused here, named.
    func textQuery(_ name: String) throws -> String? {
        guard let text = uri.queryParameters[Substring(name)].map(String.init) else { return nil }
        guard !text.utf8.contains(0) else {
            throw Problem.badRequest(rule: "nul-character", field: name, "\(name) must not contain the NUL character (%00)")
        }
        return text
    }

    /// A query parameter that must be one of `Value`'s raw values.
    func enumQuery<Value: RawRepresentable & CaseIterable>(_ name: String, _ type: Value.Type) throws -> Value? where Value.RawValue == String {
        guard let text = uri.queryParameters[Substring(name)] else { return nil }
        guard let value = Value(rawValue: String(text)) else {
            throw Problem.badRequest(rule: "invalid-value", field: name,
                                     "\(name) must be one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    func intQuery(_ name: String, default value: Int? = nil, range: ClosedRange<Int>) throws -> Int {
        guard let text = uri.queryParameters[Substring(name)] else {
            guard let value else { throw Problem.badRequest(rule: "missing-field", field: name, "\(name) is required") }
            return value
        }
        guard let number = Int(String(text)), range.contains(number) else {
            throw Problem.badRequest(rule: "invalid-value", field: name, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}

extension String {
    /// The string with zeros in front, up to `width` characters.
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
