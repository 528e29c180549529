import Crypto
import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// The Merkle root of the first `size` events of the history in commit
/// order, signed with an Ed25519 key that is not in the database. Kept by
/// an auditor anywhere (a file, an e-mail, a public page), it pins that
/// whole prefix: a history rewritten by anyone, the database's superuser
/// included, no longer has that root for that size.
public struct SignedCheckpoint: Codable, Sendable, Hashable {
    public var size: Int64
    /// Hex of the tree's root.
    public var root: String
    /// The global position of the last event covered, for people.
    public var lastPosition: Int64?
    /// RFC 3339, to the millisecond.
    public var signedAt: String
    /// Hex of the first 8 bytes of the public key's SHA-256.
    public var keyId: String
    /// Base64 of the raw 32-byte Ed25519 public key.
    public var publicKey: String
    /// Base64 of the Ed25519 signature of ``message``.
    public var signature: String

    /// The bytes signed: every field that matters, one per line, in a fixed order.
    public var message: Data {
        Data("grantledger-checkpoint/1\nsize=\(size)\nroot=\(root)\nlast-position=\(lastPosition.map(String.init) ?? "")\nsigned-at=\(signedAt)\n".utf8)
    }

    /// True when the signature is `publicKey`'s over ``message``, `keyId`
    /// names that key, the size is possible, and, when `trusted` is given,
    /// the key is that one (base64).
    public func signatureHolds(trusting trusted: String? = nil) -> Bool {
        if let trusted, trusted != publicKey { return false }
        guard size >= 0, let raw = Data(base64Encoded: publicKey), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
              keyId == CheckpointSigner.keyId(of: raw), let signed = Data(base64Encoded: signature) else { return false }
        return key.isValidSignature(signed, for: message)
    }

    public var rootBytes: Data? { Data(hexEncoded: root) }
}

/// Signs checkpoints with the deployment's key.
public struct CheckpointSigner: Sendable {
    public let key: Curve25519.Signing.PrivateKey

    public init(key: Curve25519.Signing.PrivateKey) { self.key = key }

    /// The key in `file` (base64 of its 32 raw bytes), made there once (mode 0600) if there is none.
    public static func load(_ file: URL) throws -> CheckpointSigner {
        if let text = try? String(contentsOf: file, encoding: .utf8), let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return CheckpointSigner(key: try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
        }
        let key = Curve25519.Signing.PrivateKey()
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: file.path, contents: Data(key.rawRepresentation.base64EncodedString().utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: file.path])
        }
        return CheckpointSigner(key: key)
    }

    public var publicKey: String { key.publicKey.rawRepresentation.base64EncodedString() }
    public var keyId: String { Self.keyId(of: key.publicKey.rawRepresentation) }

    static func keyId(of publicKey: Data) -> String { Data(SHA256.hash(data: publicKey)).prefix(8).hexString }

    public func sign(size: Int64, root: Data, lastPosition: Int64?, at date: Date = Date()) throws -> SignedCheckpoint {
        var checkpoint = SignedCheckpoint(size: size, root: root.hexString, lastPosition: lastPosition, signedAt: CivilTime.format(date),
                                          keyId: keyId, publicKey: publicKey, signature: "")
        checkpoint.signature = try key.signature(for: checkpoint.message).base64EncodedString()
        return checkpoint
    }
}

/// The history's leaves, read from the events in commit order, and what is built on them.
public struct HistoryTree: Sendable {
    public let store: EventStore
    public var pageSize = 50_000
    public var settleTimeout: Duration = .seconds(30)

    public init(store: EventStore) { self.store = store }

    /// Every event committed before the call: its leaf hash and global
    /// position, in commit order. The leaves are the events of transactions
    /// below the snapshot's xmax, read once every appender below it has
    /// ended (db/functions/readable_horizon.sql), so no event can join them later and a later call's
    /// leaves extend an earlier call's.
    public func leaves(limit: Int64? = nil) async throws -> (hashes: LeafHashes, positions: [Int64]) {
        var hashes = LeafHashes(), positions: [Int64] = []
        try await forEachLeaf(limit: limit) { position, hash in
            hashes.appendLeaf(of: hash)
            positions.append(position)
        }
        return (hashes, positions)
    }

    /// Calls `body` with the global position and event hash of every leaf
    /// ``leaves(limit:)`` would return, in order, a page of `pageSize` at a time.
    func forEachLeaf(limit: Int64? = nil, _ body: (_ position: Int64, _ eventHash: Data) throws -> Void) async throws {
        let bound = try await settledBound()
        var after = Checkpoint.start, count: Int64 = 0
        while limit.map({ count < $0 }) ?? true {
            let page = try await store.client.collect(
                LeafPage(after: after, horizon: bound, limit: min(Int64(pageSize), limit.map { $0 - count } ?? Int64(pageSize))),
                logger: store.logger)
            for (transaction, position, hash) in page {
                try body(position, hash)
                after = Checkpoint(transactionId: transaction, position: position)
            }
            count += Int64(page.count)
            if page.count < pageSize { break }
        }
    }

