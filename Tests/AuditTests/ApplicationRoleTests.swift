import Audit
import Crypto
import EventStore
import Foundation
import GrantCommands
import Logging
import PostgresNIO
import Programmes
import Projections
import Testing

@Suite("The application's own role: everything the application does, nothing that rewrites history")
struct ApplicationRoleTests {
    @Test("Migrated by the owner, the application's role appends, imports, projects, rebuilds, verifies and signs; it cannot disable a trigger, change, remove or truncate an event, alter or drop a table, or replace a function")
    func applicationRole() async throws {
        try await AuditDatabase.withApplicationRole { owner, url, role in
            try await Migrator(directory: AuditDatabase.root.appendingPathComponent("db"))
                .migrate(client: owner.client, applicationRole: role, logger: AuditDatabase.logger)

            var components = URLComponents(string: url)!
            components.user = role
            var configuration = try DatabaseURL.configuration(components.string!)
            configuration.options.maximumConnections = 12
            try await PostgresClient.withRunning(configuration, logger: AuditDatabase.logger) { client in
                let store = EventStore(client: client, logger: AuditDatabase.logger)
                // With every migration applied, the application's role may start as it does in serve: it has nothing to apply.
                #expect(try await Migrator(directory: AuditDatabase.root.appendingPathComponent("db")).migrate(client: client, logger: AuditDatabase.logger).isEmpty)

                _ = try await Demo(handler: CommandHandler(store: store)).load()
                _ = try await store.importHistory { history in
                    _ = try await HistoryGenerator(seed: 5, pools: 1, applicationsPerPool: 20).generate(chunkEvents: 200) { try await history.add($0) }
                }
                try await AuditDatabase.project(store)
                let rebuilt = try await Rebuilder(store: store, logger: AuditDatabase.logger).rebuild(GrantsProjection())
                #expect(rebuilt.events > 0 && rebuilt.generation == 2)
                #expect(try await Verifier(store: store).verify().brokenLinks.isEmpty)
                let signer = CheckpointSigner(key: Curve25519.Signing.PrivateKey())
                let checkpoint = try await HistoryTree(store: store).signCheckpoint(with: signer)
                #expect(checkpoint.size == Int64(try await AuditDatabase.int(store, "SELECT count(*) FROM events")))

                let target = try await AuditDatabase.int(store, "SELECT min(global_position) FROM events")
                let refused: [String] = [
                    "ALTER TABLE events DISABLE TRIGGER events_append_only",
                    "ALTER TABLE events DISABLE TRIGGER ALL",
                    "DROP TRIGGER events_append_only ON events",
                    "UPDATE events SET data = data WHERE global_position = \(target)",
                    "DELETE FROM events WHERE global_position = \(target)",
                    "TRUNCATE events",
                    "ALTER TABLE events ADD COLUMN note text",
                    "DROP TABLE events CASCADE",
                    "CREATE OR REPLACE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
                    "ALTER FUNCTION append_lock(anyelement) RENAME TO append_lock_old",
                    "UPDATE signed_checkpoints SET root = ''::bytea",
                    "DELETE FROM signed_checkpoints",
                    "ALTER TABLE signed_checkpoints DISABLE TRIGGER signed_checkpoints_append_only",
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'x', 'x')",
                    "SET session_replication_role = replica",
                    "CREATE TABLE public.shadow (id int)",
                    // Past the append lock, an event slipped in below every reader and checkpoint, or recorded in the past.
                    Self.forgedInsert(transactionId: "'3'::xid8", recordedAt: "clock_timestamp()"),
                    Self.forgedInsert(transactionId: "pg_current_xact_id()", recordedAt: "now() - interval '1 year'"),
                ]
                for statement in refused {
                    await #expect(throws: PSQLError.self, "\(statement)") {
                        try await client.query(PostgresQuery(unsafeSQL: statement), logger: AuditDatabase.logger)
                    }
                    var denied = ""
                    do { try await client.query(PostgresQuery(unsafeSQL: statement), logger: AuditDatabase.logger) } catch let error as PSQLError {
                        denied = error.serverInfo?[.sqlState] ?? ""
                    }
                    // 42501: insufficient privilege, "must be owner" included; GL007, GL011: the history's own triggers.
                    #expect(["42501", "GL007", "GL011"].contains(denied), "\(statement): \(denied)")
                }
                #expect(try await Verifier(store: store).verify().brokenLinks.isEmpty)
                #expect(try await HistoryTree(store: store).check([checkpoint], trusting: signer.publicKey).allSatisfy { $0.1 == nil })
            }
        }
    }

    /// An insert of a copy of the first event into a stream of its own, past the append lock's check.
    static func forgedInsert(transactionId: String, recordedAt: String) -> String {
        """
        DO $$ BEGIN
          PERFORM set_config('grantledger.appending', pg_current_xact_id()::text, true);
          INSERT INTO events (transaction_id, event_id, stream_id, stream_version, event_type, schema_version, data, metadata,
                              occurred_at, recorded_at, previous_hash, hash)
          SELECT \(transactionId), gen_random_uuid(), 'zz-forged', 1, event_type, schema_version, data, metadata,
                 occurred_at, \(recordedAt), ''::bytea, hash
          FROM events ORDER BY global_position LIMIT 1;
        END $$
        """
    }

    @Test("A role that does not own the schema is told to migrate as the owner, not given a bare permission error")
    func pendingMigrationsNeedTheOwner() async throws {
        try await AuditDatabase.withApplicationRole { owner, url, role in
            try await Migrator(directory: AuditDatabase.root.appendingPathComponent("db"))
                .migrate(client: owner.client, applicationRole: role, logger: AuditDatabase.logger)
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-migrations-\(UUID().uuidString)")
            try FileManager.default.copyItem(at: AuditDatabase.root.appendingPathComponent("db"), to: folder)
            defer { try? FileManager.default.removeItem(at: folder) }

            var components = URLComponents(string: url)!
            components.user = role
            try await PostgresClient.withRunning(try DatabaseURL.configuration(components.string!), logger: AuditDatabase.logger) { client in
                // A function changed that the owner has not applied yet.
                let horizon = folder.appendingPathComponent("functions/readable_horizon.sql")
                try (try String(contentsOf: horizon, encoding: .utf8) + "\n-- changed\n").write(to: horizon, atomically: true, encoding: .utf8)
                await #expect(throws: Migrator.Failure.notOwner(script: "functions/readable_horizon.sql", role: role)) {
                    try await Migrator(directory: folder).migrate(client: client, logger: AuditDatabase.logger)
                }
                // A migration the owner has not applied yet.
                try "CREATE TABLE later (id int);".write(to: folder.appendingPathComponent("migrations/9999_later.sql"), atomically: true, encoding: .utf8)
                await #expect(throws: Migrator.Failure.notOwner(script: "9999_later.sql", role: role)) {
                    try await Migrator(directory: folder).migrate(client: client, logger: AuditDatabase.logger)
                }
            }
        }
    }
}
