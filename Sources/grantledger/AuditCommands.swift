import ArgumentParser
import Audit
import EventStore
import Foundation
import PostgresNIO

/// Runs `body` with a store on DATABASE_URL, after migrating.
/// The store of DATABASE_URL, migrated first unless `migrating` is false
/// (a command that only reads the history, and must read one that the
/// migrations refuse, to carry it over).
func withStore<Result: Sendable>(migrating: Bool = true, _ body: @Sendable (EventStore) async throws -> Result) async throws -> Result {
    let environment = try Environment.load()
    let migrator = migrating ? try environment.migrator() : nil
    return try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
        if let migrator { try await environment.migrate(migrator, client: client) }
        return try await body(EventStore(client: client, logger: environment.logger))
    }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A pool's or a grant's state as of an instant, by replaying its stream through the domain.",
        discussion: "--as-of takes an RFC 3339 time or a date (its end, UTC). --basis recorded (default): what the system showed then; occurred: what was true then, including facts recorded later.")

    enum Kind: String, ExpressibleByArgument, CaseIterable { case pool, grant }

    @Argument(help: "pool or grant") var kind: Kind
    @Argument(help: "The pool's or grant's id.") var id: String
    @Option(name: .customLong("as-of"), help: "The instant (default: now).") var asOf: String?
    @Option(help: "recorded or occurred.") var basis: String = "recorded"

    func validate() throws {
        guard UUID(uuidString: id) != nil else { throw ValidationError("\(id) is not a UUID") }
        guard TimeBasis(rawValue: basis) != nil else { throw ValidationError("--basis must be recorded or occurred") }
        if let asOf, case .failure(let invalid) = AsOfInstant.parse(asOf) {
            throw ValidationError("--as-of must be a date (2021-12-31) or an RFC 3339 time: \(invalid.reason)")
        }
    }

    func run() async throws {
        let id = UUID(uuidString: id)!, at = asOf.flatMap { try? AsOfInstant.parse($0).get() } ?? Date(), basis = TimeBasis(rawValue: basis)!
        let kind = kind
        try await withStore { store in
            let replay = AsOfReplay(store: store)
            switch kind {
            case .pool: try printJSON(try await replay.pool(id, asOf: at, basis: basis))
            case .grant: try printJSON(try await replay.grant(id, asOf: at, basis: basis))
            }
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute every stream's hash chain and the audit ledger's chain; name the first broken link.",
        discussion: """
            Exits 1 when a link is broken. Progress on stderr, the report (JSON) on stdout.
            With --checkpoints FILE (signed checkpoints kept outside the database, one JSON object a line or a JSON array),
            also proves the history still extends each of them: a rewrite by anyone, the database's superuser included,
            is caught back to the newest checkpoint the file holds. Pin the signer with --key (its public key, base64).
            """)

    @Option(help: "Signed checkpoints to hold the history to (JSON Lines or a JSON array).") var checkpoints: String?
    @Option(help: "The public key (base64) the checkpoints must be signed with (required with --checkpoints).") var key: String?

    func run() async throws {
        if let checkpoints {
            guard let key else { throw CommandFailure("--checkpoints needs --key: the public key you trust (grantledger checkpoint --public-key)") }
            let kept = try readCheckpoints(checkpoints)
            let results = try await withStore { store in try await HistoryTree(store: store).check(kept, trusting: key) }
            var broken = 0
            for (checkpoint, failure) in results {
                if let failure { broken += 1 }
                FileHandle.standardError.write(Data("checkpoint of \(checkpoint.size) events signed \(checkpoint.signedAt) by \(checkpoint.keyId): \(failure ?? "the history extends it")\n".utf8))
            }
            if broken > 0 { throw ExitCode(1) }
        }
        let started = ContinuousClock.now
        let report = try await withStore { store in
            try await Verifier(store: store).verify { checked, total in
                FileHandle.standardError.write(Data("\rverify: \(checked)/\(total) events checked (\(100 * checked / max(total, 1)) %)   ".utf8))
            }
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        FileHandle.standardError.write(Data(String(format: "\nverify: %lld events, %lld streams, %lld ledger entries, %lld documents in %.1f s (%.0f events/s): %@\n",
                                                   report.eventsChecked, report.streamsChecked, report.ledgerEntriesChecked, report.documentsChecked, seconds,
                                                   Double(report.eventsChecked) / max(seconds, 0.001),
                                                   report.ok ? "intact" : "\(report.brokenLinkCount) broken link(s)").utf8))
        try printJSON(report)
        if !report.ok { throw ExitCode(1) }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A pool's funding history, one row per money movement, to stdout (streamed).")

    @Option(help: "The pool's id.") var pool: String
    @Option(help: "csv or json.") var format: String = "csv"

    func validate() throws {
        guard UUID(uuidString: pool) != nil else { throw ValidationError("--pool must be a UUID") }
        guard FundingExport.Format(rawValue: format) != nil else { throw ValidationError("--format must be csv or json") }
    }

    func run() async throws {
        let pool = UUID(uuidString: pool)!, format = FundingExport.Format(rawValue: format)!
        try await withStore { store in
            let export = FundingExport(store: store)
            guard try await export.exists(pool: pool) else { throw CommandFailure("pool \(pool) not found") }
            try await export.write(pool: pool, format: format) { chunk in FileHandle.standardOutput.write(Data(chunk.utf8)) }
        }
    }
}

/// Checkpoints from a file: one JSON object a line, or one JSON array.
func readCheckpoints(_ path: String) throws -> [SignedCheckpoint] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    if let array = try? JSONDecoder().decode([SignedCheckpoint].self, from: data) { return array }
    return try String(decoding: data, as: UTF8.self).split(separator: "\n").filter { !$0.allSatisfy(\.isWhitespace) }.enumerated().map { index, line in
        do { return try JSONDecoder().decode(SignedCheckpoint.self, from: Data(line.utf8)) } catch {
            throw CommandFailure("\(path) line \(index + 1) is not a signed checkpoint: \(error)")
        }
    }
}

/// The deployment's checkpoint signing key: GRANTLEDGER_SIGNING_KEY (a file), else .data/signing.key, made once.
func checkpointSigner() throws -> CheckpointSigner {
    if let path = ProcessInfo.processInfo.environment["GRANTLEDGER_SIGNING_KEY"], !path.isEmpty {
        return try CheckpointSigner.load(URL(fileURLWithPath: path))
    }
    let root = Migrator.defaultDirectory()?.deletingLastPathComponent() ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    return try CheckpointSigner.load(root.appendingPathComponent(".data/signing.key"))
}

struct CheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Sign the history as it stands (the Merkle root of every event in commit order) and print the checkpoint.",
        discussion: """
            Signed with GRANTLEDGER_SIGNING_KEY (a file holding an Ed25519 key), or .data/signing.key, made once; keep the key
            out of the database and its backups. Keep the printed line anywhere outside the database: grantledger verify
            --checkpoints FILE holds the history to it. `serve` also signs on its own (GRANTLEDGER_CHECKPOINT_INTERVAL).
            """)

    @Flag(help: "Print only the signing key's public half (base64), to pin in verify --key.") var publicKey = false

    func run() async throws {
        let signer = try checkpointSigner()
        if publicKey {
            print(signer.publicKey)
            return
        }
        let started = ContinuousClock.now
        let checkpoint = try await withStore { store in try await HistoryTree(store: store).signCheckpoint(with: signer) }
        FileHandle.standardError.write(Data("checkpoint: \(checkpoint.size) events signed in \((ContinuousClock.now - started).formatted(.units(allowed: [.seconds, .milliseconds])))\n".utf8))
        print(String(decoding: try JSONEncoder.sortedKeys.encode(checkpoint), as: UTF8.self))
    }
}

