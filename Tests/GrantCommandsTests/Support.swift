import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import PostgresNIO
import Testing

/// A command handler on the real PostgreSQL that `ops/test` provides.
enum TestDatabase {
    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    static var migrationsDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("db")
    }

    static func withHandler<Result: Sendable>(_ body: @Sendable (CommandHandler) async throws -> Result) async throws -> Result {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through ops/test")
            throw CancellationError()
        }
        return try await PostgresClient.withRunning(try DatabaseURL.configuration(url), logger: logger) { client in
            try await Migrator(directory: migrationsDirectory).migrate(client: client, logger: logger)
            return try await body(CommandHandler(store: EventStore(client: client, logger: logger)))
        }
    }

    static func admin(_ key: String? = nil) -> CommandContext {
        CommandContext(actor: "admin-1", role: "admin", idempotency: key.map { Idempotency(key: $0, fingerprint: CommandContext.fingerprint($0)) })
    }

    static func load<A: Aggregate>(_ type: A.Type, _ id: UUID, _ handler: CommandHandler) async throws -> Loaded<A> {
        try await Session(store: handler.store).load(type, id)
    }

    /// Events in the streams of these ids, whatever their kind: other tests append meanwhile.
    static func count(_ handler: CommandHandler, streamsOf ids: [UUID]) async throws -> Int {
        let patterns = ids.map { "%\($0.uuidString.lowercased())" }
        for try await count in try await handler.store.client.query("SELECT count(*) FROM events WHERE stream_id LIKE ANY(\(patterns))").decode(Int.self) {
            return count
        }
        return 0
    }
}
