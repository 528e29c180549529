import Audit
import Crypto
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import PostgresNIO
import Programmes
import Testing

@Suite("The history as a Merkle tree (RFC 9162)")
struct MerkleTreeTests {
    static func leaves(_ count: Int) -> [Data] { (0..<count).map { MerkleTree.leafHash(Data("leaf \($0)".utf8)) } }

    /// The tree built the other way round, level by level, an odd node carried up: the same root, as RFC 9162 intends.
    static func levelRoot(_ leaves: [Data]) -> Data {
        var level = leaves
        while level.count > 1 {
            var next: [Data] = []
            for index in stride(from: 0, to: level.count, by: 2) {
                if index + 1 < level.count {
                    var hasher = SHA256()
                    hasher.update(data: [0x01])
                    hasher.update(data: level[index])
                    hasher.update(data: level[index + 1])
                    next.append(Data(hasher.finalize()))
                } else {
                    next.append(level[index])
                }
            }
            level = next
        }
        return level[0]
    }

    @Test("every inclusion and consistency proof of trees of 1 to 70 leaves verifies, and none verifies for another leaf or root")
    func proofs() {
        for size in 1...70 {
            let leaves = Self.leaves(size), tree = LeafHashes(leaves)
            let root = MerkleTree.root(tree)
            #expect(root == Self.levelRoot(leaves), "size \(size)")
            for index in 0..<size {
                let path = MerkleTree.inclusionPath(index: index, leaves: tree)
                #expect(path.count <= 7)
                #expect(MerkleTree.verifyInclusion(leafHash: leaves[index], index: Int64(index), size: Int64(size), path: path, root: root))
                #expect(!MerkleTree.verifyInclusion(leafHash: leaves[(index + 1) % size], index: Int64(index), size: Int64(size), path: path, root: root)
                        || size == 1)
                // The size alone is not bound by a path (index 0 of 3 has the path of index 0 of 4); the signed root binds it.
                #expect(!MerkleTree.verifyInclusion(leafHash: leaves[index], index: Int64(index), size: Int64(size), path: path,
                                                    root: MerkleTree.root(LeafHashes(Self.leaves(size + 1)))))
            }
            // Every path at once (indices outside the tree ignored): each verifies.
            let all = MerkleTree.inclusionPaths(indices: Array(0..<size) + [size, -1], leaves: tree)
            #expect(all.count == size && (0..<size).allSatisfy {
                MerkleTree.verifyInclusion(leafHash: leaves[$0], index: Int64($0), size: Int64(size), path: all[$0] ?? [], root: root)
            })
            for first in 1..<size {
                let proof = MerkleTree.consistencyProof(from: first, leaves: tree)
                let firstRoot = MerkleTree.root(tree, size: first)
                #expect(MerkleTree.verifyConsistency(first: Int64(first), second: Int64(size), firstRoot: firstRoot, secondRoot: root, proof: proof),
                        "\(first) of \(size)")
                var other = leaves
                other[first - 1] = MerkleTree.leafHash(Data("rewritten".utf8))
                #expect(!MerkleTree.verifyConsistency(first: Int64(first), second: Int64(size), firstRoot: MerkleTree.root(LeafHashes(other), size: first),
                                                     secondRoot: root, proof: proof))
            }
        }
    }

    @Test("a compact range fed a leaf at a time has, at every size from 0 to 1,100, the root of the whole tree, holding one hash per set bit of the size")
    func compactRange() {
        let data = (0..<1_100).map { Data("leaf \($0)".utf8) }
        let tree = LeafHashes(data.map(MerkleTree.leafHash))
        var range = CompactRange()
        #expect(range.root == MerkleTree.root(tree, size: 0))
        for (index, leaf) in data.enumerated() {
            range.appendLeaf(of: leaf)
            #expect(range.size == index + 1)
            #expect(range.root == MerkleTree.root(tree, size: index + 1), "size \(index + 1)")
            #expect(range.peakCount == (index + 1).nonzeroBitCount)
        }
    }
}

@Suite("Signed checkpoints and proofs against a real history")
struct CheckpointTests {
    static let signer = CheckpointSigner(key: Curve25519.Signing.PrivateKey())

