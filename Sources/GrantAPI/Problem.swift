import Accounts
import Audit
import EventCoding
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Hummingbird
import JWTKit
import Logging
import NIOCore

/// An RFC 9457 problem: every error the API answers is one of these, as
/// `application/problem+json`. `type` is stable per rule; the extension
/// members name the field or rule and carry the figures.
public struct Problem: Error, Sendable {
    public var status: HTTPResponse.Status
    public var rule: String
    public var title: String
    public var detail: String
    public var field: String?
    public var figures: [(String, ProblemValue)]

    public init(_ status: HTTPResponse.Status, rule: String, title: String, detail: String, field: String? = nil,
                figures: [(String, ProblemValue)] = []) {
        self.status = status
        self.rule = rule
        self.title = title
        self.detail = detail
        self.field = field
        self.figures = figures
    }

    public static let typePrefix = "urn:grantledger:problem:"

    static func unauthorized(_ detail: String) -> Problem {
        Problem(.unauthorized, rule: "unauthenticated", title: "A valid bearer token is required", detail: detail)
    }

    static func forbidden(_ detail: String) -> Problem {
        Problem(.forbidden, rule: "forbidden", title: "Your role may not do this", detail: detail)
    }

    static func notFound(_ kind: String, _ id: String) -> Problem {
        Problem(.notFound, rule: "not-found", title: "No such \(kind)", detail: "\(kind) \(id) not found", figures: [("id", .string(id))])
    }

    static func badRequest(rule: String, field: String?, _ detail: String) -> Problem {
        Problem(.badRequest, rule: rule, title: "The request is malformed", detail: detail, field: field)
    }
}

/// A figure in a problem: text, a count or an amount.
public enum ProblemValue: Sendable, Encodable {
    case string(String)
    case int(Int64)
    case money(Money)
    case strings([String])

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .string(let text): try text.encode(to: encoder)
        case .int(let number): try number.encode(to: encoder)
        case .money(let money): try money.encode(to: encoder)
        case .strings(let list): try list.encode(to: encoder)
        }
    }
}

extension Problem: Encodable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(Self.typePrefix + rule, forKey: Key("type"))
        try container.encode(title, forKey: Key("title"))
        try container.encode(Int(status.code), forKey: Key("status"))
        try container.encode(detail, forKey: Key("detail"))
        try container.encode(rule, forKey: Key("rule"))
        try container.encodeIfPresent(field, forKey: Key("field"))
        for (name, value) in figures { try container.encode(value, forKey: Key(name)) }
    }

    func response(headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: encoded())))
    }

    /// The problem as JSON, sorted keys.
    func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data(#"{"title":"unencodable problem"}"#.utf8)
    }
}

extension Problem {
    /// The problem a thrown error stands for; nil for an error no client input can cause.
    static func from(_ error: any Error) -> Problem? {
        switch error {
        case let problem as Problem: return problem
        case is PasswordHasher.Busy:
            return Problem(.serviceUnavailable, rule: "busy", title: "Too many sign-ins at once", detail: "too many passwords are being checked; try again in a moment")
        case let domain as DomainError: return from(domain)
        case let decoding as DecodingError: return from(decoding)
        case let ambiguous as AmbiguousJSON: return .badRequest(rule: ambiguous.rule.rawValue, field: ambiguous.field, ambiguous.description)
        case let command as CommandError:
            switch command {
            case .concurrencyConflict(let stream, let attempts):
                return Problem(.conflict, rule: "concurrency-conflict", title: "Others kept changing what this command reads",
                               detail: command.description, figures: [("stream", .string(stream)), ("attempts", .int(Int64(attempts)))])
            case .idempotencyKeyReused(let key):
                return Problem(.conflict, rule: "idempotency-key-reused", title: "Idempotency-Key already used for another request",
                               detail: command.description, field: "Idempotency-Key", figures: [("key", .string(key))])
            }
        case is NIOTooManyBytesError:
            return Problem(.contentTooLarge, rule: "body-too-large", title: "The request body is too large",
                           detail: "request bodies are limited to \(APIConfiguration.defaultBodyLimit) bytes")
        case let http as HTTPError:
            return Problem(http.status, rule: http.status == .notFound ? "no-such-route" : "http-\(http.status.code)",
                           title: http.status.reasonPhrase, detail: http.body ?? http.status.reasonPhrase)
        case let audit as AuditError:
            switch audit {
            case .notFound(let kind, let id): return .notFound(kind, id)
            case .unknownPosition: return .badRequest(rule: "invalid-position", field: "after", audit.description)
            }
        case is JWTError:
            return .unauthorized("the bearer token is not valid: \(error)")
        default: return nil
        }
    }

