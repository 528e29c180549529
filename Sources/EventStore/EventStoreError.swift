/// Everything the event store refuses, as values naming the rule and the figures.
public enum EventStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stream was not at the version the writer expected; nothing was written.
    /// `actual` is nil when a concurrent writer created the stream first.
    case wrongExpectedVersion(stream: String, expected: ExpectedVersion, actual: Int64?)
    /// The idempotency key was used before for an append with other content.
    case idempotencyKeyReused(key: String)
    case invalidStreamID(String, reason: String)
    case invalidEventType(String, reason: String)
    case invalidIdempotencyKey(String, reason: String)
    /// An event's payload plus metadata is over the configured limit.
    case payloadTooLarge(eventType: String, bytes: Int, limit: Int)
    /// PostgreSQL refused a payload as JSON.
    case invalidPayload(reason: String)
    case emptyAppend
    case duplicateStream(String)
    /// An import wrote an event id or stream version the store already holds.
    case importConflict(String)
    /// An append of a batch decided one after another was decided on events
    /// of `stream` that an append before it did not write; nothing was written.
    case precedingAppendNotWritten(stream: String)

    public var description: String {
        switch self {
        case .wrongExpectedVersion(let stream, let expected, let actual):
            "stream \(stream) expected at version \(expected), but it is at \(actual.map(String.init) ?? "a version written concurrently")"
        case .idempotencyKeyReused(let key):
            "idempotency key \(key) was already used for a different append"
        case .invalidStreamID(let id, let reason):
            "invalid stream id \(id.prefix(40).debugDescription): \(reason)"
        case .invalidEventType(let type, let reason):
            "invalid event type \(type.prefix(40).debugDescription): \(reason)"
        case .invalidIdempotencyKey(let key, let reason):
            "invalid idempotency key \(key.prefix(40).debugDescription): \(reason)"
        case .payloadTooLarge(let type, let bytes, let limit):
            "event \(type) is \(bytes) bytes, over the limit of \(limit) bytes"
        case .invalidPayload(let reason):
            "event payload is not valid JSON: \(reason)"
        case .emptyAppend:
            "an append must contain at least one event"
        case .duplicateStream(let stream):
            "stream \(stream) appears twice in one append"
        case .importConflict(let detail):
            "the import conflicts with what the store holds: \(detail)"
        case .precedingAppendNotWritten(let stream):
            "decided on events of stream \(stream) that an append before it in the batch did not write"
        }
    }
}
