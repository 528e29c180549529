import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix
import Synchronization

/// A secret handed to a person or a browser once (a link, a session): 32
/// random bytes in URL-safe base64. Only its SHA-256 is stored, so a copy
/// of the database cannot be used to sign in.
struct Secret: Sendable {
    let text: String

    static func make(prefix: String = "") -> Secret {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Secret(text: prefix + Data(bytes).base64URL)
    }

    var digest: [UInt8] { Self.digest(text) }

    static func digest(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Data(text.utf8))) }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// Passwords as bcrypt keeps them, worked out on NIO's thread pool (a hash
/// at cost 12 takes a quarter of a second here: never on a task's executor).
/// bcrypt reads 72 bytes at most and stops at a NUL, so it hashes the
/// password's SHA-256 in base64 (44 characters) and a long passphrase
/// counts in full.
public struct PasswordHasher: Sendable {
    /// log2 of bcrypt's rounds: 12 unless tests ask for less.
    public let cost: UInt8
    /// Hashes under way or waiting: past `capacity`, a request is turned
    /// away at once (``Busy``) rather than queued behind a flood of sign-ins.
    private let gate: Gate

    /// Too many passwords are being checked: try again in a moment.
    public struct Busy: Error {}

    public init(cost: UInt8 = 12, capacity: Int = 32) {
        precondition((4...31).contains(cost), "bcrypt's cost is 4 to 31")
        self.cost = cost
        gate = Gate(capacity: capacity)
    }

    public func hash(_ password: String) async throws -> String {
        let input = Self.input(password)
        let cost = cost
        return try await gate.through { try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(input, cost: cost) } }
    }

    public func verify(_ password: String, against hash: String) async throws -> Bool {
        let input = Self.input(password)
        return try await gate.through { try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(input, hash: hash) } }
    }

    /// The cost a stored hash was made with (`$2b$12$...`).
    public static func cost(of hash: String) -> UInt8? {
        let parts = hash.split(separator: "$")
        return parts.count >= 2 ? UInt8(parts[1]) : nil
    }

    private static func input(_ password: String) -> String {
        Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }
}

/// Counts work under way and refuses more than `capacity`.
final class Gate: Sendable {
    private let inFlight = Mutex(0)
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func through<T: Sendable>(_ work: () async throws -> T) async throws -> T {
        let admitted = inFlight.withLock { count in
            guard count < capacity else { return false }
            count += 1
            return true
        }
        guard admitted else { throw PasswordHasher.Busy() }
        defer { inFlight.withLock { $0 -= 1 } }
        return try await work()
    }
}

/// What a password must be: long enough to resist guessing (NIST SP
/// 800-63B: at least 8; we ask 10), at most 1,000 characters (hashing is
/// bounded), one line, and not the user's own e-mail address.
public enum PasswordRule: String, Sendable, CaseIterable {
    case tooShort = "too-short"
    case tooLong = "too-long"
    case controlCharacters = "control-characters"
    case isEmail = "is-email"

    public static let minimum = 10
    public static let maximum = 1000

    /// The rule `password` breaks, or nil.
    public static func broken(by password: String, email: String) -> PasswordRule? {
        if password.count < minimum { return .tooShort }
        if password.count > maximum { return .tooLong }
        if password.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return .controlCharacters }
        if password.lowercased() == email.lowercased() { return .isEmail }
        return nil
    }

    public var reason: String {
        switch self {
        case .tooShort: "must be at least \(Self.minimum) characters"
        case .tooLong: "must be at most \(Self.maximum) characters"
        case .controlCharacters: "must not contain control characters or line breaks"
        case .isEmail: "must not be your e-mail address"
        }
    }
}
