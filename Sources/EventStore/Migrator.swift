import Crypto
import Foundation
import Logging
import PostgresNIO

/// Brings a database to the schema of `db/`: the numbered files of
/// `db/migrations` (tables and their changes) once each, in order, and then
/// the files of `db/functions` (the functions and triggers that run on them),
/// all of them again whenever one has changed or a migration has run, so
/// that the files are the truth about what the database runs. Each step is one transaction
/// and is recorded with its checksum. Concurrent runs (tests in parallel,
/// several processes starting) take turns on an advisory lock.
public struct Migrator: Sendable {
    public struct Script: Sendable, Hashable {
        /// The migration's number; nil for a function file.
        public var version: Int?
        public var name: String
        public var sql: String
        public var checksum: String
    }

    public enum Failure: Error, CustomStringConvertible, Hashable {
        case changedAfterApplying(name: String, recorded: String, current: String)
        case unknownMigrations([String])
        case newerMigrations([String])
        case badFileName(String)
        case duplicateVersion(Int)
        case noMigrations(directory: String)
        case noFunctions(directory: String)
        case notOwner(script: String, role: String)
        case dependsOnFunctions([String])
        case lockNotTaken(seconds: Int)
        case noGeneration(file: String)
        case newerFunctions(recorded: Int, ours: Int)

        public var description: String {
            switch self {
            case .changedAfterApplying(let name, let recorded, let current):
                "migration \(name) was changed after it was applied (recorded checksum \(recorded.prefix(12)), file now \(current.prefix(12))); add a new migration instead of editing an applied one"
            case .unknownMigrations(let names):
                """
                this database records migrations that db/migrations does not hold (\(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? ", …" : "")): \
                it was made before the baseline of December 2026 (db/migrations/0001_baseline.sql replaced db/0001–0020). \
                Carry its history over: bring it to the last GrantLedger before the baseline, then run `grantledger export-history FILE` against it \
                and `grantledger import FILE` against a new, empty database (the events keep their ids, streams, payloads and occurred times; \
                their recorded times become the import's). For the database ops/run embeds, remove .data/postgres.
                """
            case .newerMigrations(let names):
                "this database records migrations newer than this GrantLedger knows (\(names.joined(separator: ", "))): run the GrantLedger that made it"
            case .badFileName(let name):
                "migration file \(name) must be named NNNN_description.sql"
            case .duplicateVersion(let version):
                "two migration files share the number \(version)"
            case .noMigrations(let directory):
                "no migrations found in \(directory)/migrations"
            case .noFunctions(let directory):
                "no function files found in \(directory)/functions: without them the history has no append function and no guard against changes"
            case .notOwner(let script, let role):
                "\(script) is not applied, and role \(role) may not apply it; set GRANTLEDGER_OWNER_URL to the owner's URL"
            case .dependsOnFunctions(let objects):
                "\(objects.joined(separator: ", ")) depend on the database's functions, which db/functions replaces whole: make them part of a function file or of a migration that drops them"
            case .lockNotTaken(let seconds):
                "the functions' triggers could not lock the events table within \(seconds) s (a long read or import holds it); nothing was changed: try again"
            case .noGeneration(let file):
                "\(file) must list the generations of db/functions, a line `generation N DIGEST` each"
            case .newerFunctions(let recorded, let ours):
                """
                this database runs generation \(recorded) of the functions, newer than this GrantLedger's \(ours): \
                run the GrantLedger that applied them. To go back to this one's on purpose, \
                DELETE FROM schema_function_generation as the owner, then migrate
                """
            }
        }
    }

    /// Arbitrary but fixed: the key of the session advisory lock migrations take.
    static let lockKey: Int64 = 0x6772_616e_746c_6467

    public let migrations: [Script]
    public let functions: [Script]
    /// The generation of `functions/`: the last line of `functions.lock`,
    /// which gains a line, with the files' digest, whenever a function file
    /// changes, so that an older GrantLedger (a process of the last release
    /// still starting) never replaces a newer one's functions with its own.
    public var generation: Int { generations[generations.count - 1].generation }
    /// The generations `functions.lock` lists, oldest first, each with the digest of its files (at least one).
    public let generations: [(generation: Int, digest: String)]

