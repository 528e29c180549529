import EventStore
import Foundation
import Synchronization

/// Commands of this process on a busy stream, decided together.
///
/// When commands clash on a stream (sixteen approvals drawing on one pool),
/// retrying each costs a read, a decision and a commit per command, and
/// most retries clash again. Instead, once a stream has clashed, commands
/// that write it queue here; one task takes the whole queue, decides the
/// commands one after another (each loading the state the ones before it
/// decided, so each sees exactly what it would see run alone after them),
/// and commits them in one transaction, each command's append all or
/// nothing on its own. The result is what running them one by one gives,
/// for one commit per batch (and one read, for commands that clashed).
final class DecidingTogether: Sendable {
    struct Job: Sendable {
        var plan: @Sendable (Session) async throws -> [PendingWrite]
        var metadata: EventMetadata
        var idempotency: Idempotency?
        /// The streams the command's last attempt loaded.
        var loaded: [String]
        /// Whether that attempt clashed: its streams are then read again.
        var clashed: Bool
    }

    private struct Waiting {
        var job: Job
        var continuation: CheckedContinuation<Result<AppendResult, any Error>, Never>
    }

    private struct Queues {
        var hotUntil: [String: ContinuousClock.Instant] = [:]
        var waiting: [String: [Waiting]] = [:]
        var draining: Set<String> = []
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
            let startsDraining = queues.withLock { queues in
                queues.waiting[stream, default: []].append(Waiting(job: job, continuation: continuation))
                return queues.draining.insert(stream).inserted
            }
            if startsDraining {
                Task { await self.drain(stream, handler) }
            }
        }
    }

    /// Decides and commits batches queued on `stream` until none is left.
    /// (Deciding the next batch while one commits was tried: the batches
    /// came out lopsided, 13 then 2 then 1, and fewer approvals landed.)
    private func drain(_ stream: String, _ handler: CommandHandler) async {
        while true {
            let next = take(stream)
            guard !next.isEmpty else { return }
            let batch = await handler.decideTogether(next.map(\.job), on: stream)
            Self.resume(next, with: await handler.commit(batch))
        }
    }

    /// Up to `batchLimit` commands queued on `stream`; when none is queued,
    /// the stream is no longer drained.
    private func take(_ stream: String) -> [Waiting] {
        queues.withLock { queues in
            var waiting = queues.waiting.removeValue(forKey: stream) ?? []
            let batch = Array(waiting.prefix(batchLimit))
            waiting.removeFirst(batch.count)
            if !waiting.isEmpty { queues.waiting[stream] = waiting }
            if batch.isEmpty { queues.draining.remove(stream) }
            return batch
        }
    }

    private static func resume(_ waiting: [Waiting], with results: [Result<AppendResult, any Error>]) {
        for (waiting, result) in zip(waiting, results) { waiting.continuation.resume(returning: result) }
    }
}

/// What one batch of commands decided together: the states each command
/// loads (what the ones before it decided), the appends to commit, and the
/// commands that failed to decide.
final class DecidedTogether: Sendable {
    typealias Append = (job: Int, writes: [StreamWrite], idempotency: Idempotency?)

    private struct Contents {
        var states: [String: (version: Int64, state: any Sendable)] = [:]
        var reads: [String: (from: Int64, events: [RecordedEvent])] = [:]
        var appends: [Append] = []
        var failures: [Result<AppendResult, any Error>?]
    }

    private let contents: Mutex<Contents>

    /// A batch of `jobs` commands.
    init(jobs: Int) {
        contents = Mutex(Contents(failures: Array(repeating: nil, count: jobs)))
    }

    func state(_ stream: String) -> (version: Int64, state: any Sendable)? {
        contents.withLock { $0.states[stream] }
    }

    func record(_ stream: String, version: Int64, state: any Sendable) {
        contents.withLock { $0.states[stream] = (version, state) }
    }

    /// Moves a stream loaded in this batch past `write`'s events.
    func apply(_ write: PendingWrite) {
        contents.withLock { contents in
            // Taken out of the table, the state has no other owner in this batch and folds in place.
            guard var entry = contents.states.removeValue(forKey: write.stream.rawValue) else { return }
            write.evolve(&entry.state)
            contents.states[write.stream.rawValue] = (write.versionAfter, entry.state)
        }
    }

    /// Every stream's state as decided so far.
    var states: [(stream: String, version: Int64, state: any Sendable)] {
        contents.withLock { $0.states.map { ($0.key, $0.value.version, $0.value.state) } }
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

    var appends: [Append] { contents.withLock { $0.appends } }
    /// By command: its error if it failed to decide, nil if it decided.
    var failures: [Result<AppendResult, any Error>?] { contents.withLock { $0.failures } }
}
