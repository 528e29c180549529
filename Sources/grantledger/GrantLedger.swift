import ArgumentParser
import PostgresNIO

@main
struct GrantLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grantledger",
        abstract: "Event-sourced grant and project management.",
        subcommands: [Migrate.self, Serve.self, Project.self, Rebuild.self, Status.self, DemoCommand.self, Token.self, Import.self, ExportHistory.self, Replay.self, Verify.self, CheckpointCommand.self, ProofCommand.self, VerifyProof.self, Export.self, AuditPackCommand.self, VerifyPack.self, Users.self, BenchCommand.self]
    )

    /// Runs the command; a database error is shown with the server's
    /// message, which PostgresNIO leaves out of its plain description.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as PSQLError {
            exit(withError: DatabaseFailure(description: String(reflecting: error)))
        } catch {
            exit(withError: error)
        }
    }
}

/// A database error as the server reported it.
struct DatabaseFailure: Error, CustomStringConvertible {
    var description: String
}
