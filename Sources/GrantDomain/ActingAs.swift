import Foundation

/// Whom a command's sender acts as, for the rules on who may act on what:
/// an applicant on its own organisation's applications and grants, a
/// steering member in its own group's meetings. Which commands a role may
/// send at all is the API's to check; these rules are the deciders'.
public enum ActingAs: Hashable, Sendable {
    /// An administrator, or the system itself (the demo, an import, a
    /// benchmark): no rule here limits it.
    case unrestricted
    /// An applicant acting for its organisation.
    case applicant(organisation: String)
    /// A steering-group member, by its member id in `group`: a member id
    /// is only unique within one group, so a sender always names both.
    case member(String, group: UUID)
    /// An auditor: reads, and acts on nothing.
    case auditor

    /// Refuses unless this sender may act on `kind` `id`, which belongs to `organisation`.
    func requireOwner(of kind: String, _ id: UUID, organisation: String) throws(DomainError) {
        switch self {
        case .unrestricted: return
        case .applicant(let own) where own == organisation: return
        case .applicant, .member, .auditor: throw .notOwner(kind: kind, id: id.uuidString)
        }
    }

    /// Refuses unless this sender sits on `group`, whose id is `groupId`, which held `meeting`.
    func requireSeat(on group: SteeringGroupState, _ groupId: UUID, meeting: UUID) throws(DomainError) {
        switch self {
        case .unrestricted: return
        case .member(let member, let bound) where bound == groupId && group.members[member] != nil: return
        case .member(let member, _): throw .notOnSteeringGroup(member: member, meeting: meeting.uuidString)
        case .applicant, .auditor: throw .notOnSteeringGroup(member: "", meeting: meeting.uuidString)
        }
    }
}
