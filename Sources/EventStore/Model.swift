import Foundation

/// The name of a stream: one aggregate's history, such as `pool-<uuid>`.
///
/// Checked on construction against the same rule the `events` table enforces,
/// so a bad name is a typed error before anything is sent to PostgreSQL.
public struct StreamID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The longest stream name the store accepts, in characters.
    public static let maximumLength = 200

    public let rawValue: String

    public init(_ rawValue: String) throws(EventStoreError) {
        // Printable ASCII, as every stream name the domain makes: nothing more to check.
        if (1...Self.maximumLength).contains(rawValue.utf8.count), rawValue.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
            self.rawValue = rawValue
            return
        }
        if rawValue.isEmpty {
            throw .invalidStreamID(rawValue, reason: "must not be empty")
        }
        if rawValue.count > Self.maximumLength {
            throw .invalidStreamID(rawValue, reason: "longer than \(Self.maximumLength) characters")
        }
        if rawValue.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .invalidStreamID(rawValue, reason: "contains a control character")
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    public static func < (lhs: StreamID, rhs: StreamID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a writer believes about a stream's current version.
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// Append whatever the stream holds.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream must hold exactly this many events (its last version).
    case exactly(Int64)

    /// The encoding `append_events` takes: -1 any, 0 no stream, n exact.
    var databaseValue: Int64 {
        switch self {
        case .any: -1
        case .noStream: 0
        case .exactly(let version): version
        }
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .exactly(let version): "\(version)"
        }
    }
}

/// Who did what, on whose behalf: stored with every event, covered by its hash.
public struct EventMetadata: Codable, Hashable, Sendable {
    public var actor: String?
    public var role: String?
    public var command: String?
    public var correlationId: UUID?
    public var causationId: UUID?
    public var idempotencyKey: String?

    public init(
        actor: String? = nil, role: String? = nil, command: String? = nil,
        correlationId: UUID? = nil, causationId: UUID? = nil, idempotencyKey: String? = nil
    ) {
        self.actor = actor
        self.role = role
        self.command = command
        self.correlationId = correlationId
        self.causationId = causationId
        self.idempotencyKey = idempotencyKey
    }
}

extension EventMetadata {
    /// As JSON, keys in the order Foundation's sorted encoder wrote them,
    /// absent values left out. Written by hand: a `JSONEncoder` for every
    /// append cost 4% of a command's CPU.
    public var json: String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        func member(_ key: String, _ value: String?) {
            guard let value else { return }
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            JSONBText.appendString(key.utf8, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONBText.appendString(value.utf8, to: &out)
        }
        member("actor", actor)
        member("causationId", causationId?.uuidString)
        member("command", command)
        member("correlationId", correlationId?.uuidString)
        member("idempotencyKey", idempotencyKey)
        member("role", role)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// An event to append. `data` is its JSON payload, already encoded.
public struct NewEvent: Sendable {
    public var eventId: UUID
    public var type: String
    public var schemaVersion: Int32
    public var data: String
    public var metadata: EventMetadata
    public var occurredAt: Date

    public init(
        eventId: UUID = .random(), type: String, schemaVersion: Int32 = 1, data: String,
        metadata: EventMetadata = EventMetadata(), occurredAt: Date
    ) {
        self.eventId = eventId
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
        self.occurredAt = occurredAt
    }
}

/// The events for one stream within an append, with the version expected.
/// A write with no events only checks the stream's version.
public struct StreamWrite: Sendable {
    public var stream: StreamID
    public var expected: ExpectedVersion
    public var events: [NewEvent]

    public init(stream: StreamID, expected: ExpectedVersion, events: [NewEvent]) {
        self.stream = stream
        self.expected = expected
        self.events = events
    }
}

/// Where a reader of all events stands: events are read in commit order,
/// that is by writing transaction, then by position within it.
public struct Checkpoint: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var transactionId: Int64
    public var position: Int64

    public static let start = Checkpoint(transactionId: 0, position: 0)

    public init(transactionId: Int64, position: Int64) {
        self.transactionId = transactionId
        self.position = position
    }

    public static func < (lhs: Checkpoint, rhs: Checkpoint) -> Bool {
        (lhs.transactionId, lhs.position) < (rhs.transactionId, rhs.position)
    }

    public var description: String { "\(transactionId)/\(position)" }
}

/// The outcome of an append.
public struct AppendResult: Hashable, Sendable {
    /// True when the idempotency key had been used: nothing was written and
    /// this is the first append's result.
    public var replayed: Bool
    public var transactionId: Int64
    /// Global positions of the first and last events written.
    public var firstPosition: Int64
    public var lastPosition: Int64
    /// Each written stream's version after the append, in the order given.
    public var streamVersions: [StreamID: Int64]

    /// The checkpoint of the last event written: a reader past it has seen the append.
    public var checkpoint: Checkpoint { Checkpoint(transactionId: transactionId, position: lastPosition) }
}

extension Result where Success == AppendResult {
    /// Whether this append wrote its events now: neither refused nor a retry answered with an earlier result.
    public var wroteEvents: Bool {
        if case .success(let result) = self { !result.replayed } else { false }
    }
}

/// An event as stored.
public struct RecordedEvent: Sendable, Hashable {
    public var position: Int64
    public var transactionId: Int64
    public var eventId: UUID
    public var streamId: String
    public var streamVersion: Int64
    public var type: String
    public var schemaVersion: Int32
    /// The JSON payload as it was appended (stored as written); imported
    /// payloads in the text PostgreSQL prints for `jsonb`.
    public var data: String
    /// The metadata as JSON text; see ``decodedMetadata()``.
    public var metadata: String
    public var occurredAt: Date
    public var recordedAt: Date
    public var hash: Data

    public var checkpoint: Checkpoint { Checkpoint(transactionId: transactionId, position: position) }

    public func decodedMetadata() throws -> EventMetadata {
        try JSONDecoder().decode(EventMetadata.self, from: Data(metadata.utf8))
    }
}

/// A page of events in commit order: the events of the types asked for, and
/// how far the page read, counting events of every type.
public struct EventPage: Sendable {
    public var events: [RecordedEvent]
    /// The place of the page's last event of any type; nil when it read nothing.
    /// A reader goes on after it.
    public var through: Checkpoint?
    /// Events read of any type: a page that read its limit may have more after it.
    public var rowsRead: Int
}

/// An idempotency key and what makes a retry "the same request". Without a
/// fingerprint, the append's streams, expected versions, types and payloads are used.
public struct Idempotency: Hashable, Sendable {
    public var key: String
    public var fingerprint: Data?

    public init(key: String, fingerprint: Data? = nil) {
        self.key = key
        self.fingerprint = fingerprint
    }
}
