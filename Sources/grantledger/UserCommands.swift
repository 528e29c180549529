import Accounts
import ArgumentParser
import EventCoding
import EventStore
import GrantAPI
import Foundation
import GrantCommands
import GrantDomain
import PostgresNIO

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Invite users and list them with their roles (each change an event of the user's stream).",
        subcommands: [Add.self, List.self, Link.self, SignOut.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invite a user with a role: --role admin|auditor, --role applicant --organisation ORG, --role steering --group ID --member ID.",
            discussion: "Prints a one-time link (valid seven days) where the user sets a password; GRANTLEDGER_PUBLIC_URL is its address.")

        @Argument(help: "The user's e-mail address: one address is one user.") var email: String
        @Option(help: "The user's name.") var name: String
        @Option(help: "admin, applicant, steering or auditor.") var role: String
        @Option(help: "An applicant's organisation.") var organisation: String?
        @Option(help: "A steering member's group (its id).") var group: String?
        @Option(help: "A steering member's id in that group.") var member: String?

        func run() async throws {
            let groupId = try group.map { text in
                guard let id = UUID(uuidString: text) else { throw ValidationError("--group must be a steering group's id (a UUID)") }
                return id
            }
            guard let role = UserRole(rawValue: role) else { throw ValidationError("--role must be admin, applicant, steering or auditor") }
            let grant = RoleGrant(role: role, organisation: organisation, groupId: groupId, member: member)
            let id = CommandHandler.userId(email: email)
            let (result, token) = try await withStore { store in
                let result = try await CommandHandler(store: store).inviteUser(
                    InviteUser(userId: id, email: email, name: name, roles: [grant], at: Date()),
                    cliActor)
                let accounts = Accounts(store: store)
                _ = try await CommandHandler(store: store).issueSignInLink(IssueSignInLink(userId: id, hasPassword: false, reset: false, at: Date()), cliActor)
                return (result, try await accounts.issueInvitation(userId: id))
            }
            print("\(id.uuidString.lowercased())  \(email)  \(grant.description)  (event at position \(result.position))")
            print("Set a password (once, within 7 days): \(invitationLink(publicURL(), token))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every user and the roles they hold now, folded from their streams.")

        func run() async throws {
            let users = try await withStore { store in
                var users: [UserState] = []
                for try await stream in try await store.client.query(
                    "SELECT stream_id FROM streams WHERE stream_id LIKE 'user-%' ORDER BY stream_id", logger: store.logger
                ).decode(String.self) {
                    let events = try await store.readStream(try StreamID(stream))
                    users.append(UserState.replay(try events.map {
                        try EventCoding.decode(type: $0.type, schemaVersion: $0.schemaVersion, data: $0.data, among: UserState.eventTypes)
                    }))
                }
                return users
            }
            for user in users.sorted(by: { ($0.invited?.email ?? "") < ($1.invited?.email ?? "") }) {
                guard let invited = user.invited else { continue }
                let roles = user.roles.isEmpty ? "no roles" : user.roles.map(\.description).joined(separator: "; ")
                print("\(invited.userId.uuidString.lowercased())  \(invited.email)  \(invited.name)  \(roles)")
            }
        }
    }
}

extension Users {
    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new one-time link where a user sets (or resets) their password; older links stop working.")

        @Argument(help: "The user's e-mail address.") var email: String
        @Flag(help: "The user has a password: make a link anyway, which replaces it (recorded as a reset).") var reset = false

        func run() async throws {
            let id = CommandHandler.userId(email: email)
            let token = try await withStore { store in
                guard try await Session(store: store).load(UserState.self, id).state.invited != nil else {
                    throw CommandFailure("no user has the address \(email): invite them with `grantledger users add`")
                }
                let accounts = Accounts(store: store)
                _ = try await CommandHandler(store: store).issueSignInLink(
                    IssueSignInLink(userId: id, hasPassword: try await accounts.hasPassword(userId: id), reset: reset, at: Date()), cliActor)
                return try await accounts.issueInvitation(userId: id)
            }
            print(invitationLink(publicURL(), token))
        }
    }

    struct SignOut: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-out", abstract: "End every session of a user, in browsers and API clients (a lost laptop).")

        @Argument(help: "The user's e-mail address.") var email: String

        func run() async throws {
            let id = CommandHandler.userId(email: email)
            let ended = try await withStore { store in try await Accounts(store: store).endSessions(userId: id) }
            print("\(ended) session(s) of \(email) ended")
        }
    }
}

/// Who the command line acts as: the operator's login.
let cliActor = CommandContext(actor: "cli:\(ProcessInfo.processInfo.environment["USER"] ?? "operator")", role: "admin", actingAs: .unrestricted)
