import ArgumentParser
import EventStore
import Foundation
import GrantCommands

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load a history, such as a programme's past years, in one transaction.",
        discussion: """
            The file holds one event per line (JSON Lines), each stream's events in order:
            {"stream": "pool-<uuid>", "type": "PoolCreated", "schemaVersion": 1, "occurredAt": "2024-01-02T09:00:00Z", "data": {...}, "metadata": {"actor": "..."}}
            (schemaVersion and metadata may be left out). Only streams the store does not hold yet; every payload must decode as its type.
            Any fault names its line and leaves the store as it was. Progress on stderr, the summary on stdout.
            """)

    @Argument(help: "The JSON Lines file to import.") var file: String

    func run() async throws {
        let url = URL(fileURLWithPath: file)
        let clock = ContinuousClock(), started = clock.now
        let summary = try await withStore { store in
            try await HistoryFile.importFile(url, into: store) { events in
                FileHandle.standardError.write(Data("\rimport: \(events) events   ".utf8))
            }
        }
        let seconds = (clock.now - started) / .seconds(1)
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        print(String(format: "imported %d events in %d streams in %.1f s (%.0f events/s), transaction %lld; read models follow as their workers run",
                     summary.events, summary.streams, seconds, Double(summary.events) / max(seconds, 0.001), summary.transactionId))
    }
}

struct ExportHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-history",
        abstract: "Write the whole history, in commit order, as the JSON Lines `grantledger import` reads.",
        discussion: """
            One event per line, payload and metadata as stored. Imported into an empty store it verifies; the
            recording times become the import's. Events still being written when it starts are left for the next run.
            It does not migrate the database, so it also reads one made before the current baseline, to carry its history over.
            """)

    @Argument(help: "The file to write (standard output if left out).") var file: String?

    func run() async throws {
        let output: FileHandle
        if let file {
            guard FileManager.default.createFile(atPath: file, contents: nil), let handle = FileHandle(forWritingAtPath: file) else {
                throw CommandFailure("\(file) cannot be written")
            }
            output = handle
        } else {
            output = .standardOutput
        }
        defer { if file != nil { try? output.close() } }
        let events = try await withStore(migrating: false) { store in
            try await HistoryFile.export(from: store, to: output) { events in
                FileHandle.standardError.write(Data("\rexport-history: \(events) events   ".utf8))
            }
        }
        FileHandle.standardError.write(Data("\r\u{1B}[Kexport-history: \(events) events written\n".utf8))
    }
}
