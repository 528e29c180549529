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
/// for one read and one commit per batch.
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
    /// committed. `decide` decides and commits one batch.
    func decide(
        on stream: String, _ job: Job,
        _ decide: @escaping @Sendable ([Job]) async -> [Result<AppendResult, any Error>]
    ) async -> Result<AppendResult, any Error> {
        await withCheckedContinuation { continuation in
            let startsDraining = queues.withLock { queues in
                queues.waiting[stream, default: []].append(Waiting(job: job, continuation: continuation))
                return queues.draining.insert(stream).inserted
            }
            if startsDraining {
                Task { await self.drain(stream, decide) }
            }
        }
    }

    /// Decides batches queued on `stream` until none is left.
    private func drain(_ stream: String, _ decide: @Sendable ([Job]) async -> [Result<AppendResult, any Error>]) async {
        while true {
            let batch = queues.withLock { queues in
                var waiting = queues.waiting.removeValue(forKey: stream) ?? []
                let batch = Array(waiting.prefix(batchLimit))
                waiting.removeFirst(batch.count)
                if !waiting.isEmpty { queues.waiting[stream] = waiting }
                if batch.isEmpty { queues.draining.remove(stream) }
                return batch
            }
            guard !batch.isEmpty else { return }
            for (waiting, result) in zip(batch, await decide(batch.map(\.job))) {
                waiting.continuation.resume(returning: result)
            }
        }
    }
}

/// What one batch of commands decided together has read and decided so
/// far: each command loads the state the ones before it left.
final class DecidedTogether: Sendable {
    private struct Contents {
        var states: [String: (version: Int64, state: any Sendable)] = [:]
        var reads: [String: (from: Int64, events: [RecordedEvent])] = [:]
    }

    private let contents = Mutex(Contents())

    func state(_ stream: String) -> (version: Int64, state: any Sendable)? {
        contents.withLock { $0.states[stream] }
    }

    func record(_ stream: String, version: Int64, state: any Sendable) {
        contents.withLock { $0.states[stream] = (version, state) }
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
}
