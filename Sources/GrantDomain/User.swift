import Foundation

// MARK: Users and their roles

/// What a person may do in the programme. Granted and revoked by
/// administrators as events of the user's stream, so an auditor can answer
/// "who could approve payments on 2025-03-01, and who gave them that right".
public enum UserRole: String, Codable, Hashable, Sendable, CaseIterable {
    /// Runs the programme: pools, calls, meetings, reports, payments, users.
    case admin
    /// Acts for one organisation: drafts, submits, reports.
    case applicant
    /// A member of one steering group: records its decisions.
    case steering
    /// Reads everything, changes nothing.
    case auditor
}

/// One role as held: an applicant's for an organisation, a steering
/// member's in a group as one of its members; admin and auditor alone.
public struct RoleGrant: Codable, Hashable, Sendable {
    public var role: UserRole
    public var organisation: String?
    public var groupId: UUID?
    public var member: String?

    public init(role: UserRole, organisation: String? = nil, groupId: UUID? = nil, member: String? = nil) {
        (self.role, self.organisation, self.groupId, self.member) = (role, organisation, groupId, member)
    }

    /// In words, for refusals and pages: "applicant for Aalborg Tekniske Gymnasium".
    public var description: String {
        switch role {
        case .admin, .auditor: role.rawValue
        case .applicant: "applicant for \(organisation ?? "?")"
        case .steering: "steering member \(member ?? "?") of group \(groupId?.uuidString ?? "?")"
        }
    }
}

public struct UserInvited: DomainEvent {
    public static let eventType = "UserInvited"
    public var userId: UUID
    /// As given; ``UserState/normalisedEmail(_:)`` is what identifies the user.
    public var email: String
    public var name: String
    public var occurredAt: Date
}

public struct RoleGranted: DomainEvent {
    public static let eventType = "RoleGranted"
    public var userId: UUID
    public var grant: RoleGrant
    public var occurredAt: Date
}

public struct RoleRevoked: DomainEvent {
    public static let eventType = "RoleRevoked"
    public var userId: UUID
    public var grant: RoleGrant
    public var reason: String?
    public var occurredAt: Date
}

/// A one-time link to set a password was made for the user: whoever
/// holds it can become the user, so who made it, and whether it replaced a
/// password the user had, is history.
public struct SignInLinkIssued: DomainEvent {
    public static let eventType = "SignInLinkIssued"
    public var userId: UUID
    /// The user had a password, which the link lets someone replace.
    public var reset: Bool
    public var occurredAt: Date
}

public struct UserState: Aggregate, Hashable {
    public var invited: UserInvited?
    /// The roles held now, in the order they were granted.
    public var roles: [RoleGrant] = []

    public static let initial = UserState()
    public static func streamName(_ id: UUID) -> String { "user-\(id.lowercasedText)" }
    public static let eventTypes: [any DomainEvent.Type] = [UserInvited.self, RoleGranted.self, RoleRevoked.self, SignInLinkIssued.self]

    public consuming func evolve(_ event: any DomainEvent) -> UserState {
        var state = consume self
        switch event {
        case let event as UserInvited: state.invited = event
        case let event as RoleGranted where !state.roles.contains(event.grant): state.roles.append(event.grant)
        case let event as RoleRevoked: state.roles.removeAll { $0 == event.grant }
        default: break
        }
        return state
    }

    /// An e-mail address as it identifies a user: trimmed, composed (NFC)
    /// and lowercased, so `Anna@Skole.dk` and `anna@skole.dk`, or an `é` typed
    /// as one character or as two, are one person.
    public static func normalisedEmail(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespaces).precomposedStringWithCanonicalMapping.lowercased()
    }
}

/// Checks an e-mail address as one person's sign-in name: one line, one
/// `@` between a local part and a domain with a dot, no spaces; 254
/// characters at most (RFC 5321's path limit).
func requireEmail(_ email: String, field: String) throws(DomainError) {
    try requireLine(email, field: field, maximum: Limits.email)
    let parts = email.split(separator: "@", omittingEmptySubsequences: false)
    // Invisible characters (U+200B, U+FEFF, ...) would make one address look like another.
    guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
          !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .format }) else {
        throw .invalidInput(field: field, reason: "must be an e-mail address such as name@school.dk")
    }
}

