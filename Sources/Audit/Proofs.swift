import EventStore
import Foundation
import PostgresNIO

/// One event as its hash covers it, where it sits in the history's tree,
/// and the audit path from its leaf to the root of a checkpoint.
public struct EventProof: Codable, Sendable, Hashable {
    public var position: Int64
    public var eventId: UUID
    public var stream: String
    public var version: Int64
    public var type: String
    public var schemaVersion: Int32
    /// Microseconds since 1970, as the hash covers them.
    public var occurredMicros: Int64
    public var recordedMicros: Int64
    /// The payload and metadata as stored, to the byte.
    public var data: String
    public var metadata: String
    /// Hex: the stream's previous event's hash (empty for the first), and this event's.
    public var previousHash: String
    public var hash: String
    /// Its place in commit order, from 0, and the audit path (hex) to the checkpoint's root.
    public var leafIndex: Int64
    public var path: [String]

    /// Why this event's proof fails against `checkpoint`; nil when it holds.
    public func failure(against checkpoint: SignedCheckpoint) -> String? {
        guard let previous = Data(hexEncoded: previousHash), let stated = Data(hexEncoded: hash),
              let root = checkpoint.rootBytes else { return "a hash is not hex" }
        let computed = Data(EventHash.compute(previous: previous, eventId: eventId, stream: stream, version: version, type: type,
                                              schemaVersion: schemaVersion, occurredMicros: occurredMicros, recordedMicros: recordedMicros,
                                              data: Array(data.utf8), metadata: Array(metadata.utf8)))
        guard computed == stated else { return "event \(position): its content does not hash to the hash stated" }
        let hashes = path.compactMap { Data(hexEncoded: $0) }
        guard hashes.count == path.count else { return "event \(position): the path is not hex" }
        guard MerkleTree.verifyInclusion(leafHash: MerkleTree.leafHash(computed), index: leafIndex, size: checkpoint.size, path: hashes, root: root) else {
            return "event \(position): the path does not lead from it to the checkpoint's root"
        }
        return nil
    }
}

/// What a beneficiary or an auditor keeps to show that a stream's events
/// (one grant's) are in the history a signed checkpoint covers.
public struct ProofBundle: Codable, Sendable {
    public var checkpoint: SignedCheckpoint
    public var events: [EventProof]

    public init(checkpoint: SignedCheckpoint, events: [EventProof]) {
        self.checkpoint = checkpoint
        self.events = events
    }

    /// Every reason the bundle fails: the checkpoint's signature (against
    /// `key`, when one is trusted), the stream (`stream`, when one is
    /// expected), each event's inclusion, and the stream's chain from its
    /// first event with no version left out. Empty when it holds.
    public func failures(trusting key: String?, stream expected: String? = nil) -> [String] {
        var failures: [String] = []
        if !checkpoint.signatureHolds(trusting: key) {
            failures.append(key == nil ? "the checkpoint's signature does not hold" : "the checkpoint is not signed by the trusted key")
        }
        guard let first = events.first else { return failures + ["the proof holds no event"] }
        let streams = Set(events.map(\.stream))
        if streams.count > 1 { failures.append("the events are of more than one stream: \(streams.sorted().joined(separator: ", "))") }
        if let expected, streams != [expected] { failures.append("the events are not of \(expected)") }
        failures += events.compactMap { $0.failure(against: checkpoint) }
        // The covered events of a stream are its first ones: versions 1...n, each chained to the one before.
        if first.version != 1 || !first.previousHash.isEmpty { failures.append("the proof does not start at the stream's first event") }
        for (earlier, later) in zip(events, events.dropFirst()) {
            if later.version != earlier.version + 1 {
                failures.append("version \(earlier.version + 1) of the stream is left out (after event \(earlier.position))")
            } else if later.previousHash != earlier.hash {
                failures.append("event \(later.position) does not chain from event \(earlier.position)")
            }
        }
        return failures
    }
}

/// A proof that the tree of `to` events extends the tree of `from` events.
public struct ConsistencyProof: Codable, Sendable, Hashable {
    public var from: Int64
    public var to: Int64
    public var fromRoot: String
    public var toRoot: String
    public var proof: [String]

    /// Whether the proof leads from `fromRoot` to `toRoot`: worth something
    /// only once both roots are those of checkpoints one trusts (``failures(between:and:trusting:)``).
    public var holds: Bool {
        guard let first = Data(hexEncoded: fromRoot), let second = Data(hexEncoded: toRoot) else { return false }
        let hashes = proof.compactMap { Data(hexEncoded: $0) }
        return hashes.count == proof.count
            && MerkleTree.verifyConsistency(first: from, second: to, firstRoot: first, secondRoot: second, proof: hashes)
    }

    /// Every reason the proof does not show that `later` extends `earlier`,
    /// two checkpoints signed by `key`. Empty when it does.
    public func failures(between earlier: SignedCheckpoint, and later: SignedCheckpoint, trusting key: String) -> [String] {
        var failures: [String] = []
        for checkpoint in [earlier, later] where !checkpoint.signatureHolds(trusting: key) {
            failures.append("the checkpoint of \(checkpoint.size) events is not signed by the trusted key")
        }
        if earlier.size != from || earlier.root != fromRoot { failures.append("the proof does not start at the checkpoint of \(earlier.size) events") }
        if later.size != to || later.root != toRoot { failures.append("the proof does not end at the checkpoint of \(later.size) events") }
        if !holds { failures.append("the proof does not lead from the first root to the second") }
        return failures
    }
}

