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

/// What every route needs: the store, the command handler, the token checker.
struct Services: Sendable {
    let store: EventStore
    let commands: CommandHandler
    let auth: Authenticator
    let bodyLimit: Int
    let consistencyWait: Duration
    let trustedProxies: Set<String>
    /// Present when this process runs the projection workers.
    let readCache: ReadCache?
    let logger: Logger
}

// MARK: Request bodies

/// A command request's body, read once under the size limit: decoded, and
/// fingerprinted for its idempotency key.
struct CommandBody {
    let bytes: ByteBuffer

    static func read(_ request: Request, limit: Int) async throws -> CommandBody {
        CommandBody(bytes: try await request.body.collect(upTo: limit))
    }

    /// Decodes the body (an empty body counts as `{}`) with the strict
    /// reading of ``PayloadDecoder/decodeRequest(_:from:)``: a key given
    /// twice, a NUL character or bytes that are not UTF-8 are refused with
    /// the field named, and times are read as ``CivilTime`` reads them.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let data = bytes.readableBytes == 0 ? Array("{}".utf8) : Array(bytes.readableBytesView)
        return try PayloadDecoder.decodeRequest(T.self, from: data)
    }
}

/// The request's `Idempotency-Key`, scoped to its sender: a retry with the
/// same key and the same method, path and body gets the first answer.
struct IdempotencyScope {
    let key: String?
    let identity: Identity
    let fingerprint: Data

    init(_ request: Request, _ identity: Identity, _ body: CommandBody) throws {
        if let key = request.headers[.idempotencyKey] {
            guard (1...200).contains(key.utf8.count), key.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x21 && $0.value < 0x7F }) else {
                throw Problem.badRequest(rule: "invalid-idempotency-key", field: "Idempotency-Key",
                                         "Idempotency-Key must be 1-200 printable ASCII characters")
            }
            self.key = key
        } else {
            self.key = nil
        }
        self.identity = identity
        var hasher = SHA256()
        hasher.update(data: Data("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hasher.update(data: Data(buffer: body.bytes))
        fingerprint = Data(hasher.finalize())
    }

    /// The id the client gave, or one the server makes: derived from the
    /// idempotency key when there is one, so a retry names the same resource.
    func id(_ given: UUID?, _ purpose: String) -> UUID {
        if let given { return given }
        guard let key else { return .random() }
        return UUID.named("api/\(identity.subject)/\(key)/\(purpose)")
    }

    var context: CommandContext {
        CommandContext(actor: identity.subject, role: identity.role.rawValue,
                       idempotency: key.map { Idempotency(key: Self.storedKey(subject: identity.subject, key: $0), fingerprint: fingerprint) })
    }

    /// The key as the store keeps it: scoped to its sender, readable when
    /// it fits the store's 200 characters, else a digest of the same two
    /// (a 200-character key from a long subject would not fit).
    static func storedKey(subject: String, key: String) -> String {
        let scoped = "\(subject) \(key)"
        guard scoped.count > EventStore.maximumIdempotencyKeyLength else { return scoped }
        let digest = SHA256.hash(data: Data("\(subject)\n\(key)".utf8))
        return "sha256:" + digest.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
    static let consistentAfter = Self("Consistent-After")!
    static let readPosition = Self("Read-Position")!
    static let readStale = Self("Read-Stale")!
}

// MARK: Responses

/// JSON as the API writes it: sorted keys, so equal values give equal bytes.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
    var headers = headers
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try apiEncoder.encode(value))))
}

let apiEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(date.formatted(.iso8601))
    }
    return encoder
}()

/// A command's answer: what it named, and where its last event landed.
/// Built from the request and the append's result only, so a replayed
/// request gets the same bytes.
func commandResponse(_ fields: [String: String], _ result: CommandResult, created: Bool) throws -> Response {
    struct Body: Encodable {
        var fields: [String: String]
        var position: Int64
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Problem.Key.self)
            for (name, value) in fields { try container.encode(value, forKey: Problem.Key(name)) }
            try container.encode(position, forKey: Problem.Key("position"))
        }
    }
    var headers: HTTPFields = [:]
    if result.replayed { headers[.idempotentReplayed] = "true" }
    return try jsonResponse(Body(fields: fields, position: result.position), status: created ? .created : .ok, headers: headers)
}

// MARK: Read-your-writes

/// Where a read answered from: the projections' common checkpoint, and
/// whether it had not reached the position the client asked for.
struct ReadConsistency {
    var stale: Bool

    func apply(to response: inout Response, after: Int64?) {
        if let after { response.headers[.readPosition] = String(after) }
        if stale { response.headers[.readStale] = "true" }
    }
}

extension Services {
    /// Waits, up to the configured bound, until every projection in
    /// `projections` has applied the event at `?after=` (or the
    /// `Consistent-After` header). Answers stale rather than failing.
    func waitForReadModels(_ request: Request, _ projections: [ReadModelName]) async throws -> (after: Int64?, ReadConsistency) {
        let text = request.uri.queryParameters["after"].map(String.init) ?? request.headers[.consistentAfter]
        guard let text else { return (nil, ReadConsistency(stale: false)) }
        guard let after = Int64(text), after >= 0 else {
            throw Problem.badRequest(rule: "invalid-position", field: "after", "after must be a position: a non-negative integer")
        }
        return (after, ReadConsistency(stale: !(try await waitUntil(after, appliedBy: projections))))
    }

    /// Waits, up to the configured bound, until each projection has applied
    /// the event at `position`; false if they have not by then. A position
    /// that holds no committed event (beyond the head, or one a rolled-back
    /// append never filled) answers at once: nothing anyone was told can be
    /// waited for there, and no caller, signed in or not, can make a
    /// request wait on it.
    func waitUntil(_ position: Int64, appliedBy projections: [ReadModelName]) async throws -> Bool {
        let deadline = ContinuousClock.now + consistencyWait
        var pause = Duration.milliseconds(2)
        while true {
            switch try await readModels(projections.map(\.rawValue), at: position) {
            case .applied: return true
            case .noSuchEvent: return false
            case .behind: break
            }
            let now = ContinuousClock.now
            if now >= deadline { return false }
            try await Task.sleep(until: min(now + pause, deadline), clock: .continuous)
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    private enum Progress { case applied, behind, noSuchEvent }

    /// Whether the event at `position` exists and each named projection's
    /// checkpoint is at or past it in commit order.
    private func readModels(_ projections: [String], at position: Int64) async throws -> Progress {
        guard position > 0 else { return .applied }
        let rows = try await store.client.query("""
            SELECT e.global_position IS NOT NULL,
                   count(*) FILTER (WHERE c.projection IS NULL
                                       OR (c.transaction_id::text::xid8, c.position) < (e.transaction_id, e.global_position))
            FROM unnest(\(projections)::text[]) AS wanted(name)
            LEFT JOIN events e ON e.global_position = \(position)
            LEFT JOIN projection_checkpoints c ON c.projection = wanted.name AND c.live
            GROUP BY 1
            """, logger: logger)
        for try await (exists, behind) in rows.decode((Bool, Int64).self) {
            return !exists ? .noSuchEvent : behind == 0 ? .applied : .behind
        }
        return .noSuchEvent
    }
}

// MARK: Parameters

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