struct ProofCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proof",
        abstract: "Print the proof that a grant's events (or any stream's) are in the history the newest signed checkpoint covers.",
        discussion: "About 2 KB an event at a million events; `grantledger verify-proof FILE --key KEY` checks it without the database.")

    @Argument(help: "A grant's id, or a stream id (pool-<uuid>, ...).") var id: String

    func run() async throws {
        let stream = UUID(uuidString: id).map { "grant-\($0.uuidString.lowercased())" } ?? id
        let bundle = try await withStore { store in try await HistoryTree(store: store).proof(of: stream) }
        print(String(decoding: try JSONEncoder.sortedKeys.encode(bundle), as: UTF8.self))
    }
}

struct VerifyProof: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-proof",
        abstract: "Check a proof from `grantledger proof` or GET /v1/audit/proofs/... offline, against a public key you trust.",
        discussion: """
            A grant's proof: the checkpoint's signature, each event's content, hash and path to the signed root, and the
            stream's chain from its first event with none left out (--grant or --stream: that it is the one you asked for).
            A consistency proof (GET /v1/audit/proofs/consistency): give the two signed checkpoints it joins in --checkpoints.
            Exits 1 when anything fails.
            """)

    @Argument(help: "The proof (JSON).") var file: String
    @Option(help: "The public key (base64) the checkpoints must be signed with: `grantledger checkpoint --public-key`.") var key: String
    @Option(help: "The grant the proof must be of.") var grant: String?
    @Option(help: "The stream the proof must be of (instead of --grant).") var stream: String?
    @Option(help: "For a consistency proof: the signed checkpoints it joins (JSON Lines or a JSON array).") var checkpoints: String?

    func run() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        if let consistency = try? JSONDecoder().decode(ConsistencyProof.self, from: data) {
            guard let checkpoints else { throw CommandFailure("a consistency proof is checked against the two checkpoints it joins: pass --checkpoints FILE") }
            let kept = try readCheckpoints(checkpoints)
            guard let earlier = kept.first(where: { $0.size == consistency.from }), let later = kept.first(where: { $0.size == consistency.to }) else {
                throw CommandFailure("\(checkpoints) holds no checkpoint of \(consistency.from) and of \(consistency.to) events")
            }
            try report(consistency.failures(between: earlier, and: later, trusting: key),
                       "the history of \(later.size) events signed \(later.signedAt) extends the one of \(earlier.size) signed \(earlier.signedAt)")
            return
        }
        let bundle = try JSONDecoder().decode(ProofBundle.self, from: data)
        let expected = try grant.map { grant in
            guard let id = UUID(uuidString: grant) else { throw CommandFailure("--grant must be a grant's id (a UUID)") }
            return "grant-\(id.uuidString.lowercased())"
        } ?? stream
        try report(bundle.failures(trusting: key, stream: expected),
                   "\(bundle.events.count) event(s) of \(bundle.events.first?.stream ?? "") are in the history of \(bundle.checkpoint.size) events signed \(bundle.checkpoint.signedAt) by key \(bundle.checkpoint.keyId)")
    }

    private func report(_ failures: [String], _ success: String) throws {
        for failure in failures { FileHandle.standardError.write(Data("verify-proof: \(failure)\n".utf8)) }
        guard failures.isEmpty else { throw ExitCode(1) }
        print(success)
    }
}