public enum ProofError: Error, CustomStringConvertible {
    case noCheckpoint
    case beyondHistory(size: Int64, events: Int)
    case rewritten(size: Int64)
    case notCovered(stream: String)
    case noSuchStream(String)
    case appendsInFlight(waited: Duration)

    public var description: String {
        switch self {
        case .noCheckpoint: "no checkpoint has been signed yet"
        case .beyondHistory(let size, let events): "\(size) events asked for; the history (or the newest signed checkpoint) has \(events)"
        case .rewritten(let size): "the first \(size) events no longer have the checkpoint's root: the history was rewritten"
        case .noSuchStream(let stream): "the history has no stream \(stream)"
        case .notCovered(let stream): "no event of \(stream) is in the checkpoint yet; sign a newer one"
        case .appendsInFlight(let waited): "appends begun before this request were still running after \(waited) (a long import?); try again when they end"
        }
    }
}

extension HistoryTree {
    /// Proofs that the events of `stream` (those the checkpoint covers) are
    /// in the history it signed: the newest kept checkpoint signed by `key`
    /// (or, without one, by its own key) that the history is long enough
    /// for, unless one is given.
    public func proof(of stream: String, against given: SignedCheckpoint? = nil, trusting key: String? = nil) async throws -> ProofBundle {
        var candidates = given.map { [$0] } ?? []
        if given == nil { candidates = try await checkpoints(limit: 20, trusting: key) }
        guard let largest = candidates.map(\.size).max() else { throw ProofError.noCheckpoint }
        let (hashes, positions) = try await leaves(limit: max(0, largest))
        let checkpoint = candidates.first { $0.size <= Int64(hashes.count) } ?? candidates[0]
        guard checkpoint.size >= 0, checkpoint.size <= Int64(hashes.count) else {
            throw ProofError.beyondHistory(size: checkpoint.size, events: hashes.count)
        }
        let size = Int(checkpoint.size)
        guard MerkleTree.root(hashes, size: size).hexString == checkpoint.root else { throw ProofError.rewritten(size: checkpoint.size) }
        let index = Dictionary(uniqueKeysWithValues: positions.prefix(Int(checkpoint.size)).enumerated().map { ($1, $0) })
        let rows = try await store.client.collect(StreamForProof(stream: stream), logger: store.logger)
        guard !rows.isEmpty else { throw ProofError.noSuchStream(stream) }
        let covered = rows.compactMap { row in index[row.position].map { (row, $0) } }
        guard !covered.isEmpty else { throw ProofError.notCovered(stream: stream) }
        let paths = MerkleTree.inclusionPaths(indices: covered.map(\.1), leaves: hashes, size: size)
        var events: [EventProof] = []
        var previous = Data()
        for (row, leafIndex) in covered {
            events.append(EventProof(
                position: row.position, eventId: row.eventId, stream: stream, version: row.version, type: row.type, schemaVersion: row.schemaVersion,
                occurredMicros: row.occurred, recordedMicros: row.recorded, data: row.data, metadata: row.metadata,
                previousHash: previous.hexString, hash: row.hash.hexString, leafIndex: Int64(leafIndex),
                path: (paths[leafIndex] ?? []).map(\.hexString)))
            previous = row.hash
        }
        return ProofBundle(checkpoint: checkpoint, events: events)
    }

    /// The proof that the history's first `to` events extend its first
    /// `from`. `to` may be at most the newest signed checkpoint's size (by
    /// `key`, when given), so no one can make the server read more than an
    /// auditor could hold it to.
    public func consistency(from: Int64, to: Int64, trusting key: String? = nil) async throws -> ConsistencyProof {
        guard let newest = try await checkpoints(limit: 1, trusting: key).first else { throw ProofError.noCheckpoint }
        guard from >= 1, from <= to, to <= newest.size else { throw ProofError.beyondHistory(size: to, events: Int(newest.size)) }
        let (hashes, _) = try await leaves(limit: to)
        guard Int64(hashes.count) >= to else { throw ProofError.beyondHistory(size: to, events: hashes.count) }
        return ConsistencyProof(from: from, to: to, fromRoot: MerkleTree.root(hashes, size: Int(from)).hexString,
                                toRoot: MerkleTree.root(hashes, size: Int(to)).hexString,
                                proof: MerkleTree.consistencyProof(from: Int(from), leaves: hashes, size: Int(to)).map(\.hexString))
    }
}

/// A stream's events with the fields their hashes cover, times in microseconds as stored.
struct StreamForProof: PostgresPreparedStatement {
    static let sql = """
        SELECT global_position, event_id, stream_version, event_type, schema_version,
               (extract(epoch FROM occurred_at) * 1000000)::bigint, (extract(epoch FROM recorded_at) * 1000000)::bigint,
               data::text, metadata::text, hash
        FROM events WHERE stream_id = $1 ORDER BY stream_version
        """
    struct Row: Sendable {
        var position: Int64, eventId: UUID, version: Int64, type: String, schemaVersion: Int32
        var occurred: Int64, recorded: Int64, data: String, metadata: String, hash: Data
    }

    var stream: String

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(stream)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let (position, eventId, version, type, schemaVersion, occurred, recorded, data, metadata, hash)
            = try row.decode((Int64, UUID, Int64, String, Int32, Int64, Int64, String, String, Data).self)
        return Row(position: position, eventId: eventId, version: version, type: type, schemaVersion: schemaVersion,
                   occurred: occurred, recorded: recorded, data: data, metadata: metadata, hash: hash)
    }
}
