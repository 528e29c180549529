import Logging
import PostgresNIO

extension PostgresClient {
    /// Runs a client for the duration of `body`, for commands and tests that
    /// are not a long-lived service group.
    ///
    /// Shutdown is ordered: the client stops only after `body` has returned.
    /// Were `client.run()` a child task, cancelling the caller would cancel it
    /// together with `body`, and queries `body` still makes while it unwinds
    /// would wait forever on connections being closed. So it runs in a task
    /// of its own, which does not inherit the caller's cancellation. That
    /// task may start after `body`'s first query, which the pool warns of
    /// though it is harmless: below debug, its own log is errors only.
    public static func withRunning<Result: Sendable>(
        _ configuration: PostgresClient.Configuration,
        logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        var poolLogger = logger
        if poolLogger.logLevel > .debug { poolLogger.logLevel = .error }
        let client = PostgresClient(configuration: configuration, backgroundLogger: poolLogger)
        let running = Task { await client.run() }
        defer { running.cancel() }
        return try await body(client)
    }
}
