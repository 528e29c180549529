import EventStore
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle

/// How the HTTP server is set up; read from the environment by the executable.
public struct APIConfiguration: Sendable {
    public var host: String
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }
}

/// Builds the application the executable serves and the tests drive.
public func buildApplication(
    configuration: APIConfiguration, store: EventStore, logger: Logger
) -> some ApplicationProtocol {
    let router = Router()
    router.get("health") { _, _ in try await health(store: store) }
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "grantledger"),
        services: [PostgresClientService(client: store.client), NotifierService(store: store)],
        onServerRunning: { _ in logger.info("ready: http://\(configuration.host):\(configuration.port)/health") },
        logger: logger
    )
}

/// Liveness with substance: the database answers and the event store's head is known.
struct Health: ResponseEncodable {
    var status: String
    var database: String
    var headPosition: Int64
    /// The newest checkpoint readers of all events can reach now; behind the head while writers are still committing.
    var readableCheckpoint: Checkpoint?
}

func health(store: EventStore) async throws -> Health {
    let head = try await store.head()
    return Health(status: "ok", database: "reachable", headPosition: head.position, readableCheckpoint: head.readable)
}

/// Runs the PostgreSQL pool inside the application's service group.
struct PostgresClientService: Service {
    let client: PostgresClient
    func run() async throws { await client.run() }
}

/// Announces appends to other processes' tails.
struct NotifierService: Service {
    let store: EventStore
    func run() async throws {
        await cancelWhenGracefulShutdown { await store.runNotifier() }
    }
}
