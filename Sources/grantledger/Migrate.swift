import ArgumentParser
import EventStore
import PostgresNIO

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the migrations of db/migrations not applied yet, and the files of db/functions that changed.")

    func run() async throws {
        let environment = try Environment.load()
        let migrator = try environment.migrator()
        let applied = try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
            try await environment.migrate(migrator, client: client)
        }
        print(applied.isEmpty
            ? "database is up to date (\(migrator.migrations.count) migrations, \(migrator.functions.count) function files)"
            : "applied \(applied.joined(separator: ", "))")
    }
}
