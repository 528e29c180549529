import EventStore
import Foundation
import HTTPTypes
import HummingbirdTesting
import Projections
import Testing

/// GET of a pool or an application may be answered from memory only while
/// this process's own workers have not changed the read model since.
@Suite("Cached reads")
struct ReadCacheTests {
    static let cacheStatus = HTTPField.Name("Cache-Status")!

    static func committed(_ pool: [String: Any]) -> String {
        ((pool["totals"] as? [String: Any])?["committed"] as? [String: Any])?["amount"] as? String ?? ""
    }

    /// GETs `path` until an answer comes from the cache; nil if none does
    /// (a worker batch in between starts the cache over).
    static func hit(_ api: API, _ path: String, _ token: String) async throws -> TestResponse? {
        for _ in 0..<20 {
            let response = try await api.get(path, token)
            if response.headers[cacheStatus]?.contains("hit") == true { return response }
        }
        return nil
    }

    /// Waits until `projection` has applied everything written, as /health reports it.
    static func caughtUp(_ api: API, _ projection: String) async throws {
        for _ in 0..<600 {
            let health = try await api.get("/health", nil).json
            let statuses = health["projections"] as? [[String: Any]] ?? []
            if let status = statuses.first(where: { $0["name"] as? String == projection }),
               (status["eventsBehind"] as? NSNumber)?.intValue == 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(projection) did not catch up")
    }

    @Test("a cached pool gives way to the decision the worker applies next")
    func poolFollowsItsReadModel() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let path = "/v1/pools/\(programme.pool)"
            _ = try await api.get("\(path)?after=\(try await api.head())", programme.admin).ok()
            let before = try #require(try await Self.hit(api, path, programme.admin), "no GET of the pool was answered from the cache")
            #expect(Self.committed(before.json) == "0.00")

            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "250000.00")
            let meeting = try await programme.meeting([application])
            _ = try await api.post("/v1/meetings/\(meeting)/decisions", try await programme.steeringToken("bo"),
                                   Programme.approval(application, amount: "200000.00", votes: ["bo", "carl"])).ok()
            try await Self.caughtUp(api, "pool_balances")

            let after = try await api.get(path, programme.admin)
            #expect(Self.committed(after.ok()) == "200000.00")
            #expect(after.headers[Self.cacheStatus] == "grantledger; fwd=miss")
        }
    }

    @Test("requests that miss together wait for one read of the database")
    func missesCollapse() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let path = "/v1/pools/\(programme.pool)"
            try await Self.caughtUp(api, "pool_balances")
            // The pool's first read, by 32 requests at once.
            let statuses = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<32 {
                    group.addTask { try await api.get(path, programme.admin).headers[Self.cacheStatus] ?? "" }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == "grantledger; fwd=miss" }.count == 1, "\(statuses)")
            #expect(statuses.allSatisfy { ["grantledger; fwd=miss", "grantledger; fwd=miss; collapsed", "grantledger; hit"].contains($0) })
        }
    }

    @Test("an answer from the cache is still refused to another organisation's applicant")
    func cachedApplicationKeepsItsOwner() async throws {
        try await Harness.with { api in
            let programme = try await Programme.create(api)
            let application = try await programme.submittedApplication("Aalborg Tekniske Gymnasium", requested: "100000.00")
            let owner = try await programme.applicantToken("Aalborg Tekniske Gymnasium")
            let path = "/v1/applications/\(application)"
            _ = try await api.get("\(path)?after=\(try await api.head())", owner).ok()
            let cached = try #require(try await Self.hit(api, path, owner), "no GET of the application was answered from the cache")
            #expect(cached.ok()["status"] as? String == "submitted")

            let other = try await programme.applicantToken("Hjørring Gymnasium")
            #expect(try await api.get(path, other).status == .forbidden)
            #expect(try await api.get(path, programme.admin).status == .ok)
        }
    }

    @Test("while another process applies the read models, every read goes to the database")
    func noCacheWithoutWorkersHere() async throws {
        try await Harness.with(runWorkers: false) { api in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The workers of "another process": a runtime the API does not know.
                group.addTask { try await ProjectionRuntime(store: api.store, logger: Harness.logger).run() }
                defer { group.cancelAll() }
                let programme = try await Programme.create(api)
                let path = "/v1/pools/\(programme.pool)"
                _ = try await api.get("\(path)?after=\(try await api.head())", programme.admin).ok()
                for _ in 0..<3 {
                    let response = try await api.get(path, programme.admin)
                    #expect(response.status == .ok)
                    #expect(response.headers[Self.cacheStatus] == "grantledger; fwd=miss")
                }
            }
        }
    }
}