    /// The current snapshot's xmax, once the readable horizon has reached it:
    /// the reading horizon alone can dip below an earlier one (a transaction
    /// that ended while it was taken is counted as appending), and a tree
    /// must only grow. Waits at most `settleTimeout` for appends in flight.
    func settledBound() async throws -> String {
        var bound = ""
        for try await value in try await store.client.query("SELECT pg_snapshot_xmax(pg_current_snapshot())::text", logger: store.logger)
            .decode(String.self) { bound = value }
        let deadline = ContinuousClock.now + settleTimeout
        while true {
            var reached = false
            for try await value in try await store.client.query(
                "SELECT readable_horizon(pg_current_snapshot()) >= \(bound)::xid8", logger: store.logger
            ).decode(Bool.self) { reached = value }
            if reached { return bound }
            guard ContinuousClock.now < deadline else { throw ProofError.appendsInFlight(waited: settleTimeout) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Signs the history as it stands, and keeps the checkpoint in `signed_checkpoints`.
    /// Signing the same size again with the same key gives the one already kept.
    public func signCheckpoint(with signer: CheckpointSigner) async throws -> SignedCheckpoint {
        // Folded a page at a time: a page of leaves in memory, not 32 bytes for every leaf of the tree.
        var tree = CompactRange(), lastPosition: Int64?
        try await forEachLeaf { position, hash in
            tree.appendLeaf(of: hash)
            lastPosition = position
        }
        let checkpoint = try signer.sign(size: Int64(tree.size), root: tree.root, lastPosition: lastPosition)
        let document = String(decoding: try JSONEncoder.sortedKeys.encode(checkpoint), as: UTF8.self)
        // Kept checkpoints are never changed (refuse_history_change): the first one kept for a size and key stands.
        try await store.client.query("""
            INSERT INTO signed_checkpoints (size, key_id, root, last_position, signed_at, document)
            VALUES (\(checkpoint.size), \(checkpoint.keyId), decode(\(checkpoint.root), 'hex'), \(checkpoint.lastPosition), clock_timestamp(), \(document)::json)
            ON CONFLICT (size, key_id) DO NOTHING
            """, logger: store.logger)
        let rows = try await store.client.query(
            "SELECT document::text FROM signed_checkpoints WHERE size = \(checkpoint.size) AND key_id = \(checkpoint.keyId)", logger: store.logger)
        for try await kept in rows.decode(String.self) {
            // Anyone who may insert rows could have kept another document first: the one kept stands only if it is this one's equal.
            if let stored = try? JSONDecoder().decode(SignedCheckpoint.self, from: Data(kept.utf8)),
               stored.root == checkpoint.root, stored.lastPosition == checkpoint.lastPosition, stored.signatureHolds(trusting: signer.publicKey) {
                return stored
            }
            store.logger.error("a checkpoint kept for this size is not what the key signs for this history; it is not served",
                               metadata: ["size": "\(checkpoint.size)", "kept": "\(kept.prefix(300))"])
        }
        return checkpoint
    }

    /// The checkpoints kept, newest first: only those whose signature holds
    /// (by `key`, when given), so a row planted by whoever may insert them
    /// is never served.
    public func checkpoints(limit: Int = 100, trusting key: String?) async throws -> [SignedCheckpoint] {
        var kept: [SignedCheckpoint] = []
        var offset = 0
        // Planted rows are skipped, not counted; the scan stops after 10,000, whatever they hold.
        while kept.count < limit, offset < 10_000 {
            var read = 0
            for try await document in try await store.client.query("""
                SELECT document::text FROM signed_checkpoints ORDER BY size DESC, signed_at DESC LIMIT 200 OFFSET \(offset)
                """, logger: store.logger).decode(String.self) {
                read += 1
                guard kept.count < limit, let checkpoint = try? JSONDecoder().decode(SignedCheckpoint.self, from: Data(document.utf8)),
                      checkpoint.signatureHolds(trusting: key) else { continue }
                kept.append(checkpoint)
            }
            if read < 200 { break }
            offset += read
        }
        return kept
    }

    /// For each checkpoint: whether its signature holds and the history
    /// still has its root at its size; the reason when not.
    public func check(_ checkpoints: [SignedCheckpoint], trusting key: String?) async throws -> [(SignedCheckpoint, String?)] {
        guard let largest = checkpoints.map(\.size).max() else { return [] }
        let (hashes, _) = try await leaves(limit: largest)
        return checkpoints.map { checkpoint in
            guard checkpoint.signatureHolds(trusting: key) else {
                return (checkpoint, key == nil ? "the signature does not hold" : "not signed by the trusted key, or the signature does not hold")
            }
            guard checkpoint.size <= Int64(hashes.count) else {
                return (checkpoint, "the history has \(hashes.count) events, fewer than the \(checkpoint.size) it covered: events were removed")
            }
            guard MerkleTree.root(hashes, size: Int(checkpoint.size)).hexString == checkpoint.root else {
                return (checkpoint, "the first \(checkpoint.size) events no longer have the signed root: the history was rewritten")
            }
            return (checkpoint, nil)
        }
    }
}

/// One page of leaves: each event's transaction, position and hash, below a fixed horizon.
struct LeafPage: PostgresPreparedStatement {
    static let sql = """
        SELECT transaction_id::text::int8, global_position, hash FROM events
        WHERE (events.transaction_id, global_position) > ($1::text::xid8, $2) AND events.transaction_id < $3::text::xid8
        -- Qualified: bare, the name is the int8 column above, which no index orders.
        ORDER BY events.transaction_id, global_position
        LIMIT $4
        """
    typealias Row = (Int64, Int64, Data)

    var after: Checkpoint
    var horizon: String
    var limit: Int64

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 4)
        bindings.append(String(after.transactionId))
        bindings.append(after.position)
        bindings.append(horizon)
        bindings.append(limit)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}

extension JSONEncoder {
    /// Keys sorted, slashes as they are: how checkpoints and proofs are written.
    public static var sortedKeys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
