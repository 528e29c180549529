import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import PostgresNIO
import Testing
import TestSupport

/// A command handler on the real PostgreSQL that `ops/test` provides.
enum TestDatabase {
    static let logger = TestDatabases.logger("test")

    static func withHandler<Result: Sendable>(_ body: @Sendable (CommandHandler) async throws -> Result) async throws -> Result {
        try await TestDatabases.withShared(logger: logger) { client in
            try await body(CommandHandler(store: EventStore(client: client, logger: logger)))
        }
    }

    static func admin(_ key: String? = nil) -> CommandContext {
        CommandContext(actor: "admin-1", role: "admin", actingAs: .unrestricted, idempotency: key.map { Idempotency(key: $0, fingerprint: CommandContext.fingerprint($0)) })
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
