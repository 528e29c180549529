import ArgumentParser

@main
struct GrantLedger: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grantledger",
        abstract: "Event-sourced grant and project management.",
        subcommands: [Migrate.self, Serve.self, Project.self, Rebuild.self, Status.self, DemoCommand.self, Token.self, Replay.self, Verify.self, Export.self, BenchCommand.self]
    )
}
