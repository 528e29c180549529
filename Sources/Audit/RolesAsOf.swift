import EventCoding
import EventStore
import Foundation
import GrantDomain

/// Who held which role at an instant, and who gave it to them: "who could
/// approve payments on 2025-03-01, and on whose word". Every user's stream,
/// replayed as of then; a grant is named with the event that made it.
public struct RolesAsOf: Encodable, Sendable {
    public struct Holding: Encodable, Sendable {
        public var userId: UUID
        public var email: String
        public var name: String
        public var role: UserRole
        public var organisation: String?
        public var groupId: UUID?
        public var member: String?
        /// The `RoleGranted` event the role is held by: when, by whom, acting as what.
        public var grantedAt: Date
        public var grantedRecordedAt: Date
        public var grantedBy: String?
        public var grantedByRole: String?
        public var grantedAtPosition: Int64

        enum CodingKeys: String, CodingKey {
            case userId, email, name, role, organisation, groupId, member, grantedAt, grantedRecordedAt, grantedBy, grantedByRole, grantedAtPosition
        }

        /// Times to the millisecond, as recorded: an auditor can ask again as of the instant a grant was recorded.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(userId, forKey: .userId)
            try container.encode(email, forKey: .email)
            try container.encode(name, forKey: .name)
            try container.encode(role, forKey: .role)
            try container.encodeIfPresent(organisation, forKey: .organisation)
            try container.encodeIfPresent(groupId, forKey: .groupId)
            try container.encodeIfPresent(member, forKey: .member)
            try container.encode(CivilTime.format(grantedAt), forKey: .grantedAt)
            try container.encode(CivilTime.format(grantedRecordedAt), forKey: .grantedRecordedAt)
            try container.encodeIfPresent(grantedBy, forKey: .grantedBy)
            try container.encodeIfPresent(grantedByRole, forKey: .grantedByRole)
            try container.encode(grantedAtPosition, forKey: .grantedAtPosition)
        }
    }

    public var asOf: Date
    public var basis: TimeBasis
    /// Users invited by then, with roles or without.
    public var users: Int
    public var holdings: [Holding]
}

public struct RoleReplay: Sendable {
    public let store: EventStore

    public init(store: EventStore) { self.store = store }

    /// The roles held at `asOf` (only `role`, if given), by user e-mail, then as granted.
    public func roles(asOf: Date, basis: TimeBasis, role: UserRole? = nil) async throws -> RolesAsOf {
        let streams = try await store.streams(category: "user")
        var holdings: [RolesAsOf.Holding] = []
        var users = 0
        // A few hundred streams a round trip: a programme has tens or hundreds of users.
        for start in stride(from: 0, to: streams.count, by: 500) {
            let chunk = streams[start..<min(start + 500, streams.count)]
            let read = try await store.readStreams(chunk.map { ($0, 1) })
            for stream in chunk {
                guard let held = try Self.held(read[stream.rawValue] ?? [], asOf: asOf, basis: basis) else { continue }
                users += 1
                holdings += held.filter { role == nil || $0.role == role }
            }
        }
        holdings.sort { ($0.email, $0.grantedAtPosition) < ($1.email, $1.grantedAtPosition) }
        return RolesAsOf(asOf: asOf, basis: basis, users: users, holdings: holdings)
    }

    /// One user's roles at `asOf`, from the stream's events: those recorded
    /// by then in the order recorded, or those that occurred by then in the
    /// order they occurred; nil if the user was not invited by then.
    static func held(_ events: [RecordedEvent], asOf: Date, basis: TimeBasis) throws -> [RolesAsOf.Holding]? {
        var counted = events.filter { (basis == .recorded ? $0.recordedAt : $0.occurredAt) <= asOf }
        if basis == .occurred { counted.sort { ($0.occurredAt, $0.streamVersion) < ($1.occurredAt, $1.streamVersion) } }
        var invited: UserInvited?
        var held: [(grant: RoleGrant, by: RecordedEvent)] = []
        for recorded in counted {
            switch try EventCoding.decode(type: recorded.type, schemaVersion: recorded.schemaVersion, data: recorded.data,
                                          among: UserState.eventTypes) {
            case let event as UserInvited: invited = event
            case let event as RoleGranted where !held.contains(where: { $0.grant == event.grant }): held.append((event.grant, recorded))
            case let event as RoleRevoked: held.removeAll { $0.grant == event.grant }
            default: break
            }
        }
        guard let invited else { return nil }
        return try held.map { grant, event in
            let metadata = try event.decodedMetadata()
            return RolesAsOf.Holding(userId: invited.userId, email: invited.email, name: invited.name, role: grant.role,
                                     organisation: grant.organisation, groupId: grant.groupId, member: grant.member,
                                     grantedAt: event.occurredAt, grantedRecordedAt: event.recordedAt, grantedBy: metadata.actor,
                                     grantedByRole: metadata.role, grantedAtPosition: event.position)
        }
    }
}
