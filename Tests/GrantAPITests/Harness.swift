import Audit
import Documents
import EventStore
import Foundation
import HTTPTypes
import GrantAPI
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import PostgresNIO
import Projections
import Prometheus
import Testing
import TestSupport

/// The API served from a fresh, migrated database, driven in process with
/// the projection workers running, as `grantledger serve` runs them.
struct API: Sendable {
    let client: any TestClientProtocol
    let store: EventStore
    let auth: Authenticator

    func token(_ role: Role, organisation: String? = nil, member: String? = nil, group: String? = nil, subject: String? = nil) async throws -> String {
        let groupId = try group.map { try #require(UUID(uuidString: $0), "the group's id, \($0), is not a UUID") }
        let name = subject ?? [role.rawValue, organisation, group?.lowercased(), member].compactMap { $0 }.joined(separator: ":")
        return try await auth.token(for: Identity(subject: name, role: role, organisation: organisation, member: member, groupId: groupId))
    }

    func post(_ path: String, _ token: String?, _ json: String = "{}", key: String? = nil) async throws -> TestResponse {
        try await post(path, token, body: ByteBuffer(string: json), key: key)
    }

    func post(_ path: String, _ token: String?, body: ByteBuffer, key: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        return try await client.execute(uri: path, method: .post, headers: headers, body: body)
    }

    func get(_ path: String, _ token: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: path, method: .get, headers: headers)
    }

    /// The newest event's position.
    func head() async throws -> Int64 {
        try await store.head().position
    }

    func eventCount() async throws -> Int {
        for try await count in try await store.client.query("SELECT count(*)::int8 FROM events", logger: Harness.logger).decode(Int.self) {
            return count
        }
        return 0
    }
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
    }

    var text: String { String(buffer: body) }

    /// A 2xx answer's JSON; records an issue with the body otherwise.
    func ok(sourceLocation: SourceLocation = #_sourceLocation) -> [String: Any] {
        #expect((200..<300).contains(Int(status.code)), "\(status.code): \(text)", sourceLocation: sourceLocation)
        return json
    }

    func string(_ key: String) -> String { json[key] as? String ?? "" }
    var position: Int64 { (json["position"] as? NSNumber)?.int64Value ?? -1 }
}

enum Harness {
    /// The process's one metrics registry: the metrics system is bootstrapped once, by the first test that needs it.
    static let metrics: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    static let jwtKey = "test-only-key-0123456789abcdef0123456789abcdef"

    static let logger = TestDatabases.logger("api-test")

    static var root: URL { TestDatabases.root }

    /// Runs `body` against the API on a database of its own, dropped afterwards.
    /// Reads wait up to `consistencyWait` for their writes: generous, as other suites load the machine.
    static func with(runWorkers: Bool = true, consistencyWait: Duration = .seconds(60), checkpointSigner: CheckpointSigner? = nil,
                     documentLimit: Int64 = 25_000_000, virusScanner: (any VirusScanner)? = nil,
                     _ body: @Sendable (API) async throws -> Void) async throws {
        try await TestDatabases.withDatabase(prefix: "gl_api", logger: logger) { url in
            var configuration = try DatabaseURL.configuration(url)
            // Six projection workers hold one each; requests share the rest. Suites run in parallel within max_connections.
            configuration.options.maximumConnections = 16
            _ = try await PostgresClient.withRunning(configuration, logger: logger) { client in
                try await Migrator(directory: root.appendingPathComponent("db")).migrate(client: client, logger: logger)
                try await ProjectionRuntime(store: EventStore(client: client, logger: logger), logger: logger).prepare()
            }
            // The application runs this client as one of its services.
            let store = EventStore(client: PostgresClient(configuration: configuration, backgroundLogger: logger), logger: logger)
            let document = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
            let app = try await buildApplication(
                configuration: APIConfiguration(jwtKey: jwtKey, runWorkers: runWorkers, metrics: metrics, consistencyWait: consistencyWait,
                                                openAPIDocument: document, checkpointSigner: checkpointSigner,
                                                bcryptCost: 4, documentLimit: documentLimit, virusScanner: virusScanner),
                store: store, logger: logger)
            let auth = try await Authenticator(key: jwtKey)
            try await app.test(.router) { client in
                try await body(API(client: client, store: store, auth: auth))
            }
        }
    }
}
