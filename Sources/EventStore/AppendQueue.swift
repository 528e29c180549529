import Logging
import PostgresNIO
import Synchronization

/// Group commit: appends that arrive while earlier ones commit wait in a
/// queue, and each flush sends all of them in one statement and one
/// transaction (`append_events`), each still all or nothing on its own.
/// A commit, its WAL flush and a round trip then serve many writers, where
/// every writer paid for its own before. Up to `flushers` batches are in
/// flight at once, so one batch is written while another waits on its commit.
final class AppendQueue: Sendable {
    private struct Waiting {
        var append: PreparedAppend
        var continuation: CheckedContinuation<AppendResult, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var flushing = 0
    }

    private let state = Mutex(State())
    /// Batches in flight at once.
    let flushers: Int
    /// Appends in one batch: bounds one statement's work, and how many
    /// appends one failure of a whole statement sends again one by one.
    let batchLimit: Int

    init(flushers: Int = 2, batchLimit: Int = 32) {
        self.flushers = flushers
        self.batchLimit = batchLimit
    }

    /// Appends `append` with the next batch, `write` sending each batch.
    func append(_ append: PreparedAppend, write: @escaping @Sendable ([PreparedAppend]) async -> [Result<AppendResult, any Error>]) async throws -> AppendResult {
        // With nothing queued and a flusher free, the caller writes its own
        // append, without a hop to another task: a lone writer pays nothing.
        let alone = state.withLock { state in
            guard state.waiting.isEmpty, state.flushing < flushers else { return false }
            state.flushing += 1
            return true
        }
        if alone {
            let result = await write([append])[0]
            let queuedMeanwhile = state.withLock { state in
                if state.waiting.isEmpty { state.flushing -= 1 }
                return !state.waiting.isEmpty
            }
            if queuedMeanwhile {
                Task { await self.flush(write) }
            }
            return try result.get()
        }
        return try await withCheckedThrowingContinuation { continuation in
            let startsFlusher = state.withLock { state in
                state.waiting.append(Waiting(append: append, continuation: continuation))
                guard state.flushing < flushers else { return false }
                state.flushing += 1
                return true
            }
            if startsFlusher {
                Task { await self.flush(write) }
            }
        }
    }

    /// Sends batches until nothing waits.
    private func flush(_ write: @Sendable ([PreparedAppend]) async -> [Result<AppendResult, any Error>]) async {
        while true {
            let batch = state.withLock { state in
                let batch = Array(state.waiting.prefix(batchLimit))
                state.waiting.removeFirst(batch.count)
                if batch.isEmpty { state.flushing -= 1 }
                return batch
            }
            guard !batch.isEmpty else { return }
            let results = await write(batch.map(\.append))
            for (waiting, result) in zip(batch, results) {
                waiting.continuation.resume(with: result)
            }
        }
    }
}
