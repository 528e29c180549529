import ArgumentParser
import Audit
import EventStore
import Foundation
import PostgresNIO

/// Runs `body` with a store on DATABASE_URL, after migrating.
func withStore<Result: Sendable>(_ body: @Sendable (EventStore) async throws -> Result) async throws -> Result {
    let environment = try Environment.load()
    let migrator = try environment.migrator()
    return try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
        try await migrator.migrate(client: client, logger: environment.logger)
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
        discussion: "Exits 1 when a link is broken. Progress on stderr, the report (JSON) on stdout.")

    func run() async throws {
        let started = ContinuousClock.now
        let report = try await withStore { store in
            try await Verifier(store: store).verify { checked, total in
                FileHandle.standardError.write(Data("\rverify: \(checked)/\(total) events checked (\(100 * checked / max(total, 1)) %)   ".utf8))
            }
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        FileHandle.standardError.write(Data(String(format: "\nverify: %lld events, %lld streams, %lld ledger entries in %.1f s (%.0f events/s): %@\n",
                                                   report.eventsChecked, report.streamsChecked, report.ledgerEntriesChecked, seconds,
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
