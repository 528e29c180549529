import Foundation
import PostgresNIO
import Testing
import EventStore

@Suite("Migrations")
struct MigratorTests {
    @Test("a second run applies nothing")
    func secondRunIsNoOp() async throws {
        try await TestDatabase.withStore { store in
            let migrator = try Migrator(directory: TestDatabase.migrationsDirectory)
            #expect(try await migrator.migrate(client: store.client, logger: TestDatabase.logger) == [])
        }
    }

    @Test("an applied migration that was edited is refused with its name")
    func changedMigrationRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "-- edited after it was applied\nSELECT 1;\n".write(
            to: folder.appendingPathComponent("0001_event_store.sql"), atomically: true, encoding: .utf8)
        let edited = try Migrator(directory: folder)
        _ = try await TestDatabase.withStore { store in
            await #expect(performing: {
                try await edited.migrate(client: store.client, logger: TestDatabase.logger)
            }, throws: { error in
                guard case Migrator.Failure.changedAfterApplying(let name, _, _) = error else { return false }
                return name == "0001_event_store.sql"
            })
        }
    }

    @Test("files must be numbered")
    func badFileName() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "SELECT 1;".write(to: folder.appendingPathComponent("create_things.sql"), atomically: true, encoding: .utf8)
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
