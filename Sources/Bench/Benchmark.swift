import Audit
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import NIOCore
import PostgresNIO
import Projections
import Synchronization

/// How big and how long.
public struct BenchOptions: Sendable {
    /// Seconds per measured level (append, commands, hot pool).
    public var seconds: Int
    /// The generated history read, verified and rebuilt: pools × applications (about 11 events each).
    public var pools: Int
    public var applicationsPerPool: Int
    public var writers: [Int]
    /// Which workloads run: append, commands, hot-pool, lag, http, documents, history.
    public var workloads: Set<String> = Self.allWorkloads

    /// Seconds of commands at half the measured maximum rate while read models follow.
    public var lagSeconds: Int
    /// Applications in the one pool whose as-of state is replayed (about 1.9 pool events each).
    public var bigPoolApplications: Int
    /// The `grantledger` executable the HTTP workload serves with.
    public var serverExecutable: String?

    public static let allWorkloads: Set<String> = ["append", "commands", "hot-pool", "lag", "http", "documents", "history", "catch-up"]
    public static let quick = BenchOptions(seconds: 2, lagSeconds: 5, pools: 8, applicationsPerPool: 200, bigPoolApplications: 2_000, writers: [1, 4, 16])
    public static let standard = BenchOptions(seconds: 10, lagSeconds: 30, pools: 48, applicationsPerPool: 2_000, bigPoolApplications: 53_000,
                                              writers: [1, 4, 16])

    public init(seconds: Int, lagSeconds: Int, pools: Int, applicationsPerPool: Int, bigPoolApplications: Int, writers: [Int]) {
        self.seconds = seconds
        self.lagSeconds = lagSeconds
        self.bigPoolApplications = bigPoolApplications
        self.pools = pools
        self.applicationsPerPool = applicationsPerPool
        self.writers = writers
    }
}

/// Every hot path beside a raw PostgreSQL baseline, on the same database and
/// driver in the same run.
public struct Benchmark: Sendable {
    let store: EventStore
    /// One handler for every command, as `serve` has.
    let handler: CommandHandler
    let logger: Logger
    let options: BenchOptions
    let tag = String(UUID().uuidString.prefix(8)).lowercased()

    public init(store: EventStore, logger: Logger, options: BenchOptions) {
        self.store = store
        self.handler = CommandHandler(store: store)
        self.logger = logger
        self.options = options
    }

    var duration: Duration { .seconds(options.seconds) }

    public func run(info: RunInfo) async throws -> BenchReport {
        var figures: [Figure] = []
        try await store.client.query("CREATE TABLE IF NOT EXISTS bench_events (LIKE events INCLUDING ALL)", logger: logger)
        try await store.client.query("CREATE TABLE IF NOT EXISTS bench_heads (LIKE streams INCLUDING ALL)", logger: logger)

        // Appends, and the plain and the serialised INSERT of the same rows.
        var baselineA: [Int: Double] = [:]
        var single16 = 0.0
        for writers in options.writers where options.workloads.contains("append") || options.workloads.contains("commands") {
            let (storeRate, storeLatency) = try await measure("append W=\(writers)", writers) { writer, index in
                try await appendThroughStore("append-\(writers)", writer, index)
            }
            let (plainRate, plainLatency) = try await measure("baseline A W=\(writers)", writers) { writer, index in
                try await plainInsert("plain-\(writers)", writer, index, locked: false)
            }
            let (lockedRate, _) = try await measure("baseline B W=\(writers)", writers) { writer, index in
                try await plainInsert("locked-\(writers)", writer, index, locked: true)
            }
            let (versionedRate, _) = try await measure("baseline C W=\(writers)", writers) { writer, _ in
                try await versionedInsert("versioned-\(writers)", writer)
            }
            baselineA[writers] = plainRate
            var figure = Figure(figure: "append W=\(writers)", value: storeRate, unit: "events/s", baseline: plainRate, baselineName: "A: INSERT",
                                ratio: storeRate / plainRate, target: writers == 16 ? "≥ 0.9" : nil)
            storeLatency.annotate(&figure)
            figures.append(figure)
            var plain = Figure(figure: "baseline A: INSERT W=\(writers)", value: plainRate, unit: "rows/s")
            plainLatency.annotate(&plain)
            figures.append(plain)
            figures.append(Figure(figure: "append W=\(writers) vs baseline B", value: storeRate, unit: "events/s", baseline: lockedRate,
                                  baselineName: "B: LOCK TABLE + INSERT", ratio: storeRate / lockedRate, target: writers == 16 ? "≥ 5" : nil))
            figures.append(Figure(figure: "append W=\(writers) vs baseline C", value: storeRate, unit: "events/s", baseline: versionedRate,
                                  baselineName: "C: INSERT + stream head upsert", ratio: storeRate / versionedRate))
        }
        if options.writers.contains(16), options.workloads.contains("append") || options.workloads.contains("hot-pool") {
            let (rate, latency) = try await measure("one-stream append W=16", 16) { _, _ in try await appendToOneStream() }
            single16 = rate
            var figure = Figure(figure: "append W=16, one stream", value: rate, unit: "events/s")
            latency.annotate(&figure)
            figures.append(figure)
        }

        // Commands over many pools, a few of them hot.
        let needsCalls = options.workloads.contains("commands") || options.workloads.contains("lag")
        let calls = needsCalls ? try await setUpCalls(count: 16) : []
        var commands16: Double?
        for writers in options.writers where options.workloads.contains("commands") {
            let (rate, latency) = try await measure("commands W=\(writers)", writers) { writer, index in
                try await draftApplication(calls, writer: writer, index: index)
            }
            if writers == 16 { commands16 = rate }
            var figure = Figure(figure: "commands W=\(writers) (draft application)", value: rate, unit: "commands/s", baseline: baselineA[writers],
                                baselineName: "A: INSERT", ratio: baselineA[writers].map { rate / $0 }, target: writers == 16 ? "≥ 0.7" : nil)
            latency.annotate(&figure)
            figures.append(figure)
        }

        if options.writers.contains(16), options.workloads.contains("hot-pool") { figures += try await hotPool(oneStream: single16) }
        if options.workloads.contains("lag") {
            var maximum = commands16 ?? 0
            if commands16 == nil {
                maximum = try await measure("commands W=16", 16) { writer, index in
                    try await draftApplication(calls, writer: writer, index: index)
                }.0
            }
            figures += try await lag(calls: calls, rate: maximum / 2)
        }
        if options.workloads.contains("http"), let server = options.serverExecutable {
            figures += try await HTTPWorkload(benchmark: self, server: URL(fileURLWithPath: server), seconds: options.seconds).run()
        }
        if options.workloads.contains("documents"), let server = options.serverExecutable {
            figures += try await DocumentsWorkload(benchmark: self, server: URL(fileURLWithPath: server)).run()
        }
        if options.workloads.contains("history") {
            if let own = try await historyInOwnProcess() { figures += own } else { figures += try await history() }
        } else if options.workloads.contains("catch-up") {
            figures += try await catchUp().figures
        }
        return BenchReport(run: info, figures: figures)
    }