    /// `directory` holds `migrations/`, `functions/` and `functions.lock`.
    public init(directory: URL) throws {
        migrations = try Self.scripts(in: directory.appendingPathComponent("migrations"), numbered: true)
            .sorted { $0.version! < $1.version! }
        guard !migrations.isEmpty else { throw Failure.noMigrations(directory: directory.path) }
        functions = try Self.scripts(in: directory.appendingPathComponent("functions"), numbered: false)
        guard !functions.isEmpty else { throw Failure.noFunctions(directory: directory.path) }
        let lock = directory.appendingPathComponent("functions.lock")
        generations = ((try? String(contentsOf: lock, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 3, words[0] == "generation", let number = Int(words[1]) else { return nil }
            return (number, String(words[2]))
        }
        guard !generations.isEmpty else { throw Failure.noGeneration(file: lock.path) }
    }

    /// The digest of the function files as they are: their names and checksums.
    public var functionsDigest: String {
        SHA256.hash(data: Data(functions.map { "\($0.name) \($0.checksum)\n" }.joined().utf8)).map { String(format: "%02x", $0) }.joined()
    }

    private static func scripts(in folder: URL, numbered: Bool) throws -> [Script] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        var scripts: [Script] = []
        for name in names {
            var version: Int?
            if numbered {
                guard let underscore = name.firstIndex(of: "_"), let number = Int(name[..<underscore]) else {
                    throw Failure.badFileName(name)
                }
                if scripts.contains(where: { $0.version == number }) { throw Failure.duplicateVersion(number) }
                version = number
            }
            let sql = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            let checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
            scripts.append(Script(version: version, name: name, sql: sql, checksum: checksum))
        }
        return scripts
    }

    /// The schema folder: `GRANTLEDGER_MIGRATIONS`, else `db/` in the
    /// working directory or in a parent of the executable's folder.
    public static func defaultDirectory() -> URL? {
        if let explicit = ProcessInfo.processInfo.environment["GRANTLEDGER_MIGRATIONS"] {
            return URL(fileURLWithPath: explicit)
        }
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while folder.path != "/" {
            candidates.append(folder)
            folder.deleteLastPathComponent()
        }
        return candidates.map { $0.appendingPathComponent("db") }
            .first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("migrations/0001_baseline.sql").path) }
    }

    /// Applies what is not applied yet; returns the names applied now. Run
    /// as the owner for a separate `applicationRole`, it then grants that
    /// role what the application needs and nothing it could rewrite history
    /// with (db/functions/grant_application_role.sql).
    @discardableResult
    public func migrate(client: PostgresClient, applicationRole: String? = nil, logger: Logger) async throws -> [String] {
        try await client.withConnection { connection in
            // Taken by polling, not by waiting in pg_advisory_lock: a wait there is one statement, which the
            // connection's statement_timeout (60 s) cancels when the turns before take longer (a slow migration,
            // or a hundred test processes queued on a loaded machine, as in a CI run of 2026-12-08).
            while try await !Self.tryLock(connection, logger: logger) {
                try await Task.sleep(for: .milliseconds(50))
            }
            do {
                // Names resolve in pg_catalog (always first) and public alone: a schema the application's role may create
                // (one named like the owner, first in the default search_path) cannot put its code in the owner's hands.
                try await connection.run("SET search_path TO public", logger: logger)
                let applied = try await apply(on: connection, logger: logger)
                if let applicationRole {
                    try await connection.query("SELECT public.grant_application_role(\(applicationRole))", logger: logger)
                }
                try await connection.run("RESET search_path", logger: logger)
                try await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                try? await connection.run("RESET search_path", logger: logger)
                try? await connection.run("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    private static func tryLock(_ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        for try await taken in try await connection.query("SELECT pg_try_advisory_lock(\(lockKey))", logger: logger).decode(Bool.self) {
            return taken
        }
        return false
    }

    private func apply(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        // What the database records is judged before anything is written to it.
        var recordedMigrations: [Int: (name: String, checksum: String)] = [:]
        if try await exists("schema_migrations", on: connection, logger: logger) {
            for try await (version, name, checksum) in try await connection.query(
                "SELECT version, name, checksum FROM schema_migrations", logger: logger
            ).decode((Int, String, String).self) {
                recordedMigrations[version] = (name, checksum)
            }
        }
        let unknown = recordedMigrations.sorted { $0.key < $1.key }
            .filter { version, recorded in !migrations.contains { $0.version == version && $0.name == recorded.name } }
        // Every migration here recorded and more after them: a newer GrantLedger's; anything else, another lineage's.
        let newest = migrations.last!.version!
        guard unknown.allSatisfy({ $0.key > newest }) else { throw Failure.unknownMigrations(unknown.map(\.value.name)) }
        guard unknown.isEmpty else { throw Failure.newerMigrations(unknown.map(\.value.name)) }
        try await createRecordTables(on: connection, logger: logger)
        for migration in migrations {
            if let previous = recordedMigrations[migration.version!], previous.checksum != migration.checksum {
                throw Failure.changedAfterApplying(name: migration.name, recorded: previous.checksum, current: migration.checksum)
            }
        }
        var recordedFunctions: [String: String] = [:]
        for try await (name, checksum) in try await connection.query(
            "SELECT name, checksum FROM schema_functions", logger: logger
        ).decode((String, String).self) {
            recordedFunctions[name] = checksum
        }
        let pending = migrations.filter { recordedMigrations[$0.version!] == nil }
        let current = Dictionary(uniqueKeysWithValues: functions.map { ($0.name, $0.checksum) })
        let changed = functions.filter { recordedFunctions[$0.name] != $0.checksum }.map { "functions/\($0.name)" }
        // The functions are applied again after a migration too: it may have dropped a table a trigger was on.
        guard !pending.isEmpty || recordedFunctions != current else { return [] }
        try await refuseUnlessOwner(pending.first?.name ?? changed.first ?? "db/functions", on: connection, logger: logger)
        var recordedGeneration = 0
        if try await exists("schema_function_generation", on: connection, logger: logger) {
            for try await value in try await connection.query("SELECT max(generation) FROM schema_function_generation", logger: logger)
                .decode(Int?.self) { recordedGeneration = value ?? 0 }
        }
        guard recordedGeneration <= generation else { throw Failure.newerFunctions(recorded: recordedGeneration, ours: generation) }

        for migration in pending {
            try await connection.withTransaction(logger: logger) { connection in
                try await run(migration, on: connection, logger: logger)
                try await connection.query("""
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version!), \(migration.name), \(migration.checksum))
                    """, logger: logger)
            }
            logger.info("applied migration \(migration.name)")
        }
        // All of them, together, from none: so the database runs exactly
        // what the files say, a function whose arguments or result changed
        // included, and no function of a file since removed. Replacing the
        // triggers locks the events table: briefly, or not at all.
        try await Self.unwrapped { try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(Self.lockSeconds)s'"), logger: logger)
            do {
                try await dropFunctions(on: connection, logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55P03" {
                throw Failure.lockNotTaken(seconds: Self.lockSeconds)
            }
            for function in functions { try await run(function, on: connection, logger: logger) }
            try await connection.query("DELETE FROM schema_functions", logger: logger)
            for function in functions {
                try await connection.query(
                    "INSERT INTO schema_functions (name, checksum) VALUES (\(function.name), \(function.checksum))", logger: logger)
            }
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS schema_function_generation (
                    generation integer     NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            try await connection.query("DELETE FROM schema_function_generation", logger: logger)
            try await connection.query("INSERT INTO schema_function_generation (generation) VALUES (\(generation))", logger: logger)
        } }
        for name in changed { logger.info("applied \(name)") }
        return pending.map(\.name) + changed
    }

    /// The migrator's own refusals as themselves, not wrapped in the transaction's error.
    private static func unwrapped(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as PostgresTransactionError {
            if let refusal = error.closureError as? Failure { throw refusal }
            throw error
        }
    }

    /// How long replacing the triggers waits for the events table: not long, since appends queue behind it.
    static let lockSeconds = 10

    /// Every routine of the schema but an extension's; the triggers that
    /// call them go with them, and nothing else may depend on them.
    private func dropFunctions(on connection: PostgresConnection, logger: Logger) async throws {
        var dependents: [String] = []
        for try await object in try await connection.query("""
            SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid)
            FROM pg_depend d JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND d.refobjid = p.oid
            WHERE p.pronamespace = 'public'::regnamespace AND d.deptype = 'n'
              AND d.classid <> 'pg_trigger'::regclass
              AND NOT (d.classid = 'pg_proc'::regclass AND d.objid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'public'::regnamespace))
            """, logger: logger).decode(String.self) {
            dependents.append(object)
        }
        guard dependents.isEmpty else { throw Failure.dependsOnFunctions(dependents.sorted()) }
        var drops: [String] = []
        for try await (kind, signature) in try await connection.query("""
            SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure::text
            FROM pg_proc p
            WHERE p.pronamespace = 'public'::regnamespace
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
            """, logger: logger).decode((String, String).self) {
            drops.append("DROP \(kind) IF EXISTS \(signature) CASCADE")
        }
        for drop in drops { try await connection.query(PostgresQuery(unsafeSQL: drop), logger: logger) }
    }

    private func run(_ script: Script, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
        for statement in SQLScript.statements(script.sql) {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
    }

    private func exists(_ table: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        var found = false
        for try await exists in try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL", logger: logger).decode(Bool.self) {
            found = exists
        }
        return found
    }

    /// Checked first: the application's own role may read the tables but not create in the schema.
    private func createRecordTables(on connection: PostgresConnection, logger: Logger) async throws {
        let migrationsTable = try await exists("schema_migrations", on: connection, logger: logger)
        let functionsTable = try await exists("schema_functions", on: connection, logger: logger)
        guard !migrationsTable || !functionsTable else { return }
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_functions (
                name       text        PRIMARY KEY,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
    }

    /// A role that does not own the schema cannot migrate it: say so, and how, before a bare "permission denied".
    private func refuseUnlessOwner(_ script: String, on connection: PostgresConnection, logger: Logger) async throws {
        for try await (role, owns) in try await connection.query("""
            SELECT current_user::text, pg_has_role(current_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'public'), 'USAGE')
                OR has_schema_privilege('public', 'CREATE')
            """, logger: logger).decode((String, Bool).self) where !owns {
            throw Failure.notOwner(script: script, role: role)
        }
    }
}
