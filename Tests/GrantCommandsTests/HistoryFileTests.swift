import EventCoding
import EventStore
import Foundation
import GrantCommands
import GrantDomain
import Programmes
import Testing

/// `grantledger import FILE`: a history as JSON Lines into the store, whole or not at all.
@Suite("Importing a history file")
struct HistoryFileTests {
    /// One line of the file for `event` of `stream`.
    static func line(_ stream: String, _ event: NewEvent) throws -> String {
        let object: [String: Any] = [
            "stream": stream, "type": event.type, "schemaVersion": Int(event.schemaVersion),
            "occurredAt": EventCoding.formatTime(event.occurredAt),
            "data": try JSONSerialization.jsonObject(with: Data(event.data.utf8)),
            "metadata": ["actor": "migration", "role": "admin"],
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    static func file(_ lines: [String]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString).jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test("a generated history goes in whole and reads back as written")
    func generatedHistory() async throws {
        try await TestDatabase.withHandler { handler in
            let store = handler.store
            var writes: [StreamWrite] = []
            _ = try await HistoryGenerator(seed: UInt64.random(in: 1...UInt64.max), pools: 1, applicationsPerPool: 12)
                .generate(chunkEvents: 500) { writes += $0 }
            // Streams interleaved as a legacy export might list them: a stream
            // may go on after others, as long as its own order holds.
            var lines: [String] = []
            for write in writes {
                for event in write.events { lines.append(try Self.line(write.stream.rawValue, event)) }
            }
            let url = try Self.file(lines)
            defer { try? FileManager.default.removeItem(at: url) }

            let summary = try await HistoryFile.importFile(url, into: store, batchEvents: 7)
            #expect(summary.events == lines.count)

            var expected: [String: [NewEvent]] = [:]
            for write in writes { expected[write.stream.rawValue, default: []] += write.events }
            #expect(summary.streams == expected.count)
            for (name, events) in expected {
                let stored = try await store.readStream(try StreamID(name))
                #expect(stored.map(\.type) == events.map(\.type), "\(name)")
                for (storedEvent, event) in zip(stored, events) {
                    let type = try #require(EventCoding.allEventTypes.first { $0.eventType == event.type })
                    let read = try EventCoding.decode(type: storedEvent.type, schemaVersion: storedEvent.schemaVersion, data: storedEvent.data,
                                                      among: [type])
                    let written = try EventCoding.decode(type: event.type, schemaVersion: event.schemaVersion, data: event.data, among: [type])
                    #expect(AnyHashable(read) == AnyHashable(written))
                    #expect(try storedEvent.decodedMetadata().actor == "migration")
                }
            }
        }
    }

    @Test("a bad line is named and nothing of the file is stored")
    func badLines() async throws {
        try await TestDatabase.withHandler { handler in
            let store = handler.store
            let group = UUID()
            let created = #"{"groupId": "\#(group)", "name": "STEM", "members": [{"id": "anna", "name": "Anna", "affiliations": []}], "occurredAt": "2024-01-02T09:00:00.000Z"}"#
            let good = #"{"stream": "\#(SteeringGroupState.streamName(group))", "type": "SteeringGroupCreated", "occurredAt": "2024-01-02T09:00:00Z", "data": \#(created)}"#
            let cases: [(line: String, reason: String)] = [
                ("not json", "not a JSON object"),
                (#"{"stream": "pool-1", "type": "NoSuchEvent", "occurredAt": "2024-01-02T09:00:00Z", "data": {}}"#, "type: NoSuchEvent is not an event type"),
                (#"{"stream": "pool-1", "type": "PoolCreated", "occurredAt": "yesterday", "data": {}}"#, "occurredAt"),
                (#"{"stream": "pool-1", "type": "PoolCreated", "occurredAt": "2024-01-02T09:00:00Z", "data": {"name": "Pool"}}"#, "data is not a PoolCreated"),
                (#"{"stream": "", "type": "PoolCreated", "occurredAt": "2024-01-02T09:00:00Z", "data": {}}"#, "stream:"),
                (#"{"stream": "pool-1", "type": "PoolCreated", "schemaVersion": 0, "occurredAt": "2024-01-02T09:00:00Z", "data": {}}"#, "schemaVersion"),
                // Times as strict as a request's: no rolled-over days, no years a timestamp cannot hold.
                (#"{"stream": "pool-1", "type": "PoolCreated", "occurredAt": "2024-02-30T09:00:00Z", "data": {}}"#, "occurredAt: \"2024-02-30T09:00:00Z\" has no day 30"),
                (#"{"stream": "pool-1", "type": "PoolCreated", "occurredAt": "300000-01-01T00:00:00Z", "data": {}}"#, "occurredAt"),
                (#"{"stream": "grant-\#(UUID())", "type": "ReportApproved", "occurredAt": "2024-01-02T09:00:00Z", "data": {"reportId": "\#(UUID())", "approvedBy": "x", "occurredAt": "300000-01-01T00:00:00Z"}}"#,
                 "data is not a ReportApproved: occurredAt"),
                // Values no decider would have accepted, which a read model's columns or a pool's sums cannot hold.
                (#"{"stream": "grant-\#(UUID())", "type": "PaymentRequested", "occurredAt": "2024-01-02T09:00:00Z", "data": {"paymentRequestId": "\#(UUID())", "tranche": 3000000000, "amount": {"amount": "1.00", "currency": "DKK"}, "requestedBy": "x", "occurredAt": "2024-01-02T09:00:00Z"}}"#,
                 "data.tranche: 3000000000 is outside"),
                (#"{"stream": "grant-\#(UUID())", "type": "PaymentMarkedPaid", "occurredAt": "2024-01-02T09:00:00Z", "data": {"paymentRequestId": "\#(UUID())", "tranche": 1, "amount": {"amount": "92233720368547758.07", "currency": "DKK"}, "reference": "x", "occurredAt": "2024-01-02T09:00:00Z"}}"#,
                 "data.amount: 92233720368547758.07 is beyond"),
            ]
            for (bad, reason) in cases {
                let url = try Self.file([good, bad])
                defer { try? FileManager.default.removeItem(at: url) }
                await #expect {
                    try await HistoryFile.importFile(url, into: store)
                } throws: { error in
                    let lineError = error as? HistoryFile.LineError
                    return lineError?.line == 2 && lineError?.reason.contains(reason) == true
                }
                #expect(try await store.readStream(try StreamID(SteeringGroupState.streamName(group))).isEmpty, "\(bad)")
            }

            // Only new streams: a second import of the same one is refused and changes nothing.
            let url = try Self.file([good])
            defer { try? FileManager.default.removeItem(at: url) }
            #expect(try await HistoryFile.importFile(url, into: store).events == 1)
            await #expect(throws: (any Error).self) { try await HistoryFile.importFile(url, into: store) }
            #expect(try await store.readStream(try StreamID(SteeringGroupState.streamName(group))).count == 1)
        }
    }
}