    // MARK: Measuring

    /// `writers` loops for the configured time, each iteration one timed
    /// operation given its writer and iteration number: operations per second and latencies.
    func measure(_ label: String, _ writers: Int, _ operation: @escaping @Sendable (Int, Int) async throws -> Void) async throws -> (Double, Latencies) {
        let progress = Progress(label: label)
        let clock = ContinuousClock(), started = clock.now, deadline = started + duration
        let results = try await withThrowingTaskGroup(of: (Int, Latencies).self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var latencies = Latencies()
                    var index = 0
                    while clock.now < deadline {
                        let start = clock.now
                        do { try await operation(writer, index) } catch is NoMoreWork { break }
                        latencies.record(clock.now - start)
                        index += 1
                        if writer == 0, index % 200 == 0 { progress.show("\(index * writers) operations") }
                    }
                    return (index, latencies)
                }
            }
            return try await group.reduce(into: [(Int, Latencies)]()) { $0.append($1) }
        }
        let elapsed = (clock.now - started) / .seconds(1)
        var latencies = Latencies()
        for (_, writerLatencies) in results { latencies.add(writerLatencies) }
        let rate = Double(results.map(\.0).reduce(0, +)) / elapsed
        progress.done(String(format: "%.0f/s, p99 %.2f ms", rate, latencies.ms(99)))
        return (rate, latencies)
    }
}

/// Thrown by a measured operation when its work has run out: the writer stops.
struct NoMoreWork: Error {}

/// A shared count for concurrent writers.
final class Counter: Sendable {
    private let state = Mutex(0)
    var value: Int { state.withLock { $0 } }
    @discardableResult func increment(by amount: Int = 1) -> Int { state.withLock { $0 += amount; return $0 } }
}

extension Benchmark {
    /// Runs `grantledger arguments` to its end, with `extra` added to this
    /// process's environment; its wall time and peak resident memory,
    /// VmHWM read from /proc every 100 ms while it runs.
    /// (wait4's ru_maxrss would count this process's pages too: the spawned
    /// child shares them until exec, and Linux keeps that high-water mark.)
    /// The wait runs on a thread of its own, not on the concurrency pool.
    static func runMeasured(_ executable: String, _ arguments: [String],
                            environment extra: [String: String] = [:]) async throws -> (seconds: Double, peakMB: Double) {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let environment = ProcessInfo.processInfo.environment.merging(["LOG_LEVEL": "error"].merging(extra) { $1 }) { $1 }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let clock = ContinuousClock(), started = clock.now
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, nil, nil, argv, envp)
        guard spawned == 0 else { throw BenchFailure("could not start \(executable): \(String(cString: strerror(spawned)))") }
        let child = pid
        let (status, peakKB) = await withCheckedContinuation { (done: CheckedContinuation<(Int32, Double), Never>) in
            Thread {
                var status: Int32 = 0
                var peakKB = 0.0
                while true {
                    peakKB = max(peakKB, highWaterMarkKB(child) ?? 0)
                    let waited = waitpid(child, &status, WNOHANG)
                    if waited == child || (waited == -1 && errno != EINTR) { break }
                    usleep(100_000)
                }
                done.resume(returning: (status, peakKB))
            }.start()
        }
        // Exited (low 7 bits 0) with status 0 (the next 8 bits).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw BenchFailure("grantledger \(arguments.joined(separator: " ")) failed (wait status \(status))")
        }
        return ((clock.now - started) / .seconds(1), peakKB / 1024)
    }

    /// Sets a running process's peak resident memory (VmHWM) back to what it holds now (Linux: `5` to clear_refs).
    static func resetHighWaterMark(_ pid: pid_t) {
        try? "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
    }

    /// A running process's peak resident memory so far (VmHWM), in kB.
    static func highWaterMarkKB(_ pid: pid_t) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Double(line.split(separator: " ").dropFirst().first ?? "")
    }
}
