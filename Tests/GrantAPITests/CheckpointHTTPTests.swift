import Audit
import Crypto
import Foundation
import GrantAPI
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("HTTP: signed checkpoints and proofs")
struct CheckpointHTTPTests {
    @Test("Auditors sign checkpoints anyone may list; a beneficiary proves its grant against one, offline; the rules of each answer")
    func checkpointsAndProofs() async throws {
        let signer = CheckpointSigner(key: Curve25519.Signing.PrivateKey())
        try await Harness.with(checkpointSigner: signer) { api in
            let programme = try await Programme.create(api)
            let school = "Aalborg Tekniske Gymnasium"
            let application = try await programme.submittedApplication(school, requested: "300000.00")
            let meeting = try await programme.meeting([application])
            #expect(try await api.post("/v1/meetings/\(meeting)/decisions", try await programme.steeringToken("bo"),
                                       Programme.approval(application, amount: "300000.00", votes: ["bo", "carl"])).status == .created)
            let auditor = try await api.token(.auditor, subject: "auditor:rigsrevisionen")
            let applicant = try await programme.applicantToken(school)

            let proofPath = "/v1/audit/proofs/grants/\(application)"
            #expect(try await api.get(proofPath, auditor).rule == "no-checkpoint")
            #expect(try await api.post("/v1/audit/checkpoints", applicant).status == .forbidden)
            #expect(try await api.post("/v1/audit/checkpoints", nil).status == .unauthorized)
            let signed = try await api.post("/v1/audit/checkpoints", auditor)
            #expect(signed.status == .created, "\(signed.text)")
            let checkpoint = try JSONDecoder().decode(SignedCheckpoint.self, from: Data(signed.text.utf8))
            #expect(checkpoint.size == Int64(try await api.eventCount()) && checkpoint.signatureHolds(trusting: signer.publicKey))
            // Signing again with nothing new gives the same checkpoint, not a second one.
            let again = try JSONDecoder().decode(SignedCheckpoint.self, from: Data(try await api.post("/v1/audit/checkpoints", auditor).text.utf8))
            #expect(again == checkpoint)

            // Rows planted by whoever may insert them (an impossible size, another key, a broken signature) are never served.
            var planted = checkpoint
            planted.size = -1
            var otherKey = try CheckpointSigner(key: Curve25519.Signing.PrivateKey()).sign(size: 1_000_000, root: Data(count: 32), lastPosition: nil)
            otherKey.keyId = checkpoint.keyId
            var broken = checkpoint
            broken.size += 1_000
            for (index, document) in [planted, otherKey, broken].enumerated() {
                let text = String(decoding: try JSONEncoder().encode(document), as: UTF8.self)
                try await api.store.client.query("""
                    INSERT INTO signed_checkpoints (size, key_id, root, signed_at, document)
                    VALUES (\(900_000 + index), \(checkpoint.keyId), '\\x00'::bytea, now(), \(text)::json)
                    """, logger: Harness.logger)
            }
            let listed = try await api.get("/v1/audit/checkpoints", nil)
            #expect(listed.status == .ok)
            let list = try JSONDecoder().decode(ListedCheckpoints.self, from: Data(listed.text.utf8))
            #expect(list.checkpoints == [checkpoint] && list.publicKey == signer.publicKey)

            // The beneficiary's own grant: every event of it, provable with the public key alone.
            let proof = try await api.get(proofPath, applicant)
            #expect(proof.status == .ok, "\(proof.text)")
            let bundle = try JSONDecoder().decode(ProofBundle.self, from: Data(proof.text.utf8))
            let grantStream = "grant-\(application.lowercased())"
            #expect(bundle.checkpoint == checkpoint)
            #expect(bundle.failures(trusting: signer.publicKey, stream: grantStream).isEmpty && bundle.events.count >= 1)
            #expect(!bundle.failures(trusting: signer.publicKey, stream: "grant-\(UUID().uuidString.lowercased())").isEmpty)
            #expect(!ProofBundle(checkpoint: checkpoint, events: []).failures(trusting: signer.publicKey).isEmpty, "an empty proof proves nothing")
            #expect(bundle.events.allSatisfy { $0.stream == "grant-\(application.lowercased())" })
            #expect(proof.text.utf8.count < 16_384, "a proof is small: \(proof.text.utf8.count) bytes")
            var forged = bundle
            forged.events[0].data = forged.events[0].data.replacingOccurrences(of: "300000", with: "900000")
            #expect(!forged.failures(trusting: signer.publicKey).isEmpty)
            #expect(!bundle.failures(trusting: CheckpointSigner(key: Curve25519.Signing.PrivateKey()).publicKey).isEmpty)

            // Another school may not read this grant's proof; nor may anyone a grant that does not exist.
            let other = try await programme.applicantToken("Hjørring Gymnasium")
            #expect([.forbidden, .notFound].contains(try await api.get(proofPath, other).status))
            #expect(try await api.get("/v1/audit/proofs/grants/\(UUID())", auditor).status == .notFound)
            #expect(try await api.get("/v1/audit/proofs/grants/not-a-uuid", auditor).status == .badRequest)

            // Later events: a newer checkpoint extends the first, and the proof says so.
            _ = try await programme.submittedApplication("Hjørring Gymnasium", requested: "50000.00")
            let later = try JSONDecoder().decode(SignedCheckpoint.self, from: Data(try await api.post("/v1/audit/checkpoints", auditor).text.utf8))
            #expect(later.size > checkpoint.size)
            #expect(try await api.get("/v1/audit/proofs/consistency?from=\(checkpoint.size)&to=\(later.size)", nil).status == .unauthorized)
            let consistency = try await api.get("/v1/audit/proofs/consistency?from=\(checkpoint.size)&to=\(later.size)", applicant)
            #expect(consistency.status == .ok, "\(consistency.text)")
            let extends = try JSONDecoder().decode(ConsistencyProof.self, from: Data(consistency.text.utf8))
            #expect(extends.failures(between: checkpoint, and: later, trusting: signer.publicKey).isEmpty)
            #expect(!extends.failures(between: later, and: checkpoint, trusting: signer.publicKey).isEmpty)
            #expect(try await api.get("/v1/audit/proofs/consistency?from=\(later.size)&to=\(checkpoint.size)", auditor).rule == "invalid-value")
            #expect(try await api.get("/v1/audit/proofs/consistency?from=1&to=\(later.size + 1)", auditor).rule == "beyond-history",
                    "no further than the newest checkpoint")
            #expect(try await api.get("/v1/audit/proofs/consistency?from=0&to=1", auditor).status == .badRequest)
            #expect(try await api.get("/v1/audit/proofs/consistency?to=1", auditor).rule == "missing-field")
        }
    }

    @Test("A server without a signing key says so; it still lists what was signed")
    func noKey() async throws {
        try await Harness.with { api in
            let auditor = try await api.token(.auditor)
            let refused = try await api.post("/v1/audit/checkpoints", auditor)
            #expect(refused.status == .serviceUnavailable && refused.rule == "no-signing-key")
            let listed = try await api.get("/v1/audit/checkpoints", nil)
            #expect(listed.status == .ok && listed.json["checkpoints"] as? [Any] != nil && listed.json["publicKey"] == nil)
        }
    }
}

extension TestResponse {
    var rule: String? { json["rule"] as? String }
}

private struct ListedCheckpoints: Decodable {
    var checkpoints: [SignedCheckpoint]
    var publicKey: String?
}
