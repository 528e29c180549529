import Foundation
import PostgresNIO
import Testing
import EventStore
import TestSupport

@Suite("Migrations")
struct MigratorTests {
    @Test("a second run applies nothing")
    func secondRunIsNoOp() async throws {
        try await TestDatabase.withStore { store in
            let migrator = try Migrator(directory: TestDatabase.migrationsDirectory)
            #expect(try await migrator.migrate(client: store.client, logger: TestDatabase.logger) == [])
        }
    }

    /// A copy of db/ to change, removed afterwards.
    static func withSchemaCopy<Result>(_ body: (URL) async throws -> Result) async throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-db-\(UUID())")
        try FileManager.default.copyItem(at: TestDatabase.migrationsDirectory, to: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(folder)
    }

    /// A database of its own, dropped afterwards.
    /// A database of its own, dropped afterwards. PostgreSQL's errors are
    /// recorded in full (PSQLError describes itself generically).
    static func withEmptyDatabase(_ body: @Sendable (PostgresClient) async throws -> Void,
                                  sourceLocation: SourceLocation = #_sourceLocation) async throws {
        do {
            try await TestDatabases.withDatabase(prefix: "migrator", logger: TestDatabase.logger) { url in
                try await PostgresClient.withRunning(try DatabaseURL.configuration(url), logger: TestDatabase.logger, body)
            }
        } catch let error as PSQLError {
            Issue.record("\(String(reflecting: error))", sourceLocation: sourceLocation)
        }
    }

