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
    /// finishes, the connection closes, or the calling task is cancelled,
    /// whichever comes first. PostgresNIO 1.33 never completes a statement
    /// written to a connection the server has already closed, so a worker
    /// holding one connection for hours would wait on it forever after a
    /// database restart, and a shutdown would wait on that worker. When the
    /// connection closes or the caller is cancelled, `body` is cancelled
    /// and left to finish (or not) on its own.
    public func whileOpen<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard !isClosed else { throw ConnectionClosed() }
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let work = Task {
                    do { outcome.finish(.success(try await body())) } catch { outcome.finish(.failure(error)) }
                }
                outcome.start(continuation, work)
                closeFuture.whenComplete { _ in outcome.finish(.failure(ConnectionClosed())) }
            }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }
}

/// The one answer of ``PostgresConnection/whileOpen(_:)``: whichever comes first.
private final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        /// Arrived before the continuation was handed over (cancelled, or closed, at once).
        var early: Result<T, any Error>?
        var done = false
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>, _ work: Task<Void, Never>) {
        let early: Result<T, any Error>? = state.withLock { state in
            state.continuation = continuation
            state.work = work
            guard let early = state.early else { return nil }
            state.done = true
            state.continuation = nil
            return early
        }
        if let early {
            work.cancel()
            continuation.resume(with: early)
        }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, work): (CheckedContinuation<T, any Error>?, Task<Void, Never>?) = state.withLock { state in
            guard !state.done else { return (nil, nil) }
            guard let continuation = state.continuation else {
                if state.early == nil { state.early = result }
                return (nil, nil)
            }
            state.done = true
            state.continuation = nil
            return (continuation, state.work)
        }
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
    /// collected on the connection's event loop never wait, and a closed
    /// connection fails the read instead. The statement is parsed per call
    /// (no named statement): a page of thousands of rows does not notice.
    public func collect<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        let query = PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings())
        let result = try await withConnection { connection in
            try await connection.query(query, logger: logger).get()
        }
        return try result.rows.map { try statement.decodeRow($0) }
    }
}