struct AuditPackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit-pack",
        abstract: "One grant's evidence as a ZIP: decision trail (JSON, HTML), money movements (CSV), every document attached, and a manifest.",
        discussion: "Check it anywhere, without the database, with `grantledger verify-pack FILE`.")

    @Argument(help: "The grant's id.") var grant: String
    @Option(name: .shortAndLong, help: "The ZIP to write (default: grant-ID.zip).") var output: String?

    func validate() throws {
        guard UUID(uuidString: grant) != nil else { throw ValidationError("\(grant) is not a UUID") }
    }

    func run() async throws {
        let id = UUID(uuidString: grant)!
        let url = URL(fileURLWithPath: output ?? "grant-\(id.uuidString.lowercased()).zip")
        let manifest = try await withStore { store in try await AuditPack(store: store).write(grantId: id, to: url) }
        let documents = manifest.files.filter { $0.recordedBy != nil }
        FileHandle.standardError.write(Data("audit-pack: \(url.path): \(manifest.files.count) files, \(documents.count) documents (\(documents.reduce(0) { $0 + $1.size }) bytes)\n".utf8))
    }
}

struct VerifyPack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-pack",
        abstract: "Checks an audit pack offline: every file against the SHA-256 its manifest lists, nothing missing, nothing added.",
        discussion: "Exits 1 naming each difference. The manifest names the events that attached each document, with their hashes: check those against the history (`grantledger verify-proof`).")

    @Argument(help: "The audit pack (ZIP).") var file: String

    func run() async throws {
        let check = try AuditPack.verify(packAt: URL(fileURLWithPath: file))
        FileHandle.standardError.write(Data("verify-pack: \(check.filesChecked) files (\(check.documentsChecked) documents): \(check.ok ? "intact" : "\(check.problems.count) problem(s)")\n".utf8))
        try printJSON(check)
        if !check.ok { throw ExitCode(1) }
    }
}
