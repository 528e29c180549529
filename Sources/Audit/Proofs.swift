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

    /// Every reason the bundle fails: the checkpoint's signature (against
    /// `key`, when one is trusted), each event's inclusion, and the chain
    /// between consecutive events of a stream. Empty when it holds.
    public func failures(trusting key: String?) -> [String] {
        var failures: [String] = []
        if !checkpoint.signatureHolds(trusting: key) {
            failures.append(key == nil ? "the checkpoint's signature does not hold" : "the checkpoint is not signed by the trusted key")
        }
        failures += events.compactMap { $0.failure(against: checkpoint) }
        for (earlier, later) in zip(events, events.dropFirst()) where earlier.stream == later.stream && later.version == earlier.version + 1 {
            if later.previousHash != earlier.hash { failures.append("event \(later.position) does not chain from event \(earlier.position)") }
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

    public var holds: Bool {
        guard let first = Data(hexEncoded: fromRoot), let second = Data(hexEncoded: toRoot) else { return false }
        let hashes = proof.compactMap { Data(hexEncoded: $0) }
        return hashes.count == proof.count
            && MerkleTree.verifyConsistency(first: from, second: to, firstRoot: first, secondRoot: second, proof: hashes)
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
        case .beyondHistory(let size, let events): "the checkpoint covers \(size) events; the history has \(events)"
        case .rewritten(let size): "the first \(size) events no longer have the checkpoint's root: the history was rewritten"
        case .noSuchStream(let stream): "the history has no stream \(stream)"
        case .notCovered(let stream): "no event of \(stream) is in the checkpoint yet; sign a newer one"
        case .appendsInFlight(let waited): "appends begun before this request were still running after \(waited) (a long import?); try again when they end"
        }
    }
}

extension HistoryTree {
    /// Proofs that the events of `stream` (those the checkpoint covers) are
    /// in the history it signed; the newest kept checkpoint unless one is given.
    public func proof(of stream: String, against given: SignedCheckpoint? = nil) async throws -> ProofBundle {
        var newest: SignedCheckpoint? = given
        if newest == nil { newest = try await checkpoints(limit: 1).first }
        guard let checkpoint = newest else { throw ProofError.noCheckpoint }
        let (hashes, positions) = try await leaves(limit: checkpoint.size)
        guard Int64(hashes.count) >= checkpoint.size else { throw ProofError.beyondHistory(size: checkpoint.size, events: hashes.count) }
        let leaves = hashes[..<Int(checkpoint.size)]
        guard MerkleTree.root(leaves).hexString == checkpoint.root else { throw ProofError.rewritten(size: checkpoint.size) }
        let index = Dictionary(uniqueKeysWithValues: positions.prefix(Int(checkpoint.size)).enumerated().map { ($1, $0) })
        var events: [EventProof] = []
        var previous = Data()
        let rows = try await store.client.collect(StreamForProof(stream: stream), logger: store.logger)
        guard !rows.isEmpty else { throw ProofError.noSuchStream(stream) }
        for row in rows {
            defer { previous = row.hash }
            guard let leafIndex = index[row.position] else { continue }
            events.append(EventProof(
                position: row.position, eventId: row.eventId, stream: stream, version: row.version, type: row.type, schemaVersion: row.schemaVersion,
                occurredMicros: row.occurred, recordedMicros: row.recorded, data: row.data, metadata: row.metadata,
                previousHash: previous.hexString, hash: row.hash.hexString, leafIndex: Int64(leafIndex),
                path: MerkleTree.inclusionPath(index: leafIndex, leaves: leaves).map(\.hexString)))
        }
        guard !events.isEmpty else { throw ProofError.notCovered(stream: stream) }
        return ProofBundle(checkpoint: checkpoint, events: events)
    }

    /// The proof that the history's first `to` events extend its first `from`.
    public func consistency(from: Int64, to: Int64) async throws -> ConsistencyProof {
        let (hashes, _) = try await leaves(limit: to)
        guard Int64(hashes.count) >= to, from >= 1, from <= to else { throw ProofError.beyondHistory(size: to, events: hashes.count) }
        let leaves = hashes[..<Int(to)]
        return ConsistencyProof(from: from, to: to, fromRoot: MerkleTree.root(leaves[..<Int(from)]).hexString, toRoot: MerkleTree.root(leaves).hexString,
                                proof: MerkleTree.consistencyProof(from: Int(from), leaves: leaves).map(\.hexString))
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
