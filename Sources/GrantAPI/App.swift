import Accounts
import Audit
import Documents
import EventStore
import Foundation
import GrantCommands
import Hummingbird
import HTTPTypes
import HummingbirdCore
import Logging
import PostgresNIO
import Metrics
import NIOCore
import Projections
import Prometheus
import ServiceLifecycle
import Synchronization

/// How the HTTP server is set up; read from the environment by the executable.
public struct APIConfiguration: Sendable {
    public static let defaultBodyLimit = 1 << 20

    public var host: String
    public var port: Int
    /// The HS256 secret tokens are signed with (GRANTLEDGER_JWT_KEY).
    public var jwtKey: String
    /// Run the projection workers in this process too.
    public var runWorkers: Bool
    /// Where to LISTEN for other processes' appends; nil: tails only poll.
    public var listener: PostgresConnection.Configuration?
    /// The registry `/metrics` reads; bootstrap the metrics system with it once per process.
    public var metrics: PrometheusCollectorRegistry
    /// Request bodies above this many bytes are refused with 413.
    public var bodyLimit: Int
    /// How long a GET with `?after=` waits for its read models.
    public var consistencyWait: Duration
    /// The OpenAPI document served at `/openapi.yaml`.
    public var openAPIDocument: String?
    /// Signs checkpoints of the history, on demand and every `checkpointInterval`.
    public var checkpointSigner: CheckpointSigner?
    public var checkpointInterval: Duration?
    /// bcrypt's cost for new passwords (GRANTLEDGER_BCRYPT_COST, default 12; tests use less).
    public var bcryptCost: UInt8
    /// Where people reach the pages (GRANTLEDGER_PUBLIC_URL): the links in
    /// invitations, and Secure cookies when it is https.
    public var publicURL: String
    /// Proxies whose X-Forwarded-For is believed (GRANTLEDGER_TRUSTED_PROXIES).
    public var trustedProxies: Set<String>
    /// The largest document taken, in bytes (GRANTLEDGER_DOCUMENT_LIMIT).
    public var documentLimit: Int64
    /// Scans documents before anyone downloads them; nil: scanning is off,
    /// and documents are served unscanned (the server warns as it starts).
    public var virusScanner: (any VirusScanner)?

    public init(host: String = "127.0.0.1", port: Int = 8080, jwtKey: String, runWorkers: Bool = true,
                listener: PostgresConnection.Configuration? = nil, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
                bodyLimit: Int = defaultBodyLimit, consistencyWait: Duration = .seconds(2), openAPIDocument: String? = nil,
                checkpointSigner: CheckpointSigner? = nil, checkpointInterval: Duration? = nil, bcryptCost: UInt8 = 12,
                publicURL: String? = nil, trustedProxies: Set<String> = [], documentLimit: Int64 = 25_000_000,
                virusScanner: (any VirusScanner)? = nil) {
        self.host = host
        self.port = port
        self.jwtKey = jwtKey
        self.runWorkers = runWorkers
        self.listener = listener
        self.metrics = metrics
        self.bodyLimit = bodyLimit
        self.consistencyWait = consistencyWait
        self.openAPIDocument = openAPIDocument
        self.checkpointSigner = checkpointSigner
        self.checkpointInterval = checkpointInterval
        self.bcryptCost = bcryptCost
        self.publicURL = publicURL ?? "http://\(host):\(port)"
        self.trustedProxies = trustedProxies
        self.documentLimit = documentLimit
        self.virusScanner = virusScanner
    }
}

/// Builds the application the executable serves and the tests drive.
public func buildApplication(
    configuration: APIConfiguration, store: EventStore, logger: Logger
) async throws -> some ApplicationProtocol {
    let projections = ProjectionRuntime(store: store, logger: logger)
    let accounts = Accounts(store: store, hasher: PasswordHasher(cost: configuration.bcryptCost))
    try await accounts.prepare()
    let router = try await makeRouter(configuration: configuration, store: store, projections: projections, accounts: accounts, logger: logger).router
    let documents = PostgresDocumentStore(client: store.client, logger: logger)
    var services: [any Service] = [
        PostgresClientService(client: store.client), NotifierService(store: store),
        HourlySweep(failure: "could not delete expired sign-in data", logger: logger) { try await accounts.sweep() },
        // Chunks of uploads a stopped process left unfiled a day ago.
        HourlySweep(failure: "could not drop abandoned uploads", logger: logger) {
            let dropped = try await documents.discardAbandoned(olderThan: .seconds(86_400))
            if dropped > 0 { logger.info("dropped the chunks of abandoned uploads", metadata: ["chunks": "\(dropped)"]) }
        },
    ]
    if configuration.runWorkers { services.append(ProjectionService(runtime: projections)) }
    if let listener = configuration.listener { services.append(ListenerService(store: store, configuration: listener)) }
    if let signer = configuration.checkpointSigner, let interval = configuration.checkpointInterval {
        services.append(CheckpointService(tree: HistoryTree(store: store), signer: signer, interval: interval, logger: logger))
    }
    return Application(
        router: router,
        server: .http1(configuration: HTTP1Channel.Configuration(additionalChannelHandlers: [ParserProblemHandler()])),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "grantledger"),
        services: services,
        onServerRunning: { _ in logger.info("ready: http://\(configuration.host):\(configuration.port)/health") },
        logger: logger
    )
}