/// Checks that a grant names what its role needs and nothing else; a
/// steering member's group must exist and count them as a member. Returns
/// the grant as the group spells the member.
func checkedGrant(_ grant: RoleGrant, field: String, group: SteeringGroupState?) throws(DomainError) -> RoleGrant {
    var checked = grant
    // `roles[0].organisation` in an invitation; `organisation` where the grant is the body.
    func path(_ name: String) -> String { field.isEmpty ? name : "\(field).\(name)" }
    let whole = field.isEmpty ? "role" : field
    switch grant.role {
    case .admin, .auditor:
        guard grant.organisation == nil, grant.groupId == nil, grant.member == nil else {
            throw .invalidInput(field: whole, reason: "the \(grant.role.rawValue) role names no organisation, group or member")
        }
    case .applicant:
        guard let organisation = grant.organisation else {
            throw .invalidInput(field: path("organisation"), reason: "an applicant acts for an organisation: name it")
        }
        try requireLine(organisation, field: path("organisation"))
        guard grant.groupId == nil, grant.member == nil else {
            throw .invalidInput(field: whole, reason: "the applicant role names an organisation, not a group or member")
        }
    case .steering:
        guard let groupId = grant.groupId else {
            throw .invalidInput(field: path("groupId"), reason: "a steering member sits on a group: name it")
        }
        guard let member = grant.member else {
            throw .invalidInput(field: path("member"), reason: "name the member of the group this user is")
        }
        guard grant.organisation == nil else {
            throw .invalidInput(field: path("organisation"), reason: "the steering role names a group and member, not an organisation")
        }
        guard let group, group.created != nil else { throw .notFound(kind: "steering group", id: groupId.uuidString) }
        guard let stored = group.storedMember(member) else { throw .notAMember(member: member) }
        checked.member = stored
    }
    return checked
}

public struct InviteUser: Hashable, Sendable {
    public var userId: UUID
    public var email: String
    public var name: String
    public var roles: [RoleGrant]
    public var at: Date

    public init(userId: UUID, email: String, name: String, roles: [RoleGrant], at: Date) {
        (self.userId, self.email, self.name, self.roles, self.at) = (userId, email, name, roles, at)
    }

    /// `groups` holds the steering groups the roles name, by id.
    public func decide(user: UserState, groups: [UUID: SteeringGroupState]) throws(DomainError) -> [any DomainEvent] {
        guard user.invited == nil else { throw .alreadyExists(kind: "user", id: UserState.normalisedEmail(email)) }
        try requireEmail(email, field: "email")
        try requireLine(name, field: "name")
        try requireCount(roles, field: "roles", maximum: Limits.roles, what: "roles")
        var events: [any DomainEvent] = [UserInvited(userId: userId, email: email, name: name, occurredAt: at)]
        var granted: [RoleGrant] = []
        for (index, grant) in roles.enumerated() {
            let checked = try checkedGrant(grant, field: "roles[\(index)]", group: grant.groupId.flatMap { groups[$0] })
            guard !granted.contains(checked) else { throw .invalidInput(field: "roles[\(index)]", reason: "\(checked.description) is listed twice") }
            granted.append(checked)
            events.append(RoleGranted(userId: userId, grant: checked, occurredAt: at))
        }
        return events
    }
}

public struct GrantRole: Hashable, Sendable {
    public var userId: UUID
    public var grant: RoleGrant
    public var at: Date

    public init(userId: UUID, grant: RoleGrant, at: Date) {
        (self.userId, self.grant, self.at) = (userId, grant, at)
    }

    public func decide(user: UserState, group: SteeringGroupState?) throws(DomainError) -> [any DomainEvent] {
        guard user.invited != nil else { throw .notFound(kind: "user", id: userId.uuidString) }
        let checked = try checkedGrant(grant, field: "", group: group)
        guard !user.roles.contains(checked) else { throw .alreadyExists(kind: "role", id: checked.description) }
        guard user.roles.count < Limits.roles else {
            throw .invalidInput(field: "role", reason: "a user holds at most \(Limits.roles) roles; revoke one first")
        }
        return [RoleGranted(userId: userId, grant: checked, occurredAt: at)]
    }
}

public struct RevokeRole: Hashable, Sendable {
    public var userId: UUID
    public var grant: RoleGrant
    public var reason: String?
    public var at: Date

    public init(userId: UUID, grant: RoleGrant, reason: String? = nil, at: Date) {
        (self.userId, self.grant, self.reason, self.at) = (userId, grant, reason, at)
    }

    public func decide(user: UserState) throws(DomainError) -> [any DomainEvent] {
        guard user.invited != nil else { throw .notFound(kind: "user", id: userId.uuidString) }
        if let reason { try requireProse(reason, field: "reason", maximum: Limits.reason, required: false) }
        // The grant as held (a member as the group spells it: Swift compares text canonically).
        guard let held = user.roles.first(where: { $0 == grant }) else {
            throw .invalidInput(field: "role", reason: "the user does not hold the role \(grant.description)")
        }
        return [RoleRevoked(userId: userId, grant: held, reason: reason, occurredAt: at)]
    }
}

public struct IssueSignInLink: Hashable, Sendable {
    public var userId: UUID
    /// The user has a password already (the caller knows: passwords are not history).
    public var hasPassword: Bool
    /// Asked for on purpose: a link for a user with a password replaces it.
    public var reset: Bool
    public var at: Date

    public init(userId: UUID, hasPassword: Bool, reset: Bool, at: Date) {
        (self.userId, self.hasPassword, self.reset, self.at) = (userId, hasPassword, reset, at)
    }

    public func decide(user: UserState) throws(DomainError) -> [any DomainEvent] {
        guard user.invited != nil else { throw .notFound(kind: "user", id: userId.uuidString) }
        guard !hasPassword || reset else {
            throw .invalidInput(field: "reset", reason: "the user has a password: a link would let its holder replace it; ask for a reset on purpose")
        }
        return [SignInLinkIssued(userId: userId, reset: hasPassword, occurredAt: at)]
    }
}
