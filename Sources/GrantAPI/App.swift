import EventStore
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Metrics
import Projections
import Prometheus
import ServiceLifecycle

/// How the HTTP server is set up; read from the environment by the executable.
public struct APIConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Run the projection workers in this process too.
    public var runWorkers: Bool
    /// Where to LISTEN for other processes' appends; nil: tails only poll.
    public var listener: PostgresConnection.Configuration?
    /// The registry `/metrics` reads; bootstrap the metrics system with it once per process.
    public var metrics: PrometheusCollectorRegistry

    public init(host: String = "127.0.0.1", port: Int = 8080, runWorkers: Bool = true,
                listener: PostgresConnection.Configuration? = nil, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.host = host
        self.port = port
        self.runWorkers = runWorkers
        self.listener = listener
        self.metrics = metrics
    }
}

/// Builds the application the executable serves and the tests drive.
public func buildApplication(
    configuration: APIConfiguration, store: EventStore, logger: Logger
) -> some ApplicationProtocol {
    let router = Router()
    let projections = ProjectionRuntime(store: store, logger: logger)
    router.get("health") { _, _ in try await health(store: store, projections: projections) }
    let registry = configuration.metrics
    router.get("metrics") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
    var services: [any Service] = [PostgresClientService(client: store.client), NotifierService(store: store)]
    if configuration.runWorkers { services.append(ProjectionService(runtime: projections)) }
    if let listener = configuration.listener { services.append(ListenerService(store: store, configuration: listener)) }
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "grantledger"),
        services: services,
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
    var projections: [ProjectionStatus]
}

/// "degraded" when a projection has stopped at a failing event.
func health(store: EventStore, projections: ProjectionRuntime) async throws -> Health {
    let head = try await store.head()
    let statuses = try await projections.status()
    return Health(status: statuses.contains { $0.state == "failed" } ? "degraded" : "ok", database: "reachable",
                  headPosition: head.position, readableCheckpoint: head.readable, projections: statuses)
}

/// Runs the PostgreSQL pool inside the application's service group.
struct PostgresClientService: Service {
    let client: PostgresClient
    func run() async throws { await client.run() }
}

/// The projection workers, stopped on graceful shutdown.
struct ProjectionService: Service {
    let runtime: ProjectionRuntime
    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await runtime.run() }
        } catch is CancellationError {
            // Shutting down is how the workers end.
        }
    }
}

/// Wakes this process's tails when another process appends.
struct ListenerService: Service {
    let store: EventStore
    let configuration: PostgresConnection.Configuration
    func run() async throws {
        await cancelWhenGracefulShutdown { await store.runListener(configuration) }
    }
}

/// Announces appends to other processes' tails.
struct NotifierService: Service {
    let store: EventStore
    func run() async throws {
        await cancelWhenGracefulShutdown { await store.runNotifier() }
    }
}