/// The request's context: Hummingbird's, and the peer's address (sign-in
/// attempts are counted per address).
public struct AppRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer's IP address as text ("unknown" for a test's in-process client).
    var peer: String { remoteAddress?.ipAddress ?? "unknown" }

    /// Where a request comes from, for counting sign-in attempts: the peer,
    /// or behind a proxy we trust, the nearest address it forwarded for that
    /// we do not; an IPv6 address by its /64, which one holder has whole.
    func clientAddress(_ request: Request, trustedProxies: Set<String>) -> String {
        var address = peer
        if trustedProxies.contains(address), let forwarded = request.headers[values: .xForwardedFor].last {
            let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            address = hops.last { !trustedProxies.contains($0) } ?? address
        }
        return Self.network(address)
    }

    static func network(_ address: String) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard address.contains(":"), inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is that IPv4 address.
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        return stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":") + "::/64"
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}

/// Runs `work` every hour until shutdown: what a day or an expiry leaves
/// behind (expired sign-in data, the chunks of abandoned uploads). A failure
/// is logged, with `failure` saying what could not be done, and tried again next hour.
struct HourlySweep: Service {
    let failure: String
    let logger: Logger
    let work: @Sendable () async throws -> Void

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await work() } catch is CancellationError { return } catch {
                    logger.error("\(failure)", metadata: ["error": "\(String(reflecting: error))"])
                }
                try await Task.sleep(for: .seconds(3600))
            }
        }
    }
}

/// Every route the API serves, as "METHOD /path/{parameter}": what openapi.yaml must describe.
public func apiRoutes(configuration: APIConfiguration, store: EventStore, logger: Logger) async throws -> [String] {
    try await makeRouter(configuration: configuration, store: store, projections: ProjectionRuntime(store: store, logger: logger),
                         accounts: Accounts(store: store), logger: logger).routes.recorded
}

func makeRouter(configuration: APIConfiguration, store: EventStore, projections: ProjectionRuntime, accounts: Accounts, logger: Logger) async throws
    -> (router: Router<AppRequestContext>, routes: Routes) {
    let router = Router(context: AppRequestContext.self)
    // Outermost: count every answer, problems included.
    router.add(middleware: MetricsMiddleware())
    let routes = Routes(router: router)
    router.add(middleware: ProblemMiddleware(methods: routes.methods))
    let services = Services(store: store, commands: CommandHandler(store: store),
                            auth: try await Authenticator(key: configuration.jwtKey, accounts: accounts),
                            bodyLimit: configuration.bodyLimit, consistencyWait: configuration.consistencyWait,
                            trustedProxies: configuration.trustedProxies,
                            documents: PostgresDocumentStore(client: store.client, logger: logger),
                            documentLimit: configuration.documentLimit, virusScanner: configuration.virusScanner,
                            readCache: configuration.runWorkers ? ReadCache(changes: projections.changes) : nil, logger: logger)
    // Liveness alone: answers while the process does, touching nothing else.
    routes.get("/livez") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok"))) }
    routes.get("/health") { request, _ in
        // Anyone may ask; only an administrator is shown why a projection stopped (SQL, schema and table names).
        let identity = request.headers[.authorization] == nil ? nil : try? await services.auth.identity(of: request)
        return try await health(store: store, projections: projections, detailed: identity?.role == .admin, logger: logger)
    }
    let registry = configuration.metrics
    routes.get("/metrics") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
    if let document = configuration.openAPIDocument {
        routes.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: ResponseBody(byteBuffer: ByteBuffer(string: document)))
        }
    }
    addCommandRoutes(to: routes, services)
    addReadRoutes(to: routes, services)
    addAuditRoutes(to: routes, services)
    addDocumentRoutes(to: routes, services)
    addUserRoutes(to: routes, services)
    addSessionRoutes(to: routes, services, accounts: accounts, publicURL: configuration.publicURL)
    let pages = try await Pages(publicURL: configuration.publicURL)
    addAccountPages(to: routes, services, pages: pages, accounts: accounts)
    addApplicantPages(to: routes, services, pages: pages, accounts: accounts)
    addDocumentPages(to: routes, services, pages: pages, accounts: accounts)
    addAdminPages(to: routes, services, pages: pages, accounts: accounts, publicURL: configuration.publicURL)
    addPaymentPages(to: routes, services, pages: pages, accounts: accounts)
    addMeetingPages(to: routes, services, pages: pages, accounts: accounts)
    addPoolAdminPages(to: routes, services, pages: pages, accounts: accounts)
    addGrantAdminPages(to: routes, services, pages: pages, accounts: accounts)
    addAuditPages(to: routes, services, pages: pages)
    addVerificationPage(to: routes, services, pages: pages)
    addDecisionPages(to: routes, services, pages: pages)
    addPoolPages(to: routes, services, pages: pages)
    addGrantAuditPage(to: routes, services, pages: pages)
    addLedgerPage(to: routes, services, pages: pages)
    addSteeringPages(to: routes, services, pages: pages, accounts: accounts)
    addCheckpointRoutes(to: routes, services, signer: configuration.checkpointSigner)
    return (router, routes)
}

