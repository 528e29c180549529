import Crypto
import EventCoding
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

// A command's request: its body, read within the limit, and its idempotency key.

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
        CommandContext(actor: identity.subject, role: identity.role.rawValue, actingAs: identity.actingAs,
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
