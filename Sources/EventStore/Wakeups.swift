import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Wakes this process's tails: on an append made here, on a notification
/// from another process (see ``EventStore/runListener(_:retryAfter:)``) and on
/// each tail's own poll tick. Each subscriber keeps at most one pending wake-up.
final class Wakeups: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    func subscribe() -> (id: UUID, wakeups: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation) {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        subscribers.withLock { $0[id] = continuation }
        return (id, stream, continuation)
    }

    func unsubscribe(_ id: UUID) {
        subscribers.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    func wakeAll() {
        subscribers.withLock { subscribers in
            for continuation in subscribers.values { continuation.yield() }
        }
    }
}

extension EventStore {
    /// Listens for appends made by other processes and wakes this process's
    /// tails, until cancelled. One listener per process, on a connection of
    /// its own outside the pool: cancelling closes it, which is what ends a
    /// LISTEN reliably. Reconnects after a failure; tails poll meanwhile.
    public func runListener(_ configuration: PostgresConnection.Configuration, retryAfter delay: Duration = .seconds(1)) async {
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                try await withTaskCancellationHandler {
                    try await connection.listen(on: self.configuration.notificationChannel) { notifications in
                        wakeups.wakeAll()  // anything appended while connecting
                        for try await _ in notifications { wakeups.wakeAll() }
                    }
                } onCancel: {
                    connection.close().whenComplete { _ in }
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.warning("LISTEN failed; tails poll until it is back", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: delay)
        }
    }
}
