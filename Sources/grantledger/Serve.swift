import ArgumentParser
import Documents
import EventStore
import Foundation
import GrantAPI
import GrantDomain
import Hummingbird
import Logging
import Metrics
import PostgresNIO
import Projections
import Prometheus
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Migrate, then serve the HTTP API until interrupted.",
        discussion: """
            Reads DATABASE_URL (and GRANTLEDGER_OWNER_URL, to migrate as the owner when that is another role), GRANTLEDGER_HOST (default 127.0.0.1), GRANTLEDGER_PORT (default 8080), GRANTLEDGER_JWT_KEY
            (default: .data/jwt.key, generated once), GRANTLEDGER_SIGNING_KEY (default: .data/signing.key, generated once) and
            GRANTLEDGER_CHECKPOINT_INTERVAL (seconds between signed checkpoints, default 3600; 0: only on demand),
            GRANTLEDGER_PUBLIC_URL (where people reach the pages, for sign-in links and Secure cookies; default http://HOST:PORT) and
            GRANTLEDGER_BCRYPT_COST (bcrypt's cost for new passwords, 10-31, default 12) and GRANTLEDGER_TRUSTED_PROXIES (comma-separated
            addresses of proxies whose X-Forwarded-For names the client, for counting sign-in attempts; default none),
            GRANTLEDGER_DOCUMENT_LIMIT (the largest document taken, in bytes; default 25000000) and GRANTLEDGER_VIRUS_SCAN (the
            command that scans a document, answering as clamscan does; default `clamscan`, e.g. `clamdscan --fdpass` or
            `clamscan -d DIR`; `off` serves documents unscanned, with a warning).
            """
    )

    @Flag(help: "Do not run the projection workers in this process (run `grantledger project` elsewhere).")
    var noWorkers = false

    func run() async throws {
        let environment = try Environment.load()
        let variables = ProcessInfo.processInfo.environment
        guard let port = Int(variables["GRANTLEDGER_PORT"] ?? "8080"), (1...65535).contains(port) else {
            throw CommandFailure("GRANTLEDGER_PORT must be a port number")
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let api = APIConfiguration(host: variables["GRANTLEDGER_HOST"] ?? "127.0.0.1", port: port, jwtKey: try jwtKey(), runWorkers: !noWorkers,
                                   listener: try DatabaseURL.connectionConfiguration(environment.databaseURL), metrics: registry,
                                   openAPIDocument: openAPIDocument(), checkpointSigner: try checkpointSigner(),
                                   checkpointInterval: try checkpointInterval(), bcryptCost: try bcryptCost(), publicURL: publicURL(),
                                   trustedProxies: Set((variables["GRANTLEDGER_TRUSTED_PROXIES"] ?? "").split(separator: ",")
                                       .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }),
                                   documentLimit: try documentLimit(), virusScanner: try await virusScanner(logger: environment.logger))
        let postgres = try environment.postgresConfiguration()
        let migrator = try environment.migrator()
        _ = try await PostgresClient.withRunning(postgres, logger: environment.logger) { client in
            try await environment.migrate(migrator, client: client)
            // Read models exist (perhaps still empty) before the first request.
            try await ProjectionRuntime(store: EventStore(client: client, logger: environment.logger), logger: environment.logger).prepare()
        }
        var pooled = postgres
        // Each projection worker holds a connection, and each tail one more to LISTEN.
        pooled.options.maximumConnections = 40
        let client = PostgresClient(configuration: pooled, backgroundLogger: environment.logger)
        let store = EventStore(client: client, logger: environment.logger)
        let application = try await buildApplication(configuration: api, store: store, logger: environment.logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: application), .init(service: ShutdownDeadlineService(), successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: environment.logger))
        try await group.run()
    }
}

/// Arms ``ShutdownDeadline`` when the group starts shutting down gracefully.
struct ShutdownDeadlineService: Service {
    func run() async throws {
        try? await gracefulShutdown()
        ShutdownDeadline.arm()
    }
}

/// GRANTLEDGER_CHECKPOINT_INTERVAL, in seconds (default an hour); nil for 0.
func checkpointInterval() throws -> Duration? {
    let text = ProcessInfo.processInfo.environment["GRANTLEDGER_CHECKPOINT_INTERVAL"] ?? "3600"
    guard let seconds = Int(text), seconds >= 0 else { throw CommandFailure("GRANTLEDGER_CHECKPOINT_INTERVAL must be a whole number of seconds") }
    return seconds == 0 ? nil : .seconds(seconds)
}

/// GRANTLEDGER_BCRYPT_COST: 12 unless set; below 10 only for tests (GRANTLEDGER_TESTING=1).
func bcryptCost() throws -> UInt8 {
    let variables = ProcessInfo.processInfo.environment
    guard let text = variables["GRANTLEDGER_BCRYPT_COST"] else { return 12 }
    let floor: UInt8 = variables["GRANTLEDGER_TESTING"] == "1" ? 4 : 10
    guard let cost = UInt8(text), (floor...31).contains(cost) else {
        throw CommandFailure("GRANTLEDGER_BCRYPT_COST must be \(floor) to 31")
    }
    return cost
}

/// GRANTLEDGER_PUBLIC_URL, else the address served on.
func publicURL() -> String {
    let variables = ProcessInfo.processInfo.environment
    if let url = variables["GRANTLEDGER_PUBLIC_URL"], !url.isEmpty { return url }
    return "http://\(variables["GRANTLEDGER_HOST"] ?? "127.0.0.1"):\(variables["GRANTLEDGER_PORT"] ?? "8080")"
}

/// GRANTLEDGER_DOCUMENT_LIMIT, in bytes: 25 MB unless set.
func documentLimit() throws -> Int64 {
    let text = ProcessInfo.processInfo.environment["GRANTLEDGER_DOCUMENT_LIMIT"] ?? "25000000"
    guard let limit = Int64(text), (1...Limits.documentBytes).contains(limit) else {
        throw CommandFailure("GRANTLEDGER_DOCUMENT_LIMIT must be 1 to \(Limits.documentBytes) bytes")
    }
    return limit
}

/// GRANTLEDGER_VIRUS_SCAN: the scanner's command (clamscan unless set), checked
/// to answer before the server starts; `off`, none, with a warning.
func virusScanner(logger: Logger) async throws -> (any VirusScanner)? {
    let text = ProcessInfo.processInfo.environment["GRANTLEDGER_VIRUS_SCAN"] ?? "clamscan"
    if text == "off" {
        logger.warning("GRANTLEDGER_VIRUS_SCAN=off: documents are served without a virus scan")
        return nil
    }
    do {
        let scanner = try await ClamAVScanner(command: text.split(separator: " ").map(String.init))
        logger.info("documents are scanned by \(scanner.version)")
        return scanner
    } catch {
        throw CommandFailure("""
            the virus scanner (GRANTLEDGER_VIRUS_SCAN=\(text)) does not answer: \(error). Install ClamAV and its signatures \
            (apt-get install clamav; freshclam), name a working command, or set GRANTLEDGER_VIRUS_SCAN=off to serve documents unscanned
            """)
    }
}
