import Crypto
import Foundation
import Logging
import PostgresNIO

/// Applies the numbered SQL files of `db/` in order, each in its own
/// transaction, and records each with its checksum. Concurrent runs (tests in
/// parallel, several processes starting) take turns on an advisory lock.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Hashable {
        public var version: Int
        public var name: String
        public var sql: String
        public var checksum: String
    }

    public enum Failure: Error, CustomStringConvertible, Hashable {
        case changedAfterApplying(name: String, recorded: String, current: String)
        case badFileName(String)
        case duplicateVersion(Int)
        case noMigrations(directory: String)
        case notOwner(migration: String, role: String)

        public var description: String {
            switch self {
            case .changedAfterApplying(let name, let recorded, let current):
                "migration \(name) was changed after it was applied (recorded checksum \(recorded.prefix(12)), file now \(current.prefix(12))); add a new migration instead of editing an applied one"
            case .badFileName(let name):
                "migration file \(name) must be named NNNN_description.sql"
            case .duplicateVersion(let version):
                "two migration files share the number \(version)"
            case .noMigrations(let directory):
                "no migrations found in \(directory)"
            case .notOwner(let migration, let role):
                "migration \(migration) is not applied, and role \(role) may not apply it; set GRANTLEDGER_OWNER_URL to the owner's URL"
            }
        }
    }

    /// Arbitrary but fixed: the key of the session advisory lock migrations take.
    static let lockKey: Int64 = 0x6772_616e_746c_6467

    public let migrations: [Migration]

    public init(directory: URL) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        var migrations: [Migration] = []
        for name in names {
            guard let underscore = name.firstIndex(of: "_"), let version = Int(name[..<underscore]) else {
                throw Failure.badFileName(name)
            }
            if migrations.contains(where: { $0.version == version }) { throw Failure.duplicateVersion(version) }
            let sql = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            let checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
            migrations.append(Migration(version: version, name: name, sql: sql, checksum: checksum))
        }
        guard !migrations.isEmpty else { throw Failure.noMigrations(directory: directory.path) }
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// The migrations folder: `GRANTLEDGER_MIGRATIONS`, else `db/` in the
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
            .first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("0001_event_store.sql").path) }
    }

    /// Applies what is not applied yet; returns the names applied now. Run
    /// as the owner for a separate `applicationRole`, it then grants that
    /// role what the application needs and nothing it could rewrite history
    /// with (db/0018).
    @discardableResult
    public func migrate(client: PostgresClient, applicationRole: String? = nil, logger: Logger) async throws -> [String] {
        try await client.withConnection { connection in
            try await connection.run("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
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

    private func apply(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        // Checked first: the application's own role may read the table but not create in the schema.
        var exists = false
        for try await found in try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger).decode(Bool.self) {
            exists = found
        }
        if !exists {
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    integer     PRIMARY KEY,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
        }
        var recorded: [Int: (name: String, checksum: String)] = [:]
        for try await (version, name, checksum) in try await connection.query(
            "SELECT version, name, checksum FROM schema_migrations", logger: logger
        ).decode((Int, String, String).self) {
            recorded[version] = (name, checksum)
        }
        var appliedNow: [String] = []
        for migration in migrations {
            if let previous = recorded[migration.version] {
                guard previous.checksum == migration.checksum else {
                    throw Failure.changedAfterApplying(
                        name: migration.name, recorded: previous.checksum, current: migration.checksum)
                }
                continue
            }
            if appliedNow.isEmpty { try await refuseUnlessOwner(migration, on: connection, logger: logger) }
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
                for statement in SQLScript.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("""
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                    """, logger: logger)
            }
            logger.info("applied migration \(migration.name)")
            appliedNow.append(migration.name)
        }
        return appliedNow
    }

    /// A role that does not own the schema cannot migrate it: say so, and how, before a bare "permission denied".
    private func refuseUnlessOwner(_ migration: Migration, on connection: PostgresConnection, logger: Logger) async throws {
        for try await (role, owns) in try await connection.query("""
            SELECT current_user::text, pg_has_role(current_user, (SELECT nspowner FROM pg_namespace WHERE nspname = 'public'), 'USAGE')
                OR has_schema_privilege('public', 'CREATE')
            """, logger: logger).decode((String, Bool).self) where !owns {
            throw Failure.notOwner(migration: migration.name, role: role)
        }
    }
}
