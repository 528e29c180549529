import EventStore
import Foundation
import Logging
import PostgresNIO

/// What every command reads from the environment.
struct Environment {
    var databaseURL: String
    /// The role that owns the schema and runs migrations, when the application's role (DATABASE_URL) is another.
    var ownerURL: String?
    var logger: Logger

    static func load(label: String = "grantledger") throws -> Environment {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            throw CommandFailure("DATABASE_URL is not set (ops/run sets it to the embedded PostgreSQL)")
        }
        let owner = ProcessInfo.processInfo.environment["GRANTLEDGER_OWNER_URL"].flatMap { $0.isEmpty || $0 == url ? nil : $0 }
        return Environment(databaseURL: url, ownerURL: owner, logger: logger)
    }

    /// Applies pending migrations: as the owner when there is one, granting
    /// `client`'s role what the application needs (db/functions/grant_application_role.sql); else through `client`.
    @discardableResult
    func migrate(_ migrator: Migrator, client: PostgresClient) async throws -> [String] {
        guard let ownerURL else { return try await migrator.migrate(client: client, logger: logger) }
        var current = ""
        for try await name in try await client.query("SELECT current_user::text", logger: logger).decode(String.self) { current = name }
        let role = current
        return try await PostgresClient.withRunning(try DatabaseURL.configuration(ownerURL), logger: logger) { owner in
            try await migrator.migrate(client: owner, applicationRole: role, logger: logger)
        }
    }

    func postgresConfiguration() throws -> PostgresClient.Configuration {
        try DatabaseURL.configuration(databaseURL)
    }

    func migrator() throws -> Migrator {
        guard let directory = Migrator.defaultDirectory() else {
            throw CommandFailure("migrations folder db/ not found; set GRANTLEDGER_MIGRATIONS")
        }
        return try Migrator(directory: directory)
    }
}

struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
