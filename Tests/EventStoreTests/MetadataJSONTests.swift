import EventStore
import Foundation
import Testing

@Suite("Event metadata as JSON")
struct MetadataJSONTests {
    static let foundation: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    @Test("the same text as Foundation's sorted encoder, absent values left out; escapes read back the same")
    func asFoundationWritesIt() throws {
        let plain = [
            EventMetadata(),
            EventMetadata(actor: "officer-1", role: "admin", command: "RecordDecision", correlationId: .random(), causationId: .random(),
                          idempotencyKey: "officer-1 4711"),
            EventMetadata(actor: "bo", command: "DraftApplication"),
        ]
        for metadata in plain {
            #expect(metadata.json == String(decoding: try Self.foundation.encode(metadata), as: UTF8.self))
        }
        let odd = EventMetadata(actor: "quote \" back \\ slash / tab \t ctl \u{1} æøå 🚀", role: "", idempotencyKey: "\n")
        #expect(try JSONDecoder().decode(EventMetadata.self, from: Data(odd.json.utf8)) == odd)
    }
}
