import ArgumentParser
import EventStore
import Foundation
import PostgresNIO
import Projections
import UnixSignals

struct Project: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the projection workers until interrupted.",
        discussion: "Several processes may run: one worker per projection is active, the others stand by and take over.")

    func run() async throws {
        let environment = try Environment.load()
        let migrator = try environment.migrator()
        try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
            try await environment.migrate(migrator, client: client)
            let store = EventStore(client: client, logger: environment.logger)
            let listener = try DatabaseURL.connectionConfiguration(environment.databaseURL)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await ProjectionRuntime(store: store, logger: environment.logger).run() }
                group.addTask { await store.runListener(listener) }
                group.addTask { await store.runNotifier() }
                group.addTask { try await waitForInterrupt() }
                try await group.next()
                group.cancelAll()
            }
        }
    }
}

struct Rebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild read models beside the live ones while writes continue, then swap them in atomically.",
        discussion: "With --verify, build beside the live model, compare row for row, report drift, and swap nothing.")

    @Argument(help: "The projection to rebuild (see `grantledger status`).") var name: String?
    @Flag(help: "Rebuild every projection.") var all = false
    @Flag(help: "Compare with the live model instead of swapping.") var verify = false

    func validate() throws {
        guard all != (name != nil) else { throw ValidationError("name one projection, or pass --all") }
        if let name, !allProjections.contains(where: { $0.name == name }) {
            throw ValidationError("unknown projection \(name); known: \(allProjections.map(\.name).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let environment = try Environment.load()
        let migrator = try environment.migrator()
        let selected = allProjections.filter { all || $0.name == name }
        let drifted = try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
            try await environment.migrate(migrator, client: client)
            let rebuilder = Rebuilder(store: EventStore(client: client, logger: environment.logger), logger: environment.logger)
            let meter = ProgressLine(label: verify ? "verify" : "rebuild")
            let summaries = try await rebuilder.rebuildAll(selected, verify: verify, progress: meter.show) { summary in
                meter.clear()
                if verify {
                    let drift = summary.drift.filter { $0.value > 0 }
                    print("\(summary.projection): \(summary.events) events checked in \(summary.elapsed.formatted(.units(allowed: [.seconds, .milliseconds]))), "
                          + (drift.isEmpty ? "no drift" : "DRIFT in " + drift.map { "\($0.key) (\($0.value) rows)" }.sorted().joined(separator: ", ")))
                } else {
                    let rate = Double(summary.events) / max(Double(summary.elapsed.components.seconds) + Double(summary.elapsed.components.attoseconds) / 1e18, 0.001)
                    print("\(summary.projection): generation \(summary.generation) live, \(summary.events) events in "
                          + "\(summary.elapsed.formatted(.units(allowed: [.seconds, .milliseconds]))) (\(Int(rate)) events/s)")
                }
            }
            let drifted = summaries.reduce(0) { $0 + $1.drift.values.filter { $0 > 0 }.count }
            return drifted
        }
        if drifted > 0 { throw ExitCode(1) }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each projection's position, lag and state.")

    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let environment = try Environment.load()
        let statuses = try await PostgresClient.withRunning(try environment.postgresConfiguration(), logger: environment.logger) { client in
            try await ProjectionRuntime(store: EventStore(client: client, logger: environment.logger), logger: environment.logger).status()
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(statuses), as: UTF8.self))
            return
        }
        if statuses.isEmpty { print("no projection has run yet: start `grantledger project` or `grantledger serve`") }
        print("projection".padding(toLength: 16, withPad: " ", startingAt: 0), "gen", "state".padding(toLength: 9, withPad: " ", startingAt: 0),
              "checkpoint".padding(toLength: 18, withPad: " ", startingAt: 0), "behind", "seconds")
        for status in statuses {
            print(status.name.padding(toLength: 16, withPad: " ", startingAt: 0), String(status.generation).padding(toLength: 3, withPad: " ", startingAt: 0),
                  status.state.padding(toLength: 9, withPad: " ", startingAt: 0), status.checkpoint.description.padding(toLength: 18, withPad: " ", startingAt: 0),
                  String(status.eventsBehind).padding(toLength: 6, withPad: " ", startingAt: 0), String(format: "%.1f", status.secondsBehind),
                  status.error.map { "  failed at \(status.failedPosition ?? 0): \($0)" } ?? "")
        }
    }
}

/// One line of progress on a terminal, rewritten in place: done, rate, ETA.
final class ProgressLine: Sendable {
    let label: String
    init(label: String) { self.label = label }

    /// One line for all projections: each one's share done, and the slowest one's time left.
    func show(_ progress: [String: RebuildProgress]) {
        let parts = progress.keys.sorted().compactMap { name in
            progress[name].map { "\(name) \($0.eventsTotal > 0 ? 100 * $0.eventsDone / $0.eventsTotal : 100)%" }
        }
        let eta = (progress.values.map(\.remaining).max() ?? .zero).formatted(.units(allowed: [.minutes, .seconds], width: .narrow))
        FileHandle.standardError.write(Data("\r\(label): \(parts.joined(separator: ", ")), ETA \(eta)   ".utf8))
    }

    /// Clears the line, for a line of output.
    func clear() { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
}

/// Returns when the process gets SIGINT or SIGTERM.
func waitForInterrupt() async throws {
    for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
        ShutdownDeadline.arm()
        return
    }
}

/// Whatever the database does (down, unreachable, a statement that never
/// answers), a process told to stop ends within ``limit``: if shutting down
/// gracefully has not finished by then, it exits with status 1.
enum ShutdownDeadline {
    static let limit = 10

    static func arm() {
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(limit)) {
            FileHandle.standardError.write(Data("grantledger: shutdown did not complete within \(limit) s; exiting\n".utf8))
            exit(1)
        }
    }
}