    @Test("every event's hash computed in Swift is the one PostgreSQL stored")
    func hashesAgree() async throws {
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            var checked = 0
            for try await (id, stream, version, type, schema, occurred, recorded, data, metadata, previous, hash) in try await store.client.query("""
                SELECT event_id, stream_id, stream_version, event_type, schema_version,
                       (extract(epoch FROM occurred_at) * 1000000)::bigint, (extract(epoch FROM recorded_at) * 1000000)::bigint,
                       data::text, metadata::text, previous_hash, hash FROM events
                """).decode((UUID, String, Int64, String, Int32, Int64, Int64, String, String, Data, Data).self) {
                let computed = EventHash.compute(previous: previous, eventId: id, stream: stream, version: version, type: type, schemaVersion: schema,
                                                 occurredMicros: occurred, recordedMicros: recorded, data: Array(data.utf8), metadata: Array(metadata.utf8))
                #expect(Data(computed) == hash, "\(stream) \(version)")
                checked += 1
            }
            #expect(checked > 100)
        }
    }

    @Test("a history rewritten behind the store's back, chains and ledger redone so verify passes, no longer extends a checkpoint")
    func rewriteCaught() async throws {
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            let tree = HistoryTree(store: store)
            let checkpoint = try await tree.signCheckpoint(with: Self.signer)
            #expect(checkpoint.size > 100 && checkpoint.signatureHolds(trusting: Self.signer.publicKey))
            #expect(!checkpoint.signatureHolds(trusting: CheckpointSigner(key: Curve25519.Signing.PrivateKey()).publicKey))
            // Signing again with nothing new gives the checkpoint kept.
            #expect(try await tree.signCheckpoint(with: Self.signer) == checkpoint)
            #expect(try await tree.check([checkpoint], trusting: Self.signer.publicKey).allSatisfy { $0.1 == nil })

            // New events later: the history still extends the old checkpoint, and a consistency proof shows it.
            _ = try await HistoryGenerator(seed: 3, pools: 1, applicationsPerPool: 5).generate(chunkEvents: 100) { try await store.append($0) }
            let later = try await tree.signCheckpoint(with: Self.signer)
            #expect(later.size > checkpoint.size)
            #expect(try await tree.check([checkpoint, later], trusting: Self.signer.publicKey).allSatisfy { $0.1 == nil })
            let consistency = try await tree.consistency(from: checkpoint.size, to: later.size)
            #expect(consistency.holds && consistency.fromRoot == checkpoint.root && consistency.toRoot == later.root)

            // An insider with the owner's rights: an amount changed, the stream re-chained from there on.
            try await AuditDatabase.execute(store, "ALTER TABLE events DISABLE TRIGGER events_append_only")
            let target = try await AuditDatabase.int(store, """
                SELECT min(global_position) FROM events WHERE event_type = 'MoneyCommitted' AND data::text LIKE '%"amount":"300000.00"%'
                """)
            try await AuditDatabase.execute(store, """
                UPDATE events SET data = replace(data::text, '"amount":"300000.00"', '"amount":"3000.00"')::json WHERE global_position = \(target)
                """)
            try await AuditDatabase.execute(store, """
                DO $$
                DECLARE r record; v_previous bytea;
                BEGIN
                  FOR r IN SELECT * FROM events WHERE stream_id = (SELECT stream_id FROM events WHERE global_position = \(target)) ORDER BY stream_version LOOP
                    v_previous := coalesce(v_previous, r.previous_hash);
                    UPDATE events SET previous_hash = v_previous,
                           hash = event_hash(v_previous, r.event_id, r.stream_id, r.stream_version, r.event_type, r.schema_version,
                                             r.occurred_at, r.recorded_at, r.data, r.metadata)
                    WHERE global_position = r.global_position RETURNING hash INTO v_previous;
                  END LOOP;
                  UPDATE streams s SET last_hash = v_previous WHERE s.stream_id = (SELECT stream_id FROM events WHERE global_position = \(target));
                END $$
                """)
            #expect(try await Verifier(store: store).verify().brokenLinks.allSatisfy { $0.check.hasPrefix("ledger") }, "the stream's own chain holds")
            let results = try await tree.check([checkpoint, later], trusting: Self.signer.publicKey)
            #expect(results.allSatisfy { $0.1?.contains("rewritten") == true }, "\(results.map(\.1))")

            // Events removed: the history is shorter than a checkpoint said.
            try await AuditDatabase.execute(store, "DELETE FROM events WHERE global_position = (SELECT max(global_position) FROM events)")
            let shorter = try await tree.check([later], trusting: Self.signer.publicKey)
            #expect(shorter.first?.1?.contains("removed") == true || shorter.first?.1?.contains("rewritten") == true)
        }
    }

    @Test("a grant's proof checks offline: every event's content, hash and path to the signed root; any change to it fails")
    func grantProof() async throws {
        try await AuditDatabase.with { store, _ in
            _ = try await Demo(handler: CommandHandler(store: store)).load()
            let tree = HistoryTree(store: store)
            let checkpoint = try await tree.signCheckpoint(with: Self.signer)
            let grant = "grant-\(UUID.named("application/robotteknologi").uuidString.lowercased())"
            let bundle = try await tree.proof(of: grant)
            #expect(bundle.checkpoint == checkpoint && bundle.events.count >= 3)
            #expect(bundle.failures(trusting: Self.signer.publicKey).isEmpty, "\(bundle.failures(trusting: Self.signer.publicKey))")
            let size = try JSONEncoder().encode(bundle).count / bundle.events.count
            #expect(size < 4_000, "\(size) bytes an event")

            var changed = bundle
            changed.events[0].data = changed.events[0].data.replacingOccurrences(of: "300000.00", with: "3000000.00")
            #expect(!changed.failures(trusting: Self.signer.publicKey).isEmpty)
            changed = bundle
            changed.events[1].leafIndex += 1
            #expect(!changed.failures(trusting: Self.signer.publicKey).isEmpty)
            changed = bundle
            changed.checkpoint.root = String(repeating: "0", count: 64)
            #expect(!changed.failures(trusting: Self.signer.publicKey).isEmpty)
            #expect(!bundle.failures(trusting: CheckpointSigner(key: Curve25519.Signing.PrivateKey()).publicKey).isEmpty)
        }
    }
}
