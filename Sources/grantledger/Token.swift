import ArgumentParser
import EventStore
import Foundation
import GrantAPI

/// The HS256 key: GRANTLEDGER_JWT_KEY, else one generated once into
/// `.data/jwt.key` beside the migrations (the embedded default), so `serve`
/// and `token` on one machine agree without configuration.
func jwtKey() throws -> String {
    if let key = ProcessInfo.processInfo.environment["GRANTLEDGER_JWT_KEY"], !key.isEmpty { return key }
    let root = Migrator.defaultDirectory()?.deletingLastPathComponent() ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    let folder = root.appendingPathComponent(".data")
    let file = folder.appendingPathComponent("jwt.key")
    if let key = try? String(contentsOf: file, encoding: .utf8), !key.isEmpty { return key }
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var generator = SystemRandomNumberGenerator()
    let key = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    guard FileManager.default.createFile(atPath: file.path, contents: Data(key.utf8), attributes: [.posixPermissions: 0o600]) else {
        throw CommandFailure("cannot write \(file.path); set GRANTLEDGER_JWT_KEY")
    }
    return key
}

/// The OpenAPI document at the project root, if found.
func openAPIDocument() -> String? {
    guard let root = Migrator.defaultDirectory()?.deletingLastPathComponent() else { return nil }
    return try? String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a bearer token, alone on stdout: TOKEN=$(grantledger token --role admin).",
        discussion: "Signed with GRANTLEDGER_JWT_KEY, or the key generated into .data/jwt.key for the embedded setup."
    )

    @Option(help: "admin, applicant, steering or auditor.")
    var role: String
    @Option(help: "The applicant's organisation (required for applicant).")
    var organisation: String?
    @Option(help: "The steering group's id (required for steering: a member id is only unique within its group).")
    var group: String?
    @Option(help: "The steering-group member id (required for steering).")
    var member: String?
    @Option(help: "Who the token names in the history (default: derived from role, organisation, group and member).")
    var subject: String?
    @Option(help: "Lifetime in hours.")
    var hours: Int = 8

    func validate() throws {
        guard let role = Role(rawValue: role) else {
            throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if role == .applicant, organisation?.isEmpty ?? true { throw ValidationError("an applicant token needs --organisation") }
        if role == .steering, member?.isEmpty ?? true { throw ValidationError("a steering token needs --member") }
        if role == .steering, group.flatMap(UUID.init(uuidString:)) == nil { throw ValidationError("a steering token needs --group, the group's id") }
        if role != .steering, group != nil { throw ValidationError("--group is for steering tokens only") }
        guard (1...24 * 366).contains(hours) else { throw ValidationError("--hours must be 1...\(24 * 366)") }
    }

    func run() async throws {
        let role = Role(rawValue: role)!
        // With the group: the events' actor and the idempotency keys' scope tell two groups' "bo" apart.
        let name = subject ?? [role.rawValue, organisation, group?.lowercased(), member].compactMap { $0 }.joined(separator: ":")
        let identity = Identity(subject: name, role: role, organisation: organisation, member: member, groupId: group.flatMap(UUID.init(uuidString:)))
        let authenticator = try await Authenticator(key: try jwtKey())
        print(try await authenticator.token(for: identity, lifetime: .seconds(hours * 3600)))
    }
}
