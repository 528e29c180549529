import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Logging
import PostgresNIO
import Projections
import Synchronization
import Testing

/// What happens around PostgreSQL: restarts, killed connections, a worker
/// stuck behind a lock. Workers reconnect and resume from their
/// checkpoints; nothing is lost or applied twice; a worker that does not
/// advance while events wait is reported; a shutdown ends in bounded time.
@Suite("Faults around the database", .serialized)
struct FaultTests {
    /// A cluster of the test's own (ops/postgres), which it may restart and stop without touching other tests.
    struct Cluster {
        let data: URL
        var url: String

        static func start(in folder: URL? = nil) async throws -> Cluster {
            let data = (folder ?? FreshDatabase.root.appendingPathComponent(".data")).appendingPathComponent("test-faults-\(UUID().uuidString.prefix(8))")
            try await run(data, "start")
            let port = try String(contentsOf: data.appendingPathComponent("grantledger.port"), encoding: .utf8)
            return Cluster(data: data, url: "postgres://grantledger@127.0.0.1:\(port.trimmingCharacters(in: .whitespacesAndNewlines))/grantledger")
        }

        func restart() async throws { try await Self.run(data, "restart") }
        func stop() async throws { try await Self.run(data, "stop") }
        func remove() async {
            try? await Self.run(data, "stop")
            // Where it really lives, when ops/postgres had to keep it elsewhere.
            if let real = try? FileManager.default.destinationOfSymbolicLink(atPath: data.path) { try? FileManager.default.removeItem(atPath: real) }
            try? FileManager.default.removeItem(at: data)
        }

        /// Runs `ops/postgres COMMAND` to its end. Not through Foundation's
        /// `Process`: it takes a child for running while any process holds
        /// what the child inherited, and the server `start` leaves running does.
        static func run(_ data: URL, _ command: String) async throws {
            let script = FreshDatabase.root.appendingPathComponent("ops/postgres").path
            var environment = ProcessInfo.processInfo.environment
            environment["GL_PGDATA"] = data.path
            environment["GL_PG_MAX_CONNECTIONS"] = "100"
            let arguments: [UnsafeMutablePointer<CChar>?] = [script, command].map { text in text.withCString { strdup($0) } } + [nil]
            let variables: [UnsafeMutablePointer<CChar>?] = environment.map { entry in "\(entry.key)=\(entry.value)".withCString { strdup($0) } } + [nil]
            defer { (arguments + variables).forEach { free($0) } }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            var pid = pid_t()
            guard posix_spawn(&pid, script, &actions, nil, arguments, variables) == 0 else { throw CommandFailed(command: command, status: -1) }
            var status: Int32 = 0
            while waitpid(pid, &status, WNOHANG) == 0 { try await Task.sleep(for: .milliseconds(50)) }
            let exitCode = (status >> 8) & 0xFF
            guard exitCode == 0 else { throw CommandFailed(command: command, status: exitCode) }
        }

        struct CommandFailed: Error { var command: String; var status: Int32 }

        /// Runs `body` with a cluster of its own, stopped and removed afterwards.
        static func with(in folder: URL? = nil, _ body: (Cluster) async throws -> Void) async throws {
            let cluster = try await start(in: folder)
            do {
                try await body(cluster)
            } catch {
                await cluster.remove()
                throw error
            }
            await cluster.remove()
        }
    }

