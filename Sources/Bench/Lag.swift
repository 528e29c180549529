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

/// How far the read models trail the commands while both run.
extension Benchmark {
    /// Commands at `rate` for the configured time, open loop (each on its
    /// own schedule, not waiting for the one before), while the projection
    /// workers run in this process as `serve` runs them: the time from a
    /// command's commit to the moment each read model's checkpoint passes it.
    func lag(calls: [UUID], rate: Double) async throws -> [Figure] {
        let runtime = ProjectionRuntime(store: store, logger: logger)
        try await runtime.prepare()
        return try await withThrowingTaskGroup(of: [Figure].self) { group in
            group.addTask { try await runtime.run(); return [] }
            defer { group.cancelAll() }
            let progress = Progress(label: "lag")
            while true {
                let behind = try await runtime.status().map(\.eventsBehind).reduce(0, +)
                if behind == 0 { break }
                progress.show("read models catching up, \(behind) events behind")
                try await Task.sleep(for: .milliseconds(200))
            }

            let clock = ContinuousClock(), started = clock.now
            let deadline = started + .seconds(options.lagSeconds)
            let interval = Duration.seconds(1 / rate)
            let slots = Counter()
            let committed = Commits()
            let writersDone = Counter()
            let writers = Task {
                defer { writersDone.increment() }
                try await withThrowingTaskGroup(of: Void.self) { writers in
                    for writer in 0..<16 {
                        writers.addTask {
                            while true {
                                let slot = slots.increment() - 1
                                let due = started + interval * slot
                                guard due < deadline else { return }
                                try await Task.sleep(until: due, clock: clock)
                                let result = try await draftApplication(calls, writer: writer, index: slot)
                                let at = clock.now
                                committed.add(Checkpoint(transactionId: result.transactionId, position: result.position), at: at)
                            }
                        }
                    }
                    try await writers.waitForAll()
                }
            }

            // Poll every read model's checkpoint; each commit is seen once per read model.
            var lags = Dictionary(uniqueKeysWithValues: runtime.projections.map { ($0.name, Latencies()) })
            var seen = Dictionary(uniqueKeysWithValues: runtime.projections.map { ($0.name, 0) })
            var finished = false
            var polls = 0
            while true {
                let statuses = try await checkpoints()
                let now = clock.now
                let commits = committed.all
                for status in statuses {
                    var caughtUp = seen[status.name] ?? 0
                    // Commits are listed as writers finish, close to commit order; count the unbroken run the checkpoint has passed.
                    while caughtUp < commits.count, commits[caughtUp].checkpoint <= status.checkpoint {
                        lags[status.name]?.record(now - commits[caughtUp].at)
                        caughtUp += 1
                    }
                    seen[status.name] = caughtUp
                }
                if finished, seen.values.allSatisfy({ $0 == commits.count }) { break }
                // Polling goes on while writers behind their schedule finish: waiting for them here
                // would count the wait into the lag of every commit not yet seen.
                if !finished, writersDone.value > 0 {
                    try await writers.value
                    finished = true
                }
                polls += 1
                if polls % 100 == 0 { progress.show("\(commits.count) commands") }
                try await Task.sleep(for: .milliseconds(2))
            }
            let commands = committed.all.count
            let achieved = Double(commands) / ((clock.now - started) / .seconds(1))
            progress.done(String(format: "%d commands at %.0f/s (half of %.0f/s)", commands, rate, rate * 2))
            return runtime.projections.map { projection in
                let latencies = lags[projection.name] ?? Latencies()
                var figure = Figure(figure: String(format: "lag to %@ (%.0f commands/s)", projection.name, achieved), value: latencies.ms(99),
                                    unit: "ms p99", target: "≤ 100 ms")
                latencies.annotate(&figure)
                return figure
            }
        }
    }

    /// Every live read model's checkpoint: the cheapest look, for polling.
    func checkpoints() async throws -> [(name: String, checkpoint: Checkpoint)] {
        var result: [(name: String, checkpoint: Checkpoint)] = []
        for try await (name, transaction, position) in try await store.client.query(
            "SELECT projection, transaction_id, position FROM projection_checkpoints WHERE live", logger: logger
        ).decode((String, Int64, Int64).self) {
            result.append((name, Checkpoint(transactionId: transaction, position: position)))
        }
        return result
    }
}

/// Commands' checkpoints and when their commits were acknowledged, in the order they finished.
final class Commits: Sendable {
    private let state = Mutex<[(checkpoint: Checkpoint, at: ContinuousClock.Instant)]>([])
    var all: [(checkpoint: Checkpoint, at: ContinuousClock.Instant)] { state.withLock { $0 } }
    func add(_ checkpoint: Checkpoint, at instant: ContinuousClock.Instant) { state.withLock { $0.append((checkpoint, instant)) } }
}
