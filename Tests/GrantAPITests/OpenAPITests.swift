import EventStore
import Foundation
import HTTPTypes
import GrantAPI
import PostgresNIO
import Testing

@Suite("openapi.yaml describes the API as served")
struct OpenAPITests {
    /// "METHOD /path" for every operation under `paths:`.
    static func documentedOperations() throws -> [String] {
        let text = try String(contentsOf: Harness.root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        var operations: [String] = []
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("components:") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, let method = ["get", "post", "put", "patch", "delete"].first(where: { line == "    \($0):" }) {
                operations.append("\(method.uppercased()) \(path)")
            }
        }
        return operations
    }

    @Test("Every route is documented and every documented operation is routed")
    func routesMatchTheSpec() async throws {
        let store = EventStore(client: PostgresClient(configuration: .init(host: "127.0.0.1", username: "unused", password: nil, database: nil, tls: .disable),
                                                      backgroundLogger: Harness.logger), logger: Harness.logger)
        let routes = try await apiRoutes(configuration: APIConfiguration(jwtKey: Harness.jwtKey, openAPIDocument: "openapi: 3.1.0"),
                                         store: store, logger: Harness.logger)
        let documented = try Self.documentedOperations()
        #expect(documented.count > 20)
        #expect(Set(routes).subtracting(documented).sorted() == [], "routes missing from openapi.yaml")
        #expect(Set(documented).subtracting(routes).sorted() == [], "documented operations not served")
        #expect(routes.count == Set(routes).count, "a route is registered twice")
    }
}
