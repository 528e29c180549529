import EventCoding
import GrantDomain
import Testing

/// The domain's events do not know their wire format; EventCoding gives the
/// busy types readers of their own. These are the types a programme's
/// history is mostly made of: each must keep its reader, or a catch-up
/// decodes it through Codable at about two thirds of the speed.
@Suite("Event types read by their own readers")
struct EventReaderTests {
    /// A few per programme, or rare: decoded through Codable.
    static let withoutReader: Set<String> = [
        PoolCreated.eventType, CallOpened.eventType, SteeringGroupCreated.eventType, MeetingHeld.eventType, ApplicationAmended.eventType,
        DocumentAttached.eventType,
    ]

    @Test("every event type of applications, decisions, grants, payments and pool movements has a reader")
    func busyTypesHaveReaders() {
        let busy = (ApplicationState.eventTypes + GrantState.eventTypes + PaymentRequestIdState.eventTypes
            + [MoneyCommitted.self, CommitmentReleased.self, PaymentDisbursed.self, RepaymentReceived.self, DecisionRecorded.self] as [any DomainEvent.Type])
        var missing: [String] = []
        for type in busy where !Self.withoutReader.contains(type.eventType) {
            if (type as? any PayloadReadable.Type) == nil { missing.append(type.eventType) }
        }
        #expect(missing == [], "no reader: \(missing)")
    }
}
