import ArgumentParser
import Bench
import EventStore
import Foundation
import PostgresNIO

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the hot paths beside raw PostgreSQL baselines in the same run; print a table and write JSON.",
        discussion: "Run it on a database of its own (ops/bench makes a throwaway cluster): it appends benchmark events, and runs the history workloads on a database it creates beside it and drops.")

    @Flag(help: "Small sizes, about 90 seconds in all.") var quick = false
    @Option(help: "Seconds per measured level.") var seconds: Int?
    @Option(help: "Pools in the generated history.") var pools: Int?
    @Option(help: "Applications per pool in the generated history (about 11 events each).") var applications: Int?
    @Option(help: "Where to write the figures as JSON.") var output = "bench/results.json"
    @Option(help: "Applications in the one pool whose as-of state is replayed (about 1.9 pool events each).") var bigPoolApplications: Int?
    @Option(help: "Seconds of commands at half the maximum rate while the read models follow (lag).") var lagSeconds: Int?
    @Option(help: "Comma-separated workloads: append (with its baselines; commands use them too), commands, hot-pool, lag, http (needs wrk), documents (needs psql), history; catch-up alone reads the history already in the database.")
    var only: String?
    @Flag(help: .hidden) var partOfRun = false

    func validate() throws {
        if let only {
            let unknown = Set(only.split(separator: ",").map(String.init)).subtracting(BenchOptions.allWorkloads)
            guard unknown.isEmpty else { throw ValidationError("unknown workloads \(unknown.sorted()); known: \(BenchOptions.allWorkloads.sorted())") }
        }
    }

    func run() async throws {
        var options = quick ? BenchOptions.quick : BenchOptions.standard
        if let seconds { options.seconds = seconds }
        if let lagSeconds { options.lagSeconds = lagSeconds }
        if let bigPoolApplications { options.bigPoolApplications = bigPoolApplications }
        options.serverExecutable = Bundle.main.executableURL?.path
        if let pools { options.pools = pools }
        if let applications { options.applicationsPerPool = applications }
        if let only { options.workloads = Set(only.split(separator: ",").map(String.init)) }
        let chosen = options
        let environment = try Environment.load()
        var configuration = try environment.postgresConfiguration()
        configuration.options.maximumConnections = 48
        let migrator = try environment.migrator()
        let report = try await PostgresClient.withRunning(configuration, logger: environment.logger) { client in
            try await environment.migrate(migrator, client: client)
            let store = EventStore(client: client, logger: environment.logger)
            let info = try await Self.runInfo(client, chosen)
            return try await Benchmark(store: store, logger: environment.logger, options: chosen).run(info: info)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(report).write(to: url)
        // A part of a larger run (see Benchmark.historyInOwnProcess) leaves the table to the whole.
        guard !partOfRun else { return }
        print(report.table)
        print("\nmeasured \(report.run.startedAt.formatted(.iso8601)) on \(report.run.machine), \(report.run.cores) cores, \(report.run.memoryGiB) GiB; "
              + "\(report.run.postgres); fsync=\(report.run.settings["fsync"] ?? "?"), synchronous_commit=\(report.run.settings["synchronous_commit"] ?? "?"); "
              + "commit \(report.run.commit)")
        FileHandle.standardError.write(Data("wrote \(output)\n".utf8))
    }

    static func runInfo(_ client: PostgresClient, _ options: BenchOptions) async throws -> RunInfo {
        var version = ""
        for try await text in try await client.query("SELECT version()").decode(String.self) { version = String(text.prefix(while: { $0 != "," })) }
        var settings: [String: String] = [:]
        for try await (name, value) in try await client.query("""
            SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections', 'wal_level', 'full_page_writes')
            """).decode((String, String).self) {
            settings[name] = value
        }
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return RunInfo(startedAt: Date(), commit: ProcessInfo.processInfo.environment["GL_COMMIT"] ?? "unknown", machine: cpu,
                       cores: ProcessInfo.processInfo.activeProcessorCount, memoryGiB: Int(ProcessInfo.processInfo.physicalMemory >> 30),
                       postgres: version, settings: settings,
                       sizes: ["seconds": options.seconds, "pools": options.pools, "applicationsPerPool": options.applicationsPerPool])
    }
}
