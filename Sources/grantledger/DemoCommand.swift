import ArgumentParser
import EventStore
import GrantCommands
import PostgresNIO

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Load the demo programmes through the commands (running it again changes nothing)."
    )

    func run() async throws {
        let environment = try Environment.load()
        let migrator = try environment.migrator()
        let summary = try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
            try await environment.migrate(migrator, client: client)
            let handler = CommandHandler(store: EventStore(client: client, logger: environment.logger))
            return try await Demo(handler: handler, progress: { print("demo: \($0)") }).load()
        }
        print("demo: \(summary.commands) commands, \(summary.commands - summary.replayed) carried out, \(summary.replayed) already done")
    }
}
