import Logging
import PostgresNIO

extension PostgresConnection {
    /// Runs a statement for its effect and reads its rows to the end. For a
    /// statement that returns rows, PostgresNIO reports an error raised
    /// during execution (a lock timeout, say) only to a reader of the rows.
    public func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}

extension PostgresClient {
    /// Runs a statement for its effect and reads its rows to the end; see ``PostgresConnection/run(_:logger:)``.
    public func run(_ query: PostgresQuery, logger: Logger) async throws {
        for try await _ in try await self.query(query, logger: logger) {}
    }
}