/// Adds routes to the router and remembers them, so a test can hold them
/// against openapi.yaml and a wrong method gets a 405 naming the right ones.
final class Routes {
    let router: Router<AppRequestContext>
    let methods = RouteMethods()
    private(set) var recorded: [String] = []

    init(router: Router<AppRequestContext>) { self.router = router }

    func get(_ path: String, _ handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        record("GET", path)
        router.get(RouterPath(path), use: handler)
    }

    func post(_ path: String, _ handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        record("POST", path)
        router.post(RouterPath(path), use: handler)
    }

    /// A web page: answered like any route (405 for a wrong method), but not part of the API's document.
    func page(_ method: String, _ path: String, _ handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Response) {
        methods.add(method, path)
        if method == "GET" { router.get(RouterPath(path), use: handler) } else { router.post(RouterPath(path), use: handler) }
    }

    private func record(_ method: String, _ path: String) {
        methods.add(method, path)
        let openAPIPath = path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
        recorded.append("\(method) /\(openAPIPath)")
    }
}

/// Liveness with substance: the database answers and the event store's head is known.
struct Health: Encodable {
    var status: String
    var database: String
    var headPosition: Int64?
    /// The newest checkpoint readers of all events can reach now; behind the head while writers are still committing.
    var readableCheckpoint: Checkpoint?
    var projections: [ProjectionStatus]
}

/// "degraded" when a projection has stopped at a failing event or has not
/// advanced while events wait (stalled, with how long); 503 when
/// the database does not answer. States and counts for anyone; the errors
/// behind them only when `detailed` (an administrator), and in the log.
func health(store: EventStore, projections: ProjectionRuntime, detailed: Bool, logger: Logger) async throws -> Response {
    do {
        let head = try await store.head()
        var statuses = try await projections.status()
        if !detailed { statuses = statuses.map { var status = $0; status.error = nil; return status } }
        return try jsonResponse(Health(status: statuses.contains { $0.state == "failed" || $0.state == "stalled" } ? "degraded" : "ok", database: "reachable",
                                       headPosition: head.position, readableCheckpoint: head.readable, projections: statuses))
    } catch {
        logger.error("health: the database does not answer", metadata: ["error": "\(String(reflecting: error))"])
        let database = detailed ? "unreachable: \(String(reflecting: error))" : "unreachable"
        return try jsonResponse(Health(status: "unavailable", database: database, projections: []), status: .serviceUnavailable)
    }
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

/// The methods each route answers, by path pattern (`/v1/pools/:poolId`),
/// so a request for a path that exists with a method it lacks is a 405
/// with `Allow`, not a 404. Filled while the router is built, read after.
final class RouteMethods: Sendable {
    private let table = Mutex<[(pattern: [Substring], methods: [String])]>([])

    func add(_ method: String, _ path: String) {
        let pattern = path.split(separator: "/")
        table.withLock { table in
            if let index = table.firstIndex(where: { $0.pattern == pattern }) {
                table[index].methods.append(method)
            } else {
                table.append((pattern, [method]))
            }
        }
    }

    /// The methods `path` answers; empty when no route has that path.
    func allowed(for path: String) -> [String] {
        let segments = path.split(separator: "/")
        return table.withLock { table in
            table.first { entry in
                entry.pattern.count == segments.count
                    && zip(entry.pattern, segments).allSatisfy { pattern, segment in pattern.hasPrefix(":") || pattern == segment }
            }?.methods.sorted() ?? []
        }
    }
}

/// Signs a checkpoint of the history every `interval` while new events have come.
struct CheckpointService: Service {
    let tree: HistoryTree
    let signer: CheckpointSigner
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var signed: Int64 = -1
            while !Task.isCancelled {
                do {
                    let checkpoint = try await tree.signCheckpoint(with: signer)
                    if checkpoint.size != signed { logger.info("signed a checkpoint", metadata: ["size": "\(checkpoint.size)", "root": "\(checkpoint.root)"]) }
                    signed = checkpoint.size
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("could not sign a checkpoint", metadata: ["error": "\(String(reflecting: error))"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
