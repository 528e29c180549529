import EventCoding
import EventStore
import Foundation
import GrantDomain
import Testing
import TestSupport

/// Every stored event, as PostgreSQL's jsonb prints it back (keys reordered,
/// spaces added, control characters escaped), decodes to the same value with
/// the payload decoder as with Foundation's `JSONDecoder`.
@Suite("Stored payloads")
struct StoredPayloadTests {
    static let foundation = FoundationDecoding.decoder

    static func decodeWithFoundation<E: DomainEvent>(_ type: E.Type, _ event: RecordedEvent) throws -> any DomainEvent {
        try foundation.decode(E.self, from: EventCoding.upcast(type: event.type, schemaVersion: event.schemaVersion, data: Data(event.data.utf8)))
    }

    /// Read by the event type's own reader; nil for a type without one, or a payload it cannot read.
    static func readDirectly(_ type: any DomainEvent.Type, _ event: RecordedEvent) -> AnyHashable? {
        guard let readable = type as? any (PayloadReadable & Hashable).Type else { return nil }
        return read(readable, event)
    }

    static func read<R: PayloadReadable & Hashable>(_ type: R.Type, _ event: RecordedEvent) -> AnyHashable? {
        PayloadDecoder.readDirectly(R.self, from: event.data).map(AnyHashable.init)
    }

    /// The event types decoded through Codable, without a reader of their own: a few per programme.
    static let withoutReader: Set<String> = [PoolCreated.eventType, CallOpened.eventType, SteeringGroupCreated.eventType, MeetingHeld.eventType]

    @Test("a generated history and awkward text decode as Foundation decodes them")
    func historyDecodesAsFoundation() async throws {
        try await FreshDatabase.with { store, _ in
            let generated = try await FreshDatabase.generate(store, seed: 11, pools: 2, applicationsPerPool: 60)
            let awkward = "quote \" back \\ slash / tab \t newline \n bell \u{7} æøå 🚀 \u{2028} \u{FEFF}"
            let times = ["2024-06-01T12:00:00Z", "2024-06-01T14:00:00.250+02:00", "2001-01-01T00:00:00.500Z", "2099-12-31T23:59:59.999Z"]
            let odd = times.map { time in
                NewEvent(type: ApplicationWithdrawn.eventType,
                         data: String(decoding: try! JSONSerialization.data(withJSONObject: ["reason": awkward, "occurredAt": time]), as: UTF8.self),
                         occurredAt: Date())
            }
            try await store.append([StreamWrite(stream: try StreamID("application-\(UUID())"), expected: .noStream, events: odd)])

            // Events become readable once every older transaction in the
            // cluster has ended: other tests' may hold them back a while.
            var checkpoint = Checkpoint.start
            var decoded = 0, readDirectly = 0
            var types = Set<String>()
            let deadline = ContinuousClock.now + .seconds(120)
            while decoded < generated + odd.count, ContinuousClock.now < deadline {
                let page = try await store.readPage(after: checkpoint, limit: 5_000)
                for event in page.events {
                    guard let type = EventCoding.allEventTypes.first(where: { $0.eventType == event.type }) else { continue }
                    let fast = try EventCoding.decode(type: event.type, schemaVersion: event.schemaVersion, data: event.data,
                                                      among: EventCoding.allEventTypes)
                    let reference = try Self.decodeWithFoundation(type, event)
                    #expect(AnyHashable(fast) == AnyHashable(reference), "\(event.type) at \(event.position): \(event.data)")
                    if !Self.withoutReader.contains(event.type) {
                        let direct = Self.readDirectly(type, event)
                        #expect(direct == AnyHashable(reference), "\(event.type) read by its reader: \(event.data)")
                        readDirectly += 1
                    }
                    decoded += 1
                    types.insert(event.type)
                }
                if let through = page.through { checkpoint = through } else { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(decoded == generated + odd.count)
            #expect(types.count >= 15, "only \(types.sorted()) were generated")
            #expect(readDirectly > decoded * 9 / 10, "\(readDirectly) of \(decoded) read by their event type's reader")
        }
    }
}