    static func from(_ error: DomainError) -> Problem {
        let detail = error.description
        switch error {
        case .invalidInput(let field, _):
            return Problem(.unprocessableContent, rule: error.rule, title: "A field breaks a rule", detail: detail, field: field)
        case .notFound(let kind, let id):
            return Problem(.notFound, rule: error.rule, title: "No such \(kind)", detail: detail, figures: [("id", .string(id))])
        case .alreadyExists(let kind, let id):
            return Problem(.conflict, rule: error.rule, title: "The \(kind) already exists", detail: detail, figures: [("id", .string(id))])
        case .notOwner(_, let id):
            return Problem(.forbidden, rule: error.rule, title: "Your role may not do this", detail: detail, figures: [("id", .string(id))])
        case .notOnSteeringGroup(let member, let meeting):
            return Problem(.forbidden, rule: error.rule, title: "Your role may not do this", detail: detail,
                           figures: [("member", .string(member)), ("meeting", .string(meeting))])
        case .ineligible(let rule, _):
            return Problem(.unprocessableContent, rule: error.rule, title: title(error), detail: detail, field: Eligibility.field(of: rule),
                           figures: figures(error))
        default:
            return Problem(.unprocessableContent, rule: error.rule, title: title(error), detail: detail, figures: figures(error))
        }
    }

    private static func title(_ error: DomainError) -> String {
        switch error {
        case .insufficientFunds, .sourceInsufficient: "Not enough money available"
        case .callCapExceeded: "The call's cap would be exceeded"
        case .overpayment: "The payment would exceed the grant"
        case .fourEyes: "Four-eyes rule: approve someone else's request"
        case .quorumNotReached: "The meeting has no quorum"
        case .memberRecused: "A recused member may not vote"
        case .callNotOpen: "The call is not open"
        case .ineligible: "The application is not eligible"
        case .datedBeforeDependency: "A fact cannot be dated before what it depends on"
        case .meetingNotYetHeld: "The meeting has not been held yet"
        case .fundsArrivedLater: "The money came in after the decision's date"
        default: "The command breaks a rule of the programme"
        }
    }

