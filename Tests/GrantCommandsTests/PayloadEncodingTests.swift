import EventCoding
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Programmes
import Testing

@Suite("Generated events encode as Foundation encodes them")
struct PayloadEncodingTests {
    @Test("every event of a generated history: the payload encoder's text reads back to the same JSON and event as Foundation's")
    func generatedHistory() async throws {
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys]
        foundation.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(EventCoding.formatTime(date))
        }
        func canonical(_ data: Data) throws -> Data {
            try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: data), options: [.sortedKeys])
        }
        var types = Set<String>()
        var events = 0
        _ = try await HistoryGenerator(seed: 3, pools: 2, applicationsPerPool: 40).generate(chunkEvents: 500) { writes in
            for event in writes.flatMap(\.events) {
                let decoded = try EventCoding.decode(type: event.type, schemaVersion: event.schemaVersion, data: event.data,
                                                     among: EventCoding.allEventTypes)
                let theirs = try foundation.encode(decoded)
                #expect(try canonical(Data(event.data.utf8)) == canonical(theirs), "\(event.type): \(event.data)")
                #expect(try EventCoding.encode(decoded) == event.data, "\(event.type): the same event encodes to the same text")
                types.insert(event.type)
                events += 1
            }
        }
        #expect(events > 500)
        #expect(types.count >= 12, "\(types.sorted())")
    }
}
