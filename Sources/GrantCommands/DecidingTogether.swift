import EventStore
import Foundation
import Synchronization

/// Commands of this process on a busy stream, decided together.
///
/// When commands clash on a stream (sixteen approvals drawing on one pool),
/// retrying each costs a read, a decision and a commit per command, and
/// most retries clash again. Instead, once a stream has clashed, commands
/// that write it queue here; one task decides them one after another as
/// they arrive (each loading the state the ones before it decided, so each
/// sees exactly what it would see run alone after them), and commits them
/// in batches, one transaction each, each command's append all or nothing
/// on its own. While one batch commits, the next is decided on the states
/// it leaves; it is committed only if all of that batch was written, and is
/// otherwise decided again on what the store holds. The result is what
/// running them one by one gives, for one commit per batch.
package final class DecidingTogether: Sendable {
    package struct Job: Sendable {
        var plan: @Sendable (Session) async throws -> [PendingWrite]
        var metadata: EventMetadata
        var idempotency: Idempotency?
        /// The streams the command's last attempt loaded.
        var loaded: [String]
        /// Whether that attempt clashed: its streams are then read again.
        var clashed: Bool

        package init(plan: @escaping @Sendable (Session) async throws -> [PendingWrite], metadata: EventMetadata, idempotency: Idempotency?,
                     loaded: [String], clashed: Bool) {
            self.plan = plan
            self.metadata = metadata
            self.idempotency = idempotency
            self.loaded = loaded
            self.clashed = clashed
        }
    }

    private struct Waiting {
        var job: Job
        var continuation: CheckedContinuation<Result<AppendResult, any Error>, Never>
    }

    private struct Queues {
        var hotUntil: [String: ContinuousClock.Instant] = [:]
        var waiting: [String: [Waiting]] = [:]
        var draining: Set<String> = []
        /// Streams with a batch being committed.
        var committing: Set<String> = []
        /// Drainers waiting for a command to queue or their batch's commit to end.
        var parked: [String: CheckedContinuation<Step?, Never>] = [:]
    }

    /// What a stream's drainer does next.
    private enum Step {
        case decide([Waiting])
        case commit
        case stop
    }

    private let queues = Mutex(Queues())
    /// How long a stream counts as busy after a clash on it.
    let hotFor: Duration
    /// Commands in one batch.
    let batchLimit: Int

    init(hotFor: Duration = .seconds(1), batchLimit: Int = 32) {
        self.hotFor = hotFor
        self.batchLimit = batchLimit
    }

    func markHot(_ stream: String) {
        let now = ContinuousClock.now
        queues.withLock { queues in
            if queues.hotUntil.count >= 1_000 { queues.hotUntil = queues.hotUntil.filter { $0.value > now } }
            queues.hotUntil[stream] = now + hotFor
        }
    }

    /// Whether commands clashed on `stream` lately or are queued on it now.
    func isHot(_ stream: String) -> Bool {
        queues.withLock { queues in
            queues.draining.contains(stream) || queues.hotUntil[stream].map { $0 > ContinuousClock.now } ?? false
        }
    }

    /// Queues `job` on `stream`, and returns its result once its batch is
    /// committed by `handler`.
    func decide(on stream: String, _ job: Job, _ handler: CommandHandler) async -> Result<AppendResult, any Error> {
        await withCheckedContinuation { continuation in
            let (startsDraining, parked) = queues.withLock { queues in
                queues.waiting[stream, default: []].append(Waiting(job: job, continuation: continuation))
                return (queues.draining.insert(stream).inserted, queues.parked.removeValue(forKey: stream))
            }
            parked?.resume(returning: nil)
            if startsDraining {
                Task(priority: .high) { await self.drain(stream, handler) }
            }
        }
    }

    /// Decides commands queued on `stream` as they arrive, and commits them
    /// a batch at a time, until none is left.
    private func drain(_ stream: String, _ handler: CommandHandler) async {
        var previous: DecidedTogether?
        while true {
            let batch = DecidedTogether(after: previous)
            var jobs: [Waiting] = []
            collecting: while true {
                switch await step(stream, collected: jobs.count) {
                case .decide(let arrived):
                    await handler.decide(arrived.map(\.job), on: stream, into: batch)
                    jobs += arrived
                case .commit:
                    break collecting
                case .stop:
                    return
                }
            }
            // The batch before has committed by now.
            guard previous?.held ?? true else {
                // Decided on states it did not leave: decided again, on what the store holds.
                Self.resume(jobs, with: jobs.map { _ in .failure(DecidedOnCachedState(stream: stream)) })
                previous = nil
                continue
            }
            previous = batch
            queues.withLock { _ = $0.committing.insert(stream) }
            Task(priority: .high) {
                let results = await handler.commit(batch, on: stream)
                let parked = queues.withLock { queues in
                    queues.committing.remove(stream)
                    return queues.parked.removeValue(forKey: stream)
                }
                parked?.resume(returning: nil)
                Self.resume(jobs, with: results)
            }
        }
    }

    /// Commands queued on `stream` to decide, up to `batchLimit` in the batch
    /// with the `collected` decided so far; or, with none queued, the batch
    /// to commit once the one before it has committed; or, with none
    /// decided either, the end of draining.
    private func step(_ stream: String, collected: Int) async -> Step {
        while true {
            let step = await withCheckedContinuation { (continuation: CheckedContinuation<Step?, Never>) in
                let step = queues.withLock { queues -> Step? in
                    if collected < batchLimit, var waiting = queues.waiting.removeValue(forKey: stream) {
                        let taken = Array(waiting.prefix(batchLimit - collected))
                        waiting.removeFirst(taken.count)
                        if !waiting.isEmpty { queues.waiting[stream] = waiting }
                        return .decide(taken)
                    }
                    if queues.committing.contains(stream) {
                        queues.parked[stream] = continuation
                        return nil
                    }
                    if collected > 0 { return .commit }
                    queues.draining.remove(stream)
                    return .stop
                }
                if let step { continuation.resume(returning: step) }
            }
            if let step { return step }
        }
    }

    private static func resume(_ waiting: [Waiting], with results: [Result<AppendResult, any Error>]) {
        for (waiting, result) in zip(waiting, results) { waiting.continuation.resume(returning: result) }
    }
}

