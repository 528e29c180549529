import EventStore
import Foundation
import Logging
import PostgresNIO

/// What every command reads from the environment.
struct Environment {
    var databaseURL: String
    var logger: Logger

    static func load(label: String = "grantledger") throws -> Environment {
        var logger = Logger(label: label)
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            throw CommandFailure("DATABASE_URL is not set (ops/run sets it to the embedded PostgreSQL)")
        }
        return Environment(databaseURL: url, logger: logger)
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
