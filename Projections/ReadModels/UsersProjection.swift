import EventStore
import Foundation
import GrantDomain
import Logging
import PostgresNIO

/// Users and the roles they hold now, for the administrators' list and for
/// checking, on every request, that a signed-in user still holds the role
/// they act in. Who held what when is the users' streams themselves. The
/// commands give one address one stream; a history that holds two (an
/// import) keeps the first here rather than stopping the read model.
public struct UsersProjection: Projection {
    public init() {}
    public let name = ReadModelName.users.rawValue
    public let tables = ["users", "user_roles"]
    public let eventTypes: Set<String> = [UserInvited.eventType, RoleGranted.eventType, RoleRevoked.eventType]
    public let schema = """
        CREATE TABLE users (
            user_id uuid PRIMARY KEY, email text NOT NULL, email_key text NOT NULL UNIQUE, name text NOT NULL, invited_at timestamptz NOT NULL
        );
        CREATE TABLE user_roles (
            user_id uuid NOT NULL, role text NOT NULL, organisation text, group_id uuid, member text, granted_at timestamptz NOT NULL
        );
        CREATE UNIQUE INDEX user_roles_one_each ON user_roles (user_id, role, coalesce(organisation, ''), coalesce(group_id::text, ''), coalesce(member, ''));
        CREATE INDEX user_roles_by_organisation ON user_roles (organisation) WHERE organisation IS NOT NULL;
        """

    public func apply(_ events: [RecordedEvent], on connection: PostgresConnection, logger: Logger) async throws {
        try await forEach(events) { event in
            switch event.type {
            case UserInvited.eventType:
                let invited = try decode(UserInvited.self, event)
                try await connection.query("""
                    INSERT INTO users VALUES (\(invited.userId), \(invited.email), \(UserState.normalisedEmail(invited.email)), \(invited.name),
                                              \(invited.occurredAt))
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            case RoleGranted.eventType:
                let granted = try decode(RoleGranted.self, event)
                try await connection.query("""
                    INSERT INTO user_roles VALUES (\(granted.userId), \(granted.grant.role.rawValue), \(granted.grant.organisation),
                                                   \(granted.grant.groupId), \(granted.grant.member), \(granted.occurredAt))
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            case RoleRevoked.eventType:
                let revoked = try decode(RoleRevoked.self, event)
                try await connection.query("""
                    DELETE FROM user_roles WHERE user_id = \(revoked.userId) AND role = \(revoked.grant.role.rawValue)
                      AND organisation IS NOT DISTINCT FROM \(revoked.grant.organisation) AND group_id IS NOT DISTINCT FROM \(revoked.grant.groupId)
                      AND member IS NOT DISTINCT FROM \(revoked.grant.member)
                    """, logger: logger)
            default:
                break
            }
        }
    }
}
