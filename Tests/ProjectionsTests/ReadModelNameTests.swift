import Projections
import Testing

@Suite("Read model names")
struct ReadModelNameTests {
    @Test("every name the API waits for is a projection's, and every projection has a name there")
    func namesMatch() {
        #expect(Set(ReadModelName.allCases.map(\.rawValue)) == Set(allProjections.map(\.name)))
        #expect(allProjections.count == ReadModelName.allCases.count)
    }
}