    /// Drafts applications one after another until `stop`, retrying through outages; counts those written.
    static func draftUntil(_ handler: CommandHandler, call: UUID, opens: Date, stop: Flag) async -> Int {
        var written = 0
        while !stop.isSet {
            let content = ApplicationContent(organisation: "Skolen", projectLeader: "L", title: "T", description: "", requested: try! Money("10.00", .dkk))
            do {
                _ = try await handler.draftApplication(DraftApplication(applicationId: UUID(), callId: call, content: content, at: opens),
                                                       CommandContext(actor: "applicant", role: "applicant", actingAs: .unrestricted))
                written += 1
            } catch {
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        return written
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }

    static func callOf(_ store: EventStore) async throws -> (UUID, Date) {
        for try await row in try await store.client.query("SELECT call_id, opens_at FROM read.calls LIMIT 1").decode((UUID, Date).self) { return row }
        throw FreshDatabase.NoRows()
    }

    @Test("a database restart during appends, applies and a rebuild: workers reconnect and resume, nothing lost or doubled", .timeLimit(.minutes(10)))
    func restart() async throws {
        try await Cluster.with { cluster in
        var configuration = try DatabaseURL.configuration(cluster.url)
        configuration.options.maximumConnections = 30
        try await PostgresClient.withRunning(configuration, logger: FreshDatabase.logger) { client in
            try await Migrator(directory: FreshDatabase.root.appendingPathComponent("db")).migrate(client: client, logger: FreshDatabase.logger)
            let store = EventStore(client: client, logger: FreshDatabase.logger)
            _ = try await FreshDatabase.generate(store, seed: 3, pools: 6, applicationsPerPool: 200)
            try await WorkerTests.withWorkers(cluster.url) {
                _ = try await FreshDatabase.waitUntilCaughtUp(store)
                let (call, opens) = try await Self.callOf(store)
                // Appends run throughout; a rebuild of the largest read model is under way when the server restarts.
                let stop = Flag()
                let drafting = Task { await Self.draftUntil(CommandHandler(store: store), call: call, opens: opens, stop: stop) }
                let rebuilding = Task { try await Rebuilder(store: store, logger: FreshDatabase.logger).rebuild(AuditLedgerProjection()) }
                try await Task.sleep(for: .milliseconds(700))
                try await cluster.restart()
                try await Task.sleep(for: .seconds(2))
                try await cluster.restart()
                try await Task.sleep(for: .seconds(2))
                stop.set()
                let drafted = await drafting.value
                #expect(drafted > 0)
                // The rebuild either finished before the restart or failed at once when its connection closed; never hangs.
                _ = try? await rebuilding.value

                let statuses = try await FreshDatabase.waitUntilCaughtUp(store, timeout: .seconds(120))
                #expect(statuses.allSatisfy { $0.state == "running" }, "\(statuses)")
                let events = try await FreshDatabase.count("SELECT count(*) FROM events", store)
                #expect(try await FreshDatabase.count("SELECT count(*) FROM read.ledger", store) == events)
                #expect(try await FreshDatabase.count("SELECT count(DISTINCT global_position) FROM read.ledger", store) == events)
                #expect(try await FreshDatabase.count("SELECT count(*) FROM read.applications", store)
                        == (try await FreshDatabase.count("SELECT count(*) FROM events WHERE event_type = 'ApplicationDrafted'", store)))
                try await FreshDatabase.expectNoDrift(store)
            }
        }
        }
    }

    @Test("workers' connections killed again and again while they apply: each resumes from its checkpoint, nothing lost or doubled", .timeLimit(.minutes(10)))
    func terminatedConnections() async throws {
        try await FreshDatabase.with { store, url in
            let name = URLComponents(string: url)!.path.dropFirst()
            _ = try await FreshDatabase.generate(store, seed: 4, pools: 24, applicationsPerPool: 200)
            try await WorkerTests.withWorkers(url) {
                for _ in 0..<6 {
                    try await Task.sleep(for: .milliseconds(400))
                    // The workers' sessions: those holding a projection's lock.
                    _ = try await store.client.query("""
                        SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                        WHERE l.locktype = 'advisory' AND a.datname = \(String(name)) AND l.pid <> pg_backend_pid()
                        """, logger: FreshDatabase.logger).collect()
                }
                let statuses = try await FreshDatabase.waitUntilCaughtUp(store, timeout: .seconds(180))
                #expect(statuses.allSatisfy { $0.state == "running" }, "\(statuses)")
            }
            let events = try await FreshDatabase.count("SELECT count(*) FROM events", store)
            #expect(try await FreshDatabase.count("SELECT count(*) FROM read.ledger", store) == events)
            #expect(try await FreshDatabase.count("SELECT max(sequence) FROM read.ledger", store) == events)
            try await FreshDatabase.expectNoDrift(store)
        }
    }

    @Test("a worker that does not advance while events wait is reported stalled, with how long", .timeLimit(.minutes(3)))
    func stalled() async throws {
        try await FreshDatabase.with { store, url in
            _ = try await FreshDatabase.generate(store, seed: 5, pools: 1, applicationsPerPool: 10)
            try await WorkerTests.withWorkers(url) {
                _ = try await FreshDatabase.waitUntilCaughtUp(store)
                // Another session holds the ledger's checkpoint row: its worker cannot move it.
                try await PostgresClient.withRunning(try DatabaseURL.configuration(url), logger: FreshDatabase.logger) { client in
                    try await client.withConnection { holder in
                        try await holder.query("BEGIN", logger: FreshDatabase.logger)
                        try await holder.query("SET LOCAL idle_in_transaction_session_timeout = 0", logger: FreshDatabase.logger)
                        try await holder.query("SELECT 1 FROM projection_checkpoints WHERE projection = 'audit_ledger' AND live FOR UPDATE",
                                               logger: FreshDatabase.logger)
                        _ = try await FreshDatabase.generate(store, seed: 6, pools: 1, applicationsPerPool: 5)
                        let runtime = ProjectionRuntime(store: store, logger: FreshDatabase.logger)
                        var stalled: ProjectionStatus?
                        for _ in 0..<60 where stalled == nil {
                            try await Task.sleep(for: .seconds(1))
                            let statuses = try await runtime.status()
                            stalled = statuses.first { $0.name == "audit_ledger" && $0.state == "stalled" }
                        }
                        let status = try #require(stalled)
                        #expect((status.stalledSeconds ?? 0) >= ProjectionRuntime.stallThreshold && status.eventsBehind > 0)
                        // The others carry on.
                        #expect(try await runtime.status().filter { $0.name != "audit_ledger" }.allSatisfy { $0.state == "running" })
                        try await holder.query("ROLLBACK", logger: FreshDatabase.logger)
                    }
                }
                let statuses = try await FreshDatabase.waitUntilCaughtUp(store)
                #expect(statuses.allSatisfy { $0.state == "running" }, "\(statuses)")
            }
        }
    }

    @Test("a checkout the postgres user cannot enter (a clone in /root, mode 700) still gets a cluster", .timeLimit(.minutes(3)))
    func unreachableCheckout() async throws {
        guard getuid() == 0 else { return }  // only root runs the server as another user
        let closed = FileManager.default.temporaryDirectory.appendingPathComponent("closed-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: closed.appendingPathComponent("checkout/.data"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: closed.path)
        defer { try? FileManager.default.removeItem(at: closed) }
        try await Cluster.with(in: closed.appendingPathComponent("checkout/.data")) { cluster in
            try await PostgresClient.withRunning(try DatabaseURL.configuration(cluster.url), logger: FreshDatabase.logger) { client in
                try await Migrator(directory: FreshDatabase.root.appendingPathComponent("db")).migrate(client: client, logger: FreshDatabase.logger)
            }
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: cluster.data.path).hasPrefix("/var/tmp/"))
        }
    }