    private static func figures(_ error: DomainError) -> [(String, ProblemValue)] {
        switch error {
        case .currencyMismatch(let expected, let got): [("expected", .string(expected.code)), ("got", .string(got.code))]
        case .invalidState(let kind, let id, let status, let action):
            [("kind", .string(kind)), ("id", .string(id)), ("currentStatus", .string(status)), ("action", .string(action))]
        case .insufficientFunds(let period, let available, let requested):
            [("period", .string(period)), ("available", .money(available)), ("requested", .money(requested))]
        case .sourceInsufficient(let source, let available, let requested):
            [("source", .string(source)), ("available", .money(available)), ("requested", .money(requested))]
        case .sourceNotAvailable(let source, _): [("source", .string(source))]
        case .periodClosed(let period): [("period", .string(period))]
        case .callCapExceeded(let call, let cap, let committed, let requested):
            [("call", .string(call)), ("cap", .money(cap)), ("committed", .money(committed)), ("requested", .money(requested))]
        case .overpayment(let grant, let granted, let paid, let requested):
            [("grant", .string(grant)), ("granted", .money(granted)), ("paid", .money(paid)), ("requested", .money(requested))]
        case .trancheAlreadyPaid(let tranche): [("tranche", .int(Int64(tranche)))]
        case .trancheNotReady(let tranche, let waitingFor): [("tranche", .int(Int64(tranche))), ("waitingFor", .string(waitingFor))]
        case .fourEyes(let requester): [("requester", .string(requester))]
        case .notAMember(let member), .memberAbsent(let member), .duplicateVote(let member): [("member", .string(member))]
        case .memberRecused(let member, let affiliation): [("member", .string(member)), ("affiliation", .string(affiliation))]
        case .quorumNotReached(let eligible, let needed, let members):
            [("eligible", .int(Int64(eligible))), ("needed", .int(Int64(needed))), ("members", .int(Int64(members)))]
        case .motionNotCarried(let votesFor, let votesAgainst): [("votesFor", .int(Int64(votesFor))), ("votesAgainst", .int(Int64(votesAgainst)))]
        case .notOnAgenda(let application), .alreadyFunded(let application): [("application", .string(application))]
        case .callNotOpen(let call, let opensAt, let closesAt, let at):
            [("call", .string(call)), ("opensAt", .string(opensAt.formatted(.iso8601))), ("closesAt", .string(closesAt.formatted(.iso8601))),
             ("at", .string(at.formatted(.iso8601)))]
        case .ineligible(let rule, let detail): [("eligibilityRule", .string(rule)), ("eligibilityDetail", .string(detail))]
        case .applicationVersionMismatch(let decidedOn, let current): [("decidedOn", .int(Int64(decidedOn))), ("current", .int(Int64(current)))]
        case .datedBeforeDependency(let fact, let at, let dependency, let since):
            [("fact", .string(fact)), ("date", .string(CivilTime.format(at))), ("dependency", .string(dependency)), ("dependencyDate", .string(CivilTime.format(since)))]
        case .meetingNotYetHeld(let meeting, let date, let now):
            [("meeting", .string(meeting)), ("date", .string(CivilTime.format(date))), ("now", .string(CivilTime.format(now)))]
        case .fundsArrivedLater(let account, let date, let availableThen, let requested):
            [("account", .string(account)), ("date", .string(CivilTime.format(date))), ("availableThen", .money(availableThen)), ("requested", .money(requested))]
        case .invalidInput, .notFound, .alreadyExists, .amountOverflow, .notOwner, .notOnSteeringGroup: []
        }
    }

    static func from(_ error: DecodingError) -> Problem {
        func path(_ codingPath: [any CodingKey]) -> String? {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? nil : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key]) ?? key.stringValue
            return .badRequest(rule: "missing-field", field: field, "\(field) is required")
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return .badRequest(rule: "wrong-type", field: field, "\(field ?? "the body") must be \(jsonName(type))")
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .badRequest(rule: "wrong-type", field: field, "\(field ?? "the body") must be \(jsonName(type)), not null")
        case .dataCorrupted(let context):
            guard let field = path(context.codingPath) else {
                return .badRequest(rule: "malformed-json", field: nil, "the body is not valid JSON")
            }
            return .badRequest(rule: "invalid-value", field: field, "\(field): \(context.debugDescription)")
        @unknown default:
            return .badRequest(rule: "malformed-json", field: nil, "the body could not be read")
        }
    }

    private static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Bool.Type: "true or false"
        case is Double.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}

/// Answers every error as problem+json; anything unexpected is logged and
/// answered 500 without internals.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let methods: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router's own 404: no route has the path, or none with this method.
            let allowed = methods.allowed(for: request.uri.path)
            guard !allowed.isEmpty else { return Problem.from(error)!.response() }
            let list = allowed.joined(separator: ", ")
            return Problem(.methodNotAllowed, rule: "method-not-allowed", title: "The resource does not take this method",
                           detail: "\(request.method.rawValue) is not allowed on \(request.uri.path); allowed: \(list)",
                           figures: [("allowed", .strings(allowed))])
                .response(headers: [.allow: list])
        } catch {
            if let problem = Problem.from(error) { return problem.response() }
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return Problem(.internalServerError, rule: "internal", title: "Internal error",
                           detail: "the server failed; the request id is in the log").response()
        }
    }
}