    @Test("an applied migration that was edited is refused with its name")
    func changedMigrationRefused() async throws {
        try await Self.withSchemaCopy { folder in
            let baseline = folder.appendingPathComponent("migrations/0001_baseline.sql")
            try (try String(contentsOf: baseline, encoding: .utf8) + "\n-- edited after it was applied\n").write(to: baseline, atomically: true, encoding: .utf8)
            let edited = try Migrator(directory: folder)
            _ = try await TestDatabase.withStore { store in
                await #expect(performing: {
                    try await edited.migrate(client: store.client, logger: TestDatabase.logger)
                }, throws: { error in
                    guard case Migrator.Failure.changedAfterApplying(let name, _, _) = error else { return false }
                    return name == "0001_baseline.sql"
                })
            }
        }
    }

    @Test("a function file is applied when it appears and again when it changes, its result type too; one removed takes its function with it")
    func functionsFollowTheirFiles() async throws {
        try await Self.withSchemaCopy { folder in
            try await Self.withEmptyDatabase { client in
                #expect(try await Migrator(directory: folder).migrate(client: client, logger: TestDatabase.logger)
                    == Migrator(directory: folder).migrations.map(\.name) + Migrator(directory: folder).functions.map { "functions/\($0.name)" })

                let functions = folder.appendingPathComponent("functions")
                try """
                    -- How many events a stream holds.
                    CREATE OR REPLACE FUNCTION stream_length(p_stream text) RETURNS bigint
                    LANGUAGE sql STABLE RETURN (SELECT coalesce(max(version), 0) FROM streams WHERE stream_id = p_stream);
                    """.write(to: functions.appendingPathComponent("stream_length.sql"), atomically: true, encoding: .utf8)
                #expect(try await Migrator(directory: folder).migrate(client: client, logger: TestDatabase.logger) == ["functions/stream_length.sql"])

                let file = functions.appendingPathComponent("stream_length.sql")
                try (try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "coalesce(max(version), 0)", with: "coalesce(max(version), -1)"))
                    .write(to: file, atomically: true, encoding: .utf8)
                #expect(try await Migrator(directory: folder).migrate(client: client, logger: TestDatabase.logger) == ["functions/stream_length.sql"])
                for try await length in try await client.query("SELECT stream_length('none')", logger: TestDatabase.logger).decode(Int64.self) {
                    #expect(length == -1, "the file's body, not the first one")
                }
                // A changed result type cannot be replaced in place.
                try (try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: "RETURNS bigint", with: "RETURNS text")
                    .replacingOccurrences(of: "coalesce(max(version), -1)", with: "coalesce(max(version), -1)::text"))
                    .write(to: file, atomically: true, encoding: .utf8)
                #expect(try await Migrator(directory: folder).migrate(client: client, logger: TestDatabase.logger) == ["functions/stream_length.sql"])
                for try await length in try await client.query("SELECT stream_length('none')", logger: TestDatabase.logger).decode(String.self) {
                    #expect(length == "-1")
                }
                #expect(try await Migrator(directory: folder).migrate(client: client, logger: TestDatabase.logger) == [])

                try FileManager.default.removeItem(at: file)
                #expect(try await Migrator(directory: folder).migrate(client: client, logger: TestDatabase.logger) == [])
                for try await exists in try await client.query("SELECT to_regproc('stream_length') IS NOT NULL", logger: TestDatabase.logger).decode(Bool.self) {
                    #expect(!exists)
                }
            }
        }
    }

    @Test("db/functions.lock ends with the generation of the function files as they are: a changed function adds a generation")
    func lockHoldsTheFiles() throws {
        let migrator = try Migrator(directory: TestDatabase.migrationsDirectory)
        #expect(migrator.generations.last?.digest == migrator.functionsDigest,
                "db/functions changed: add this line to db/functions.lock: generation \(migrator.generation + 1) \(migrator.functionsDigest)")
        #expect(zip(migrator.generations, migrator.generations.dropFirst()).allSatisfy { $0.generation < $1.generation },
                "generations only grow")
    }

    @Test("an older GrantLedger does not replace a newer one's functions, saying what to run; deleting the generation rolls back on purpose")
    func olderFunctionsRefused() async throws {
        try await Self.withSchemaCopy { older in
            try await Self.withSchemaCopy { newer in
                let file = newer.appendingPathComponent("functions/read_streams.sql")
                try (try String(contentsOf: file, encoding: .utf8) + "\n-- generation 2\n").write(to: file, atomically: true, encoding: .utf8)
                let lock = newer.appendingPathComponent("functions.lock")
                let raised = "generation \(try Migrator(directory: older).generation + 1) \(try Migrator(directory: newer).functionsDigest)\n"
                try (try String(contentsOf: lock, encoding: .utf8) + raised).write(to: lock, atomically: true, encoding: .utf8)
                let (olderMigrator, newerMigrator) = (try Migrator(directory: older), try Migrator(directory: newer))
                try await Self.withEmptyDatabase { client in
                    _ = try await olderMigrator.migrate(client: client, logger: TestDatabase.logger)
                    #expect(try await newerMigrator.migrate(client: client, logger: TestDatabase.logger) == ["functions/read_streams.sql"])
                    await #expect(throws: Migrator.Failure.newerFunctions(recorded: newerMigrator.generation, ours: olderMigrator.generation)) {
                        try await olderMigrator.migrate(client: client, logger: TestDatabase.logger)
                    }
                    func recordedChecksum() async throws -> String {
                        var checksum = ""
                        for try await value in try await client.query("SELECT checksum FROM schema_functions WHERE name = 'read_streams.sql'",
                                                                      logger: TestDatabase.logger).decode(String.self) { checksum = value }
                        return checksum
                    }
                    let newerChecksum = newerMigrator.functions.first { $0.name == "read_streams.sql" }?.checksum
                    #expect(try await recordedChecksum() == newerChecksum, "the newer functions stay")
                    // An older GrantLedger with a migration of its own is refused before the migration is applied.
                    try "CREATE TABLE older_note (id integer);".write(to: older.appendingPathComponent("migrations/9999_older_note.sql"),
                                                                       atomically: true, encoding: .utf8)
                    await #expect(throws: Migrator.Failure.newerFunctions(recorded: newerMigrator.generation, ours: olderMigrator.generation)) {
                        try await Migrator(directory: older).migrate(client: client, logger: TestDatabase.logger)
                    }
                    for try await exists in try await client.query("SELECT to_regclass('older_note') IS NOT NULL", logger: TestDatabase.logger)
                        .decode(Bool.self) { #expect(!exists, "nothing applied") }
                    // The newer GrantLedger again: nothing to do.
                    #expect(try await newerMigrator.migrate(client: client, logger: TestDatabase.logger) == [])
                    try await client.query("DELETE FROM schema_function_generation", logger: TestDatabase.logger)
                    #expect(try await olderMigrator.migrate(client: client, logger: TestDatabase.logger) == ["functions/read_streams.sql"])
                    #expect(try await recordedChecksum() != newerChecksum)
                }
            }
        }
    }

    @Test("the database runs the functions and triggers db/functions defines, and no others")
    func functionsAreTheFiles() async throws {
        let migrator = try Migrator(directory: TestDatabase.migrationsDirectory)
        let declared = try ["FUNCTION", "TRIGGER"].map { kind in
            let pattern = try Regex("CREATE OR REPLACE \(kind) (\\w+)")
            return Set(migrator.functions.flatMap { $0.sql.matches(of: pattern).compactMap { $0.output[1].substring.map(String.init) } })
        }
        try await Self.withEmptyDatabase { client in
            try await migrator.migrate(client: client, logger: TestDatabase.logger)
            var functions = Set<String>(), triggers = Set<String>()
            for try await name in try await client.query("""
                SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
                """, logger: TestDatabase.logger).decode(String.self) { functions.insert(name) }
            for try await name in try await client.query("SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal", logger: TestDatabase.logger)
                .decode(String.self) { triggers.insert(name) }
            #expect(functions == declared[0])
            #expect(triggers == declared[1])
            #expect(functions.contains("append_events") && triggers.contains("events_append_only"))
        }
    }

    @Test("a database made by the migrations before the baseline is refused, saying how to carry its history over, and left as it was")
    func databaseBeforeTheBaselineRefused() async throws {
        try await Self.withEmptyDatabase { client in
            try await client.query("""
                CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                                                applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: TestDatabase.logger)
            try await client.query("""
                INSERT INTO schema_migrations (version, name, checksum)
                VALUES (1, '0001_event_store.sql', 'a'), (2, '0002_append_only.sql', 'b'), (20, '0020_sign_in.sql', 'c')
                """, logger: TestDatabase.logger)
            let migrator = try Migrator(directory: TestDatabase.migrationsDirectory)
            await #expect(throws: Migrator.Failure.unknownMigrations(["0001_event_store.sql", "0002_append_only.sql", "0020_sign_in.sql"])) {
                try await migrator.migrate(client: client, logger: TestDatabase.logger)
            }
            let description = Migrator.Failure.unknownMigrations(["0001_event_store.sql"]).description
            #expect(description.contains("grantledger export-history FILE") && description.contains("grantledger import FILE"))
            for try await written in try await client.query(
                "SELECT to_regclass('events') IS NOT NULL OR to_regclass('schema_functions') IS NOT NULL", logger: TestDatabase.logger
            ).decode(Bool.self) {
                #expect(!written, "nothing applied, nothing created")
            }
        }
    }

    @Test("a database with migrations after this GrantLedger's newest is refused: a newer GrantLedger made it")
    func newerDatabaseRefused() async throws {
        try await Self.withEmptyDatabase { client in
            try await client.query("""
                CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                                                applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: TestDatabase.logger)
            try await client.query("""
                INSERT INTO schema_migrations (version, name, checksum) VALUES (1, '0001_baseline.sql', 'x'), (9999, '9999_later.sql', 'y')
                """, logger: TestDatabase.logger)
            await #expect(throws: Migrator.Failure.newerMigrations(["9999_later.sql"])) {
                try await Migrator(directory: TestDatabase.migrationsDirectory).migrate(client: client, logger: TestDatabase.logger)
            }
        }
    }

    @Test("without its function files a schema is refused: the history would have no append and no guard")
    func functionsRequired() async throws {
        try await Self.withSchemaCopy { folder in
            try FileManager.default.removeItem(at: folder.appendingPathComponent("functions"))
            #expect(throws: Migrator.Failure.noFunctions(directory: folder.path)) { try Migrator(directory: folder) }
        }
    }

    @Test("what else depends on the functions (a view) stops their replacement, named, and nothing changes")
    func dependentsRefused() async throws {
        try await Self.withSchemaCopy { folder in
            try await Self.withEmptyDatabase { client in
                try await Migrator(directory: folder).migrate(client: client, logger: TestDatabase.logger)
                try await client.query("CREATE VIEW lock_key AS SELECT append_lock_key() AS key", logger: TestDatabase.logger)
                let horizon = folder.appendingPathComponent("functions/readable_horizon.sql")
                try (try String(contentsOf: horizon, encoding: .utf8) + "\n-- changed\n").write(to: horizon, atomically: true, encoding: .utf8)
                await #expect(performing: {
                    try await Migrator(directory: folder).migrate(client: client, logger: TestDatabase.logger)
                }, throws: { error in
                    guard case Migrator.Failure.dependsOnFunctions(let objects) = error else { return false }
                    return objects.contains { $0.contains("lock_key") }
                })
                for try await key in try await client.query("SELECT key FROM lock_key", logger: TestDatabase.logger).decode(Int64.self) {
                    #expect(key > 0, "the view and its function stand")
                }
            }
        }
    }

    @Test("files must be numbered")
    func badFileName() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("migrations"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "SELECT 1;".write(to: folder.appendingPathComponent("migrations/create_things.sql"), atomically: true, encoding: .utf8)
        #expect(throws: Migrator.Failure.badFileName("create_things.sql")) { try Migrator(directory: folder) }
    }

    @Test("scripts split at top-level semicolons only")
    func splitter() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE t (a text DEFAULT 'x;y', "odd;name" int);
            /* block; comment */
            CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$
            BEGIN RETURN 1; END;
            $$;
            CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT 'a;b' $body$;
            SELECT $1, 'it''s; fine';
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix(#"CREATE TABLE t (a text DEFAULT 'x;y', "odd;name" int)"#))
        #expect(statements[1].contains("BEGIN RETURN 1; END;"))
        #expect(statements[2].hasSuffix("$body$ SELECT 'a;b' $body$"))
        #expect(statements[3] == "SELECT $1, 'it''s; fine'")
        #expect(SQLScript.statements("-- only a comment\n") == [])
    }
}
