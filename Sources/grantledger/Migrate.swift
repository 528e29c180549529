import ArgumentParser
import EventStore
import PostgresNIO

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the SQL migrations in db/ that are not applied yet.")

    func run() async throws {
        let environment = try Environment.load()
        let migrator = try environment.migrator()
        let applied = try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
            try await environment.migrate(migrator, client: client)
        }
        print(applied.isEmpty
            ? "database is up to date (\(migrator.migrations.count) migrations)"
            : "applied \(applied.count) migration(s): \(applied.joined(separator: ", "))")
    }
}
