import Accounts
import ArgumentParser
import Documents
import EventStore
import Foundation
import GrantCommands
import PostgresNIO
import Programmes

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Load the demo programmes and one user per role through the commands (running it again changes nothing).",
        discussion: "Prints how to sign in as each demo user. Their passwords are printed here and in the README: a demo only."
    )

    /// The demo users' passwords, by role: known to everyone, as a demo's must be.
    static func password(_ role: String) -> String { "demo-\(role)-2026" }

    func run() async throws {
        let environment = try Environment.load()
        let migrator = try environment.migrator()
        let summary = try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
            try await environment.migrate(migrator, client: client)
            let store = EventStore(client: client, logger: environment.logger)
            // The demo's documents are scanned as the server would scan them (GRANTLEDGER_VIRUS_SCAN).
            let documents = DemoDocuments(store: PostgresDocumentStore(client: client, logger: environment.logger),
                                          scanner: try await virusScanner(logger: environment.logger))
            let summary = try await Demo(handler: CommandHandler(store: store), documents: documents, progress: { print("demo: \($0)") }).load()
            let accounts = Accounts(store: store, hasher: PasswordHasher(cost: try bcryptCost()))
            for user in Demo.users {
                let id = CommandHandler.userId(email: user.email)
                if try await !accounts.hasPassword(userId: id) {
                    try await accounts.setPassword(userId: id, email: user.email, password: Self.password(user.grant.role.rawValue))
                }
            }
            return summary
        }
        print("demo: \(summary.commands) commands, \(summary.commands - summary.replayed) carried out, \(summary.replayed) already done")
        print("demo: sign in at \(publicURL())/sign-in as")
        for user in Demo.users {
            print("demo:   \(user.grant.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(user.email)  password \(Self.password(user.grant.role.rawValue))  (\(user.grant.description))")
        }
    }
}
