import EventStore
import Foundation
import Testing

@Suite("Random UUIDs")
struct RandomUUIDTests {
    @Test("Version 4, RFC 4122 variant, as Foundation parses and prints them; no repeats in 100,000")
    func versionVariantAndUniqueness() {
        var seen = Set<UUID>()
        for _ in 0..<100_000 {
            let id = UUID.random()
            let text = id.uuidString
            #expect(Array(text)[14] == "4", "\(text)")
            #expect("89AB".contains(Array(text)[19]), "\(text)")
            #expect(UUID(uuidString: text) == id)
            seen.insert(id)
        }
        #expect(seen.count == 100_000)
    }
}