/// What one batch of commands decided together: the states each command
/// loads (what the ones before it decided, starting from what the batch
/// before decided), the appends to commit, and the commands that failed to
/// decide.
package final class DecidedTogether: Sendable {
    package typealias Append = (job: Int, writes: [StreamWrite], idempotency: Idempotency?)

    private struct Contents {
        /// Each stream's state as decided so far, starting from what the batch before decided.
        var states: [String: (version: Int64, state: any Sendable)] = [:]
        /// The streams this batch loaded or wrote.
        var touched: Set<String> = []
        var reads: [String: (from: Int64, events: [RecordedEvent])] = [:]
        var appends: [Append] = []
        var failures: [Result<AppendResult, any Error>?] = []
        /// Set once committed: whether every append was written.
        var held = false
    }

    private let contents: Mutex<Contents>

    /// A batch decided on the states `previous` leaves. (What the batches
    /// before that decided is in the state cache by the time this one decides.)
    package init(after previous: DecidedTogether?) {
        let carried = previous?.states ?? []
        contents = Mutex(Contents(states: Dictionary(uniqueKeysWithValues: carried.map { ($0.stream, ($0.version, $0.state)) })))
    }

    /// Takes `count` more commands: the index of the first.
    func addJobs(_ count: Int) -> Int {
        contents.withLock { contents in
            defer { contents.failures += Array(repeating: nil, count: count) }
            return contents.failures.count
        }
    }

    /// Whether the batch committed with every append written, so the states
    /// it decided are the streams' states.
    var held: Bool {
        get { contents.withLock { $0.held } }
        set { contents.withLock { $0.held = newValue } }
    }

    func state(_ stream: String) -> (version: Int64, state: any Sendable)? {
        contents.withLock { $0.states[stream] }
    }

    func record(_ stream: String, version: Int64, state: any Sendable) {
        contents.withLock { contents in
            contents.states[stream] = (version, state)
            contents.touched.insert(stream)
        }
    }

    /// Drops what this batch took `streams` to be.
    func forget(_ streams: [String]) {
        contents.withLock { contents in
            for stream in streams {
                contents.states[stream] = nil
                contents.touched.remove(stream)
            }
        }
    }

    /// Moves a stream loaded in this batch past `write`'s events.
    func apply(_ write: PendingWrite) {
        contents.withLock { contents in
            // Taken out of the table, the state has no other owner in this batch and folds in place.
            guard var entry = contents.states.removeValue(forKey: write.stream.rawValue) else { return }
            write.evolve(&entry.state)
            contents.states[write.stream.rawValue] = (write.versionAfter, entry.state)
            contents.touched.insert(write.stream.rawValue)
        }
    }

    /// The state of every stream this batch loaded or wrote, as decided so far.
    var states: [(stream: String, version: Int64, state: any Sendable)] {
        contents.withLock { contents in
            contents.touched.compactMap { stream in contents.states[stream].map { (stream, $0.version, $0.state) } }
        }
    }

    func addReads(_ reads: [(stream: String, from: Int64, events: [RecordedEvent])]) {
        contents.withLock { contents in
            for read in reads { contents.reads[read.stream] = (read.from, read.events) }
        }
    }

    func takeRead(_ stream: String) -> (from: Int64, events: [RecordedEvent])? {
        contents.withLock { $0.reads.removeValue(forKey: stream) }
    }

    /// Whether loading `stream` needs no read.
    func holds(_ stream: String) -> Bool {
        contents.withLock { $0.states[stream] != nil || $0.reads[stream] != nil }
    }

    func add(_ job: Int, writes: [StreamWrite], idempotency: Idempotency?) {
        contents.withLock { $0.appends.append((job, writes, idempotency)) }
    }

    func fail(_ job: Int, _ error: any Error) {
        contents.withLock { $0.failures[job] = .failure(error) }
    }

    package var appends: [Append] { contents.withLock { $0.appends } }
    /// By command: its error if it failed to decide, nil if it decided.
    package var failures: [Result<AppendResult, any Error>?] { contents.withLock { $0.failures } }
}