    @Test("SIGTERM to grantledger project ends it within 10 s while the database is down", .timeLimit(.minutes(3)))
    func shutdownWhileDatabaseDown() async throws {
        let binary = try #require(KillTests.executable(), "build the grantledger executable first (ops/test does)")
        try await Cluster.with { cluster in
        try await PostgresClient.withRunning(try DatabaseURL.configuration(cluster.url), logger: FreshDatabase.logger) { client in
            try await Migrator(directory: FreshDatabase.root.appendingPathComponent("db")).migrate(client: client, logger: FreshDatabase.logger)
            _ = try await FreshDatabase.generate(EventStore(client: client, logger: FreshDatabase.logger), seed: 8, pools: 2, applicationsPerPool: 50)
        }
        let worker = try KillTests.start(binary, cluster.url)
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL) } }
        try await Task.sleep(for: .seconds(2))
        try await cluster.stop()
        try await Task.sleep(for: .seconds(3))
        #expect(worker.isRunning, "a database outage must not end the worker")
        let clock = ContinuousClock(), signalled = clock.now
        kill(worker.processIdentifier, SIGTERM)
        while worker.isRunning, clock.now - signalled < .seconds(30) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!worker.isRunning && clock.now - signalled <= .seconds(11), "still running \(clock.now - signalled) after SIGTERM")
        }
    }
}
