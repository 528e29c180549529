import Foundation
import NIOCore
import PostgresNIO
import Logging
import Synchronization

/// The server closed a connection something was still using: restarted,
/// failed over, a network cut, or `pg_terminate_backend`.
public struct ConnectionClosed: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the connection to PostgreSQL closed" }
}

extension PostgresConnection {
    /// Runs `body` (which uses this connection) and answers as soon as it
    /// finishes or the connection closes, whichever comes first.
    /// PostgresNIO 1.33 never completes a statement written to a connection
    /// the server has already closed, so a worker holding one connection
    /// for hours would wait on it forever after a database restart, and a
    /// shutdown would wait on that worker. When the connection closes,
    /// `body` is cancelled and left to finish (or not) on its own: the
    /// connection is of no use to anyone else. Cancelling the caller
    /// cancels `body` and waits for it, so the connection is never handed
    /// back while `body` still uses it.
    public func whileOpen<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await guarded(body) { outcome in
            closeFuture.whenComplete { _ in outcome.finish(.failure(ConnectionClosed())) }
        }
    }

    /// Runs one statement's work (`body`) on a pooled connection and answers
    /// when it finishes, or when the connection has been closed for `grace`
    /// without it finishing: PostgresNIO 1.33 never completes a statement
    /// written to a connection the server has just closed. Unlike
    /// ``whileOpen(_:)`` it registers nothing on the connection, which may
    /// live for hours and serve millions of statements: it looks every
    /// `interval`. The grace lets a result the server sent before closing
    /// (a commit, then a shutdown) win over the close, so a committed
    /// append is never reported as failed and tried again.
    public func statement<T: Sendable>(interval: Duration = .milliseconds(500), grace: Duration = .seconds(2),
                                       _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await guarded(body) { outcome in
            outcome.watch(Task { [self] in
                while !isClosed { try await Task.sleep(for: interval) }
                try await Task.sleep(for: grace)
                outcome.finish(.failure(ConnectionClosed()))
            })
        }
    }

    /// `body` in a task of its own, answered by it or by what `watch` sets up on the outcome, whichever comes first.
    private func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T,
                                      watch: (Outcome<T>) -> Void) async throws -> T {
        guard !isClosed else { throw ConnectionClosed() }
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let work = Task {
                    do { outcome.finish(.success(try await body())) } catch { outcome.finish(.failure(error)) }
                }
                outcome.start(continuation, work)
                watch(outcome)
            }
        } onCancel: {
            outcome.cancelWork()
        }
    }
}

/// The one answer of ``PostgresConnection/whileOpen(_:)`` and
/// ``PostgresConnection/statement(interval:grace:_:)``: whichever comes first.
private final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        /// Arrived before the continuation was handed over (closed at once).
        var early: Result<T, any Error>?
        /// Cancelled before `body` had started.
        var cancelled = false
        var done = false
        /// Looks for the close; cancelled once there is an answer.
        var watcher: Task<Void, any Error>?
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>, _ work: Task<Void, Never>) {
        let (early, cancelled): (Result<T, any Error>?, Bool) = state.withLock { state in
            state.continuation = continuation
            state.work = work
            guard let early = state.early else { return (nil, state.cancelled) }
            state.done = true
            state.continuation = nil
            return (early, state.cancelled)
        }
        if cancelled || early != nil { work.cancel() }
        if let early { continuation.resume(with: early) }
    }

    func watch(_ watcher: Task<Void, any Error>) {
        let done = state.withLock { state in
            if !state.done { state.watcher = watcher }
            return state.done
        }
        if done { watcher.cancel() }
    }

    /// Cancels `body` without answering: its end answers.
    func cancelWork() {
        let work: Task<Void, Never>? = state.withLock { state in
            if state.work == nil, !state.done { state.cancelled = true }
            return state.work
        }
        work?.cancel()
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, work, watcher): (CheckedContinuation<T, any Error>?, Task<Void, Never>?, Task<Void, any Error>?) = state.withLock { state in
            guard !state.done else { return (nil, nil, nil) }
            guard let continuation = state.continuation else {
                if state.early == nil { state.early = result }
                return (nil, nil, nil)
            }
            state.done = true
            state.continuation = nil
            defer { state.watcher = nil }
            return (continuation, state.work, state.watcher)
        }
        watcher?.cancel()
        guard let continuation else { return }
        if case .failure = result { work?.cancel() }
        continuation.resume(with: result)
    }
}

extension PostgresClient {
    /// Runs `statement` and hands over every row at once. PostgresNIO 1.33
    /// traps the process (a precondition in `RowStreamStateMachine`) when
    /// the server closes a connection while a row stream waits for its
    /// consumer, as a restart does to a reader of a 5,000-event page; rows
    /// decoded on the connection's event loop as they arrive never make it
    /// wait; and a statement written to a connection the server has just
    /// closed (which never completes) fails the read soon after. The statement
    /// is parsed per call (no named statement): a page of thousands of rows
    /// does not notice.
    public func collect<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        let query = PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings())
        let rows = DecodedRows<Statement>(statement)
        _ = try await withConnection { connection in
            try await connection.statement { try await connection.query(query, logger: logger) { try rows.decode($0) }.get() }
        }
        return rows.taken()
    }
}

/// Rows decoded one by one on a connection's event loop, which calls in order, one at a time.
private final class DecodedRows<Statement: PostgresPreparedStatement>: @unchecked Sendable {
    private let statement: Statement
    private var rows: [Statement.Row] = []

    init(_ statement: Statement) { self.statement = statement }

    func decode(_ row: PostgresRow) throws { rows.append(try statement.decodeRow(row)) }

    /// After the query's future has completed: every call has returned.
    func taken() -> [Statement.Row] { rows }
}
